// The embedded JobQueue: worker threads draining the outbox table. Each worker claims a small
// batch of due rows (one write), runs their handlers and records the successes together (one
// write per batch, or sooner when a slow job would keep them waiting: their leases run) and
// each failure on its own.
// Workers sleep until wake() or poll_ms, so a job committed with a message starts within
// milliseconds while an idle server costs one cheap query per poll.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "core/log.h"
#include "modules/jobs/jobs.h"
#include "modules/jobs/store.h"

namespace parley::jobs {

Millis backoff_ms(const OutboxOptions& o, int attempts) {
  Millis d = o.backoff_base_ms;
  for (int i = 1; i < attempts && d < o.backoff_max_ms; ++i) d *= 2;
  return std::min(d, o.backoff_max_ms);
}

bool is_poison(const Error& e) {
  return e.code == Errc::invalid_argument || e.code == Errc::failed_precondition;
}

namespace {

class OutboxJobQueue final : public JobQueue {
 public:
  OutboxJobQueue(JobStore& store, const Clock& clock, OutboxOptions o)
      : store_(store), clock_(clock), o_(o) {}
  ~OutboxJobQueue() override { stop(); }

  Result<void> enqueue(const std::vector<NewJob>& jobs) override {
    auto r = store_.insert(jobs, clock_.now_ms());
    if (r) wake();
    return r;
  }

  void handle(const std::string& kind, Handler handler) override {
    handlers_[kind] = std::move(handler);
  }
  bool handles(const std::string& kind) const override { return handlers_.count(kind) != 0; }

  void start() override {
    std::lock_guard lock(mu_);
    if (running_ || stopped_) return;
    running_ = true;
    if (o_.exclusive_store)
      if (auto r = store_.release_leases(); !r)
        log::warn("jobs: releasing leases failed", {{"error", r.error().message}});
    for (int i = 0; i < std::max(1, o_.workers); ++i) threads_.emplace_back([this, i] { work(i); });
  }

  void wake() override {
    {
      std::lock_guard lock(mu_);
      ++wakes_;
    }
    cv_.notify_all();
  }

  void stop() override {
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  QueueStats stats() const override {
    return {succeeded_.load(), retried_.load(), dead_.load(), 0};
  }

  Result<std::vector<Job>> dead_letters(int limit) override { return store_.dead(limit); }

 private:
  void work(int index) {
    std::mt19937_64 rng(std::random_device{}() + index);
    Millis next_purge = clock_.now_ms() + 60'000;
    while (true) {
      std::uint64_t seen;
      {
        std::lock_guard lock(mu_);
        if (stopped_) return;
        seen = wakes_;
      }
      auto claimed = store_.claim(clock_.now_ms(), o_.claim_batch, o_.lease_ms);
      if (!claimed) log::warn("jobs: claim failed", {{"error", claimed.error().message}});
      if (claimed && !claimed->empty()) {
        Succeeded done;
        for (const Job& j : *claimed) {
          if (run(j, rng)) done.add(j.id, clock_.now_ms());
          if (done.due(clock_.now_ms())) record(done);
        }
        record(done);
        continue;  // there may be more
      }
      if (index == 0 && clock_.now_ms() >= next_purge) {
        next_purge = clock_.now_ms() + 3'600'000;
        (void)store_.purge_done(clock_.now_ms() - o_.done_retention_ms);
      }
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(o_.poll_ms),
                   [&] { return stopped_ || wakes_ != seen; });
    }
  }

  // Jobs of a claimed batch that succeeded and are not yet recorded as done.
  struct Succeeded {
    static constexpr Millis kHoldMs = 50;  // the longest a success waits for its batch
    std::vector<std::int64_t> ids;
    Millis first = 0;
    void add(std::int64_t id, Millis now) {
      if (ids.empty()) first = now;
      ids.push_back(id);
    }
    bool due(Millis now) const { return !ids.empty() && now - first >= kHoldMs; }
  };

  void record(Succeeded& done) {
    if (done.ids.empty()) return;
    // Counters move after the store, so whoever sees them sees the rows' new state too.
    if (auto c = store_.complete(done.ids, clock_.now_ms()); !c)
      log::warn("jobs: complete failed", {{"error", c.error().message}});
    succeeded_ += done.ids.size();
    done.ids.clear();
  }

  // True when the job succeeded (the caller records it); a failure is recorded here.
  bool run(const Job& j, std::mt19937_64& rng) {
    auto h = handlers_.find(j.kind);
    Result<void> r = h == handlers_.end()
                         ? fail(Errc::unavailable, "no handler for job kind " + j.kind)
                         : run_handler(h->second, j);
    const Millis now = clock_.now_ms();
    if (r) return true;
    const std::string& err = r.error().message;
    const int max_attempts = j.max_attempts > 0 ? j.max_attempts : o_.max_attempts;
    if (is_poison(r.error()) || j.attempts >= max_attempts) {
      log::warn("jobs: dead letter", {{"kind", j.kind}, {"attempts", j.attempts}, {"error", err}});
      (void)store_.bury(j.id, now, err);
      ++dead_;
      return false;
    }
    Millis wait = backoff_ms(o_, j.attempts);
    wait += static_cast<Millis>(rng() % static_cast<std::uint64_t>(wait / 4 + 1));
    (void)store_.retry(j.id, now + wait, err);
    ++retried_;
    return false;
  }

  static Result<void> run_handler(const Handler& h, const Job& j) {
    try {
      return h(j);
    } catch (const std::exception& e) {
      return fail(Errc::internal, std::string("handler threw: ") + e.what());
    }
  }

  JobStore& store_;
  const Clock& clock_;
  OutboxOptions o_;
  std::map<std::string, Handler> handlers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t wakes_ = 0;
  bool running_ = false;
  bool stopped_ = false;
  std::vector<std::thread> threads_;
  std::atomic<std::uint64_t> succeeded_{0}, retried_{0}, dead_{0};
};

}  // namespace

std::unique_ptr<JobQueue> make_outbox_job_queue(JobStore& store, const Clock& clock,
                                                OutboxOptions options) {
  return std::make_unique<OutboxJobQueue>(store, clock, options);
}

}  // namespace parley::jobs
