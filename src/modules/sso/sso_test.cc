// Unit tests of the ID token checks: JWS parsing, JWK keys and signatures with keys made here by
// OpenSSL (RSA 2048 and P-256), the claim rules, and the --oidc flag's parser.
#include "modules/sso/sso.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "core/crypto.h"
#include "core/json.h"
#include "jwt.h"

namespace parley::sso {
namespace {

struct TestKey {
  EVP_PKEY* pkey = nullptr;
  std::string alg;
  std::string kid;
  ~TestKey() { EVP_PKEY_free(pkey); }
};

std::string bn_param(EVP_PKEY* k, const char* name, std::size_t pad = 0) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(k, name, &bn);
  std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  if (out.size() < pad) out.insert(0, pad - out.size(), '\0');
  return out;
}

std::unique_ptr<TestKey> make_key(const std::string& alg, const std::string& kid, int bits = 2048) {
  auto k = std::make_unique<TestKey>();
  k->alg = alg;
  k->kid = kid;
  k->pkey = alg == "RS256" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits))
                           : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  return k;
}

boost::json::object jwk_of(const TestKey& k) {
  if (k.alg == "RS256")
    return {{"kty", "RSA"},
            {"kid", k.kid},
            {"use", "sig"},
            {"n", base64url_encode(bn_param(k.pkey, OSSL_PKEY_PARAM_RSA_N))},
            {"e", base64url_encode(bn_param(k.pkey, OSSL_PKEY_PARAM_RSA_E))}};
  return {{"kty", "EC"},
          {"kid", k.kid},
          {"crv", "P-256"},
          {"x", base64url_encode(bn_param(k.pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
          {"y", base64url_encode(bn_param(k.pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
}

std::string sign(const TestKey& k, const boost::json::object& payload,
                 std::optional<std::string> alg = std::nullopt) {
  boost::json::object header{{"alg", alg.value_or(k.alg)}, {"kid", k.kid}, {"typ", "JWT"}};
  std::string input =
      base64url_encode(json::serialize(header)) + "." + base64url_encode(json::serialize(payload));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, k.pkey);
  std::size_t n = 0;
  EVP_DigestSign(ctx, nullptr, &n, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string sig(n, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &n,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(n);
  EVP_MD_CTX_free(ctx);
  if (k.alg == "ES256") {  // DER -> r || s
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(es);
    sig = raw;
  }
  return input + "." + base64url_encode(sig);
}

constexpr Millis kNow = 1'700'000'000'000;

boost::json::object claims() {
  return {{"iss", "https://idp.example"}, {"aud", "parley"},    {"sub", "248289761001"},
          {"exp", kNow / 1000 + 300},     {"iat", kNow / 1000}, {"nonce", "n-0S6_WzA2Mj"}};
}

IdTokenExpectations expect() { return {"https://idp.example", "parley", "n-0S6_WzA2Mj", kNow}; }

// Parses, picks the key from the set and verifies: what SsoService does with a token.
bool verifies(const std::vector<VerificationKey>& keys, const std::string& token) {
  auto jws = parse_jws(token);
  if (!jws) return false;
  auto* key = select_key(keys, *jws);
  return key && key->verify(jws->alg, jws->signing_input, jws->signature);
}

std::vector<VerificationKey> keys_of(std::initializer_list<const TestKey*> ks) {
  boost::json::array arr;
  for (auto* k : ks) arr.push_back(jwk_of(*k));
  auto set = parse_jwks(json::serialize(boost::json::object{{"keys", arr}}));
  EXPECT_TRUE(set);
  return set ? *set : std::vector<VerificationKey>{};
}

TEST(Jwt, Rs256AndEs256SignaturesVerify) {
  auto rsa = make_key("RS256", "r1");
  auto ec = make_key("ES256", "e1");
  auto keys = keys_of({rsa.get(), ec.get()});
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_TRUE(verifies(keys, sign(*rsa, claims())));
  EXPECT_TRUE(verifies(keys, sign(*ec, claims())));
}

TEST(Jwt, ForgedSignatureTamperedPayloadAndUnknownKidRefused) {
  auto good = make_key("RS256", "r1");
  auto forger = make_key("RS256", "r1");  // same kid, another key
  auto keys = keys_of({good.get()});
  EXPECT_FALSE(verifies(keys, sign(*forger, claims())));
  std::string token = sign(*good, claims());
  auto dot1 = token.find('.'), dot2 = token.rfind('.');
  auto changed = claims();
  changed["sub"] = "someone-else";
  std::string tampered =
      token.substr(0, dot1 + 1) + base64url_encode(json::serialize(changed)) + token.substr(dot2);
  EXPECT_FALSE(verifies(keys, tampered));
  auto other = make_key("RS256", "r2");
  EXPECT_FALSE(verifies(keys, sign(*other, claims())));
}

TEST(Jwt, AlgorithmIsNotTheTokensChoice) {
  auto rsa = make_key("RS256", "r1");
  auto ec = make_key("ES256", "e1");
  auto keys = keys_of({rsa.get(), ec.get()});
  // An EC signature claiming RS256 under the EC key's kid: the key does not suit RS256.
  auto jws = parse_jws(sign(*ec, claims(), "RS256"));
  ASSERT_TRUE(jws);
  EXPECT_EQ(select_key(keys, *jws), nullptr);
  // alg "none" with no signature, and HS256 "signed" with the public modulus, find no key.
  boost::json::object none{{"alg", "none"}};
  std::string unsigned_token = base64url_encode(json::serialize(none)) + "." +
                               base64url_encode(json::serialize(claims())) + ".";
  auto n = parse_jws(unsigned_token);
  ASSERT_TRUE(n);
  EXPECT_EQ(select_key(keys, *n), nullptr);
  boost::json::object hs{{"alg", "HS256"}, {"kid", "r1"}};
  auto h = parse_jws(base64url_encode(json::serialize(hs)) + "." +
                     base64url_encode(json::serialize(claims())) + ".c2ln");
  ASSERT_TRUE(h);
  EXPECT_EQ(select_key(keys, *h), nullptr);
  EXPECT_FALSE(keys[0].verify("HS256", h->signing_input, h->signature));
}

TEST(Jwt, KeyWithoutKidIsUsedOnlyWhenItIsTheOnlySuitableOne) {
  auto rsa = make_key("RS256", "");
  auto keys = keys_of({rsa.get()});
  EXPECT_TRUE(verifies(keys, sign(*rsa, claims())));
  auto rsa2 = make_key("RS256", "");
  auto two = keys_of({rsa.get(), rsa2.get()});
  EXPECT_FALSE(verifies(two, sign(*rsa, claims())));
}

TEST(Jwt, UnusableJwksEntriesAreSkipped) {
  auto small = make_key("RS256", "small", 1024);
  auto good = make_key("ES256", "e1");
  boost::json::array arr{jwk_of(*small), jwk_of(*good),
                         boost::json::object{{"kty", "oct"}, {"k", "c2VjcmV0"}},
                         boost::json::object{{"kty", "EC"}, {"crv", "P-256"}, {"x", "AA"}}};
  auto enc = jwk_of(*good);
  enc["use"] = "enc";
  enc["kid"] = "enc";
  arr.push_back(enc);
  auto set = parse_jwks(json::serialize(boost::json::object{{"keys", arr}}));
  ASSERT_TRUE(set);
  ASSERT_EQ(set->size(), 1u);
  EXPECT_EQ((*set)[0].kid(), "e1");
  EXPECT_FALSE(parse_jwks("{\"keys\": 3}"));
  EXPECT_FALSE(parse_jwks("not json"));
}

TEST(Jwt, MalformedTokensAreRefused) {
  EXPECT_FALSE(parse_jws(""));
  EXPECT_FALSE(parse_jws("a.b"));
  EXPECT_FALSE(parse_jws("a.b.c.d"));
  EXPECT_FALSE(parse_jws("!!.!!.!!"));
  boost::json::object crit{{"alg", "RS256"}, {"crit", boost::json::array{"exp"}}};
  EXPECT_FALSE(parse_jws(base64url_encode(json::serialize(crit)) + "." +
                         base64url_encode(json::serialize(claims())) + ".AA"));
}

std::string refused_claim(const boost::json::object& c, IdTokenExpectations x = expect()) {
  auto r = check_id_token_claims(c, x);
  if (r) return "accepted";
  EXPECT_EQ(r.error().code, Errc::unauthenticated);
  return r.error().field;
}

TEST(IdTokenClaims, GoodClaimsPass) { EXPECT_EQ(refused_claim(claims()), "accepted"); }

TEST(IdTokenClaims, EachRuleRefusesWithItsClaim) {
  auto c = claims();
  c["iss"] = "https://evil.example";
  EXPECT_EQ(refused_claim(c), "iss");
  c = claims();
  c["aud"] = "another-client";
  EXPECT_EQ(refused_claim(c), "aud");
  c = claims();
  c["aud"] = boost::json::array{"another-client", "parley"};
  EXPECT_EQ(refused_claim(c), "azp");  // several audiences need azp
  c["azp"] = "another-client";
  EXPECT_EQ(refused_claim(c), "azp");
  c["azp"] = "parley";
  EXPECT_EQ(refused_claim(c), "accepted");
  c = claims();
  c["exp"] = kNow / 1000 - 61;
  EXPECT_EQ(refused_claim(c), "exp");
  c["exp"] = kNow / 1000 - 30;  // within the skew
  EXPECT_EQ(refused_claim(c), "accepted");
  c = claims();
  c.erase("exp");
  EXPECT_EQ(refused_claim(c), "exp");
  c = claims();
  c["iat"] = kNow / 1000 + 120;
  EXPECT_EQ(refused_claim(c), "iat");
  c["iat"] = kNow / 1000 - 3600;
  EXPECT_EQ(refused_claim(c), "iat");
  c = claims();
  c["nonce"] = "replayed-nonce";
  EXPECT_EQ(refused_claim(c), "nonce");
  c.erase("nonce");
  EXPECT_EQ(refused_claim(c), "nonce");
  c = claims();
  c["sub"] = "";
  EXPECT_EQ(refused_claim(c), "sub");
  c["sub"] = 42;
  EXPECT_EQ(refused_claim(c), "sub");
}

TEST(ParseProvider, AcceptsTheFlagForms) {
  auto p = parse_provider("corp=https://idp.example/realms/x,parley,s3cret");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "corp");
  EXPECT_EQ(p->issuer, "https://idp.example/realms/x");
  EXPECT_EQ(p->client_id, "parley");
  EXPECT_EQ(p->client_secret, "s3cret");
  auto pub = parse_provider("google=https://accounts.google.com,abc.apps");
  ASSERT_TRUE(pub);
  EXPECT_EQ(pub->client_secret, "");
}

TEST(ParseProvider, RefusesBadSpecs) {
  for (const char* bad : {"https://idp,client", "Corp=https://idp,c", "corp=ftp://idp,c",
                          "corp=https://idp", "corp=https://idp,", "corp=https://idp?x=1,c",
                          "corp=https://idp,a,b,c", "=https://idp,c"}) {
    auto p = parse_provider(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_EQ(p.error().code, Errc::invalid_argument);
    EXPECT_EQ(p.error().field, "oidc");
  }
}

}  // namespace
}  // namespace parley::sso
