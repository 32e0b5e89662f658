#include "core/metrics.h"

#include "core/commit_metrics.h"

#include <dirent.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <cstring>
#include <string_view>
#include <vector>

namespace parley::metrics {

namespace {

prometheus::MetricFamily gauge_family(const char* name, const char* help,
                                      prometheus::MetricType type, double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  f.metric.push_back(std::move(m));
  return f;
}

std::string read_file(const char* path) {
  std::string out;
  if (FILE* f = std::fopen(path, "re")) {
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    std::fclose(f);
  }
  return out;
}

// The standard process_* metrics (prometheus-cpp has no process collector), read from /proc
// on each scrape: CPU seconds, resident memory, open file descriptors and the start time.
void append_process_metrics(std::vector<prometheus::MetricFamily>& out) {
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  std::string stat = read_file("/proc/self/stat");
  // Fields after the command name (which may hold spaces) start at ") "; utime is field 14,
  // stime 15, starttime 22 (1-based over the whole line), so 12, 13 and 20 after the state.
  auto paren = stat.rfind(") ");
  if (paren != std::string::npos && ticks > 0) {
    std::vector<std::string_view> fields;
    std::string_view rest(stat);
    rest.remove_prefix(paren + 2);
    while (!rest.empty()) {
      auto sp = rest.find(' ');
      fields.push_back(rest.substr(0, sp));
      if (sp == std::string_view::npos) break;
      rest.remove_prefix(sp + 1);
    }
    auto num = [&](std::size_t i) {
      return i < fields.size() ? std::strtod(std::string(fields[i]).c_str(), nullptr) : 0.0;
    };
    if (fields.size() > 20) {
      out.push_back(gauge_family("process_cpu_seconds_total",
                                 "Total user and system CPU time spent in seconds",
                                 prometheus::MetricType::Counter, (num(11) + num(12)) / ticks));
      // Boot time from /proc/stat's btime plus the start in ticks since boot.
      std::string pstat = read_file("/proc/stat");
      auto b = pstat.find("\nbtime ");
      if (b != std::string::npos) {
        double btime = std::strtod(pstat.c_str() + b + 7, nullptr);
        out.push_back(gauge_family("process_start_time_seconds",
                                   "Start time of the process since unix epoch in seconds",
                                   prometheus::MetricType::Gauge, btime + num(19) / ticks));
      }
    }
  }
  std::string statm = read_file("/proc/self/statm");
  if (!statm.empty()) {
    char* end = nullptr;
    double size = std::strtod(statm.c_str(), &end);
    double resident = std::strtod(end, nullptr);
    out.push_back(gauge_family("process_resident_memory_bytes", "Resident memory size in bytes",
                               prometheus::MetricType::Gauge, resident * page));
    out.push_back(gauge_family("process_virtual_memory_bytes", "Virtual memory size in bytes",
                               prometheus::MetricType::Gauge, size * page));
  }
  if (DIR* d = opendir("/proc/self/fd")) {
    double n = 0;
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
    out.push_back(gauge_family("process_open_fds", "Number of open file descriptors",
                               prometheus::MetricType::Gauge, n - 1));  // less opendir's own
  }
}

// Readers run under the lock, and a handle's release takes it: once released, a reader is not
// running and never runs again, so it may capture what its owner is about to destroy.
struct Readers {
  std::mutex mu;
  std::vector<Reader*> live;
};

Readers& readers() {
  static auto* r = new Readers();  // like the registry: lives until exit
  return *r;
}

void append_readings(std::vector<prometheus::MetricFamily>& out) {
  std::lock_guard lock(readers().mu);
  // Readings of the same name and labels (two servers in one process) add up to one series.
  std::map<std::string, std::size_t> family_of;
  std::map<std::pair<std::string, decltype(Reading::labels)>, std::size_t> series_of;
  auto value = [](prometheus::MetricFamily& f, std::size_t i) -> double& {
    auto& m = f.metric[i];
    return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
  };
  for (const auto* read : readers().live)
    for (auto& r : (*read)()) {
      auto [it, added] = family_of.emplace(r.name, out.size());
      if (added) {
        prometheus::MetricFamily f;
        f.name = r.name;
        f.help = r.help;
        f.type = r.counter ? prometheus::MetricType::Counter : prometheus::MetricType::Gauge;
        out.push_back(std::move(f));
      }
      auto& family = out[it->second];
      auto [s, fresh] = series_of.emplace(std::pair{r.name, r.labels}, family.metric.size());
      if (fresh) {
        prometheus::ClientMetric m;
        for (auto& [k, v] : r.labels) m.label.push_back({std::move(k), std::move(v)});
        family.metric.push_back(std::move(m));
      }
      value(family, s->second) += r.value;
    }
}

}  // namespace

std::shared_ptr<void> read_at_scrape(Reader read) {
  auto* r = new Reader(std::move(read));
  {
    std::lock_guard lock(readers().mu);
    readers().live.push_back(r);
  }
  return std::shared_ptr<void>(r, [](void* p) {
    auto* r = static_cast<Reader*>(p);
    {
      std::lock_guard lock(readers().mu);
      std::erase(readers().live, r);
    }
    delete r;
  });
}

prometheus::Registry& registry() {
  static auto* r = new prometheus::Registry();  // never destroyed: recorded into until exit
  return *r;
}

std::string render_text() {
  prometheus::TextSerializer s;
  auto families = registry().Collect();
  append_readings(families);
  append_process_metrics(families);
  return s.Serialize(families);
}

namespace {

struct CommitMetrics {
  prometheus::Family<prometheus::Histogram>& seconds;
  prometheus::Family<prometheus::Histogram>& size;
  prometheus::Family<prometheus::Histogram>& pool_wait;
  std::mutex mu;  // guards the label caches below (the families are thread-safe)
  std::map<std::string, prometheus::Histogram*, std::less<>> by_engine_s, by_engine_n, by_pool;
};

CommitMetrics& commit_metrics() {
  static CommitMetrics m{
      prometheus::BuildHistogram()
          .Name("parley_storage_commit_seconds")
          .Help("Duration of one storage group commit, from BEGIN to durable COMMIT")
          .Register(registry()),
      prometheus::BuildHistogram()
          .Name("parley_storage_commit_group_size")
          .Help("Writes (sends) sharing one storage commit")
          .Register(registry()),
      prometheus::BuildHistogram()
          .Name("parley_pool_wait_seconds")
          .Help("Time a task waited in a worker pool's queue before a thread took it")
          .Register(registry()),
      {}, {}, {}, {}};
  return m;
}

prometheus::Histogram& cached(std::map<std::string, prometheus::Histogram*, std::less<>>& cache,
                              prometheus::Family<prometheus::Histogram>& family,
                              const char* label, std::string_view value,
                              const prometheus::Histogram::BucketBoundaries& buckets) {
  auto it = cache.find(value);
  if (it == cache.end())
    it = cache.emplace(std::string(value), &family.Add({{label, std::string(value)}}, buckets)).first;
  return *it->second;
}

}  // namespace

void observe_commit(std::string_view engine, double seconds, std::size_t group_size) {
  static const prometheus::Histogram::BucketBoundaries kSeconds{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
  static const prometheus::Histogram::BucketBoundaries kSize{1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
  auto& m = commit_metrics();
  prometheus::Histogram *s, *n;
  {
    std::lock_guard lock(m.mu);
    s = &cached(m.by_engine_s, m.seconds, "engine", engine, kSeconds);
    n = &cached(m.by_engine_n, m.size, "engine", engine, kSize);
  }
  s->Observe(seconds);
  n->Observe(static_cast<double>(group_size));
}

void observe_pool_wait(std::string_view pool, double seconds) {
  static const prometheus::Histogram::BucketBoundaries kSeconds{
      0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1};
  auto& m = commit_metrics();
  prometheus::Histogram* h;
  {
    std::lock_guard lock(m.mu);
    h = &cached(m.by_pool, m.pool_wait, "pool", pool, kSeconds);
  }
  h->Observe(seconds);
}

}  // namespace parley::metrics
