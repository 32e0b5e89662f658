#include "modules/users/users.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "core/crypto.h"

namespace parley::users {
namespace {

// Enough of a UserStore for the service's logic; the real stores pass store_contract.h.
class FakeUserStore final : public UserStore {
 public:
  Result<void> insert(const User& u) override {
    for (auto& [id, v] : by_id)
      if (v.username == u.username) return fail(Errc::already_exists, "taken", "username");
    by_id[u.id] = u;
    if (by_id.size() == 1) by_id[u.id].role = Role::admin;
    return ok();
  }
  Result<User> get(const std::string& id) override {
    auto it = by_id.find(id);
    if (it == by_id.end()) return fail(Errc::not_found, "no such user");
    return it->second;
  }
  Result<User> get_by_username(const std::string& name) override {
    for (auto& [id, v] : by_id)
      if (v.username == name) return v;
    return fail(Errc::not_found, "no such user");
  }
  Result<User> update_profile(const std::string& id, const ProfileFields& f) override {
    auto it = by_id.find(id);
    if (it == by_id.end()) return fail(Errc::not_found, "no such user");
    if (f.display_name) it->second.display_name = *f.display_name;
    if (f.status_text) it->second.status_text = *f.status_text;
    if (f.timezone) it->second.timezone = *f.timezone;
    return it->second;
  }
  Result<User> set_avatar(const std::string& id, const std::string& file_id) override {
    auto it = by_id.find(id);
    if (it == by_id.end()) return fail(Errc::not_found, "no such user");
    it->second.avatar_file_id = file_id;
    return it->second;
  }
  Result<User> find_by_avatar(const std::string& file_id) override {
    for (auto& [id, v] : by_id)
      if (!file_id.empty() && v.avatar_file_id == file_id) return v;
    return fail(Errc::not_found, "no such user");
  }
  Result<std::vector<User>> search_prefix(const std::string& prefix, int limit,
                                          const std::optional<std::string>& after) override {
    std::map<std::string, User> sorted;
    for (auto& [id, v] : by_id)
      if (v.username.rfind(prefix, 0) == 0 && v.username > after.value_or(""))
        sorted[v.username] = v;
    std::vector<User> out;
    for (auto& [n, v] : sorted)
      if (static_cast<int>(out.size()) < limit) out.push_back(v);
    return out;
  }
  Result<void> remove(const std::string& id) override {
    by_id.erase(id);
    return ok();
  }
  Result<User> set_role(const std::string& id, Role role) override {
    auto it = by_id.find(id);
    if (it == by_id.end()) return fail(Errc::not_found, "no such user");
    it->second.role = role;
    return it->second;
  }
  Result<User> set_deactivated(const std::string& id, std::optional<Millis> at) override {
    auto it = by_id.find(id);
    if (it == by_id.end()) return fail(Errc::not_found, "no such user");
    it->second.deactivated_at = at;
    return it->second;
  }
  std::map<std::string, User> by_id;
};

class UserServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { init_crypto(); }
  FakeUserStore store;
  FakeClock clock;
  UserService svc{store, clock};
};

TEST_F(UserServiceTest, CreateNormalisesUsernameAndDefaultsDisplayName) {
  auto u = svc.create({"Alice.B", std::nullopt, std::nullopt});
  ASSERT_TRUE(u);
  EXPECT_EQ(u->username, "alice.b");
  EXPECT_EQ(u->display_name, "alice.b");
  EXPECT_EQ(u->created_at, clock.now_ms());
  EXPECT_EQ(u->id.size(), 26u);
  EXPECT_EQ(svc.create({"ALICE.b", std::nullopt, std::nullopt}).error().code, Errc::already_exists);
}

TEST_F(UserServiceTest, RejectsBadUsernamesWithTheField) {
  for (const char* bad :
       {"ab", "a b", "al!ce", "\xC3\xA9t\xC3\xA9", "012345678901234567890123456789012"}) {
    auto r = svc.create({bad, std::nullopt, std::nullopt});
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    EXPECT_EQ(r.error().field, "username");
  }
  EXPECT_TRUE(store.by_id.empty());
}

TEST_F(UserServiceTest, ValidatesDisplayNameAndEmail) {
  EXPECT_EQ(svc.create({"bob", std::string("   "), std::nullopt}).error().field, "display_name");
  EXPECT_EQ(svc.create({"bob", std::string(65, 'x'), std::nullopt}).error().field, "display_name");
  EXPECT_EQ(svc.create({"bob", std::string("a\x01"), std::nullopt}).error().field, "display_name");
  EXPECT_EQ(svc.create({"bob", std::nullopt, std::string("no-at-sign")}).error().field, "email");
  auto ok64 = svc.create({"bob", std::string(64, 'x'), std::string("bob@example.org")});
  ASSERT_TRUE(ok64);
  EXPECT_EQ(ok64->email, "bob@example.org");
}

TEST_F(UserServiceTest, UpdateProfileAppliesOnlyGivenFields) {
  auto u = *svc.create({"carol", std::string("Carol"), std::nullopt});
  auto r = svc.update_profile(u.id, {.status_text = std::string("  on leave  ")});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->display_name, "Carol");
  EXPECT_EQ(r->status_text, "on leave");
  EXPECT_EQ(svc.update_profile(u.id, {.status_text = std::string(141, 'x')}).error().field,
            "status_text");
  EXPECT_TRUE(svc.update_profile(u.id, {.status_text = std::string("")}));
  EXPECT_EQ(store.by_id[u.id].status_text, "");
}

TEST_F(UserServiceTest, GetAndFindAnswerNotFoundForGarbage) {
  EXPECT_EQ(svc.get("../etc").error().code, Errc::not_found);
  EXPECT_EQ(svc.find_by_username("x y").error().code, Errc::not_found);
}

TEST_F(UserServiceTest, SearchPagesWithCursor) {
  for (auto n : {"dan1", "dan2", "dan3", "eve"})
    ASSERT_TRUE(svc.create({n, std::nullopt, std::nullopt}));
  auto p1 = svc.search("dan", 2, std::nullopt);
  ASSERT_TRUE(p1);
  ASSERT_EQ(p1->users.size(), 2u);
  ASSERT_TRUE(p1->next_cursor);
  auto p2 = svc.search("dan", 2, p1->next_cursor);
  ASSERT_TRUE(p2);
  ASSERT_EQ(p2->users.size(), 1u);
  EXPECT_EQ(p2->users[0].username, "dan3");
  EXPECT_FALSE(p2->next_cursor);
  EXPECT_EQ(svc.search(std::string(65, 'a'), 10, std::nullopt).error().field, "q");
}

TEST_F(UserServiceTest, TimezoneAcceptsIanaNamesUtcAndEmpty) {
  auto u = *svc.create({"tzone", std::nullopt, std::nullopt});
  for (const char* good : {"Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5",
                           "America/Port-au-Prince", "UTC", ""}) {
    auto r = svc.update_profile(u.id, {.timezone = std::string(good)});
    ASSERT_TRUE(r) << good << ": " << r.error().message;
    EXPECT_EQ(r->timezone, good);
  }
  ASSERT_TRUE(svc.update_profile(u.id, {.timezone = std::string("Asia/Tokyo")}));
  // Leaving the field out keeps it.
  ASSERT_TRUE(svc.update_profile(u.id, {.display_name = std::string("Tee Zed")}));
  EXPECT_EQ(store.by_id[u.id].timezone, "Asia/Tokyo");
}

TEST_F(UserServiceTest, TimezoneRefusesPathTricksAndUnknownNames) {
  auto u = *svc.create({"tzbad", std::nullopt, std::nullopt});
  for (const char* bad :
       {"Europe/Nowhere", "Paris", "utc", "/etc/passwd", "../../etc/passwd", "Europe/../UTC",
        "Europe/./Paris", "Europe//Paris", "Europe/Paris/", "/Europe/Paris", "Europe/Paris\n",
        "Europe\\Paris", "Europe/Par is", "Europe/Paris%00", "Europe", "posix/Europe/Paris",
        "right/UTC", "zone1970.tab", "Europe/Paris\xC3\xA9"}) {
    auto r = svc.update_profile(u.id, {.timezone = std::string(bad)});
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << bad;
    EXPECT_EQ(r.error().field, "timezone") << bad;
  }
  EXPECT_FALSE(check_timezone(std::string(65, 'A')));
  EXPECT_FALSE(check_timezone(std::string("Europe/Paris\0/x", 15))) << "an embedded NUL";
  EXPECT_EQ(store.by_id[u.id].timezone, "");
}

TEST_F(UserServiceTest, TimezoneNeedsATzifFileUnderTheZoneinfoFolder) {
  auto dir =
      std::filesystem::temp_directory_path() / ("users_test_tz_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "Test" / "Folder");
  std::ofstream(dir / "Test" / "Zone") << "TZif2 rest of the file";
  std::ofstream(dir / "Test" / "NotZone") << "#!/bin/sh";
  EXPECT_TRUE(check_timezone("Test/Zone", dir.string()));
  EXPECT_FALSE(check_timezone("Test/NotZone", dir.string()));
  EXPECT_FALSE(check_timezone("Test/Folder", dir.string())) << "a folder is not a zone";
  EXPECT_FALSE(check_timezone("Test/Missing", dir.string()));
  std::filesystem::remove_all(dir);
}

class AvatarTest : public UserServiceTest {
 protected:
  void SetUp() override {
    UserServiceTest::SetUp();
    me = *svc.create({"avatar", std::nullopt, std::nullopt});
    other = *svc.create({"other", std::nullopt, std::nullopt});
  }
  AvatarImage image(const std::string& owner) {
    return {"01J0000000000000000000FXYZ", owner, 640, true};
  }
  User me, other;
};

TEST_F(AvatarTest, SetFindAndClear) {
  auto r = svc.set_avatar(me.id, image(me.id));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->avatar_file_id, "01J0000000000000000000FXYZ");
  auto found = svc.find_by_avatar("01J0000000000000000000FXYZ");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, me.id);
  auto cleared = svc.clear_avatar(me.id);
  ASSERT_TRUE(cleared);
  EXPECT_EQ(cleared->avatar_file_id, "");
  EXPECT_EQ(svc.find_by_avatar("01J0000000000000000000FXYZ").error().code, Errc::not_found);
}

TEST_F(AvatarTest, RefusesAnotherUsersFileANonImageAndAFileNotReady) {
  auto expect_refused = [&](const AvatarImage& img, const char* why) {
    auto r = svc.set_avatar(me.id, img);
    ASSERT_FALSE(r) << why;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << why;
    EXPECT_EQ(r.error().field, "file_id") << why;
  };
  expect_refused(image(other.id), "another user's upload");
  auto pdf = image(me.id);
  pdf.width = 0;
  expect_refused(pdf, "not an image");
  auto held = image(me.id);
  held.ready = false;
  expect_refused(held, "not scanned clean");
  auto garbage = image(me.id);
  garbage.file_id = "../x";
  expect_refused(garbage, "not an id");
  EXPECT_EQ(store.by_id[me.id].avatar_file_id, "");
}

TEST_F(AvatarTest, FindByAvatarIsNotFoundForNobodysFileAndGarbage) {
  ASSERT_TRUE(svc.set_avatar(me.id, image(me.id)));
  EXPECT_EQ(svc.find_by_avatar("01J0000000000000000000NXNE").error().code, Errc::not_found);
  EXPECT_EQ(svc.find_by_avatar("").error().code, Errc::not_found);
  EXPECT_EQ(svc.find_by_avatar("../etc/passwd").error().code, Errc::not_found);
}

TEST_F(UserServiceTest, CreateReportsTheRoleTheStoreChose) {
  auto first = svc.create({"first", std::nullopt, std::nullopt});
  ASSERT_TRUE(first);
  EXPECT_EQ(first->role, Role::admin);
  auto second = svc.create({"second", std::nullopt, std::nullopt});
  ASSERT_TRUE(second);
  EXPECT_EQ(second->role, Role::user);
}

TEST_F(UserServiceTest, DeactivateKeepsTheFirstTimeAndReactivateClears) {
  auto u = svc.create({"someone", std::nullopt, std::nullopt});
  ASSERT_TRUE(u);
  clock.set_ms(5000);
  auto off = svc.deactivate(u->id);
  ASSERT_TRUE(off);
  EXPECT_EQ(off->deactivated_at, std::optional<Millis>(5000));
  clock.set_ms(9000);
  EXPECT_EQ(svc.deactivate(u->id)->deactivated_at, std::optional<Millis>(5000));
  EXPECT_FALSE(svc.reactivate(u->id)->deactivated_at);
  EXPECT_EQ(svc.deactivate("not-an-id").error().code, Errc::not_found);
}

TEST(Roles, NamesRoundTripAndUnknownNamesAreRefused) {
  EXPECT_STREQ(role_name(Role::admin), "admin");
  EXPECT_STREQ(role_name(Role::user), "user");
  EXPECT_EQ(parse_role("admin"), Role::admin);
  EXPECT_EQ(parse_role("user"), Role::user);
  EXPECT_FALSE(parse_role("Admin"));
  EXPECT_FALSE(parse_role(""));
}

}  // namespace
}  // namespace parley::users
