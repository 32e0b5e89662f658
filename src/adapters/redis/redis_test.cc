// Redis adapters against a real redis-server. The tests that need one read its URL from
// PARLEY_TEST_REDIS_URL (`make test` starts one with scripts/redis.sh) and skip without it. The
// restart tests start their own private server through the same script, on another port, so
// restarting it disturbs no other test. Each test uses its own channel and key prefix, so tests
// may run in parallel against one server.
#include "adapters/redis/redis.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/id.h"

namespace parley::redis {
namespace {

using namespace std::chrono_literals;

const char* test_url() {
  const char* url = std::getenv("PARLEY_TEST_REDIS_URL");
  return url && *url ? url : nullptr;
}

#define REQUIRE_REDIS()                                                                      \
  const char* url_c = test_url();                                                            \
  if (!url_c)                                                                                \
    GTEST_SKIP() << "PARLEY_TEST_REDIS_URL is not set; `make test` starts Redis with "       \
                    "scripts/redis.sh, or run `eval \"$(scripts/redis.sh start >/dev/null; " \
                    "scripts/redis.sh env)\"` first";                                        \
  const std::string url(url_c)

std::string unique_prefix() { return "test:" + new_id(SystemClock().now_ms()) + ":"; }

BusOptions bus_options(const std::string& prefix) {
  BusOptions o;
  o.channel_prefix = prefix;
  o.backoff_initial_ms = 50;
  o.backoff_max_ms = 500;
  o.connect_timeout_ms = 500;
  o.io_timeout_ms = 1000;
  o.ping_interval_ms = 1000;
  return o;
}

// Collects payloads delivered to a handler and lets a test wait for them.
class Inbox {
 public:
  Bus::Handler handler() {
    return [this](std::string_view p) {
      std::lock_guard lock(mu_);
      got_.emplace_back(p);
      cv_.notify_all();
    };
  }
  bool wait_for_count(std::size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return got_.size() >= n; });
  }
  bool wait_for(const std::string& payload, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout,
                        [&] { return std::find(got_.begin(), got_.end(), payload) != got_.end(); });
  }
  std::vector<std::string> items() {
    std::lock_guard lock(mu_);
    return got_;
  }
  std::size_t size() {
    std::lock_guard lock(mu_);
    return got_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> got_;
};

// Runs a shell command; its exit status.
int sh(const std::string& cmd) { return std::system(cmd.c_str()); }

std::string sh_out(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  std::array<char, 256> buf;
  while (fgets(buf.data(), buf.size(), p)) out += buf.data();
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

// A redis-server of the test's own (scripts/redis.sh with a private port and folder), which the
// test may stop and start again on the same port.
class PrivateRedis {
 public:
  PrivateRedis()
      : dir_(std::filesystem::temp_directory_path() /
             ("parley-redis-test-" + new_id(SystemClock().now_ms()))),
        port_(free_port()) {}
  ~PrivateRedis() { stop(); }

  bool start() {
    std::string got = sh_out(env() +
                             " "
                             "'" PARLEY_REDIS_SCRIPT "' start 2>&1");
    url_ = "redis://127.0.0.1:" + std::to_string(port_);
    return got == url_;
  }
  void stop() {
    sh(env() +
       " "
       "'" PARLEY_REDIS_SCRIPT "' stop >/dev/null 2>&1");
  }
  const std::string& url() const { return url_; }

 private:
  std::string env() const {
    return "PARLEY_REDIS_PORT=" + std::to_string(port_) + " PARLEY_REDIS_DIR=" + dir_.string();
  }
  std::filesystem::path dir_;
  int port_;
  std::string url_;
};

#define REQUIRE_PRIVATE_REDIS(r)                                                         \
  if (!test_url()) GTEST_SKIP() << "PARLEY_TEST_REDIS_URL is not set (Redis tests off)"; \
  PrivateRedis r;                                                                        \
  ASSERT_TRUE(r.start()) << "scripts/redis.sh could not start a private redis-server"

// A plain connection for checks the adapters do not expose.
struct Raw {
  explicit Raw(const std::string& url) {
    auto e = parse_url(url);
    c = redisConnect(e->host.c_str(), e->port);
  }
  ~Raw() {
    if (c) redisFree(c);
  }
  long long integer(const char* fmt, const std::string& arg) {
    auto* r = static_cast<redisReply*>(redisCommand(c, fmt, arg.c_str()));
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1000;
    if (r) freeReplyObject(r);
    return v;
  }
  bool status(const char* cmd) {
    auto* r = static_cast<redisReply*>(redisCommand(c, cmd));
    bool okay = r && r->type == REDIS_REPLY_STATUS;
    if (r) freeReplyObject(r);
    return okay;
  }
  redisContext* c = nullptr;
};

// ---- URLs (no server needed) ----

TEST(RedisUrl, ParsesHostPortDbAndCredentials) {
  auto e = parse_url("redis://127.0.0.1:6380/2");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 6380);
  EXPECT_EQ(e->db, 2);
  EXPECT_TRUE(e->password.empty());

  e = parse_url("redis://cache.internal");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "cache.internal");
  EXPECT_EQ(e->port, 6379);
  EXPECT_EQ(e->db, 0);

  e = parse_url("redis://:s3cret@10.0.0.5:7000/");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->password, "s3cret");
  EXPECT_EQ(e->user, "");
  EXPECT_EQ(e->port, 7000);

  e = parse_url("redis://parley:pw@[::1]:6379/1");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->user, "parley");
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->db, 1);
  EXPECT_EQ(describe(*e), "redis://[::1]:6379/1");
}

TEST(RedisUrl, RejectsMalformedUrls) {
  for (const char* bad :
       {"", "127.0.0.1:6379", "http://127.0.0.1:6379", "redis://", "redis://:6379",
        "redis://host:", "redis://host:0", "redis://host:65536", "redis://host:12ab",
        "redis://host/x", "redis://host/-1", "redis://user@host", "redis://:@host", "redis://[::1",
        "redis://[::1]x", "redis://host?x=1", "redis://ho st"}) {
    auto e = parse_url(bad);
    EXPECT_FALSE(e) << bad;
    if (!e) {
      EXPECT_EQ(e.error().code, Errc::invalid_argument) << bad;
    }
  }
}

TEST(RedisUrl, DescribeNeverShowsThePassword) {
  auto e = parse_url("redis://u:topsecret@h:1/0");
  ASSERT_TRUE(e);
  EXPECT_EQ(describe(*e).find("topsecret"), std::string::npos);
}

TEST(RedisBusFactory, RejectsBadNodeIdsAndUnreachableRedis) {
  auto b = make_redis_bus("redis://127.0.0.1:1", "has space");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, Errc::invalid_argument);
  EXPECT_FALSE(make_redis_bus("redis://127.0.0.1:1", ""));
  EXPECT_FALSE(make_redis_bus("redis://127.0.0.1:1", std::string(256, 'a')));
  EXPECT_FALSE(make_redis_bus("redis://127.0.0.1:1", "a\nb"));
  EXPECT_FALSE(make_redis_bus("redis://127.0.0.1:1", "caf\xc3\xa9"));

  auto down = make_redis_bus("redis://127.0.0.1:" + std::to_string(free_port()), "n1");
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, Errc::unavailable);
  EXPECT_NE(down.error().message.find("127.0.0.1"), std::string::npos) << down.error().message;

  FakeClock clock;
  auto rl = make_redis_rate_limiter("redis://127.0.0.1:" + std::to_string(free_port()), clock);
  ASSERT_FALSE(rl);
  EXPECT_EQ(rl.error().code, Errc::unavailable);
}

// ---- bus ----

TEST(RedisBus, TwoNodesSeeEachOthersEventsInPublishOrder) {
  REQUIRE_REDIS();
  auto prefix = unique_prefix();
  auto a = make_redis_bus(url, "10.0.1.11:8080", bus_options(prefix));
  auto b = make_redis_bus(url, "10.0.1.12:8080", bus_options(prefix));
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(b) << b.error().message;
  Inbox at, bt, other;
  auto sa = (*a)->subscribe("t", at.handler());
  auto sb = (*b)->subscribe("t", bt.handler());
  auto so = (*b)->subscribe("other", other.handler());

  constexpr int kEach = 2000;
  std::thread ta([&] {
    for (int i = 0; i < kEach; ++i) (*a)->publish("t", "a" + std::to_string(i));
  });
  std::thread tb([&] {
    for (int i = 0; i < kEach; ++i) (*b)->publish("t", "b" + std::to_string(i));
  });
  ta.join();
  tb.join();
  ASSERT_TRUE(at.wait_for_count(2 * kEach)) << at.size();
  ASSERT_TRUE(bt.wait_for_count(2 * kEach)) << bt.size();

  // Each node has every event once, and each publisher's events in the order published.
  for (auto* inbox : {&at, &bt}) {
    auto got = inbox->items();
    ASSERT_EQ(got.size(), 2u * kEach);
    int next_a = 0, next_b = 0;
    for (const auto& p : got) {
      if (p[0] == 'a') {
        ASSERT_EQ(p, "a" + std::to_string(next_a++));
      } else {
        ASSERT_EQ(p, "b" + std::to_string(next_b++));
      }
    }
    EXPECT_EQ(next_a, kEach);
    EXPECT_EQ(next_b, kEach);
  }
  EXPECT_EQ(other.size(), 0u);
  EXPECT_EQ((*a)->stats().received, static_cast<std::uint64_t>(kEach));
  EXPECT_EQ((*a)->stats().dropped, 0u);
}

TEST(RedisBus, OwnEventsAreDeliveredSynchronouslyAndTheirEchoIgnored) {
  REQUIRE_REDIS();
  auto prefix = unique_prefix();
  auto a = make_redis_bus(url, "node-a", bus_options(prefix));
  auto b = make_redis_bus(url, "node-b", bus_options(prefix));
  ASSERT_TRUE(a && b);
  Inbox at, bt;
  auto sa = (*a)->subscribe("t", at.handler());
  auto sb = (*b)->subscribe("t", bt.handler());

  (*a)->publish("t", "x");
  EXPECT_EQ(at.size(), 1u);  // before publish() returned
  ASSERT_TRUE(bt.wait_for("x"));
  // Redis delivers to a's subscriber connection in publish order, so once "y" (published by b
  // after it saw "x") arrives at a, the echo of "x" has been seen and dropped.
  (*b)->publish("t", "y");
  ASSERT_TRUE(at.wait_for("y"));
  EXPECT_EQ(at.items(), (std::vector<std::string>{"x", "y"}));
  EXPECT_GE((*a)->stats().echoes, 1u);
}

TEST(RedisBus, TwoNodesGivenTheSameNameStillHearEachOther) {
  REQUIRE_REDIS();
  auto prefix = unique_prefix();
  auto a = make_redis_bus(url, "node", bus_options(prefix));
  auto b = make_redis_bus(url, "node", bus_options(prefix));
  ASSERT_TRUE(a && b);
  Inbox bt;
  auto sb = (*b)->subscribe("t", bt.handler());
  (*a)->publish("t", "hello");
  EXPECT_TRUE(bt.wait_for("hello"));
}

TEST(RedisBus, PayloadsAreBinarySafe) {
  REQUIRE_REDIS();
  auto prefix = unique_prefix();
  auto a = make_redis_bus(url, "node-a", bus_options(prefix));
  auto b = make_redis_bus(url, "node-b", bus_options(prefix));
  ASSERT_TRUE(a && b);
  Inbox bt;
  auto sb = (*b)->subscribe("t", bt.handler());
  std::string payload("line1\nline2\0\r\n%s%b", 17);
  payload += std::string(100'000, 'z');
  (*a)->publish("t", payload);
  (*a)->publish("t", "");
  ASSERT_TRUE(bt.wait_for_count(2));
  EXPECT_EQ(bt.items()[0], payload);
  EXPECT_EQ(bt.items()[1], "");
}

TEST(RedisBus, UnsubscribedHandlerIsNotCalledAndTopicsStaySeparate) {
  REQUIRE_REDIS();
  auto prefix = unique_prefix();
  auto a = make_redis_bus(url, "node-a", bus_options(prefix));
  auto b = make_redis_bus(url, "node-b", bus_options(prefix));
  ASSERT_TRUE(a && b);
  Inbox gone, kept, marker;
  auto s1 = (*b)->subscribe("t", gone.handler());
  auto s2 = (*b)->subscribe("t", kept.handler());
  auto s3 = (*b)->subscribe("marker", marker.handler());
  s1.reset();
  (*a)->publish("t", "1");
  (*a)->publish("marker", "m");
  ASSERT_TRUE(marker.wait_for("m"));
  EXPECT_EQ(kept.items(), std::vector<std::string>{"1"});
  EXPECT_EQ(gone.size(), 0u);

  s2.reset();  // the last local handler: b unsubscribes from the Redis channel
  (*a)->publish("t", "2");
  (*a)->publish("marker", "m2");
  ASSERT_TRUE(marker.wait_for("m2"));
  EXPECT_EQ(kept.size(), 1u);

  Inbox again;  // and subscribes again
  auto s4 = (*b)->subscribe("t", again.handler());
  (*a)->publish("t", "3");
  ASSERT_TRUE(again.wait_for("3"));
}

TEST(RedisBus, HandlerMayPublishAndSubscribe) {
  REQUIRE_REDIS();
  auto prefix = unique_prefix();
  auto a = make_redis_bus(url, "node-a", bus_options(prefix));
  auto b = make_redis_bus(url, "node-b", bus_options(prefix));
  ASSERT_TRUE(a && b);
  Inbox replies, late;
  std::unique_ptr<Bus::Subscription> inner;
  auto sb = (*b)->subscribe("ask", [&](std::string_view p) {
    if (!inner) inner = (*b)->subscribe("late", late.handler());  // on b's subscriber thread
    (*b)->publish("reply", "re:" + std::string(p));
  });
  auto sa = (*a)->subscribe("reply", replies.handler());
  (*a)->publish("ask", "q");
  ASSERT_TRUE(replies.wait_for("re:q"));
  // The inner subscription reaches Redis soon after; keep publishing until it is heard.
  bool heard = false;
  for (int i = 0; i < 100 && !heard; ++i) {
    (*a)->publish("late", "l");
    heard = late.wait_for("l", 50ms);
  }
  EXPECT_TRUE(heard);
  inner.reset();
}

TEST(RedisBus, StopIsCleanAndLaterPublishesStayLocal) {
  REQUIRE_REDIS();
  auto prefix = unique_prefix();
  auto a = make_redis_bus(url, "node-a", bus_options(prefix));
  auto b = make_redis_bus(url, "node-b", bus_options(prefix));
  ASSERT_TRUE(a && b);
  Inbox at, bt;
  auto sa = (*a)->subscribe("t", at.handler());
  auto sb = (*b)->subscribe("t", bt.handler());
  for (int i = 0; i < 100; ++i) (*a)->publish("t", std::to_string(i));
  (*a)->stop();  // flushes what is queued
  ASSERT_TRUE(bt.wait_for_count(100));
  (*a)->stop();
  (*a)->publish("t", "after");
  EXPECT_EQ(at.size(), 101u);
  sa.reset();
  a->reset();
  (*b)->publish("t", "b-still-works");
  EXPECT_TRUE(bt.wait_for("b-still-works"));
}

// The brief's scenario: Redis restarted mid-stream. Publishing never blocks while it is down,
// what cannot be queued is dropped and counted, and delivery resumes by itself afterwards.
TEST(RedisBus, SubscriptionSurvivesRedisRestart) {
  REQUIRE_PRIVATE_REDIS(redis);
  auto prefix = unique_prefix();
  auto opts = bus_options(prefix);
  opts.max_queued = 50;
  auto a = make_redis_bus(redis.url(), "node-a", opts);
  auto b = make_redis_bus(redis.url(), "node-b", opts);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(b) << b.error().message;
  Inbox bt, gaps;
  auto sb = (*b)->subscribe("t", bt.handler());
  auto sg = (*b)->subscribe(std::string(kBusGapTopic), gaps.handler());
  (*a)->publish("t", "before");
  ASSERT_TRUE(bt.wait_for("before"));

  redis.stop();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) (*a)->publish("t", "during" + std::to_string(i));
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, 500ms) << "publish() blocked while Redis was down";
  // The publisher may still be draining when Redis goes; wait for the queue bound to bite.
  for (int i = 0; i < 100 && (*a)->stats().dropped < 900; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_GE((*a)->stats().dropped, 900u);

  ASSERT_TRUE(redis.start()) << "could not restart redis on the same port";
  // Publish until b hears one: both links must reconnect and b must resubscribe by itself.
  bool resumed = false;
  for (int i = 0; i < 200 && !resumed; ++i) {
    (*a)->publish("t", "after" + std::to_string(i));
    resumed = bt.wait_for("after" + std::to_string(i), 100ms);
  }
  ASSERT_TRUE(resumed) << "real-time delivery did not resume after the restart";
  EXPECT_TRUE((*b)->stats().subscriber_connected);
  EXPECT_GE((*b)->stats().reconnects, 1u);
  EXPECT_GE(gaps.size(), 1u) << "no bus.gap event after the subscriber reconnected";
  // Once resumed, order holds again. "sync" arriving means all before it has arrived.
  (*a)->publish("t", "sync");
  ASSERT_TRUE(bt.wait_for("sync"));
  std::size_t base = bt.size();
  for (int i = 0; i < 40; ++i) (*a)->publish("t", "seq" + std::to_string(i));  // < max_queued
  ASSERT_TRUE(bt.wait_for_count(base + 40))
      << "base " << base << " size " << bt.size() << " a.published " << (*a)->stats().published
      << " a.dropped " << (*a)->stats().dropped << " b.received " << (*b)->stats().received;
  auto got = bt.items();
  for (int i = 0; i < 40; ++i) EXPECT_EQ(got[base + i], "seq" + std::to_string(i));
}

TEST(RedisBus, StartsAndStopsCleanlyWhileRedisIsDown) {
  REQUIRE_PRIVATE_REDIS(redis);
  auto prefix = unique_prefix();
  auto a = make_redis_bus(redis.url(), "node-a", bus_options(prefix));
  ASSERT_TRUE(a);
  redis.stop();
  Inbox at;
  auto t0 = std::chrono::steady_clock::now();
  auto sa = (*a)->subscribe("t", at.handler());
  (*a)->publish("t", "local");
  EXPECT_EQ(at.items(), std::vector<std::string>{"local"});  // local delivery needs no Redis
  std::this_thread::sleep_for(200ms);
  (*a)->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

// ---- rate limiter ----

RateLimiterOptions rl_options(const std::string& prefix) {
  RateLimiterOptions o;
  o.key_prefix = prefix;
  o.backoff_initial_ms = 50;
  o.backoff_max_ms = 200;
  return o;
}

TEST(RedisRateLimiter, BucketsAreSharedBetweenInstances) {
  REQUIRE_REDIS();
  auto prefix = unique_prefix();
  FakeClock clock;
  auto one = make_redis_rate_limiter(url, clock, rl_options(prefix));
  auto two = make_redis_rate_limiter(url, clock, rl_options(prefix));
  ASSERT_TRUE(one) << one.error().message;
  ASSERT_TRUE(two) << two.error().message;
  ratelimit::Policy p{3, 10'000};
  EXPECT_TRUE((*one)->take("login:alice", p).allowed);
  EXPECT_TRUE((*two)->take("login:alice", p).allowed);
  EXPECT_TRUE((*one)->take("login:alice", p).allowed);
  auto refused = (*two)->take("login:alice", p);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 10);
  EXPECT_FALSE((*one)->take("login:alice", p).allowed);
  EXPECT_TRUE((*one)->take("login:bob", p).allowed);  // another key, another bucket

  clock.advance_ms(10'000);
  EXPECT_TRUE((*two)->take("login:alice", p).allowed);
  EXPECT_FALSE((*one)->take("login:alice", p).allowed);
  clock.advance_ms(60'000);  // never more than the burst
  for (int i = 0; i < 3; ++i) EXPECT_TRUE((*one)->take("login:alice", p).allowed) << i;
  EXPECT_FALSE((*two)->take("login:alice", p).allowed);
}

TEST(RedisRateLimiter, MatchesTheInMemoryLimiterIncludingFractions) {
  REQUIRE_REDIS();
  FakeClock clock;
  auto remote = make_redis_rate_limiter(url, clock, rl_options(unique_prefix()));
  ASSERT_TRUE(remote);
  auto local = ratelimit::make_in_memory_rate_limiter(clock);
  ratelimit::Policy p{5000, 0.2};  // 5000 per second
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 5100; ++i) {
      auto r = (*remote)->take("k", p);
      auto l = local->take("k", p);
      ASSERT_EQ(r.allowed, l.allowed) << round << " " << i;
      ASSERT_EQ(r.retry_after_s, l.retry_after_s) << round << " " << i;
    }
    clock.advance_ms(7);
  }
}

TEST(RedisRateLimiter, ConcurrentTakesNeverExceedTheBurst) {
  REQUIRE_REDIS();
  FakeClock clock;
  auto one = make_redis_rate_limiter(url, clock, rl_options("shared-" + unique_prefix()));
  ASSERT_TRUE(one);
  std::atomic<int> allowed{0};
  ratelimit::Policy p{100, 1e9};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i)
        if ((*one)->take("burst", p).allowed) ++allowed;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 100);
}

TEST(RedisRateLimiter, KeysExpireAndScriptFlushIsSurvived) {
  REQUIRE_REDIS();
  auto prefix = unique_prefix();
  FakeClock clock;
  auto rl = make_redis_rate_limiter(url, clock, rl_options(prefix));
  ASSERT_TRUE(rl);
  ratelimit::Policy p{5, 1000};  // full again after 5 s
  EXPECT_TRUE((*rl)->take("k", p).allowed);
  Raw raw(url);
  long long ttl = raw.integer("PTTL %s", prefix + "k");
  EXPECT_GT(ttl, 4000);
  EXPECT_LE(ttl, 6000);

  ASSERT_TRUE(raw.status("SCRIPT FLUSH"));  // EVALSHA now answers NOSCRIPT: EVAL takes over
  for (int i = 0; i < 4; ++i) EXPECT_TRUE((*rl)->take("k", p).allowed) << i;
  EXPECT_FALSE((*rl)->take("k", p).allowed);
}

TEST(RedisRateLimiter, FallsBackToPerNodeBucketsWhileRedisIsDown) {
  REQUIRE_PRIVATE_REDIS(redis);
  auto prefix = unique_prefix();
  FakeClock clock;
  auto rl = make_redis_rate_limiter(redis.url(), clock, rl_options(prefix));
  ASSERT_TRUE(rl) << rl.error().message;
  ratelimit::Policy p{2, 60'000};
  EXPECT_TRUE((*rl)->take("k", p).allowed);
  EXPECT_TRUE((*rl)->take("k", p).allowed);
  EXPECT_FALSE((*rl)->take("k", p).allowed);

  redis.stop();
  // Limits still hold, from local buckets (which start full), and no call waits long.
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE((*rl)->take("k", p).allowed);
  EXPECT_TRUE((*rl)->take("k", p).allowed);
  EXPECT_FALSE((*rl)->take("k", p).allowed);
  for (int i = 0; i < 100; ++i) (*rl)->take("other", p);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);

  ASSERT_TRUE(redis.start());
  // Back on Redis (a fresh, empty server) once the backoff has passed: buckets appear there.
  bool back = false;
  for (int i = 0; i < 200 && !back; ++i) {
    std::this_thread::sleep_for(20ms);
    (*rl)->take("probe", p);
    Raw raw(redis.url());
    back = raw.integer("EXISTS %s", prefix + "probe") == 1;
  }
  EXPECT_TRUE(back) << "the limiter did not go back to Redis";
}

// ---- presence ----

PresenceStoreOptions presence_options(const std::string& prefix) {
  PresenceStoreOptions o;
  o.key_prefix = prefix;
  return o;
}

TEST(RedisPresenceStore, SocketsStatusAndGraceAreSharedByNodes) {
  REQUIRE_REDIS();
  auto prefix = unique_prefix();
  auto a = make_redis_presence_store(url, "node-a", presence_options(prefix));
  auto b = make_redis_presence_store(url, "node-b", presence_options(prefix));
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(b) << b.error().message;
  const Millis t = 1'700'000'000'000;

  auto r = (*a)->add_socket("u1", +1, t, 30'000);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->sockets, 1);
  EXPECT_EQ(r->chosen, "online");
  EXPECT_EQ(r->shown, "offline");
  EXPECT_EQ(r->last_active_at, t);
  r = (*b)->add_socket("u1", +1, t + 1, 30'000);
  EXPECT_EQ(r->sockets, 2);  // one on each node
  r = (*b)->add_socket("u1", +1, t + 2, 30'000);
  EXPECT_EQ(r->sockets, 3);

  // The last socket anywhere starts the grace period, not the last one on a node.
  r = (*a)->add_socket("u1", -1, t + 10, 30'000);
  EXPECT_EQ(r->sockets, 2);
  EXPECT_EQ(r->grace_until, 0);
  r = (*a)->add_socket("u1", -1, t + 11, 30'000);  // never below 0 on a node
  EXPECT_EQ(r->sockets, 2);
  (*b)->add_socket("u1", -1, t + 12, 30'000);
  r = (*b)->add_socket("u1", -1, t + 20, 30'000);
  EXPECT_EQ(r->sockets, 0);
  EXPECT_EQ(r->grace_until, t + 20 + 30'000);

  auto c = (*a)->set_chosen("u1", "dnd", t + 30);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->chosen, "dnd");
  ASSERT_TRUE((*b)->set_shown("u1", "dnd"));
  auto got = (*b)->get({"u1", "never-seen"});
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].chosen, "dnd");
  EXPECT_EQ((*got)[0].shown, "dnd");
  EXPECT_EQ((*got)[0].last_active_at, t + 30);
  EXPECT_EQ((*got)[0].grace_until, t + 20 + 30'000);
  EXPECT_EQ((*got)[1].sockets, 0);
  EXPECT_EQ((*got)[1].chosen, "online");
  EXPECT_EQ((*got)[1].shown, "offline");
  EXPECT_EQ((*got)[1].last_active_at, 0);

  // A user with no socket expires after idle_ttl_ms; one with sockets does not.
  Raw raw(url);
  long long ttl = raw.integer("PTTL %s", prefix + "u:u1");
  EXPECT_GT(ttl, 0);
  (*a)->add_socket("u1", +1, t + 40, 30'000);
  EXPECT_EQ(raw.integer("PTTL %s", prefix + "u:u1"), -1);
}

TEST(RedisPresenceStore, ANodeThatStopsBeatingStopsCounting) {
  REQUIRE_REDIS();
  auto prefix = unique_prefix();
  auto silent_opts = presence_options(prefix);
  silent_opts.node_ttl_ms = 300;
  silent_opts.heartbeat_ms = 3'600'000;  // never beats again: as if it died
  auto dying = make_redis_presence_store(url, "dying", silent_opts);
  auto alive = make_redis_presence_store(url, "alive", presence_options(prefix));
  auto leaving = make_redis_presence_store(url, "leaving", presence_options(prefix));
  ASSERT_TRUE(dying && alive && leaving);
  (*dying)->add_socket("u", +1, 1, 1000);
  (*alive)->add_socket("u", +1, 2, 1000);
  (*leaving)->add_socket("u", +1, 3, 1000);
  EXPECT_EQ((*alive)->get({"u"})->at(0).sockets, 3);

  leaving->reset();  // a clean stop takes its sockets away at once
  EXPECT_EQ((*alive)->get({"u"})->at(0).sockets, 2);
  std::this_thread::sleep_for(500ms);  // the dying node's heartbeat expires
  EXPECT_EQ((*alive)->get({"u"})->at(0).sockets, 1);
}

TEST(RedisPresenceStore, CountsAreWrittenAgainAfterRedisRestarts) {
  REQUIRE_PRIVATE_REDIS(redis);
  auto prefix = unique_prefix();
  auto opts = presence_options(prefix);
  opts.heartbeat_ms = 100;
  auto a = make_redis_presence_store(redis.url(), "node-a", opts);
  auto b = make_redis_presence_store(redis.url(), "node-b", opts);
  ASSERT_TRUE(a && b);
  (*a)->add_socket("u", +1, 1, 1000);
  (*a)->add_socket("u", +1, 2, 1000);
  (*b)->add_socket("u", +1, 3, 1000);

  redis.stop();
  auto down = (*a)->add_socket("u", -1, 4, 1000);  // a's count is now 1, kept locally
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, Errc::unavailable);
  ASSERT_TRUE(redis.start());  // empty: everything Redis held is gone

  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    std::this_thread::sleep_for(50ms);
    auto got = (*b)->get({"u"});
    back = got && got->at(0).sockets == 2;  // a's 1 and b's 1, from their memories
  }
  EXPECT_TRUE(back) << "the nodes did not write their counts again";
}

}  // namespace
}  // namespace parley::redis
