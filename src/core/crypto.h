// Small cryptographic helpers on libsodium: randomness, hashing of high-entropy secrets,
// constant-time comparison, and base64url/hex text forms. Thread-safe; init_crypto() once at
// start (idempotent).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley {

void init_crypto();

std::string random_bytes(std::size_t n);
std::uint64_t random_u64();

// SHA-256 of data, raw 32 bytes. For tokens with >= 128 bits of entropy, never for passwords.
std::string sha256(std::string_view data);

// HMAC-SHA-256 of data under key, raw 32 bytes: a keyed hash for secrets of modest entropy
// (recovery codes) that a stolen database alone cannot test guesses against.
std::string hmac_sha256(std::string_view key, std::string_view data);

// Constant-time equality: the time taken depends only on the lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

std::string base64url_encode(std::string_view raw);
std::optional<std::string> base64url_decode(std::string_view text);
// Standard base64 with padding (RFC 4648 section 4), as tus's Upload-Metadata, MIME encoded
// words and HTTP Basic authentication use.
std::string base64_encode(std::string_view raw);
std::optional<std::string> base64_decode(std::string_view text);
std::string hex_encode(std::string_view raw);
// nullopt unless text is hex digits in pairs.
std::optional<std::string> hex_decode(std::string_view text);

}  // namespace parley
