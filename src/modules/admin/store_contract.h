// The contract every AdminStore implementation must pass. An adapter's test instantiates it:
//   INSTANTIATE_TEST_SUITE_P(Sqlite, AdminStoreContract, testing::Values(factory));
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "modules/admin/store.h"

namespace parley::admin {

using AdminStoreFactory = std::function<std::shared_ptr<AdminStore>()>;
inline void PrintTo(const AdminStoreFactory&, std::ostream* os) { *os << "store"; }

class AdminStoreContract : public ::testing::TestWithParam<AdminStoreFactory> {
 protected:
  void SetUp() override { store = GetParam()(); }
  static Invite invite(std::string id, std::optional<Millis> expires, int max_uses) {
    return Invite{std::move(id), "01ADMIN", 1000, expires, max_uses, 0, std::nullopt};
  }
  std::shared_ptr<AdminStore> store;
};

TEST_P(AdminStoreContract, SettingsDefaultToOpenAndRoundTrip) {
  auto d = store->settings();
  ASSERT_TRUE(d);
  EXPECT_EQ(d->registration, RegistrationMode::open);
  EXPECT_TRUE(d->allowed_email_domains.empty());
  ASSERT_TRUE(store->put_settings({RegistrationMode::invite_only, {"example.com", "corp.test"}}));
  auto s = store->settings();
  EXPECT_EQ(s->registration, RegistrationMode::invite_only);
  EXPECT_EQ(s->allowed_email_domains, (std::vector<std::string>{"example.com", "corp.test"}));
  ASSERT_TRUE(store->put_settings({RegistrationMode::closed, {}}));
  EXPECT_EQ(store->settings()->registration, RegistrationMode::closed);
  EXPECT_TRUE(store->settings()->allowed_email_domains.empty());
}

TEST_P(AdminStoreContract, InviteIsUsableUntilUsedUpExpiredOrRevoked) {
  ASSERT_TRUE(store->create_invite(invite("01I1", 5000, 2), "hash-1"));
  ASSERT_TRUE(store->create_invite(invite("01I2", std::nullopt, 0), "hash-2"));
  ASSERT_TRUE(store->create_invite(invite("01I3", std::nullopt, 1), "hash-3"));
  auto a = store->consume_invite("hash-1", 2000);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->id, "01I1");
  EXPECT_EQ(a->uses, 1);
  EXPECT_TRUE(store->consume_invite("hash-1", 2000));
  EXPECT_EQ(store->consume_invite("hash-1", 2000).error().code, Errc::not_found);  // used up
  ASSERT_TRUE(store->release_invite("01I1"));
  EXPECT_EQ(store->consume_invite("hash-1", 6000).error().code, Errc::not_found);  // expired
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(store->consume_invite("hash-2", 9000));  // unlimited
  auto revoked = store->revoke_invite("01I3", 3000);
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->revoked_at, std::optional<Millis>(3000));
  EXPECT_EQ(store->revoke_invite("01I3", 4000)->revoked_at, std::optional<Millis>(3000));
  EXPECT_EQ(store->consume_invite("hash-3", 3500).error().code, Errc::not_found);
  EXPECT_EQ(store->consume_invite("no-such-hash", 1).error().code, Errc::not_found);
  EXPECT_EQ(store->revoke_invite("01NOPE", 1).error().code, Errc::not_found);
  auto list = store->list_invites(10);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].id, "01I3");  // newest first
  EXPECT_EQ((*list)[1].uses, 5);
  EXPECT_EQ((*list)[2].uses, 1);  // two taken, one given back
  EXPECT_EQ((*list)[2].max_uses, 2);
  EXPECT_EQ((*list)[2].expires_at, std::optional<Millis>(5000));
  EXPECT_FALSE((*list)[1].expires_at);
}

TEST_P(AdminStoreContract, ConcurrentUsesNeverPassTheLimit) {
  ASSERT_TRUE(store->create_invite(invite("01I1", std::nullopt, 3), "hash-1"));
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      if (store->consume_invite("hash-1", 2000)) ++admitted;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 3);
  EXPECT_EQ((*store->list_invites(1))[0].uses, 3);
}

}  // namespace parley::admin
