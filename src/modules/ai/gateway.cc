#include "modules/ai/gateway.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <prometheus/histogram.h>

#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "core/crypto.h"
#include "core/metrics.h"
#include "core/worker_pool.h"

namespace parley::ai {
namespace {

struct Metrics {
  prometheus::Family<prometheus::Counter>& jobs;
  prometheus::Family<prometheus::Histogram>& seconds;
};

Metrics& metrics_families() {
  static Metrics m{prometheus::BuildCounter()
                       .Name("parley_ai_jobs_total")
                       .Help("AI jobs by capability, engine and outcome (ok, cached, error, "
                             "timeout, rejected, quota)")
                       .Register(metrics::registry()),
                   prometheus::BuildHistogram()
                       .Name("parley_ai_job_duration_seconds")
                       .Help("Time an AI job took on its engine, by capability")
                       .Register(metrics::registry())};
  return m;
}

// Results by content hash, least recently used dropped first.
class Cache {
 public:
  explicit Cache(std::size_t cap) : cap_(cap) {}
  std::optional<std::string> get(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->second;
  }
  void put(const std::string& key, std::string value) {
    if (cap_ == 0) return;
    std::lock_guard lock(mu_);
    if (auto it = map_.find(key); it != map_.end()) {
      it->second->second = std::move(value);
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    order_.emplace_front(key, std::move(value));
    map_[key] = order_.begin();
    if (map_.size() > cap_) {
      map_.erase(order_.back().first);
      order_.pop_back();
    }
  }

 private:
  std::size_t cap_;
  std::mutex mu_;
  std::list<std::pair<std::string, std::string>> order_;
  std::unordered_map<std::string, std::list<std::pair<std::string, std::string>>::iterator> map_;
};

std::string cache_key(std::string_view capability, std::string_view engine,
                      std::string_view params, std::string_view text) {
  std::string all;
  all.reserve(capability.size() + engine.size() + params.size() + text.size() + 3);
  all.append(capability).push_back('\0');
  all.append(engine).push_back('\0');
  all.append(params).push_back('\0');
  all.append(text);
  return sha256(all);
}

// Replies travel through the string cache joined by a unit separator (never in a reply: the
// engines drop control characters).
constexpr char kSep = '\x1f';
std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out.push_back(kSep);
    out += s;
  }
  return out;
}
std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  std::size_t start = 0;
  while (true) {
    auto at = s.find(kSep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return out;
}

}  // namespace

struct AiGateway::Impl {
  Impl(ratelimit::RateLimiter& l, GatewayOptions o)
      : limiter(l),
        opts(o),
        pool("ai", o.threads, o.max_queued),
        events("ai-events", 2, 10'000),
        cache(o.cache_entries) {}

  ratelimit::RateLimiter& limiter;
  GatewayOptions opts;
  WorkerPool pool;  // engine jobs
  // Work started by events (scoring, the assistant): it may wait on jobs, so it has threads of
  // its own and never holds one of the job pool's.
  WorkerPool events;
  Cache cache;

  void count(std::string_view capability, std::string_view engine, std::string_view outcome) {
    metrics_families()
        .jobs.Add({{"capability", std::string(capability)},
                   {"engine", std::string(engine)},
                   {"outcome", std::string(outcome)}})
        .Increment();
  }

  Result<void> quota(const std::string& user_id) {
    auto u = limiter.take("ai:user:" + user_id, opts.per_user);
    auto d = u.allowed ? limiter.take("ai:server", opts.per_server) : u;
    if (d.allowed) return ok();
    Error e{Errc::resource_exhausted, "too many AI requests; retry later", {}, d.retry_after_s};
    return fail(std::move(e));
  }

  // Runs job on the pool and waits for it until the time limit. A job that overruns keeps its
  // pool thread until the engine returns (each engine honours the deadline it is given, so that
  // is soon after), but its caller is answered at once.
  Result<std::string> run(std::string_view capability, std::string_view engine,
                          const std::string& user_id, const std::string& key,
                          std::function<Result<std::string>(Deadline)> job,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
    if (auto hit = cache.get(key)) {
      count(capability, engine, "cached");
      return *hit;
    }
    if (!user_id.empty())
      if (auto q = quota(user_id); !q) {
        count(capability, engine, "quota");
        return fail(q.error());
      }
    struct Shared {
      std::mutex mu;
      std::condition_variable cv;
      std::optional<Result<std::string>> out;
    };
    auto shared = std::make_shared<Shared>();
    const auto deadline =
        std::chrono::steady_clock::now() + (timeout.count() > 0 ? timeout : opts.timeout);
    std::string cap(capability);
    auto task = [shared, job = std::move(job), deadline, cap] {
      const auto start = std::chrono::steady_clock::now();
      Result<std::string> r = fail(Errc::internal, "engine threw");
      try {
        r = job(deadline);
      } catch (const std::exception&) {
      }
      metrics_families()
          .seconds
          .Add({{"capability", cap}},
               prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                       1, 2.5, 5, 10, 30})
          .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                       .count());
      std::lock_guard lock(shared->mu);
      shared->out = std::move(r);
      shared->cv.notify_all();
    };
    if (!pool.try_submit(task)) {
      count(capability, engine, "rejected");
      return fail(Errc::unavailable, "the AI engines are busy; retry later");
    }
    std::unique_lock lock(shared->mu);
    if (!shared->cv.wait_until(lock, deadline + std::chrono::milliseconds(250),
                               [&] { return shared->out.has_value(); })) {
      count(capability, engine, "timeout");
      return fail(Errc::unavailable, "the AI engine took too long");
    }
    auto r = std::move(*shared->out);
    lock.unlock();
    count(capability, engine, r ? "ok" : "error");
    if (r) cache.put(key, *r);
    return r;
  }
};

AiGateway::AiGateway(EngineSet engines, ratelimit::RateLimiter& limiter, GatewayOptions options)
    : engines_(engines), impl_(std::make_unique<Impl>(limiter, options)) {}

AiGateway::~AiGateway() { stop(); }

void AiGateway::stop() {
  impl_->events.stop();
  impl_->pool.stop();
}

Result<void> AiGateway::take_quota(const std::string& user_id) { return impl_->quota(user_id); }

Result<std::string> AiGateway::translate(const std::string& user_id, const std::string& text,
                                         const LanguagePair& pair) {
  auto* t = engines_.translate;
  if (!t) return fail(Errc::unavailable, "no translation engine is configured");
  auto key = cache_key("translate", t->name(), pair.code(), text);
  return impl_->run("translate", t->name(), user_id, key,
                    [t, text, pair](Deadline d) { return t->translate(text, pair, d); });
}

Result<Transcript> AiGateway::transcribe(const std::string& user_id, const std::string& audio,
                                         const std::string& content_type) {
  auto* t = engines_.transcribe;
  if (!t) return fail(Errc::unavailable, "no speech-to-text engine is configured");
  auto key = cache_key("transcribe", t->name(), content_type, audio);
  // Cached as "language\ntext" (a transcript is one line).
  auto r = impl_->run(
      "transcribe", t->name(), user_id, key,
      [t, audio, content_type](Deadline d) -> Result<std::string> {
        auto got = t->transcribe(audio, content_type, d);
        if (!got) return fail(got.error());
        return got->language + '\n' + got->text;
      },
      impl_->opts.transcribe_timeout);
  if (!r) return fail(r.error());
  auto nl = r->find('\n');
  if (nl == std::string::npos) return Transcript{*r, ""};
  return Transcript{r->substr(nl + 1), r->substr(0, nl)};
}

Result<std::vector<std::string>> AiGateway::suggest_replies(const std::string& user_id,
                                                            const ReplyContext& context, int max) {
  auto* s = engines_.replies;
  if (!s) return fail(Errc::unavailable, "no smart-reply engine is configured");
  std::string text;
  for (const auto& l : context.recent) text += (l.mine ? "1" : "0") + l.text + '\n';
  auto key = cache_key("replies", s->name(), std::to_string(max), text);
  auto r = impl_->run("replies", s->name(), user_id, key,
                      [s, context, max](Deadline d) -> Result<std::string> {
                        auto got = s->suggest(context, max, d);
                        if (!got) return fail(got.error());
                        return join(*got);
                      });
  if (!r) return fail(r.error());
  return split(*r);
}

Result<std::string> AiGateway::complete(const std::string& user_id,
                                        const std::vector<ChatTurn>& turns) {
  auto* c = engines_.chat;
  if (!c) return fail(Errc::unavailable, "no chat engine is configured");
  std::string text;
  for (const auto& t : turns) text += t.role + '\0' + t.content + '\0';
  auto key = cache_key("chat", c->name(), "", text);
  return impl_->run("chat", c->name(), user_id, key,
                    [c, turns](Deadline d) { return c->complete(turns, d); });
}

bool AiGateway::submit_background(std::function<void()> task) {
  return impl_->events.try_submit(std::move(task));
}

}  // namespace parley::ai
