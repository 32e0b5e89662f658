// JobStore: the outbox table of the main store, through which every job passes (jobs.h). Owned
// by the jobs module; implemented by adapters (SQLite, PostgreSQL), each passing
// store_contract.h. Blocking, thread-safe; call from worker threads.
//
// A row is pending (waiting for run_at), done (kept until purged so its idempotency key still
// blocks a second enqueue) or dead. claim() leases due pending rows to one caller atomically (a
// second caller, on this node or another, never gets the same row while the lease runs):
// attempts goes up by one and the row is leased until now + lease, so a row whose worker died
// runs again when the lease ends (or at once after release_leases()).
//
// Adapters also expose a way to insert rows inside another module's transaction (the message
// append), with the same semantics as insert().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "modules/jobs/jobs.h"

namespace parley::jobs {

struct JobCounts {
  std::int64_t pending = 0;
  std::int64_t done = 0;
  std::int64_t dead = 0;
};

// The outbox's pending and dead rows at one instant (metrics, alerts): never the done rows,
// which may be many.
struct JobBacklog {
  std::int64_t waiting = 0;    // due and not claimed: a worker could run them now
  std::int64_t running = 0;    // claimed, lease not yet over
  std::int64_t scheduled = 0;  // due later (delays, retries after a backoff)
  std::int64_t dead = 0;
  Millis oldest_waiting_run_at = 0;  // 0 when none waits
};

class JobStore {
 public:
  virtual ~JobStore() = default;
  // One transaction; a job whose idempotency key is already present is skipped. run_at 0 means
  // now; max_attempts is kept as given (0: the queue's default).
  virtual Result<void> insert(const std::vector<NewJob>& jobs, Millis now) = 0;
  // Up to limit pending rows with run_at <= now, oldest first, leased until now + lease_ms.
  virtual Result<std::vector<Job>> claim(Millis now, int limit, Millis lease_ms) = 0;
  // Ends every lease: for a store only this process uses (the embedded SQLite), at start, so
  // the jobs a killed process had claimed run now rather than when their lease would end.
  virtual Result<void> release_leases() = 0;
  // Marks these jobs done, in one write (a worker records a batch's successes together).
  virtual Result<void> complete(const std::vector<std::int64_t>& ids, Millis now) = 0;
  virtual Result<void> retry(std::int64_t id, Millis run_at, const std::string& error) = 0;
  virtual Result<void> bury(std::int64_t id, Millis now, const std::string& error) = 0;
  virtual Result<std::vector<Job>> dead(int limit) = 0;
  virtual Result<JobCounts> counts() = 0;
  virtual Result<JobBacklog> backlog(Millis now) = 0;
  // Deletes done rows finished before `before`; returns how many.
  virtual Result<std::int64_t> purge_done(Millis before) = 0;
  // Consumers of a broker (which may redeliver) remember the keys whose job succeeded:
  // remember_done returns false when the key was already there; was_done asks.
  virtual Result<bool> remember_done(const std::string& key, Millis now) = 0;
  virtual Result<bool> was_done(const std::string& key) = 0;
};

}  // namespace parley::jobs
