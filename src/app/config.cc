#include "app/config.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <cstdlib>
#include <map>

#include "core/text.h"

namespace parley::app {
namespace {

using Setter = std::function<Result<void>(Config&, const std::string&)>;

Result<std::uint64_t> parse_uint(const std::string& v, const std::string& key, std::uint64_t max) {
  if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos)
    return fail(Errc::invalid_argument, key + ": expected a whole number, got \"" + v + "\"");
  auto n = std::stoull(v);
  if (n > max)
    return fail(Errc::invalid_argument,
                key + ": " + v + " is over the maximum " + std::to_string(max));
  return n;
}

Result<bool> parse_bool(const std::string& v, const std::string& key) {
  if (v == "true" || v == "on" || v == "yes" || v == "1") return true;
  if (v == "false" || v == "off" || v == "no" || v == "0") return false;
  return fail(Errc::invalid_argument, key + ": expected true or false, got \"" + v + "\"");
}

// "BURST/PERIOD" with PERIOD like 500ms, 2s, 1m, 1h: a bucket of BURST refilled over PERIOD.
Result<ratelimit::Policy> parse_policy(const std::string& v, const std::string& key) {
  auto slash = v.find('/');
  auto bad = [&] {
    return fail(Errc::invalid_argument,
                key + ": expected BURST/PERIOD such as 10/1m or 100/1s, got \"" + v + "\"");
  };
  if (slash == std::string::npos) return bad();
  std::string burst = v.substr(0, slash), period = v.substr(slash + 1);
  std::size_t unit_at = period.find_first_not_of("0123456789");
  if (burst.empty() || burst.find_first_not_of("0123456789") != std::string::npos || unit_at == 0 ||
      unit_at == std::string::npos || burst.size() > 9 || unit_at > 9)
    return bad();
  std::string unit = period.substr(unit_at);
  long long amount = std::stoll(period.substr(0, unit_at));
  long long ms = unit == "ms"  ? amount
                 : unit == "s" ? amount * 1000
                 : unit == "m" ? amount * 60'000
                 : unit == "h" ? amount * 3'600'000
                               : -1;
  long long b = std::stoll(burst);
  if (ms <= 0 || b <= 0) return bad();
  // The bucket refills completely over the period: one token every period/burst.
  return ratelimit::Policy{static_cast<double>(b),
                           static_cast<double>(ms) / static_cast<double>(b)};
}

// A setter for a whole number from min to max, stored where field points.
template <class T>
Setter whole_number(std::string key, std::uint64_t min, std::uint64_t max,
                    T& (*field)(Config&)) {
  return [key = std::move(key), min, max, field](Config& c, const std::string& v) -> Result<void> {
    auto n = parse_uint(v, key, max);
    if (!n) return fail(n.error());
    if (*n < min)
      return fail(Errc::invalid_argument, key + ": at least " + std::to_string(min));
    field(c) = static_cast<T>(*n);
    return ok();
  };
}

// A setter that stores the value as given (checked where it is used).
Setter plain_string(std::string& (*field)(Config&)) {
  return [field](Config& c, const std::string& v) -> Result<void> {
    field(c) = v;
    return ok();
  };
}

// "HOST:PORT", "[V6]:PORT" -> host and port.
Result<std::pair<std::string, std::uint16_t>> parse_host_port(const std::string& key,
                                                              const std::string& v) {
  auto colon = v.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return fail(Errc::invalid_argument, key + ": expected HOST:PORT, got \"" + v + "\"");
  auto port = parse_uint(v.substr(colon + 1), key + " port", 65535);
  if (!port) return fail(port.error());
  std::string host = v.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return std::pair{host, static_cast<std::uint16_t>(*port)};
}

// "a, b,,c" -> {"a", "b", "c"}
std::vector<std::string> split_list(const std::string& v) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= v.size()) {
    auto comma = v.find(',', start);
    if (comma == std::string::npos) comma = v.size();
    std::string item(text::trim(std::string_view(v).substr(start, comma - start)));
    if (!item.empty()) out.push_back(std::move(item));
    start = comma + 1;
  }
  return out;
}

const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> s = {
      {"listen",
       [](Config& c, const std::string& v) -> Result<void> {
         auto hp = parse_host_port("listen", v);
         if (!hp) return fail(hp.error());
         c.host = hp->first;
         c.port = hp->second;
         return ok();
       }},
      {"metrics_listen",
       [](Config& c, const std::string& v) -> Result<void> {
         if (v.empty()) {
           c.metrics_host.clear();
           c.metrics_port.reset();
           return ok();
         }
         auto hp = parse_host_port("metrics_listen", v);
         if (!hp) return fail(hp.error());
         c.metrics_host = hp->first;
         c.metrics_port = hp->second;
         return ok();
       }},
      {"otlp_endpoint",
       [](Config& c, const std::string& v) -> Result<void> {
         if (!v.empty() && v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0)
           return fail(Errc::invalid_argument,
                       "otlp_endpoint must be an http:// or https:// URL, like http://HOST:4318");
         c.otlp_endpoint = v;
         return ok();
       }},
      {"trace_sample_ratio",
       [](Config& c, const std::string& v) -> Result<void> {
         char* end = nullptr;
         double r = v.empty() ? -1 : std::strtod(v.c_str(), &end);
         if (v.empty() || *end != '\0' || !(r >= 0.0 && r <= 1.0))
           return fail(Errc::invalid_argument,
                       "trace_sample_ratio must be a number from 0 to 1, like 0.01");
         c.trace_sample_ratio = r;
         return ok();
       }},
      {"drain_delay_ms",
       whole_number<std::int64_t>("drain_delay_ms", 0, 600'000,
                                  [](Config& c) -> std::int64_t& { return c.drain_delay_ms; })},
      {"data_dir",
       [](Config& c, const std::string& v) -> Result<void> {
         if (v.empty()) return fail(Errc::invalid_argument, "data_dir: must not be empty");
         c.data_dir = v;
         return ok();
       }},
      {"log_format",
       [](Config& c, const std::string& v) -> Result<void> {
         if (v == "text")
           c.log_format = log::Format::text;
         else if (v == "json")
           c.log_format = log::Format::json;
         else
           return fail(Errc::invalid_argument,
                       "log_format: expected text or json, got \"" + v + "\"");
         return ok();
       }},
      {"log_level",
       [](Config& c, const std::string& v) -> Result<void> {
         static const std::map<std::string, log::Level> levels = {{"debug", log::Level::debug},
                                                                  {"info", log::Level::info},
                                                                  {"warn", log::Level::warn},
                                                                  {"error", log::Level::error}};
         auto it = levels.find(v);
         if (it == levels.end())
           return fail(Errc::invalid_argument, "log_level: expected debug, info, warn or error");
         c.log_level = it->second;
         return ok();
       }},
      {"access_log",
       [](Config& c, const std::string& v) -> Result<void> {
         auto b = parse_bool(v, "access_log");
         if (!b) return fail(b.error());
         c.access_log = *b;
         return ok();
       }},
      {"io_threads",
       [](Config& c, const std::string& v) -> Result<void> {
         auto n = parse_uint(v, "io_threads", 256);
         if (!n) return fail(n.error());
         c.io_threads = static_cast<unsigned>(*n);
         return ok();
       }},
      {"workers",
       [](Config& c, const std::string& v) -> Result<void> {
         auto n = parse_uint(v, "workers", 1024);
         if (!n) return fail(n.error());
         c.workers = static_cast<unsigned>(*n);
         return ok();
       }},
      {"max_body_bytes",
       [](Config& c, const std::string& v) -> Result<void> {
         auto n = parse_uint(v, "max_body_bytes", 1ULL << 30);
         if (!n) return fail(n.error());
         if (*n < 1024) return fail(Errc::invalid_argument, "max_body_bytes: at least 1024");
         c.max_body_bytes = *n;
         return ok();
       }},
      {"database",
       [](Config& c, const std::string& v) -> Result<void> {
         if (!v.empty() && v.rfind("postgres://", 0) != 0 && v.rfind("postgresql://", 0) != 0)
           return fail(Errc::invalid_argument,
                       "database: expected postgres://USER@HOST:PORT/DB (or empty for SQLite)");
         c.database = v;
         return ok();
       }},
      {"redis",
       [](Config& c, const std::string& v) -> Result<void> {
         if (!v.empty() && v.rfind("redis://", 0) != 0)
           return fail(Errc::invalid_argument,
                       "redis: expected redis://HOST:PORT (or empty for one node)");
         c.redis = v;
         return ok();
       }},
      {"node_id",
       [](Config& c, const std::string& v) -> Result<void> {
         c.node_id = v;
         return ok();
       }},
      {"calls_node",
       [](Config& c, const std::string& v) -> Result<void> {
         c.calls_node = v;
         return ok();
       }},
      {"presence_grace_ms",
       [](Config& c, const std::string& v) -> Result<void> {
         auto n = parse_uint(v, "presence_grace_ms", 3'600'000);
         if (!n) return fail(n.error());
         c.presence_grace_ms = static_cast<std::int64_t>(*n);
         return ok();
       }},
      {"web_root",
       [](Config& c, const std::string& v) -> Result<void> {
         std::error_code ec;
         if (!v.empty() && !std::filesystem::is_regular_file(v + "/index.html", ec))
           return fail(Errc::invalid_argument,
                       "web_root: no index.html in \"" + v + "\" (build it with make build)");
         c.web_root = v;
         return ok();
       }},
      {"max_sockets_per_user",
       whole_number<int>("max_sockets_per_user", 1, 10'000,
                         [](Config& c) -> int& { return c.sockets.per_user; })},
      {"max_sockets_per_address",
       whole_number<int>("max_sockets_per_address", 1, 1'000'000,
                         [](Config& c) -> int& { return c.sockets.per_address; })},
      {"max_connections",
       whole_number<std::size_t>("max_connections", 1, 10'000'000,
                                 [](Config& c) -> std::size_t& { return c.max_connections; })},
      {"session_ttl_s",
       whole_number<std::int64_t>("session_ttl_s", 1, 366ULL * 24 * 3600,
                                  [](Config& c) -> std::int64_t& { return c.session_ttl_s; })},
      {"storage",
       [](Config& c, const std::string& v) -> Result<void> {
         if (v != "local" && v.rfind("s3://", 0) != 0)
           return fail(Errc::invalid_argument,
                       "storage: expected local or s3://BUCKET?endpoint=URL, got \"" + v + "\"");
         c.storage = v;
         return ok();
       }},
      {"s3_access_key",
       [](Config& c, const std::string& v) -> Result<void> {
         c.s3_access_key = v;
         return ok();
       }},
      {"s3_secret_key",
       [](Config& c, const std::string& v) -> Result<void> {
         c.s3_secret_key = v;
         return ok();
       }},
      {"max_file_bytes",
       whole_number<std::uint64_t>("max_file_bytes", 1, 1ULL << 42,
                                   [](Config& c) -> std::uint64_t& { return c.max_file_bytes; })},
      {"user_quota_bytes",
       whole_number<std::uint64_t>("user_quota_bytes", 0, 1ULL << 50,
                                   [](Config& c) -> std::uint64_t& { return c.user_quota_bytes; })},
      {"upload_ttl_s",
       whole_number<std::int64_t>("upload_ttl_s", 60, 30ULL * 24 * 3600,
                                  [](Config& c) -> std::int64_t& { return c.upload_ttl_s; })},
      {"retention_interval_ms",
       whole_number<std::int64_t>("retention_interval_ms", 100, 7 * 24 * 3'600'000LL,
                                  [](Config& c) -> std::int64_t& {
                                    return c.retention_interval_ms;
                                  })},
      {"analytics_interval_ms",
       whole_number<std::int64_t>("analytics_interval_ms", 100, 24 * 3'600'000LL,
                                  [](Config& c) -> std::int64_t& {
                                    return c.analytics_interval_ms;
                                  })},
      {"analytics_lag_ms",
       whole_number<std::int64_t>("analytics_lag_ms", 0, 3'600'000LL,
                                  [](Config& c) -> std::int64_t& { return c.analytics_lag_ms; })},
      {"clamd",
       [](Config& c, const std::string& v) -> Result<void> {
         c.clamd = v;
         return ok();  // the address is parsed (and rejected) when the scanner is made
       }},
      {"outbound_allow",
       [](Config& c, const std::string& v) -> Result<void> {
         c.outbound_allow = split_list(v);
         return ok();  // each range is parsed (and rejected) at start
       }},
      {"oidc",
       [](Config& c, const std::string& v) -> Result<void> {
         auto p = sso::parse_provider(v);
         if (!p) return fail(p.error());
         for (const auto& q : c.oidc_providers)
           if (q.name == p->name)
             return fail(Errc::invalid_argument, "oidc: provider \"" + p->name + "\" given twice");
         c.oidc_providers.push_back(std::move(*p));
         return ok();
       }},
      {"oidc_admin_group",
       [](Config& c, const std::string& v) -> Result<void> {
         // NAME=GROUP, after that provider's --oidc.
         auto eq = v.find('=');
         if (eq == std::string::npos || eq + 1 == v.size())
           return fail(Errc::invalid_argument, "oidc_admin_group: expected NAME=GROUP");
         std::string name = v.substr(0, eq);
         for (auto& p : c.oidc_providers)
           if (p.name == name) {
             p.admin_group = v.substr(eq + 1);
             return ok();
           }
         return fail(Errc::invalid_argument,
                     "oidc_admin_group: no --oidc provider named \"" + name + "\" (give it first)");
       }},
      {"oidc_username_claim",
       [](Config& c, const std::string& v) -> Result<void> {
         if (v.empty()) return fail(Errc::invalid_argument, "oidc_username_claim: empty");
         c.oidc_username_claim = v;
         return ok();
       }},
      {"oidc_groups_claim",
       [](Config& c, const std::string& v) -> Result<void> {
         if (v.empty()) return fail(Errc::invalid_argument, "oidc_groups_claim: empty");
         c.oidc_groups_claim = v;
         return ok();
       }},
      {"oidc_scopes",
       [](Config& c, const std::string& v) -> Result<void> {
         if (v.find("openid") == std::string::npos)
           return fail(Errc::invalid_argument, "oidc_scopes: must include openid");
         c.oidc_scopes = v;
         return ok();
       }},
      {"disable_password_login",
       [](Config& c, const std::string& v) -> Result<void> {
         auto b = parse_bool(v, "disable_password_login");
         if (!b) return fail(b.error());
         c.password_login = !*b;
         return ok();
       }},
      {"public_url",
       [](Config& c, const std::string& v) -> Result<void> {
         std::string u = v;
         while (!u.empty() && u.back() == '/') u.pop_back();
         if (!u.empty() && u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0)
           return fail(Errc::invalid_argument, "public_url: expected http(s)://HOST[:PORT]");
         if (u.find('/', u.find("//") + 2) != std::string::npos)
           return fail(Errc::invalid_argument, "public_url: no path (scheme://host[:port])");
         c.public_url = u;
         return ok();
       }},
      {"turn_secret",
       [](Config& c, const std::string& v) -> Result<void> {
         c.turn.secret = v;
         return ok();
       }},
      {"turn_urls",
       [](Config& c, const std::string& v) -> Result<void> {
         c.turn.urls = split_list(v);
         return ok();  // checked with the secret at start (calls::validate)
       }},
      {"turn_ttl_s",
       whole_number<std::int64_t>("turn_ttl_s", 60, 7 * 24 * 3600,
                                  [](Config& c) -> std::int64_t& { return c.turn.ttl_s; })},
      {"call_ring_timeout_ms",
       whole_number<std::int64_t>("call_ring_timeout_ms", 1'000, 600'000,
                                  [](Config& c) -> std::int64_t& {
                                    return c.call_ring_timeout_ms;
                                  })},
      {"call_rejoin_grace_ms",
       whole_number<std::int64_t>("call_rejoin_grace_ms", 0, 600'000,
                                  [](Config& c) -> std::int64_t& {
                                    return c.call_rejoin_grace_ms;
                                  })},
      {"janus_url",
       [](Config& c, const std::string& v) -> Result<void> {
         c.janus_url = v;
         return ok();  // checked when the SFU adapter is made
       }},
      {"janus_public_url",
       [](Config& c, const std::string& v) -> Result<void> {
         c.janus_public_url = v;
         return ok();
       }},
      {"janus_admin_key",
       [](Config& c, const std::string& v) -> Result<void> {
         c.janus_admin_key = v;
         return ok();
       }},
      {"janus_recordings",
       [](Config& c, const std::string& v) -> Result<void> {
         c.janus_recordings = v;
         return ok();
       }},
      {"amqp",
       [](Config& c, const std::string& v) -> Result<void> {
         if (!v.empty() && v.rfind("amqp://", 0) != 0)
           return fail(Errc::invalid_argument,
                       "amqp: expected amqp://USER:PASS@HOST:PORT/VHOST (or empty for the outbox)");
         c.amqp = v;
         return ok();
       }},
      {"amqp_queue",
       [](Config& c, const std::string& v) -> Result<void> {
         if (v.empty() || v.size() > 200)
           return fail(Errc::invalid_argument, "amqp_queue: 1 to 200 characters");
         c.amqp_queue = v;
         return ok();
       }},
      {"vapid_subject",
       [](Config& c, const std::string& v) -> Result<void> {
         if (v.rfind("mailto:", 0) != 0 && v.rfind("https://", 0) != 0)
           return fail(Errc::invalid_argument, "vapid_subject: a mailto: or https:// URL");
         c.vapid_subject = v;
         return ok();
       }},
      {"push_delay_ms",
       whole_number<std::int64_t>("push_delay_ms", 0, 3'600'000,
                                  [](Config& c) -> std::int64_t& { return c.push_delay_ms; })},
      {"email_delay_unit_ms",
       whole_number<std::int64_t>("email_delay_unit_ms", 1, 60'000, [](Config& c) -> std::int64_t& {
         return c.email_delay_unit_ms;
       })},
      {"job_workers", whole_number<int>("job_workers", 1, 256,
                                        [](Config& c) -> int& { return c.job_workers; })},
      {"link_previews",
       [](Config& c, const std::string& v) -> Result<void> {
         if (v != "on" && v != "off")
           return fail(Errc::invalid_argument, "link_previews: on or off, got \"" + v + "\"");
         c.link_previews = v == "on";
         return ok();
       }},
      {"smtp",
       [](Config& c, const std::string& v) -> Result<void> {
         if (!v.empty() && v.rfind("smtp://", 0) != 0 && v.rfind("smtps://", 0) != 0)
           return fail(Errc::invalid_argument,
                       "smtp: expected smtp://HOST:PORT or smtps://HOST:PORT, got \"" + v + "\"");
         c.smtp = v;
         return ok();
       }},
      {"smtp_user", plain_string([](Config& c) -> std::string& { return c.smtp_user; })},
      {"smtp_password", plain_string([](Config& c) -> std::string& { return c.smtp_password; })},
      {"smtp_ca_file", plain_string([](Config& c) -> std::string& { return c.smtp_ca_file; })},
      {"mail_from", plain_string([](Config& c) -> std::string& { return c.mail_from; })},
      {"password_reset_ttl_s",
       whole_number<std::int64_t>(
           "password_reset_ttl_s", 1, 24 * 3600,
           [](Config& c) -> std::int64_t& { return c.password_reset_ttl_s; })},
      {"sms_url",
       [](Config& c, const std::string& v) -> Result<void> {
         if (!v.empty() && v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0)
           return fail(Errc::invalid_argument, "sms_url: expected an http(s):// URL");
         c.sms_url = v;
         return ok();
       }},
      {"sms_account", plain_string([](Config& c) -> std::string& { return c.sms_account; })},
      {"sms_token", plain_string([](Config& c) -> std::string& { return c.sms_token; })},
      {"sms_from", plain_string([](Config& c) -> std::string& { return c.sms_from; })},
      {"ai",
       [](Config& c, const std::string& v) -> Result<void> {
         if (v != "on" && v != "off")
           return fail(Errc::invalid_argument, "ai: on or off, got \"" + v + "\"");
         c.ai = v == "on";
         return ok();
       }},
      {"ai_openai_url",
       [](Config& c, const std::string& v) -> Result<void> {
         if (!v.empty() && v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0)
           return fail(Errc::invalid_argument, "ai_openai_url: expected http(s)://host[:port]");
         c.ai_openai_url = v;
         return ok();
       }},
      {"ai_openai_model",
       [](Config& c, const std::string& v) -> Result<void> {
         c.ai_openai_model = v;
         return ok();
       }},
      {"ai_openai_key",
       [](Config& c, const std::string& v) -> Result<void> {
         c.ai_openai_key = v;
         return ok();
       }},
      {"ai_engines",
       [](Config& c, const std::string& v) -> Result<void> {
         static const std::map<std::string, std::vector<std::string>> allowed = {
             {"translate", {"apertium", "openai", "none"}},
             {"replies", {"onprem", "openai", "none"}},
             {"chat", {"openai", "none"}},
             {"transcribe", {"pocketsphinx", "none"}}};
         c.ai_engines.clear();
         for (auto& item : split_list(v)) {
           auto eq = item.find('=');
           auto it = allowed.find(item.substr(0, eq));
           if (eq == std::string::npos || it == allowed.end())
             return fail(Errc::invalid_argument, "ai_engines: unknown capability in \"" + item +
                                                     "\" (translate, replies, chat, transcribe)");
           auto engine = item.substr(eq + 1);
           if (std::find(it->second.begin(), it->second.end(), engine) == it->second.end())
             return fail(Errc::invalid_argument,
                         "ai_engines: no engine \"" + engine + "\" for " + it->first);
           c.ai_engines.emplace_back(it->first, engine);
         }
         return ok();
       }},
      {"ai_quotas",
       [](Config& c, const std::string& v) -> Result<void> {
         // user=BURST/PERIOD,server=BURST/PERIOD
         for (auto& item : split_list(v)) {
           auto eq = item.find('=');
           auto name = item.substr(0, eq);
           if (eq == std::string::npos || (name != "user" && name != "server"))
             return fail(Errc::invalid_argument, "ai_quotas: unknown quota \"" + item + "\"");
           auto p = parse_policy(item.substr(eq + 1), "ai_quotas " + name);
           if (!p) return fail(p.error());
           (name == "user" ? c.ai_user_quota : c.ai_server_quota) = *p;
         }
         return ok();
       }},
      {"ai_timeout_ms",
       whole_number<std::int64_t>("ai_timeout_ms", 100, 600'000,
                                  [](Config& c) -> std::int64_t& { return c.ai_timeout_ms; })},
      {"allowed_origins",
       [](Config& c, const std::string& v) -> Result<void> {
         c.sockets.allowed_origins.clear();
         for (auto& item : split_list(v)) {
           if (item != "*" && item.rfind("http://", 0) != 0 && item.rfind("https://", 0) != 0)
             return fail(Errc::invalid_argument,
                         "allowed_origins: expected scheme://host[:port] or *, got \"" + item +
                             "\"");
           c.sockets.allowed_origins.push_back(std::move(item));
         }
         return ok();
       }},
      {"trusted_proxies",
       [](Config& c, const std::string& v) -> Result<void> {
         c.trusted_proxies = split_list(v);
         return ok();  // each entry is parsed (and rejected) by api at start
       }},
      {"rate_limits",
       [](Config& c, const std::string& v) -> Result<void> {
         // NAME=BURST/PERIOD,... e.g. "login_per_account=5/1m,register_per_ip=100/1m"
         std::map<std::string, ratelimit::Policy*> named = {
             {"register_per_ip", &c.rate_limits.register_per_ip},
             {"login_per_ip", &c.rate_limits.login_per_ip},
             {"login_per_account", &c.rate_limits.login_per_account},
             {"refresh_per_ip", &c.rate_limits.refresh_per_ip},
             {"totp_per_account", &c.rate_limits.totp_per_account},
             {"ws_frames_per_user", &c.rate_limits.ws_frames_per_user},
             {"messages_per_user", &c.rate_limits.messages_per_user},
             {"mutations_per_user", &c.rate_limits.mutations_per_user},
             {"conversations_per_user", &c.rate_limits.conversations_per_user},
             {"search_per_user", &c.rate_limits.search_per_user},
             {"email_per_ip", &c.rate_limits.email_per_ip},
             {"email_per_address", &c.rate_limits.email_per_address},
             {"sms_per_user", &c.rate_limits.sms_per_user},
             {"webhooks_per_ip", &c.rate_limits.webhooks_per_ip}};
         std::size_t start = 0;
         while (start < v.size()) {
           auto comma = v.find(',', start);
           if (comma == std::string::npos) comma = v.size();
           std::string item(text::trim(std::string_view(v).substr(start, comma - start)));
           start = comma + 1;
           if (item.empty()) continue;
           auto eq = item.find('=');
           auto it = named.find(item.substr(0, eq));
           if (eq == std::string::npos || it == named.end())
             return fail(Errc::invalid_argument, "rate_limits: unknown limit \"" + item + "\"");
           auto p = parse_policy(item.substr(eq + 1), "rate_limits " + it->first);
           if (!p) return fail(p.error());
           *it->second = *p;
         }
         return ok();
       }},
  };
  return s;
}

Result<void> apply(Config& c, const std::string& key, const std::string& value,
                   const std::string& where) {
  auto it = setters().find(key);
  if (it == setters().end())
    return fail(Errc::invalid_argument, where + ": unknown setting \"" + key + "\"");
  auto r = it->second(c, value);
  if (!r) return fail(Errc::invalid_argument, where + ": " + r.error().message);
  return ok();
}

Result<void> load_file(Config& c, const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail(Errc::invalid_argument, "cannot read config file " + path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::string_view t = text::trim(line);
    if (t.empty() || t.front() == '#') continue;
    auto eq = t.find('=');
    std::string where = path + ":" + std::to_string(n);
    if (eq == std::string_view::npos)
      return fail(Errc::invalid_argument, where + ": expected key = value");
    std::string key(text::trim(t.substr(0, eq)));
    std::string value(text::trim(t.substr(eq + 1)));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (auto r = apply(c, key, value, where); !r) return r;
  }
  return ok();
}

// "--data-dir" -> "data_dir"
std::string flag_key(std::string_view flag) {
  std::string k(flag.substr(2));
  for (char& ch : k)
    if (ch == '-') ch = '_';
  return k;
}

}  // namespace

std::string default_web_root() {
#ifdef PARLEY_WEB_ROOT_DEFAULT
  std::error_code ec;
  if (std::filesystem::is_regular_file(PARLEY_WEB_ROOT_DEFAULT "/index.html", ec))
    return PARLEY_WEB_ROOT_DEFAULT;
#endif
  return "";
}

Result<Config> load_config(const std::vector<std::string>& args, char** envp) {
  Config c;
  // Pair up flags first so --config is known before anything is applied.
  std::vector<std::pair<std::string, std::string>> flags;
  std::string config_file;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) != 0 || a.size() < 3)
      return fail(Errc::invalid_argument, "unexpected argument \"" + a + "\" (see parley --help)");
    std::string key, value;
    auto eq = a.find('=');
    if (eq != std::string::npos) {
      key = flag_key(a.substr(0, eq));
      value = a.substr(eq + 1);
    } else {
      key = flag_key(a);
      // A switch: --disable-password-login alone means true.
      if (key == "disable_password_login" &&
          (i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0)) {
        flags.emplace_back(key, "true");
        continue;
      }
      if (i + 1 >= args.size())
        return fail(Errc::invalid_argument, a + " needs a value (see parley --help)");
      value = args[++i];
    }
    if (key == "config")
      config_file = value;
    else
      flags.emplace_back(key, value);
  }
  struct EnvSetting {
    std::string name, key, value;
  };
  std::vector<EnvSetting> env;
  for (char** e = envp; e && *e; ++e) {
    std::string_view kv(*e);
    // PARLEY_TEST_* belong to the test suites (engines they started), not to the server.
    if (kv.rfind("PARLEY_", 0) != 0 || kv.rfind("PARLEY_TEST_", 0) == 0) continue;
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    std::string key = text::ascii_lower(kv.substr(7, eq - 7));
    std::string value(kv.substr(eq + 1));
    if (key == "config") {
      if (config_file.empty()) config_file = value;
    } else {
      env.push_back({std::string(kv.substr(0, eq)), key, value});
    }
  }
  if (!config_file.empty())
    if (auto r = load_file(c, config_file); !r) return fail(r.error());
  for (const auto& e : env)
    if (auto r = apply(c, e.key, e.value, "environment " + e.name); !r) return fail(r.error());
  for (const auto& [k, v] : flags)
    if (auto r = apply(c, k, v, "--" + k); !r) return fail(r.error());
  return c;
}

const char* usage() {
  return R"(parley: a self-hosted communication server

Usage:
  parley serve [options]     run the server (API, WebSocket and, later, the web app)
  parley routes [options]    print the HTTP routes `serve` would answer ("METHOD PATTERN")
  parley storage copy --to s3://BUCKET?endpoint=URL&region=R [options]
                             copy this node's files (DATA_DIR/files/objects) to S3, skipping
                             what S3 already holds with the same size (run it again to resume);
                             local files are kept, unfinished uploads are not copied. Reads
                             --data-dir, the S3 keys and --config like serve; files over
                             --part-threshold-bytes N (default 67108864) go up in parts
                             (docs/files-migration.md)
  parley backup --data-dir DIR --out DIR2
                             a consistent copy of the embedded store (safe while the server
                             runs): DIR2/parley.db and, for --storage local, DIR2/files/objects
  parley admin grant|revoke USERNAME [--data-dir DIR | --database URL]
                             give or take the system-admin role (the first account has it);
                             safe while the server runs; refuses to remove the last admin
  parley restore --data-dir DIR --in DIR2 [--force]
                             put a backup in place; refuses a data dir that has a database
                             (unless --force) or that a running server holds
  parley version             print the version
  parley --help              this text

Options (also as PARLEY_<NAME> environment variables and "name = value" lines in a file
given with --config FILE; flags win over the environment, which wins over the file):
  --listen HOST:PORT         address to serve on (default 127.0.0.1:8080; port 0 picks one)
  --metrics-listen HOST:PORT serve /metrics (Prometheus) on this address instead of --listen
                             (default: on --listen; port 0 picks one)
  --otlp-endpoint URL        export trace spans with OTLP/HTTP JSON to URL/v1/traces (an
                             OpenTelemetry collector, Jaeger, Tempo; default: no tracing)
  --trace-sample-ratio R     share of new traces recorded, 0 to 1 (default 0.01 with an
                             endpoint); a caller's sampled traceparent flag is honoured
  --drain-delay-ms N         after SIGTERM, keep accepting this long while readiness answers
                             503 (default 0); WebSockets get close 1012 at once
  --data-dir DIR             where the database and keys live (default ./data)
  --log-format text|json     log lines as text or JSON lines (default text)
  --log-level LEVEL          debug, info, warn or error (default info)
  --access-log true|false    one log line per HTTP request (default true)
  --io-threads N             I/O threads, 0 = one per core (default 0)
  --workers N                threads for storage and hashing, 0 = 4 per core, at least 32
  --max-body-bytes N         largest request body accepted (default 1048576)
  --database URL             postgres://USER@HOST:PORT/DB to share state between nodes
                             (default: SQLite in the data directory)
  --redis URL                redis://HOST:PORT for cross-node events and shared rate limits
                             (default: in-process, one node)
  --node-id NAME             this node's name on the Redis bus (default: host name and port)
  --presence-grace-ms N      how long a user stays online after their last socket closes
                             (default 30000)
  --web-root DIR             the web app to serve at / ("" = API only; default: the
                             source tree's web/dist when built)
  --trusted-proxies LIST     comma-separated addresses/CIDRs whose X-Forwarded-For is believed
  --allowed-origins LIST     origins (scheme://host[:port], or *) that may open WebSockets
                             besides the server's own (default: none)
  --max-sockets-per-user N   WebSockets per account on this node; a new one past it closes the
                             oldest with 4009 (default 20)
  --max-sockets-per-address N  WebSockets from one client address (default 500; 429 past it)
  --max-connections N        HTTP and WebSocket connections open at once (default 50000)
  --session-ttl-s N          a session ends this long after its last refresh (default 2592000)
  --storage local|s3://BUCKET?endpoint=URL&region=R
                             where file bytes live (default local: DATA_DIR/files); S3 keys from
                             PARLEY_S3_ACCESS_KEY and PARLEY_S3_SECRET_KEY
  --s3-access-key KEY, --s3-secret-key KEY  the S3 key pair, as flags or in the config file
  --max-file-bytes N         largest file an upload may have (default 104857600)
  --user-quota-bytes N       bytes of files one user may hold (default 10737418240)
  --upload-ttl-s N           unfinished uploads are removed this long after their last byte
                             (default 86400)
  --retention-interval-ms N  how often retention policies are applied (default 3600000)
  --analytics-interval-ms N  how often the usage rollups catch up (default 60000)
  --analytics-lag-ms N       rows younger than this wait for the next rollup (default 60000)
  --clamd ADDRESS            scan every file with clamd at a socket path or HOST:PORT (off)
  --outbound-allow CIDR,...  private or loopback ranges outbound requests may reach anyway
  --link-previews on|off     unfurl links in messages (default on)
  --oidc NAME=ISSUER_URL,CLIENT_ID[,CLIENT_SECRET]
                             an OpenID Connect provider for single sign-on (repeatable; the
                             redirect URI to register is PUBLIC_URL/api/v1/auth/oidc/NAME/callback;
                             a private or loopback issuer needs --outbound-allow; docs/sso.md)
  --oidc-admin-group NAME=GROUP  members of GROUP (groups claim) at provider NAME become admins
  --oidc-username-claim CLAIM  the claim new accounts' usernames come from
                             (default preferred_username, then email)
  --oidc-groups-claim CLAIM  the claim listing the user's groups (default groups)
  --oidc-scopes "S ..."      scopes asked for (default "openid profile email")
  --disable-password-login [true|false]  only single sign-on: password sign-in and registration
                             answer 403 password_login_disabled (default false)
  --public-url URL           scheme://host[:port] browsers reach this server at: the SSO
                             callback and the links in mail and texts (default: the request's
                             Host header over http for SSO, http://HOST:PORT of --listen in mail)
  --smtp URL                 send mail (address verification, password reset) through
                             smtp://HOST:PORT (STARTTLS when offered; required with a login) or
                             smtps://HOST:PORT (implicit TLS); login from PARLEY_SMTP_USER and
                             PARLEY_SMTP_PASSWORD (default: no mail)
  --smtp-ca-file FILE        trust this CA for the SMTP server's certificate (default: system)
  --mail-from ADDRESS        the sender of every mail (needed with --smtp)
  --password-reset-ttl-s N   how long a mailed password reset link works (default 1800)
  --sms-url URL              send texts (phone verification, notifications) with a form POST
                             to this provider URL ("{account}" is replaced by the account id),
                             through the outbound client (--outbound-allow for a private one);
                             account from PARLEY_SMS_ACCOUNT and PARLEY_SMS_TOKEN (default: none)
  --sms-from NUMBER          the sending number or sender id (needed with --sms-url)
  --turn-secret S            coturn's static-auth-secret: call clients get TURN credentials
                             (TURN REST scheme) for --turn-urls
  --turn-urls URL,...        turn:HOST:PORT, turns:..., stun:HOST:PORT handed to call clients
  --turn-ttl-s N             how long TURN credentials stay good (default 3600)
  --call-ring-timeout-ms N   how long a call rings before it is missed (default 45000)
  --call-rejoin-grace-ms N   how long a participant whose sockets dropped stays in a call,
                             so a reload rejoins it (default 30000)
  --calls-node NODE          with several nodes: the --node-id of the node that holds every
                             call; the others forward call frames to it over Redis
                             (default: each node holds the calls started on it)
  --janus-url URL            Janus's HTTP API (http://127.0.0.1:8088/janus): group and channel
                             calls go through its VideoRoom (default: every call peer to peer)
  --janus-public-url URL     Janus's API as browsers reach it (default: --janus-url)
  --janus-admin-key K        the VideoRoom's admin_key (PARLEY_JANUS_ADMIN_KEY)
  --janus-recordings DIR     where Janus writes recordings, readable here: moderators may
                             record group calls (default: no recording)
  --ai on|off                AI features on the premises (default on; docs/ai.md)
  --ai-openai-url URL        an OpenAI-compatible endpoint (off by default: without it no
                             message text leaves the machine); key from PARLEY_AI_OPENAI_KEY
  --ai-openai-model M        the model asked for at that endpoint
  --ai-engines CAP=ENGINE,.. translate=apertium|openai|none, replies=onprem|openai|none,
                             chat=openai|none, transcribe=pocketsphinx|none (defaults:
                             apertium, onprem, openai when set, pocketsphinx)
  --ai-quotas user=B/P,server=B/P  AI jobs per user and per server (default user=20/3s,
                             server=200/100ms); over them: 429
  --ai-timeout-ms N          time limit of one AI job (default 15000)
  --amqp URL                 amqp://USER:PASS@HOST:PORT/VHOST: notification jobs go through
                             RabbitMQ (default: the outbox table in the main store)
  --amqp-queue NAME           the exchange and queue names on the broker: NAME, NAME.retry.N,
                             NAME.dead (default parley.jobs; one per deployment sharing a broker)
  --job-workers N            threads running jobs such as push deliveries (default 4)
  --push-delay-ms N          wait this long before a push, so that reading the message on
                             another device meanwhile cancels it (default 0)
  --email-delay-unit-ms N    the length of one "minute" of email_delay_minutes (default 60000;
                             tests only: a small value makes digest mails due in seconds)
  --vapid-subject URL        mailto: or https:// contact sent to push services with VAPID
                             (default mailto:parley@localhost); the key is DATA_DIR/vapid.pem
  --rate-limits LIST         NAME=BURST/PERIOD,... to override: register_per_ip (10/10m),
                             login_per_ip (30/1m), login_per_account (10/5m, per account
                             and address together), refresh_per_ip (60/1m),
                             totp_per_account (5/150s), ws_frames_per_user (200/2s),
                             messages_per_user (50/10s), mutations_per_user (100/10s),
                             conversations_per_user (20/10m), search_per_user (30/1m),
                             email_per_ip (10/10m), email_per_address (3/1h),
                             sms_per_user (5/1h), webhooks_per_ip (60/1m)
)";
}

}  // namespace parley::app
