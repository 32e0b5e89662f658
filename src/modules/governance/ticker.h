// A background thread that calls a function every interval until stopped. Private to the
// governance module: each of its jobs (retention, export sweep and builds, analytics) owns one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "core/clock.h"

namespace parley::governance {

class Ticker {
 public:
  Ticker() = default;
  ~Ticker() { stop(); }
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

  // Runs fn every interval_ms (the first time after one interval), or at once after poke().
  void start(Millis interval_ms, std::function<void()> fn) {
    std::lock_guard lock(mu_);
    if (thread_.joinable() || interval_ms <= 0) return;
    stopping_ = false;
    thread_ = std::thread([this, interval_ms, fn = std::move(fn)] {
      std::unique_lock lock(mu_);
      while (!stopping_) {
        cv_.wait_for(lock, std::chrono::milliseconds(interval_ms), [this] { return stopping_ || poked_; });
        if (stopping_) break;
        poked_ = false;
        lock.unlock();
        fn();
        lock.lock();
      }
    });
  }
  // Wakes the thread now (a new export queued).
  void poke() {
    {
      std::lock_guard lock(mu_);
      poked_ = true;
    }
    cv_.notify_all();
  }
  // Whether stop() was called: long jobs check it between batches.
  bool stopping() {
    std::lock_guard lock(mu_);
    return stopping_;
  }
  // Waits up to ms, returning early (true) when stopping.
  bool pause(Millis ms) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping_; });
  }
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool poked_ = false;
  std::thread thread_;
};

}  // namespace parley::governance
