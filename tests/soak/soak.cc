// The soak: the real server under a steady load for SOAK_SECONDS (default 3600) while its
// resident memory and open file descriptors are sampled every SOAK_SAMPLE_SECONDS (default
// 60), and the growth is reported. The load: sender threads post messages to one group at
// SOAK_RATE per second in all (half over HTTP, half as WebSocket `send` frames), and a fleet of
// SOAK_RECEIVERS subscribed WebSocket clients (ws_fleet.h) reads them, with one connection per
// driver thread dropped every few seconds so reconnects and after_seq catch-ups run all along.
//
// Every SOAK_REFRESH_SECONDS (300) each account's tokens are refreshed, as a client does before
// its 15-minute access token expires; connections and sends after that use the new ones.
//
// Exit status 0 when the server lived and every receiver ended with every message; 1 otherwise.
// Figures, not pass/fail thresholds: growth is for a person to judge (bench/RESULTS.md).
#include <dirent.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "chat_support.h"
#include "ws_fleet.h"

namespace parley::itest {
namespace {

using namespace chat;

long env_long(const char* name, long def) {
  const char* v = std::getenv(name);
  return v && *v ? std::atol(v) : def;
}

// VmRSS of a process, in KiB (0 when unreadable).
long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

long open_fds(pid_t pid) {
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) return 0;
  long n = 0;
  while (auto* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

struct Sample {
  double t;
  long rss_kib;
  long fds;
  long sent;
};

int run() {
  const long seconds = env_long("SOAK_SECONDS", 3600);
  const long sample_every = std::max(1L, env_long("SOAK_SAMPLE_SECONDS", 60));
  const long rate = std::max(1L, env_long("SOAK_RATE", 20));
  const int receivers = static_cast<int>(env_long("SOAK_RECEIVERS", 200));
  constexpr int kSenders = 4;
  constexpr int kAccounts = 10;
  // Access tokens live 15 minutes; clients refresh well before.
  const auto refresh_every =
      std::chrono::seconds(std::max(1L, env_long("SOAK_REFRESH_SECONDS", 300)));

  raise_fd_limit();

  std::vector<std::string> args = {"--rate-limits", kGenerousLimits, "--access-log", "false"};
  args.insert(args.end(), kGenerousSocketCaps.begin(), kGenerousSocketCaps.end());
  ServerProcess server(args);
  if (auto e = server.start(); !e.empty()) {
    std::cerr << "soak: the server did not start: " << e << "\n";
    return 1;
  }
  std::atomic<std::uint16_t> port{server.port()};
  Api api(server.port());
  auto accounts = register_accounts(server.port(), kAccounts, "soak");
  const std::string conv = make_group_of(api, accounts);

  Fleet fleet(receivers, accounts, conv, port, std::max(1, receivers / 100));
  fleet.set_churn(5s);
  fleet.start();

  std::atomic<bool> stop{false};
  std::atomic<long> sent{0}, send_errors{0};
  std::atomic<std::int64_t> last_seq{0};
  std::vector<std::thread> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&, s] {
      Api http(port.load());
      std::unique_ptr<Live> live;
      const auto period = std::chrono::microseconds(1'000'000L * kSenders / rate);
      auto next = Clock::now();
      for (long i = 0; !stop; ++i) {
        std::this_thread::sleep_until(next);
        next += period;
        try {
          const std::string text = "soak " + std::to_string(s) + "/" + std::to_string(i);
          const Account me = fleet.account(s);  // refreshed as the run goes
          std::int64_t seq;
          if (i % 2 == 0) {
            seq = num(send_ok(http, me, conv, text), "seq");
          } else {
            if (!live) live = std::make_unique<Live>(port.load(), me);
            std::string req = "s" + std::to_string(i);
            live->send(object{{"type", "send"},
                              {"req", req},
                              {"conversation_id", conv},
                              {"text", text},
                              {"client_msg_id", fresh_cmid()}});
            auto ack = live->answer(req, 10s);
            if (str(ack, "type") != "ack") throw std::runtime_error(dump(ack));
            seq = num(*field(ack, "message"), "seq");
            live->forget();  // its own message.created events are not what it is here for
          }
          ++sent;
          auto prev = last_seq.load();
          while (seq > prev && !last_seq.compare_exchange_weak(prev, seq)) {
          }
        } catch (const std::exception& e) {
          if (++send_errors <= 5) std::cerr << "soak: send failed: " << e.what() << "\n";
          live.reset();
        }
      }
    });
  }

  std::vector<Sample> samples;
  const auto started = Clock::now();
  std::printf("soak: %ld s, %ld msg/s, %d receivers, sampling every %ld s\n", seconds, rate,
              receivers, sample_every);
  std::printf("%8s %10s %6s %10s %8s\n", "t(s)", "rss(MiB)", "fds", "sent", "lagging");
  bool died = false;
  auto refresh_tokens = [&] {
    for (int i = 0; i < kAccounts; ++i) {
      Account a = fleet.account(i);
      auto r = api.post("/api/v1/auth/refresh", object{{"refresh_token", a.refresh}});
      if (r.status != 200) throw std::runtime_error("refresh failed: " + r.body);
      a.access = r.str("access_token");
      a.refresh = r.str("refresh_token");
      fleet.set_account(i, a);
    }
  };
  auto next_refresh = started + refresh_every;
  for (long k = 0;; ++k) {
    const auto sample_at = started + std::chrono::seconds(k * sample_every);
    while (next_refresh < sample_at) {
      std::this_thread::sleep_until(next_refresh);
      refresh_tokens();
      next_refresh += refresh_every;
    }
    std::this_thread::sleep_until(sample_at);
    if (server.wait_exit(0ms)) {
      died = true;
      break;
    }
    Sample s{std::chrono::duration<double>(Clock::now() - started).count(), rss_kib(server.pid()),
             open_fds(server.pid()), sent.load()};
    samples.push_back(s);
    std::printf("%8.0f %10.1f %6ld %10ld %8ld\n", s.t, s.rss_kib / 1024.0, s.fds, s.sent,
                fleet.lagging(last_seq.load()));
    std::fflush(stdout);
    if (k * sample_every >= seconds) break;
  }
  stop = true;
  for (auto& t : senders) t.join();
  const auto final_seq = last_seq.load();
  const bool caught_up = !died && fleet.wait_all_have(final_seq, Clock::now() + 60s);
  fleet.stop();

  long reconnects = 0, incomplete = 0;
  for (const auto& c : fleet.clients()) {
    reconnects += std::max(0, c.readies - 1);
    incomplete += static_cast<std::int64_t>(c.seqs.size()) != final_seq;
  }
  // Growth from the first sample after a minute's warm-up (or the first one) to the last.
  const Sample& first = samples.size() > 1 ? samples[1] : samples.front();
  const Sample& last = samples.back();
  const double hours = std::max(1e-9, (last.t - first.t) / 3600.0);
  std::printf(
      "soak summary: %.0f s, %ld messages sent (%ld send errors), %ld receivers with %ld "
      "reconnects\n  rss: %.1f MiB -> %.1f MiB (%+.1f MiB, %+.1f MiB/h); fds: %ld -> %ld (%+ld)\n"
      "  every receiver has every message: %s; server alive: %s\n",
      last.t, sent.load(), send_errors.load(), static_cast<long>(fleet.clients().size()),
      reconnects, first.rss_kib / 1024.0, last.rss_kib / 1024.0,
      (last.rss_kib - first.rss_kib) / 1024.0, (last.rss_kib - first.rss_kib) / 1024.0 / hours,
      first.fds, last.fds, last.fds - first.fds, caught_up && incomplete == 0 ? "yes" : "NO",
      died ? "NO" : "yes");
  if (!fleet.error().empty()) std::printf("  client protocol error: %s\n", fleet.error().c_str());
  if (died) std::cerr << server.logs() << "\n";
  return died || !caught_up || incomplete > 0 || !fleet.error().empty() ? 1 : 0;
}

}  // namespace
}  // namespace parley::itest

int main() {
  try {
    return parley::itest::run();
  } catch (const std::exception& e) {
    std::cerr << "soak: " << e.what() << "\n";
    return 1;
  }
}
