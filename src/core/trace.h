// Tracing: W3C Trace Context ids and spans (trace id, span id, parent, name, start/end, a few
// attributes, status), handed when they end to the Exporter the application installed.
//
// Cheap when off: a Span that is not recording holds one null pointer, and starting one does
// no allocation and takes no lock (a relaxed atomic load and, for a new trace, a thread-local
// random draw). Only a sampled span allocates its data. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parley::trace {

// Where a span stands in its trace: what travels between processes (traceparent) and nodes.
struct Context {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  bool sampled = false;

  bool valid() const;  // a non-zero trace id
  // "00-<trace id>-<span id>-<01|00>"
  std::string traceparent() const;
  std::string trace_hex() const;
  std::string span_hex() const;
  // A W3C traceparent (version 00); nullopt when malformed or all-zero.
  static std::optional<Context> parse(std::string_view traceparent);
  // A fresh context: random trace and span ids, sampled by the configured ratio.
  static Context fresh();
  static std::array<std::uint8_t, 8> fresh_span_id();
};

// The context of the span on whose behalf this thread is calling, for a synchronous call that
// starts asynchronous work (messaging's send_async): set with a Scope around the call, read once
// at the start of that work. Not for coroutines: never keep a Scope across a co_await.
const Context& current();
class Scope {
 public:
  explicit Scope(const Context& c);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  Context saved_;
};

enum class Kind { internal = 1, server = 2, client = 3, producer = 4, consumer = 5 };

struct SpanData {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  std::array<std::uint8_t, 8> parent_id{};  // all zero for a root
  std::string name;
  Kind kind = Kind::internal;
  std::uint64_t start_ns = 0, end_ns = 0;  // Unix epoch nanoseconds
  std::vector<std::pair<std::string, std::string>> str_attrs;
  std::vector<std::pair<std::string, std::int64_t>> int_attrs;
  bool error = false;
  std::string status_message;
};

// Receives ended sampled spans; must not block (queue and return).
class Exporter {
 public:
  virtual ~Exporter() = default;
  virtual void export_span(std::unique_ptr<SpanData> span) = 0;
};

// Installs the exporter (nullptr: tracing off) and the ratio new traces are sampled at.
// The exporter must outlive its use: uninstall it before destroying it.
void configure(Exporter* exporter, double sample_ratio);
bool enabled();
// Whether a new trace is sampled: draws against the ratio (false when tracing is off).
bool sample();

class Span {
 public:
  Span() = default;
  Span(Span&&) noexcept = default;
  Span& operator=(Span&& o) noexcept {
    if (this != &o) {
      end();
      d_ = std::move(o.d_);
    }
    return *this;
  }
  ~Span() { end(); }

  // A child of parent with a new span id; recording when parent is sampled and tracing is on.
  static Span child(std::string_view name, Kind kind, const Context& parent);
  // A span whose own context was chosen elsewhere (the HTTP server's, already in traceparent),
  // parent_span_id all zero for a root.
  static Span adopt(std::string_view name, Kind kind, const Context& self,
                    const std::array<std::uint8_t, 8>& parent_span_id);
  // The first span of a new trace, sampled by ratio.
  static Span root(std::string_view name, Kind kind);

  bool recording() const { return d_ != nullptr; }
  // This span's context for children (unsampled and invalid when not recording).
  Context context() const;
  void rename(std::string_view name);
  void set(std::string_view key, std::string_view value);
  void set(std::string_view key, std::int64_t value);
  void fail(std::string_view message);
  void end();

 private:
  std::unique_ptr<SpanData> d_;
};

std::uint64_t now_ns();

}  // namespace parley::trace
