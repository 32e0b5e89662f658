// Hardening (issue "abuse limits, privacy, account security"): each test reproduces one weak
// spot found by trying the server as an attacker would, and is named after what broke.
#include <sys/socket.h>

#include <thread>

#include "chat_support.h"
#include "net/websocket.h"

namespace parley::itest {
namespace {

using namespace chat;

class Hardening : public SharedServerTest {};

// A server of the test's own, for limits that must start fresh or differ from the defaults.
std::unique_ptr<ServerProcess> own_server(std::vector<std::string> args) {
  auto s = std::make_unique<ServerProcess>(std::move(args));
  auto err = s->start();
  if (!err.empty()) throw std::runtime_error("server did not start: " + err);
  return s;
}

// A raw WebSocket upgrade request; the status line of the answer.
std::string upgrade_status(std::uint16_t port, const std::vector<net::Header>& extra) {
  std::string req =
      "GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  for (const auto& h : extra) req += h.name + ": " + h.value + "\r\n";
  req += "\r\n";
  net::HttpClient http("127.0.0.1", port, 1500ms);
  auto got = http.raw_exchange(req);
  if (!got) return "";
  return got->substr(0, got->find("\r\n"));
}

// ---- 1. memory pinned by one user ----

TEST_F(Hardening, AnOversizedReqIsRefusedInsteadOfEchoed) {
  auto api = this->api();
  auto a = register_account(api, "req");
  Live ws(port(), a);
  ws.send(object{{"type", "ping"}, {"req", std::string(60'000, 'r')}});
  auto err = ws.wait([](const object& f) { return str(f, "type") == "error"; }, 5s, "error");
  EXPECT_FALSE(field(err, "req")) << "the 60 KB req came back: " << dump(err).substr(0, 200);
  EXPECT_EQ(str(*field(err, "error"), "code"), "bad_request");
  ws.send(object{{"type", "ping"}, {"req", object{{"nested", "value"}}}});
  ws.wait([](const object& f) { return str(f, "type") == "error"; }, 5s, "error for an object");
  ws.send(object{{"type", "ping"}, {"req", std::string(128, 'k')}});
  ws.reply("pong", std::string(128, 'k'));
  ws.send(object{{"type", "ping"}, {"req", 42}});
  auto pong = ws.wait([](const object& f) { return str(f, "type") == "pong"; }, 5s, "pong");
  EXPECT_EQ(num(pong, "req"), 42);
}

// Before: the send queue was bounded in frames only, so 1,000 large events queued on a socket
// that never reads pinned ~64 MB. Now a megabyte of unread frames closes it with 4008.
TEST_F(Hardening, ASocketThatNeverReadsIsClosedOnceAMegabyteIsQueued) {
  auto api = this->api();
  auto sender = register_account(api, "big");
  auto sleeper = register_account(api, "slp");
  auto conv = make_group(api, sender, {sleeper.id});
  auto idle = ws_ready(port(), sleeper.access);  // never read until the end
  std::string text;
  for (int i = 0; i < 16'000; ++i) text += "\xF0\x9F\x98\x80";  // 64 KB: 16,000 emoji
  // ~19 MB: past what the kernel buffers, 300 frames stay far below the 1,024-frame cap.
  for (int i = 0; i < 300; ++i) ASSERT_EQ(send(api, sender, conv, text).status, 201);
  EXPECT_EQ(ws_wait_close(*idle, 30s), net::kCloseSlowConsumer);
}

// The send queues' depth is in /metrics: it grows while a socket does not read, within the cap,
// and what the closed socket held is counted out.
TEST_F(Hardening, SendQueueDepthIsMeasuredAndCountedOutWhenTheSocketCloses) {
  auto api = this->api();
  auto sender = register_account(api, "qd");
  auto sleeper = register_account(api, "qds");
  auto conv = make_group(api, sender, {sleeper.id});
  auto idle = ws_ready(port(), sleeper.access);  // never reads
  const std::string frames = "parley_websocket_send_queue_frames", bytes =
                                 "parley_websocket_send_queue_bytes";
  std::string text;
  for (int i = 0; i < 16'000; ++i) text += "\xF0\x9F\x98\x80";  // 64 KB
  double most = 0, most_bytes = 0;
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(send(api, sender, conv, text).status, 201);
    most = std::max(most, metric_value(api, frames).value_or(-1));
    most_bytes = std::max(most_bytes, metric_value(api, bytes).value_or(-1));
  }
  EXPECT_GE(most, 1) << "frames queued behind the kernel's buffers were never counted";
  EXPECT_GE(most_bytes, 64'000 * most);
  EXPECT_LE(most_bytes, 1024 * 1024) << "the cap is 1 MiB";
  ASSERT_EQ(ws_wait_close(*idle, 30s), net::kCloseSlowConsumer);
  // What it held was dropped and counted out.
  EXPECT_EQ(metric_value(api, frames), 0.0);
  EXPECT_EQ(metric_value(api, bytes), 0.0);
}

// ---- 2. connection caps and Origin ----

TEST_F(Hardening, TheSocketPastTheCapPerUserClosesTheOldestWith4009) {
  auto api = this->api();
  auto a = register_account(api, "cap");
  std::vector<std::unique_ptr<net::WsClient>> sockets;
  for (int i = 0; i < 20; ++i) sockets.push_back(ws_ready(port(), a.access));
  auto newest = ws_ready(port(), a.access);
  EXPECT_EQ(ws_wait_close(*sockets.front(), 5s), net::kCloseTooManySockets);
  ASSERT_TRUE(newest->send_text(R"({"type":"ping","req":"n"})"));
  EXPECT_TRUE(newest->read_text(5s)) << "the new socket works";
  ASSERT_TRUE(sockets[1]->send_text(R"({"type":"ping","req":"s"})"));
  EXPECT_TRUE(sockets[1]->read_text(5s)) << "the second oldest stays";
}

TEST_F(Hardening, AForeignOriginCannotOpenAWebSocket) {
  auto own = "http://127.0.0.1:" + std::to_string(port());
  EXPECT_EQ(upgrade_status(port(), {{"Origin", "https://evil.example"}}), "HTTP/1.1 403 Forbidden");
  EXPECT_EQ(upgrade_status(port(), {{"Origin", "http://127.0.0.1:1"}}), "HTTP/1.1 403 Forbidden")
      << "another port is another origin";
  EXPECT_EQ(upgrade_status(port(), {{"Origin", own}}), "HTTP/1.1 101 Switching Protocols");
  EXPECT_EQ(upgrade_status(port(), {}), "HTTP/1.1 101 Switching Protocols")
      << "clients that are not browsers send no Origin";
}

TEST(HardeningLimits, ListedOriginsAreAllowed) {
  auto s = own_server({"--allowed-origins", "https://app.example.com"});
  EXPECT_EQ(upgrade_status(s->port(), {{"Origin", "https://app.example.com"}}),
            "HTTP/1.1 101 Switching Protocols");
  EXPECT_EQ(upgrade_status(s->port(), {{"Origin", "https://other.example.com"}}),
            "HTTP/1.1 403 Forbidden");
}

TEST(HardeningLimits, WebSocketsPerAddressAreCapped) {
  auto s = own_server({"--rate-limits", kGenerousLimits, "--max-sockets-per-address", "3"});
  Api api(s->port());
  auto a = register_account(api, "adr");
  std::vector<std::unique_ptr<net::WsClient>> held;
  for (int i = 0; i < 3; ++i) held.push_back(ws_ready(s->port(), a.access));
  EXPECT_EQ(upgrade_status(s->port(), {}), "HTTP/1.1 429 Too Many Requests");
  held.pop_back();
  // The close reaches the server asynchronously: the slot frees within moments.
  std::string status;
  for (int i = 0; i < 50 && status != "HTTP/1.1 101 Switching Protocols"; ++i) {
    std::this_thread::sleep_for(50ms);
    status = upgrade_status(s->port(), {});
  }
  EXPECT_EQ(status, "HTTP/1.1 101 Switching Protocols");
}

TEST(HardeningLimits, ConnectionsPastTheTotalCapAreClosedUnanswered) {
  // This client's kept-alive HTTP connection and four WebSockets make five.
  auto s = own_server({"--rate-limits", kGenerousLimits, "--max-connections", "5"});
  Api api(s->port());
  auto a = register_account(api, "tot");
  std::vector<std::unique_ptr<net::WsClient>> held;
  for (int i = 0; i < 4; ++i) held.push_back(ws_ready(s->port(), a.access));
  net::HttpClient extra("127.0.0.1", s->port(), 2s);
  auto r = extra.request("GET", "/api/v1/health");
  EXPECT_FALSE(r) << "a fifth connection was served: " << (r ? r->status : 0);
  held.clear();
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    std::this_thread::sleep_for(50ms);
    net::HttpClient again("127.0.0.1", s->port(), 2s);
    auto ok = again.request("GET", "/api/v1/health");
    served = ok && ok->status == 200;
  }
  EXPECT_TRUE(served) << "connections are served again once others close";
}

// ---- 3. fan-out mutations, group creation and search are limited per user ----

TEST(HardeningLimits, MutationsAreRateLimitedPerUser) {
  auto s = own_server({"--rate-limits", limits_with("mutations_per_user", "5/1m")});
  Api api(s->port());
  auto a = register_account(api, "mut");
  int accepted = 0, limited = 0;
  for (int i = 0; i < 12; ++i) {
    auto r = api.patch("/api/v1/users/me", object{{"status_text", "s" + std::to_string(i)}},
                       a.access);
    (r.status == 200 ? accepted : limited) += 1;
    if (r.status != 200) {
      EXPECT_EQ(r.status, 429) << r;
      EXPECT_FALSE(r.header("Retry-After").empty());
    }
  }
  EXPECT_EQ(accepted, 5);
  EXPECT_EQ(limited, 7);
  auto b = register_account(api, "mut2");
  EXPECT_EQ(api.patch("/api/v1/users/me", object{{"status_text", "x"}}, b.access).status, 200)
      << "another user's bucket is their own";
  EXPECT_EQ(api.get("/api/v1/users/me", a.access).status, 200) << "reads are not mutations";
}

TEST(HardeningLimits, NewConversationsArePerUserCapped) {
  auto s = own_server({"--rate-limits", limits_with("conversations_per_user", "3/10m")});
  Api api(s->port());
  auto a = register_account(api, "grp");
  auto victim = register_account(api, "vic");
  for (int i = 0; i < 3; ++i) make_group(api, a, {victim.id});
  auto fourth = create(api, a, object{{"type", "group"}, {"member_ids", ids_of({victim.id})}});
  EXPECT_EQ(fourth.status, 429) << fourth;
}

TEST(HardeningLimits, SearchIsRateLimitedPerUser) {
  auto s = own_server({"--rate-limits", limits_with("search_per_user", "2/1m")});
  Api api(s->port());
  auto a = register_account(api, "srl");
  EXPECT_EQ(api.get("/api/v1/search/messages?q=abc", a.access).status, 200);
  EXPECT_EQ(api.get("/api/v1/search/messages?q=abc", a.access).status, 200);
  EXPECT_EQ(api.get("/api/v1/search/messages?q=abc", a.access).status, 429);
}

// Before: 500 profile updates in half a second were 500 user.updated events to every contact.
TEST_F(Hardening, ABurstOfProfileChangesReachesContactsCoalesced) {
  auto api = this->api();
  auto a = register_account(api, "burst");
  auto watcher = register_account(api, "watch");
  make_group(api, a, {watcher.id});
  Live ws(port(), watcher);
  for (int i = 0; i < 30; ++i)
    ASSERT_EQ(
        api.patch("/api/v1/users/me", object{{"status_text", "v" + std::to_string(i)}}, a.access)
            .status,
        200);
  // The latest state arrives once the interval ends; far fewer events than changes.
  ws.event("user.updated", [&](const object& d) { return str(d, "status_text") == "v29"; }, 5s);
  int seen = 0;
  while (ws.event_within("user.updated", [&](const object& d) { return str(d, "id") == a.id; },
                         1500ms)) {
    ++seen;
    ws.wait([](const object& f) { return str(f, "event") == "user.updated"; }, 1s, "drop");
  }
  EXPECT_LE(seen, 3) << "30 changes, " << seen << " more events after the last";
}

// ---- 4. presence privacy ----

TEST_F(Hardening, PresenceAnswersOnlyAboutPeopleWhoShareAConversation) {
  auto api = this->api();
  auto a = register_account(api, "pra");
  auto friend_ = register_account(api, "prf");
  auto stranger = register_account(api, "prs");
  make_dm(api, a, friend_.id);
  auto r = api.get("/api/v1/presence?user_ids=" + a.id + "," + friend_.id + "," + stranger.id,
                   a.access);
  ASSERT_EQ(r.status, 200) << r;
  std::vector<std::string> ids;
  for (const auto& p : arr(r.json, "presence")) ids.push_back(str(p, "user_id"));
  EXPECT_EQ(ids, (std::vector<std::string>{a.id, friend_.id}));
}

TEST_F(Hardening, AnInvisibleUsersActivityTimeNeverMoves) {
  auto api = this->api();
  auto a = register_account(api, "inv");
  auto b = register_account(api, "obs");
  make_dm(api, a, b.id);
  auto last_active = [&] {
    auto r = api.get("/api/v1/presence?user_ids=" + a.id, b.access);
    if (r.status != 200) fail_reply("presence", r);
    return num(arr(r.json, "presence").at(0), "last_active_at");
  };
  {
    Live first(port(), a);
    ASSERT_EQ(api.call("PUT", "/api/v1/users/me/presence", R"({"status":"invisible"})", a.access)
                  .status,
              200);
  }
  auto frozen = last_active();
  std::this_thread::sleep_for(20ms);
  for (int i = 0; i < 3; ++i) {
    Live again(port(), a);
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(last_active(), frozen) << "connecting while invisible moved last_active_at";
}

// ---- 5. a DM has no owner ----

TEST_F(Hardening, NeitherPersonInADmCanDeleteTheOthersMessages) {
  auto api = this->api();
  auto starter = register_account(api, "dms");
  auto other = register_account(api, "dmo");
  auto dm = make_dm(api, starter, other.id);
  EXPECT_EQ(get_conv(api, starter, dm).str("role"), "member");
  auto theirs = send_ok(api, other, dm, "mine to keep");
  auto r = api.del(msg_path(str(theirs, "id")), starter.access);
  EXPECT_EQ(r.status, 403) << r;
  auto own = send_ok(api, starter, dm, "mine to delete");
  EXPECT_EQ(api.del(msg_path(str(own, "id")), starter.access).status, 204);
  auto role = api.patch(conv_path(dm) + "/members/" + other.id, object{{"role", "admin"}},
                        starter.access);
  EXPECT_EQ(role.status, 409) << role;
}

// ---- 6. control characters in a search query ----

TEST_F(Hardening, ANulInASearchQueryIsAValidationErrorNotA500) {
  auto api = this->api();
  auto a = register_account(api, "nul");
  for (const char* q : {"ab%00cd", "%00", "abc%01", "x%7Fy"}) {
    auto r = api.get(std::string("/api/v1/search/messages?q=") + q, a.access);
    EXPECT_EQ(r.status, 422) << q << ": " << r;
    EXPECT_EQ(r.error_field(), "q") << r;
  }
  EXPECT_EQ(api.get("/api/v1/search/messages?q=ab%09cd", a.access).status, 200)
      << "a tab separates words";
  EXPECT_EQ(server().logs().find("sqlite error"), std::string::npos);
}

// ---- 7. private channel names ----

TEST_F(Hardening, APrivateChannelsNameDoesNotLeakToOutsiders) {
  auto api = this->api();
  auto insider = register_account(api, "ins");
  auto outsider = register_account(api, "out");
  auto name = channel_name("hush");
  make_channel(api, insider, name, "private");
  auto r = create(api, outsider, object{{"type", "channel"}, {"name", name}});
  EXPECT_EQ(r.status, 201) << "the name of a private channel was treated as taken: " << r;
  auto again = create(api, insider, object{{"type", "channel"}, {"name", name}});
  EXPECT_EQ(again.status, 409) << "public names stay unique: " << again;
}

// ---- 8. login lock-out ----

TEST(HardeningLimits, WrongPasswordsFromElsewhereDoNotLockTheOwnerOut) {
  auto s = own_server({"--rate-limits", limits_with("login_per_account", "3/10m"),
                       "--trusted-proxies", "127.0.0.1"});
  Api api(s->port());
  auto owner = register_account(api, "own");
  auto login_from = [&](const std::string& address, const std::string& password) {
    return api.call("POST", "/api/v1/auth/login",
                    boost::json::serialize(
                        object{{"username", owner.username}, {"password", password}}),
                    {}, {{"X-Forwarded-For", address}});
  };
  for (int i = 0; i < 3; ++i) EXPECT_EQ(login_from("198.51.100.7", "guess").status, 401);
  EXPECT_EQ(login_from("198.51.100.7", "guess").status, 429) << "guessing is still throttled";
  EXPECT_EQ(login_from("198.51.100.7", owner.password).status, 429);
  EXPECT_EQ(login_from("203.0.113.20", owner.password).status, 200)
      << "the owner, elsewhere, is not locked out";
}

// ---- 11. account security ----

TEST_F(Hardening, ChangingThePasswordEndsOtherSessionsAndClosesTheirSockets) {
  auto api = this->api();
  auto a = register_account(api, "pwc");
  auto other = login_account(api, a, "phone");
  auto other_ws = ws_ready(port(), other.access);
  auto bad = api.post("/api/v1/auth/password",
                      object{{"current_password", "not it"}, {"new_password", "a new passphrase"}},
                      a.access);
  EXPECT_EQ(bad.status, 422) << bad;
  EXPECT_EQ(bad.error_field(), "current_password");
  auto r = api.post("/api/v1/auth/password",
                    object{{"current_password", a.password}, {"new_password", "a new passphrase"}},
                    a.access);
  ASSERT_EQ(r.status, 204) << r;
  EXPECT_EQ(ws_wait_close(*other_ws, 1s), net::kCloseUnauthorized) << "within a second";
  EXPECT_EQ(api.get("/api/v1/users/me", other.access).status, 401);
  EXPECT_EQ(api.get("/api/v1/users/me", a.access).status, 200);
  auto old_pw = api.post("/api/v1/auth/login",
                         object{{"username", a.username}, {"password", a.password}});
  EXPECT_EQ(old_pw.status, 401);
  EXPECT_EQ(api.post("/api/v1/auth/login",
                     object{{"username", a.username}, {"password", "a new passphrase"}})
                .status,
            200);
}

TEST_F(Hardening, SignOutEverywhereEndsEverySession) {
  auto api = this->api();
  auto a = register_account(api, "loa");
  auto other = login_account(api, a, "tablet");
  auto ws = ws_ready(port(), other.access);
  ASSERT_EQ(api.post("/api/v1/auth/logout-all", std::string_view(), a.access).status, 204);
  EXPECT_EQ(ws_wait_close(*ws, 1s), net::kCloseUnauthorized);
  EXPECT_EQ(api.get("/api/v1/users/me", a.access).status, 401);
  EXPECT_EQ(api.get("/api/v1/users/me", other.access).status, 401);
  EXPECT_EQ(api.post("/api/v1/auth/refresh", object{{"refresh_token", other.refresh}}).status,
            401);
}

TEST_F(Hardening, ReauthChecksThePassword) {
  auto api = this->api();
  auto a = register_account(api, "rea");
  auto wrong = api.post("/api/v1/auth/reauth", object{{"password", "not it at all"}}, a.access);
  EXPECT_EQ(wrong.status, 422) << wrong;
  EXPECT_EQ(api.post("/api/v1/auth/reauth", object{}, a.access).status, 422);
  EXPECT_EQ(api.post("/api/v1/auth/reauth", object{{"password", a.password}}, a.access).status,
            204);
  EXPECT_EQ(api.post("/api/v1/auth/reauth", object{{"password", 5}}, a.access).status, 400);
}

TEST(HardeningLimits, AWebSocketIsClosedWhenItsSessionExpires) {
  auto s = own_server({"--rate-limits", kGenerousLimits, "--session-ttl-s", "2"});
  Api api(s->port());
  auto a = register_account(api, "exp");
  auto ws = ws_ready(s->port(), a.access);
  EXPECT_EQ(ws_wait_close(*ws, 10s), net::kCloseUnauthorized);
  auto r = api.post("/api/v1/auth/refresh", object{{"refresh_token", a.refresh}});
  EXPECT_EQ(r.status, 401) << "the session is over: " << r;
}

// ---- 12. headers ----

TEST_F(Hardening, EveryApiAnswerIsNosniffAndNoStore) {
  auto api = this->api();
  auto a = register_account(api, "hdr");
  for (const auto& r :
       {api.get("/api/v1/health"), api.get("/api/v1/users/me", a.access),
        api.get("/api/v1/users/me"), api.get("/api/v1/no/such/route"),
        api.post("/api/v1/auth/login", std::string_view("{not json"))}) {
    EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff") << r;
    EXPECT_EQ(r.header("Cache-Control"), "no-store") << r;
  }
}

}  // namespace
}  // namespace parley::itest
