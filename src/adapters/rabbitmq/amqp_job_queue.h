// The JobQueue (modules/jobs) over RabbitMQ, through librabbitmq (rabbitmq-c 0.11, Debian's
// librabbitmq-dev), for `--amqp amqp://USER:PASS@HOST:PORT/VHOST`.
//
// Jobs still enter through the outbox table of the main store (enqueue() and the message
// producers write there, in the sender's transaction), so a job exists exactly when what caused
// it was committed. A relay thread moves outbox rows to RabbitMQ: it publishes them as
// persistent messages with publisher confirms and marks a row done only once the broker
// confirmed it; a row whose publish was not confirmed is published again (a duplicate the
// consumers skip). Consumer threads (one connection each, prefetch-limited, manual acks) run
// the handler of the message's kind and ack afterwards:
// - ok: the idempotency key is remembered (JobStore::remember_done) and the message acked; a
//   redelivered message whose key is remembered is acked without running (counted in
//   QueueStats::duplicates);
// - a retryable error: republished (confirmed) to the delay queue of its attempt, whose TTL is
//   the backoff and whose dead-letter exchange routes it back to the work queue, then acked;
// - a poison error (jobs::is_poison) or the last attempt: republished to the dead-letter queue
//   `<prefix>.dead` with the error in its headers, then acked.
// Every connection reconnects with backoff after the broker goes away; unacked messages are
// redelivered by RabbitMQ. Thread-safe like every JobQueue.
#pragma once

#include <memory>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "modules/jobs/jobs.h"
#include "modules/jobs/store.h"

namespace parley::rabbitmq {

struct AmqpOptions {
  std::string url;                     // amqp://USER:PASS@HOST:PORT/VHOST (%2f for "/")
  std::string prefix = "parley.jobs";  // exchange, work queue, <prefix>.retry.N, <prefix>.dead
  int consumers = 4;
  int prefetch = 16;
  int max_attempts = 8;
  Millis backoff_base_ms = 1'000;
  Millis backoff_max_ms = 3'600'000;
  Millis relay_poll_ms = 200;
  int relay_batch = 200;
  bool exclusive_store = false;  // as OutboxOptions::exclusive_store
};

// Connects once to check the URL and declares the exchange and queues (idempotent);
// unavailable when the broker cannot be reached, invalid_argument for a bad URL.
Result<std::unique_ptr<jobs::JobQueue>> make_amqp_job_queue(const AmqpOptions& options,
                                                            jobs::JobStore& outbox,
                                                            const Clock& clock);

}  // namespace parley::rabbitmq
