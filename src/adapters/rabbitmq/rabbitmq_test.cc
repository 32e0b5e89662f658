// The RabbitMQ job queue against a real broker at PARLEY_TEST_AMQP_URL (`make test` starts one
// with scripts/rabbitmq.sh; skipped without it), with the real SQLite outbox in front of it:
// jobs pass through once, retries come back through the delay queues, poison jobs and jobs out
// of attempts land in the dead-letter queue, and a redelivered key is not run twice.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "adapters/rabbitmq/amqp_job_queue.h"
#include "adapters/sqlite/stores.h"
#include "core/crypto.h"

namespace parley::rabbitmq {
namespace {

const char* amqp_url() {
  const char* u = std::getenv("PARLEY_TEST_AMQP_URL");
  return u && *u ? u : nullptr;
}

template <class Pred>
bool eventually(Pred pred, int seconds = 30) {
  for (int i = 0; i < seconds * 100; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

class AmqpQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!amqp_url())
      GTEST_SKIP() << "PARLEY_TEST_AMQP_URL is not set: RabbitMQ tests skipped (`make test` "
                      "starts a throw-away broker; or run `scripts/rabbitmq.sh start`)";
    static std::atomic<int> n{0};
    auto dir = std::filesystem::temp_directory_path() /
               ("parley-amqp-test-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto d = sqlite::Database::open((dir / "parley.db").string());
    ASSERT_TRUE(d);
    db = std::move(*d);
    auto s = sqlite::make_job_store(*db);
    ASSERT_TRUE(s);
    store = std::move(*s);
    // A prefix of its own per test: queues left by another test never interfere.
    options.url = amqp_url();
    options.prefix = "parley.test." + hex_encode(random_bytes(6));
    options.consumers = 2;
    options.max_attempts = 3;
    options.backoff_base_ms = 50;
    options.relay_poll_ms = 20;
  }
  void TearDown() override {
    if (queue) queue->stop();
    queue.reset();
    store.reset();
    if (db) db->stop();
  }
  void make() {
    auto q = make_amqp_job_queue(options, *store, clock);
    ASSERT_TRUE(q) << q.error().message;
    queue = std::move(*q);
  }

  AmqpOptions options;
  std::unique_ptr<sqlite::Database> db;
  std::unique_ptr<jobs::JobStore> store;
  std::unique_ptr<jobs::JobQueue> queue;
  SystemClock clock;
};

TEST(AmqpUrl, BadUrlsAreRefusedWithoutConnecting) {
  AmqpOptions o;
  o.url = "http://example.org/";
  auto dir =
      std::filesystem::temp_directory_path() / ("parley-amqp-url-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto db = sqlite::Database::open((dir / "p.db").string());
  ASSERT_TRUE(db);
  auto store = sqlite::make_job_store(**db);
  ASSERT_TRUE(store);
  SystemClock clock;
  auto q = make_amqp_job_queue(o, **store, clock);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, Errc::invalid_argument);
  o.url = "amqp://guest:guest@127.0.0.1:1/%2f";  // nothing listens there
  q = make_amqp_job_queue(o, **store, clock);
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, Errc::unavailable);
  (*db)->stop();
}

TEST_F(AmqpQueueTest, JobsPassThroughOnceAndRetriesComeBack) {
  make();
  std::mutex mu;
  std::multiset<std::string> seen;
  std::atomic<int> flaky_calls{0};
  queue->handle("echo", [&](const jobs::Job& j) -> Result<void> {
    std::lock_guard lock(mu);
    seen.insert(j.payload);
    return ok();
  });
  queue->handle("flaky", [&](const jobs::Job& j) -> Result<void> {
    EXPECT_EQ(j.attempts, flaky_calls.load() + 1);
    return ++flaky_calls < 3 ? fail(Errc::unavailable, "not yet") : ok();
  });
  queue->start();
  std::vector<jobs::NewJob> batch;
  for (int i = 0; i < 100; ++i)
    batch.push_back({"echo", std::to_string(i), "k" + std::to_string(i)});
  batch.push_back({"flaky", "{}", "flaky-1"});
  ASSERT_TRUE(queue->enqueue(batch));
  ASSERT_TRUE(eventually([&] { return queue->stats().succeeded >= 101; }));
  std::lock_guard lock(mu);
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 100u);
  EXPECT_EQ(flaky_calls.load(), 3);
  EXPECT_EQ(queue->stats().retried, 2u);
  EXPECT_EQ(store->counts()->pending, 0) << "the outbox rows were relayed";
}

TEST_F(AmqpQueueTest, PoisonAndExhaustedJobsEndInTheDeadLetterQueue) {
  make();
  std::atomic<int> down_calls{0};
  queue->handle("poison", [](const jobs::Job&) -> Result<void> {
    return fail(Errc::invalid_argument, "cannot parse");
  });
  queue->handle("down", [&](const jobs::Job&) -> Result<void> {
    ++down_calls;
    return fail(Errc::unavailable, "far end down");
  });
  queue->start();
  ASSERT_TRUE(queue->enqueue({{"poison", "{\"p\":1}", "p1"}, {"down", "{\"d\":1}", "d1"}}));
  ASSERT_TRUE(eventually([&] { return queue->stats().dead >= 2; }));
  EXPECT_EQ(down_calls.load(), 3);
  auto dead = queue->dead_letters(10);
  ASSERT_TRUE(dead) << dead.error().message;
  ASSERT_EQ(dead->size(), 2u);
  std::map<std::string, jobs::Job> by_kind;
  for (auto& j : *dead) by_kind[j.kind] = j;
  EXPECT_EQ(by_kind["poison"].payload, "{\"p\":1}");
  EXPECT_EQ(by_kind["poison"].last_error, "cannot parse");
  EXPECT_EQ(by_kind["poison"].attempts, 1);
  EXPECT_EQ(by_kind["down"].attempts, 3);
  EXPECT_EQ(by_kind["down"].idempotency_key, "d1");
  // Reading them did not take them.
  EXPECT_EQ(queue->dead_letters(10)->size(), 2u);
}

TEST_F(AmqpQueueTest, AKeyThatAlreadySucceededIsNotRunAgain) {
  make();
  std::atomic<int> runs{0};
  queue->handle("once", [&](const jobs::Job&) -> Result<void> {
    ++runs;
    return ok();
  });
  queue->start();
  ASSERT_TRUE(queue->enqueue({{"once", "{}", "same-key"}}));
  ASSERT_TRUE(eventually([&] { return runs.load() == 1; }));
  // The relay marks the outbox row done once the broker confirmed it (maybe after the run).
  ASSERT_TRUE(eventually([&] { return store->counts()->done == 1; }));
  // The same key reaching the broker again (a relay that lost its confirm publishes twice):
  // purge the outbox's memory of the row so the enqueue is not deduplicated there, then enqueue.
  ASSERT_TRUE(store->purge_done(clock.now_ms() + 1));
  ASSERT_TRUE(store->remember_done("same-key", clock.now_ms()));
  ASSERT_TRUE(queue->enqueue({{"once", "{}", "same-key"}}));
  ASSERT_TRUE(eventually([&] { return queue->stats().duplicates == 1; }));
  EXPECT_EQ(runs.load(), 1);
}

}  // namespace
}  // namespace parley::rabbitmq
