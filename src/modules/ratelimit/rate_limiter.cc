#include "modules/ratelimit/rate_limiter.h"

#include <cmath>
#include <list>
#include <mutex>
#include <unordered_map>

namespace parley::ratelimit {
namespace {

class InMemoryRateLimiter final : public RateLimiter {
  struct Bucket {
    double tokens;
    Millis updated;
    std::list<std::string>::iterator lru;
  };

 public:
  InMemoryRateLimiter(const Clock& clock, std::size_t max_keys)
      : clock_(clock), max_keys_(max_keys) {}

  Decision take(const std::string& key, const Policy& policy) override {
    Millis now = clock_.now_ms();
    std::lock_guard lock(mu_);
    auto it = buckets_.find(key);
    if (it == buckets_.end()) {
      if (buckets_.size() >= max_keys_) {
        buckets_.erase(lru_.back());
        lru_.pop_back();
      }
      lru_.push_front(key);
      it = buckets_.emplace(key, Bucket{policy.burst, now, lru_.begin()}).first;
    } else {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
    }
    Bucket& b = it->second;
    double refilled = static_cast<double>(now - b.updated) / policy.refill_ms;
    b.tokens = std::min(policy.burst, b.tokens + std::max(0.0, refilled));
    b.updated = now;
    if (b.tokens >= 1.0) {
      b.tokens -= 1.0;
      return {true, 0};
    }
    double wait_ms = (1.0 - b.tokens) * policy.refill_ms;
    return {false, std::max(1, static_cast<int>(std::ceil(wait_ms / 1000.0)))};
  }

 private:
  const Clock& clock_;
  const std::size_t max_keys_;
  std::mutex mu_;
  std::list<std::string> lru_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace

std::unique_ptr<RateLimiter> make_in_memory_rate_limiter(const Clock& clock, std::size_t max_keys) {
  return std::make_unique<InMemoryRateLimiter>(clock, max_keys);
}

}  // namespace parley::ratelimit
