// Rate limiting with token buckets, keyed by strings such as "login:ip:127.0.0.1" or
// "login:user:alice". A policy is a burst (bucket size) and a refill period per token.
//
// The embedded default keeps buckets in memory, bounded: the least recently touched keys are
// dropped first (a dropped key starts full, which only ever errs towards allowing). A Redis
// adapter shares buckets across nodes. Thread-safe; never blocks on I/O.
#pragma once

#include <memory>
#include <string>

#include "core/clock.h"

namespace parley::ratelimit {

struct Policy {
  double burst = 10;        // tokens a full bucket holds
  double refill_ms = 1000;  // one token comes back every refill_ms (fractions allowed)
};

struct Decision {
  bool allowed = true;
  int retry_after_s = 0;  // when refused: seconds until a token is back (at least 1)
};

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // Takes one token from key's bucket if there is one.
  virtual Decision take(const std::string& key, const Policy& policy) = 0;
};

std::unique_ptr<RateLimiter> make_in_memory_rate_limiter(const Clock& clock,
                                                         std::size_t max_keys = 100'000);

}  // namespace parley::ratelimit
