// The WebSocket gateway (/api/v1/ws): hello/ready, ping, error frames, close codes, and
// graceful shutdown of the server.
#include "harness.h"
#include "net/websocket.h"
#include "ws_wire.h"

namespace parley::itest {
namespace {

using boost::json::object;

class WebSocketTest : public SharedServerTest {};

std::string frame_type(const object& f) {
  auto it = f.find("type");
  return it != f.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}

// Sends a ping and expects its pong: the connection is open and serving.
void expect_alive(net::WsClient& ws, const std::string& req) {
  ASSERT_TRUE(ws.send_text(R"({"type":"ping","req":")" + req + "\"}")) << "send failed";
  auto f = ws_read(ws);
  EXPECT_EQ(frame_type(f), "pong") << boost::json::serialize(f);
  EXPECT_EQ(f["req"], boost::json::value(req)) << boost::json::serialize(f);
}

TEST_F(WebSocketTest, HelloGetsReady) {
  auto api = this->api();
  auto a = register_account(api, "wsready");
  object ready;
  auto ws = ws_ready(port(), a.access, &ready);
  EXPECT_EQ(ready["user_id"], boost::json::value(a.id)) << boost::json::serialize(ready);
  ASSERT_TRUE(ready["session_id"].is_string()) << boost::json::serialize(ready);
  EXPECT_FALSE(ready["session_id"].as_string().empty());
  ASSERT_TRUE(ready["heartbeat_ms"].is_int64() || ready["heartbeat_ms"].is_uint64())
      << boost::json::serialize(ready);
  EXPECT_GT(ready["heartbeat_ms"].to_number<std::int64_t>(), 0);

  // The session id is the one the sessions list calls current.
  auto sessions = api.get("/api/v1/auth/sessions", a.access);
  ASSERT_EQ(sessions.status, 200);
  EXPECT_EQ(sessions.obj().at("sessions").as_array()[0].at("id"), ready["session_id"]);
}

// Regression: a hello sent in the same write as the upgrade request was lost with the HTTP read
// buffer, and the client only got the 4001 of the hello deadline.
TEST_F(WebSocketTest, HelloSentWithTheUpgradeRequestIsNotLost) {
  auto api = this->api();
  auto a = register_account(api, "wsearly");
  std::string payload = R"({"type":"hello","token":")" + a.access + "\"}";
  const std::string frame = wire::encode({wire::kText, payload});  // masked, as a client must
  std::string request =
      "GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  // raw_exchange reads until the deadline: the ready frame arrives long before it.
  net::HttpClient raw("127.0.0.1", port(), 2s);
  auto got = raw.raw_exchange(request + frame);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_NE(got->find("101 Switching Protocols"), std::string::npos) << *got;
  EXPECT_NE(got->find(R"("type":"ready")"), std::string::npos) << *got;
}

TEST_F(WebSocketTest, PingGetsPong) {
  auto api = this->api();
  auto a = register_account(api, "wsping");
  auto ws = ws_ready(port(), a.access);
  ASSERT_TRUE(ws->send_text(R"({"type":"ping","req":"r1"})"));
  auto pong = ws_read(*ws);
  EXPECT_EQ(frame_type(pong), "pong");
  EXPECT_EQ(pong["req"], boost::json::value("r1")) << boost::json::serialize(pong);

  ASSERT_TRUE(ws->send_text(R"({"type":"ping"})"));
  auto bare = ws_read(*ws);
  EXPECT_EQ(frame_type(bare), "pong");
  EXPECT_FALSE(bare.contains("req")) << boost::json::serialize(bare);

  // Several in a row come back in order.
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(ws->send_text(R"({"type":"ping","req":"n)" + std::to_string(i) + "\"}"));
  for (int i = 0; i < 20; ++i) {
    auto f = ws_read(*ws);
    EXPECT_EQ(f["req"], boost::json::value("n" + std::to_string(i)));
  }
}

// The client library: a read that timed out stays pending, and the next send must not wait on
// it (it used to run the client's context until idle, i.e. the full 10 s write deadline).
TEST_F(WebSocketTest, SendAfterAReadTimeoutIsNotHeldByThePendingRead) {
  auto api = this->api();
  auto a = register_account(api, "wsidle");
  auto ws = ws_ready(port(), a.access);
  ASSERT_FALSE(ws->read_text(50ms));  // nothing to read: times out, read left pending
  auto start = Clock::now();
  ASSERT_TRUE(ws->send_text(R"({"type":"ping","req":"after"})"));
  auto pong = ws_read(*ws, 5s);
  EXPECT_EQ(pong["req"], boost::json::value("after"));
  EXPECT_LT(Clock::now() - start, 5s) << "the send waited for the pending read";
}

TEST_F(WebSocketTest, MalformedJsonGetsErrorFrameAndStaysOpen) {
  auto api = this->api();
  auto a = register_account(api, "wsbadjson");
  auto ws = ws_ready(port(), a.access);
  for (const std::string& bad :
       {std::string("{not json"), std::string("[1,2,3]"), std::string(R"({"type":5})"),
        std::string(R"({"req":"x"})"), std::string(R"({"type":"ping","n":9007199254740993})"),
        std::string("")}) {
    ASSERT_TRUE(ws->send_text(bad));
    auto f = ws_read(*ws);
    EXPECT_EQ(frame_type(f), "error") << bad << " -> " << boost::json::serialize(f);
    ASSERT_TRUE(f.contains("error") && f["error"].is_object()) << boost::json::serialize(f);
    EXPECT_TRUE(f["error"].as_object().contains("code")) << boost::json::serialize(f);
    EXPECT_TRUE(f["error"].as_object().contains("message")) << boost::json::serialize(f);
    EXPECT_FALSE(ws->close_code()) << "closed after " << bad;
  }
  expect_alive(*ws, "after-bad-json");
}

TEST_F(WebSocketTest, InvalidUtf8TextFrameClosesWith1007) {
  // RFC 6455 8.1: a text frame that is not UTF-8 fails the connection with 1007.
  auto api = this->api();
  auto a = register_account(api, "wsutf8");
  auto ws = ws_ready(port(), a.access);
  (void)ws->send_text("{\"type\":\"ping\",\"req\":\"\xC3\x28\"}");
  EXPECT_EQ(ws_wait_close(*ws, 5s), 1007);
}

TEST_F(WebSocketTest, UnknownTypeGetsErrorFrameAndStaysOpen) {
  auto api = this->api();
  auto a = register_account(api, "wsunknown");
  auto ws = ws_ready(port(), a.access);
  ASSERT_TRUE(ws->send_text(R"({"type":"no.such.thing","req":"u1"})"));
  auto f = ws_read(*ws);
  EXPECT_EQ(frame_type(f), "error") << boost::json::serialize(f);
  EXPECT_EQ(f["req"], boost::json::value("u1")) << "error frame does not carry req";
  EXPECT_TRUE(f["error"].is_object()) << boost::json::serialize(f);
  expect_alive(*ws, "after-unknown");

  // A huge unknown type is named in the error, but only by a short prefix.
  ASSERT_TRUE(ws->send_text(R"({"type":")" + std::string(60'000, 'x') + R"(","req":"u2"})"));
  auto big = ws_read(*ws);
  EXPECT_EQ(frame_type(big), "error");
  EXPECT_LT(boost::json::serialize(big).size(), 400u) << "the unknown type was echoed whole";

  // A second hello is an error, not a new authentication.
  ASSERT_TRUE(ws->send_text(R"({"type":"hello","token":"whatever","req":"h2"})"));
  auto h = ws_read(*ws);
  EXPECT_EQ(frame_type(h), "error") << boost::json::serialize(h);
  expect_alive(*ws, "after-second-hello");
}

TEST_F(WebSocketTest, FrameOver64KiBClosesWith1009) {
  auto api = this->api();
  auto a = register_account(api, "wsbig");
  auto ws = ws_ready(port(), a.access);
  // Just under the limit is fine.
  std::string near = R"({"type":"ping","req":"big","pad":")" + std::string(60 * 1024, 'p') + "\"}";
  ASSERT_LT(near.size(), 64u * 1024);
  ASSERT_TRUE(ws->send_text(near));
  auto pong = ws_read(*ws);
  EXPECT_EQ(pong["req"], boost::json::value("big"));

  std::string over = R"({"type":"ping","pad":")" + std::string(70 * 1024, 'p') + "\"}";
  (void)ws->send_text(over);  // the server may close while this is being written
  EXPECT_EQ(ws_wait_close(*ws, 5s), 1009);
}

TEST_F(WebSocketTest, HelloWithBadTokenClosesWith4001) {
  auto api = this->api();
  auto a = register_account(api, "wsbadtok");
  for (const std::string& hello :
       {std::string(R"({"type":"hello","token":"garbage"})"),
        R"({"type":"hello","token":")" + a.refresh + "\"}",
        R"({"type":"hello","token":")" + a.access + "x\"}", std::string(R"({"type":"hello"})"),
        std::string(R"({"type":"hello","token":42})")}) {
    auto ws = ws_connect(port());
    ASSERT_TRUE(ws->send_text(hello));
    EXPECT_EQ(ws_wait_close(*ws, 5s), 4001) << hello;
  }
  // A token of an ended session too.
  auto b = login_account(api, a);
  ASSERT_EQ(api.post("/api/v1/auth/logout", std::string_view(), b.access).status, 204);
  auto ws = ws_connect(port());
  ASSERT_TRUE(ws->send_text(R"({"type":"hello","token":")" + b.access + "\"}"));
  EXPECT_EQ(ws_wait_close(*ws, 5s), 4001) << "hello with a logged-out session's token";
}

TEST_F(WebSocketTest, FirstFrameNotHelloClosesWith4001) {
  for (const char* first : {R"({"type":"ping","req":"p"})", "{not json", R"({"token":"x"})"}) {
    auto ws = ws_connect(port());
    ASSERT_TRUE(ws->send_text(first));
    EXPECT_EQ(ws_wait_close(*ws, 5s), 4001) << first;
  }
}

TEST_F(WebSocketTest, NoHelloClosesWith4001AfterTimeout) {
  auto ws = ws_connect(port());
  auto started = Clock::now();
  auto code = ws_wait_close(*ws, 13s);
  auto took = Clock::now() - started;
  EXPECT_EQ(code, 4001);
  EXPECT_GE(took, 9s) << "closed long before the 10 s hello timeout";
  EXPECT_LE(took, 12s);
}

TEST_F(WebSocketTest, BinaryFrameClosesWith1003) {
  auto api = this->api();
  auto a = register_account(api, "wsbin");
  auto ws = ws_ready(port(), a.access);
  ASSERT_TRUE(ws->send_binary(std::string("\x00\x01\x02", 3)));
  EXPECT_EQ(ws_wait_close(*ws, 5s), 1003);

  // Before hello as well.
  auto ws2 = ws_connect(port());
  ASSERT_TRUE(ws2->send_binary(R"({"type":"hello"})"));
  auto code = ws_wait_close(*ws2, 5s);
  EXPECT_TRUE(code == 1003 || code == 4001) << (code ? *code : -1);
}

TEST_F(WebSocketTest, LogoutClosesTheSessionsWebSockets) {
  auto api = this->api();
  auto a = register_account(api, "wslogout");
  auto other = login_account(api, a);
  auto ws1 = ws_ready(port(), a.access);
  auto ws2 = ws_ready(port(), a.access);
  auto ws_other = ws_ready(port(), other.access);
  ASSERT_EQ(api.post("/api/v1/auth/logout", std::string_view(), a.access).status, 204);
  EXPECT_EQ(ws_wait_close(*ws1, 1s), 4001);
  EXPECT_EQ(ws_wait_close(*ws2, 1s), 4001);
  expect_alive(*ws_other, "other-session");
}

TEST_F(WebSocketTest, UpgradeOnlyOnTheGatewayPath) {
  auto c = net::WsClient::connect("127.0.0.1", port(), "/api/v1/health");
  EXPECT_FALSE(c) << "WebSocket upgrade accepted off the gateway path";
  auto ok = net::WsClient::connect("127.0.0.1", port(), "/api/v1/ws");
  EXPECT_TRUE(ok) << ok.error().message;
}

// SIGTERM with a WebSocket open: the client gets 1012 (service restart), the server exits 0, and the data is there
// after a restart.
TEST(GracefulShutdown, ClosesWebSocketsWith1012AndExitsZero) {
  ServerProcess server({"--rate-limits", kGenerousLimits});
  auto err = server.start();
  ASSERT_TRUE(err.empty()) << err;
  Account a;
  std::unique_ptr<net::WsClient> ws;
  {
    Api api(server.port());
    a = register_account(api, "shutdown");
    ASSERT_EQ(
        api.patch("/api/v1/users/me", object{{"status_text", "before shutdown"}}, a.access).status,
        200);
    ws = ws_ready(server.port(), a.access);
    // An idle kept-alive HTTP connection must not hold the shutdown up.
    ASSERT_EQ(api.get("/api/v1/health").status, 200);

    auto started = Clock::now();
    server.send_signal(SIGTERM);
    EXPECT_EQ(ws_wait_close(*ws, 5s), net::kCloseServiceRestart) << server.logs();
    auto status = server.wait_exit(5s);
    ASSERT_TRUE(status) << "server still running 5 s after SIGTERM:\n" << server.logs();
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status;
    EXPECT_LT(Clock::now() - started, 5s);
  }
  EXPECT_NE(server.logs().find("stopped"), std::string::npos) << server.logs();

  err = server.start();
  ASSERT_TRUE(err.empty()) << err;
  Api api(server.port());
  auto login =
      api.post("/api/v1/auth/login", object{{"username", a.username}, {"password", a.password}});
  ASSERT_EQ(login.status, 200) << login;
  auto me = api.get("/api/v1/users/me", login.str("access_token"));
  EXPECT_EQ(me.str("status_text"), "before shutdown") << me;
}

}  // namespace
}  // namespace parley::itest
