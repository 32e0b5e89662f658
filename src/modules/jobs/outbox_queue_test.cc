// The embedded job queue against the real SQLite outbox: handlers run, retries back off, the
// last attempt dead-letters, poison jobs dead-letter at once, idempotency keys hold, and jobs
// written through a message append (the transactional outbox) run once committed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "adapters/sqlite/stores.h"
#include "modules/jobs/jobs.h"
#include "modules/jobs/store.h"

namespace parley::jobs {
namespace {

std::string temp_db() {
  static std::atomic<int> n{0};
  auto dir = std::filesystem::temp_directory_path() /
             ("parley-jobs-test-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return (dir / "parley.db").string();
}

// Waits (up to 20 s) for pred, polling: the queue's threads move on their own.
template <class Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 2000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

class OutboxQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = sqlite::Database::open(temp_db());
    ASSERT_TRUE(d);
    db = std::move(*d);
    auto s = sqlite::make_job_store(*db);
    ASSERT_TRUE(s);
    store = std::move(*s);
  }
  void TearDown() override {
    if (queue) queue->stop();
    queue.reset();
    store.reset();
    if (db) db->stop();
  }
  OutboxOptions fast() {
    OutboxOptions o;
    o.workers = 2;
    o.poll_ms = 20;
    o.backoff_base_ms = 10;
    o.backoff_max_ms = 40;
    o.max_attempts = 3;
    return o;
  }

  std::unique_ptr<sqlite::Database> db;
  std::unique_ptr<JobStore> store;
  std::unique_ptr<JobQueue> queue;
  SystemClock clock;
};

TEST(Backoff, DoublesPerAttemptUpToTheCap) {
  OutboxOptions o;
  o.backoff_base_ms = 1'000;
  o.backoff_max_ms = 10'000;
  EXPECT_EQ(backoff_ms(o, 1), 1'000);
  EXPECT_EQ(backoff_ms(o, 2), 2'000);
  EXPECT_EQ(backoff_ms(o, 4), 8'000);
  EXPECT_EQ(backoff_ms(o, 5), 10'000);
  EXPECT_EQ(backoff_ms(o, 60), 10'000);
}

TEST_F(OutboxQueueTest, RunsEachJobOnceWithItsPayload) {
  queue = make_outbox_job_queue(*store, clock, fast());
  std::mutex mu;
  std::multiset<std::string> seen;
  queue->handle("echo", [&](const Job& j) -> Result<void> {
    std::lock_guard lock(mu);
    seen.insert(j.payload);
    return ok();
  });
  EXPECT_TRUE(queue->handles("echo"));
  EXPECT_FALSE(queue->handles("other"));
  queue->start();
  std::vector<NewJob> jobs;
  for (int i = 0; i < 50; ++i) jobs.push_back({"echo", std::to_string(i), "e" + std::to_string(i)});
  jobs.push_back({"echo", "dup", "e7"});  // same key as an earlier one: skipped
  ASSERT_TRUE(queue->enqueue(jobs));
  ASSERT_TRUE(eventually([&] { return queue->stats().succeeded >= 50; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::lock_guard lock(mu);
  EXPECT_EQ(seen.size(), 50u);
  EXPECT_EQ(seen.count("dup"), 0u);
  EXPECT_EQ(seen.count("7"), 1u);
  EXPECT_EQ(store->counts()->done, 50);
}

TEST_F(OutboxQueueTest, RetriesWithBackoffThenSucceeds) {
  queue = make_outbox_job_queue(*store, clock, fast());
  std::atomic<int> calls{0};
  queue->handle("flaky", [&](const Job& j) -> Result<void> {
    EXPECT_EQ(j.attempts, calls.load() + 1);
    if (++calls < 3) return fail(Errc::unavailable, "far end down");
    return ok();
  });
  queue->start();
  ASSERT_TRUE(queue->enqueue({{"flaky", "{}", ""}}));
  ASSERT_TRUE(eventually([&] { return queue->stats().succeeded == 1; }));
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(queue->stats().retried, 2u);
  EXPECT_EQ(store->counts()->dead, 0);
}

TEST_F(OutboxQueueTest, LastAttemptAndPoisonJobsEndInTheDeadLetters) {
  queue = make_outbox_job_queue(*store, clock, fast());
  std::atomic<int> down{0}, poison{0};
  queue->handle("down", [&](const Job&) -> Result<void> {
    ++down;
    return fail(Errc::unavailable, "still down");
  });
  queue->handle("poison", [&](const Job&) -> Result<void> {
    ++poison;
    return fail(Errc::invalid_argument, "payload unreadable");
  });
  queue->start();
  ASSERT_TRUE(queue->enqueue({{"down", "1", ""}, {"poison", "2", ""}, {"nobody", "3", ""}}));
  ASSERT_TRUE(eventually([&] { return queue->stats().dead == 3; }));
  EXPECT_EQ(down.load(), 3) << "max_attempts";
  EXPECT_EQ(poison.load(), 1) << "a poison job is not retried";
  auto dead = queue->dead_letters(10);
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 3u);
  std::set<std::string> errors;
  for (auto& j : *dead) errors.insert(j.last_error);
  EXPECT_TRUE(errors.count("payload unreadable"));
  EXPECT_TRUE(errors.count("still down"));
  EXPECT_TRUE(errors.count("no handler for job kind nobody"));
}

TEST_F(OutboxQueueTest, JobsWrittenWithAMessageRunAfterItsCommitAndFailedAppendsWriteNone) {
  auto ms = sqlite::make_messaging_store(*db);
  ASSERT_TRUE(ms);
  auto& messages = **ms;
  queue = make_outbox_job_queue(*store, clock, fast());
  std::mutex mu;
  std::vector<std::string> ran;
  queue->handle("m.new", [&](const Job& j) -> Result<void> {
    std::lock_guard lock(mu);
    ran.push_back(j.payload);
    return ok();
  });
  std::atomic<int> commits{0};
  messages.add_append_hook({[](const messaging::Message& m) {
                              return std::vector<NewJob>{{"m.new", m.id, "new:" + m.id}};
                            },
                            [&] {
                              ++commits;
                              queue->wake();
                            }});
  queue->start();
  messaging::Conversation conv;
  conv.id = "c1";
  conv.type = messaging::ConversationType::group;
  conv.created_by = "u1";
  conv.created_at = 1;
  ASSERT_TRUE(messages.create_conversation(conv, {{"u1", messaging::Role::owner, 1}}));
  messaging::NewMessage m;
  m.id = "m1";
  m.conversation_id = "c1";
  m.sender_id = "u1";
  m.text = "hi";
  m.client_msg_id = "k1";
  m.created_at = clock.now_ms();
  std::promise<Result<messaging::Appended>> done;
  messages.append_async(m, [&](Result<messaging::Appended> r) { done.set_value(std::move(r)); });
  ASSERT_TRUE(done.get_future().get());
  ASSERT_TRUE(messages.append(m));  // a retry: the original comes back, no second job
  auto stranger = m;
  stranger.id = "m2";
  stranger.sender_id = "u9";  // not a member: the append fails, and so no job
  stranger.client_msg_id = "k2";
  ASSERT_FALSE(messages.append(stranger));
  ASSERT_TRUE(eventually([&] { return queue->stats().succeeded >= 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::lock_guard lock(mu);
  EXPECT_EQ(ran, std::vector<std::string>{"m1"});
  EXPECT_EQ(commits.load(), 1);
  EXPECT_EQ(store->counts()->done + store->counts()->pending, 1);
}

}  // namespace
}  // namespace parley::jobs
