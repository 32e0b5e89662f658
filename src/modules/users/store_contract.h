// The contract every UserStore implementation must pass. An adapter's test instantiates it:
//   INSTANTIATE_TEST_SUITE_P(Sqlite, UserStoreContract, testing::Values(&make_sqlite_store));
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "modules/users/store.h"

namespace parley::users {

using UserStoreFactory = std::function<std::shared_ptr<UserStore>()>;
// ctest names each parameterised case after its printed parameter: name it, not its bytes.
inline void PrintTo(const UserStoreFactory&, std::ostream* os) { *os << "store"; }

class UserStoreContract : public ::testing::TestWithParam<UserStoreFactory> {
 protected:
  void SetUp() override { store = GetParam()(); }
  User make(const std::string& id, const std::string& username, const std::string& display) {
    User u;
    u.id = id;
    u.username = username;
    u.display_name = display;
    u.created_at = 1000;
    return u;
  }
  std::shared_ptr<UserStore> store;
};

TEST_P(UserStoreContract, InsertThenGetByIdAndUsername) {
  ASSERT_TRUE(store->insert(make("01A", "alice", "Alice A")));
  auto byid = store->get("01A");
  ASSERT_TRUE(byid);
  EXPECT_EQ(byid->username, "alice");
  EXPECT_EQ(byid->display_name, "Alice A");
  EXPECT_EQ(byid->created_at, 1000);
  auto byname = store->get_by_username("alice");
  ASSERT_TRUE(byname);
  EXPECT_EQ(byname->id, "01A");
}

TEST_P(UserStoreContract, UnknownIdIsNotFound) {
  auto r = store->get("nope");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
}

TEST_P(UserStoreContract, DuplicateUsernameIsAlreadyExistsCaseInsensitively) {
  ASSERT_TRUE(store->insert(make("01A", "alice", "A")));
  auto r = store->insert(make("01B", "ALICE", "B"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::already_exists);
  EXPECT_FALSE(store->get("01B"));
}

TEST_P(UserStoreContract, UpdateProfileChangesOnlyProfileFields) {
  ASSERT_TRUE(store->insert(make("01A", "alice", "A")));
  auto updated = store->update_profile(
      "01A", {.display_name = std::string("Alice"), .status_text = std::string("busy")});
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->display_name, "Alice");
  ASSERT_TRUE(store->update_profile("01A", {.status_text = std::string("away")}));
  auto u = store->get("01A");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->display_name, "Alice");
  EXPECT_EQ(u->status_text, "away");
  EXPECT_EQ(u->username, "alice");
  auto missing = store->update_profile("nope", {.display_name = std::string("x")});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

TEST_P(UserStoreContract, TimezoneRoundTripsAndIsKeptWhenNotGiven) {
  auto u = make("01A", "alice", "A");
  u.timezone = "Asia/Tokyo";
  ASSERT_TRUE(store->insert(u));
  EXPECT_EQ(store->get("01A")->timezone, "Asia/Tokyo");
  EXPECT_EQ(store->get("01A")->avatar_file_id, "");
  auto set = store->update_profile("01A", {.timezone = std::string("Europe/Paris")});
  ASSERT_TRUE(set);
  EXPECT_EQ(set->timezone, "Europe/Paris");
  ASSERT_TRUE(store->update_profile(
      "01A", {.display_name = std::string("Alice"), .status_text = std::string("busy")}));
  EXPECT_EQ(store->get("01A")->timezone, "Europe/Paris");
  EXPECT_EQ(store->get_by_username("alice")->timezone, "Europe/Paris");
  ASSERT_TRUE(store->update_profile("01A", {.timezone = std::string("")}));
  EXPECT_EQ(store->get("01A")->timezone, "");
  EXPECT_EQ(store->get("01A")->display_name, "Alice");
}

TEST_P(UserStoreContract, AvatarFileIdRoundTripsAndFindsItsUser) {
  ASSERT_TRUE(store->insert(make("01A", "alice", "A")));
  ASSERT_TRUE(store->insert(make("01B", "bob", "B")));
  auto set = store->set_avatar("01A", "F1");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->avatar_file_id, "F1");
  EXPECT_EQ(set->username, "alice");
  EXPECT_EQ(store->get("01A")->avatar_file_id, "F1");
  EXPECT_EQ(store->get("01B")->avatar_file_id, "");
  auto found = store->find_by_avatar("F1");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, "01A");
  EXPECT_EQ(store->find_by_avatar("F2").error().code, Errc::not_found);
  EXPECT_EQ(store->find_by_avatar("f1").error().code, Errc::not_found) << "ids are exact";
  // Profile edits leave the avatar alone, and the avatar leaves the profile alone.
  ASSERT_TRUE(store->update_profile("01A", {.display_name = std::string("Alice")}));
  EXPECT_EQ(store->get("01A")->avatar_file_id, "F1");
  EXPECT_EQ(store->set_avatar("nope", "F1").error().code, Errc::not_found);
}

TEST_P(UserStoreContract, ReplacingOrClearingTheAvatarForgetsTheOldFile) {
  ASSERT_TRUE(store->insert(make("01A", "alice", "A")));
  ASSERT_TRUE(store->insert(make("01B", "bob", "B")));
  ASSERT_TRUE(store->set_avatar("01A", "F1"));
  ASSERT_TRUE(store->set_avatar("01A", "F2"));
  EXPECT_EQ(store->find_by_avatar("F1").error().code, Errc::not_found);
  EXPECT_EQ(store->find_by_avatar("F2")->id, "01A");
  auto cleared = store->set_avatar("01A", "");
  ASSERT_TRUE(cleared);
  EXPECT_EQ(cleared->avatar_file_id, "");
  EXPECT_EQ(store->find_by_avatar("F2").error().code, Errc::not_found);
  // Users without an avatar are never found by the empty id.
  EXPECT_EQ(store->find_by_avatar("").error().code, Errc::not_found);
}

TEST_P(UserStoreContract, SearchPrefixMatchesUsernameOrDisplayNameInOrderWithPaging) {
  ASSERT_TRUE(store->insert(make("1", "bob", "Robert")));
  ASSERT_TRUE(store->insert(make("2", "alice", "Alice")));
  ASSERT_TRUE(store->insert(make("3", "rob", "Rob")));
  ASSERT_TRUE(store->insert(make("4", "carol", "Carol")));
  auto r = store->search_prefix("ro", 10, std::nullopt);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].username, "bob");  // display name Robert
  EXPECT_EQ((*r)[1].username, "rob");
  auto page = store->search_prefix("", 2, std::nullopt);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[1].username, "bob");
  auto next = store->search_prefix("", 10, std::string("bob"));
  ASSERT_TRUE(next);
  ASSERT_EQ(next->size(), 2u);
  EXPECT_EQ((*next)[0].username, "carol");
}

TEST_P(UserStoreContract, SearchTreatsLikeWildcardsLiterally) {
  ASSERT_TRUE(store->insert(make("1", "a_b", "x")));
  ASSERT_TRUE(store->insert(make("2", "axb", "y")));
  auto r = store->search_prefix("a_", 10, std::nullopt);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].username, "a_b");
  auto pct = store->search_prefix("%", 10, std::nullopt);
  ASSERT_TRUE(pct);
  EXPECT_TRUE(pct->empty());
}

TEST_P(UserStoreContract, RemoveDeletes) {
  ASSERT_TRUE(store->insert(make("01A", "alice", "A")));
  ASSERT_TRUE(store->remove("01A"));
  EXPECT_FALSE(store->get("01A"));
  EXPECT_TRUE(store->insert(make("01B", "alice", "A")));
}

TEST_P(UserStoreContract, FirstUserIsAdminAndLaterOnesKeepTheirRole) {
  ASSERT_TRUE(store->insert(make("01A", "alice", "A")));
  ASSERT_TRUE(store->insert(make("01B", "bob", "B")));
  EXPECT_EQ(store->get("01A")->role, Role::admin);
  EXPECT_EQ(store->get("01B")->role, Role::user);
  EXPECT_FALSE(store->get("01B")->deactivated_at);
}

TEST_P(UserStoreContract, FirstUserRaceGivesOneAdmin) {
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([this, i] {
      auto id = "01R" + std::to_string(i);
      (void)store->insert(make(id, "racer" + std::to_string(i), "R"));
    });
  for (auto& t : threads) t.join();
  int admins = 0;
  for (int i = 0; i < 8; ++i) {
    auto u = store->get("01R" + std::to_string(i));
    ASSERT_TRUE(u);
    admins += u->role == Role::admin ? 1 : 0;
  }
  EXPECT_EQ(admins, 1);
}

TEST_P(UserStoreContract, SetRoleKeepsOneActiveAdmin) {
  ASSERT_TRUE(store->insert(make("01A", "alice", "A")));
  ASSERT_TRUE(store->insert(make("01B", "bob", "B")));
  auto last = store->set_role("01A", Role::user);
  ASSERT_FALSE(last);
  EXPECT_EQ(last.error().code, Errc::failed_precondition);
  EXPECT_EQ(store->get("01A")->role, Role::admin);
  auto promoted = store->set_role("01B", Role::admin);
  ASSERT_TRUE(promoted);
  EXPECT_EQ(promoted->role, Role::admin);
  auto demoted = store->set_role("01A", Role::user);
  ASSERT_TRUE(demoted);
  EXPECT_EQ(demoted->role, Role::user);
  EXPECT_EQ(store->set_role("nope", Role::admin).error().code, Errc::not_found);
}

TEST_P(UserStoreContract, DeactivationSetsAndClearsAndSparesTheLastAdmin) {
  ASSERT_TRUE(store->insert(make("01A", "alice", "A")));
  ASSERT_TRUE(store->insert(make("01B", "bob", "B")));
  auto off = store->set_deactivated("01B", Millis{5000});
  ASSERT_TRUE(off);
  EXPECT_EQ(off->deactivated_at, std::optional<Millis>(5000));
  EXPECT_EQ(store->get("01B")->deactivated_at, std::optional<Millis>(5000));
  auto on = store->set_deactivated("01B", std::nullopt);
  ASSERT_TRUE(on);
  EXPECT_FALSE(on->deactivated_at);
  auto admin = store->set_deactivated("01A", Millis{6000});
  ASSERT_FALSE(admin);
  EXPECT_EQ(admin.error().code, Errc::failed_precondition);
  EXPECT_FALSE(store->get("01A")->deactivated_at);
  EXPECT_EQ(store->set_deactivated("nope", Millis{1}).error().code, Errc::not_found);
}

}  // namespace parley::users
