// The MIME format of outgoing mail (RFC 5322, 2045, 2046, 2047) and the address and phone
// number checks. The same messages are parsed by an independent parser (Python's email
// package, through a real SMTP server) in src/adapters/smtp/smtp_test.cc.
#include "modules/mail/mail.h"

#include <gtest/gtest.h>

#include "core/crypto.h"
#include "modules/sms/sms.h"

namespace parley::mail {
namespace {

// Reverses quoted-printable (soft breaks and =XX), to check what a reader gets back.
std::string qp_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '=' && i + 2 < s.size() + 0 && s.substr(i + 1, 2) == "\r\n") {
      i += 2;
    } else if (s[i] == '=' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    auto end = s.find("\r\n", start);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end + 2;
  }
  return out;
}

bool only_crlf_line_ends(const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return false;
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n')) return false;
  }
  return true;
}

RenderOptions opts() { return {"parley@chat.example.com", 0, "<id-1@chat.example.com>", "=_b"}; }

TEST(Mime, AMultipartMessageHasTheHeadersAndBothPartsWithCrlfLineEnds) {
  Mail m{"ann@example.com",
         "Hello",
         "line one\nline two\n",
         "<p>Hi &amp; bye</p>",
         {{"List-Unsubscribe", "<https://chat.example.com/u?x=1>"}}};
  auto r = render(m, opts());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(only_crlf_line_ends(*r));
  auto head = r->substr(0, r->find("\r\n\r\n"));
  EXPECT_NE(head.find("From: parley@chat.example.com\r\n"), std::string::npos);
  EXPECT_NE(head.find("To: ann@example.com\r\n"), std::string::npos);
  EXPECT_NE(head.find("Subject: Hello\r\n"), std::string::npos);
  EXPECT_NE(head.find("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"), std::string::npos);
  EXPECT_NE(head.find("Message-ID: <id-1@chat.example.com>\r\n"), std::string::npos);
  EXPECT_NE(head.find("MIME-Version: 1.0\r\n"), std::string::npos);
  EXPECT_NE(head.find("Auto-Submitted: auto-generated\r\n"), std::string::npos);
  EXPECT_NE(head.find("List-Unsubscribe: <https://chat.example.com/u?x=1>\r\n"), std::string::npos);
  EXPECT_NE(head.find("Content-Type: multipart/alternative; boundary=\"=_b\""), std::string::npos);

  auto body = r->substr(r->find("\r\n\r\n") + 4);
  auto text_at = body.find(
      "--=_b\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
  auto html_at = body.find(
      "--=_b\r\nContent-Type: text/html; charset=utf-8\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
  ASSERT_NE(text_at, std::string::npos);
  ASSERT_NE(html_at, std::string::npos);
  EXPECT_LT(text_at, html_at);  // plain text first: readers show the last part they understand
  EXPECT_NE(body.find("line one\r\nline two\r\n"), std::string::npos);
  EXPECT_NE(body.find("<p>Hi &amp; bye</p>"), std::string::npos);
  EXPECT_TRUE(body.ends_with("--=_b--\r\n"));
}

TEST(Mime, WithoutHtmlTheMessageIsOneTextPart) {
  auto r = render({"ann@example.com", "Hi", "just text", "", {}}, opts());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->find("multipart"), std::string::npos);
  EXPECT_NE(r->find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
  EXPECT_TRUE(r->ends_with("\r\n\r\njust text\r\n"));
}

TEST(Mime, ANonAsciiSubjectBecomesEncodedWordsThatDecodeBack) {
  std::string subject = "Réinitialisez votre mot de passe 🔑 — Parley, ça marche très bien ✓";
  std::string enc = encode_header_text(subject);
  EXPECT_EQ(enc.rfind("=?UTF-8?B?", 0), 0u);
  std::string decoded;
  std::size_t start = 0;
  int words = 0;
  while (start < enc.size()) {
    auto end = enc.find("\r\n ", start);
    if (end == std::string::npos) end = enc.size();
    std::string word = enc.substr(start, end - start);
    EXPECT_LE(word.size(), 75u) << word;
    ASSERT_TRUE(word.starts_with("=?UTF-8?B?") && word.ends_with("?="));
    auto raw = base64_decode(word.substr(10, word.size() - 12));
    ASSERT_TRUE(raw);
    decoded += *raw;
    ++words;
    start = end + 3;
  }
  EXPECT_GT(words, 1);
  EXPECT_EQ(decoded, subject);  // every word holds whole UTF-8 characters, so they join back
  EXPECT_EQ(encode_header_text("Plain ASCII"), "Plain ASCII");
}

TEST(Mime, QuotedPrintableKeepsLinesShortAndEncodesWhatMustBe) {
  std::string text = std::string(200, 'a') + "\n" + "x = y \n" + ".\n" + "From here\n" + "é\ttab\t";
  std::string qp = quoted_printable(text);
  EXPECT_TRUE(only_crlf_line_ends(qp));
  for (auto& l : lines(qp)) EXPECT_LE(l.size(), 76u) << l;
  EXPECT_NE(qp.find("x =3D y=20\r\n"), std::string::npos);   // '=' and a trailing space
  EXPECT_NE(qp.find("\r\n=2E\r\n"), std::string::npos);      // a lone dot
  EXPECT_NE(qp.find("\r\n=46rom here"), std::string::npos);  // mbox's "From "
  EXPECT_NE(qp.find("=C3=A9\ttab=09"), std::string::npos);   // UTF-8 bytes, a trailing tab
  std::string back = qp_decode(qp);
  std::string want = text;
  std::string crlf;
  for (char c : want) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  EXPECT_EQ(back, crlf);
}

TEST(Mime, HeaderInjectionAndBadAddressesAreRefused) {
  auto r1 = render({"ann@example.com", "Hi\r\nBcc: eve@example.com", "x", "", {}}, opts());
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().field, "subject");
  auto r2 =
      render({"ann@example.com", "Hi", "x", "", {{"X-A", "v\nBcc: eve@example.com"}}}, opts());
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().field, "headers");
  auto r3 = render({"ann@example.com\r\nBcc: eve@example.com", "Hi", "x", "", {}}, opts());
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error().field, "to");
  auto r4 = render({"ann@example.com", "Hi", "x", "", {{"Bad Name", "v"}}}, opts());
  EXPECT_FALSE(r4);
  auto r5 = render({"ann@example.com", "Hi", std::string("\xff\xfe"), "", {}}, opts());
  EXPECT_FALSE(r5);
}

TEST(Mime, AddressesAreCheckedAndComparedCaseInsensitively) {
  EXPECT_EQ(check_address("  Ann.Lee+chat@Example.co.uk ").value_or(""),
            "Ann.Lee+chat@Example.co.uk");
  for (const char* bad :
       {"", "ann", "ann@", "@example.com", "ann@example", "ann@@example.com", "a b@example.com",
        "<ann@example.com>", "ann@exa_mple.com", "ann@-example.com", "ann@example..com",
        ".ann@example.com", "ann,bob@example.com", "ann@example.com\nBcc: eve@example.com",
        "anné@example.com"}) {
    auto r = check_address(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    EXPECT_EQ(r.error().field, "email");
  }
  EXPECT_EQ(check_address("ann@example.com\r\n").value_or(""), "ann@example.com");  // trimmed
  EXPECT_FALSE(check_address(std::string(65, 'a') + "@example.com"));
  EXPECT_EQ(address_key("Ann@Example.COM"), "ann@example.com");
}

TEST(Mime, DatesAreRfc5322InUtc) {
  EXPECT_EQ(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(rfc5322_date(1'796'551'200'000), "Sun, 06 Dec 2026 10:00:00 +0000");
}

TEST(Mime, MessageIdsAndBoundariesAreFreshAndSafe) {
  auto a = new_message_id("parley@chat.example.com");
  EXPECT_TRUE(a.starts_with("<") && a.ends_with("@chat.example.com>"));
  EXPECT_NE(a, new_message_id("parley@chat.example.com"));
  auto b = new_boundary();
  EXPECT_NE(b.find("=_"), std::string::npos);  // never inside quoted-printable text
  EXPECT_NE(b, new_boundary());
}

TEST(Phone, NumbersBecomeE164OrAreRefused) {
  EXPECT_EQ(sms::normalise_phone("+33 6 12-34-56-78").value_or(""), "+33612345678");
  EXPECT_EQ(sms::normalise_phone(" +1 (415) 555.0100 ").value_or(""), "+14155550100");
  for (const char* bad : {"", "0612345678", "+", "+0612345678", "+33 6 12 34", "+33a612345678",
                          "+1234567890123456", "++33612345678"}) {
    auto r = sms::normalise_phone(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().field, "phone");
  }
}

}  // namespace
}  // namespace parley::mail
