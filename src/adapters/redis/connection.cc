#include "connection.h"

#include <sys/time.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <random>
#include <vector>

namespace parley::redis {
namespace {

timeval to_timeval(Millis ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

bool valid_port(std::string_view s, int& out) {
  if (s.empty() || s.size() > 5) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out >= 1 && out <= 65535;
}

}  // namespace

Result<Endpoint> parse_url(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return fail(Errc::invalid_argument,
                "redis url: " + std::string(why) +
                    " (expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB])");
  };
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) return bad("must start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  Endpoint e;

  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = cred.find(':');
    if (colon == std::string_view::npos) return bad("credentials need USER:PASSWORD or :PASSWORD");
    e.user = std::string(cred.substr(0, colon));
    e.password = std::string(cred.substr(colon + 1));
    if (e.password.empty()) return bad("empty password");
  }

  std::string_view hostport = rest;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), e.db);
      if (ec != std::errc() || p != db.data() + db.size() || e.db < 0 || e.db > 1'000'000)
        return bad("database must be a number");
    }
  }
  if (hostport.find_first_of("?#") != std::string_view::npos) return bad("no query or fragment");

  std::string_view port;
  if (!hostport.empty() && hostport.front() == '[') {
    auto close = hostport.find(']');
    if (close == std::string_view::npos) return bad("unclosed [ in host");
    e.host = std::string(hostport.substr(1, close - 1));
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("garbage after ]");
      port = after.substr(1);
      if (port.empty()) return bad("empty port");
    }
  } else {
    auto colon = hostport.find(':');
    e.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = hostport.substr(colon + 1);
      if (port.empty()) return bad("empty port");
    }
  }
  if (e.host.empty()) return bad("missing host");
  for (char ch : e.host)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == ':' ||
          ch == '_'))
      return bad("bad character in host");
  if (!port.empty() && !valid_port(port, e.port)) return bad("port must be 1-65535");
  return e;
}

Result<void> ping(const std::string& url, Millis timeout_ms) {
  auto e = parse_url(url);
  if (!e) return fail(e.error());
  auto c = connect(*e, timeout_ms, timeout_ms);
  if (!c) return fail(c.error());
  auto r = command(c->get(), {"PING"});
  if (!r || r->type == REDIS_REPLY_ERROR)
    return fail(Errc::unavailable, "redis PING: " + error_text(c->get(), r.get()));
  return ok();
}

std::string describe(const Endpoint& e) {
  std::string host = e.host.find(':') != std::string::npos ? "[" + e.host + "]" : e.host;
  return "redis://" + host + ":" + std::to_string(e.port) + "/" + std::to_string(e.db);
}

Result<Context> connect(const Endpoint& e, Millis connect_timeout_ms, Millis io_timeout_ms) {
  Context c(redisConnectWithTimeout(e.host.c_str(), e.port, to_timeval(connect_timeout_ms)));
  if (!c) return fail(Errc::unavailable, describe(e) + ": out of memory");
  if (c->err) return fail(Errc::unavailable, describe(e) + ": " + c->errstr);
  redisSetTimeout(c.get(), to_timeval(io_timeout_ms));
  redisEnableKeepAlive(c.get());
  if (!e.password.empty()) {
    Reply r = e.user.empty() ? command(c.get(), {"AUTH", e.password})
                             : command(c.get(), {"AUTH", e.user, e.password});
    if (!r || r->type == REDIS_REPLY_ERROR)
      return fail(Errc::unavailable, describe(e) + ": AUTH: " + error_text(c.get(), r.get()));
  }
  if (e.db != 0) {
    std::string db = std::to_string(e.db);
    Reply r = command(c.get(), {"SELECT", db});
    if (!r || r->type == REDIS_REPLY_ERROR)
      return fail(Errc::unavailable, describe(e) + ": SELECT: " + error_text(c.get(), r.get()));
  }
  return c;
}

namespace {

template <class F>
auto with_argv(std::initializer_list<std::string_view> args, F&& f) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (auto a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return f(static_cast<int>(argv.size()), argv.data(), lens.data());
}

}  // namespace

Reply command(redisContext* c, std::initializer_list<std::string_view> args) {
  return with_argv(args, [&](int argc, const char** argv, const std::size_t* lens) {
    return Reply(static_cast<redisReply*>(redisCommandArgv(c, argc, argv, lens)));
  });
}

Reply command(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

bool append(redisContext* c, std::initializer_list<std::string_view> args) {
  return with_argv(args, [&](int argc, const char** argv, const std::size_t* lens) {
    return redisAppendCommandArgv(c, argc, argv, lens) == REDIS_OK;
  });
}

std::string error_text(redisContext* c, const redisReply* r) {
  if (r && r->type == REDIS_REPLY_ERROR) return std::string(r->str, r->len);
  if (c && c->err) return c->errstr;
  return "unexpected reply";
}

Pool::Pool(Endpoint endpoint, int max_connections, Millis connect_timeout_ms, Millis io_timeout_ms,
           std::vector<std::string_view> scripts)
    : endpoint_(std::move(endpoint)),
      max_(std::max(1, max_connections)),
      connect_timeout_ms_(connect_timeout_ms),
      io_timeout_ms_(io_timeout_ms),
      scripts_(std::move(scripts)) {}

Result<Pool::Conn> Pool::open() const {
  auto c = connect(endpoint_, connect_timeout_ms_, io_timeout_ms_);
  if (!c) return fail(c.error());
  Conn conn{std::move(*c), {}};
  for (auto script : scripts_) {
    Reply r = command(conn.ctx.get(), {"SCRIPT", "LOAD", script});
    if (!r || r->type != REDIS_REPLY_STRING)
      return fail(Errc::unavailable,
                  describe(endpoint_) + ": SCRIPT LOAD: " + error_text(conn.ctx.get(), r.get()));
    conn.shas.emplace_back(r->str, r->len);
  }
  return conn;
}

Result<Pool::Conn> Pool::acquire() {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, std::chrono::milliseconds(io_timeout_ms_),
                    [&] { return !idle_.empty() || open_ < max_; }))
    return fail(Errc::resource_exhausted, describe(endpoint_) + ": every connection busy");
  if (!idle_.empty()) {
    Conn c = std::move(idle_.back());
    idle_.pop_back();
    return c;
  }
  ++open_;
  lock.unlock();
  auto c = open();
  if (!c) {
    lock.lock();
    --open_;
    cv_.notify_one();
  }
  return c;
}

void Pool::release(Conn c) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(c));
  }
  cv_.notify_one();
}

void Pool::discard() {
  {
    std::lock_guard lock(mu_);
    open_ -= 1 + static_cast<int>(idle_.size());
    idle_.clear();
  }
  cv_.notify_all();
}

Reply Pool::run_script(Conn& c, std::size_t index, const std::vector<std::string>& keys,
                       const std::vector<std::string>& args) const {
  auto call = [&](std::string_view verb, std::string_view body) {
    std::vector<std::string> argv;
    argv.reserve(3 + keys.size() + args.size());
    argv.emplace_back(verb);
    argv.emplace_back(body);
    argv.push_back(std::to_string(keys.size()));
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return command(c.ctx.get(), argv);
  };
  Reply r = call("EVALSHA", c.shas.at(index));
  if (r && r->type == REDIS_REPLY_ERROR &&
      std::string_view(r->str, r->len).substr(0, 8) == "NOSCRIPT")
    r = call("EVAL", scripts_.at(index));
  return r;
}

std::chrono::milliseconds Backoff::next() {
  thread_local std::minstd_rand rng{std::random_device{}()};
  Millis base = next_;
  next_ = std::min(max_, next_ * 2);
  Millis jitter =
      base / 4 > 0 ? static_cast<Millis>(rng() % static_cast<unsigned>(base / 4 + 1)) : 0;
  return std::chrono::milliseconds(base + jitter);
}

}  // namespace parley::redis
