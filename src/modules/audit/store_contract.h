// The contract every AuditStore implementation must pass. An adapter's test instantiates it:
//   INSTANTIATE_TEST_SUITE_P(Sqlite, AuditStoreContract, testing::Values(factory));
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "modules/audit/store.h"

namespace parley::audit {

using AuditStoreFactory = std::function<std::shared_ptr<AuditStore>()>;
inline void PrintTo(const AuditStoreFactory&, std::ostream* os) { *os << "store"; }

class AuditStoreContract : public ::testing::TestWithParam<AuditStoreFactory> {
 protected:
  void SetUp() override { store = GetParam()(); }
  // Ids sort as strings, as core/id.h's do: a zero-padded counter is enough here.
  static Event make(int n, std::string actor, std::string action) {
    char id[32];
    std::snprintf(id, sizeof id, "01AUDIT%019d", n);
    return Event{id,
                 1000 + n,
                 std::move(actor),
                 std::move(action),
                 "user:" + std::to_string(n),
                 "192.0.2." + std::to_string(n % 250)};
  }
  // A query with every field spelled (the port's Query has no defaults for its filters).
  static Query query(std::optional<std::string> actor, std::optional<std::string> action,
                     std::optional<std::string> before, int limit = 50) {
    return Query{std::move(actor), std::move(action), std::move(before), limit};
  }
  std::shared_ptr<AuditStore> store;
};

TEST_P(AuditStoreContract, AppendsAndListsNewestFirstWithEveryField) {
  ASSERT_TRUE(store->append(make(1, "alice", "auth.sign_in")));
  ASSERT_TRUE(store->append(make(2, "", "admin.role_changed")));
  auto all = store->list(query(std::nullopt, std::nullopt, std::nullopt));
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, make(2, "", "").id);
  EXPECT_EQ((*all)[0].actor_id, "");
  EXPECT_EQ((*all)[1].actor_id, "alice");
  EXPECT_EQ((*all)[1].action, "auth.sign_in");
  EXPECT_EQ((*all)[1].target, "user:1");
  EXPECT_EQ((*all)[1].ip, "192.0.2.1");
  EXPECT_EQ((*all)[1].at, 1001);
}

TEST_P(AuditStoreContract, RepeatedIdIsAlreadyExistsAndKeepsTheFirst) {
  ASSERT_TRUE(store->append(make(1, "alice", "auth.sign_in")));
  auto again = store->append(make(1, "mallory", "auth.sign_in_failed"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Errc::already_exists);
  auto all = store->list(query(std::nullopt, std::nullopt, std::nullopt));
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].actor_id, "alice");
}

TEST_P(AuditStoreContract, FiltersByActorAndActionAndPagesByCursor) {
  for (int i = 1; i <= 9; ++i)
    ASSERT_TRUE(store->append(
        make(i, i % 3 == 0 ? "bob" : "alice", i % 2 == 0 ? "auth.sign_in" : "auth.logout_all")));
  auto bob = store->list(query("bob", std::nullopt, std::nullopt));
  ASSERT_TRUE(bob);
  ASSERT_EQ(bob->size(), 3u);  // 9, 6, 3
  EXPECT_EQ((*bob)[0].id, make(9, "", "").id);
  auto both = store->list(query("alice", "auth.sign_in", std::nullopt));
  ASSERT_TRUE(both);
  ASSERT_EQ(both->size(), 3u);  // 8, 4, 2
  EXPECT_EQ((*both)[2].id, make(2, "", "").id);
  auto first = store->list(query(std::nullopt, std::nullopt, std::nullopt, 4));
  ASSERT_EQ(first->size(), 4u);
  auto second = store->list(query(std::nullopt, std::nullopt, first->back().id, 4));
  ASSERT_TRUE(second);
  ASSERT_EQ(second->size(), 4u);
  EXPECT_EQ((*second)[0].id, make(5, "", "").id);
  auto last = store->list(query(std::nullopt, std::nullopt, (*second)[3].id, 4));
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ((*last)[0].id, make(1, "", "").id);
  EXPECT_TRUE(store->list(query(std::nullopt, "nothing.like.this", std::nullopt))->empty());
}

}  // namespace parley::audit
