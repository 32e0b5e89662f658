// OTLP/HTTP JSON span exporter: ended spans queue (bounded; when full they are dropped and
// counted in parley_trace_spans_dropped_total) and a background thread POSTs them in batches
// to <endpoint>/v1/traces as ExportTraceServiceRequest JSON (hex ids, times as string nanos).
//
// The endpoint is the operator's own collector (Jaeger, Tempo, an OpenTelemetry collector),
// trusted like the database: plain libcurl, not the SSRF-guarded fetcher (docs/decisions.md
// §44). Never blocks the caller; an unreachable collector costs the batch, logged once a minute.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/trace.h"

namespace parley::otlp {

struct ExporterOptions {
  std::string endpoint;  // http://HOST:PORT (a path, if any, goes before /v1/traces)
  std::string service_name = "parley";
  std::size_t max_queue = 4096;  // spans waiting; more are dropped
  std::size_t max_batch = 512;   // spans per POST
};

class OtlpExporter final : public trace::Exporter {
 public:
  explicit OtlpExporter(ExporterOptions opts);
  // Sends what is queued (best effort, bounded by the HTTP timeout), then stops the thread.
  ~OtlpExporter() override;
  void export_span(std::unique_ptr<trace::SpanData> span) override;
  // Blocks until everything queued before the call was posted (or dropped). For tests, shutdown.
  void flush();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The request body for a batch: {"resourceSpans":[{"resource":...,"scopeSpans":[...]}]}.
std::string to_otlp_json(const std::string& service_name, const std::string& instance_id,
                         const std::vector<std::unique_ptr<trace::SpanData>>& spans);

}  // namespace parley::otlp
