// Operations: liveness and readiness, the drain on SIGTERM (WebSockets closed with 1012,
// acknowledged sends kept, exit 0), the metrics listener, and backup/restore of the embedded
// store while the server runs.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>

#include "chat_support.h"
#include "file_support.h"
#include "net/websocket.h"

namespace parley::itest {
namespace {

using namespace chat;

// The port of the "serving metrics ... port=N" line.
std::optional<std::uint16_t> metrics_port(const std::string& logs) {
  auto at = logs.find("serving metrics");
  if (at == std::string::npos) return std::nullopt;
  auto p = logs.find("port=", at);
  if (p == std::string::npos) return std::nullopt;
  return static_cast<std::uint16_t>(std::stoi(logs.substr(p + 5)));
}

TEST(Operations, LiveAndReadyAnswerWithTheirChecks) {
  ServerProcess server;
  auto err = server.start();
  ASSERT_TRUE(err.empty()) << err;
  Api api(server.port());
  auto live = api.get("/api/v1/health/live");
  EXPECT_EQ(live.status, 200) << live;
  EXPECT_EQ(live.str("status"), "live");
  auto ready = api.get("/api/v1/health/ready");
  ASSERT_EQ(ready.status, 200) << ready;
  EXPECT_EQ(ready.str("status"), "ready");
  const auto& checks = ready.obj().at("checks").as_object();
  EXPECT_EQ(checks.at("database"), "ok") << ready;
  EXPECT_EQ(checks.at("storage"), "ok") << ready;
  EXPECT_FALSE(checks.contains("redis")) << "no --redis, no redis check: " << ready;
  auto old = api.get("/api/v1/health");
  EXPECT_EQ(old.status, 200);
  EXPECT_EQ(old.str("status"), "ok");
}

// A redis-server of this test's own on a free port; killed when it goes out of scope.
class OwnRedis {
 public:
  // 0 when redis-server is not installed or did not start.
  std::uint16_t start() {
    if (::access("/usr/bin/redis-server", X_OK) != 0) return 0;
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::close(s);
    support::LaunchOptions o;
    o.argv = {"/usr/bin/redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
              "--save", "", "--appendonly", "no"};
    o.death_signal = 0;
    o.out = o.err = support::Stream::null;
    o.close_other_fds = true;
    if (!redis_.start(std::move(o)).empty()) return 0;
    for (int i = 0; i < 200; ++i) {  // until it accepts connections
      int c = ::socket(AF_INET, SOCK_STREAM, 0);
      bool up = ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(c);
      if (up) return port_;
      std::this_thread::sleep_for(10ms);
    }
    return 0;
  }
  void kill() {
    redis_.signal(SIGKILL);
    redis_.wait();
  }

 private:
  support::Process redis_;  // SIGKILLed and reaped when it goes
  std::uint16_t port_ = 0;
};

TEST(Operations, ReadyAnswers503NamingRedisWhenRedisStopsAnswering) {
  OwnRedis redis;
  auto rport = redis.start();
  if (!rport) GTEST_SKIP() << "redis-server not installed or did not start";
  ServerProcess server({"--redis", "redis://127.0.0.1:" + std::to_string(rport)});
  auto err = server.start();
  ASSERT_TRUE(err.empty()) << err;
  Api api(server.port());
  auto ready = api.get("/api/v1/health/ready");
  ASSERT_EQ(ready.status, 200) << ready;
  EXPECT_EQ(ready.obj().at("checks").as_object().at("redis"), "ok") << ready;

  redis.kill();
  auto down = api.get("/api/v1/health/ready");
  ASSERT_EQ(down.status, 503) << down;
  EXPECT_EQ(down.str("status"), "unavailable");
  const auto& checks = down.obj().at("checks").as_object();
  EXPECT_EQ(checks.at("database"), "ok") << down;
  EXPECT_EQ(checks.at("storage"), "ok") << down;
  ASSERT_TRUE(checks.at("redis").is_string());
  EXPECT_NE(checks.at("redis").as_string(), "ok") << down;
  // Liveness does not depend on Redis.
  EXPECT_EQ(api.get("/api/v1/health/live").status, 200);
}

TEST(Operations, SigtermDrainsClosesSocketsWith1012KeepsAcknowledgedSendsAndExitsZero) {
  ServerProcess server({"--rate-limits", kGenerousLimits, "--drain-delay-ms", "1500"});
  auto err = server.start();
  ASSERT_TRUE(err.empty()) << err;

  constexpr int kSenders = 3;
  std::vector<Account> senders;
  std::string conv;
  {
    Api api(server.port());
    for (int i = 0; i < kSenders; ++i) senders.push_back(register_account(api, "drain"));
    conv = make_group(api, senders[0], {senders[1].id, senders[2].id});
  }

  std::mutex mu;
  std::map<std::string, std::string> acked;  // message id -> text
  std::vector<std::optional<int>> close_codes(kSenders);
  std::atomic<int> acks{0};
  std::atomic<bool> signalled{false};
  std::vector<std::string> unexpected;
  const std::uint16_t port = server.port();
  std::vector<std::thread> threads;
  for (int t = 0; t < kSenders; ++t) {
    threads.emplace_back([&, t] {
      try {
        Live ws(port, senders[static_cast<std::size_t>(t)]);
        for (int i = 0; i < 100'000; ++i) {
          std::string req = "r" + std::to_string(i);
          std::string text = "drain " + std::to_string(t) + "-" + std::to_string(i);
          try {
            ws.send(object{{"type", "send"},
                           {"req", req},
                           {"conversation_id", conv},
                           {"text", text},
                           {"client_msg_id", fresh_cmid("dr")}});
            auto ans = ws.answer(req, 10s);
            if (str(ans, "type") != "ack") {
              // An error frame while draining is fine (not acknowledged, not kept); before it
              // is not.
              if (!signalled) {
                std::lock_guard lock(mu);
                unexpected.push_back("send: " + dump(ans));
              }
              continue;
            }
            std::lock_guard lock(mu);
            acked[str(ans.at("message").as_object(), "id")] = text;
            ++acks;
          } catch (const std::exception& e) {
            close_codes[static_cast<std::size_t>(t)] = ws.raw().close_code();
            if (!signalled) {
              std::lock_guard lock(mu);
              unexpected.push_back(std::string("sender: ") + e.what());
            }
            return;
          }
          if (i % 50 == 0) ws.forget();
        }
      } catch (const std::exception& e) {
        std::lock_guard lock(mu);
        unexpected.push_back(std::string("connect: ") + e.what());
      }
    });
  }

  auto deadline = Clock::now() + 30s;
  while (acks < 150 && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  ASSERT_GE(acks.load(), 150);
  signalled = true;
  server.send_signal(SIGTERM);

  // Readiness turns to 503 draining while the listener is still open (--drain-delay-ms).
  bool saw_draining = false;
  std::string last;
  auto poll_until = Clock::now() + 1200ms;
  while (!saw_draining && Clock::now() < poll_until) {
    Api api(port, 1s);
    auto r = api.get("/api/v1/health/ready");
    last = std::to_string(r.status) + " " + r.body;
    if (r.status == 503 && r.str("status") == "draining")
      saw_draining = true;
    else
      std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(saw_draining) << "last answer: " << last;

  for (auto& th : threads) th.join();
  auto status = server.wait_exit(20s);
  ASSERT_TRUE(status) << "the server did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;
  EXPECT_TRUE(unexpected.empty()) << unexpected.front();
  for (int t = 0; t < kSenders; ++t)
    EXPECT_EQ(close_codes[static_cast<std::size_t>(t)], net::kCloseServiceRestart)
        << "sender " << t;

  err = server.start();
  ASSERT_TRUE(err.empty()) << "restart after the drain: " << err;
  Api api(server.port());
  auto all = all_messages(api, senders[0], conv);
  std::map<std::string, std::string> kept;
  for (const auto& m : all) kept[str(m, "id")] = str(m, "text");
  std::size_t missing = 0;
  for (const auto& [id, text] : acked)
    if (auto it = kept.find(id); it == kept.end() || it->second != text) ++missing;
  EXPECT_EQ(missing, 0u) << "of " << acked.size() << " acknowledged sends";
}

TEST(Operations, MetricsListenServesMetricsThereAndNotOnTheMainListener) {
  ServerProcess server({"--metrics-listen", "127.0.0.1:0"});
  auto err = server.start();
  ASSERT_TRUE(err.empty()) << err;
  auto mport = metrics_port(server.logs());
  ASSERT_TRUE(mport) << server.logs();
  Api main_api(server.port());
  EXPECT_EQ(main_api.get("/api/v1/health").status, 200);
  EXPECT_EQ(main_api.get("/metrics").status, 404) << "metrics have their own listener";
  Api metrics(*mport);
  auto m = metrics.get("/metrics");
  ASSERT_EQ(m.status, 200) << m;
  EXPECT_NE(m.body.find("parley_http_requests_total"), std::string::npos) << m.body.substr(0, 500);
  EXPECT_EQ(metrics.get("/api/v1/health").status, 404) << "only metrics on the metrics port";
}

TEST(Operations, MetricsStayOnTheMainListenerByDefault) {
  ServerProcess server;
  auto err = server.start();
  ASSERT_TRUE(err.empty()) << err;
  auto m = Api(server.port()).get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("parley_"), std::string::npos);
}

TEST(Operations, BackupWhileRunningRestoresMessagesAndFilesIntoAFreshDataDir) {
  ServerProcess server({"--rate-limits", kGenerousLimits});
  auto err = server.start();
  ASSERT_TRUE(err.empty()) << err;
  Api api(server.port());
  auto alice = register_account(api, "bk");
  auto bob = register_account(api, "bk");
  auto conv = make_dm(api, alice, bob.id);
  for (int i = 0; i < 20; ++i) send_ok(api, alice, conv, "before backup " + std::to_string(i));
  const std::string bytes = files::random_bytes_of(300 * 1024, 7);
  auto file = files::upload(api, alice, bytes, "report.bin");
  const std::string file_id = str(file, "id");
  auto before = all_messages(api, alice, conv);

  const std::string out = server.data_dir() + "-backup";
  auto b = run_parley("backup --data-dir " + server.data_dir() + " --out " + out);
  ASSERT_EQ(b.exit_code, 0) << b.output;
  EXPECT_TRUE(std::filesystem::exists(out + "/parley.db"));

  auto busy = run_parley("restore --data-dir " + server.data_dir() + " --in " + out + " --force");
  EXPECT_NE(busy.exit_code, 0) << "restore into a data dir a server holds: " << busy.output;
  EXPECT_NE(busy.output.find("running server"), std::string::npos) << busy.output;
  ASSERT_TRUE(server.stop());

  ServerProcess fresh({"--rate-limits", kGenerousLimits});
  auto r = run_parley("restore --data-dir " + fresh.data_dir() + " --in " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto again = run_parley("restore --data-dir " + fresh.data_dir() + " --in " + out);
  EXPECT_NE(again.exit_code, 0) << "a second restore without --force: " << again.output;
  err = fresh.start();
  ASSERT_TRUE(err.empty()) << err;
  Api api2(fresh.port());
  auto after = all_messages(api2, alice, conv);
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(str(after[i], "id"), str(before[i], "id"));
    EXPECT_EQ(str(after[i], "text"), str(before[i], "text"));
  }
  auto d = files::download(api2, alice, file_id);
  ASSERT_EQ(d.status, 200) << d;
  EXPECT_TRUE(d.body == bytes) << "downloaded " << d.body.size() << " bytes";
  std::error_code ec;
  std::filesystem::remove_all(out, ec);
}

}  // namespace
}  // namespace parley::itest
