// Registration, login, refresh rotation, sessions, logout, and secrets kept out of the logs.
#include <algorithm>
#include <latch>
#include <mutex>
#include <thread>

#include "harness.h"

namespace parley::itest {
namespace {

using boost::json::object;

class AuthTest : public SharedServerTest {
 protected:
  // Nothing was stored for this username: logging in fails and it is still free to register.
  void expect_username_free(Api& api, const std::string& username) {
    auto login = api.post("/api/v1/auth/login",
                          object{{"username", username}, {"password", "long-enough-pw"}});
    EXPECT_EQ(login.status, 401) << username << ": " << login;
    auto reg = api.post("/api/v1/auth/register",
                        object{{"username", username}, {"password", "long-enough-pw"}});
    EXPECT_EQ(reg.status, 201) << username << " was taken after a refused request: " << reg;
  }
};

TEST_F(AuthTest, RegisterReturnsUserAndTokens) {
  auto api = this->api();
  auto name = unique_name("reg");
  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  auto r = api.post("/api/v1/auth/register", object{{"username", upper},
                                                    {"password", "correct horse"},
                                                    {"display_name", "Reg Name"},
                                                    {"email", "reg@example.com"}});
  ASSERT_EQ(r.status, 201) << r;
  const auto& body = r.obj();
  ASSERT_TRUE(body.contains("user")) << r;
  const auto& user = body.at("user").as_object();
  ASSERT_TRUE(user.contains("id") && user.at("id").is_string()) << r;
  EXPECT_FALSE(user.at("id").as_string().empty());
  EXPECT_EQ(user.at("username"), boost::json::value(name)) << "username is lower-cased";
  EXPECT_EQ(user.at("display_name"), boost::json::value("Reg Name"));
  ASSERT_TRUE(user.contains("status_text")) << r;
  EXPECT_TRUE(user.at("status_text").is_string());
  ASSERT_TRUE(user.contains("avatar_url")) << r;
  ASSERT_TRUE(user.contains("created_at")) << r;
  ASSERT_TRUE(user.at("created_at").is_int64() || user.at("created_at").is_uint64()) << r;
  auto created = user.at("created_at").to_number<std::int64_t>();
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  EXPECT_LT(std::llabs(now_ms - created), 60'000) << "created_at is not epoch milliseconds";
  EXPECT_FALSE(r.str("access_token").empty()) << r;
  EXPECT_FALSE(r.str("refresh_token").empty()) << r;
  EXPECT_NE(r.str("access_token"), r.str("refresh_token"));
  ASSERT_TRUE(body.contains("expires_in") && body.at("expires_in").is_number()) << r;
  EXPECT_GT(body.at("expires_in").to_number<double>(), 0);
  EXPECT_EQ(r.body.find("correct horse"), std::string::npos) << "password echoed";

  // The token works at once.
  auto me = api.get("/api/v1/users/me", r.str("access_token"));
  ASSERT_EQ(me.status, 200) << me;
  EXPECT_EQ(me.str("id"), std::string(user.at("id").as_string()));
}

TEST_F(AuthTest, RegisterWithoutDisplayNameUsesUsername) {
  auto api = this->api();
  auto name = unique_name("nodisp");
  auto r =
      api.post("/api/v1/auth/register", object{{"username", name}, {"password", "long-enough-pw"}});
  ASSERT_EQ(r.status, 201) << r;
  const auto& user = r.obj().at("user").as_object();
  EXPECT_EQ(user.at("display_name"), boost::json::value(name));
}

TEST_F(AuthTest, DuplicateUsernameInAnyCaseIsConflict) {
  auto api = this->api();
  auto a = register_account(api, "dup");
  std::string upper = a.username;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  auto r = api.post("/api/v1/auth/register",
                    object{{"username", upper}, {"password", "another-password"}});
  EXPECT_EQ(r.status, 409) << r;
  EXPECT_EQ(r.error_code(), "conflict") << r;
  // The first account is untouched: its password still works, the second one does not.
  EXPECT_EQ(
      api.post("/api/v1/auth/login", object{{"username", a.username}, {"password", a.password}})
          .status,
      200);
  EXPECT_EQ(api.post("/api/v1/auth/login",
                     object{{"username", a.username}, {"password", "another-password"}})
                .status,
            401);
}

TEST_F(AuthTest, InvalidUsernamesAre422) {
  auto api = this->api();
  const std::vector<std::string> bad = {
      "ab",                  // too short
      std::string(33, 'a'),  // too long
      "has space" + unique_name(""),
      "bang!" + unique_name(""),
      "slash/" + unique_name(""),
      "\xC3\xBC"
      "mlaut" +
          unique_name(""),  // non-ASCII
      "",
  };
  for (const auto& name : bad) {
    auto r = api.post("/api/v1/auth/register",
                      object{{"username", name}, {"password", "long-enough-pw"}});
    EXPECT_EQ(r.status, 422) << "username \"" << name << "\": " << r;
    EXPECT_EQ(r.error_code(), "validation_failed") << r;
    EXPECT_EQ(r.error_field(), "username") << r;
    auto login =
        api.post("/api/v1/auth/login", object{{"username", name}, {"password", "long-enough-pw"}});
    EXPECT_EQ(login.status, 401) << login;
  }
  // Boundaries: 3 and 32 characters are fine, and so are . _ -
  auto r3 = api.post("/api/v1/auth/register", object{{"username", unique_name("").substr(0, 3)},
                                                     {"password", "long-enough-pw"}});
  EXPECT_TRUE(r3.status == 201 || r3.status == 409) << r3;  // 3 random chars may collide
  std::string n32 = unique_name("a.b-c");
  n32 += std::string(32 - n32.size(), 'z');
  auto r32 =
      api.post("/api/v1/auth/register", object{{"username", n32}, {"password", "long-enough-pw"}});
  EXPECT_EQ(r32.status, 201) << r32;
}

TEST_F(AuthTest, InvalidDisplayNameOrEmailIs422AndStoresNothing) {
  auto api = this->api();
  struct Case {
    const char* key;
    std::string value;
  };
  for (const auto& c : std::vector<Case>{{"display_name", ""},
                                         {"display_name", std::string(200, 'd')},
                                         {"display_name", "bell\x07"},
                                         {"email", "not-an-address"},
                                         {"email", "@example.com"},
                                         {"email", "a b@example.com"}}) {
    auto name = unique_name("fields");
    auto r = api.post("/api/v1/auth/register",
                      object{{"username", name}, {"password", "long-enough-pw"}, {c.key, c.value}});
    EXPECT_EQ(r.status, 422) << c.key << "=" << c.value << ": " << r;
    EXPECT_EQ(r.error_code(), "validation_failed") << r;
    EXPECT_EQ(r.error_field(), c.key) << r;
    expect_username_free(api, name);
  }
}

TEST_F(AuthTest, ShortOrLongPasswordIs422AndStoresNothing) {
  auto api = this->api();
  auto name = unique_name("shortpw");
  auto r = api.post("/api/v1/auth/register", object{{"username", name}, {"password", "1234567"}});
  EXPECT_EQ(r.status, 422) << r;
  EXPECT_EQ(r.error_code(), "validation_failed") << r;
  EXPECT_EQ(r.error_field(), "password") << r;
  EXPECT_EQ(r.body.find("1234567"), std::string::npos) << "password echoed";

  auto name2 = unique_name("longpw");
  auto r2 = api.post("/api/v1/auth/register",
                     object{{"username", name2}, {"password", std::string(1025, 'p')}});
  EXPECT_EQ(r2.status, 422) << r2;
  EXPECT_EQ(r2.error_field(), "password") << r2;

  expect_username_free(api, name);
  expect_username_free(api, name2);

  auto r1024 = api.post("/api/v1/auth/register", object{{"username", unique_name("pw1024")},
                                                        {"password", std::string(1024, 'p')}});
  EXPECT_EQ(r1024.status, 201) << r1024;

  // 8 characters (multi-byte ones count as one each) is enough.
  auto r3 = api.post(
      "/api/v1/auth/register",
      object{{"username", unique_name("pw8")},
             {"password", "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"}});
  EXPECT_EQ(r3.status, 201) << r3;
}

TEST_F(AuthTest, MalformedRegisterBodiesAre400AndStoreNothing) {
  auto api = this->api();
  struct Case {
    std::string what;
    std::string body;  // "%U" is replaced by a fresh valid username
  };
  const std::vector<Case> cases = {
      {"truncated JSON", R"({"username":"%U","password":"long-enough-pw")"},
      {"trailing garbage", R"({"username":"%U","password":"long-enough-pw"} x)"},
      {"not JSON", "username=%U&password=long-enough-pw"},
      {"empty body", ""},
      {"array root", R"([{"username":"%U","password":"long-enough-pw"}])"},
      {"string root", R"("%U")"},
      {"null root", "null"},
      {"username a number", R"({"username":123,"password":"long-enough-pw","x":"%U"})"},
      {"password a number", R"({"username":"%U","password":12345678})"},
      {"password an object", R"({"username":"%U","password":{"a":"long-enough-pw"}})"},
      {"display_name wrong type",
       R"({"username":"%U","password":"long-enough-pw","display_name":5})"},
      {"email wrong type", R"({"username":"%U","password":"long-enough-pw","email":["a@b.c"]})"},
      {"missing password", R"({"username":"%U"})"},
      {"null password", R"({"username":"%U","password":null})"},
      {"missing username", R"({"password":"long-enough-pw","name":"%U"})"},
      {"number beyond 2^53",
       R"({"username":"%U","password":"long-enough-pw","n":9007199254740993})"},
      {"negative number beyond 2^53",
       R"({"username":"%U","password":"long-enough-pw","n":-9007199254740993})"},
      {"nested number beyond 2^53",
       R"({"username":"%U","password":"long-enough-pw","a":[{"b":18446744073709551615}]})"},
      {"huge double", R"({"username":"%U","password":"long-enough-pw","n":1e300})"},
      {"invalid UTF-8 in a value", "{\"username\":\"%U\",\"password\":\"long-\xC3\x28-enough\"}"},
      {"invalid UTF-8 in an unknown field",
       "{\"username\":\"%U\",\"password\":\"long-enough-pw\",\"z\":\"\xFF\xFE\"}"},
      {"lone surrogate escape", R"({"username":"%U","password":"long-enough-pw","z":"\ud800"})"},
      {"deep nesting", R"({"username":"%U","password":"long-enough-pw","z":)" +
                           std::string(64, '[') + std::string(64, ']') + "}"},
  };
  for (const auto& c : cases) {
    auto name = unique_name("mal");
    std::string body = c.body;
    if (auto at = body.find("%U"); at != std::string::npos) body.replace(at, 2, name);
    auto r = api.post("/api/v1/auth/register", std::string_view(body));
    EXPECT_EQ(r.status, 400) << c.what << ": " << r;
    EXPECT_EQ(r.error_code(), "bad_request") << c.what << ": " << r;
    EXPECT_FALSE(r.error_message().empty()) << c.what;
    if (c.body.find("%U") != std::string::npos) expect_username_free(api, name);
  }
  // The safe boundary itself is accepted.
  auto ok = api.post("/api/v1/auth/register",
                     std::string_view(R"({"username":")" + unique_name("safe") +
                                      R"(","password":"long-enough-pw","n":9007199254740992})"));
  EXPECT_EQ(ok.status, 201) << ok;
}

TEST_F(AuthTest, LoginRightAndWrongPasswords) {
  auto api = this->api();
  auto a = register_account(api, "login");
  auto good =
      api.post("/api/v1/auth/login", object{{"username", a.username}, {"password", a.password}});
  ASSERT_EQ(good.status, 200) << good;
  EXPECT_FALSE(good.str("access_token").empty());
  EXPECT_FALSE(good.str("refresh_token").empty());
  ASSERT_TRUE(good.obj().contains("user")) << good;
  EXPECT_EQ(good.obj().at("user").at("id"), boost::json::value(a.id));
  EXPECT_TRUE(good.obj().contains("expires_in"));
  EXPECT_EQ(good.body.find(a.password), std::string::npos);

  // Usernames match case-insensitively.
  std::string upper = a.username;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  auto upper_login =
      api.post("/api/v1/auth/login", object{{"username", upper}, {"password", a.password}});
  EXPECT_EQ(upper_login.status, 200) << upper_login;

  std::string wrong_pw = "wrong-" + a.password;
  auto wrong =
      api.post("/api/v1/auth/login", object{{"username", a.username}, {"password", wrong_pw}});
  auto unknown_name = unique_name("ghost");
  auto unknown =
      api.post("/api/v1/auth/login", object{{"username", unknown_name}, {"password", wrong_pw}});
  auto invalid_name =
      api.post("/api/v1/auth/login", object{{"username", "x!"}, {"password", wrong_pw}});
  for (const auto* r : {&wrong, &unknown, &invalid_name}) {
    EXPECT_EQ(r->status, 401) << *r;
    EXPECT_EQ(r->error_code(), "unauthorized") << *r;
    EXPECT_EQ(r->body.find(wrong_pw), std::string::npos) << "password echoed: " << *r;
  }
  EXPECT_EQ(wrong.error_message(), unknown.error_message());
  EXPECT_EQ(wrong.error_message(), invalid_name.error_message());
  EXPECT_EQ(wrong.body.find(a.username), std::string::npos) << "reveals the account: " << wrong;
}

TEST_F(AuthTest, LoginMalformedBodiesAre400) {
  auto api = this->api();
  auto a = register_account(api, "loginbad");
  for (const std::string& body :
       {std::string("{"), std::string("[]"), R"({"username":")" + a.username + R"("})",
        R"({"username":")" + a.username + R"(","password":42})",
        R"({"username":")" + a.username + R"(","password":")" + a.password +
            R"(","totp_code":123456})",
        R"({"username":")" + a.username + R"(","password":")" + a.password +
            R"(","device_name":false})"}) {
    auto r = api.post("/api/v1/auth/login", std::string_view(body));
    EXPECT_EQ(r.status, 400) << body << ": " << r;
    EXPECT_EQ(r.error_code(), "bad_request") << r;
    EXPECT_EQ(r.body.find(a.password), std::string::npos);
  }
}

TEST_F(AuthTest, DeviceNameShowsInSessions) {
  auto api = this->api();
  auto a = register_account(api, "device", "Reg Phone");
  auto b = login_account(api, a, "Work Laptop \xF0\x9F\x92\xBB");
  auto r = api.get("/api/v1/auth/sessions", b.access);
  ASSERT_EQ(r.status, 200) << r;
  const auto& sessions = r.obj().at("sessions").as_array();
  ASSERT_EQ(sessions.size(), 2u) << r;
  std::vector<std::string> names;
  for (const auto& s : sessions) names.emplace_back(s.at("device_name").as_string());
  EXPECT_NE(std::find(names.begin(), names.end(), "Work Laptop \xF0\x9F\x92\xBB"), names.end())
      << r;
  EXPECT_NE(std::find(names.begin(), names.end(), "Reg Phone"), names.end()) << r;
}

TEST_F(AuthTest, RefreshRotatesAndReuseRevokesTheSession) {
  auto api = this->api();
  auto a = register_account(api, "refresh");

  auto r1 = api.post("/api/v1/auth/refresh", object{{"refresh_token", a.refresh}});
  ASSERT_EQ(r1.status, 200) << r1;
  auto access1 = r1.str("access_token"), refresh1 = r1.str("refresh_token");
  ASSERT_FALSE(access1.empty());
  ASSERT_FALSE(refresh1.empty());
  EXPECT_NE(refresh1, a.refresh);
  EXPECT_TRUE(r1.obj().contains("expires_in")) << r1;
  ASSERT_EQ(api.get("/api/v1/users/me", access1).status, 200);

  // One more honest rotation.
  auto r2 = api.post("/api/v1/auth/refresh", object{{"refresh_token", refresh1}});
  ASSERT_EQ(r2.status, 200) << r2;
  auto access2 = r2.str("access_token"), refresh2 = r2.str("refresh_token");
  ASSERT_EQ(api.get("/api/v1/users/me", access2).status, 200);

  auto ws = ws_ready(port(), access2);

  // A stolen, already used refresh token shows up: refused, and the whole session ends.
  auto reuse = api.post("/api/v1/auth/refresh", object{{"refresh_token", a.refresh}});
  EXPECT_EQ(reuse.status, 401) << reuse;
  EXPECT_EQ(reuse.error_code(), "unauthorized") << reuse;

  auto newest = api.post("/api/v1/auth/refresh", object{{"refresh_token", refresh2}});
  EXPECT_EQ(newest.status, 401) << "the newest refresh token survived a reuse: " << newest;
  for (const auto& tok : {a.access, access1, access2}) {
    auto me = api.get("/api/v1/users/me", tok);
    EXPECT_EQ(me.status, 401) << "an access token of the revoked session still works: " << me;
  }
  auto sessions = api.get("/api/v1/auth/sessions", access2);
  EXPECT_EQ(sessions.status, 401) << sessions;
  EXPECT_EQ(ws_wait_close(*ws, 1s), 4001) << "the session's WebSocket outlived the revocation";

  // Another session of the same user is unaffected.
  auto other = login_account(api, a);
  EXPECT_EQ(api.get("/api/v1/users/me", other.access).status, 200);
}

TEST_F(AuthTest, RefreshWithUnknownOrMalformedTokens) {
  auto api = this->api();
  auto r = api.post("/api/v1/auth/refresh", object{{"refresh_token", "not-a-token"}});
  EXPECT_EQ(r.status, 401) << r;
  EXPECT_EQ(r.error_code(), "unauthorized") << r;
  auto empty = api.post("/api/v1/auth/refresh", object{{"refresh_token", ""}});
  EXPECT_EQ(empty.status, 401) << empty;
  auto huge = api.post("/api/v1/auth/refresh", object{{"refresh_token", std::string(5000, 'a')}});
  EXPECT_EQ(huge.status, 401) << huge;
  auto wrong_type = api.post("/api/v1/auth/refresh", std::string_view(R"({"refresh_token":1})"));
  EXPECT_EQ(wrong_type.status, 400) << wrong_type;
  auto missing = api.post("/api/v1/auth/refresh", std::string_view("{}"));
  EXPECT_EQ(missing.status, 400) << missing;
  // An access token is not a refresh token.
  auto a = register_account(api, "reftype");
  auto access_as_refresh = api.post("/api/v1/auth/refresh", object{{"refresh_token", a.access}});
  EXPECT_EQ(access_as_refresh.status, 401) << access_as_refresh;
  EXPECT_EQ(api.post("/api/v1/auth/refresh", object{{"refresh_token", a.refresh}}).status, 200);
}

TEST_F(AuthTest, SessionsListAndRevokeOther) {
  auto api = this->api();
  auto first = register_account(api, "sess", "first device");
  auto second = login_account(api, first, "second device");

  auto list = api.get("/api/v1/auth/sessions", first.access);
  ASSERT_EQ(list.status, 200) << list;
  const auto& sessions = list.obj().at("sessions").as_array();
  ASSERT_EQ(sessions.size(), 2u) << list;
  std::string mine, other;
  for (const auto& v : sessions) {
    const auto& s = v.as_object();
    ASSERT_TRUE(s.contains("id") && s.contains("device_name") && s.contains("created_at") &&
                s.contains("last_seen_at") && s.contains("current"))
        << list;
    ASSERT_TRUE(s.at("current").is_bool()) << list;
    if (s.at("current").as_bool()) {
      EXPECT_TRUE(mine.empty()) << "two current sessions: " << list;
      mine = std::string(s.at("id").as_string());
      EXPECT_EQ(s.at("device_name"), boost::json::value("first device"));
    } else {
      other = std::string(s.at("id").as_string());
      EXPECT_EQ(s.at("device_name"), boost::json::value("second device"));
    }
  }
  ASSERT_FALSE(mine.empty()) << list;
  ASSERT_FALSE(other.empty()) << list;

  // The other session holds a WebSocket.
  boost::json::object ready;
  auto ws = ws_ready(port(), second.access, &ready);
  EXPECT_EQ(ready["session_id"], boost::json::value(other));

  auto del = api.del("/api/v1/auth/sessions/" + other, first.access);
  ASSERT_EQ(del.status, 204) << del;
  EXPECT_TRUE(del.body.empty()) << del;

  auto refused = api.get("/api/v1/users/me", second.access);
  EXPECT_EQ(refused.status, 401) << "revoked session's token still works: " << refused;
  auto started = Clock::now();
  auto code = ws_wait_close(*ws, 1s);
  EXPECT_EQ(code, 4001) << "WebSocket of the revoked session not closed with 4001 within 1 s";
  EXPECT_LT(Clock::now() - started, 1100ms);
  EXPECT_EQ(api.post("/api/v1/auth/refresh", object{{"refresh_token", second.refresh}}).status, 401)
      << "revoked session's refresh token still works";

  // The caller's own session lives on, and the list shrank.
  auto after = api.get("/api/v1/auth/sessions", first.access);
  ASSERT_EQ(after.status, 200) << after;
  ASSERT_EQ(after.obj().at("sessions").as_array().size(), 1u) << after;
  EXPECT_EQ(after.obj().at("sessions").as_array()[0].at("id"), boost::json::value(mine));

  // Revoking it again: it is gone.
  auto again = api.del("/api/v1/auth/sessions/" + other, first.access);
  EXPECT_EQ(again.status, 404) << again;
}

TEST_F(AuthTest, RevokingUnknownOrForeignSessionsIs404) {
  auto api = this->api();
  auto alice = register_account(api, "alice");
  auto bob = register_account(api, "bob");
  auto bob_sessions = api.get("/api/v1/auth/sessions", bob.access);
  ASSERT_EQ(bob_sessions.status, 200) << bob_sessions;
  std::string bob_sid(bob_sessions.obj().at("sessions").as_array()[0].at("id").as_string());

  auto foreign = api.del("/api/v1/auth/sessions/" + bob_sid, alice.access);
  EXPECT_EQ(foreign.status, 404) << foreign;
  EXPECT_EQ(foreign.error_code(), "not_found") << foreign;
  EXPECT_EQ(api.get("/api/v1/users/me", bob.access).status, 200) << "Alice ended Bob's session";

  for (const char* id : {"01ARZ3NDEKTSV4RRFFQ69G5FAV", "garbage", "0"}) {
    auto r = api.del(std::string("/api/v1/auth/sessions/") + id, alice.access);
    EXPECT_EQ(r.status, 404) << id << ": " << r;
    EXPECT_EQ(r.error_code(), "not_found") << r;
  }
  auto no_token = api.del("/api/v1/auth/sessions/" + bob_sid, "");
  EXPECT_EQ(no_token.status, 401) << no_token;
  EXPECT_EQ(api.get("/api/v1/users/me", alice.access).status, 200);
}

TEST_F(AuthTest, LogoutEndsTheCurrentSessionOnly) {
  auto api = this->api();
  auto a = register_account(api, "logout");
  auto b = login_account(api, a);
  auto r = api.post("/api/v1/auth/logout", std::string_view(), a.access);
  EXPECT_EQ(r.status, 204) << r;
  auto me = api.get("/api/v1/users/me", a.access);
  EXPECT_EQ(me.status, 401) << me;
  EXPECT_EQ(me.error_code(), "unauthorized");
  EXPECT_EQ(api.post("/api/v1/auth/refresh", object{{"refresh_token", a.refresh}}).status, 401);
  EXPECT_EQ(api.get("/api/v1/users/me", b.access).status, 200) << "logout ended another session";
  auto twice = api.post("/api/v1/auth/logout", std::string_view(), a.access);
  EXPECT_EQ(twice.status, 401) << twice;
}

// Runs f(i) on n threads that start together; returns the replies in index order.
template <class F>
std::vector<Reply> concurrently(int n, F f) {
  std::vector<Reply> out(static_cast<std::size_t>(n));
  std::latch go(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      go.arrive_and_wait();
      out[static_cast<std::size_t>(i)] = f(i);
    });
  for (auto& t : threads) t.join();
  return out;
}

TEST_F(AuthTest, ConcurrentRegistrationsOfOneNameCreateOneAccount) {
  auto name = unique_name("race");
  auto replies = concurrently(8, [&](int i) {
    Api api(port());
    return api.post("/api/v1/auth/register",
                    object{{"username", name}, {"password", "password-" + std::to_string(i)}});
  });
  int created = 0, winner = -1;
  for (int i = 0; i < 8; ++i) {
    const auto& r = replies[static_cast<std::size_t>(i)];
    EXPECT_TRUE(r.status == 201 || r.status == 409) << r;
    if (r.status == 201) ++created, winner = i;
  }
  ASSERT_EQ(created, 1);
  auto api = this->api();
  EXPECT_EQ(api.post("/api/v1/auth/login",
                     object{{"username", name}, {"password", "password-" + std::to_string(winner)}})
                .status,
            200);
  auto search = api.get("/api/v1/users?q=" + name,
                        replies[static_cast<std::size_t>(winner)].str("access_token"));
  ASSERT_EQ(search.status, 200) << search;
  EXPECT_EQ(search.obj().at("users").as_array().size(), 1u) << search;
}

TEST_F(AuthTest, ConcurrentRefreshesWithOneTokenSucceedAtMostOnce) {
  auto api = this->api();
  auto a = register_account(api, "refrace");
  auto replies = concurrently(8, [&](int) {
    Api mine(port());
    return mine.post("/api/v1/auth/refresh", object{{"refresh_token", a.refresh}});
  });
  int ok = 0;
  for (const auto& r : replies) {
    EXPECT_TRUE(r.status == 200 || r.status == 401) << r;
    ok += r.status == 200;
  }
  EXPECT_LE(ok, 1) << "one refresh token was exchanged " << ok << " times";
}

TEST_F(AuthTest, RevokingOwnSessionByIdEndsIt) {
  auto api = this->api();
  auto a = register_account(api, "selfrev");
  auto list = api.get("/api/v1/auth/sessions", a.access);
  ASSERT_EQ(list.status, 200) << list;
  std::string sid(list.obj().at("sessions").as_array()[0].at("id").as_string());
  EXPECT_EQ(api.del("/api/v1/auth/sessions/" + sid, a.access).status, 204);
  EXPECT_EQ(api.get("/api/v1/users/me", a.access).status, 401);
}

// The logs never hold passwords, tokens or TOTP secrets, even at debug level.
TEST(AuthLogs, NeverContainSecrets) {
  ServerProcess server({"--rate-limits", kGenerousLimits, "--log-level", "debug"});
  auto err = server.start();
  ASSERT_TRUE(err.empty()) << err;
  Api api(server.port());
  std::vector<std::string> secrets;

  auto a = register_account(api, "logs");
  secrets.insert(secrets.end(), {a.password, a.access, a.refresh});
  auto b = login_account(api, a, "logged device");
  secrets.insert(secrets.end(), {b.access, b.refresh});
  auto wrong = "wrong-" + a.password;
  secrets.push_back(wrong);
  EXPECT_EQ(api.post("/api/v1/auth/login",
                     boost::json::object{{"username", a.username}, {"password", wrong}})
                .status,
            401);
  // A password inside a malformed body.
  auto bad_pw = "malformed-" + a.password;
  secrets.push_back(bad_pw);
  EXPECT_EQ(api.post("/api/v1/auth/login", std::string_view(R"({"username":")" + a.username +
                                                            R"(","password":")" + bad_pw + "\""))
                .status,
            400);
  auto r = api.post("/api/v1/auth/refresh", boost::json::object{{"refresh_token", b.refresh}});
  ASSERT_EQ(r.status, 200) << r;
  secrets.insert(secrets.end(), {r.str("access_token"), r.str("refresh_token")});
  // Reuse is logged (as a warning); the token must not be.
  EXPECT_EQ(
      api.post("/api/v1/auth/refresh", boost::json::object{{"refresh_token", b.refresh}}).status,
      401);
  auto setup = api.post("/api/v1/auth/totp/setup", std::string_view(), a.access);
  ASSERT_EQ(setup.status, 200) << setup;
  secrets.push_back(setup.str("secret"));
  {
    auto ws = ws_ready(server.port(), a.access);
    ws->send_text(R"({"type":"hello","token":")" + a.access + "\"}");
    (void)ws_read(*ws);
  }
  auto bad_ws = ws_connect(server.port());
  bad_ws->send_text(R"({"type":"hello","token":")" + a.access + "x\"}");
  EXPECT_EQ(ws_wait_close(*bad_ws, 5s), 4001);
  EXPECT_EQ(api.get("/api/v1/users/me", a.access + "x").status, 401);

  EXPECT_EQ(server.stop(), std::optional<int>(0));
  auto logs = server.logs();
  ASSERT_NE(logs.find("/api/v1/auth/login"), std::string::npos) << "no access log captured:\n"
                                                                << logs;
  for (const auto& s : secrets) {
    ASSERT_FALSE(s.empty());
    EXPECT_EQ(logs.find(s), std::string::npos) << "secret \"" << s << "\" in the logs:\n" << logs;
    // A token cut short in a log line is still a leak worth knowing about.
    if (s.size() > 40) {
      EXPECT_EQ(logs.find(s.substr(s.size() - 24)), std::string::npos) << s;
    }
  }
}

}  // namespace
}  // namespace parley::itest
