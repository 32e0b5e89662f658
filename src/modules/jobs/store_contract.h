// The contract every JobStore implementation must pass. An adapter's test instantiates it:
//   using jobs::JobStoreContract;
//   INSTANTIATE_TEST_SUITE_P(Sqlite, JobStoreContract,
//                            testing::Values(jobs::JobStoreFactory(&make_store)));
// Each test gets a fresh, empty store; a factory whose backend is missing may GTEST_SKIP() and
// return nullptr (SetUp only keeps the pointer).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "modules/jobs/store.h"

namespace parley::jobs {

using JobStoreFactory = std::function<std::shared_ptr<JobStore>()>;
inline void PrintTo(const JobStoreFactory&, std::ostream* os) { *os << "store"; }

class JobStoreContract : public ::testing::TestWithParam<JobStoreFactory> {
 protected:
  void SetUp() override { store = GetParam()(); }
  std::shared_ptr<JobStore> store;
};

TEST_P(JobStoreContract, ClaimsDueJobsOnceWithALeaseAndCountsAttempts) {
  ASSERT_TRUE(store->insert({{"a", "{\"n\":1}", "", 0, 3}, {"b", "{}", "", 5'000, 0}}, 1'000));
  auto first = store->claim(1'000, 10, 60'000);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 1u) << "b is not due until 5000";
  EXPECT_EQ((*first)[0].kind, "a");
  EXPECT_EQ((*first)[0].payload, "{\"n\":1}");
  EXPECT_EQ((*first)[0].attempts, 1);
  EXPECT_EQ((*first)[0].max_attempts, 3);
  auto again = store->claim(2'000, 10, 60'000);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty()) << "a is leased; b not due";
  auto later = store->claim(61'001, 10, 60'000);
  ASSERT_TRUE(later);
  ASSERT_EQ(later->size(), 2u) << "a's lease ended (its worker vanished) and b is due";
  auto a = std::find_if(later->begin(), later->end(), [](const Job& j) { return j.kind == "a"; });
  ASSERT_NE(a, later->end());
  EXPECT_EQ(a->attempts, 2);
}

// A worker records a batch's successes in one write: exactly the ids given become done.
TEST_P(JobStoreContract, CompletesSeveralJobsInOneWrite) {
  ASSERT_TRUE(store->insert({{"k", "1"}, {"k", "2"}, {"k", "3"}}, 1'000));
  auto c = store->claim(1'000, 10, 60'000);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->size(), 3u);
  ASSERT_TRUE(store->complete({(*c)[0].id, (*c)[2].id}, 1'500));
  ASSERT_TRUE(store->complete({}, 1'600));  // nothing to record
  auto counts = store->counts();
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->done, 2);
  EXPECT_EQ(counts->pending, 1);
  // The one left runs again once its lease ends; the done ones never do.
  auto again = store->claim(61'001, 10, 60'000);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].id, (*c)[1].id);
}

TEST_P(JobStoreContract, ReleasedLeasesRunAgainAtOnceButBackoffsStay) {
  ASSERT_TRUE(store->insert({{"a", "1", ""}, {"b", "2", ""}}, 1'000));
  auto c = store->claim(1'000, 10, 60'000);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->size(), 2u);
  auto b = (*c)[0].kind == "b" ? (*c)[0] : (*c)[1];
  ASSERT_TRUE(store->retry(b.id, 50'000, "later"));  // b waits for its backoff
  ASSERT_TRUE(store->release_leases());
  auto again = store->claim(2'000, 10, 60'000);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].kind, "a");
  EXPECT_EQ((*again)[0].attempts, 2);
}

TEST_P(JobStoreContract, IdempotencyKeySkipsASecondEnqueueEvenAfterDone) {
  ASSERT_TRUE(store->insert({{"k", "1", "key-1"}, {"k", "2", "key-1"}}, 1'000));
  auto c = store->claim(1'000, 10, 1'000);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].payload, "1");
  EXPECT_EQ((*c)[0].idempotency_key, "key-1");
  ASSERT_TRUE(store->complete({(*c)[0].id}, 1'500));
  ASSERT_TRUE(store->insert({{"k", "3", "key-1"}}, 2'000));
  auto none = store->claim(10'000, 10, 1'000);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto counts = store->counts();
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->done, 1);
  EXPECT_EQ(counts->pending, 0);
  // Once purged, the key may be used again.
  auto purged = store->purge_done(1'600);
  ASSERT_TRUE(purged);
  EXPECT_EQ(*purged, 1);
  ASSERT_TRUE(store->insert({{"k", "4", "key-1"}}, 3'000));
  auto fresh = store->claim(3'000, 10, 1'000);
  ASSERT_TRUE(fresh);
  ASSERT_EQ(fresh->size(), 1u);
  EXPECT_EQ((*fresh)[0].payload, "4");
}

TEST_P(JobStoreContract, RetryReschedulesAndBuryDeadLetters) {
  ASSERT_TRUE(store->insert({{"k", "p", "x"}}, 1'000));
  auto c = store->claim(1'000, 1, 60'000);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->size(), 1u);
  ASSERT_TRUE(store->retry((*c)[0].id, 3'000, "503 from the far end"));
  auto early = store->claim(2'999, 1, 60'000);
  ASSERT_TRUE(early);
  EXPECT_TRUE(early->empty());
  auto due = store->claim(3'000, 1, 60'000);
  ASSERT_TRUE(due);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].attempts, 2);
  EXPECT_EQ((*due)[0].last_error, "503 from the far end");
  ASSERT_TRUE(store->bury((*due)[0].id, 4'000, "gave up"));
  auto dead = store->dead(10);
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].kind, "k");
  EXPECT_EQ((*dead)[0].last_error, "gave up");
  EXPECT_EQ((*dead)[0].attempts, 2);
  auto none = store->claim(1'000'000, 10, 1'000);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty()) << "a dead job never runs again";
  auto counts = store->counts();
  ASSERT_TRUE(counts);
  EXPECT_EQ(counts->dead, 1);
  EXPECT_EQ(store->purge_done(1'000'000).value_or(-1), 0) << "dead rows are not purged";
}

TEST_P(JobStoreContract, BacklogCountsWaitingRunningScheduledAndDeadRows) {
  auto empty = store->backlog(1'000);
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->waiting + empty->running + empty->scheduled + empty->dead, 0);
  EXPECT_EQ(empty->oldest_waiting_run_at, 0);
  ASSERT_TRUE(store->insert({{"k", "a", "", 1'000},
                             {"k", "b", "", 1'200},
                             {"k", "c", "", 1'500},
                             {"k", "d", "", 9'000},
                             {"k", "e", "", 1'100}},
                            1'000));
  auto claimed = store->claim(1'600, 2, 60'000);  // a (1000) and e (1100): oldest first
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 2u);
  auto done = std::find_if(claimed->begin(), claimed->end(),
                           [](const jobs::Job& j) { return j.payload == "a"; });
  ASSERT_NE(done, claimed->end());
  ASSERT_TRUE(store->bury(done->id, 1'600, "poison"));
  auto b = store->backlog(1'600);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->waiting, 2);  // b and c
  EXPECT_EQ(b->running, 1);  // e
  EXPECT_EQ(b->scheduled, 1);  // d
  EXPECT_EQ(b->dead, 1);  // a
  EXPECT_EQ(b->oldest_waiting_run_at, 1'200);
}

TEST_P(JobStoreContract, ConcurrentClaimersNeverShareAJob) {
  std::vector<NewJob> many;
  for (int i = 0; i < 200; ++i) many.push_back({"k", std::to_string(i), "c" + std::to_string(i)});
  ASSERT_TRUE(store->insert(many, 1'000));
  std::vector<std::vector<std::string>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      while (true) {
        auto c = store->claim(1'000, 7, 60'000);
        if (!c || c->empty()) return;
        for (auto& j : *c) got[t].push_back(j.payload);
      }
    });
  for (auto& t : threads) t.join();
  std::multiset<std::string> all;
  for (auto& g : got) all.insert(g.begin(), g.end());
  EXPECT_EQ(all.size(), 200u);
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), 200u) << "a job claimed twice";
}

TEST_P(JobStoreContract, RemembersDoneKeys) {
  EXPECT_FALSE(store->was_done("push:m1:u1").value_or(true));
  EXPECT_TRUE(store->remember_done("push:m1:u1", 1'000).value_or(false));
  EXPECT_FALSE(store->remember_done("push:m1:u1", 2'000).value_or(true)) << "already there";
  EXPECT_TRUE(store->was_done("push:m1:u1").value_or(false));
}

}  // namespace parley::jobs
