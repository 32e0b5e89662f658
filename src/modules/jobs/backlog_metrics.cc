// The job queue's figures for /metrics, read at scrape: the store's backlog (one indexed query
// over the pending and dead rows) and this process's handler outcomes.
#include <string>
#include <vector>

#include "core/log.h"
#include "core/metrics.h"
#include "modules/jobs/jobs.h"
#include "modules/jobs/store.h"

namespace parley::jobs {

std::shared_ptr<void> read_metrics_at_scrape(const JobQueue& queue, JobStore& store,
                                             const Clock& clock) {
  return metrics::read_at_scrape([&queue, &store, &clock] {
    std::vector<metrics::Reading> out;
    const auto stats = queue.stats();
    const char* help = "Job handler runs in this process by outcome";
    for (auto [outcome, n] : {std::pair{"succeeded", stats.succeeded},
                              std::pair{"retried", stats.retried}, std::pair{"dead", stats.dead},
                              std::pair{"duplicate", stats.duplicates}})
      out.push_back({"parley_jobs_total", help, true, {{"outcome", outcome}},
                     static_cast<double>(n)});
    const Millis now = clock.now_ms();
    auto b = store.backlog(now);
    if (!b) {
      // No figures rather than zeros: an alert on the backlog must not see an empty queue.
      log::warn("job backlog unreadable", {{"error", b.error().message}});
      return out;
    }
    const char* backlog_help = "Outbox jobs by state (waiting: due and unclaimed)";
    for (auto [state, n] : {std::pair{"waiting", b->waiting}, std::pair{"running", b->running},
                            std::pair{"scheduled", b->scheduled}, std::pair{"dead", b->dead}})
      out.push_back({"parley_job_backlog", backlog_help, false, {{"state", state}},
                     static_cast<double>(n)});
    out.push_back({"parley_job_oldest_waiting_seconds",
                   "How long the oldest due, unclaimed job has been waiting (0: none waits)",
                   false,
                   {},
                   b->oldest_waiting_run_at ? static_cast<double>(now - b->oldest_waiting_run_at) / 1e3
                                            : 0.0});
    return out;
  });
}

}  // namespace parley::jobs
