// PreviewService against a real HTTP server on loopback, through the real curl fetcher with
// loopback allowed (as tests run the server): fetching, skipping, capping, caching.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "adapters/curl/curl_fetcher.h"
#include "core/text.h"
#include "modules/previews/previews.h"
#include "test_server.h"

namespace parley::previews {
namespace {

using curl::testing::http_response;
using curl::testing::TestHttpServer;
using curl::testing::TestRequest;

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
