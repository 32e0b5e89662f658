// WorkerPool: a fixed set of named threads for blocking work (storage, password hashing), with
// a bounded queue so overload is refused (try_submit returns false) instead of growing memory.
// I/O threads hand work here and are resumed when it is done; see net/.
//
// Thread-safe. stop() finishes queued tasks, then joins; the destructor calls stop().
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace parley {

class WorkerPool {
 public:
  using Task = std::function<void()>;

  WorkerPool(std::string name, std::size_t threads, std::size_t max_queued);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  bool try_submit(Task task);
  void stop();
  std::size_t thread_count() const { return threads_.size(); }

 private:
  void run();

  const std::string name_;
  const std::size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace parley
