#include "modules/previews/previews.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "adapters/curl/curl_fetcher.h"
#include "core/text.h"
#include "test_server.h"

namespace parley::previews {
namespace {

using curl::testing::http_response;
using curl::testing::TestHttpServer;
using curl::testing::TestRequest;
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

TEST(HtmlMeta, ReadsOnlyTheFirst512KiB) {
  std::string html = "<head>" + std::string(kMaxHtmlBytes, ' ') + "<title>too late</title>";
  EXPECT_EQ(parse_html_meta(html, "http://example.com/").title, "");
  for (const char* truncated : {"<head><title>never closed", "<head><meta property=\"og:title",
                                "<head><!-- open", "<", "<head><meta content='x"})
    EXPECT_EQ(parse_html_meta(truncated, "http://example.com/").title, "") << truncated;
}

// The service against a real server on loopback, with loopback allowed as tests do.
class PreviewServiceTest : public ::testing::Test {
 protected:
  std::string url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(server_.port()) + path;
  }
  PreviewService service(PreviewOptions options = {}) {
    return PreviewService(*fetcher_, std::move(options), &clock_);
  }
  std::size_t hits(const std::string& target) {
    std::size_t n = 0;
    for (const auto& r : server_.requests()) n += r.target == target;
    return n;
  }

  FakeClock clock_;
  std::atomic<int> slow_ms_{0};
  TestHttpServer server_{[this](const TestRequest& req) {
    std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms_.load()));
    if (req.target.starts_with("/article"))
      return http_response(200, "text/html; charset=utf-8",
                           R"(<head><meta property="og:title" content="An article">
                           <meta property="og:description" content="About things">
                           <meta property="og:image" content="/cover.jpg"></head>)");
    if (req.target == "/long")
      return http_response(200, "text/html",
                           "<title>" + std::string(400, 'a') +
                               "</title><meta name=description "
                               "content='" +
                               std::string(999, 'b') + "\u00e9\u00e9'>");
    if (req.target == "/json") return http_response(200, "application/json", "{\"title\":1}");
    if (req.target == "/empty") return http_response(200, "text/html", "<p>nothing</p>");
    return http_response(404, "text/html", "<title>Not found</title>");
  }};
  std::unique_ptr<outbound::HttpFetcher> fetcher_ =
      curl::make_curl_fetcher({*outbound::AddressPolicy::parse({"127.0.0.0/8"}), {}});
};

TEST_F(PreviewServiceTest, PreviewsEachUrlThatHasSomethingToShow) {
  auto svc = service();
  auto r = svc.previews_for("look " + url("/article") + ", " + url("/json") + " " +
                            url("/missing") + " " + url("/empty"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].url, url("/article"));
  EXPECT_EQ((*r)[0].title, "An article");
  EXPECT_EQ((*r)[0].description, "About things");
  EXPECT_EQ((*r)[0].image_url, url("/cover.jpg"));
  EXPECT_EQ((*r)[0].site_name, std::nullopt);
  auto request = server_.requests()[0];
  EXPECT_NE(request.header("user-agent").find("ParleyBot"), std::string::npos);
}

TEST_F(PreviewServiceTest, LengthsAreCappedOnCharacterBoundaries) {
  auto svc = service();
  auto r = svc.previews_for(url("/long"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].title, std::string(300, 'a'));
  EXPECT_EQ((*r)[0].description, std::string(999, 'b') + "\u00e9");
  EXPECT_TRUE(text::is_valid_utf8((*r)[0].description));
}

TEST_F(PreviewServiceTest, RefusedAddressesAreSkippedNotErrors) {
  auto refusing = curl::make_curl_fetcher({});
  PreviewService strict(*refusing, {}, &clock_);
  auto r = strict.previews_for(url("/article") + " http://169.254.169.254/latest/meta-data/");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(PreviewServiceTest, ALinkPostedFiftyTimesIsFetchedOnce) {
  auto svc = service();
  slow_ms_ = 100;  // every caller arrives while the first fetch is still running
  std::vector<std::thread> threads;
  std::atomic<int> got{0};
  for (int i = 0; i < 50; ++i)
    threads.emplace_back([&] {
      auto r = svc.previews_for("again " + url("/article"));
      if (r && r->size() == 1 && (*r)[0].title == "An article") ++got;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(got.load(), 50);
  EXPECT_EQ(hits("/article"), 1u);
}

TEST_F(PreviewServiceTest, CacheEntriesExpireAndFailuresSooner) {
  PreviewOptions options;
  options.cache_ttl = std::chrono::minutes(60);
  options.failure_ttl = std::chrono::minutes(5);
  auto svc = service(options);
  (void)svc.previews_for(url("/article") + " " + url("/missing"));
  clock_.advance_ms(6 * 60 * 1000);
  (void)svc.previews_for(url("/article") + " " + url("/missing"));
  EXPECT_EQ(hits("/article"), 1u);
  EXPECT_EQ(hits("/missing"), 2u);
  clock_.advance_ms(60 * 60 * 1000);
  (void)svc.previews_for(url("/article"));
  EXPECT_EQ(hits("/article"), 2u);
}

TEST_F(PreviewServiceTest, TheCacheIsBoundedInEntries) {
  PreviewOptions options;
  options.max_cache_entries = 2;
  auto svc = service(options);
  (void)svc.previews_for(url("/article?1") + " " + url("/article?2") + " " + url("/article?3"));
  (void)svc.previews_for(url("/article?1"));  // the oldest, evicted by ?3: fetched again
  (void)svc.previews_for(url("/article?3"));  // still cached
  std::size_t one = 0, three = 0;
  for (const auto& r : server_.requests()) {
    one += r.target == "/article?1";
    three += r.target == "/article?3";
  }
  EXPECT_EQ(one, 2u);
  EXPECT_EQ(three, 1u);
}

}  // namespace
}  // namespace parley::previews
