#include "adapters/otlp/otlp_exporter.h"

#include <curl/curl.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "core/log.h"
#include "core/metrics.h"

namespace parley::otlp {
namespace {

template <std::size_t N>
std::string hex(const std::array<std::uint8_t, N>& a) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(2 * N);
  for (auto b : a) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

boost::json::object str_attr(const std::string& k, const std::string& v) {
  return {{"key", k}, {"value", boost::json::object{{"stringValue", v}}}};
}

struct Counters {
  prometheus::Counter& dropped;
  prometheus::Counter& exported;
  prometheus::Counter& failed;
};

Counters& counters() {
  static Counters c = [] {
    auto& fam = prometheus::BuildCounter()
                    .Name("parley_trace_spans_dropped_total")
                    .Help("Sampled spans dropped because the export queue was full")
                    .Register(metrics::registry());
    auto& exp = prometheus::BuildCounter()
                    .Name("parley_trace_spans_exported_total")
                    .Help("Spans sent to the OTLP collector, by outcome")
                    .Register(metrics::registry());
    return Counters{fam.Add({}), exp.Add({{"outcome", "ok"}}), exp.Add({{"outcome", "error"}})};
  }();
  return c;
}

std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

}  // namespace

std::string to_otlp_json(const std::string& service_name, const std::string& instance_id,
                         const std::vector<std::unique_ptr<trace::SpanData>>& spans) {
  boost::json::array out;
  for (const auto& s : spans) {
    boost::json::array attrs;
    for (const auto& [k, v] : s->str_attrs) attrs.push_back(str_attr(k, v));
    for (const auto& [k, v] : s->int_attrs)
      attrs.push_back(boost::json::object{
          {"key", k}, {"value", boost::json::object{{"intValue", std::to_string(v)}}}});
    boost::json::object span{{"traceId", hex(s->trace_id)},
                             {"spanId", hex(s->span_id)},
                             {"name", s->name},
                             {"kind", static_cast<int>(s->kind)},
                             {"startTimeUnixNano", std::to_string(s->start_ns)},
                             {"endTimeUnixNano", std::to_string(s->end_ns)},
                             {"attributes", std::move(attrs)}};
    if (s->parent_id != std::array<std::uint8_t, 8>{}) span["parentSpanId"] = hex(s->parent_id);
    boost::json::object status{{"code", s->error ? 2 : 0}};
    if (s->error) status["message"] = s->status_message;
    span["status"] = std::move(status);
    out.push_back(std::move(span));
  }
  boost::json::object resource{
      {"attributes", boost::json::array{str_attr("service.name", service_name),
                                        str_attr("service.instance.id", instance_id)}}};
  boost::json::object scope_spans{{"scope", boost::json::object{{"name", "parley"}}},
                                  {"spans", std::move(out)}};
  boost::json::object rs{{"resource", std::move(resource)},
                         {"scopeSpans", boost::json::array{std::move(scope_spans)}}};
  return boost::json::serialize(
      boost::json::object{{"resourceSpans", boost::json::array{std::move(rs)}}});
}

struct OtlpExporter::Impl {
  ExporterOptions opts;
  std::string url, instance_id;
  std::mutex mu;
  std::condition_variable cv, idle;
  std::deque<std::unique_ptr<trace::SpanData>> queue;
  std::uint64_t queued_total = 0, done_total = 0;
  bool stopping = false;
  std::chrono::steady_clock::time_point last_warning{};
  std::thread worker;

  void post(const std::string& body, std::size_t n) {
    CURL* c = curl_easy_init();
    if (!c) return;
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    const bool ok = rc == CURLE_OK && status >= 200 && status < 300;
    (ok ? counters().exported : counters().failed).Increment(static_cast<double>(n));
    if (!ok && std::chrono::steady_clock::now() - last_warning > std::chrono::minutes(1)) {
      last_warning = std::chrono::steady_clock::now();
      log::warn("trace export failed",
                {{"endpoint", url}, {"curl", curl_easy_strerror(rc)}, {"status", static_cast<std::int64_t>(status)}});
    }
  }

  void run() {
    std::unique_lock lock(mu);
    for (;;) {
      cv.wait_for(lock, std::chrono::seconds(1),
                  [&] { return stopping || queue.size() >= opts.max_batch; });
      if (queue.empty()) {
        if (stopping) return;
        continue;
      }
      std::vector<std::unique_ptr<trace::SpanData>> batch;
      while (!queue.empty() && batch.size() < opts.max_batch) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      lock.unlock();
      post(to_otlp_json(opts.service_name, instance_id, batch), batch.size());
      lock.lock();
      done_total += batch.size();
      idle.notify_all();
    }
  }
};

OtlpExporter::OtlpExporter(ExporterOptions opts) : impl_(std::make_unique<Impl>()) {
  auto& I = *impl_;
  I.opts = std::move(opts);
  I.url = I.opts.endpoint;
  while (!I.url.empty() && I.url.back() == '/') I.url.pop_back();
  I.url += "/v1/traces";
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  I.instance_id = std::string(host) + ":" + std::to_string(::getpid());
  counters();  // the series exist from the start
  I.worker = std::thread([&I] { I.run(); });
}

OtlpExporter::~OtlpExporter() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->worker.join();
}

void OtlpExporter::export_span(std::unique_ptr<trace::SpanData> span) {
  auto& I = *impl_;
  std::unique_lock lock(I.mu);
  if (I.stopping || I.queue.size() >= I.opts.max_queue) {
    lock.unlock();
    counters().dropped.Increment();
    return;
  }
  I.queue.push_back(std::move(span));
  ++I.queued_total;
  if (I.queue.size() >= I.opts.max_batch) I.cv.notify_one();
}

void OtlpExporter::flush() {
  auto& I = *impl_;
  std::unique_lock lock(I.mu);
  const auto target = I.queued_total;
  I.cv.notify_one();
  I.idle.wait_for(lock, std::chrono::seconds(10), [&] { return I.done_total >= target; });
}

}  // namespace parley::otlp
