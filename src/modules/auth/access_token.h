// Access tokens: "v1.<payload>.<signature>", base64url, payload JSON {sub, sid, iat, exp, kid},
// signed with Ed25519. The algorithm is fixed by the server and never read from the token.
#pragma once

#include <string>

#include "core/clock.h"
#include "core/result.h"

namespace parley::auth {

struct AccessClaims {
  std::string user_id;
  std::string session_id;
  Millis issued_at = 0;
  Millis expires_at = 0;
};

class AccessTokenSigner {
 public:
  // secret_key: a libsodium Ed25519 secret key (64 bytes); kid names it in tokens.
  AccessTokenSigner(std::string kid, std::string secret_key);
  static std::string generate_secret_key();

  std::string sign(const AccessClaims& c) const;
  // unauthenticated for anything but a well-formed, correctly signed, unexpired token.
  Result<AccessClaims> verify(const std::string& token, Millis now) const;

 private:
  std::string kid_;
  std::string secret_key_;
  std::string public_key_;
};

}  // namespace parley::auth
