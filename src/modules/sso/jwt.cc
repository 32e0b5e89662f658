#include "jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <cmath>

#include "core/crypto.h"
#include "core/json.h"

namespace parley::sso {

struct VerificationKey::Pkey {
  EVP_PKEY* p = nullptr;
  ~Pkey() { EVP_PKEY_free(p); }
};

namespace {

constexpr std::size_t kMaxTokenBytes = 64 * 1024;

Result<boost::json::object> decode_object(std::string_view part, const char* what) {
  auto raw = base64url_decode(part);
  if (!raw) return fail(Errc::malformed, std::string(what) + " is not base64url");
  auto obj = json::parse_object(*raw);
  if (!obj) return fail(Errc::malformed, std::string(what) + " is not a JSON object");
  return std::move(*obj);
}

std::optional<std::string> string_member(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;

Bn bn_from(std::string_view bytes) {
  return Bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                      static_cast<int>(bytes.size()), nullptr));
}

// EVP_PKEY_fromdata over the parameters built by add.
template <class Add>
EVP_PKEY* key_from_params(const char* type, Add add) {
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  if (!bld) return nullptr;
  EVP_PKEY* pkey = nullptr;
  OSSL_PARAM* params = nullptr;
  EVP_PKEY_CTX* ctx = nullptr;
  if (add(bld) && (params = OSSL_PARAM_BLD_to_param(bld)) &&
      (ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr)) &&
      EVP_PKEY_fromdata_init(ctx) == 1)
    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) pkey = nullptr;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  return pkey;
}

// ES256 signatures are r || s (32 bytes each); OpenSSL wants DER.
std::optional<std::string> es256_to_der(std::string_view sig) {
  if (sig.size() != 64) return std::nullopt;
  ECDSA_SIG* s = ECDSA_SIG_new();
  if (!s) return std::nullopt;
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 32, nullptr);
  BIGNUM* ss = BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + 32, 32, nullptr);
  if (!r || !ss || ECDSA_SIG_set0(s, r, ss) != 1) {
    BN_free(r);
    BN_free(ss);
    ECDSA_SIG_free(s);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  int n = i2d_ECDSA_SIG(s, &der);
  ECDSA_SIG_free(s);
  if (n <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  return out;
}

// A NumericDate claim (seconds, possibly fractional) in milliseconds; nullopt when absent or
// not a number.
std::optional<Millis> numeric_date(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  double s;
  if (v->is_int64())
    s = static_cast<double>(v->as_int64());
  else if (v->is_uint64())
    s = static_cast<double>(v->as_uint64());
  else if (v->is_double())
    s = v->as_double();
  else
    return std::nullopt;
  if (!std::isfinite(s) || s < 0 || s > 1e13) return std::nullopt;
  return static_cast<Millis>(s * 1000);
}

tl::unexpected<Error> refuse(const char* claim, std::string message) {
  return fail(Errc::unauthenticated, "ID token refused: " + message, claim);
}

}  // namespace

Result<CompactJws> parse_jws(std::string_view token) {
  if (token.size() > kMaxTokenBytes) return fail(Errc::malformed, "token too large");
  auto d1 = token.find('.');
  auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return fail(Errc::malformed, "not a compact JWS");
  auto header = decode_object(token.substr(0, d1), "JWS header");
  if (!header) return fail(header.error());
  auto payload = decode_object(token.substr(d1 + 1, d2 - d1 - 1), "JWS payload");
  if (!payload) return fail(payload.error());
  auto sig = base64url_decode(token.substr(d2 + 1));
  if (!sig) return fail(Errc::malformed, "JWS signature is not base64url");
  CompactJws out;
  auto alg = string_member(*header, "alg");
  if (!alg) return fail(Errc::malformed, "JWS header has no alg");
  out.alg = *alg;
  out.kid = string_member(*header, "kid").value_or("");
  // A critical extension we do not understand must not be ignored (RFC 7515 4.1.11).
  if (header->contains("crit")) return fail(Errc::malformed, "JWS header has crit");
  out.signing_input = std::string(token.substr(0, d2));
  out.signature = std::move(*sig);
  out.payload = std::move(*payload);
  return out;
}

Result<VerificationKey> VerificationKey::from_jwk(const boost::json::object& jwk) {
  VerificationKey k;
  k.kty_ = string_member(jwk, "kty").value_or("");
  k.kid_ = string_member(jwk, "kid").value_or("");
  k.alg_ = string_member(jwk, "alg").value_or("");
  if (auto use = string_member(jwk, "use"); use && *use != "sig")
    return fail(Errc::invalid_argument, "key is not for signatures");
  if (jwk.contains("d") || jwk.contains("k"))
    return fail(Errc::invalid_argument, "private or symmetric key");
  auto p = std::make_shared<Pkey>();
  if (k.kty_ == "RSA") {
    auto n = base64url_decode(string_member(jwk, "n").value_or(""));
    auto e = base64url_decode(string_member(jwk, "e").value_or(""));
    if (!n || !e || n->empty() || e->empty())
      return fail(Errc::invalid_argument, "RSA key without n or e");
    Bn bn_n = bn_from(*n), bn_e = bn_from(*e);
    p->p = key_from_params("RSA", [&](OSSL_PARAM_BLD* b) {
      return bn_n && bn_e && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn_n.get()) &&
             OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, bn_e.get());
    });
    if (!p->p) return fail(Errc::invalid_argument, "unusable RSA key");
    if (EVP_PKEY_get_bits(p->p) < 2048) return fail(Errc::invalid_argument, "RSA key too small");
  } else if (k.kty_ == "EC") {
    if (string_member(jwk, "crv").value_or("") != "P-256")
      return fail(Errc::invalid_argument, "EC key not on P-256");
    auto x = base64url_decode(string_member(jwk, "x").value_or(""));
    auto y = base64url_decode(string_member(jwk, "y").value_or(""));
    if (!x || !y || x->size() != 32 || y->size() != 32)
      return fail(Errc::invalid_argument, "EC key without 32-byte x and y");
    std::string point = "\x04" + *x + *y;
    p->p = key_from_params("EC", [&](OSSL_PARAM_BLD* b) {
      return OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
             OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                              point.size());
    });
    // fromdata checks the point is on the curve.
    if (!p->p) return fail(Errc::invalid_argument, "unusable EC key");
  } else {
    return fail(Errc::invalid_argument, "unsupported key type");
  }
  k.key_ = std::move(p);
  return k;
}

bool VerificationKey::suits(std::string_view alg) const {
  if (!alg_.empty() && alg_ != alg) return false;
  return (alg == "RS256" && kty_ == "RSA") || (alg == "ES256" && kty_ == "EC");
}

bool VerificationKey::verify(std::string_view alg, std::string_view input,
                             std::string_view signature) const {
  if (!key_ || !suits(alg)) return false;
  std::string der;
  if (alg == "ES256") {
    auto d = es256_to_der(signature);
    if (!d) return false;
    der = std::move(*d);
    signature = der;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) return false;
  bool good = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key_->p) == 1 &&
              EVP_DigestVerify(
                  ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                  reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return good;
}

Result<std::vector<VerificationKey>> parse_jwks(std::string_view body) {
  auto doc = json::parse_object(body);
  if (!doc) return fail(Errc::malformed, "JWK Set is not a JSON object");
  auto* keys = doc->if_contains("keys");
  if (!keys || !keys->is_array()) return fail(Errc::malformed, "JWK Set has no keys array");
  std::vector<VerificationKey> out;
  for (const auto& k : keys->as_array()) {
    if (!k.is_object()) continue;
    if (auto key = VerificationKey::from_jwk(k.as_object())) out.push_back(std::move(*key));
  }
  return out;
}

const VerificationKey* select_key(const std::vector<VerificationKey>& keys, const CompactJws& jws) {
  const VerificationKey* only = nullptr;
  int suitable = 0;
  for (const auto& k : keys) {
    if (!k.suits(jws.alg)) continue;
    if (!jws.kid.empty() && k.kid() == jws.kid) return &k;
    ++suitable;
    only = &k;
  }
  return jws.kid.empty() && suitable == 1 ? only : nullptr;
}

Result<void> check_id_token_claims(const boost::json::object& c, const IdTokenExpectations& x) {
  if (string_member(c, "iss").value_or("") != x.issuer)
    return refuse("iss", "issued by someone else");
  // aud: the client id, alone or among others; with others, azp must name this client.
  bool ours = false;
  std::size_t audiences = 0;
  if (auto* aud = c.if_contains("aud")) {
    if (aud->is_string()) {
      audiences = 1;
      ours = aud->as_string() == x.client_id;
    } else if (aud->is_array()) {
      for (const auto& a : aud->as_array()) {
        ++audiences;
        if (a.is_string() && a.as_string() == x.client_id) ours = true;
      }
    }
  }
  if (!ours) return refuse("aud", "not meant for this client");
  auto azp = string_member(c, "azp");
  if (c.contains("azp") && azp.value_or("") != x.client_id)
    return refuse("azp", "authorized party is another client");
  if (audiences > 1 && !azp) return refuse("azp", "several audiences and no authorized party");
  auto exp = numeric_date(c, "exp");
  if (!exp) return refuse("exp", "no expiry");
  if (*exp + x.skew_ms <= x.now) return refuse("exp", "expired");
  auto iat = numeric_date(c, "iat");
  if (!iat) return refuse("iat", "no issue time");
  if (*iat > x.now + x.skew_ms) return refuse("iat", "issued in the future");
  if (*iat + x.max_age_ms + x.skew_ms < x.now) return refuse("iat", "issued too long ago");
  auto nonce = string_member(c, "nonce");
  if (!nonce || !constant_time_equal(*nonce, x.nonce))
    return refuse("nonce", "nonce does not match this sign-in");
  auto sub = string_member(c, "sub");
  if (!sub || sub->empty() || sub->size() > 255) return refuse("sub", "no usable subject");
  return ok();
}

}  // namespace parley::sso
