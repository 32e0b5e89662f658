// Unit tests: Web Push encryption against RFC 8291's worked example, VAPID JWTs verified with the
// public key, time zones, quiet hours, keywords and the notify-or-not decision.
#include "modules/notifications/notifications.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/crypto.h"
#include "tz.h"
#include "web_push.h"

namespace parley::notifications {
namespace {

std::string b64(std::string_view s) { return *base64url_decode(s); }

TEST(WebPush, EncryptsRfc8291sExampleExactly) {
  // RFC 8291, Appendix A.
  auto as = key_pair_from_raw(
      b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"),
      b64("BP4z9KsN6nGRTbVYI_"
          "c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"));
  ASSERT_TRUE(as) << as.error().message;
  std::string ua_public = b64(
      "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
  auto body = encrypt_aes128gcm(ua_public, b64("BTBZMqHH6r4Tts7J_aSIgg"),
                                "When I grow up, I want to be a watermelon", &*as,
                                b64("DGv6ra1nlYgDCS1FRnbzlw"));
  ASSERT_TRUE(body) << body.error().message;
  EXPECT_EQ(
      base64url_encode(*body),
      "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYW"
      "AmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSx"
      "sj_Qulcy4a-fN");
  auto ua = key_pair_from_raw(b64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"), ua_public);
  ASSERT_TRUE(ua);
  auto plain = decrypt_aes128gcm(*ua, b64("BTBZMqHH6r4Tts7J_aSIgg"), *body);
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(*plain, "When I grow up, I want to be a watermelon");
}

TEST(WebPush, RoundTripsWithFreshKeysAndRefusesTampering) {
  auto ua = generate_p256();
  ASSERT_TRUE(ua);
  std::string auth = random_bytes(16);
  auto body = encrypt_aes128gcm(ua->public_raw, auth, "{\"title\":\"hi\"}");
  ASSERT_TRUE(body);
  EXPECT_EQ(*decrypt_aes128gcm(*ua, auth, *body), "{\"title\":\"hi\"}");
  std::string bad = *body;
  bad.back() ^= 1;
  EXPECT_FALSE(decrypt_aes128gcm(*ua, auth, bad));
  EXPECT_FALSE(decrypt_aes128gcm(*ua, random_bytes(16), *body)) << "another auth secret";
  EXPECT_FALSE(encrypt_aes128gcm("not a key", auth, "x"));
  EXPECT_FALSE(encrypt_aes128gcm(ua->public_raw, "short", "x"));
}

TEST(WebPush, VapidJwtIsAnEs256SignatureOverItsClaims) {
  auto k = generate_p256();
  ASSERT_TRUE(k);
  auto jwt = vapid_jwt(*k, "https://push.example:8443", "mailto:ops@example.org", 1'700'000'000);
  ASSERT_TRUE(jwt);
  auto d1 = jwt->find('.'), d2 = jwt->rfind('.');
  ASSERT_NE(d1, d2);
  EXPECT_EQ(*base64url_decode(jwt->substr(0, d1)), "{\"typ\":\"JWT\",\"alg\":\"ES256\"}");
  EXPECT_EQ(*base64url_decode(jwt->substr(d1 + 1, d2 - d1 - 1)),
            "{\"aud\":\"https://push.example:8443\",\"exp\":1700000000,"
            "\"sub\":\"mailto:ops@example.org\"}");
  auto sig = base64url_decode(jwt->substr(d2 + 1));
  ASSERT_TRUE(sig);
  ASSERT_EQ(sig->size(), 64u);
  // Verify r||s with the public key (OpenSSL wants DER).
  ECDSA_SIG* s = ECDSA_SIG_new();
  ECDSA_SIG_set0(s, BN_bin2bn(reinterpret_cast<const unsigned char*>(sig->data()), 32, nullptr),
                 BN_bin2bn(reinterpret_cast<const unsigned char*>(sig->data()) + 32, 32, nullptr));
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(s, &der);
  ECDSA_SIG_free(s);
  BIO* bio = BIO_new_mem_buf(k->private_pem.data(), static_cast<int>(k->private_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  std::string input = jwt->substr(0, d2);
  ASSERT_EQ(EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key), 1);
  EXPECT_EQ(EVP_DigestVerify(md, der, der_len, reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()),
            1);
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(key);
  OPENSSL_free(der);
}

TEST(WebPush, UrlOrigin) {
  EXPECT_EQ(url_origin("https://fcm.googleapis.com/fcm/send/abc"), "https://fcm.googleapis.com");
  EXPECT_EQ(url_origin("http://127.0.0.1:8090/notify/1?x"), "http://127.0.0.1:8090");
  EXPECT_EQ(url_origin("nonsense"), "");
}

TEST(TimeZones, OffsetsFollowDaylightSaving) {
  // 2024-01-15 12:00 UTC and 2024-07-15 12:00 UTC.
  const Millis winter = 1'705'320'000'000, summer = 1'721'044'800'000;
  EXPECT_EQ(utc_offset_s("Europe/Paris", winter), 3600);
  EXPECT_EQ(utc_offset_s("Europe/Paris", summer), 7200);
  EXPECT_EQ(utc_offset_s("America/New_York", winter), -5 * 3600);
  EXPECT_EQ(utc_offset_s("UTC", summer), 0);
  EXPECT_EQ(utc_offset_s("Asia/Kolkata", summer), 19800);
  EXPECT_FALSE(utc_offset_s("Mars/Olympus", summer));
  EXPECT_FALSE(known_time_zone("../../etc/passwd"));
  EXPECT_FALSE(known_time_zone("/etc/localtime"));
  EXPECT_TRUE(known_time_zone("Europe/Paris"));
}

TEST(QuietHoursTest, WindowsWrapMidnightInTheUsersZone) {
  const Millis winter_noon_utc = 1'705'320'000'000;  // 13:00 in Paris
  const Millis h = 3'600'000;
  QuietHours night{"22:00", "07:00", "Europe/Paris"};
  EXPECT_FALSE(in_quiet_hours(night, winter_noon_utc));
  EXPECT_TRUE(in_quiet_hours(night, winter_noon_utc + 9 * h));    // 22:00 Paris
  EXPECT_FALSE(in_quiet_hours(night, winter_noon_utc + 8 * h));   // 21:00
  EXPECT_TRUE(in_quiet_hours(night, winter_noon_utc + 17 * h));   // 06:00 next day
  EXPECT_FALSE(in_quiet_hours(night, winter_noon_utc + 18 * h));  // 07:00
  QuietHours lunch{"12:30", "14:00", "Europe/Paris"};
  EXPECT_TRUE(in_quiet_hours(lunch, winter_noon_utc));
  QuietHours ny{"12:30", "14:00", "America/New_York"};  // 08:00 there
  EXPECT_FALSE(in_quiet_hours(ny, winter_noon_utc));
  EXPECT_FALSE(in_quiet_hours({"25:00", "07:00", "UTC"}, winter_noon_utc));
}

TEST(Keywords, MatchWholeWordsCaseInsensitively) {
  EXPECT_TRUE(mentions_keyword("The DEPLOY is done", {"deploy"}));
  EXPECT_TRUE(mentions_keyword("deploy!", {"deploy"}));
  EXPECT_FALSE(mentions_keyword("redeployed", {"deploy"}));
  EXPECT_TRUE(mentions_keyword("about the release train today", {"release train"}));
  EXPECT_FALSE(mentions_keyword("anything", {}));
  EXPECT_TRUE(here_only("@here standup"));
  EXPECT_FALSE(here_only("@here and @channel"));
  EXPECT_FALSE(here_only("@everyone"));
}

TEST(Decision, DmsAndMentionsNotifyUnlessMutedQuietDndOrNone) {
  const Millis now = 1'705'320'000'000;
  Recipient r;
  r.presence_status = "offline";
  EXPECT_FALSE(notifiable(r, "mentions", now)) << "a plain channel message";
  EXPECT_TRUE(notifiable(r, "all", now));
  r.mentioned = true;
  EXPECT_TRUE(notifiable(r, "mentions", now));
  EXPECT_FALSE(notifiable(r, "none", now));
  r.mentioned = false;
  r.is_dm = true;
  EXPECT_TRUE(notifiable(r, "mentions", now));
  r.conversation.level = "none";
  EXPECT_FALSE(notifiable(r, "all", now)) << "the conversation's level wins";
  r.conversation.level = "default";
  r.conversation.muted_until = now + 1;
  EXPECT_FALSE(notifiable(r, "all", now));
  r.conversation.muted_until = now - 1;
  EXPECT_TRUE(notifiable(r, "all", now)) << "the mute ended";
  r.presence_status = "dnd";
  EXPECT_FALSE(notifiable(r, "all", now));
  r.presence_status = "online";
  r.settings.quiet_hours = QuietHours{"12:00", "14:00", "Europe/Paris"};
  EXPECT_FALSE(notifiable(r, "all", now));
}

}  // namespace
}  // namespace parley::notifications
