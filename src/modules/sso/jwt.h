// JSON Web Signatures as OpenID Connect uses them: compact JWS parsing, JWK public keys and
// signature checks on OpenSSL, and the ID token claim checks of OIDC Core 3.1.3.7. Private to
// the sso module.
//
// Only RS256 (RSA, at least 2048 bits) and ES256 (P-256) are accepted: "none", HMAC and every
// other algorithm are refused, and a key is used only for the algorithm its type fits (and its
// "alg", when the JWK names one), so a token cannot choose how it is checked. Values are
// immutable and thread-safe once made.
#pragma once

#include <boost/json.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace parley::sso {

struct CompactJws {
  std::string alg;
  std::string kid;            // "" when the header has none
  std::string signing_input;  // header.payload, as received
  std::string signature;      // decoded bytes
  boost::json::object payload;
};

// malformed when it is not three base64url parts with a JSON object header and payload.
Result<CompactJws> parse_jws(std::string_view token);

class VerificationKey {
 public:
  // An RSA ({kty: RSA, n, e}) or P-256 ({kty: EC, crv: P-256, x, y}) public key; invalid_argument
  // for anything else (a private or symmetric key, a key meant for encryption, a small RSA key).
  static Result<VerificationKey> from_jwk(const boost::json::object& jwk);
  const std::string& kid() const { return kid_; }
  // Whether this key may check a signature made with alg (RS256 or ES256).
  bool suits(std::string_view alg) const;
  // The signature check proper (after suits()).
  bool verify(std::string_view alg, std::string_view input, std::string_view signature) const;

  struct Pkey;

 private:
  std::shared_ptr<Pkey> key_;
  std::string kid_;
  std::string kty_;
  std::string alg_;  // "" when the JWK does not name one
};

// The usable signature keys of a JWK Set document ({"keys": [...]}); keys it cannot use are
// skipped. malformed when the document is not a JWK Set.
Result<std::vector<VerificationKey>> parse_jwks(std::string_view body);

// The key in keys that checks this token: by kid, or, when the token names none, the only key
// that suits its algorithm. nullptr when there is none.
const VerificationKey* select_key(const std::vector<VerificationKey>& keys, const CompactJws& jws);

// What an ID token must say (OIDC Core 3.1.3.7).
struct IdTokenExpectations {
  std::string issuer;
  std::string client_id;
  std::string nonce;
  Millis now = 0;
  Millis skew_ms = 60'000;          // allowed clock difference for exp and iat
  Millis max_age_ms = 10 * 60'000;  // iat older than this (plus skew) is refused
};

// Checks a signature-verified token's claims: iss, aud (and azp), exp, iat, nonce, sub.
// unauthenticated when one fails, with Error::field naming the claim ("iss", "aud", "azp",
// "exp", "iat", "nonce", "sub").
Result<void> check_id_token_claims(const boost::json::object& claims,
                                   const IdTokenExpectations& expect);

}  // namespace parley::sso
