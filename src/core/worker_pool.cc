#include "core/worker_pool.h"

#include <pthread.h>

#include <chrono>

#include "core/commit_metrics.h"
#include "core/log.h"

namespace parley {

WorkerPool::WorkerPool(std::string name, std::size_t threads, std::size_t max_queued)
    : name_(std::move(name)), max_queued_(max_queued) {
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { run(); });
    pthread_setname_np(threads_.back().native_handle(), name_.substr(0, 15).c_str());
  }
}

WorkerPool::~WorkerPool() { stop(); }

bool WorkerPool::try_submit(Task task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= max_queued_) return false;
    // Timestamped for parley_pool_wait_seconds: the wrapper is one small allocation per task,
    // next to the work itself (storage, hashing) that a pool task is.
    queue_.push_back([t = std::move(task), at = std::chrono::steady_clock::now(), this] {
      metrics::observe_pool_wait(
          name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - at).count());
      t();
    });
  }
  cv_.notify_one();
  return true;
}

void WorkerPool::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void WorkerPool::run() {
  for (;;) {
    Task task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      task();
    } catch (const std::exception& e) {
      // Tasks report failures through their own results; an escaping exception is a bug.
      log::error("worker task threw", {{"pool", name_}, {"what", e.what()}});
    }
  }
}

}  // namespace parley
