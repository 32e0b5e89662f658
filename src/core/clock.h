// Clock: the one source of time for modules, injectable so tests control it.
// Times are milliseconds since the Unix epoch (API.md). Implementations are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>

namespace parley {

using Millis = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Millis now_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  Millis now_ms() const override;
};

// A clock that moves only when told to; for tests.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Millis start = 1'700'000'000'000) : now_(start) {}
  Millis now_ms() const override { return now_.load(); }
  void advance_ms(Millis d) { now_ += d; }
  void set_ms(Millis t) { now_ = t; }

 private:
  std::atomic<Millis> now_;
};

}  // namespace parley
