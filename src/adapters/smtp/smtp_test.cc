// The SMTP adapter against a real SMTP server on loopback (aiosmtpd, through
// scripts/smtp_capture.py): plain, STARTTLS with AUTH, refusals; and the HTTP SMS adapter against
// a loopback HTTP receiver, through the SSRF-hardened fetcher. What the SMTP server received is
// parsed by Python's email package, not by our own code.
#include <gtest/gtest.h>

#include "../../../tests/integration/smtp_capture.h"
#include "adapters/curl/curl_fetcher.h"
#include "adapters/smshttp/http_sms_sender.h"
#include "adapters/smtp/smtp_mailer.h"
#include "core/crypto.h"
#include "modules/contact/contact.h"
#include "test_server.h"

namespace parley::smtp {
namespace {

using parley::testing::SmtpCapture;

class SmtpMailerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!SmtpCapture::available())
      GTEST_SKIP() << "python3-aiosmtpd is not installed (scripts/install-deps.sh): skipped";
  }
  SystemClock clock_;
};

std::unique_ptr<mail::Mailer> mailer(SmtpOptions o, const Clock& clock) {
  if (o.from.empty()) o.from = "parley@chat.example.com";
  auto m = make_smtp_mailer(std::move(o), clock);
  EXPECT_TRUE(m) << (m ? "" : m.error().message);
  return m ? std::move(*m) : nullptr;
}

bool only_crlf(const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return false;
  return true;
}

std::string no_cr(std::string s) {
  std::erase(s, '\r');
  return s;
}

TEST_F(SmtpMailerTest, AMultipartMailArrivesAndAnIndependentParserReadsItBack) {
  SmtpCapture capture;
  auto m = mailer({.url = capture.url()}, clock_);
  std::string subject = "Nouveaux messages — ça vous attend 📬 dans Parley, lisez-les vite";
  std::string text = "Bonjour Ann,\n\n" + std::string(120, 'x') + "\n. alone\nx = 1\n";
  std::string html = "<p>Bonjour <b>Ann</b> é</p>\n<p>" + std::string(120, 'y') + "</p>\n";
  ASSERT_TRUE(m->send({"ann@example.com",
                       subject,
                       text,
                       html,
                       {{"List-Unsubscribe", "<https://chat.example.com/x>"},
                        {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}}}));
  auto got = capture.wait_for_to("ann@example.com");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->at("mail_from").as_string(), "parley@chat.example.com");
  EXPECT_EQ(got->at("subject").as_string(), subject);
  EXPECT_EQ(got->at("content_type").as_string(), "multipart/alternative");
  EXPECT_EQ(no_cr(std::string(got->at("text").as_string())), text);
  EXPECT_EQ(no_cr(std::string(got->at("html").as_string())), html);
  EXPECT_TRUE(got->at("defects").as_array().empty());
  EXPECT_EQ(SmtpCapture::header(*got, "List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
  EXPECT_FALSE(SmtpCapture::header(*got, "Message-ID").empty());
  EXPECT_FALSE(SmtpCapture::header(*got, "Date").empty());
  EXPECT_FALSE(got->at("starttls").as_bool());  // the server offered no STARTTLS
  EXPECT_TRUE(only_crlf(capture.raw(0)));
}

TEST_F(SmtpMailerTest, ADigestIsOneMailWithBothMessagesAndOneClickUnsubscribe) {
  SmtpCapture capture;
  auto m = mailer({.url = capture.url()}, clock_);
  std::string unsubscribe = "https://chat.example.com/api/v1/mail/unsubscribe?token=U1.sig";
  ASSERT_TRUE(m->send(contact::digest_mail(
      "ann@example.com", "Ann",
      {{"C1", "#général", "Bob", "Réunion à 15 h ?"}, {"C2", "Cy", "Cy", "ping <3"}},
      "https://chat.example.com", unsubscribe)));
  auto got = capture.wait_for_to("ann@example.com");
  ASSERT_TRUE(got);
  EXPECT_EQ(capture.mails().size(), 1u);
  EXPECT_EQ(got->at("subject").as_string(), "2 new messages in Parley");
  std::string text(got->at("text").as_string()), html(got->at("html").as_string());
  for (const char* part : {"Réunion à 15 h ?", "ping <3", "https://chat.example.com/c/C1",
                           "https://chat.example.com/c/C2"})
    EXPECT_NE(text.find(part), std::string::npos) << part;
  EXPECT_NE(html.find("ping &lt;3"), std::string::npos);
  EXPECT_NE(html.find("#général"), std::string::npos);
  EXPECT_EQ(SmtpCapture::header(*got, "List-Unsubscribe"), "<" + unsubscribe + ">");
  EXPECT_EQ(SmtpCapture::header(*got, "List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
  EXPECT_TRUE(got->at("defects").as_array().empty());
}

TEST_F(SmtpMailerTest, StartTlsIsUsedWhenOfferedAndAuthWorksOverIt) {
  SmtpCapture capture({"--tls", "--auth", "mailer:s3cret"});
  auto m = mailer({.url = capture.url(),
                   .user = "mailer",
                   .password = "s3cret",
                   .ca_file = capture.cert_file()},
                  clock_);
  ASSERT_TRUE(m->send({"bob@example.com", "Hi", "hello", "", {}}));
  auto got = capture.wait_for_to("bob@example.com");
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->at("starttls").as_bool());
  EXPECT_EQ(got->at("auth_user").as_string(), "mailer");

  auto wrong = mailer(
      {.url = capture.url(), .user = "mailer", .password = "wrong", .ca_file = capture.cert_file()},
      clock_);
  auto r = wrong->send({"bob@example.com", "Hi", "hello", "", {}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
}

TEST_F(SmtpMailerTest, WithoutStartTlsNoPasswordIsSentInClear) {
  SmtpCapture capture;  // no --tls: the server does not offer STARTTLS
  auto m = mailer({.url = capture.url(), .user = "mailer", .password = "s3cret"}, clock_);
  auto r = m->send({"bob@example.com", "Hi", "hello", "", {}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_TRUE(capture.mails().empty());
}

TEST_F(SmtpMailerTest, AnUntrustedCertificateIsRefused) {
  SmtpCapture capture({"--tls", "--auth", "mailer:s3cret"});
  auto m = mailer({.url = capture.url(), .user = "mailer", .password = "s3cret"},
                  clock_);  // system CAs only
  EXPECT_FALSE(m->send({"bob@example.com", "Hi", "hello", "", {}}));
  EXPECT_TRUE(capture.mails().empty());
}

TEST(SmtpMailer, AnUnreachableServerIsUnavailableAndBadOptionsAreRefused) {
  SystemClock clock;
  auto m =
      make_smtp_mailer({.url = "smtp://127.0.0.1:1", .from = "parley@chat.example.com"}, clock);
  ASSERT_TRUE(m);
  auto r = (*m)->send({"bob@example.com", "Hi", "hello", "", {}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_EQ((*m)->send({"not an address", "Hi", "x", "", {}}).error().code, Errc::invalid_argument);
  EXPECT_FALSE(
      make_smtp_mailer({.url = "http://127.0.0.1:25", .from = "parley@chat.example.com"}, clock));
  EXPECT_FALSE(make_smtp_mailer(
      {.url = "smtp://user:pw@127.0.0.1:25", .from = "parley@chat.example.com"}, clock));
  auto no_from = make_smtp_mailer({.url = "smtp://127.0.0.1:25", .from = ""}, clock);
  ASSERT_FALSE(no_from);
  EXPECT_EQ(no_from.error().field, "mail_from");
}

// ---- SMS over HTTP ----

using curl::testing::http_response;
using curl::testing::TestHttpServer;
using curl::testing::TestRequest;

std::unique_ptr<outbound::HttpFetcher> fetcher(std::vector<std::string> allow) {
  return curl::make_curl_fetcher({*outbound::AddressPolicy::parse(allow), {}});
}

TEST(HttpSms, ATextIsAFormPostWithBasicAuthInTheProvidersShape) {
  TestHttpServer provider([](const TestRequest&) {
    return http_response(201, "application/json", "{\"sid\":\"SM1\"}");
  });
  auto f = fetcher({"127.0.0.0/8"});
  auto s = smshttp::make_http_sms_sender({"http://127.0.0.1:" + std::to_string(provider.port()) +
                                              "/2010-04-01/Accounts/{account}/Messages.json",
                                          "AC123", "tok&en", "+15005550006"},
                                         *f);
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_TRUE((*s)->send({"+33 6 12 34 56 78", "123456 is your code & more"}));
  auto reqs = provider.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/2010-04-01/Accounts/AC123/Messages.json");
  EXPECT_EQ(reqs[0].header("authorization"), "Basic " + base64_encode("AC123:tok&en"));
  EXPECT_EQ(reqs[0].header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(reqs[0].body,
            "To=%2B33612345678&From=%2B15005550006&Body=123456%20is%20your%20code%20%26%20more");
}

TEST(HttpSms, AnErrorStatusOrARefusedAddressIsUnavailable) {
  TestHttpServer provider([](const TestRequest&) {
    return http_response(400, "application/json", "{\"code\":21211}");
  });
  std::string url = "http://127.0.0.1:" + std::to_string(provider.port()) + "/send";
  auto allowed = fetcher({"127.0.0.0/8"});
  auto s = smshttp::make_http_sms_sender({url, "AC1", "t", "Parley"}, *allowed);
  ASSERT_TRUE(s);
  auto r = (*s)->send({"+33612345678", "hi"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_NE(r.error().message.find("400"), std::string::npos);

  auto strict = fetcher({});  // loopback not in --outbound-allow
  auto s2 = smshttp::make_http_sms_sender({url, "AC1", "t", "Parley"}, *strict);
  ASSERT_TRUE(s2);
  EXPECT_EQ((*s2)->send({"+33612345678", "hi"}).error().code, Errc::unavailable);
  EXPECT_EQ(provider.requests().size(), 1u);  // the refused one never connected

  EXPECT_EQ((*s)->send({"0612345678", "hi"}).error().code, Errc::invalid_argument);
  EXPECT_EQ((*s)->send({"+33612345678", ""}).error().code, Errc::invalid_argument);
  EXPECT_FALSE(smshttp::make_http_sms_sender({"ftp://x", "AC1", "t", "P"}, *allowed));
  EXPECT_FALSE(smshttp::make_http_sms_sender({url, "", "t", "P"}, *allowed));
}

}  // namespace
}  // namespace parley::smtp
