// A job to enqueue (jobs.h): the one type a producer needs, in a header of its own so that
// the messaging store's outbox hook does not pull in (and rebuild with) the whole queue port.
#pragma once

#include <string>

#include "core/clock.h"

namespace parley::jobs {

struct NewJob {
  std::string kind;
  std::string payload;          // JSON text, passed to the handler as is
  std::string idempotency_key;  // "" for none; otherwise a second enqueue of it is ignored
  Millis run_at = 0;            // not before this time; 0 = now
  int max_attempts = 0;         // 0 = the queue's default
};

}  // namespace parley::jobs
