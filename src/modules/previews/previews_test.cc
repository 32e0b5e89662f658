// Pure functions of link previews: URL extraction, URL resolution, the HTML head reader.
#include "modules/previews/previews.h"

#include <gtest/gtest.h>

#include "core/text.h"

namespace parley::previews {
namespace {

using Urls = std::vector<std::string>;

TEST(ExtractUrls, FindsHttpAndHttpsUrlsTrimmedOfPunctuation) {
  EXPECT_EQ(extract_urls("see https://example.com/a, and http://x.org."),
            (Urls{"https://example.com/a", "http://x.org"}));
  EXPECT_EQ(extract_urls("(https://en.wikipedia.org/wiki/Foo_(bar))!"),
            (Urls{"https://en.wikipedia.org/wiki/Foo_(bar)"}));
  EXPECT_EQ(extract_urls("[link](https://x.org/a) <https://y.org/b?q=1&r=2#f>"),
            (Urls{"https://x.org/a", "https://y.org/b?q=1&r=2#f"}));
  EXPECT_EQ(extract_urls("HTTPS://Example.COM/Path \"https://q.org\""),
            (Urls{"HTTPS://Example.COM/Path", "https://q.org"}));
  EXPECT_EQ(extract_urls("is it https://x.org/?'"), (Urls{"https://x.org/"}));
}

TEST(ExtractUrls, DeduplicatesAndCapsAtThree) {
  EXPECT_EQ(extract_urls("https://a.org https://a.org https://b.org https://c.org https://d.org"),
            (Urls{"https://a.org", "https://b.org", "https://c.org"}));
  EXPECT_EQ(extract_urls("https://a.org https://b.org", 1), (Urls{"https://a.org"}));
}

TEST(ExtractUrls, IgnoresWhatIsNotAUrl) {
  for (const char* text :
       {"", "no links here", "ftp://x.org", "https://", "http:///path", "xhttps://a.org",
        "mailto:a@b.org", "javascript:alert(1)", "https://?q", "www.example.com"})
    EXPECT_TRUE(extract_urls(text).empty()) << text;
  EXPECT_EQ(extract_urls("x https://a.org\nhttps://b.org\thttps://c.org"),
            (Urls{"https://a.org", "https://b.org", "https://c.org"}));
}

TEST(ResolveUrl, FollowsRfc3986) {
  const std::string base = "http://a.example/b/c/d;p?q";
  for (auto [ref, want] : std::vector<std::pair<const char*, const char*>>{
           {"g", "http://a.example/b/c/g"},
           {"./g", "http://a.example/b/c/g"},
           {"g/", "http://a.example/b/c/g/"},
           {"/g", "http://a.example/g"},
           {"//g", "http://g/"},
           {"?y", "http://a.example/b/c/d;p?y"},
           {"g?y#s", "http://a.example/b/c/g?y#s"},
           {"", ""},
           {"..", "http://a.example/b/"},
           {"../g", "http://a.example/b/g"},
           {"../../../g", "http://a.example/g"},
           {"/./g", "http://a.example/g"},
           {"g/../h", "http://a.example/b/c/h"},
           {"https://cdn.example/i.png", "https://cdn.example/i.png"},
           {"  /spaced.png ", "http://a.example/spaced.png"},
       }) {
    auto got = resolve_url(base, ref);
    if (*want == 0)
      EXPECT_FALSE(got) << ref;
    else
      EXPECT_EQ(got.value_or("(none)"), want) << ref;
  }
}

TEST(ResolveUrl, OnlyHttpAndHttpsWithAHostAndNoCredentials) {
  for (const char* ref :
       {"javascript:alert(1)", "data:image/png;base64,AAAA", "file:///etc/passwd",
        "ftp://x.org/i.png", "http://", "https://u:p@x.org/i.png", "http://x.org/a b.png",
        "http://x.org/\ti.png", "\\\\evil.org\\i.png", "JaVaScRiPt:alert(1)"})
    EXPECT_FALSE(resolve_url("https://page.example/", ref)) << ref;
  EXPECT_EQ(resolve_url("https://page.example/", "HTTP://x.org/i.png").value_or(""),
            "http://x.org/i.png");
}

TEST(HtmlMeta, ReadsOpenGraphFirst) {
  auto m = parse_html_meta(R"(<!doctype html><html><head>
    <title>Plain title</title>
    <meta name="description" content="Plain description">
    <meta property="og:title" content="OG &amp; title">
    <meta property="og:description" content="OG description">
    <meta property="og:image" content="/img/cover.png">
    <meta property="og:site_name" content="Example">
    <meta name="twitter:title" content="Twitter title">
    </head><body><meta property="og:title" content="from the body"></body></html>)",
                           "https://example.com/posts/1");
  EXPECT_EQ(m.title, "OG & title");
  EXPECT_EQ(m.description, "OG description");
  EXPECT_EQ(m.image_url, "https://example.com/img/cover.png");
  EXPECT_EQ(m.site_name, "Example");
}

TEST(HtmlMeta, FallsBackToTwitterThenPlainHtml) {
  auto twitter = parse_html_meta(
      R"(<head><title>T</title><meta name="twitter:title" content="Tw"><meta name=twitter:image:src content=//cdn.example/x.jpg></head>)",
      "http://example.com/");
  EXPECT_EQ(twitter.title, "Tw");
  EXPECT_EQ(twitter.image_url, "http://cdn.example/x.jpg");
  auto plain = parse_html_meta(
      "<HTML><HEAD><TITLE>\n  Hello\n   world  </TITLE><META NAME='Description' "
      "CONTENT='It&#39;s &quot;fine&quot; &#x263A;'></HEAD>",
      "http://example.com/");
  EXPECT_EQ(plain.title, "Hello world");
  EXPECT_EQ(plain.description, "It's \"fine\" \u263A");
  EXPECT_EQ(plain.image_url, "");
  EXPECT_EQ(plain.site_name, "");
}

TEST(HtmlMeta, ToleratesAttributeOrderQuotingAndCase) {
  auto m = parse_html_meta(
      R"(<head><meta content="Reordered" property="OG:TITLE"/><meta
         content = 'single quoted'  name = "description" ><meta property=og:image content=https://i.example/a.png></head>)",
      "http://example.com/");
  EXPECT_EQ(m.title, "Reordered");
  EXPECT_EQ(m.description, "single quoted");
  EXPECT_EQ(m.image_url, "https://i.example/a.png");
}

TEST(HtmlMeta, SkipsCommentsScriptsAndStyles) {
  auto m = parse_html_meta(R"(<head>
    <!-- <meta property="og:title" content="commented out"> -->
    <script>var s = '<meta property="og:title" content="in a script">';</script>
    <style>/* <title>in a style</title> */</style>
    <title>Real</title></head>)",
                           "http://example.com/");
  EXPECT_EQ(m.title, "Real");
}

TEST(HtmlMeta, ImageUrlsAreResolvedAgainstBaseAndOnlyHttp) {
  EXPECT_EQ(
      parse_html_meta(R"(<head><base href="/static/"><meta property="og:image" content="a.png">)",
                      "https://example.com/page")
          .image_url,
      "https://example.com/static/a.png");
  EXPECT_EQ(parse_html_meta(R"html(<meta property="og:image" content="javascript:alert(1)">)html",
                            "https://example.com/")
                .image_url,
            "");
  // A refused og:image falls back to the next candidate.
  EXPECT_EQ(
      parse_html_meta(
          R"(<meta property="og:image" content="data:x"><meta name="twitter:image" content="https://t.example/i.png">)",
          "https://example.com/")
          .image_url,
      "https://t.example/i.png");
}

TEST(HtmlMeta, OutputIsValidUtf8WithoutControlCharacters) {
  auto m = parse_html_meta(
      "<title>bad \xff\xfe bytes &#0; &#xD800; &#1; &#x110000; &#99999999999; \x01 end</title>",
      "http://example.com/");
  EXPECT_TRUE(text::is_valid_utf8(m.title)) << m.title;
  EXPECT_FALSE(text::has_control_chars(m.title, false)) << m.title;
  EXPECT_EQ(m.title.substr(0, 4), "bad ");
  EXPECT_EQ(m.title.substr(m.title.size() - 3), "end");
}

TEST(HtmlMeta, ReadsLatin1AndWindows1252Pages) {
  // "Café – menu" in windows-1252: E9 is é, 96 is the en dash.
  const std::string page = "<head><title>Caf\xe9 \x96 menu</title></head>";
  EXPECT_EQ(parse_html_meta(page, "http://x.example/", "text/html; charset=ISO-8859-1").title,
            "Caf\u00e9 \u2013 menu");
  EXPECT_EQ(parse_html_meta("<meta charset=windows-1252>" + page, "http://x.example/").title,
            "Caf\u00e9 \u2013 menu");
  EXPECT_EQ(
      parse_html_meta("<meta http-equiv=Content-Type content='text/html; charset=latin1'>" + page,
                      "http://x.example/")
          .title,
      "Caf\u00e9 \u2013 menu");
  // The header wins over the page; as UTF-8 the same bytes are invalid and get U+FFFD.
  EXPECT_EQ(parse_html_meta("<meta charset=windows-1252>" + page, "http://x.example/",
                            "text/html; charset=utf-8")
                .title,
            "Caf\uFFFD \uFFFD menu");
}

TEST(HtmlMeta, ReadsOnlyTheFirst512KiB) {
  std::string html = "<head>" + std::string(kMaxHtmlBytes, ' ') + "<title>too late</title>";
  EXPECT_EQ(parse_html_meta(html, "http://example.com/").title, "");
  for (const char* truncated : {"<head><title>never closed", "<head><meta property=\"og:title",
                                "<head><!-- open", "<", "<head><meta content='x"})
    EXPECT_EQ(parse_html_meta(truncated, "http://example.com/").title, "") << truncated;
}

}  // namespace
}  // namespace parley::previews
