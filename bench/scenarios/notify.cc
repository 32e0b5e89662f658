// The notification scenarios of parley_bench:
// - jobs: job queue throughput with a no-op handler: jobs/s drained from the SQLite outbox by
//   the embedded workers, and through RabbitMQ (the relay publishing with confirms, consumers
//   acking) where scripts/rabbitmq.sh can start a broker (or PARLEY_BENCH_AMQP_URL names one).
// - push: end to end through the real server: DMs sent over HTTP, each turned into a Web Push
//   (outbox -> fan-out job -> push job -> RFC 8291 encryption -> HTTP POST) to a push service
//   stand-in on loopback that decrypts every payload; the delay from the send to the push's
//   arrival, p50 and p99, and pushes/s.
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "adapters/rabbitmq/amqp_job_queue.h"
#include "adapters/sqlite/stores.h"
#include "bench_support.h"
#include "core/crypto.h"
#include "modules/jobs/jobs.h"
#include "test_server.h"
#include "web_push.h"

namespace parley::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Drains `count` no-op jobs through a queue; jobs/s from the first enqueue to the last run.
double drain(jobs::JobQueue& q, int count) {
  std::atomic<int> ran{0};
  q.handle("bench.noop", [&](const jobs::Job&) -> Result<void> {
    ++ran;
    return ok();
  });
  q.start();
  auto t0 = SteadyClock::now();
  for (int i = 0; i < count; i += 100) {
    std::vector<jobs::NewJob> batch;
    for (int j = i; j < std::min(count, i + 100); ++j)
      batch.push_back({"bench.noop", "{}", "bench:" + std::to_string(j)});
    if (!q.enqueue(batch)) return 0;
  }
  auto deadline = t0 + std::chrono::minutes(5);
  while (ran.load() < count && SteadyClock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  double s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  q.stop();
  return ran.load() == count ? count / s : 0;
}

void run_jobs(const BenchContext& ctx) {
  constexpr int kJobs = 20'000;
  SystemClock clock;
  auto fresh_store = [&](const std::string& name) {
    std::filesystem::create_directories(ctx.tmp_dir + "/" + name);
    auto db = sqlite::Database::open(ctx.tmp_dir + "/" + name + "/parley.db");
    if (!db) return std::pair<std::unique_ptr<sqlite::Database>, std::unique_ptr<jobs::JobStore>>();
    auto store = sqlite::make_job_store(**db);
    return std::make_pair(std::move(*db), store ? std::move(*store) : nullptr);
  };
  {
    auto [db, store] = fresh_store("jobs-outbox");
    if (!store) {
      std::printf("  outbox: could not open the store\n");
      *ctx.errors = true;
      return;
    }
    jobs::OutboxOptions o;
    o.workers = 4;
    o.claim_batch = 64;
    auto q = jobs::make_outbox_job_queue(*store, clock, o);
    double rate = drain(*q, kJobs);
    std::printf("  outbox (SQLite, 4 workers): %d jobs, %s jobs/s\n", kJobs,
                fmt("%.0f", rate).c_str());
    ctx.headlines->push_back("jobs through the SQLite outbox: " + fmt("%.0f", rate) + " jobs/s");
    q.reset();
    store.reset();
    db->stop();
  }
  std::string url;
  bool started = false;
  if (const char* u = std::getenv("PARLEY_BENCH_AMQP_URL"); u && *u) {
    url = u;
  } else if (auto out = shell(std::string(PARLEY_SOURCE_DIR) + "/scripts/rabbitmq.sh start")) {
    url = *out;
    started = true;
  }
  if (url.empty()) {
    std::printf("  RabbitMQ: skipped (not installed; or set PARLEY_BENCH_AMQP_URL)\n");
    return;
  }
  {
    auto [db, store] = fresh_store("jobs-amqp");
    rabbitmq::AmqpOptions o;
    o.url = url;
    o.prefix = "parley.bench." + hex_encode(random_bytes(4));
    o.consumers = 4;
    o.prefetch = 64;
    o.relay_batch = 500;
    {
      auto q = rabbitmq::make_amqp_job_queue(o, *store, clock);
      if (!q) {
        std::printf("  RabbitMQ: %s\n", q.error().message.c_str());
        *ctx.errors = true;
      } else {
        double rate = drain(**q, kJobs);
        std::printf(
            "  RabbitMQ (outbox relay with confirms, 4 consumers, manual acks): %d jobs, "
            "%s jobs/s\n",
            kJobs, fmt("%.0f", rate).c_str());
        ctx.headlines->push_back("jobs through RabbitMQ: " + fmt("%.0f", rate) + " jobs/s");
      }
    }
    store.reset();
    db->stop();
  }
  if (started) (void)shell(std::string(PARLEY_SOURCE_DIR) + "/scripts/rabbitmq.sh stop");
}

void run_push(const BenchContext& ctx) {
  constexpr int kMessages = 1'000;
  std::mutex mu;
  std::vector<std::pair<std::string, SteadyClock::time_point>> arrivals;  // body, when
  curl::testing::TestHttpServer receiver([&](const curl::testing::TestRequest& r) {
    std::lock_guard lock(mu);
    arrivals.emplace_back(r.body, SteadyClock::now());
    return curl::testing::http_response(201, "text/plain", "");
  });
  ServerProcess server;
  std::string dir = ctx.tmp_dir + "/push";
  if (!server.start(*ctx.opt, dir, {"--outbound-allow", "127.0.0.0/8", "--job-workers", "8"})) {
    std::printf("  the server did not start\n");
    for (const auto& l : server.tail()) std::printf("    %s\n", l.c_str());
    *ctx.errors = true;
    return;
  }
  tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), server.port());
  auto reg = [&](const char* name) {
    auto r =
        http_call(ep, "POST", "/api/v1/auth/register", "",
                  std::string("{\"username\":\"") + name + "\",\"password\":\"bench-password-1\"}");
    return std::make_pair(json_at(r.body, {"access_token"}), json_at(r.body, {"user", "id"}));
  };
  auto [alice, alice_id] = reg("alice");
  auto [bob, bob_id] = reg("bob");
  auto ua = notifications::generate_p256();
  std::string auth = random_bytes(16);
  auto sub = http_call(ep, "POST", "/api/v1/push/subscriptions", bob,
                       "{\"endpoint\":\"http://127.0.0.1:" + std::to_string(receiver.port()) +
                           "/p\",\"keys\":{\"p256dh\":\"" + base64url_encode(ua->public_raw) +
                           "\",\"auth\":\"" + base64url_encode(auth) + "\"}}");
  auto dm = http_call(ep, "POST", "/api/v1/conversations", alice,
                      "{\"type\":\"dm\",\"member_ids\":[\"" + bob_id + "\"]}");
  std::string conv = json_at(dm.body, {"id"});
  if (!sub.ok() || conv.empty()) {
    std::printf("  set-up failed: %s %s\n", sub.describe().c_str(), dm.describe().c_str());
    *ctx.errors = true;
    return;
  }
  // Four senders, each its own connection sequence: sends overlap as real users' would.
  std::map<std::string, SteadyClock::time_point> sent;
  auto t0 = SteadyClock::now();
  std::vector<std::thread> senders;
  for (unsigned t = 0; t < 4; ++t)
    senders.emplace_back([&, t] {
      for (int i = static_cast<int>(t); i < kMessages; i += 4) {
        auto at = SteadyClock::now();
        auto r = http_call(ep, "POST", "/api/v1/conversations/" + conv + "/messages", alice,
                           "{\"text\":\"bench " + std::to_string(i) + "\",\"client_msg_id\":\"b" +
                               std::to_string(i) + "\"}");
        std::lock_guard lock(mu);
        if (r.ok()) sent[json_at(r.body, {"id"})] = at;
      }
    });
  for (auto& t : senders) t.join();
  auto deadline = SteadyClock::now() + std::chrono::minutes(3);
  while (SteadyClock::now() < deadline) {
    {
      std::lock_guard lock(mu);
      if (arrivals.size() >= sent.size()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::vector<double> delays_ms;
  SteadyClock::time_point last = t0;
  {
    std::lock_guard lock(mu);
    for (const auto& [body, when] : arrivals) {
      auto plain = notifications::decrypt_aes128gcm(*ua, auth, body);
      if (!plain) continue;
      std::string id = json_at(*plain, {"message_id"});
      auto s = sent.find(id);
      if (s == sent.end()) continue;
      delays_ms.push_back(std::chrono::duration<double, std::milli>(when - s->second).count());
      last = std::max(last, when);
    }
  }
  std::sort(delays_ms.begin(), delays_ms.end());
  if (delays_ms.size() != sent.size() || delays_ms.empty()) {
    std::printf("  %zu of %zu pushes arrived and decrypted\n", delays_ms.size(), sent.size());
    *ctx.errors = true;
    if (delays_ms.empty()) return;
  }
  auto pct = [&](double p) {
    return delays_ms[std::min(delays_ms.size() - 1,
                              static_cast<std::size_t>(p * delays_ms.size()))];
  };
  double secs = std::chrono::duration<double>(last - t0).count();
  std::printf(
      "  %zu DMs (4 senders over HTTP) -> %zu pushes decrypted: %s pushes/s; send-to-push "
      "delay p50 %s ms, p99 %s ms\n",
      sent.size(), delays_ms.size(), fmt("%.0f", delays_ms.size() / secs).c_str(),
      fmt("%.1f", pct(0.50)).c_str(), fmt("%.1f", pct(0.99)).c_str());
  ctx.headlines->push_back("send to Web Push receipt (SQLite outbox): p50 " +
                           fmt("%.1f", pct(0.5)) + " ms, p99 " + fmt("%.1f", pct(0.99)) + " ms, " +
                           fmt("%.0f", delays_ms.size() / secs) + " pushes/s");
  server.stop();
}

}  // namespace

const std::vector<Scenario>& notify_scenarios() {
  static const std::vector<Scenario> kTable = {
      {"jobs", "job queue jobs/s with a no-op handler: the SQLite outbox, and RabbitMQ", run_jobs},
      {"push",
       "1,000 DMs to a user with a push subscription: send-to-push-receipt p50/p99 and pushes/s",
       run_push},
  };
  return kTable;
}

}  // namespace parley::bench
