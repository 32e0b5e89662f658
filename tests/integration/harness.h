// Integration test harness: starts the real `parley` binary on a loopback port with a throw-away
// data folder, and talks to it as a client would (HTTP and WebSocket through net/client.h).
//
// Helpers throw std::runtime_error when something a test relies on (a registration, a
// WebSocket handshake) does not work; GoogleTest reports the exception as a test failure.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "net/client.h"
#include "support/process.h"

namespace parley::itest {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Rate limits high enough that no functional test meets them.
inline constexpr const char* kGenerousLimits =
    "register_per_ip=100000/1s,login_per_ip=100000/1s,login_per_account=100000/1s,"
    "refresh_per_ip=100000/1s,totp_per_account=100000/1s,ws_frames_per_user=100000/1s,"
    "messages_per_user=100000/1s,mutations_per_user=100000/1s,conversations_per_user=100000/1s,"
    "search_per_user=100000/1s";

// WebSocket caps (sockets per user and per address) high enough for tests that open many
// sockets as few users from one loopback address: the conformance cases, the sweep, the soak.
// kGenerousLimits with one limit set to policy (e.g. limits_with("search_per_user", "2/1m")).
inline std::string limits_with(const std::string& name, const std::string& policy) {
  std::string limits = kGenerousLimits;
  auto at = limits.find(name + "=");
  if (at == std::string::npos) throw std::runtime_error("no limit " + name);
  auto end = limits.find(',', at);
  limits.replace(at, (end == std::string::npos ? limits.size() : end) - at, name + "=" + policy);
  return limits;
}

inline const std::vector<std::string> kGenerousSocketCaps = {
    "--max-sockets-per-user", "10000", "--max-sockets-per-address", "1000000"};

// ---- the server process ----

// The real server (support::Process with the harness's flags): `serve --listen 127.0.0.1:0
// --data-dir DIR --log-format text` in a throw-away data folder of its own, PARLEY_TEST_* kept
// out of its environment, SIGKILLed when the thread that started it ends.
class ServerProcess {
 public:
  // extra_args follow `serve --listen 127.0.0.1:0 --data-dir DIR --log-format text`.
  explicit ServerProcess(std::vector<std::string> extra_args = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts the server and waits (up to 10 s) for its "listening" line. Empty on success,
  // otherwise why it did not start (with the captured output).
  std::string start();
  // SIGTERM, then SIGKILL after `grace`. The wait status, or nullopt when it was not running.
  std::optional<int> stop(std::chrono::milliseconds grace = 10s);
  // stop() then start() on the same data folder (the port may change).
  std::string restart();

  void send_signal(int sig) { process_.signal(sig); }
  // Waits for the process to exit on its own; its wait status, or nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) { return process_.wait(timeout); }

  bool running() const { return process_.running(); }
  pid_t pid() const { return process_.pid(); }
  std::uint16_t port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }

  // Everything the server wrote to stdout/stderr so far, across restarts.
  std::string logs() const { return process_.output(); }
  // Waits until the output contains needle.
  bool wait_for_log(std::string_view needle, std::chrono::milliseconds timeout) const {
    return process_.wait_for_output(needle, timeout);
  }

 private:
  std::vector<std::string> extra_args_;
  std::string data_dir_;
  std::uint16_t port_ = 0;
  support::Process process_;
};

// ---- the command line ----

struct CommandRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs `parley <args>` through the shell (args as shell words) and waits for it to end.
CommandRun run_parley(const std::string& args);
// The HTTP routes the built server answers, "METHOD /pattern" (from `parley routes`); throws
// when the command fails.
std::set<std::string> parley_route_table();

// ---- HTTP ----

struct Reply {
  int status = 0;  // 0: the request itself failed (see body)
  std::string body;
  boost::json::value json;  // null when the body is not JSON
  std::vector<net::Header> headers;

  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  // Fields of the error envelope {"error": {"code", "message", "field"?}}; "" when absent.
  std::string error_code() const;
  std::string error_message() const;
  std::string error_field() const;
  // The body with the error envelope's "request_id" (each request's own trace id) taken out,
  // to compare two answers byte for byte (a hidden resource answers like an unknown one).
  std::string body_without_request_id() const;
  // A top-level string field; "" when absent or not a string.
  std::string str(std::string_view key) const;
  const boost::json::object& obj() const;  // throws unless the body is a JSON object
};
std::ostream& operator<<(std::ostream& os, const Reply& r);

class Api {
 public:
  explicit Api(std::uint16_t port, std::chrono::milliseconds timeout = 10s);
  Reply call(std::string_view method, std::string_view target, std::string_view body = {},
             std::string_view token = {}, std::vector<net::Header> headers = {});
  Reply get(std::string_view target, std::string_view token = {});
  Reply post(std::string_view target, std::string_view body, std::string_view token = {});
  Reply post(std::string_view target, const boost::json::value& body, std::string_view token = {});
  Reply patch(std::string_view target, const boost::json::value& body, std::string_view token);
  Reply del(std::string_view target, std::string_view token);
  net::HttpClient& http() { return http_; }

 private:
  net::HttpClient http_;
};

// One series' value in a /metrics answer: the series is the name with its labels as printed
// (`parley_open_connections{kind="websocket"}`); nullopt when absent or not 200.
std::optional<double> metric_value(Api& api, std::string_view series);

// A fresh lower-case username, unique in this run: "<tag>_<random><counter>", at most 32 chars.
std::string unique_name(std::string_view tag = "u");

struct Account {
  std::string id;
  std::string username;
  std::string password;
  std::string access;
  std::string refresh;
};

// Registers a new user (throws unless 201).
Account register_account(Api& api, std::string_view tag = "u", std::string_view device = {});
// Logs in (throws unless 200); returns the account with the new session's tokens.
Account login_account(Api& api, const Account& a, std::string_view device = {});

// ---- TOTP (RFC 6238, SHA-1, 6 digits, 30 s), independent of the server's code ----

std::optional<std::string> base32_decode(std::string_view text);
std::string hotp_sha1(std::string_view key, std::uint64_t counter);
std::int64_t totp_step_now();

// An authenticator app: hands out codes the server accepts (its window is now-1..now+1), each
// for a later step than the last one, waiting for the clock only when it has to.
class Authenticator {
 public:
  explicit Authenticator(std::string_view base32_secret);
  std::string next_code();
  // Six digits that match no step from now-2 to now+2.
  std::string wrong_code() const;

 private:
  std::string key_;
  std::int64_t last_step_ = -1;
};

// ---- WebSocket ----

std::unique_ptr<net::WsClient> ws_connect(std::uint16_t port);
// The next text frame as JSON (throws on timeout, close or bad JSON).
boost::json::object ws_read(net::WsClient& ws, std::chrono::milliseconds timeout = 5s);
// Connects, sends hello and waits for ready (throws otherwise); *ready gets the ready frame.
std::unique_ptr<net::WsClient> ws_ready(std::uint16_t port, std::string_view token,
                                        boost::json::object* ready = nullptr);
// Reads (and drops) frames until the server closes the socket; its close code, or nullopt when
// still open at the deadline.
std::optional<int> ws_wait_close(net::WsClient& ws, std::chrono::milliseconds timeout);

// ---- fixtures ----

// One server shared by the tests of a suite (they use their own users, so they don't
// interfere), started with generous rate limits.
class SharedServerTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() { start_shared({}); }
  static void TearDownTestSuite();

 protected:
  static void start_shared(std::vector<std::string> extra_args);
  void SetUp() override;
  static ServerProcess& server() { return *server_; }
  static std::uint16_t port() { return server_->port(); }
  static Api api() { return Api(server_->port()); }

 private:
  static std::unique_ptr<ServerProcess> server_;
  static std::string start_error_;
};

}  // namespace parley::itest
