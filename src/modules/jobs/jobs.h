// Jobs module: a durable job queue for work that must happen after a commit, off the request
// threads, at least once (notifications, outgoing webhooks, email digests).
//
// A job is a kind ("notify.message"), a JSON payload, an optional idempotency key, a count of
// attempts and the time it may next run. Jobs are written to the outbox table of the main store
// (JobStore, store.h), either by enqueue() or, for jobs caused by a message, by a producer hook
// in the same transaction as the message itself (messaging's AppendHook), so a crash can
// neither lose the job nor run it for a message that was never stored.
//
// JobQueue is the port. Two implementations:
// - make_outbox_job_queue() (this module, the embedded default): worker threads of its own claim
//   due rows from the outbox with a lease, run the handler of the job's kind and mark the row
//   done, retry it later with exponential backoff, or move it to the dead-letter state after
//   its last attempt.
// - rabbitmq::make_amqp_job_queue() (`--amqp`): a relay thread publishes outbox rows to
//   RabbitMQ with publisher confirms and only then marks them done; consumers ack manually,
//   retry through delayed queues and dead-letter after the last attempt.
// Delivery is at least once. A handler that must not act twice for one key records that
// itself or relies on the queue's idempotency key: enqueueing a key already present (pending,
// running, done within the retention period, or dead) is ignored, and the AMQP consumer skips
// a key whose job has already succeeded.
//
// Adding a job kind:
//   queue.handle("mail.digest", [&](const jobs::Job& j) -> Result<void> { ... });  // before
//   start() queue.enqueue({{"mail.digest", payload_json, "digest:" + user_id + ":" + day}});
// A handler runs on a queue worker thread (never an I/O thread) and may block on I/O. Its
// result decides what happens next: ok -> done; invalid_argument or failed_precondition (a
// poison job: retrying cannot help) -> dead at once; anything else -> retried after a backoff
// until max_attempts, then dead.
//
// Adding a producer (jobs written in the same commit as each new message): see
// messaging::AppendHook in modules/messaging/store.h; the notifications module is the example.
// Thread-safe; handle() only before start().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "modules/jobs/new_job.h"

namespace parley::jobs {

struct Job {
  std::int64_t id = 0;
  std::string kind;
  std::string payload;
  std::string idempotency_key;
  int attempts = 0;      // including the one now running
  int max_attempts = 0;  // 0: the queue's default
  Millis run_at = 0;
  std::string last_error;
};

using Handler = std::function<Result<void>(const Job&)>;

struct QueueStats {
  std::uint64_t succeeded = 0;  // handler runs that returned ok (this process)
  std::uint64_t retried = 0;
  std::uint64_t dead = 0;
  std::uint64_t duplicates = 0;  // deliveries skipped because the key had already succeeded
};

class JobQueue {
 public:
  virtual ~JobQueue() = default;
  // Writes the jobs durably (one transaction); returns once committed.
  virtual Result<void> enqueue(const std::vector<NewJob>& jobs) = 0;
  // Registers the handler of a kind; before start().
  virtual void handle(const std::string& kind, Handler handler) = 0;
  virtual bool handles(const std::string& kind) const = 0;
  virtual void start() = 0;
  // A hint that outbox rows were committed (by a producer hook): workers look now rather than
  // at their next poll. Cheap; any thread, including a storage writer thread.
  virtual void wake() = 0;
  // Running handlers finish; no new ones start. Idempotent.
  virtual void stop() = 0;
  virtual QueueStats stats() const = 0;
  // Dead jobs, most recent first (operators, tests).
  virtual Result<std::vector<Job>> dead_letters(int limit) = 0;
};

struct OutboxOptions {
  int workers = 4;
  int claim_batch = 16;
  Millis poll_ms = 500;      // how often idle workers look for due jobs without a wake()
  Millis lease_ms = 60'000;  // a claimed job runs again after this if its worker vanished
  int max_attempts = 8;
  Millis backoff_base_ms = 1'000;  // attempt n waits base * 2^(n-1), capped, plus 0-25% jitter
  Millis backoff_max_ms = 3'600'000;
  Millis done_retention_ms = 24 * 3'600'000;  // done rows kept this long for idempotency keys
  // The outbox belongs to this process alone (SQLite): leases left by a killed process end at
  // start(). Never with a store that other nodes drain too.
  bool exclusive_store = false;
};

// The backoff before attempt `attempts + 1`, without jitter.
Millis backoff_ms(const OutboxOptions& o, int attempts);
// What a handler's error means for the job: true when retrying cannot help.
bool is_poison(const Error& e);

class JobStore;
std::unique_ptr<JobQueue> make_outbox_job_queue(JobStore& store, const Clock& clock,
                                                OutboxOptions options = {});

// /metrics figures, read at each scrape until the handle is released: parley_jobs_total by
// outcome (this process), parley_job_backlog by state and parley_job_oldest_waiting_seconds (the
// outbox; with RabbitMQ, the rows not yet relayed).
[[nodiscard]] std::shared_ptr<void> read_metrics_at_scrape(const JobQueue& queue, JobStore& store,
                                                           const Clock& clock);

}  // namespace parley::jobs
