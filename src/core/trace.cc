#include "core/trace.h"

#include <atomic>
#include <chrono>
#include <random>

namespace parley::trace {
namespace {

std::atomic<Exporter*> g_exporter{nullptr};
std::atomic<double> g_ratio{0.0};

std::mt19937_64& rng() {
  thread_local std::mt19937_64 r{std::random_device{}() ^
                                 static_cast<std::uint64_t>(
                                     std::chrono::steady_clock::now().time_since_epoch().count())};
  return r;
}

template <std::size_t N>
void fill_random(std::array<std::uint8_t, N>& a) {
  do {
    for (std::size_t i = 0; i < N; i += 8) {
      std::uint64_t v = rng()();
      for (std::size_t j = 0; j < 8 && i + j < N; ++j) a[i + j] = static_cast<std::uint8_t>(v >> (8 * j));
    }
  } while (a == std::array<std::uint8_t, N>{});  // all-zero ids are invalid
}

template <std::size_t N>
void hex(std::string& out, const std::array<std::uint8_t, N>& a) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (auto b : a) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
}

int unhex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // W3C: lowercase only
}

template <std::size_t N>
bool parse_hex(std::string_view s, std::array<std::uint8_t, N>& out) {
  if (s.size() != 2 * N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    int hi = unhex(s[2 * i]), lo = unhex(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out != std::array<std::uint8_t, N>{};
}

}  // namespace

bool Context::valid() const { return trace_id != std::array<std::uint8_t, 16>{}; }

std::string Context::trace_hex() const {
  std::string s;
  s.reserve(32);
  hex(s, trace_id);
  return s;
}

std::string Context::span_hex() const {
  std::string s;
  s.reserve(16);
  hex(s, span_id);
  return s;
}

std::string Context::traceparent() const {
  std::string s;
  s.reserve(55);
  s += "00-";
  hex(s, trace_id);
  s += '-';
  hex(s, span_id);
  s += sampled ? "-01" : "-00";
  return s;
}

std::optional<Context> Context::parse(std::string_view v) {
  // version(2) - trace id(32) - parent id(16) - flags(2)
  // Only version 00 is understood; a later version's header may be longer, but its first
  // fields read the same way (W3C 3.3). Version ff is invalid.
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  if (unhex(v[0]) < 0 || unhex(v[1]) < 0 || v.substr(0, 2) == "ff") return std::nullopt;
  if (v.substr(0, 2) == "00" && v.size() != 55) return std::nullopt;
  if (v.size() > 55 && v[55] != '-') return std::nullopt;
  Context c;
  if (!parse_hex(v.substr(3, 32), c.trace_id) || !parse_hex(v.substr(36, 16), c.span_id))
    return std::nullopt;
  int hi = unhex(v[53]), lo = unhex(v[54]);
  if (hi < 0 || lo < 0) return std::nullopt;
  c.sampled = (lo & 1) != 0;
  return c;
}

Context Context::fresh() {
  Context c;
  fill_random(c.trace_id);
  fill_random(c.span_id);
  c.sampled = sample();
  return c;
}

std::array<std::uint8_t, 8> Context::fresh_span_id() {
  std::array<std::uint8_t, 8> id;
  fill_random(id);
  return id;
}

namespace {
thread_local Context t_current;
}  // namespace

const Context& current() { return t_current; }
Scope::Scope(const Context& c) : saved_(t_current) { t_current = c; }
Scope::~Scope() { t_current = saved_; }

void configure(Exporter* exporter, double sample_ratio) {
  g_ratio.store(sample_ratio, std::memory_order_relaxed);
  g_exporter.store(exporter, std::memory_order_release);
}

bool enabled() { return g_exporter.load(std::memory_order_relaxed) != nullptr; }

bool sample() {
  if (!enabled()) return false;
  double r = g_ratio.load(std::memory_order_relaxed);
  if (r >= 1.0) return true;
  if (r <= 0.0) return false;
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng()) < r;
}

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

Span Span::adopt(std::string_view name, Kind kind, const Context& self,
                 const std::array<std::uint8_t, 8>& parent_span_id) {
  Span s;
  if (!self.sampled || !self.valid() || !enabled()) return s;
  s.d_ = std::make_unique<SpanData>();
  s.d_->trace_id = self.trace_id;
  s.d_->span_id = self.span_id;
  s.d_->parent_id = parent_span_id;
  s.d_->name = name;
  s.d_->kind = kind;
  s.d_->start_ns = now_ns();
  return s;
}

Span Span::child(std::string_view name, Kind kind, const Context& parent) {
  if (!parent.sampled || !parent.valid() || !enabled()) return Span{};
  Context self = parent;
  fill_random(self.span_id);
  return adopt(name, kind, self, parent.span_id);
}

Span Span::root(std::string_view name, Kind kind) {
  if (!sample()) return Span{};
  Context self;
  fill_random(self.trace_id);
  fill_random(self.span_id);
  self.sampled = true;
  return adopt(name, kind, self, {});
}

Context Span::context() const {
  Context c;
  if (!d_) return c;
  c.trace_id = d_->trace_id;
  c.span_id = d_->span_id;
  c.sampled = true;
  return c;
}

void Span::rename(std::string_view name) {
  if (d_) d_->name = name;
}

void Span::set(std::string_view key, std::string_view value) {
  if (d_) d_->str_attrs.emplace_back(key, value);
}

void Span::set(std::string_view key, std::int64_t value) {
  if (d_) d_->int_attrs.emplace_back(key, value);
}

void Span::fail(std::string_view message) {
  if (!d_) return;
  d_->error = true;
  d_->status_message = message;
}

void Span::end() {
  if (!d_) return;
  d_->end_ns = now_ns();
  if (auto* e = g_exporter.load(std::memory_order_acquire))
    e->export_span(std::move(d_));
  d_.reset();
}

}  // namespace parley::trace
