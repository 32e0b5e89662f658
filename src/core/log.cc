#include "core/log.h"

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace parley::log {
namespace {

Format g_format = Format::text;
// Set by init(); read by every thread that logs.
std::atomic<std::shared_ptr<spdlog::logger>> g_logger;

spdlog::level::level_enum to_spdlog(Level l) {
  switch (l) {
    case Level::debug:
      return spdlog::level::debug;
    case Level::info:
      return spdlog::level::info;
    case Level::warn:
      return spdlog::level::warn;
    case Level::error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void append_value(std::string& out, const Field& f, bool json) {
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::string_view>) {
          if (json) {
            append_json_string(out, v);
          } else {
            out += v;
          }
        } else if constexpr (std::is_same_v<V, bool>) {
          out += v ? "true" : "false";
        } else {
          out += std::to_string(v);
        }
      },
      f.value);
}

std::shared_ptr<spdlog::logger> logger() {
  if (auto l = g_logger.load(std::memory_order_acquire)) return l;
  // Before init() (tests, start-up errors): synchronous stderr. Created once, by whichever
  // thread logs first, and kept out of spdlog's registry, whose names must be unique.
  static const auto early = std::make_shared<spdlog::logger>(
      "parley-early", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  return early;
}

}  // namespace

void init(Format format, Level min_level) {
  g_format = format;
  spdlog::init_thread_pool(8192, 1);
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto l = std::make_shared<spdlog::async_logger>("parley", sink, spdlog::thread_pool(),
                                                  spdlog::async_overflow_policy::block);
  // JSON lines carry their own timestamp and level fields, written below.
  l->set_pattern(format == Format::json ? "%v" : "%Y-%m-%dT%H:%M:%S.%e %l %v");
  l->set_level(to_spdlog(min_level));
  l->flush_on(spdlog::level::warn);
  g_logger.store(std::move(l), std::memory_order_release);
}

void flush() { logger()->flush(); }

Format format() { return g_format; }

void write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  auto l = logger();
  if (!l->should_log(to_spdlog(level))) return;
  std::string line;
  line.reserve(128);
  if (g_format == Format::json) {
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    // ECS: @timestamp in ISO 8601 UTC with milliseconds, log.level, message.
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[80];  // what snprintf could write for any tm values (GCC checks)
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms % 1000));
    line += "{\"@timestamp\":\"";
    line += ts;
    line += "\",\"log.level\":\"";
    line += spdlog::level::to_string_view(to_spdlog(level)).data();
    line += "\",\"message\":";
    append_json_string(line, msg);
    for (const auto& f : fields) {
      line += ',';
      append_json_string(line, f.key);
      line += ':';
      append_value(line, f, true);
    }
    line += '}';
  } else {
    line += msg;
    for (const auto& f : fields) {
      line += ' ';
      line += f.key;
      line += '=';
      append_value(line, f, false);
    }
  }
  l->log(to_spdlog(level), "{}", line);
}

}  // namespace parley::log
