// Profiles, the user directory, and how requests without a valid token are refused.
#include <algorithm>
#include <set>

#include "harness.h"

namespace parley::itest {
namespace {

using boost::json::object;

class UsersTest : public SharedServerTest {};

void expect_user_shape(const boost::json::value& v, const std::string& where) {
  ASSERT_TRUE(v.is_object()) << where;
  const auto& u = v.as_object();
  for (const char* k :
       {"id", "username", "display_name", "status_text", "avatar_url", "created_at"})
    EXPECT_TRUE(u.contains(k)) << where << " lacks " << k << ": " << boost::json::serialize(v);
  EXPECT_FALSE(u.contains("email")) << where << " leaks the email";
  EXPECT_FALSE(u.contains("password_hash")) << where;
}

TEST_F(UsersTest, MeReturnsOwnProfile) {
  auto api = this->api();
  auto a = register_account(api, "me");
  auto r = api.get("/api/v1/users/me", a.access);
  ASSERT_EQ(r.status, 200) << r;
  expect_user_shape(r.json, "GET /users/me");
  EXPECT_EQ(r.str("id"), a.id);
  EXPECT_EQ(r.str("username"), a.username);
  EXPECT_EQ(r.str("display_name"), a.username);
}

TEST_F(UsersTest, PatchMeUpdatesProfile) {
  auto api = this->api();
  auto a = register_account(api, "patch");
  auto r = api.patch(
      "/api/v1/users/me",
      object{{"display_name", "  Ada L\xC3\xB6velace  "}, {"status_text", "Computing"}}, a.access);
  ASSERT_EQ(r.status, 200) << r;
  expect_user_shape(r.json, "PATCH /users/me");
  EXPECT_EQ(r.str("display_name"), "Ada L\xC3\xB6velace") << "display_name not trimmed";
  EXPECT_EQ(r.str("status_text"), "Computing");
  EXPECT_EQ(r.str("username"), a.username);

  auto me = api.get("/api/v1/users/me", a.access);
  EXPECT_EQ(me.str("display_name"), "Ada L\xC3\xB6velace") << me;
  EXPECT_EQ(me.str("status_text"), "Computing") << me;

  // A partial patch leaves the other field alone; status_text may be cleared; 140 chars fit.
  auto partial = api.patch("/api/v1/users/me", object{{"status_text", ""}}, a.access);
  ASSERT_EQ(partial.status, 200) << partial;
  EXPECT_EQ(partial.str("display_name"), "Ada L\xC3\xB6velace");
  EXPECT_EQ(partial.str("status_text"), "");
  std::string s140;
  for (int i = 0; i < 140; ++i) s140 += "\xC3\xA9";  // 140 characters, 280 bytes
  auto full = api.patch("/api/v1/users/me", object{{"status_text", s140}}, a.access);
  EXPECT_EQ(full.status, 200) << full;
  EXPECT_EQ(full.str("status_text"), s140);
  auto noop = api.patch("/api/v1/users/me", object{}, a.access);
  EXPECT_EQ(noop.status, 200) << noop;
  EXPECT_EQ(noop.str("status_text"), s140);

  // Others see the change.
  auto b = register_account(api, "viewer");
  auto seen = api.get("/api/v1/users/" + a.id, b.access);
  EXPECT_EQ(seen.str("display_name"), "Ada L\xC3\xB6velace") << seen;
}

TEST_F(UsersTest, PatchMeRejectsBadInputAndChangesNothing) {
  auto api = this->api();
  auto a = register_account(api, "patchbad");
  ASSERT_EQ(api.patch("/api/v1/users/me",
                      object{{"display_name", "Stable"}, {"status_text", "stable"}}, a.access)
                .status,
            200);
  struct Case {
    std::string what, body;
    int status;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"empty display_name", R"({"display_name":""})", 422, "display_name"},
      {"blank display_name", R"({"display_name":"   "})", 422, "display_name"},
      {"control char in display_name", R"({"display_name":"a\u0007b"})", 422, "display_name"},
      {"display_name too long", R"({"display_name":")" + std::string(200, 'd') + "\"}", 422,
       "display_name"},
      {"status_text over 140", R"({"status_text":")" + std::string(141, 's') + "\"}", 422,
       "status_text"},
      {"good display_name with bad status_text",
       R"({"display_name":"Changed","status_text":")" + std::string(141, 's') + "\"}", 422,
       "status_text"},
      {"display_name a number", R"({"display_name":5})", 400, ""},
      {"status_text an array", R"({"status_text":["x"]})", 400, ""},
      {"malformed JSON", R"({"display_name":)", 400, ""},
      {"array root", R"([])", 400, ""},
      {"number beyond 2^53", R"({"display_name":"Changed","n":9007199254740993})", 400, ""},
  };
  for (const auto& c : cases) {
    auto r = api.call("PATCH", "/api/v1/users/me", c.body, a.access);
    EXPECT_EQ(r.status, c.status) << c.what << ": " << r;
    EXPECT_EQ(r.error_code(), c.status == 422 ? "validation_failed" : "bad_request") << c.what;
    if (!c.field.empty()) {
      EXPECT_EQ(r.error_field(), c.field) << c.what << ": " << r;
    }
  }
  auto me = api.get("/api/v1/users/me", a.access);
  EXPECT_EQ(me.str("display_name"), "Stable") << me;
  EXPECT_EQ(me.str("status_text"), "stable") << me;
}

TEST(UsersPersistence, ProfileAndTokensSurviveRestart) {
  ServerProcess server({"--rate-limits", kGenerousLimits});
  auto err = server.start();
  ASSERT_TRUE(err.empty()) << err;
  Account a;
  {
    Api api(server.port());
    a = register_account(api, "persist");
    auto r =
        api.patch("/api/v1/users/me",
                  object{{"display_name", "Persisted"}, {"status_text", "still here"}}, a.access);
    ASSERT_EQ(r.status, 200) << r;
  }
  auto status = server.stop();
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << server.logs();
  err = server.start();
  ASSERT_TRUE(err.empty()) << err;
  Api api(server.port());
  auto login =
      api.post("/api/v1/auth/login", object{{"username", a.username}, {"password", a.password}});
  ASSERT_EQ(login.status, 200) << login;
  auto me = api.get("/api/v1/users/me", login.str("access_token"));
  ASSERT_EQ(me.status, 200) << me;
  EXPECT_EQ(me.str("display_name"), "Persisted");
  EXPECT_EQ(me.str("status_text"), "still here");
  // Sessions and signing keys are stored too: tokens issued before the restart still work.
  auto old = api.get("/api/v1/users/me", a.access);
  EXPECT_EQ(old.status, 200) << "access token from before the restart refused: " << old;
  auto refreshed = api.post("/api/v1/auth/refresh", object{{"refresh_token", a.refresh}});
  EXPECT_EQ(refreshed.status, 200) << refreshed;
}

TEST_F(UsersTest, GetUserById) {
  auto api = this->api();
  auto a = register_account(api, "byid");
  auto b = register_account(api, "looker");
  auto r = api.get("/api/v1/users/" + a.id, b.access);
  ASSERT_EQ(r.status, 200) << r;
  expect_user_shape(r.json, "GET /users/{id}");
  EXPECT_EQ(r.str("id"), a.id);
  EXPECT_EQ(r.str("username"), a.username);

  for (const std::string& id :
       std::vector<std::string>{"01ARZ3NDEKTSV4RRFFQ69G5FAV", "garbage", "0", std::string(300, 'x'),
                                "%2e%2e", "01ARZ3NDEKTSV4RRFFQ69G5FA%00"}) {
    auto nf = api.get("/api/v1/users/" + id, b.access);
    EXPECT_TRUE(nf.status == 404 || (nf.status == 400 && id.find('%') != std::string::npos))
        << id << ": " << nf;
    if (nf.status == 404) {
      EXPECT_EQ(nf.error_code(), "not_found") << nf;
    }
  }
}

TEST_F(UsersTest, DirectorySearchPagesThroughAllMatches) {
  auto api = this->api();
  // A prefix no other test uses.
  std::string prefix = unique_name("dir");
  std::set<std::string> expected;
  Account last;
  for (int i = 0; i < 5; ++i) {
    auto r = api.post(
        "/api/v1/auth/register",
        object{{"username", prefix + "." + std::to_string(i)}, {"password", "long-enough-pw"}});
    ASSERT_EQ(r.status, 201) << r;
    expected.insert(std::string(r.obj().at("user").at("username").as_string()));
    last.access = r.str("access_token");
  }
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (; pages < 10; ++pages) {
    std::string target = "/api/v1/users?q=" + prefix + "&limit=2";
    if (!cursor.empty()) target += "&cursor=" + cursor;
    auto r = api.get(target, last.access);
    ASSERT_EQ(r.status, 200) << r;
    ASSERT_TRUE(r.obj().contains("users")) << r;
    const auto& users = r.obj().at("users").as_array();
    EXPECT_LE(users.size(), 2u) << r;
    for (const auto& u : users) {
      expect_user_shape(u, "search result");
      std::string name(u.at("username").as_string());
      EXPECT_TRUE(seen.insert(name).second) << name << " returned twice";
      EXPECT_EQ(name.rfind(prefix, 0), 0u) << name << " does not match " << prefix;
    }
    auto next = r.obj().find("next_cursor");
    if (next == r.obj().end() || next->value().is_null()) break;
    ASSERT_TRUE(next->value().is_string()) << r;
    ASSERT_EQ(users.size(), 2u) << "a short page with a next_cursor: " << r;
    cursor = std::string(next->value().as_string());
  }
  EXPECT_EQ(pages, 2) << "5 matches at 2 a page should take 3 pages";
  EXPECT_EQ(seen, expected);

  // Upper-case query matches too (the directory is case-insensitive on usernames).
  std::string upper = prefix;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  auto up = api.get("/api/v1/users?q=" + upper + "&limit=200", last.access);
  ASSERT_EQ(up.status, 200) << up;
  EXPECT_EQ(up.obj().at("users").as_array().size(), 5u) << up;
  EXPECT_FALSE(up.obj().contains("next_cursor")) << up;

  // By display name.
  auto named = register_account(api, "dn");
  std::string display = "Zq" + unique_name("disp");
  ASSERT_EQ(api.patch("/api/v1/users/me", object{{"display_name", display}}, named.access).status,
            200);
  auto by_display = api.get("/api/v1/users?q=" + display.substr(0, 10), named.access);
  ASSERT_EQ(by_display.status, 200) << by_display;
  ASSERT_EQ(by_display.obj().at("users").as_array().size(), 1u) << by_display;
  EXPECT_EQ(by_display.obj().at("users").as_array()[0].at("id"), boost::json::value(named.id));

  // LIKE wildcards in q are literal.
  auto wild = api.get("/api/v1/users?q=%25" + prefix.substr(1), last.access);
  ASSERT_EQ(wild.status, 200) << wild;
  EXPECT_TRUE(wild.obj().at("users").as_array().empty()) << "'%' acted as a wildcard: " << wild;
  auto under =
      api.get("/api/v1/users?q=" + prefix.substr(0, 1) + "_" + prefix.substr(2), last.access);
  ASSERT_EQ(under.status, 200) << under;
  EXPECT_TRUE(under.obj().at("users").as_array().empty()) << "'_' acted as a wildcard: " << under;
}

TEST_F(UsersTest, DirectoryLimitValidation) {
  auto api = this->api();
  auto a = register_account(api, "limits");
  for (const char* bad : {"0", "201", "-1", "99999999999"}) {
    auto r = api.get(std::string("/api/v1/users?q=x&limit=") + bad, a.access);
    EXPECT_TRUE(r.status == 422 || (r.status == 400 && bad[0] != '0' && bad[0] != '2'))
        << "limit=" << bad << ": " << r;
    if (std::string(bad) == "0" || std::string(bad) == "201") {
      EXPECT_EQ(r.status, 422) << r;
      EXPECT_EQ(r.error_code(), "validation_failed") << r;
      EXPECT_EQ(r.error_field(), "limit") << r;
    }
  }
  for (const char* bad : {"abc", "", "1.5", "2e1"}) {
    auto r = api.get(std::string("/api/v1/users?q=x&limit=") + bad, a.access);
    EXPECT_EQ(r.status, 400) << "limit=" << bad << ": " << r;
    EXPECT_EQ(r.error_code(), "bad_request") << r;
  }
  EXPECT_EQ(api.get("/api/v1/users?q=x&limit=200", a.access).status, 200);
  EXPECT_EQ(api.get("/api/v1/users?q=x&limit=1", a.access).status, 200);
  auto no_limit = api.get("/api/v1/users?q=x", a.access);
  EXPECT_EQ(no_limit.status, 200) << no_limit;
  auto long_q = api.get("/api/v1/users?q=" + std::string(65, 'q'), a.access);
  EXPECT_EQ(long_q.status, 422) << long_q;
  auto bad_utf8 = api.get("/api/v1/users?q=%FF%FE", a.access);
  EXPECT_EQ(bad_utf8.status, 400) << bad_utf8;
  auto bad_escape = api.get("/api/v1/users?q=%G1", a.access);
  EXPECT_TRUE(bad_escape.status == 400 || bad_escape.status == 200) << bad_escape;
}

TEST_F(UsersTest, RequestsWithoutAValidTokenAre401) {
  auto api = this->api();
  auto a = register_account(api, "tokens");

  auto none = api.get("/api/v1/users/me");
  EXPECT_EQ(none.status, 401) << none;
  EXPECT_EQ(none.error_code(), "unauthorized") << none;
  EXPECT_EQ(none.header("WWW-Authenticate").rfind("Bearer", 0), 0u)
      << "WWW-Authenticate: " << none.header("WWW-Authenticate");

  auto expect_401 = [&](const std::string& what, const std::vector<net::Header>& headers) {
    auto r = api.call("GET", "/api/v1/users/me", {}, {}, headers);
    EXPECT_EQ(r.status, 401) << what << ": " << r;
    EXPECT_EQ(r.error_code(), "unauthorized") << what << ": " << r;
    EXPECT_TRUE(r.has_header("WWW-Authenticate")) << what;
  };
  expect_401("garbage token", {{"Authorization", "Bearer garbage"}});
  expect_401("empty bearer", {{"Authorization", "Bearer "}});
  expect_401("basic scheme", {{"Authorization", "Basic " + a.access}});
  expect_401("no scheme", {{"Authorization", a.access}});
  expect_401("refresh token as access token", {{"Authorization", "Bearer " + a.refresh}});

  // A flipped byte in the signature.
  auto dot = a.access.rfind('.');
  ASSERT_NE(dot, std::string::npos) << a.access;
  ASSERT_GT(a.access.size(), dot + 12);
  std::string sig_flip = a.access;
  char& c = sig_flip[dot + 10];
  c = c == 'A' ? 'B' : 'A';
  expect_401("flipped signature byte", {{"Authorization", "Bearer " + sig_flip}});
  // And in the signed part.
  std::string body_flip = a.access;
  char& d = body_flip[dot / 2];
  d = d == 'A' ? 'B' : 'A';
  expect_401("flipped payload byte", {{"Authorization", "Bearer " + body_flip}});
  expect_401("truncated token", {{"Authorization", "Bearer " + a.access.substr(0, dot)}});
  expect_401("oversized token", {{"Authorization", "Bearer " + a.access + std::string(3000, 'A')}});

  // The genuine token still works (nothing above poisoned the session).
  EXPECT_EQ(api.get("/api/v1/users/me", a.access).status, 200);

  // Every authenticated route refuses without a token.
  for (auto [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"PATCH", "/api/v1/users/me"},
                                                        {"GET", "/api/v1/users/" + a.id},
                                                        {"GET", "/api/v1/users?q=a"},
                                                        {"GET", "/api/v1/auth/sessions"},
                                                        {"POST", "/api/v1/auth/logout"},
                                                        {"POST", "/api/v1/auth/totp/setup"},
                                                        {"POST", "/api/v1/auth/totp/enable"},
                                                        {"POST", "/api/v1/auth/totp/disable"}}) {
    auto r = api.call(method, path, method == "GET" ? "" : "{}");
    EXPECT_EQ(r.status, 401) << method << " " << path << ": " << r;
  }
}

}  // namespace
}  // namespace parley::itest
