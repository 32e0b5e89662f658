// Metrics on prometheus-cpp: one registry for the process, served as text at /metrics.
// Families are created once at start and handed to whoever records into them; recording is
// lock-free per metric. Thread-safe.
#pragma once

#include <memory>
#include <string>

namespace prometheus {
class Registry;
}

namespace parley::metrics {

// The process-wide registry. Lives for the whole process.
prometheus::Registry& registry();

// The registry in Prometheus text exposition format, followed by the standard process_*
// metrics (CPU seconds, resident and virtual memory, open fds, start time) read from /proc.
std::string render_text();

}  // namespace parley::metrics
