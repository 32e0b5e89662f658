// Web Push message encryption (RFC 8291, aes128gcm content coding of RFC 8188) and VAPID
// (RFC 8292) on OpenSSL: ECDH on P-256, HKDF-SHA-256, AES-128-GCM, ES256 JWTs. Pure functions
// (no I/O but load_or_create_vapid's one file); thread-safe. Errors: invalid_argument for
// keys or bodies that do not parse, internal for OpenSSL failures.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace parley::notifications {

// A P-256 key pair: the private key as PEM (PKCS#8), the public key as the 65-byte uncompressed
// point that Web Push exchanges (base64url on the wire).
struct EcKeyPair {
  std::string private_pem;
  std::string public_raw;
};

Result<EcKeyPair> generate_p256();
Result<EcKeyPair> key_pair_from_pem(const std::string& private_pem);
// From the raw 32-byte private scalar and 65-byte public point (RFC 8291's examples; browsers'
// exported keys).
Result<EcKeyPair> key_pair_from_raw(std::string_view private_raw, std::string_view public_raw);
// The VAPID key kept in a file (PEM, mode 0600), created on first use.
Result<EcKeyPair> load_or_create_vapid(const std::string& path);

// The body of a push message to the user agent whose subscription has ua_public (65 bytes) and
// auth (16 bytes): salt, record size, the sender's ephemeral public key, then the one record.
// ephemeral and salt are for tests (RFC 8291's example); normally fresh random ones are used.
Result<std::string> encrypt_aes128gcm(std::string_view ua_public_raw, std::string_view auth,
                                      std::string_view plaintext,
                                      const EcKeyPair* ephemeral = nullptr,
                                      std::string_view salt = {});
// The receiving side (what a browser does); for tests and the test push receiver.
Result<std::string> decrypt_aes128gcm(const EcKeyPair& ua, std::string_view auth,
                                      std::string_view body);

// An ES256-signed VAPID JWT for audience (the push service's origin, "https://push.example"),
// expiring at exp_s (Unix seconds), with subject ("mailto:..." or an https URL).
Result<std::string> vapid_jwt(const EcKeyPair& key, std::string_view audience,
                              std::string_view subject, std::int64_t exp_s);
// The origin of an absolute http(s) URL ("https://host:port"), "" when it has none.
std::string url_origin(std::string_view url);

}  // namespace parley::notifications
