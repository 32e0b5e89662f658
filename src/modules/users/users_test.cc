#include "modules/users/users.h"

#include <gtest/gtest.h>

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
  Result<User> update_profile(const std::string& id, const std::optional<std::string>& d,
                              const std::optional<std::string>& s) override {
    auto it = by_id.find(id);
    if (it == by_id.end()) return fail(Errc::not_found, "no such user");
    if (d) it->second.display_name = *d;
    if (s) it->second.status_text = *s;
    return it->second;
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
  auto r = svc.update_profile(u.id, {std::nullopt, std::string("  on leave  ")});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->display_name, "Carol");
  EXPECT_EQ(r->status_text, "on leave");
  EXPECT_EQ(svc.update_profile(u.id, {std::nullopt, std::string(141, 'x')}).error().field,
            "status_text");
  EXPECT_TRUE(svc.update_profile(u.id, {std::nullopt, std::string("")}));
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

}  // namespace
}  // namespace parley::users
