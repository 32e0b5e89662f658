#include "access_token.h"

#include <sodium.h>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "core/crypto.h"
#include "core/json.h"

namespace parley::auth {
namespace {
constexpr std::string_view kPrefix = "v1.";

Result<AccessClaims> bad() { return fail(Errc::unauthenticated, "invalid or expired token"); }
}  // namespace

AccessTokenSigner::AccessTokenSigner(std::string kid, std::string secret_key)
    : kid_(std::move(kid)), secret_key_(std::move(secret_key)) {
  public_key_.resize(crypto_sign_PUBLICKEYBYTES);
  crypto_sign_ed25519_sk_to_pk(reinterpret_cast<unsigned char*>(public_key_.data()),
                               reinterpret_cast<const unsigned char*>(secret_key_.data()));
}

std::string AccessTokenSigner::generate_secret_key() {
  std::string pk(crypto_sign_PUBLICKEYBYTES, '\0'), sk(crypto_sign_SECRETKEYBYTES, '\0');
  crypto_sign_keypair(reinterpret_cast<unsigned char*>(pk.data()),
                      reinterpret_cast<unsigned char*>(sk.data()));
  return sk;
}

std::string AccessTokenSigner::sign(const AccessClaims& c) const {
  boost::json::object payload{{"sub", c.user_id},
                              {"sid", c.session_id},
                              {"iat", c.issued_at},
                              {"exp", c.expires_at},
                              {"kid", kid_}};
  std::string signed_part =
      std::string(kPrefix) + base64url_encode(boost::json::serialize(payload));
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size(),
                       reinterpret_cast<const unsigned char*>(secret_key_.data()));
  return signed_part + "." +
         base64url_encode(std::string_view(reinterpret_cast<char*>(sig), sizeof sig));
}

Result<AccessClaims> AccessTokenSigner::verify(const std::string& token, Millis now) const {
  if (token.size() > 2048 || token.compare(0, kPrefix.size(), kPrefix) != 0) return bad();
  auto dot = token.rfind('.');
  if (dot == std::string::npos || dot < kPrefix.size()) return bad();
  std::string_view signed_part(token.data(), dot);
  auto sig = base64url_decode(std::string_view(token).substr(dot + 1));
  if (!sig || sig->size() != crypto_sign_BYTES) return bad();
  if (crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig->data()),
                                  reinterpret_cast<const unsigned char*>(signed_part.data()),
                                  signed_part.size(),
                                  reinterpret_cast<const unsigned char*>(public_key_.data())) != 0)
    return bad();
  auto payload = base64url_decode(signed_part.substr(kPrefix.size()));
  if (!payload) return bad();
  auto obj = json::parse_object(*payload);
  if (!obj) return bad();
  auto sub = json::required_string(*obj, "sub");
  auto sid = json::required_string(*obj, "sid");
  auto kid = json::required_string(*obj, "kid");
  auto iat = json::required_int(*obj, "iat");
  auto exp = json::required_int(*obj, "exp");
  if (!sub || !sid || !kid || !iat || !exp || *kid != kid_) return bad();
  if (*exp <= now) return bad();
  return AccessClaims{*sub, *sid, *iat, *exp};
}

}  // namespace parley::auth
