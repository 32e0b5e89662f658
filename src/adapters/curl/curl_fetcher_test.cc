// The SSRF-hardened fetcher against a real HTTP server on loopback. Loopback is refused unless
// the test allows it, exactly as in production; names are pointed at addresses with the
// fetcher's resolve hook, never by editing /etc/hosts.
#include "adapters/curl/curl_fetcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "test_server.h"

namespace parley::curl {
namespace {

using namespace std::chrono_literals;
using outbound::AddressPolicy;
using outbound::FetchRequest;
using testing::http_response;
using testing::redirect_to;
using testing::TestHttpServer;

std::unique_ptr<outbound::HttpFetcher> fetcher(std::vector<std::string> allow = {},
                                               std::vector<HostOverride> resolve = {}) {
  return make_curl_fetcher({*AddressPolicy::parse(allow), std::move(resolve)});
}

FetchRequest get(std::string url) {
  FetchRequest r;
  r.url = std::move(url);
  r.limits.timeout = 2s;
  return r;
}

void expect_refused_request(outbound::HttpFetcher& f, const FetchRequest& req) {
  auto r = f.fetch(req);
  ASSERT_FALSE(r) << req.url << " was fetched";
  EXPECT_EQ(r.error().code, Errc::permission_denied) << req.url << ": " << r.error().message;
  EXPECT_EQ(r.error().message, outbound::kAddressNotAllowed) << req.url;
}

void expect_refused(outbound::HttpFetcher& f, const std::string& url) {
  expect_refused_request(f, get(url));
}

class CurlFetcherTest : public ::testing::Test {
 protected:
  std::string url(const std::string& path = "/") {
    return "http://127.0.0.1:" + std::to_string(server_.port()) + path;
  }
  TestHttpServer server_{[](const testing::TestRequest& req) {
    if (req.target == "/hello") return http_response(200, "text/plain", "hi");
    return http_response(404, "text/plain", "no");
  }};
};

TEST_F(CurlFetcherTest, FetchesAnAllowedAddress) {
  auto f = fetcher({"127.0.0.0/8"});
  auto r = f->fetch(get(url("/hello")));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hi");
  EXPECT_EQ(r->content_type, "text/plain");
  EXPECT_EQ(r->final_url, url("/hello"));
  EXPECT_FALSE(r->truncated);
  auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].header("user-agent"), "Parley");
  // An HTTP error is an answer, not a failure.
  auto missing = f->fetch(get(url("/missing")));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(CurlFetcherTest, LoopbackIsRefusedInEverySpellingWithoutTheAllowList) {
  auto f = fetcher();
  std::string port = std::to_string(server_.port());
  for (const std::string& u : std::vector<std::string>{
           url("/hello"), "http://[::1]:" + port + "/", "http://localhost:" + port + "/",
           "http://2130706433:" + port + "/", "http://0177.0.0.1:" + port + "/",
           "http://0x7f.1:" + port + "/", "http://127.1:" + port + "/",
           "http://[::ffff:127.0.0.1]:" + port + "/", "http://0.0.0.0:" + port + "/",
           "http://0:" + port + "/"})
    expect_refused(*f, u);
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(CurlFetcherTest, PrivateLinkLocalAndMetadataAddressesAreRefused) {
  auto f = fetcher({"127.0.0.0/8"});
  for (const char* u : {"http://10.0.0.1/", "http://192.168.0.1/", "http://172.16.5.4:8080/",
                        "http://169.254.169.254/latest/meta-data/", "http://[fd00::1]/",
                        "http://[fe80::1]/", "http://100.64.0.1/", "https://10.1.2.3/"})
    expect_refused(*f, u);
}

TEST(CurlFetcher, AHostnameResolvingToAPrivateAddressIsRefused) {
  auto f = fetcher({}, {{"intranet.test", 80, "10.0.0.7"}, {"v6.test", 80, "fd00::7"}});
  expect_refused(*f, "http://intranet.test/");
  expect_refused(*f, "http://v6.test/");
}

TEST(CurlFetcher, AHostnameResolvingToAnAllowedAddressIsFetched) {
  TestHttpServer server([](const testing::TestRequest& req) {
    return http_response(200, "text/plain", req.header("host"));
  });
  auto f = fetcher({"127.0.0.1/32"}, {{"public.test", server.port(), "127.0.0.1"}});
  auto r = f->fetch(get("http://public.test:" + std::to_string(server.port()) + "/"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "public.test:" + std::to_string(server.port()));
}

// public.test is the one allowed host (127.0.0.1/32); each redirect leads somewhere else.
class RedirectTest : public ::testing::Test {
 protected:
  std::string base() { return "http://public.test:" + std::to_string(server_.port()); }
  std::string next_location_;
  TestHttpServer server_{[this](const testing::TestRequest& req) {
    if (req.target == "/away") return redirect_to(302, next_location_);
    if (req.target == "/loop") return redirect_to(301, "/loop");
    if (req.target == "/hop1") return redirect_to(307, "/hop2");
    if (req.target == "/hop2") return redirect_to(308, base() + "/end");
    if (req.target == "/post") return redirect_to(303, "/end");
    if (req.target == "/end") return http_response(200, "text/plain", req.method + " " + req.body);
    return http_response(404, "text/plain", "");
  }};
  std::unique_ptr<outbound::HttpFetcher> fetcher_ =
      fetcher({"127.0.0.1/32"}, {{"public.test", server_.port(), "127.0.0.1"}});
};

TEST_F(RedirectTest, ARedirectToARefusedAddressIsRefused) {
  std::string port = std::to_string(server_.port());
  for (const std::string& target : std::vector<std::string>{
           "http://10.0.0.1/", "http://169.254.169.254/", "http://[::1]:" + port + "/end",
           "http://127.0.0.2:" + port + "/end", "http://[::ffff:127.0.0.2]:" + port + "/end"}) {
    next_location_ = target;
    auto r = fetcher_->fetch(get(base() + "/away"));
    ASSERT_FALSE(r) << target;
    EXPECT_EQ(r.error().code, Errc::permission_denied) << target << ": " << r.error().message;
  }
}

TEST_F(RedirectTest, ARedirectToAnotherSchemeOrToCredentialsIsRefused) {
  for (const char* target : {"file:///etc/passwd", "gopher://public.test/", "ftp://x.test/",
                             "dict://127.0.0.1:11211/", "http://user:pw@public.test/end"}) {
    next_location_ = target;
    auto r = fetcher_->fetch(get(base() + "/away"));
    ASSERT_FALSE(r) << target;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << target << ": " << r.error().message;
  }
}

TEST_F(RedirectTest, RedirectsAreFollowedUpToTheLimit) {
  auto r = fetcher_->fetch(get(base() + "/hop1"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->final_url, base() + "/end");

  auto loop = fetcher_->fetch(get(base() + "/loop"));
  ASSERT_FALSE(loop);
  EXPECT_EQ(loop.error().code, Errc::unavailable);
  // The first request and the three redirects allowed by default.
  EXPECT_EQ(server_.requests().size(), 3u + 4u);

  auto none = get(base() + "/hop1");
  none.limits.max_redirects = 0;
  EXPECT_FALSE(fetcher_->fetch(none));
}

TEST_F(RedirectTest, SeeOtherTurnsAPostIntoAGet) {
  auto req = get(base() + "/post");
  req.method = "POST";
  req.body = "payload";
  auto r = fetcher_->fetch(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "GET ");
  auto requests = server_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].body, "payload");
}

TEST_F(RedirectTest, CredentialHeadersDoNotFollowARedirectToAnotherOrigin) {
  TestHttpServer other(
      [](const testing::TestRequest&) { return http_response(200, "text/plain", "other"); });
  next_location_ = "http://127.0.0.1:" + std::to_string(other.port()) + "/";
  auto req = get(base() + "/away");
  req.headers = {{"Authorization", "Bearer secret"}, {"X-Hook", "1"}};
  auto r = fetcher_->fetch(req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(server_.requests()[0].header("authorization"), "Bearer secret");
  auto seen = other.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_FALSE(seen[0].has_header("authorization"));
  EXPECT_EQ(seen[0].header("x-hook"), "1");
}

TEST(CurlFetcher, NoCookieIsSentEvenAfterSetCookie) {
  TestHttpServer server([](const testing::TestRequest& req) {
    if (req.target == "/set")
      return redirect_to(302, "/check", "Set-Cookie: session=abc; Path=/\r\n");
    return http_response(200, "text/plain", "ok");
  });
  auto f = fetcher({"127.0.0.0/8"});
  std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  ASSERT_TRUE(f->fetch(get(base + "/set")));
  ASSERT_TRUE(f->fetch(get(base + "/check")));
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  for (const auto& r : requests) EXPECT_FALSE(r.has_header("cookie")) << r.target;
}

TEST(CurlFetcher, AServerThatNeverAnswersTimesOut) {
  TestHttpServer server([](const testing::TestRequest&) { return std::string(); });
  auto f = fetcher({"127.0.0.0/8"});
  auto req = get("http://127.0.0.1:" + std::to_string(server.port()) + "/");
  req.limits.timeout = 300ms;
  auto start = std::chrono::steady_clock::now();
  auto r = f->fetch(req);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
}

TEST(CurlFetcher, TheTimeoutCoversEveryHopTogether) {
  // Each hop answers after 150 ms; three of them cannot fit in 300 ms.
  TestHttpServer server([](const testing::TestRequest& req) {
    std::this_thread::sleep_for(150ms);
    if (req.target == "/3") return http_response(200, "text/plain", "done");
    return redirect_to(302, "/" + std::to_string(req.target.back() - '0' + 1));
  });
  auto f = fetcher({"127.0.0.0/8"});
  auto req = get("http://127.0.0.1:" + std::to_string(server.port()) + "/1");
  req.limits.timeout = 300ms;
  auto r = f->fetch(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
}

TEST(CurlFetcher, ABodyOverTheCapFailsOrIsTruncated) {
  const std::string big(2 * 1024 * 1024, 'x');
  TestHttpServer server(
      [&](const testing::TestRequest&) { return http_response(200, "text/plain", big); });
  auto f = fetcher({"127.0.0.0/8"});
  auto req = get("http://127.0.0.1:" + std::to_string(server.port()) + "/");
  auto r = f->fetch(req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::too_large);

  req.limits.max_body_bytes = 1000;
  req.limits.overflow = outbound::FetchLimits::Overflow::truncate;
  auto cut = f->fetch(req);
  ASSERT_TRUE(cut) << cut.error().message;
  EXPECT_TRUE(cut->truncated);
  EXPECT_EQ(cut->body, big.substr(0, 1000));

  req.limits.max_body_bytes = big.size();  // exactly at the cap is whole
  req.limits.overflow = outbound::FetchLimits::Overflow::fail;
  auto whole = f->fetch(req);
  ASSERT_TRUE(whole) << whole.error().message;
  EXPECT_FALSE(whole->truncated);
  EXPECT_EQ(whole->body.size(), big.size());
}

TEST(CurlFetcher, HeadersPastTheirCapAreTooLarge) {
  std::string many;
  for (int i = 0; i < 2000; ++i)
    many += "X-Filler-" + std::to_string(i) + ": " + std::string(40, 'y') + "\r\n";
  TestHttpServer server(
      [&](const testing::TestRequest&) { return http_response(200, "text/plain", "", many); });
  auto f = fetcher({"127.0.0.0/8"});
  auto r = f->fetch(get("http://127.0.0.1:" + std::to_string(server.port()) + "/"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::too_large);
}

TEST(CurlFetcher, BadRequestsAreInvalidArguments) {
  auto f = fetcher({"127.0.0.0/8"});
  for (const char* u :
       {"", "not a url", "ftp://example.com/", "file:///etc/passwd", "gopher://example.com/",
        "javascript:alert(1)", "//example.com/", "http://user:pass@example.com/",
        "http://user@example.com/", "dict://example.com:11211/", "http://exa mple.com/"}) {
    auto r = f->fetch(get(u));
    ASSERT_FALSE(r) << u;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << u << ": " << r.error().message;
  }
  auto put = get("http://example.com/");
  put.method = "PUT";
  EXPECT_EQ(f->fetch(put).error().code, Errc::invalid_argument);
  auto injected = get("http://example.com/");
  injected.headers = {{"X-A", "1\r\nHost: evil"}};
  EXPECT_EQ(f->fetch(injected).error().code, Errc::invalid_argument);
}

TEST(CurlFetcher, HttpsOnlyRequestsSpeakPlainHttpOnlyToTheAllowList) {
  TestHttpServer server(
      [](const testing::TestRequest&) { return http_response(200, "text/plain", "ok"); });
  // push.test stands for a public push service; its address is public, not allow-listed.
  auto f = fetcher({"127.0.0.1/32"}, {{"push.test", 80, "93.184.216.34"}});
  auto local = get("http://127.0.0.1:" + std::to_string(server.port()) + "/");
  local.https_only = true;
  EXPECT_TRUE(f->fetch(local));
  auto plain = get("http://push.test/");
  plain.https_only = true;
  expect_refused_request(*f, plain);
}

// A proxy resolves names itself, out of the policy's reach: the environment's must be ignored.
TEST(CurlFetcher, TheEnvironmentsProxyIsIgnored) {
  TestHttpServer proxy(
      [](const testing::TestRequest&) { return http_response(200, "text/plain", "proxied"); });
  std::string address = "http://127.0.0.1:" + std::to_string(proxy.port());
  for (const char* name : {"http_proxy", "HTTPS_PROXY", "ALL_PROXY"})
    setenv(name, address.c_str(), 1);
  auto f = fetcher({"127.0.0.0/8"});
  expect_refused(*f, "http://10.0.0.1/");
  expect_refused(*f, "http://169.254.169.254/");
  EXPECT_TRUE(proxy.requests().empty());
  for (const char* name : {"http_proxy", "HTTPS_PROXY", "ALL_PROXY"}) unsetenv(name);
}

TEST(CurlFetcher, ConcurrentFetchesAreIndependent) {
  TestHttpServer server(
      [](const testing::TestRequest& req) { return http_response(200, "text/plain", req.target); });
  auto f = fetcher({"127.0.0.0/8"});
  std::atomic<int> right{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      std::string path = "/" + std::to_string(i);
      auto r = f->fetch(get("http://127.0.0.1:" + std::to_string(server.port()) + path));
      if (r && r->body == path) ++right;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(right.load(), 8);
}

TEST(CurlFetcher, AnUnknownHostIsUnavailable) {
  auto f = fetcher();
  auto r = f->fetch(get("http://no-such-host.invalid/"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable) << r.error().message;
}

}  // namespace
}  // namespace parley::curl
