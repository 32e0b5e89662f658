#include "core/heap_trim.h"

#include <malloc.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <pthread.h>

#include "core/metrics.h"

namespace parley {
namespace {
prometheus::Counter& trims() {
  static auto& c = prometheus::BuildCounter()
                       .Name("parley_heap_trims_total")
                       .Help("Times freed heap memory was handed back to the system")
                       .Register(metrics::registry())
                       .Add({});
  return c;
}
}  // namespace

HeapTrimmer::HeapTrimmer(std::chrono::milliseconds period, std::size_t min_free_bytes)
    : period_(period), min_free_bytes_(min_free_bytes) {
  thread_ = std::thread([this] { loop(); });
}

HeapTrimmer::~HeapTrimmer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void HeapTrimmer::loop() {
  pthread_setname_np(pthread_self(), "heap-trim");
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, period_, [this] { return stopping_; })) {
    // fordblks: free bytes inside the arenas' heaps (the top chunk included).
    if (mallinfo2().fordblks < min_free_bytes_) continue;
    if (malloc_trim(0)) trims().Increment();
  }
}

}  // namespace parley
