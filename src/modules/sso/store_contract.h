// The contract every SsoStore implementation must pass; instantiated by each adapter's tests.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "modules/sso/store.h"

namespace parley::sso {

using SsoStoreFactory = std::function<std::shared_ptr<SsoStore>()>;
inline void PrintTo(const SsoStoreFactory&, std::ostream* os) { *os << "store"; }

class SsoStoreContract : public ::testing::TestWithParam<SsoStoreFactory> {
 protected:
  void SetUp() override { store = GetParam()(); }
  static FlowRecord flow(const std::string& state_hash, Millis expires_at) {
    return {state_hash,
            "corp",
            "nonce-" + state_hash,
            "verifier-" + state_hash,
            "https://chat.example/api/v1/auth/oidc/corp/callback",
            "binding-" + state_hash,
            expires_at};
  }
  std::shared_ptr<SsoStore> store;
};

TEST_P(SsoStoreContract, FlowIsTakenOnceWithAllItsFields) {
  ASSERT_TRUE(store->put_flow(flow("s1", 1'000), 100));
  auto got = store->take_flow("s1", 200);
  ASSERT_TRUE(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->provider, "corp");
  EXPECT_EQ((*got)->nonce, "nonce-s1");
  EXPECT_EQ((*got)->verifier, "verifier-s1");
  EXPECT_EQ((*got)->redirect_uri, "https://chat.example/api/v1/auth/oidc/corp/callback");
  EXPECT_EQ((*got)->binding_hash, "binding-s1");
  EXPECT_EQ((*got)->expires_at, 1'000);
  auto again = store->take_flow("s1", 200);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->has_value());
  EXPECT_FALSE(store->take_flow("unknown", 200)->has_value());
}

TEST_P(SsoStoreContract, ExpiredFlowIsNotReturnedAndOldFlowsArePurged) {
  ASSERT_TRUE(store->put_flow(flow("old", 500), 100));
  ASSERT_TRUE(store->put_flow(flow("live", 5'000), 100));
  EXPECT_FALSE(store->take_flow("old", 500)->has_value());   // expires_at is exclusive
  ASSERT_TRUE(store->put_flow(flow("late", 9'000), 6'000));  // purges "live" (expired at 5000)
  EXPECT_FALSE(store->take_flow("live", 100)->has_value());
  EXPECT_TRUE(store->take_flow("late", 6'001)->has_value());
}

TEST_P(SsoStoreContract, DuplicateStateRefused) {
  ASSERT_TRUE(store->put_flow(flow("s1", 1'000), 100));
  auto dup = store->put_flow(flow("s1", 1'000), 100);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Errc::already_exists);
}

TEST_P(SsoStoreContract, ConcurrentTakesGiveTheFlowToExactlyOne) {
  ASSERT_TRUE(store->put_flow(flow("race", 10'000), 100));
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      auto r = store->take_flow("race", 200);
      if (r && r->has_value()) ++winners;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
}

TEST_P(SsoStoreContract, LinksAreUniquePerIdentityAndPerAccountAndIssuer) {
  EXPECT_FALSE(store->find_link("https://idp", "sub1")->has_value());
  ASSERT_TRUE(store->create_link({"https://idp", "sub1", "U1", 100}));
  auto found = store->find_link("https://idp", "sub1");
  ASSERT_TRUE(found);
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->user_id, "U1");
  EXPECT_EQ((*found)->created_at, 100);
  // The subject is case-sensitive and scoped to its issuer.
  EXPECT_FALSE(store->find_link("https://idp", "SUB1")->has_value());
  EXPECT_FALSE(store->find_link("https://other", "sub1")->has_value());
  auto same_identity = store->create_link({"https://idp", "sub1", "U2", 200});
  ASSERT_FALSE(same_identity);
  EXPECT_EQ(same_identity.error().code, Errc::already_exists);
  auto second_for_account = store->create_link({"https://idp", "sub2", "U1", 200});
  ASSERT_FALSE(second_for_account);
  EXPECT_EQ(second_for_account.error().code, Errc::already_exists);
  EXPECT_TRUE(store->create_link({"https://other", "sub1", "U1", 300}));
}

TEST_P(SsoStoreContract, HandoffIsTakenOnceAndExpires) {
  ASSERT_TRUE(store->put_handoff("h1", "U1", 1'000, 100));
  ASSERT_TRUE(store->put_handoff("h2", "U2", 1'000, 100));
  auto got = store->take_handoff("h1", 999);
  ASSERT_TRUE(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, "U1");
  EXPECT_FALSE(store->take_handoff("h1", 999)->has_value());
  EXPECT_FALSE(store->take_handoff("h2", 1'000)->has_value());
  EXPECT_FALSE(store->take_handoff("nope", 1)->has_value());
}

}  // namespace parley::sso
