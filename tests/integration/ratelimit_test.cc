// Rate limits with the server's DEFAULT policies, and X-Forwarded-For trust. Each test starts its
// own server so buckets start full.
#include <algorithm>

#include "harness.h"

namespace parley::itest {
namespace {

using boost::json::object;

class RateLimitTest : public ::testing::Test {
 protected:
  void start(std::vector<std::string> args = {}) {
    server_ = std::make_unique<ServerProcess>(std::move(args));
    auto err = server_->start();
    ASSERT_TRUE(err.empty()) << err;
  }
  std::unique_ptr<ServerProcess> server_;
};

void expect_rate_limited(const Reply& r) {
  EXPECT_EQ(r.status, 429) << r;
  EXPECT_EQ(r.error_code(), "rate_limited") << r;
  auto retry = r.header("Retry-After");
  ASSERT_FALSE(retry.empty()) << "429 without Retry-After: " << r;
  EXPECT_EQ(retry.find_first_not_of("0123456789"), std::string::npos) << "Retry-After: " << retry;
  EXPECT_GT(std::atol(retry.c_str()), 0) << "Retry-After: " << retry;
}

Reply register_with_xff(Api& api, const std::string& xff) {
  return api.call("POST", "/api/v1/auth/register",
                  boost::json::serialize(
                      object{{"username", unique_name("xff")}, {"password", "long-enough-pw"}}),
                  {}, {{"X-Forwarded-For", xff}});
}

TEST_F(RateLimitTest, WrongPasswordsForOneAccountAreThrottled) {
  ASSERT_NO_FATAL_FAILURE(start());
  Api api(server_->port());
  auto a = register_account(api, "brute");
  std::vector<Reply> replies;
  for (int i = 0; i < 60; ++i)
    replies.push_back(
        api.post("/api/v1/auth/login",
                 object{{"username", a.username}, {"password", "guess-" + std::to_string(i)}}));
  int unauthorized = 0, limited = 0;
  for (std::size_t i = 0; i < replies.size(); ++i) {
    const auto& r = replies[i];
    ASSERT_TRUE(r.status == 401 || r.status == 429) << "attempt " << i << ": " << r;
    if (r.status == 401) {
      ++unauthorized;
      EXPECT_EQ(limited, 0) << "a 401 after a 429 at attempt " << i;
    } else {
      ++limited;
      expect_rate_limited(r);
    }
  }
  EXPECT_GE(unauthorized, 1) << "the very first attempt was already throttled";
  EXPECT_GE(limited, 20) << "60 wrong passwords, only " << limited << " throttled";
  for (std::size_t i = replies.size() - 10; i < replies.size(); ++i)
    EXPECT_EQ(replies[i].status, 429) << "attempt " << i;

  // While throttled, even the right password waits.
  auto right =
      api.post("/api/v1/auth/login", object{{"username", a.username}, {"password", a.password}});
  expect_rate_limited(right);
}

TEST_F(RateLimitTest, XForwardedForFromAnUntrustedPeerIsIgnored) {
  ASSERT_NO_FATAL_FAILURE(start());
  Api api(server_->port());
  std::vector<int> statuses;
  Reply last_limited;
  for (int i = 0; i < 12; ++i) {
    auto r = register_with_xff(api, "203.0.113." + std::to_string(i + 1));
    statuses.push_back(r.status);
    if (r.status == 429) last_limited = r;
    ASSERT_TRUE(r.status == 201 || r.status == 429) << "registration " << i << ": " << r;
  }
  int limited = static_cast<int>(std::count(statuses.begin(), statuses.end(), 429));
  EXPECT_GE(limited, 1) << "X-Forwarded-For from an untrusted peer gave each request a new bucket";
  EXPECT_EQ(statuses.front(), 201);
  if (limited) expect_rate_limited(last_limited);
  // Yet another spoofed address does not help either.
  auto again = register_with_xff(api, "198.51.100.7");
  EXPECT_EQ(again.status, 429) << again;
}

TEST_F(RateLimitTest, XForwardedForFromATrustedProxyGetsBucketsPerClient) {
  ASSERT_NO_FATAL_FAILURE(start({"--trusted-proxies", "127.0.0.1"}));
  Api api(server_->port());
  for (int i = 0; i < 12; ++i) {
    auto r = register_with_xff(api, "203.0.113." + std::to_string(i + 1));
    EXPECT_EQ(r.status, 201) << "registration " << i << " behind a trusted proxy: " << r;
  }
  // One client behind the proxy still has its own limit (10 per 10 minutes by default).
  std::vector<int> statuses;
  for (int i = 0; i < 11; ++i) statuses.push_back(register_with_xff(api, "198.51.100.9").status);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 201), 10);
  EXPECT_EQ(statuses.back(), 429);
  // The proxy's own address (no XFF) is a bucket of its own, still full.
  auto direct = api.post("/api/v1/auth/register", object{{"username", unique_name("direct")},
                                                         {"password", "long-enough-pw"}});
  EXPECT_EQ(direct.status, 201) << direct;
  // A client can't pick its bucket by prepending hops: the right-most untrusted hop counts.
  auto spoof = register_with_xff(api, "192.0.2.55, 198.51.100.9");
  EXPECT_EQ(spoof.status, 429) << spoof;
}

}  // namespace
}  // namespace parley::itest
