// Token buckets in Redis. One hash per bucket key ({tokens, ts}), updated by one Lua script so
// that the read, refill, take and write are atomic across every node; PEXPIRE removes a bucket
// once it would be full again anyway, so idle keys cost nothing. The script is loaded once per
// connection (SCRIPT LOAD) and run with EVALSHA; a NOSCRIPT answer (script cache flushed,
// failover to a replica that never saw it) falls back to EVAL, which caches it again.
//
// Fail-over rather than fail-open or fail-closed: when Redis cannot be reached (or answers
// slower than io_timeout_ms), the decision comes from per-node in-memory buckets, so limits
// still hold per node and an outage neither stops every request with 429 nor lets password
// guessing run unlimited. A circuit breaker keeps callers from paying the timeout on each
// call: after a failure only one caller at a time probes Redis, after a doubling delay.
#include <prometheus/counter.h>
#include <prometheus/family.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <vector>

#include "adapters/redis/redis.h"
#include "connection.h"
#include "core/log.h"
#include "core/metrics.h"

namespace parley::redis {
namespace {

using SteadyClock = std::chrono::steady_clock;

// KEYS[1] bucket; ARGV: now (ms), burst, refill_ms, ttl_ms. Returns {allowed, wait_ms}, wait_ms
// as a string to keep its fraction (Lua numbers become integers in Redis replies). A bucket's
// time never goes back, so a node whose clock is behind cannot refill it early.
constexpr std::string_view kScript = R"lua(
local now = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local refill = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
elseif refill <= 0 then
  tokens = burst
elseif now > ts then
  tokens = tokens + (now - ts) / refill
  ts = now
end
if tokens > burst then tokens = burst end
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) * refill
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.17g', ts))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {allowed, string.format('%.17g', wait)}
)lua";

std::string number(double v) {
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, p) : std::string("0");
}

struct LimiterMetrics {
  prometheus::Counter& remote;
  prometheus::Counter& local;

  static LimiterMetrics& get() {
    static LimiterMetrics* m = [] {
      auto& f = prometheus::BuildCounter()
                    .Name("parley_redis_ratelimit_decisions_total")
                    .Help(
                        "Rate-limit decisions by where they were made: redis, or local while "
                        "Redis was unreachable")
                    .Register(metrics::registry());
      return new LimiterMetrics{f.Add({{"source", "redis"}}), f.Add({{"source", "local"}})};
    }();
    return *m;
  }
};

class RedisRateLimiter final : public ratelimit::RateLimiter {
 public:
  RedisRateLimiter(Endpoint endpoint, const Clock& clock, RateLimiterOptions options)
      : clock_(clock),
        opt_(std::move(options)),
        pool_(std::move(endpoint), opt_.max_connections, opt_.connect_timeout_ms,
              opt_.io_timeout_ms, {kScript}),
        local_(ratelimit::make_in_memory_rate_limiter(clock, opt_.fallback_max_keys)),
        backoff_(opt_.backoff_initial_ms, opt_.backoff_max_ms),
        metrics_(LimiterMetrics::get()) {}

  // Opens the first connection (checks the URL, AUTH and that scripting works).
  Result<void> start() {
    auto c = pool_.acquire();
    if (!c) return fail(c.error());
    pool_.release(std::move(*c));
    return ok();
  }

  ratelimit::Decision take(const std::string& key, const ratelimit::Policy& policy) override {
    Millis now = clock_.now_ms();
    if (auto d = take_remote(key, policy, now)) {
      metrics_.remote.Increment();
      return *d;
    }
    metrics_.local.Increment();
    return local_->take(key, policy);
  }

 private:
  std::optional<ratelimit::Decision> take_remote(const std::string& key,
                                                 const ratelimit::Policy& policy, Millis now) {
    bool probe = false;
    if (down_.load()) {
      // Only one caller at a time tries Redis again, and only once the delay has passed.
      std::lock_guard lock(state_mu_);
      if (SteadyClock::now() < retry_at_ || probing_) return std::nullopt;
      probing_ = true;
      probe = true;
    }
    auto conn = pool_.acquire();
    if (!conn) {
      // Every connection busy beyond io_timeout_ms: decide locally this once. Anything else
      // (no connection could be opened) trips the breaker.
      if (probe || conn.error().code != Errc::resource_exhausted) failed(conn.error().message);
      return std::nullopt;
    }
    double full_ms = std::max(0.0, policy.burst * policy.refill_ms);
    std::string ttl = std::to_string(
        static_cast<long long>(std::min(std::ceil(full_ms), 7.0 * 24 * 3600 * 1000) + 1000));
    Reply r = pool_.run_script(
        *conn, 0, {opt_.key_prefix + key},
        {std::to_string(now), number(policy.burst), number(policy.refill_ms), ttl});
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_STRING) {
      std::string why = error_text(conn->ctx.get(), r.get());
      if (r)
        pool_.release(std::move(*conn));  // Redis answered: the connection is fine
      else
        pool_.discard();
      failed(why);
      return std::nullopt;
    }
    ratelimit::Decision d;
    d.allowed = r->element[0]->integer == 1;
    if (!d.allowed) {
      double wait_ms = std::strtod(r->element[1]->str, nullptr);
      d.retry_after_s = std::max(1, static_cast<int>(std::ceil(wait_ms / 1000.0)));
    }
    pool_.release(std::move(*conn));
    if (down_.load() || probe) recovered();
    return d;
  }

  void failed(const std::string& why) {
    bool first = false;
    {
      std::lock_guard lock(state_mu_);
      retry_at_ = SteadyClock::now() + backoff_.next();
      probing_ = false;
      first = !down_.exchange(true);
    }
    if (first)
      log::warn("redis rate limiter unavailable; using per-node limits until it answers",
                {{"redis", describe(pool_.endpoint())}, {"error", why}});
  }

  void recovered() {
    bool was_down = false;
    {
      std::lock_guard lock(state_mu_);
      probing_ = false;
      backoff_.reset();
      was_down = down_.exchange(false);
    }
    if (was_down)
      log::info("redis rate limiter reachable again", {{"redis", describe(pool_.endpoint())}});
  }

  const Clock& clock_;
  const RateLimiterOptions opt_;
  Pool pool_;
  std::unique_ptr<ratelimit::RateLimiter> local_;

  std::mutex state_mu_;
  std::atomic<bool> down_{false};
  bool probing_ = false;
  SteadyClock::time_point retry_at_{};
  Backoff backoff_;
  LimiterMetrics& metrics_;
};

}  // namespace

Result<std::unique_ptr<ratelimit::RateLimiter>> make_redis_rate_limiter(
    const std::string& url, const Clock& clock, RateLimiterOptions options) {
  auto endpoint = parse_url(url);
  if (!endpoint) return fail(endpoint.error());
  auto rl = std::make_unique<RedisRateLimiter>(std::move(*endpoint), clock, std::move(options));
  if (auto s = rl->start(); !s) return fail(s.error());
  return std::unique_ptr<ratelimit::RateLimiter>(std::move(rl));
}

}  // namespace parley::redis
