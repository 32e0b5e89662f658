// Metrics on prometheus-cpp: one registry for the process, served as text at /metrics.
// Families are created once at start and handed to whoever records into them; recording is
// lock-free per metric. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace prometheus {
class Registry;
}

namespace parley::metrics {

// The process-wide registry. Lives for the whole process.
prometheus::Registry& registry();

// The registry in Prometheus text exposition format, followed by the standard process_*
// metrics (CPU seconds, resident and virtual memory, open fds, start time) read from /proc.
std::string render_text();

// A value read when /metrics is scraped instead of kept current on a hot path: a queue's depth,
// a count another component keeps anyway. Readings of one name form one family.
struct Reading {
  std::string name;
  std::string help;
  bool counter = false;  // else a gauge
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};
using Reader = std::function<std::vector<Reading>()>;
// Calls read on every scrape (on the scraping thread, one reader at a time) until the returned
// handle is released; after the release it is not running and never runs again. A reader must
// be quick and must not register or release readers itself.
[[nodiscard]] std::shared_ptr<void> read_at_scrape(Reader read);

}  // namespace parley::metrics
