// Two-factor authentication with TOTP (RFC 6238) and recovery codes. Codes are computed here,
// independently of the server's implementation.
#include <latch>
#include <set>
#include <thread>

#include "harness.h"

namespace parley::itest {
namespace {

using boost::json::object;

class TotpTest : public SharedServerTest {
 protected:
  Reply setup(Api& api, const Account& a) {
    return api.post("/api/v1/auth/totp/setup", std::string_view(), a.access);
  }
  Reply login(Api& api, const Account& a, std::optional<std::string> code) {
    object body{{"username", a.username}, {"password", a.password}};
    if (code) body["totp_code"] = *code;
    return api.post("/api/v1/auth/login", body);
  }
};

TEST_F(TotpTest, OwnHelperMatchesRfc6238Vector) {
  // RFC 6238 Appendix B, SHA-1, T = 59 s (step 1): 94287082 -> last six digits.
  EXPECT_EQ(hotp_sha1("12345678901234567890", 1), "287082");
  EXPECT_EQ(hotp_sha1("12345678901234567890", 1111111109 / 30), "081804");
  EXPECT_EQ(base32_decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), "12345678901234567890");
}

TEST_F(TotpTest, EnableLoginReplayRecoveryCodes) {
  auto api = this->api();
  auto a = register_account(api, "totp");

  auto s = setup(api, a);
  ASSERT_EQ(s.status, 200) << s;
  auto secret = s.str("secret");
  ASSERT_FALSE(secret.empty()) << s;
  auto key = base32_decode(secret);
  ASSERT_TRUE(key) << "secret is not base32: " << secret;
  EXPECT_GE(key->size(), 10u) << "secret shorter than 80 bits";
  auto uri = s.str("otpauth_uri");
  EXPECT_EQ(uri.rfind("otpauth://totp/", 0), 0u) << uri;
  EXPECT_NE(uri.find("secret=" + secret), std::string::npos) << uri;
  EXPECT_NE(uri.find(a.username), std::string::npos) << uri;

  Authenticator app(secret);

  // Setup alone does not turn 2FA on.
  EXPECT_EQ(login(api, a, std::nullopt).status, 200);

  auto wrong = api.post("/api/v1/auth/totp/enable", object{{"code", app.wrong_code()}}, a.access);
  EXPECT_EQ(wrong.status, 422) << wrong;
  EXPECT_EQ(wrong.error_code(), "validation_failed") << wrong;
  EXPECT_EQ(login(api, a, std::nullopt).status, 200) << "a wrong code enabled 2FA";

  auto bad_type =
      api.post("/api/v1/auth/totp/enable", std::string_view(R"({"code":123456})"), a.access);
  EXPECT_EQ(bad_type.status, 400) << bad_type;

  auto enable = api.post("/api/v1/auth/totp/enable", object{{"code", app.next_code()}}, a.access);
  ASSERT_EQ(enable.status, 200) << "our TOTP code was refused: " << enable;
  const auto& codes = enable.obj().at("recovery_codes").as_array();
  ASSERT_EQ(codes.size(), 10u) << enable;
  std::set<std::string> distinct;
  for (const auto& c : codes) distinct.emplace(c.as_string());
  EXPECT_EQ(distinct.size(), 10u) << "recovery codes repeat: " << enable;

  // Password alone is not enough now.
  auto none = login(api, a, std::nullopt);
  EXPECT_EQ(none.status, 401) << none;
  EXPECT_EQ(none.error_code(), "totp_required") << none;
  EXPECT_TRUE(none.str("access_token").empty());
  auto empty = login(api, a, std::string());
  EXPECT_EQ(empty.error_code(), "totp_required") << empty;

  auto bad = login(api, a, app.wrong_code());
  EXPECT_EQ(bad.status, 401) << bad;
  EXPECT_EQ(bad.error_code(), "totp_required") << bad;

  // A right code with a wrong password is still just a wrong password.
  auto wrong_pw = api.post("/api/v1/auth/login", object{{"username", a.username},
                                                        {"password", "nope-" + a.password},
                                                        {"totp_code", app.wrong_code()}});
  EXPECT_EQ(wrong_pw.status, 401) << wrong_pw;
  EXPECT_EQ(wrong_pw.error_code(), "unauthorized") << wrong_pw;

  auto code = app.next_code();
  auto good = login(api, a, code);
  ASSERT_EQ(good.status, 200) << good;
  EXPECT_FALSE(good.str("access_token").empty());

  auto replay = login(api, a, code);
  EXPECT_EQ(replay.status, 401) << "a TOTP code was accepted twice: " << replay;
  EXPECT_EQ(replay.error_code(), "totp_required") << replay;

  // Recovery codes: each works once, in place of a TOTP code.
  std::string rc0(codes[0].as_string()), rc1(codes[1].as_string());
  auto r1 = login(api, a, rc0);
  EXPECT_EQ(r1.status, 200) << r1;
  auto r2 = login(api, a, rc0);
  EXPECT_EQ(r2.status, 401) << "a recovery code worked twice: " << r2;
  EXPECT_EQ(r2.error_code(), "totp_required") << r2;
  EXPECT_EQ(login(api, a, rc1).status, 200) << "another recovery code stopped working";

  // Setting up again while enabled is a conflict, and does not change the secret.
  auto again = setup(api, a);
  EXPECT_EQ(again.status, 409) << again;
  EXPECT_EQ(again.error_code(), "conflict") << again;
  auto enable_again =
      api.post("/api/v1/auth/totp/enable", object{{"code", app.wrong_code()}}, a.access);
  EXPECT_EQ(enable_again.status, 409) << enable_again;
}

TEST_F(TotpTest, DisableWithAValidCode) {
  auto api = this->api();
  auto a = register_account(api, "totpoff");

  auto not_on = api.post("/api/v1/auth/totp/disable", object{{"code", "123456"}}, a.access);
  EXPECT_EQ(not_on.status, 409) << "disable while off: " << not_on;

  auto s = setup(api, a);
  ASSERT_EQ(s.status, 200) << s;
  Authenticator app(s.str("secret"));
  auto enable = api.post("/api/v1/auth/totp/enable", object{{"code", app.next_code()}}, a.access);
  ASSERT_EQ(enable.status, 200) << enable;
  ASSERT_EQ(login(api, a, std::nullopt).error_code(), "totp_required");

  auto wrong = api.post("/api/v1/auth/totp/disable", object{{"code", app.wrong_code()}}, a.access);
  EXPECT_EQ(wrong.status, 422) << wrong;
  EXPECT_EQ(login(api, a, std::nullopt).error_code(), "totp_required")
      << "a wrong code disabled 2FA";

  auto off = api.post("/api/v1/auth/totp/disable", object{{"code", app.next_code()}}, a.access);
  EXPECT_EQ(off.status, 204) << off;
  auto plain = login(api, a, std::nullopt);
  EXPECT_EQ(plain.status, 200) << "2FA still required after disable: " << plain;

  // It can be set up again with a new secret.
  auto s2 = setup(api, a);
  EXPECT_EQ(s2.status, 200) << s2;
  EXPECT_NE(s2.str("secret"), s.str("secret"));
}

TEST_F(TotpTest, ConcurrentLoginsWithOneCodeSucceedOnce) {
  auto api = this->api();
  auto a = register_account(api, "totprace");
  auto s = setup(api, a);
  ASSERT_EQ(s.status, 200) << s;
  Authenticator app(s.str("secret"));
  ASSERT_EQ(
      api.post("/api/v1/auth/totp/enable", object{{"code", app.next_code()}}, a.access).status,
      200);
  auto code = app.next_code();
  constexpr int kThreads = 6;
  std::vector<Reply> replies(kThreads);
  std::latch go(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      Api mine(port());
      go.arrive_and_wait();
      replies[static_cast<std::size_t>(i)] = login(mine, a, code);
    });
  for (auto& t : threads) t.join();
  int ok = 0;
  for (const auto& r : replies) {
    EXPECT_TRUE(r.status == 200 || r.error_code() == "totp_required") << r;
    ok += r.status == 200;
  }
  EXPECT_EQ(ok, 1) << "one TOTP code logged in " << ok << " times";
}

TEST_F(TotpTest, EnableNeedsSetupAndAuth) {
  auto api = this->api();
  auto a = register_account(api, "totpnos");
  auto r = api.post("/api/v1/auth/totp/enable", object{{"code", "123456"}}, a.access);
  EXPECT_EQ(r.status, 409) << "enable before setup: " << r;
  auto anon = api.post("/api/v1/auth/totp/setup", std::string_view());
  EXPECT_EQ(anon.status, 401) << anon;
}

}  // namespace
}  // namespace parley::itest
