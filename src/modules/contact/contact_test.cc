// ContactService with an injected clock: expiry of reset links and SMS codes, the end of every
// session on a reset, the same path for unknown addresses, signed links. Real SQLite stores;
// the Mailer and SmsSender are fakes that keep what they were given (the real adapters are
// tested against real servers in src/adapters/smtp/smtp_test.cc and tests/integration).
#include "modules/contact/contact.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <regex>
#include <thread>

#include "adapters/inprocess/in_process_bus.h"
#include "adapters/sqlite/stores.h"
#include "core/crypto.h"

namespace parley::contact {
namespace {

class FakeMailer final : public mail::Mailer {
 public:
  Result<void> send(const mail::Mail& m) override {
    std::lock_guard lock(mu);
    sent.push_back(m);
    return ok();
  }
  std::vector<mail::Mail> all() {
    std::lock_guard lock(mu);
    return sent;
  }
  std::mutex mu;
  std::vector<mail::Mail> sent;
};

class FakeSms final : public sms::SmsSender {
 public:
  Result<void> send(const sms::Sms& m) override {
    std::lock_guard lock(mu);
    sent.push_back(m);
    return ok();
  }
  std::mutex mu;
  std::vector<sms::Sms> sent;
};

class ContactServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init_crypto();
    dir = std::filesystem::temp_directory_path() /
          ("parley-contact-test-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    db = std::move(*sqlite::Database::open((dir / "db").string()));
    user_store = std::move(*sqlite::make_user_store(*db));
    auth_store = std::move(*sqlite::make_auth_store(*db));
    contact_store = std::move(*sqlite::make_contact_store(*db));
    bus = adapters::make_in_process_bus();
    users = std::make_unique<users::UserService>(*user_store, clock);
    auth =
        std::make_unique<auth::AuthService>(*auth_store, *users, *bus, clock, auth::AuthOptions{});
    ASSERT_TRUE(auth->init());
    pool = std::make_unique<WorkerPool>("send", 1, 100);
    svc = std::make_unique<ContactService>(*contact_store, *users, *auth,
                                           Senders{&mailer, &texts, pool.get()}, clock,
                                           ContactOptions{"https://chat.example.test/"});
    ASSERT_TRUE(svc->init());
  }
  void TearDown() override {
    pool->stop();
    svc.reset();
    db->stop();
    std::filesystem::remove_all(dir);
  }

  // Sends are queued: the queue is drained before looking.
  std::vector<mail::Mail> mails() {
    pool->stop();
    pool = std::make_unique<WorkerPool>("send", 1, 100);
    svc = std::make_unique<ContactService>(*contact_store, *users, *auth,
                                           Senders{&mailer, &texts, pool.get()}, clock,
                                           ContactOptions{"https://chat.example.test/"});
    EXPECT_TRUE(svc->init());
    return mailer.all();
  }
  static std::string token_in(const mail::Mail& m, const std::string& key) {
    std::smatch match;
    std::regex re("https://chat\\.example\\.test/#" + key + "=([A-Za-z0-9_-]+)");
    return std::regex_search(m.text, match, re) ? std::string(match[1]) : "";
  }
  // A user with a verified address.
  auth::Authenticated verified(const std::string& name, const std::string& address) {
    auto a = *auth->register_user({name, "password1", {}, {}, {}});
    EXPECT_TRUE(svc->change_email({a.user.id, a.session_id}, address));
    auto m = mails();
    EXPECT_FALSE(m.empty());
    EXPECT_TRUE(svc->verify_email(token_in(m.back(), "verify-email")));
    return a;
  }

  std::filesystem::path dir;
  FakeClock clock;
  FakeMailer mailer;
  FakeSms texts;
  std::unique_ptr<sqlite::Database> db;
  std::unique_ptr<users::UserStore> user_store;
  std::unique_ptr<auth::AuthStore> auth_store;
  std::unique_ptr<ContactStore> contact_store;
  std::unique_ptr<Bus> bus;
  std::unique_ptr<users::UserService> users;
  std::unique_ptr<auth::AuthService> auth;
  std::unique_ptr<WorkerPool> pool;
  std::unique_ptr<ContactService> svc;
};

TEST_F(ContactServiceTest, AResetLinkWorksForThirtyMinutesOnlyAndEndsEverySession) {
  auto a = verified("ada", "ada@example.test");
  auto phone = *auth->login({"ada", "password1", {}, std::string("phone")});
  std::vector<std::string> revoked;
  auto sub = bus->subscribe(auth::kSessionRevokedTopic,
                            [&](std::string_view sid) { revoked.emplace_back(sid); });

  ASSERT_TRUE(svc->forgot_password("ADA@example.test"));
  auto m = mails();
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m.back().to, "ada@example.test") << "the verified spelling, not the typed one";
  std::string late = token_in(m.back(), "reset");
  clock.advance_ms(30 * 60 * 1000);
  EXPECT_EQ(svc->reset_password(late, "new password 1").error().code, Errc::not_found);

  ASSERT_TRUE(svc->forgot_password("ada@example.test"));
  std::string token = token_in(mails().back(), "reset");
  clock.advance_ms(30 * 60 * 1000 - 1);
  ASSERT_TRUE(svc->reset_password(token, "new password 1"));
  EXPECT_EQ(revoked.size(), 2u);
  EXPECT_FALSE(auth->authenticate(a.tokens.access_token));
  EXPECT_FALSE(auth->authenticate(phone.tokens.access_token));
  EXPECT_TRUE(auth->login({"ada", "new password 1", {}, {}}));
  EXPECT_EQ(svc->reset_password(token, "new password 2").error().code, Errc::not_found);
}

TEST_F(ContactServiceTest, ANewResetEndsTheOlderLinks) {
  verified("bea", "bea@example.test");
  ASSERT_TRUE(svc->forgot_password("bea@example.test"));
  ASSERT_TRUE(svc->forgot_password("bea@example.test"));
  auto m = mails();
  ASSERT_EQ(m.size(), 3u);
  std::string first = token_in(m[1], "reset"), second = token_in(m[2], "reset");
  ASSERT_TRUE(svc->reset_password(second, "new password 1"));
  EXPECT_EQ(svc->reset_password(first, "new password 2").error().code, Errc::not_found);
}

TEST_F(ContactServiceTest, UnknownAndUnverifiedAddressesGetOkAndNoMail) {
  auto c = *auth->register_user({"cyd", "password1", {}, {}, {}});
  ASSERT_TRUE(svc->change_email({c.user.id, c.session_id}, "cyd@example.test"));
  EXPECT_TRUE(svc->forgot_password("cyd@example.test"));  // pending, not verified
  EXPECT_TRUE(svc->forgot_password("nobody@example.test"));
  auto m = mails();
  ASSERT_EQ(m.size(), 1u);  // the verification mail only
  EXPECT_NE(m[0].subject.find("Confirm"), std::string::npos);
  EXPECT_EQ(svc->forgot_password("not an address").error().code, Errc::invalid_argument);
}

TEST_F(ContactServiceTest, ChangingTheAddressNeedsARecentSignIn) {
  auto d = *auth->register_user({"dax", "password1", {}, {}, {}});
  clock.advance_ms(10 * 60 * 1000 + 1);
  EXPECT_EQ(svc->change_email({d.user.id, d.session_id}, "dax@example.test").error().code,
            Errc::reauth_required);
  EXPECT_TRUE(mails().empty());
}

TEST_F(ContactServiceTest, AnSmsCodeExpiresAfterTenMinutes) {
  auto e = *auth->register_user({"eve", "password1", {}, {}, {}});
  ASSERT_TRUE(svc->change_phone({e.user.id, e.session_id}, "+33 6 12 34 56 78"));
  mails();  // drains the queue
  ASSERT_EQ(texts.sent.size(), 1u);
  EXPECT_EQ(texts.sent[0].to, "+33612345678");
  std::string code = texts.sent[0].body.substr(0, 6);
  clock.advance_ms(10 * 60 * 1000);
  EXPECT_EQ(svc->verify_phone(e.user.id, code).error().code, Errc::failed_precondition);
  EXPECT_FALSE(svc->phone(e.user.id)->phone);
}

TEST_F(ContactServiceTest, OneDigestMailHoldsEveryMessageAndItsOneClickUnsubscribeStopsThem) {
  auto f = verified("fay", "fay@example.test");
  std::vector<DigestMessage> missed = {{"C1", "#general", "Gus", "first <b>message</b>"},
                                       {"C2", "Hal", "Hal", "a direct message"},
                                       {"C1", "#general", "Ivy", "second in general"}};
  ASSERT_TRUE(*svc->send_digest(f.user.id, missed));
  auto m = mails();
  ASSERT_EQ(m.size(), 2u);
  const auto& d = m.back();
  EXPECT_EQ(d.to, "fay@example.test");
  EXPECT_EQ(d.subject, "3 new messages in Parley");
  for (const char* part : {"first <b>message</b>", "a direct message", "second in general",
                           "https://chat.example.test/c/C1", "https://chat.example.test/c/C2"})
    EXPECT_NE(d.text.find(part), std::string::npos) << part;
  EXPECT_NE(d.html.find("first &lt;b&gt;message&lt;/b&gt;"), std::string::npos);  // escaped
  EXPECT_EQ(d.html.find("<b>message</b>"), std::string::npos);
  EXPECT_LT(d.text.find("second in general"), d.text.find("a direct message"))
      << "grouped by conversation";
  std::string unsubscribe, post;
  for (const auto& [k, v] : d.headers) {
    if (k == "List-Unsubscribe") unsubscribe = v;
    if (k == "List-Unsubscribe-Post") post = v;
  }
  EXPECT_EQ(post, "List-Unsubscribe=One-Click");
  const std::string prefix = "<https://chat.example.test/api/v1/mail/unsubscribe?token=";
  ASSERT_EQ(unsubscribe.rfind(prefix, 0), 0u) << unsubscribe;
  std::string token = unsubscribe.substr(prefix.size(), unsubscribe.size() - prefix.size() - 1);

  EXPECT_EQ(svc->unsubscribe(token).value_or(""), f.user.id);
  EXPECT_FALSE(*svc->notification_email(f.user.id));
  EXPECT_FALSE(*svc->send_digest(f.user.id, missed));
  EXPECT_EQ(mails().size(), 2u);
  ASSERT_TRUE(svc->resubscribe(f.user.id));
  EXPECT_EQ(svc->notification_email(f.user.id)->value_or(""), "fay@example.test");
  EXPECT_EQ(svc->unsubscribe(token + "x").error().code, Errc::not_found);
  EXPECT_FALSE(*svc->send_digest(f.user.id, {}));  // nothing to send
  auto nobody = *auth->register_user({"gil", "password1", {}, {}, {}});
  EXPECT_FALSE(*svc->send_digest(nobody.user.id, missed));  // no verified address
}

TEST_F(ContactServiceTest, SignedLinksNameTheirUserAndRefuseTampering) {
  std::string t = svc->sign("unsubscribe", "01USER");
  EXPECT_EQ(svc->check_signed("unsubscribe", t).value_or(""), "01USER");
  EXPECT_FALSE(svc->check_signed("other-purpose", t));
  std::string forged = "01OTHER" + t.substr(t.find('.'));
  EXPECT_FALSE(svc->check_signed("unsubscribe", forged));
  EXPECT_FALSE(svc->check_signed("unsubscribe", "garbage"));
}

}  // namespace
}  // namespace parley::contact
