// Email and SMS against the real server: address verification, password reset by email (once
// and only once, expiring, no user enumeration), phone verification by SMS code. Mail goes to a
// real SMTP server on loopback (aiosmtpd via scripts/smtp_capture.py) and is parsed there by
// Python's email package; texts go to a loopback HTTP receiver in the SMS providers' shape.
#include <regex>

#include "chat_support.h"
#include "harness.h"
#include "smtp_capture.h"
#include "test_server.h"

namespace parley::itest {
namespace {

using boost::json::object;
using parley::testing::SmtpCapture;
using namespace chat;

const std::string kMailLimits = std::string(kGenerousLimits) +
                                ",email_per_ip=100000/1s,email_per_address=100000/1s,"
                                "sms_per_user=100000/1s";
constexpr const char* kPublicUrl = "https://chat.example.test";

// The token of the first link in a mail's text part that carries `#<key>=`.
std::string link_token(const object& mail, const std::string& key) {
  std::string text(mail.at("text").as_string());
  std::smatch m;
  std::regex re(std::string(kPublicUrl) + "/#" + key + "=([A-Za-z0-9_-]+)");
  if (!std::regex_search(text, m, re)) return "";
  return m[1];
}

std::string unique_address(std::string_view tag) { return unique_name(tag) + "@Example.test"; }

class MailTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    if (!SmtpCapture::available()) return;
    capture_ = std::make_unique<SmtpCapture>();
    server_ = std::make_unique<ServerProcess>(
        std::vector<std::string>{"--rate-limits", kMailLimits, "--smtp", capture_->url(),
                                 "--mail-from", "parley@example.test", "--public-url", kPublicUrl});
    error_ = server_->start();
  }
  static void TearDownTestSuite() {
    server_.reset();
    capture_.reset();
  }

 protected:
  void SetUp() override {
    if (!SmtpCapture::available())
      GTEST_SKIP() << "python3-aiosmtpd is not installed (scripts/install-deps.sh): skipped";
    ASSERT_TRUE(error_.empty()) << error_;
  }
  static Api api() { return Api(server_->port()); }

  // Sets and verifies an address for a; returns the address as typed.
  std::string verified_address(Api& api, const Account& a) {
    std::string address = unique_address("v");
    auto put = api.call("PUT", "/api/v1/users/me/email",
                        boost::json::serialize(object{{"email", address}}), a.access);
    EXPECT_EQ(put.status, 202) << put;
    auto mail = capture_->wait_for_to(address);
    EXPECT_TRUE(mail) << "no verification mail";
    if (!mail) return address;
    auto v =
        api.post("/api/v1/auth/email/verify", object{{"token", link_token(*mail, "verify-email")}});
    EXPECT_EQ(v.status, 204) << v;
    return address;
  }

  static std::unique_ptr<SmtpCapture> capture_;
  static std::unique_ptr<ServerProcess> server_;
  static std::string error_;
};
std::unique_ptr<SmtpCapture> MailTest::capture_;
std::unique_ptr<ServerProcess> MailTest::server_;
std::string MailTest::error_;

TEST_F(MailTest, AnAddressIsVerifiedByTheLinkInTheMail) {
  auto api = this->api();
  auto a = register_account(api, "mv");
  auto before = api.get("/api/v1/users/me/email", a.access);
  ASSERT_EQ(before.status, 200) << before;
  EXPECT_TRUE(before.obj().at("email").is_null());
  EXPECT_FALSE(before.obj().at("verified").as_bool());

  std::string address = unique_address("mv");
  auto put = api.call("PUT", "/api/v1/users/me/email",
                      boost::json::serialize(object{{"email", address}}), a.access);
  ASSERT_EQ(put.status, 202) << put;
  EXPECT_EQ(put.obj().at("pending_email").as_string(), address);
  EXPECT_FALSE(put.obj().at("verified").as_bool());

  auto mail = capture_->wait_for_to(address);
  ASSERT_TRUE(mail);
  EXPECT_EQ(mail->at("mail_from").as_string(), "parley@example.test");
  EXPECT_EQ(mail->at("content_type").as_string(), "multipart/alternative");
  EXPECT_TRUE(mail->at("defects").as_array().empty());
  EXPECT_FALSE(SmtpCapture::header(*mail, "Message-ID").empty());
  std::string token = link_token(*mail, "verify-email");
  ASSERT_FALSE(token.empty()) << mail->at("text").as_string();
  EXPECT_NE(std::string(mail->at("html").as_string()).find("#verify-email=" + token),
            std::string::npos);
  // The token never reaches the server in a URL, so it is in no access log.
  EXPECT_EQ(server_->logs().find(token), std::string::npos);

  auto v = api.post("/api/v1/auth/email/verify", object{{"token", token}});
  ASSERT_EQ(v.status, 204) << v;
  auto after = api.get("/api/v1/users/me/email", a.access);
  EXPECT_EQ(after.obj().at("email").as_string(), address);
  EXPECT_TRUE(after.obj().at("verified").as_bool());
  EXPECT_TRUE(after.obj().at("pending_email").is_null());

  auto again = api.post("/api/v1/auth/email/verify", object{{"token", token}});
  EXPECT_EQ(again.status, 404) << again;
  EXPECT_EQ(server_->logs().find(token), std::string::npos);
}

TEST_F(MailTest, PasswordResetWorksOnceAndOnlyOnceAndEndsEverySession) {
  auto api = this->api();
  auto a = register_account(api, "reset");
  auto other_device = login_account(api, a, "phone");
  std::string address = verified_address(api, a);
  auto ws = ws_ready(server_->port(), other_device.access);

  // Typed differently from how it was verified: addresses compare case-insensitively.
  std::string typed = address;
  for (char& c : typed) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto f = api.post("/api/v1/auth/password/forgot", object{{"email", typed}});
  ASSERT_EQ(f.status, 202) << f;
  auto mail = capture_->wait_for([&](const object& m) {
    return m.at("rcpt_tos").as_array()[0].as_string() == address &&
           std::string(m.at("subject").as_string()).find("Reset") != std::string::npos;
  });
  ASSERT_TRUE(mail);
  std::string token = link_token(*mail, "reset");
  ASSERT_FALSE(token.empty()) << mail->at("text").as_string();

  auto r = api.post("/api/v1/auth/password/reset",
                    object{{"token", token}, {"new_password", "a brand new password"}});
  ASSERT_EQ(r.status, 204) << r;
  EXPECT_EQ(ws_wait_close(*ws, 5s), 4001) << "a session's WebSocket outlived the reset";
  EXPECT_EQ(api.get("/api/v1/users/me", a.access).status, 401);
  EXPECT_EQ(api.get("/api/v1/users/me", other_device.access).status, 401);
  EXPECT_EQ(
      api.post("/api/v1/auth/login", object{{"username", a.username}, {"password", a.password}})
          .status,
      401);
  EXPECT_EQ(api.post("/api/v1/auth/login",
                     object{{"username", a.username}, {"password", "a brand new password"}})
                .status,
            200);

  auto twice = api.post("/api/v1/auth/password/reset",
                        object{{"token", token}, {"new_password", "yet another password"}});
  EXPECT_EQ(twice.status, 404) << twice;
  EXPECT_EQ(twice.error_field(), "token");
  EXPECT_EQ(api.post("/api/v1/auth/login",
                     object{{"username", a.username}, {"password", "yet another password"}})
                .status,
            401);
  EXPECT_EQ(server_->logs().find(token), std::string::npos);
}

TEST_F(MailTest, AnUnknownOrUnverifiedAddressGetsTheSameAnswerAndNoMail) {
  auto api = this->api();
  auto a = register_account(api, "enum");
  std::string known = verified_address(api, a);
  auto b = register_account(api, "enum");
  std::string pending = unique_address("pend");
  ASSERT_EQ(api.call("PUT", "/api/v1/users/me/email",
                     boost::json::serialize(object{{"email", pending}}), b.access)
                .status,
            202);
  ASSERT_TRUE(capture_->wait_for_to(pending));  // its verification mail, never clicked
  std::string unknown = unique_address("nobody");

  auto r_unknown = api.post("/api/v1/auth/password/forgot", object{{"email", unknown}});
  auto r_pending = api.post("/api/v1/auth/password/forgot", object{{"email", pending}});
  auto r_known = api.post("/api/v1/auth/password/forgot", object{{"email", known}});
  EXPECT_EQ(r_unknown.status, 202);
  EXPECT_EQ(r_unknown.status, r_known.status);
  EXPECT_EQ(r_unknown.body, r_known.body);
  EXPECT_EQ(r_pending.body, r_known.body);

  ASSERT_TRUE(capture_->wait_for([&](const object& m) {
    return m.at("rcpt_tos").as_array()[0].as_string() == known &&
           std::string(m.at("subject").as_string()).find("Reset") != std::string::npos;
  }));
  // The mails are queued in the order asked for; the known address's has arrived, so the others
  // would have been queued before it.
  for (const auto& m : capture_->mails()) {
    auto to = m.at("rcpt_tos").as_array()[0].as_string();
    EXPECT_NE(to, unknown);
    if (to == pending)
      EXPECT_EQ(std::string(m.at("subject").as_string()).find("Reset"), std::string::npos);
  }
}

TEST_F(MailTest, BadInputIsRefusedAndABadPasswordDoesNotSpendTheToken) {
  auto api = this->api();
  auto a = register_account(api, "bad");
  auto put = [&](std::string_view body, std::string_view token) {
    return api.call("PUT", "/api/v1/users/me/email", body, token);
  };
  EXPECT_EQ(put(R"({"email":"ann@example.test"})", "").status, 401);
  auto no_at = put(R"({"email":"not an address"})", a.access);
  EXPECT_EQ(no_at.status, 422) << no_at;
  EXPECT_EQ(no_at.error_field(), "email");
  EXPECT_EQ(put(R"({"email":["x@example.test"]})", a.access).status, 400);
  EXPECT_EQ(put(R"({})", a.access).status, 400);
  EXPECT_EQ(put("not json", a.access).status, 400);
  auto injected = put(R"({"email":"ann@example.test\r\nBcc: eve@example.test"})", a.access);
  EXPECT_EQ(injected.status, 422) << injected;

  EXPECT_EQ(api.post("/api/v1/auth/password/forgot", object{{"email", "nope"}}).status, 422);
  EXPECT_EQ(api.post("/api/v1/auth/password/forgot", std::string_view("{}")).status, 400);
  EXPECT_EQ(api.post("/api/v1/auth/email/verify", object{{"token", "x"}}).status, 404);
  EXPECT_EQ(api.post("/api/v1/auth/email/verify", object{{"token", std::string(5000, 'a')}}).status,
            404);
  EXPECT_EQ(api.post("/api/v1/auth/email/verify", std::string_view(R"({"token":1})")).status, 400);
  EXPECT_EQ(api.post("/api/v1/auth/password/reset",
                     object{{"token", "unknown"}, {"new_password", "long enough password"}})
                .status,
            404);

  std::string address = verified_address(api, a);
  ASSERT_EQ(api.post("/api/v1/auth/password/forgot", object{{"email", address}}).status, 202);
  auto mail = capture_->wait_for([&](const object& m) {
    return m.at("rcpt_tos").as_array()[0].as_string() == address &&
           std::string(m.at("subject").as_string()).find("Reset") != std::string::npos;
  });
  ASSERT_TRUE(mail);
  std::string token = link_token(*mail, "reset");
  auto short_pw =
      api.post("/api/v1/auth/password/reset", object{{"token", token}, {"new_password", "short"}});
  EXPECT_EQ(short_pw.status, 422) << short_pw;
  EXPECT_EQ(short_pw.error_field(), "new_password");
  EXPECT_EQ(api.get("/api/v1/users/me", a.access).status, 200);  // nothing ended
  EXPECT_EQ(api.post("/api/v1/auth/password/reset",
                     object{{"token", token}, {"new_password", "long enough password"}})
                .status,
            204);
}

TEST_F(MailTest, OneClickUnsubscribeRefusesABadToken) {
  auto api = this->api();
  auto a = register_account(api, "unsub");
  EXPECT_EQ(api.post("/api/v1/mail/unsubscribe?token=" + a.id + ".AAAA",
                     std::string_view("List-Unsubscribe=One-Click"))
                .status,
            404);
  EXPECT_EQ(api.post("/api/v1/mail/unsubscribe", std::string_view("")).status, 400);
  EXPECT_EQ(api.get("/api/v1/mail/unsubscribe?token=x").status, 405);  // GET changes nothing
}

TEST_F(MailTest, AnAddressSomeoneVerifiedCannotBeVerifiedByAnother) {
  auto api = this->api();
  auto a = register_account(api, "own");
  std::string address = verified_address(api, a);
  auto b = register_account(api, "own");
  ASSERT_EQ(api.call("PUT", "/api/v1/users/me/email",
                     boost::json::serialize(object{{"email", address}}), b.access)
                .status,
            202);
  auto mails_to = [&] {
    std::vector<object> out;
    for (auto& m : capture_->mails())
      if (m.at("rcpt_tos").as_array()[0].as_string() == address) out.push_back(m);
    return out;
  };
  ASSERT_TRUE(capture_->wait_for([&](const object&) { return mails_to().size() >= 2; }));
  auto v = api.post("/api/v1/auth/email/verify",
                    object{{"token", link_token(mails_to().back(), "verify-email")}});
  EXPECT_EQ(v.status, 409) << v;
  EXPECT_TRUE(api.get("/api/v1/users/me/email", b.access).obj().at("email").is_null());
}

TEST(MailExpiry, AnExpiredResetLinkIsRefused) {
  if (!SmtpCapture::available()) GTEST_SKIP() << "python3-aiosmtpd is not installed: skipped";
  SmtpCapture capture;
  ServerProcess server({"--rate-limits", kMailLimits, "--smtp", capture.url(), "--mail-from",
                        "parley@example.test", "--public-url", kPublicUrl, "--password-reset-ttl-s",
                        "1"});
  ASSERT_EQ(server.start(), "");
  Api api(server.port());
  auto a = register_account(api, "exp");
  std::string address = unique_address("exp");
  ASSERT_EQ(api.call("PUT", "/api/v1/users/me/email",
                     boost::json::serialize(object{{"email", address}}), a.access)
                .status,
            202);
  auto verify = capture.wait_for_to(address);
  ASSERT_TRUE(verify);
  ASSERT_EQ(
      api.post("/api/v1/auth/email/verify", object{{"token", link_token(*verify, "verify-email")}})
          .status,
      204);
  ASSERT_EQ(api.post("/api/v1/auth/password/forgot", object{{"email", address}}).status, 202);
  auto mail = capture.wait_for([&](const object& m) {
    return std::string(m.at("subject").as_string()).find("Reset") != std::string::npos;
  });
  ASSERT_TRUE(mail);
  std::this_thread::sleep_for(1200ms);  // past the link's one second
  auto r = api.post("/api/v1/auth/password/reset", object{{"token", link_token(*mail, "reset")},
                                                          {"new_password", "long enough pw"}});
  EXPECT_EQ(r.status, 404) << r;
  EXPECT_EQ(api.get("/api/v1/users/me", a.access).status, 200);
}

// The missed-messages digest (notify.email jobs): messages still unread after the user's
// email delay reach a verified address as ONE mail per burst, with RFC 8058 one-click
// unsubscribe; turning email on again in the notification settings resubscribes.
TEST(MailDigest, UnreadDmsArriveAsOneDigestAndOneClickUnsubscribeStopsThem) {
  if (!SmtpCapture::available()) GTEST_SKIP() << "python3-aiosmtpd is not installed: skipped";
  SmtpCapture capture;
  // One "minute" of email_delay_minutes is 3 s here.
  ServerProcess server({"--rate-limits", kMailLimits, "--smtp", capture.url(), "--mail-from",
                        "parley@example.test", "--public-url", kPublicUrl, "--email-delay-unit-ms",
                        "3000"});
  ASSERT_EQ(server.start(), "");
  Api api(server.port());
  auto verify = [&](const Account& a) {
    std::string address = unique_address("dg");
    EXPECT_EQ(api.call("PUT", "/api/v1/users/me/email",
                       boost::json::serialize(object{{"email", address}}), a.access)
                  .status,
              202);
    auto mail = capture.wait_for_to(address);
    EXPECT_TRUE(mail);
    if (mail)
      EXPECT_EQ(api.post("/api/v1/auth/email/verify",
                         object{{"token", link_token(*mail, "verify-email")}})
                    .status,
                204);
    EXPECT_EQ(api.patch("/api/v1/users/me/notification-settings",
                        object{{"email", "mentions"}, {"email_delay_minutes", 1}}, a.access)
                  .status,
              200);
    return address;
  };
  auto alice = register_account(api, "dga");
  auto bob = register_account(api, "dgb");
  auto carol = register_account(api, "dgc");
  std::string bob_address = verify(bob), carol_address = verify(carol);
  auto digests_to = [&](const std::string& address) {
    std::vector<object> out;
    for (auto& m : capture.mails())
      if (m.at("rcpt_tos").as_array()[0].as_string() == address &&
          std::string(m.at("subject").as_string()).find("new message") != std::string::npos)
        out.push_back(m);
    return out;
  };
  auto wait_digests = [&](const std::string& address, std::size_t n) {
    return capture.wait_for([&](const object&) { return digests_to(address).size() >= n; },
                            std::chrono::seconds(30));
  };

  // Bob never comes online: two DMs, one digest with both.
  auto dm = make_dm(api, alice, bob.id);
  send_ok(api, alice, dm, "first unread line");
  send_ok(api, alice, dm, "second unread line");
  ASSERT_TRUE(wait_digests(bob_address, 1)) << "no digest";
  auto first = digests_to(bob_address)[0];
  std::string text(first.at("text").as_string());
  EXPECT_NE(text.find("first unread line"), std::string::npos) << text;
  EXPECT_NE(text.find("second unread line"), std::string::npos) << text;
  EXPECT_EQ(std::string(first.at("subject").as_string()).find("2 new messages"), 0u);
  std::string unsubscribe;
  for (auto& h : first.at("headers").as_array())
    if (h.as_array()[0].as_string() == "List-Unsubscribe")
      unsubscribe = std::string(h.as_array()[1].as_string());
  std::erase_if(unsubscribe, [](char ch) { return std::isspace(static_cast<unsigned char>(ch)); });
  ASSERT_NE(unsubscribe.find(std::string(kPublicUrl) + "/api/v1/mail/unsubscribe?token="),
            std::string::npos)
      << unsubscribe;

  // The second message's own job finds nothing new: the next digest holds only the third.
  send_ok(api, alice, dm, "third line later");
  ASSERT_TRUE(wait_digests(bob_address, 2));
  auto bobs = digests_to(bob_address);
  ASSERT_EQ(bobs.size(), 2u);
  std::string second(bobs[1].at("text").as_string());
  EXPECT_NE(second.find("third line later"), std::string::npos) << second;
  EXPECT_EQ(second.find("first unread line"), std::string::npos) << second;

  // A message read before its delay is not mailed (carol reads hers), ...
  auto dm_carol = make_dm(api, alice, carol.id);
  auto read = send_ok(api, alice, dm_carol, "carol reads this one");
  ASSERT_EQ(api.post(conv_path(dm_carol) + "/read", object{{"seq", read.at("seq").as_int64()}},
                     carol.access)
                    .status /
                100,
            2);

  // ... and one-click unsubscribe (a POST, RFC 8058) stops the digests.
  std::string path = unsubscribe.substr(unsubscribe.find("/api/"));
  path.pop_back();  // the closing '>'
  EXPECT_EQ(api.post(path, std::string_view("List-Unsubscribe=One-Click")).status, 200);
  send_ok(api, alice, dm, "fourth while unsubscribed");
  // Carol's digest is due after Bob's would be: when it has come, Bob's job has run.
  send_ok(api, alice, dm_carol, "carol barrier");
  ASSERT_TRUE(wait_digests(carol_address, 1));
  auto carols = digests_to(carol_address);
  ASSERT_EQ(carols.size(), 1u);
  std::string ctext(carols[0].at("text").as_string());
  EXPECT_NE(ctext.find("carol barrier"), std::string::npos);
  EXPECT_EQ(ctext.find("carol reads this one"), std::string::npos) << ctext;
  EXPECT_EQ(digests_to(bob_address).size(), 2u);

  // Turning email on again in the notification settings resubscribes.
  EXPECT_EQ(
      api.patch("/api/v1/users/me/notification-settings", object{{"email", "all"}}, bob.access)
          .status,
      200);
  send_ok(api, alice, dm, "fifth after resubscribing");
  ASSERT_TRUE(wait_digests(bob_address, 3));
  std::string third(digests_to(bob_address)[2].at("text").as_string());
  EXPECT_NE(third.find("fifth after resubscribing"), std::string::npos) << third;
}

TEST(MailOff, WithoutSmtpTheMailRoutesSaySoAndChangeNothing) {
  ServerProcess server({"--rate-limits", kMailLimits});
  ASSERT_EQ(server.start(), "");
  Api api(server.port());
  auto a = register_account(api, "off");
  auto put = api.call("PUT", "/api/v1/users/me/email", R"({"email":"a@example.test"})", a.access);
  EXPECT_EQ(put.status, 409) << put;
  auto f = api.post("/api/v1/auth/password/forgot", object{{"email", "a@example.test"}});
  EXPECT_EQ(f.status, 409) << f;
  EXPECT_TRUE(api.get("/api/v1/users/me/email", a.access).obj().at("pending_email").is_null());
}

// ---- phone numbers and SMS codes ----

using curl::testing::TestHttpServer;
using curl::testing::TestRequest;

class SmsTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    provider_ = std::make_unique<TestHttpServer>([](const TestRequest&) {
      return curl::testing::http_response(201, "application/json", R"({"sid":"SM1"})");
    });
    server_ = std::make_unique<ServerProcess>(std::vector<std::string>{
        "--rate-limits", kMailLimits, "--outbound-allow", "127.0.0.0/8", "--sms-url",
        "http://127.0.0.1:" + std::to_string(provider_->port()) +
            "/2010-04-01/Accounts/{account}/Messages.json",
        "--sms-account", "AC42", "--sms-token", "provider-secret", "--sms-from", "+15005550006"});
    error_ = server_->start();
  }
  static void TearDownTestSuite() {
    server_.reset();
    provider_.reset();
  }

 protected:
  void SetUp() override { ASSERT_TRUE(error_.empty()) << error_; }

  // The code in the last text sent to number (empty when none came within 10 s).
  static std::string code_sent_to(const std::string& form_number, std::size_t nth) {
    auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
      std::vector<std::string> codes;
      for (auto& r : provider_->requests()) {
        if (r.body.find("To=" + form_number + "&") == std::string::npos) continue;
        std::smatch m;
        if (std::regex_search(r.body, m, std::regex("Body=([0-9]{6})%20"))) codes.push_back(m[1]);
      }
      if (codes.size() > nth) return codes[nth];
      std::this_thread::sleep_for(20ms);
    }
    return "";
  }

  static std::unique_ptr<TestHttpServer> provider_;
  static std::unique_ptr<ServerProcess> server_;
  static std::string error_;
};
std::unique_ptr<TestHttpServer> SmsTest::provider_;
std::unique_ptr<ServerProcess> SmsTest::server_;
std::string SmsTest::error_;

TEST_F(SmsTest, APhoneNumberIsVerifiedByTheTextedCodeThenSmsCanBeTurnedOn) {
  Api api(server_->port());
  auto a = register_account(api, "sms");
  std::string number = "+3361234" + std::to_string(10000 + std::rand() % 89999);
  auto on_early =
      api.patch("/api/v1/users/me/phone", object{{"sms_notifications", true}}, a.access);
  EXPECT_EQ(on_early.status, 409) << on_early;

  auto put = api.call(
      "PUT", "/api/v1/users/me/phone",
      boost::json::serialize(object{{"phone", number.substr(0, 3) + " " + number.substr(3)}}),
      a.access);
  ASSERT_EQ(put.status, 202) << put;
  EXPECT_EQ(put.obj().at("pending_phone").as_string(), number);
  EXPECT_FALSE(put.obj().at("verified").as_bool());
  std::string code = code_sent_to("%2B" + number.substr(1), 0);
  ASSERT_EQ(code.size(), 6u);
  auto req = provider_->requests().back();
  EXPECT_EQ(req.target, "/2010-04-01/Accounts/AC42/Messages.json");
  EXPECT_NE(req.header("authorization").find("Basic "), std::string::npos);
  EXPECT_EQ(server_->logs().find(code + " is your"), std::string::npos);

  std::string wrong = code == "000000" ? "111111" : "000000";
  auto w = api.post("/api/v1/users/me/phone/verify", object{{"code", wrong}}, a.access);
  EXPECT_EQ(w.status, 422) << w;
  auto ok = api.post("/api/v1/users/me/phone/verify", object{{"code", code}}, a.access);
  ASSERT_EQ(ok.status, 200) << ok;
  EXPECT_EQ(ok.obj().at("phone").as_string(), number);
  EXPECT_TRUE(ok.obj().at("verified").as_bool());
  EXPECT_EQ(api.post("/api/v1/users/me/phone/verify", object{{"code", code}}, a.access).status,
            409);  // spent

  auto on = api.patch("/api/v1/users/me/phone", object{{"sms_notifications", true}}, a.access);
  ASSERT_EQ(on.status, 200) << on;
  EXPECT_TRUE(on.obj().at("sms_notifications").as_bool());
  EXPECT_TRUE(api.get("/api/v1/users/me/phone", a.access).obj().at("sms_notifications").as_bool());
  EXPECT_EQ(api.del("/api/v1/users/me/phone", a.access).status, 204);
  EXPECT_TRUE(api.get("/api/v1/users/me/phone", a.access).obj().at("phone").is_null());
}

// notify.sms: a DM to a user who opted in with a verified number is texted, sender only;
// the message text only once the user turns previews on.
TEST_F(SmsTest, ADmToAnOptedInUserIsTextedWithoutItsTextUnlessPreviewsAreOn) {
  Api api(server_->port());
  auto alice = register_account(api, "smsa");
  auto bob = register_account(api, "smsb");
  std::string number = "+3361235" + std::to_string(10000 + std::rand() % 89999);
  std::string form = "%2B" + number.substr(1);
  ASSERT_EQ(api.call("PUT", "/api/v1/users/me/phone",
                     boost::json::serialize(object{{"phone", number}}), bob.access)
                .status,
            202);
  std::string code = code_sent_to(form, 0);
  ASSERT_EQ(code.size(), 6u);
  ASSERT_EQ(api.post("/api/v1/users/me/phone/verify", object{{"code", code}}, bob.access).status,
            200);
  ASSERT_EQ(
      api.patch("/api/v1/users/me/phone", object{{"sms_notifications", true}}, bob.access).status,
      200);
  auto texts = [&](std::size_t n) {
    std::vector<std::string> out;
    auto deadline = Clock::now() + 20s;
    do {
      out.clear();
      for (auto& r : provider_->requests())
        if (r.body.find("To=" + form + "&") != std::string::npos &&
            r.body.find("%20sent%20you%20a%20message") != std::string::npos)
          out.push_back(r.body);
      if (out.size() >= n) break;
      std::this_thread::sleep_for(20ms);
    } while (Clock::now() < deadline);
    return out;
  };
  // Previews are on by default: off first.
  ASSERT_EQ(api.patch("/api/v1/users/me/notification-settings", object{{"push_previews", false}},
                      bob.access)
                .status,
            200);
  auto dm = make_dm(api, alice, bob.id);
  send_ok(api, alice, dm, "the secret plan");
  auto one = texts(1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].find("secret"), std::string::npos) << one[0];
  EXPECT_NE(one[0].find(alice.username), std::string::npos) << one[0];

  ASSERT_EQ(api.patch("/api/v1/users/me/notification-settings", object{{"push_previews", true}},
                      bob.access)
                .status,
            200);
  send_ok(api, alice, dm, "visible words");
  auto two = texts(2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_NE(two[1].find("visible%20words"), std::string::npos) << two[1];
}

TEST_F(SmsTest, ACodeDiesAfterFiveWrongTriesAndBadInputIsRefused) {
  Api api(server_->port());
  auto a = register_account(api, "smsbad");
  std::string number = "+1415555" + std::to_string(1000 + std::rand() % 8999);
  ASSERT_EQ(api.call("PUT", "/api/v1/users/me/phone",
                     boost::json::serialize(object{{"phone", number}}), a.access)
                .status,
            202);
  std::string code = code_sent_to("%2B" + number.substr(1), 0);
  ASSERT_EQ(code.size(), 6u);
  std::string wrong = code == "000000" ? "111111" : "000000";
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(api.post("/api/v1/users/me/phone/verify", object{{"code", wrong}}, a.access).status,
              422);
  auto late = api.post("/api/v1/users/me/phone/verify", object{{"code", code}}, a.access);
  EXPECT_EQ(late.status, 409) << late;  // the right code, too late
  EXPECT_TRUE(api.get("/api/v1/users/me/phone", a.access).obj().at("phone").is_null());

  auto bad = api.call("PUT", "/api/v1/users/me/phone", R"({"phone":"0612345678"})", a.access);
  EXPECT_EQ(bad.status, 422) << bad;
  EXPECT_EQ(bad.error_field(), "phone");
  EXPECT_EQ(api.call("PUT", "/api/v1/users/me/phone", R"({"phone":33612345678})", a.access).status,
            400);
  EXPECT_EQ(api.post("/api/v1/users/me/phone/verify", object{{"code", "12ab56"}}, a.access).status,
            422);
  EXPECT_EQ(
      api.patch("/api/v1/users/me/phone", object{{"sms_notifications", "yes"}}, a.access).status,
      400);
  EXPECT_EQ(api.call("PUT", "/api/v1/users/me/phone", R"({"phone":"+33612345678"})", "").status,
            401);
}

}  // namespace
}  // namespace parley::itest
