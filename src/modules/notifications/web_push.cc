// RFC 8291 / RFC 8292 with OpenSSL 3's EVP interfaces. HKDF here is RFC 5869 with one block of
// output (every length Web Push asks for is at most 32 bytes), written with HMAC-SHA-256.
#include "web_push.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/crypto.h"

namespace parley::notifications {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct CtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct CipherFree {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct MdFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Error ossl(const char* what) {
  return Error{Errc::internal, std::string("openssl: ") + what, {}, 0};
}

std::string public_raw_of(EVP_PKEY* p) {
  unsigned char buf[65];
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(p, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf, &len) != 1)
    return {};
  return std::string(reinterpret_cast<char*>(buf), len);
}

Result<Pkey> pkey_from_pem(const std::string& pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Pkey p(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!p) return fail(Errc::invalid_argument, "not a PEM private key");
  return p;
}

Result<Pkey> public_from_raw(std::string_view raw) {
  if (raw.size() != 65 || raw[0] != 0x04)
    return fail(Errc::invalid_argument, "p256dh is not an uncompressed P-256 point");
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(),
                                                                      OSSL_PARAM_BLD_free);
  OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, raw.data(), raw.size());
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(bld.get()),
                                                                 OSSL_PARAM_free);
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* out = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &out, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return fail(Errc::invalid_argument, "p256dh is not a point on P-256");
  return Pkey(out);
}

Result<std::string> ecdh(EVP_PKEY* mine, EVP_PKEY* peer) {
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new(mine, nullptr));
  size_t len = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1)
    return fail(ossl("ECDH"));
  std::string secret(len, '\0');
  if (EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(secret.data()), &len) != 1)
    return fail(ossl("ECDH"));
  secret.resize(len);
  return secret;
}

// HKDF-Extract then one block of HKDF-Expand, cut to n bytes (n <= 32).
std::string hkdf(std::string_view salt, std::string_view ikm, std::string_view info, size_t n) {
  std::string prk = hmac_sha256(salt, ikm);
  std::string t = hmac_sha256(prk, std::string(info) + '\x01');
  return t.substr(0, n);
}

// The content encryption key and nonce of RFC 8291 section 3.4 for one (ecdh, auth, keys, salt).
struct Keys {
  std::string cek;
  std::string nonce;
};
Keys derive(std::string_view ecdh_secret, std::string_view auth, std::string_view ua_public,
            std::string_view as_public, std::string_view salt) {
  std::string key_info =
      std::string("WebPush: info") + '\0' + std::string(ua_public) + std::string(as_public);
  std::string ikm = hkdf(auth, ecdh_secret, key_info, 32);
  return {hkdf(salt, ikm, std::string("Content-Encoding: aes128gcm") + '\0', 16),
          hkdf(salt, ikm, std::string("Content-Encoding: nonce") + '\0', 12)};
}

Result<std::string> gcm(bool encrypt, const Keys& k, std::string_view in) {
  std::unique_ptr<EVP_CIPHER_CTX, CipherFree> ctx(EVP_CIPHER_CTX_new());
  auto* key = reinterpret_cast<const unsigned char*>(k.cek.data());
  auto* iv = reinterpret_cast<const unsigned char*>(k.nonce.data());
  if (!ctx) return fail(ossl("cipher"));
  if (encrypt) {
    if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, key, iv) != 1)
      return fail(ossl("encrypt init"));
    std::string out(in.size() + 16, '\0');
    int len = 0, fin = 0;
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    if (EVP_EncryptUpdate(ctx.get(), o, &len, reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx.get(), o + len, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, o + len + fin) != 1)
      return fail(ossl("encrypt"));
    out.resize(len + fin + 16);
    return out;
  }
  if (in.size() < 16) return fail(Errc::invalid_argument, "record shorter than its tag");
  std::string out(in.size() - 16, '\0');
  std::string tag(in.substr(in.size() - 16));
  int len = 0, fin = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, key, iv) != 1 ||
      EVP_DecryptUpdate(ctx.get(), o, &len, reinterpret_cast<const unsigned char*>(in.data()),
                        static_cast<int>(in.size() - 16)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), o + len, &fin) != 1)
    return fail(Errc::invalid_argument, "record does not decrypt (wrong key or altered)");
  out.resize(len + fin);
  return out;
}

}  // namespace

Result<EcKeyPair> generate_p256() {
  Pkey p(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!p) return fail(ossl("keygen"));
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), p.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return fail(ossl("PEM write"));
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return EcKeyPair{std::string(data, static_cast<size_t>(n)), public_raw_of(p.get())};
}

Result<EcKeyPair> key_pair_from_pem(const std::string& private_pem) {
  auto p = pkey_from_pem(private_pem);
  if (!p) return fail(p.error());
  auto pub = public_raw_of(p->get());
  if (pub.size() != 65) return fail(Errc::invalid_argument, "not a P-256 key");
  return EcKeyPair{private_pem, pub};
}

Result<EcKeyPair> key_pair_from_raw(std::string_view private_raw, std::string_view public_raw) {
  if (private_raw.size() != 32 || public_raw.size() != 65)
    return fail(Errc::invalid_argument, "not a raw P-256 key pair");
  std::unique_ptr<BIGNUM, decltype(&BN_free)> priv(
      BN_bin2bn(reinterpret_cast<const unsigned char*>(private_raw.data()), 32, nullptr), BN_free);
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(),
                                                                      OSSL_PARAM_BLD_free);
  OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv.get());
  OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, public_raw.data(),
                                   public_raw.size());
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(OSSL_PARAM_BLD_to_param(bld.get()),
                                                                 OSSL_PARAM_free);
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* out = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &out, EVP_PKEY_KEYPAIR, params.get()) != 1)
    return fail(Errc::invalid_argument, "not a P-256 key pair");
  Pkey p(out);
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), p.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return fail(ossl("PEM write"));
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return EcKeyPair{std::string(data, static_cast<size_t>(n)), std::string(public_raw)};
}

Result<EcKeyPair> load_or_create_vapid(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    auto k = key_pair_from_pem(ss.str());
    if (!k) return fail(Errc::invalid_argument, "VAPID key " + path + ": " + k.error().message);
    return k;
  }
  auto k = generate_p256();
  if (!k) return k;
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    ::chmod(tmp.c_str(), 0600);
    out << k->private_pem;
    if (!out) return fail(Errc::unavailable, "cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) return fail(Errc::unavailable, "cannot write " + path + ": " + ec.message());
  return k;
}

Result<std::string> encrypt_aes128gcm(std::string_view ua_public_raw, std::string_view auth,
                                      std::string_view plaintext, const EcKeyPair* ephemeral,
                                      std::string_view salt_in) {
  if (auth.size() != 16) return fail(Errc::invalid_argument, "auth is not 16 bytes");
  auto peer = public_from_raw(ua_public_raw);
  if (!peer) return fail(peer.error());
  EcKeyPair fresh;
  if (!ephemeral) {
    auto g = generate_p256();
    if (!g) return fail(g.error());
    fresh = std::move(*g);
    ephemeral = &fresh;
  }
  auto mine = pkey_from_pem(ephemeral->private_pem);
  if (!mine) return fail(mine.error());
  auto secret = ecdh(mine->get(), peer->get());
  if (!secret) return fail(secret.error());
  std::string salt = salt_in.empty() ? random_bytes(16) : std::string(salt_in);
  Keys k = derive(*secret, auth, ua_public_raw, ephemeral->public_raw, salt);
  // One record holding everything, then the last-record delimiter (no padding).
  std::string record = std::string(plaintext) + '\x02';
  auto sealed = gcm(true, k, record);
  if (!sealed) return fail(sealed.error());
  const std::uint32_t rs = 4096;
  std::string body = salt;
  body += static_cast<char>(rs >> 24);
  body += static_cast<char>((rs >> 16) & 0xff);
  body += static_cast<char>((rs >> 8) & 0xff);
  body += static_cast<char>(rs & 0xff);
  body += static_cast<char>(ephemeral->public_raw.size());
  body += ephemeral->public_raw;
  body += *sealed;
  return body;
}

Result<std::string> decrypt_aes128gcm(const EcKeyPair& ua, std::string_view auth,
                                      std::string_view body) {
  if (body.size() < 21) return fail(Errc::invalid_argument, "body shorter than its header");
  std::string_view salt = body.substr(0, 16);
  auto idlen = static_cast<unsigned char>(body[20]);
  if (body.size() < 21u + idlen) return fail(Errc::invalid_argument, "truncated key id");
  std::string_view as_public = body.substr(21, idlen);
  auto peer = public_from_raw(as_public);
  if (!peer) return fail(peer.error());
  auto mine = pkey_from_pem(ua.private_pem);
  if (!mine) return fail(mine.error());
  auto secret = ecdh(mine->get(), peer->get());
  if (!secret) return fail(secret.error());
  Keys k = derive(*secret, auth, ua.public_raw, as_public, salt);
  auto plain = gcm(false, k, body.substr(21 + idlen));
  if (!plain) return plain;
  // Strip padding back to the delimiter (2: last record).
  while (!plain->empty() && plain->back() == '\0') plain->pop_back();
  if (plain->empty() || plain->back() != '\x02')
    return fail(Errc::invalid_argument, "no last-record delimiter");
  plain->pop_back();
  return plain;
}

Result<std::string> vapid_jwt(const EcKeyPair& key, std::string_view audience,
                              std::string_view subject, std::int64_t exp_s) {
  auto p = pkey_from_pem(key.private_pem);
  if (!p) return fail(p.error());
  std::string claims = "{\"aud\":\"" + std::string(audience) +
                       "\",\"exp\":" + std::to_string(exp_s) + ",\"sub\":\"" +
                       std::string(subject) + "\"}";
  std::string input =
      base64url_encode("{\"typ\":\"JWT\",\"alg\":\"ES256\"}") + "." + base64url_encode(claims);
  std::unique_ptr<EVP_MD_CTX, MdFree> md(EVP_MD_CTX_new());
  size_t len = 0;
  if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, p->get()) != 1 ||
      EVP_DigestSign(md.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1)
    return fail(ossl("sign"));
  std::string der(len, '\0');
  if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(der.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
    return fail(ossl("sign"));
  // JWS wants r || s, 32 bytes each, not DER.
  const auto* d = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &d, static_cast<long>(len)), ECDSA_SIG_free);
  if (!sig) return fail(ossl("signature"));
  unsigned char rs[64];
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), rs, 32) != 32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), rs + 32, 32) != 32)
    return fail(ossl("signature"));
  return input + "." + base64url_encode(std::string_view(reinterpret_cast<char*>(rs), 64));
}

std::string url_origin(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "";
  auto host_end = url.find_first_of("/?#", scheme_end + 3);
  return std::string(url.substr(0, host_end));
}

}  // namespace parley::notifications
