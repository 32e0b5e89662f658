// The contract every AuthStore implementation must pass; instantiated by each adapter's tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>

#include "modules/auth/store.h"

namespace parley::auth {

using AuthStoreFactory = std::function<std::shared_ptr<AuthStore>()>;
// ctest names each parameterised case after its printed parameter: name it, not its bytes.
inline void PrintTo(const AuthStoreFactory&, std::ostream* os) { *os << "store"; }

class AuthStoreContract : public ::testing::TestWithParam<AuthStoreFactory> {
 protected:
  void SetUp() override {
    store = GetParam()();
    ASSERT_TRUE(store->create_credentials("U1", "hash1"));
    SessionRecord s{"S1", "U1", "laptop", 100, 100, std::nullopt};
    ASSERT_TRUE(store->create_session(s, "r1", 10'000));
  }
  std::shared_ptr<AuthStore> store;
};

TEST_P(AuthStoreContract, CredentialsRoundTripAndDuplicateRefused) {
  auto c = store->credentials("U1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->password_hash, "hash1");
  EXPECT_FALSE(c->totp_secret);
  auto dup = store->create_credentials("U1", "x");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Errc::already_exists);
  ASSERT_TRUE(store->set_password_hash("U1", "hash2"));
  EXPECT_EQ(store->credentials("U1")->password_hash, "hash2");
  EXPECT_EQ(store->credentials("U2").error().code, Errc::not_found);
}

TEST_P(AuthStoreContract, RotateRefreshIsSingleUseAndReuseRevokes) {
  auto r = store->rotate_refresh("r1", "r2", 200, 20'000);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, RotateOutcome::rotated);
  EXPECT_EQ(r->session.id, "S1");
  EXPECT_EQ(store->session("S1")->last_seen_at, 200);
  // r1 presented again: reuse, the whole session is revoked, r2 dies with it.
  auto again = store->rotate_refresh("r1", "r3", 300, 20'000);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->outcome, RotateOutcome::reused);
  EXPECT_TRUE(store->session("S1")->revoked_at.has_value());
  auto after = store->rotate_refresh("r2", "r4", 400, 20'000);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->outcome, RotateOutcome::unknown);
}

TEST_P(AuthStoreContract, SessionsExpireWithTheirRefreshTokenAndRotationExtendsThem) {
  EXPECT_EQ(store->active_sessions("U1", 10'001)->size(), 0u);
  ASSERT_EQ(store->rotate_refresh("r1", "r2", 9'000, 30'000)->outcome, RotateOutcome::rotated);
  EXPECT_EQ(store->active_sessions("U1", 20'000)->size(), 1u);
  EXPECT_EQ(store->active_sessions("U1", 30'001)->size(), 0u);
}

TEST_P(AuthStoreContract, RotateRefreshUnknownOrExpired) {
  EXPECT_EQ(store->rotate_refresh("nope", "x", 200, 20'000)->outcome, RotateOutcome::unknown);
  EXPECT_EQ(store->rotate_refresh("r1", "x", 10'001, 20'000)->outcome, RotateOutcome::unknown);
}

TEST_P(AuthStoreContract, SessionsListAndRevokeOnlyOwn) {
  SessionRecord s2{"S2", "U1", "phone", 150, 150, std::nullopt};
  ASSERT_TRUE(store->create_session(s2, "r9", 10'000));
  auto list = store->active_sessions("U1", 200);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "S2");  // newest first
  auto other = store->revoke_session("U2", "S1", 500);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Errc::not_found);
  ASSERT_TRUE(store->revoke_session("U1", "S1", 500));
  EXPECT_EQ(store->active_sessions("U1", 600)->size(), 1u);
  EXPECT_EQ(store->revoke_session("U1", "S1", 600).error().code, Errc::not_found);
  EXPECT_EQ(store->rotate_refresh("r1", "x", 700, 20'000)->outcome, RotateOutcome::unknown);
}

TEST_P(AuthStoreContract, RevokeSessionsEndsAllButTheOneKept) {
  ASSERT_TRUE(store->create_session({"S2", "U1", "phone", 150, 150, std::nullopt}, "r2", 10'000));
  ASSERT_TRUE(store->create_session({"S3", "U1", "tablet", 160, 160, std::nullopt}, "r3", 10'000));
  ASSERT_TRUE(store->create_credentials("U2", "h"));
  ASSERT_TRUE(store->create_session({"S4", "U2", "other", 170, 170, std::nullopt}, "r4", 10'000));
  auto ended = store->revoke_sessions("U1", "S2", 500);
  ASSERT_TRUE(ended);
  std::sort(ended->begin(), ended->end());
  EXPECT_EQ(*ended, (std::vector<std::string>{"S1", "S3"}));
  auto left = store->active_sessions("U1", 600);
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].id, "S2");
  EXPECT_EQ(store->rotate_refresh("r3", "x", 700, 20'000)->outcome, RotateOutcome::unknown);
  EXPECT_EQ(store->active_sessions("U2", 600)->size(), 1u) << "another user's sessions stay";
  EXPECT_EQ(store->revoke_sessions("U1", "", 800)->size(), 1u) << "none kept: S2 ends too";
  EXPECT_TRUE(store->active_sessions("U1", 900)->empty());
}

TEST_P(AuthStoreContract, SessionRecordsExpiryAndLastAuthentication) {
  auto s = store->session("S1");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->expires_at, 10'000);
  EXPECT_EQ(s->authenticated_at, 0);
  ASSERT_TRUE(store->mark_authenticated("S1", 4'000));
  EXPECT_EQ(store->session("S1")->authenticated_at, 4'000);
  ASSERT_EQ(store->rotate_refresh("r1", "r2", 5'000, 30'000)->outcome, RotateOutcome::rotated);
  EXPECT_EQ(store->session("S1")->expires_at, 30'000);
  EXPECT_EQ(store->mark_authenticated("nope", 4'000).error().code, Errc::not_found);
  ASSERT_TRUE(store->revoke_session("U1", "S1", 6'000));
  EXPECT_EQ(store->mark_authenticated("S1", 7'000).error().code, Errc::not_found);
}

TEST_P(AuthStoreContract, TotpLifecycle) {
  ASSERT_TRUE(store->set_pending_totp("U1", "secret"));
  EXPECT_EQ(store->credentials("U1")->pending_totp_secret, "secret");
  ASSERT_TRUE(store->enable_totp("U1", {"h1", "h2"}));
  auto c = store->credentials("U1");
  EXPECT_EQ(c->totp_secret, "secret");
  EXPECT_FALSE(c->pending_totp_secret);
  EXPECT_TRUE(*store->consume_totp_step("U1", 10));
  EXPECT_FALSE(*store->consume_totp_step("U1", 10));  // replay
  EXPECT_FALSE(*store->consume_totp_step("U1", 9));   // older
  EXPECT_TRUE(*store->consume_totp_step("U1", 11));
  EXPECT_TRUE(*store->consume_recovery_code("U1", "h1"));
  EXPECT_FALSE(*store->consume_recovery_code("U1", "h1"));
  EXPECT_FALSE(*store->consume_recovery_code("U1", "zz"));
  ASSERT_TRUE(store->disable_totp("U1"));
  EXPECT_FALSE(store->credentials("U1")->totp_secret);
  EXPECT_FALSE(*store->consume_recovery_code("U1", "h2"));
}

TEST_P(AuthStoreContract, SigningKeyIsCreatedOnceThenKept) {
  auto first = store->signing_key({"k1", "s1"});
  ASSERT_TRUE(first);
  EXPECT_EQ(first->kid, "k1");
  auto second = store->signing_key({"k2", "s2"});
  ASSERT_TRUE(second);
  EXPECT_EQ(second->kid, "k1");
  EXPECT_EQ(second->secret, "s1");
}

}  // namespace parley::auth
