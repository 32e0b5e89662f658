#include "harness.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>

#ifndef PARLEY_BINARY
#error "PARLEY_BINARY must name the parley executable"
#endif

namespace parley::itest {

namespace {

std::string make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "parley-it-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

std::mt19937_64& rng() {
  static std::mt19937_64 g{std::random_device{}()};
  return g;
}

std::string random_chars(std::size_t n) {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += kChars[rng()() % (sizeof kChars - 1)];
  return out;
}

}  // namespace

// ---- ServerProcess ----

ServerProcess::ServerProcess(std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)), data_dir_(make_temp_dir()) {}

ServerProcess::~ServerProcess() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(data_dir_, ec);
}

std::string ServerProcess::start() {
  if (running()) return "already running";
  support::LaunchOptions o;
  o.argv = {PARLEY_BINARY, "serve",   "--listen",     "127.0.0.1:0",
            "--data-dir",  data_dir_, "--log-format", "text"};
  o.argv.insert(o.argv.end(), extra_args_.begin(), extra_args_.end());
  const std::size_t offset = process_.output_size();
  if (auto err = process_.start(std::move(o)); !err.empty()) return err;
  port_ = 0;
  if (auto port = process_.wait_for_port(10s)) {
    port_ = *port;
    return {};
  }
  const bool ended = process_.output_ended();
  auto status = stop(1s);
  std::string why = ended ? "the server exited before listening" : "no listening line in 10 s";
  if (status && WIFEXITED(*status))
    why += " (exit status " + std::to_string(WEXITSTATUS(*status)) + ")";
  return why + "; output:\n" + process_.output_since(offset);
}

std::optional<int> ServerProcess::stop(std::chrono::milliseconds grace) {
  return process_.stop(grace);
}

std::string ServerProcess::restart() {
  stop();
  return start();
}

// ---- the command line ----

CommandRun run_parley(const std::string& args) {
  CommandRun r;
  // The server refuses unknown PARLEY_* variables; `make test` exports PARLEY_TEST_*_URL for the
  // tests themselves, so they are left out of the server's environment.
  std::string cmd = "env";
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    if (kv.rfind("PARLEY_TEST_", 0) == 0) cmd += " -u " + std::string(kv.substr(0, kv.find('=')));
  }
  cmd += " " + std::string(PARLEY_BINARY) + " " + args + " 2>&1 </dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

std::set<std::string> parley_route_table() {
  ServerProcess scratch;  // not started: only its throw-away data folder
  auto run = run_parley("routes --data-dir '" + scratch.data_dir() + "' --web-root ''");
  if (run.exit_code != 0) throw std::runtime_error("parley routes failed: " + run.output);
  std::set<std::string> out;
  std::istringstream lines(run.output);
  std::string line;
  while (std::getline(lines, line)) {
    // Log lines share the stream; route lines are "METHOD /pattern".
    auto sp = line.find(' ');
    if (sp == 0 || sp == std::string::npos || sp + 1 >= line.size() || line[sp + 1] != '/')
      continue;
    if (line.substr(0, sp).find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos)
      continue;
    out.insert(line);
  }
  return out;
}

// ---- Reply ----

std::string Reply::header(std::string_view name) const {
  for (const auto& h : headers)
    if (h.name.size() == name.size() && ::strncasecmp(h.name.data(), name.data(), name.size()) == 0)
      return h.value;
  return {};
}

bool Reply::has_header(std::string_view name) const {
  for (const auto& h : headers)
    if (h.name.size() == name.size() && ::strncasecmp(h.name.data(), name.data(), name.size()) == 0)
      return true;
  return false;
}

namespace {
std::string error_part(const boost::json::value& v, std::string_view key) {
  if (!v.is_object()) return {};
  auto e = v.get_object().find("error");
  if (e == v.get_object().end() || !e->value().is_object()) return {};
  auto f = e->value().get_object().find(key);
  if (f == e->value().get_object().end() || !f->value().is_string()) return {};
  return std::string(f->value().get_string());
}
}  // namespace

std::string Reply::error_code() const { return error_part(json, "code"); }
std::string Reply::error_message() const { return error_part(json, "message"); }
std::string Reply::error_field() const { return error_part(json, "field"); }

std::string Reply::body_without_request_id() const {
  if (!json.is_object()) return body;
  auto copy = json;
  auto* err = copy.as_object().if_contains("error");
  if (!err || !err->is_object()) return body;
  err->as_object().erase("request_id");
  return boost::json::serialize(copy);
}

std::string Reply::str(std::string_view key) const {
  if (!json.is_object()) return {};
  auto it = json.get_object().find(key);
  if (it == json.get_object().end() || !it->value().is_string()) return {};
  return std::string(it->value().get_string());
}

const boost::json::object& Reply::obj() const {
  if (!json.is_object())
    throw std::runtime_error("expected a JSON object body, got: " + body.substr(0, 300));
  return json.get_object();
}

std::ostream& operator<<(std::ostream& os, const Reply& r) {
  os << "HTTP " << r.status << " "
     << (r.body.size() > 600 ? r.body.substr(0, 600) + "..." : r.body);
  return os;
}

// ---- Api ----

Api::Api(std::uint16_t port, std::chrono::milliseconds timeout)
    : http_("127.0.0.1", port, timeout) {}

Reply Api::call(std::string_view method, std::string_view target, std::string_view body,
                std::string_view token, std::vector<net::Header> headers) {
  if (!token.empty()) headers.push_back({"Authorization", "Bearer " + std::string(token)});
  auto r = http_.request(method, target, body, headers);
  Reply out;
  if (!r) {
    out.body = "request failed: " + r.error().message;
    return out;
  }
  out.status = r->status;
  out.body = std::move(r->body);
  out.headers = std::move(r->headers);
  boost::system::error_code ec;
  auto v = boost::json::parse(out.body, ec);
  if (!ec) out.json = std::move(v);
  return out;
}

Reply Api::get(std::string_view target, std::string_view token) {
  return call("GET", target, {}, token);
}

Reply Api::post(std::string_view target, std::string_view body, std::string_view token) {
  return call("POST", target, body, token);
}

Reply Api::post(std::string_view target, const boost::json::value& body, std::string_view token) {
  return call("POST", target, boost::json::serialize(body), token);
}

Reply Api::patch(std::string_view target, const boost::json::value& body, std::string_view token) {
  return call("PATCH", target, boost::json::serialize(body), token);
}

Reply Api::del(std::string_view target, std::string_view token) {
  return call("DELETE", target, {}, token);
}

// ---- accounts ----

std::optional<double> metric_value(Api& api, std::string_view series) {
  auto r = api.get("/metrics");
  if (r.status != 200) return std::nullopt;
  const std::string line = "\n" + std::string(series) + " ";
  auto at = r.body.find(line);
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(r.body.c_str() + at + line.size(), nullptr);
}

std::string unique_name(std::string_view tag) {
  static std::atomic<unsigned> counter{0};
  std::string t(tag.substr(0, 12));
  return t + "_" + random_chars(6) + std::to_string(++counter);
}

Account register_account(Api& api, std::string_view tag, std::string_view device) {
  Account a;
  a.username = unique_name(tag);
  a.password = "pw-" + random_chars(12) + "-secret";
  boost::json::object body{{"username", a.username}, {"password", a.password}};
  if (!device.empty()) body["device_name"] = device;
  auto r = api.post("/api/v1/auth/register", body);
  if (r.status != 201 || !r.json.is_object())
    throw std::runtime_error("register " + a.username + ": HTTP " + std::to_string(r.status) + " " +
                             r.body);
  a.access = r.str("access_token");
  a.refresh = r.str("refresh_token");
  const auto& user = r.obj().at("user").as_object();
  a.id = std::string(user.at("id").as_string());
  return a;
}

Account login_account(Api& api, const Account& a, std::string_view device) {
  boost::json::object body{{"username", a.username}, {"password", a.password}};
  if (!device.empty()) body["device_name"] = device;
  auto r = api.post("/api/v1/auth/login", body);
  if (r.status != 200 || !r.json.is_object())
    throw std::runtime_error("login " + a.username + ": HTTP " + std::to_string(r.status) + " " +
                             r.body);
  Account out = a;
  out.access = r.str("access_token");
  out.refresh = r.str("refresh_token");
  return out;
}

// ---- TOTP ----

std::optional<std::string> base32_decode(std::string_view text) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') continue;
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a';
    } else if (c >= '2' && c <= '7') {
      v = c - '2' + 26;
    } else {
      return std::nullopt;
    }
    buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out += static_cast<char>((buffer >> (bits - 8)) & 0xFF);
      bits -= 8;
    }
  }
  return out;
}

std::string hotp_sha1(std::string_view key, std::uint64_t counter) {
  unsigned char msg[8];
  for (int i = 7; i >= 0; --i) {
    msg[i] = static_cast<unsigned char>(counter & 0xFF);
    counter >>= 8;
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), msg, sizeof msg, mac, &len) ||
      len != 20)
    throw std::runtime_error("HMAC-SHA1 failed");
  int off = mac[19] & 0x0F;
  std::uint32_t bin = ((mac[off] & 0x7Fu) << 24) |
                      (static_cast<std::uint32_t>(mac[off + 1]) << 16) |
                      (static_cast<std::uint32_t>(mac[off + 2]) << 8) | mac[off + 3];
  char out[7];
  std::snprintf(out, sizeof out, "%06u", bin % 1'000'000u);
  return out;
}

std::int64_t totp_step_now() {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  return secs / 30;
}

Authenticator::Authenticator(std::string_view base32_secret) {
  auto k = base32_decode(base32_secret);
  if (!k || k->empty()) throw std::runtime_error("TOTP secret is not base32");
  key_ = *k;
}

std::string Authenticator::next_code() {
  // Steps at or after now stay valid when the clock moves on during the request; now-1 might not.
  for (int waits = 0; waits < 3; ++waits) {
    std::int64_t now = totp_step_now();
    std::int64_t step = std::max(last_step_ + 1, now);
    if (step <= now + 1) {
      last_step_ = step;
      return hotp_sha1(key_, static_cast<std::uint64_t>(step));
    }
    auto next = std::chrono::system_clock::time_point(std::chrono::seconds((now + 1) * 30));
    std::this_thread::sleep_until(next + 50ms);
  }
  throw std::runtime_error("TOTP clock did not advance");
}

std::string Authenticator::wrong_code() const {
  std::set<std::string> valid;
  std::int64_t now = totp_step_now();
  for (std::int64_t s = now - 2; s <= now + 2; ++s)
    valid.insert(hotp_sha1(key_, static_cast<std::uint64_t>(s)));
  for (unsigned c = 123456;; c = (c + 1) % 1'000'000) {
    char buf[7];
    std::snprintf(buf, sizeof buf, "%06u", c);
    if (!valid.count(buf)) return buf;
  }
}

// ---- WebSocket ----

std::unique_ptr<net::WsClient> ws_connect(std::uint16_t port) {
  auto c = net::WsClient::connect("127.0.0.1", port);
  if (!c) throw std::runtime_error("websocket connect: " + c.error().message);
  return std::move(*c);
}

boost::json::object ws_read(net::WsClient& ws, std::chrono::milliseconds timeout) {
  auto r = ws.read_text(timeout);
  if (!r) {
    std::string why = "no WebSocket frame: " + r.error().message;
    if (ws.close_code()) why += " (close code " + std::to_string(*ws.close_code()) + ")";
    throw std::runtime_error(why);
  }
  boost::system::error_code ec;
  auto v = boost::json::parse(*r, ec);
  if (ec || !v.is_object()) throw std::runtime_error("WebSocket frame is not a JSON object: " + *r);
  return std::move(v.get_object());
}

std::unique_ptr<net::WsClient> ws_ready(std::uint16_t port, std::string_view token,
                                        boost::json::object* ready) {
  auto ws = ws_connect(port);
  auto sent = ws->send_text(
      boost::json::serialize(boost::json::object{{"type", "hello"}, {"token", token}}));
  if (!sent) throw std::runtime_error("send hello: " + sent.error().message);
  auto frame = ws_read(*ws);
  if (frame["type"] != "ready")
    throw std::runtime_error("expected ready, got " + boost::json::serialize(frame));
  if (ready) *ready = frame;
  return ws;
}

std::optional<int> ws_wait_close(net::WsClient& ws, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (ws.close_code()) return ws.close_code();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms) return std::nullopt;
    auto r = ws.read_text(left);
    if (!r) return ws.close_code();  // nullopt: timed out, still open
  }
}

// ---- fixtures ----

std::unique_ptr<ServerProcess> SharedServerTest::server_;
std::string SharedServerTest::start_error_;

void SharedServerTest::start_shared(std::vector<std::string> extra_args) {
  std::vector<std::string> args = {"--rate-limits", kGenerousLimits};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  server_ = std::make_unique<ServerProcess>(std::move(args));
  start_error_ = server_->start();
}

void SharedServerTest::TearDownTestSuite() { server_.reset(); }

void SharedServerTest::SetUp() {
  ASSERT_TRUE(server_ && start_error_.empty()) << "server did not start: " << start_error_;
  ASSERT_TRUE(server_->running()) << "the shared server is gone; output:\n" << server_->logs();
  if (auto status = server_->wait_exit(0ms))
    FAIL() << "the shared server died (wait status " << *status << "); output:\n"
           << server_->logs();
}

}  // namespace parley::itest
