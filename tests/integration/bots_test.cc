// Bots, incoming and outgoing webhooks and slash commands against the real server: bot tokens on
// HTTP and the WebSocket, scopes, a Slack-style payload posted through a webhook URL, signed
// deliveries to a loopback receiver (allowed by --outbound-allow) and a refused private address,
// slash commands answered ephemerally and in the channel, and bad input.
#include <openssl/hmac.h>

#include "chat_support.h"
#include "net/http.h"
#include "test_server.h"

namespace parley::itest {
namespace {

using namespace chat;
using curl::testing::TestHttpServer;
using curl::testing::TestRequest;

std::string hmac_hex(const std::string& key, const std::string& body) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), out, &len);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex += kHex[out[i] >> 4];
    hex += kHex[out[i] & 15];
  }
  return hex;
}

// The path of a URL the server handed out ("http://host:port/api/v1/webhooks/...").
std::string path_of(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  return url.substr(url.find('/', scheme + 3));
}

struct BotAccount {
  std::string id;
  std::string token;
  Account as_account() const { return {id, "", "", token, ""}; }
};

BotAccount make_bot(Api& api, const Account& owner, const value& scopes = nullptr) {
  object body{{"username", unique_name("bot")}, {"display_name", "Build Bot"}};
  if (!scopes.is_null()) body["scopes"] = scopes;
  auto r = api.post("/api/v1/bots", body, owner.access);
  if (r.status != 201) fail_reply("create bot", r);
  return {str(r.obj().at("bot"), "id"), r.str("token")};
}

// Loopback receivers are reachable only because of the allow list.
class BotsTest : public SharedServerTest {
 public:
  static void SetUpTestSuite() { start_shared({"--outbound-allow", "127.0.0.0/8"}); }
};

TEST_F(BotsTest, BotTokenWorksOnHttpAndWebSocketUntilRevoked) {
  auto api = this->api();
  auto owner = register_account(api, "bo");
  auto r = api.post("/api/v1/bots",
                    object{{"username", unique_name("bot")}, {"display_name", "CI"}}, owner.access);
  ASSERT_EQ(r.status, 201) << r;
  const auto& bot = r.obj().at("bot");
  const std::string token = r.str("token");
  EXPECT_TRUE(token.starts_with("pbt_")) << token;
  EXPECT_EQ(str(bot, "owner_id"), owner.id);
  ASSERT_EQ(arr(bot, "tokens").size(), 1u);
  EXPECT_FALSE(mentions(bot, token.substr(token.find('.') + 1))) << "the secret is shown once";
  const std::string bot_id = str(bot, "id");
  const std::string token_id = str(arr(bot, "tokens")[0], "id");
  // Listed for its owner, with no secret.
  auto listed = api.get("/api/v1/bots", owner.access);
  ASSERT_EQ(listed.status, 200);
  ASSERT_EQ(arr(listed.json, "bots").size(), 1u);
  EXPECT_EQ(listed.body.find(token.substr(token.find('.') + 1)), std::string::npos);

  // The owner adds the bot to a channel; the bot posts and reads over HTTP.
  auto conv = make_channel(api, owner, channel_name("bots"), "private");
  add_members(api, owner, conv, {bot_id});
  BotAccount b{bot_id, token};
  auto me = api.get("/api/v1/users/me", token);
  ASSERT_EQ(me.status, 200) << me;
  EXPECT_EQ(me.str("id"), bot_id);
  auto posted = send(api, b.as_account(), conv, "deployed v1.2");
  ASSERT_EQ(posted.status, 201) << posted;
  EXPECT_EQ(posted.str("sender_id"), bot_id);
  EXPECT_EQ(history(api, b.as_account(), conv).status, 200);

  // And on the WebSocket: it hears the owner's message and sends one of its own.
  Live live(port(), b.as_account());
  EXPECT_TRUE(live.session_id().starts_with("bot:"));
  auto sent = send_ok(api, owner, conv, "hello bot");
  auto ev = live.event("message.created", with_id(str(sent, "id")));
  EXPECT_EQ(str(ev, "text"), "hello bot");
  live.send(object{{"type", "send"},
                   {"req", "r1"},
                   {"conversation_id", conv},
                   {"text", "from the socket"},
                   {"client_msg_id", fresh_cmid()}});
  auto ack = live.wait([](const object& f) { return str(f, "type") == "ack"; }, 5s, "ack");
  EXPECT_EQ(str(ack.at("message"), "sender_id"), bot_id);

  // Revoked: HTTP refuses the token and the open socket closes.
  ASSERT_EQ(api.del("/api/v1/bots/" + bot_id + "/tokens/" + token_id, owner.access).status, 204);
  EXPECT_EQ(api.get("/api/v1/users/me", token).status, 401);
  EXPECT_TRUE(ws_wait_close(live.raw(), 3s).has_value()) << "the bot's socket stays open";
  auto ws = ws_connect(port());
  ASSERT_TRUE(ws->send_text(boost::json::serialize(object{{"type", "hello"}, {"token", token}})));
  EXPECT_EQ(ws_wait_close(*ws, 5s), 4001);
}

TEST_F(BotsTest, RotationIssuesANewTokenAndRetiresTheOld) {
  auto api = this->api();
  auto owner = register_account(api, "br");
  auto b = make_bot(api, owner);
  auto bot = api.get("/api/v1/bots/" + b.id, owner.access);
  ASSERT_EQ(bot.status, 200);
  auto token_id = str(arr(bot.json, "tokens")[0], "id");
  auto rotated = api.post("/api/v1/bots/" + b.id + "/tokens/" + token_id + "/rotate",
                          std::string_view(), owner.access);
  ASSERT_EQ(rotated.status, 201) << rotated;
  EXPECT_EQ(api.get("/api/v1/users/me", b.token).status, 401);
  EXPECT_EQ(api.get("/api/v1/users/me", rotated.str("token")).status, 200);
  // A second token with fewer scopes.
  auto narrow = api.post("/api/v1/bots/" + b.id + "/tokens",
                         object{{"scopes", array{"conversations:read"}}}, owner.access);
  ASSERT_EQ(narrow.status, 201) << narrow;
  EXPECT_EQ(arr(narrow.json, "scopes").size(), 1u);
  // Deleting the bot retires every token.
  ASSERT_EQ(api.del("/api/v1/bots/" + b.id, owner.access).status, 204);
  EXPECT_EQ(api.get("/api/v1/users/me", rotated.str("token")).status, 401);
  EXPECT_EQ(api.get("/api/v1/users/me", narrow.str("token")).status, 401);
  EXPECT_EQ(api.get("/api/v1/bots/" + b.id, owner.access).status, 404);
}

TEST_F(BotsTest, ScopesAreEnforced) {
  auto api = this->api();
  auto owner = register_account(api, "bs");
  auto conv = make_channel(api, owner, channel_name("scopes"), "private");
  auto reader = make_bot(api, owner, array{"messages:read", "conversations:read"});
  auto writer = make_bot(api, owner, array{"messages:write"});
  add_members(api, owner, conv, {reader.id, writer.id});
  send_ok(api, owner, conv, "scoped");

  // Read-only: reads, cannot post (HTTP or socket).
  EXPECT_EQ(history(api, reader.as_account(), conv).status, 200);
  auto refused = send(api, reader.as_account(), conv, "nope");
  EXPECT_EQ(refused.status, 403) << refused;
  EXPECT_NE(refused.error_message().find("messages:write"), std::string::npos) << refused;
  Live live(port(), reader.as_account());
  live.send(object{{"type", "send"},
                   {"req", "w"},
                   {"conversation_id", conv},
                   {"text", "x"},
                   {"client_msg_id", fresh_cmid()}});
  auto err = live.wait([](const object& f) { return str(f, "type") == "error"; }, 5s, "error");
  EXPECT_EQ(str(err.at("error"), "code"), "forbidden");

  // Write-only: posts, cannot read, and may not open a socket (that is reading).
  EXPECT_EQ(send(api, writer.as_account(), conv, "status: green").status, 201);
  EXPECT_EQ(history(api, writer.as_account(), conv).status, 403);
  EXPECT_EQ(api.get("/api/v1/conversations", writer.token).status, 403);
  auto ws = ws_connect(port());
  ASSERT_TRUE(
      ws->send_text(boost::json::serialize(object{{"type", "hello"}, {"token", writer.token}})));
  EXPECT_EQ(ws_wait_close(*ws, 5s), 4001);

  // No bot token reaches a person's routes, whatever its scopes.
  for (const auto& t : {reader.token, writer.token}) {
    EXPECT_EQ(api.get("/api/v1/auth/sessions", t).status, 403);
    EXPECT_EQ(api.post("/api/v1/bots", object{{"username", unique_name("b")}}, t).status, 403);
    EXPECT_EQ(api.patch("/api/v1/users/me", object{{"display_name", "x"}}, t).status, 403);
  }
}

TEST_F(BotsTest, BotsAreTheirOwnersOnly) {
  auto api = this->api();
  auto owner = register_account(api, "bo1");
  auto other = register_account(api, "bo2");
  auto b = make_bot(api, owner);
  EXPECT_EQ(api.get("/api/v1/bots/" + b.id, other.access).status, 404);
  EXPECT_EQ(api.del("/api/v1/bots/" + b.id, other.access).status, 404);
  EXPECT_EQ(api.post("/api/v1/bots/" + b.id + "/tokens", std::string_view(), other.access).status,
            404);
  EXPECT_EQ(api.get("/api/v1/bots/" + std::string(kUnknownId), owner.access).status, 404);
  EXPECT_TRUE(arr(api.get("/api/v1/bots", other.access).json, "bots").empty());
  // Bad input.
  EXPECT_EQ(api.post("/api/v1/bots", std::string("{"), owner.access).status, 400);
  EXPECT_EQ(api.post("/api/v1/bots", object{{"display_name", "x"}}, owner.access).status, 400);
  auto bad_name = api.post("/api/v1/bots", object{{"username", "No Spaces"}}, owner.access);
  EXPECT_EQ(bad_name.status, 422);
  EXPECT_EQ(bad_name.error_field(), "username");
  auto bad_scope =
      api.post("/api/v1/bots", object{{"username", unique_name("b")}, {"scopes", array{"root"}}},
               owner.access);
  EXPECT_EQ(bad_scope.status, 422);
  EXPECT_EQ(bad_scope.error_field(), "scopes");
  EXPECT_EQ(api.post("/api/v1/bots", object{{"username", owner.username}}, owner.access).status,
            409);
  EXPECT_EQ(api.get("/api/v1/users/me", "pbt_" + std::string(kUnknownId) + ".nope").status, 401);
}

TEST_F(BotsTest, SlackStylePayloadPostsAMessage) {
  auto api = this->api();
  auto owner = register_account(api, "wh");
  auto member = register_account(api, "whm");
  auto conv = make_channel(api, owner, channel_name("hooks"), "private");
  add_members(api, owner, conv, {member.id});
  auto created = api.post(conv_path(conv) + "/webhooks", object{{"name", "CI"}}, owner.access);
  ASSERT_EQ(created.status, 201) << created;
  const std::string url = created.str("url");
  ASSERT_NE(url.find("/api/v1/webhooks/"), std::string::npos) << url;
  const std::string path = path_of(url);

  Live live(port(), member);
  auto posted =
      api.call("POST", path,
               R"({"text":"Build *passed*","username":"Jenkins","icon_url":"https://x/i.png",
                             "attachments":[{"title":"Job 7","title_link":"https://ci.example/7",
                             "text":"all green","color":"good",
                             "fields":[{"title":"Branch","value":"main","short":true}]}]})",
               {}, {{"Content-Type", "application/json"}});
  ASSERT_EQ(posted.status, 200) << posted;
  EXPECT_EQ(posted.body, "ok");
  auto ev = live.event("message.created", with_conv(conv));
  EXPECT_EQ(str(ev, "sender_id"), created.str("bot_id"));
  EXPECT_EQ(str(ev, "text"),
            "**Jenkins**\nBuild *passed*\n> **[Job 7](https://ci.example/7)**\n> all green\n"
            "> **Branch**: main");
  // The hook's bot shows under the hook's name.
  auto bot_user = api.get("/api/v1/users/" + created.str("bot_id"), member.access);
  EXPECT_EQ(bot_user.str("display_name"), "CI");

  // Slack's form encoding: payload=<url-encoded JSON>.
  auto form = api.call("POST", path, "payload=" + pct(R"({"text":"from a form & more"})"), {},
                       {{"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(form.status, 200) << form;
  EXPECT_EQ(str(live.event("message.created", with_conv(conv)), "text"), "from a form & more");

  // Bad payloads change nothing.
  auto before = all_messages(api, owner, conv).size();
  EXPECT_EQ(api.call("POST", path, "{not json", {}, {{"Content-Type", "application/json"}}).status,
            400);
  EXPECT_EQ(api.call("POST", path, R"({"text": 7})", {}, {}).status, 400);
  EXPECT_EQ(api.call("POST", path, R"({"username": "only"})", {}, {}).status, 422);
  EXPECT_EQ(api.call("POST", path, R"({"text":"x","attachments":"no"})", {}, {}).status, 400);
  EXPECT_EQ(
      api.call("POST", path, "other=1", {}, {{"Content-Type", "application/x-www-form-urlencoded"}})
          .status,
      400);
  // A wrong secret or an unknown hook: 404 alike.
  std::string wrong = path.substr(0, path.size() - 2) + (path.ends_with("AA") ? "BB" : "AA");
  auto r1 = api.call("POST", wrong, R"({"text":"x"})", {}, {});
  auto r2 = api.call("POST", "/api/v1/webhooks/" + std::string(kUnknownId) + "/secret",
                     R"({"text":"x"})", {}, {});
  EXPECT_EQ(r1.status, 404);
  EXPECT_EQ(r1.body_without_request_id(), r2.body_without_request_id());
  EXPECT_EQ(all_messages(api, owner, conv).size(), before);

  // Listed (without the secret) and deleted by the conversation's owner only.
  auto listed = api.get(conv_path(conv) + "/webhooks", owner.access);
  ASSERT_EQ(listed.status, 200);
  ASSERT_EQ(arr(listed.json, "webhooks").size(), 1u);
  EXPECT_EQ(listed.body.find(path.substr(path.rfind('/') + 1)), std::string::npos);
  EXPECT_EQ(api.get(conv_path(conv) + "/webhooks", member.access).status, 403);
  auto hook_id = created.str("id");
  EXPECT_EQ(api.del(conv_path(conv) + "/webhooks/" + hook_id, member.access).status, 403);
  ASSERT_EQ(api.del(conv_path(conv) + "/webhooks/" + hook_id, owner.access).status, 204);
  EXPECT_EQ(api.call("POST", path, R"({"text":"gone"})", {}, {}).status, 404);
}

TEST_F(BotsTest, WebhookRoutesHideOtherPeoplesConversations) {
  auto api = this->api();
  auto owner = register_account(api, "wo");
  auto outsider = register_account(api, "wx");
  auto conv = make_channel(api, owner, channel_name("priv"), "private");
  for (const auto& p : {conv_path(conv) + "/webhooks", conv_path(conv) + "/outgoing-webhooks",
                        conv_path(kUnknownId) + "/webhooks"}) {
    EXPECT_EQ(api.get(p, outsider.access).status, 404) << p;
  }
  EXPECT_EQ(api.post(conv_path(conv) + "/webhooks", object{{"name", "x"}}, outsider.access).status,
            404);
  EXPECT_EQ(api.post(conv_path(conv) + "/outgoing-webhooks",
                     object{{"url", "https://example.com/"}, {"events", array{"message.created"}}},
                     outsider.access)
                .status,
            404);
  EXPECT_EQ(api.del(conv_path(conv) + "/webhooks/" + std::string(kUnknownId), owner.access).status,
            404);
  EXPECT_EQ(api.post(conv_path(conv) + "/webhooks", object{{"name", ""}}, owner.access).status,
            422);
  EXPECT_EQ(api.post(conv_path(conv) + "/webhooks", object{{"name", 5}}, owner.access).status, 400);
  auto dm = make_dm(api, owner, outsider.id);
  EXPECT_EQ(api.post(conv_path(dm) + "/webhooks", object{{"name", "x"}}, owner.access).status, 422);
}

TEST_F(BotsTest, OutgoingWebhookDeliveriesAreSignedAndRetried) {
  auto api = this->api();
  auto owner = register_account(api, "ow");
  auto conv = make_channel(api, owner, channel_name("out"), "private");
  std::atomic<int> calls{0};
  TestHttpServer receiver([&calls](const TestRequest&) {
    // The first attempt fails: the delivery comes again.
    return ++calls == 1 ? curl::testing::http_response(503, "text/plain", "busy")
                        : curl::testing::http_response(204, "text/plain", "");
  });
  const std::string url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook";
  auto created = api.post(conv_path(conv) + "/outgoing-webhooks",
                          object{{"url", url}, {"events", array{"message.created"}}}, owner.access);
  ASSERT_EQ(created.status, 201) << created;
  const std::string secret = created.str("secret");
  ASSERT_FALSE(secret.empty());
  auto sent = send_ok(api, owner, conv, "ship it");

  auto deadline = Clock::now() + 15s;
  while (receiver.requests().size() < 2 && Clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  auto reqs = receiver.requests();
  ASSERT_GE(reqs.size(), 2u) << "the delivery was not retried after a 503";
  const auto& got = reqs[1];
  EXPECT_EQ(got.method, "POST");
  // The receiver's check: HMAC-SHA256 of the raw body with the secret.
  EXPECT_EQ(got.header("parley-signature"), "sha256=" + hmac_hex(secret, got.body));
  EXPECT_EQ(got.header("parley-event-id"), reqs[0].header("parley-event-id"))
      << "a retry carries the same event id";
  EXPECT_FALSE(got.header("parley-event-id").empty());
  auto body = boost::json::parse(got.body).as_object();
  EXPECT_EQ(str(body, "event"), "message.created");
  EXPECT_EQ(str(body.at("data"), "id"), str(sent, "id"));
  EXPECT_EQ(str(body.at("data"), "text"), "ship it");
  EXPECT_NE(hmac_hex(secret + "x", got.body), got.header("parley-signature").substr(7));

  auto listed = api.get(conv_path(conv) + "/outgoing-webhooks", owner.access);
  ASSERT_EQ(listed.status, 200);
  ASSERT_EQ(arr(listed.json, "webhooks").size(), 1u);
  EXPECT_EQ(listed.body.find(secret), std::string::npos);
  ASSERT_EQ(
      api.del(conv_path(conv) + "/outgoing-webhooks/" + created.str("id"), owner.access).status,
      204);
}

TEST_F(BotsTest, OutgoingWebhookInputIsChecked) {
  auto api = this->api();
  auto owner = register_account(api, "oi");
  auto conv = make_channel(api, owner, channel_name("oin"), "private");
  auto post = [&](const object& body) {
    return api.post(conv_path(conv) + "/outgoing-webhooks", body, owner.access);
  };
  auto priv = post({{"url", "http://10.0.0.5/hook"}, {"events", array{"message.created"}}});
  EXPECT_EQ(priv.status, 422) << priv;
  EXPECT_EQ(priv.error_message(), "address not allowed");
  EXPECT_EQ(post({{"url", "ftp://example.com/"}, {"events", array{"message.created"}}}).status,
            422);
  EXPECT_EQ(post({{"url", "https://example.com/"}, {"events", array{"message.burned"}}}).status,
            422);
  EXPECT_EQ(post({{"url", "https://example.com/"}}).status, 400);
  EXPECT_EQ(post({{"url", 5}, {"events", array{"message.created"}}}).status, 400);
  EXPECT_EQ(
      post({{"url", "https://u:p@example.com/"}, {"events", array{"message.created"}}}).status,
      422);
}

// Without the allow list, a loopback receiver is never reached: refused at creation when the URL
// names the address, at delivery when a name resolves to it.
class BotsRefusedTest : public SharedServerTest {};

TEST_F(BotsRefusedTest, PrivateAddressesAreRefused) {
  TestHttpServer receiver([](const TestRequest&) {
    return curl::testing::http_response(200, "application/json", R"({"text":"leak"})");
  });
  auto api = this->api();
  auto owner = register_account(api, "pr");
  auto conv = make_channel(api, owner, channel_name("pr"), "private");
  const std::string port = std::to_string(receiver.port());
  auto r = api.post(
      conv_path(conv) + "/outgoing-webhooks",
      object{{"url", "http://127.0.0.1:" + port + "/"}, {"events", array{"message.created"}}},
      owner.access);
  EXPECT_EQ(r.status, 422) << r;
  EXPECT_EQ(r.error_message(), "address not allowed");
  auto named = api.post(
      conv_path(conv) + "/outgoing-webhooks",
      object{{"url", "http://localhost:" + port + "/"}, {"events", array{"message.created"}}},
      owner.access);
  ASSERT_EQ(named.status, 201) << named;
  // A command whose URL is a name for loopback: the request is refused after resolution.
  auto trigger = unique_name("lo").substr(0, 20);
  ASSERT_EQ(api.post("/api/v1/commands",
                     object{{"trigger", trigger}, {"url", "http://localhost:" + port + "/"}},
                     owner.access)
                .status,
            201);
  auto ran = send(api, owner, conv, "/" + trigger + " hi");
  EXPECT_EQ(ran.status, 503) << ran;
  EXPECT_NE(ran.error_message().find("address not allowed"), std::string::npos) << ran;
  send_ok(api, owner, conv, "anyone there?");
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(receiver.requests().empty()) << "a loopback address was reached";
}

TEST_F(BotsTest, SlashCommandRoundTripEphemeralAndInChannel) {
  auto api = this->api();
  auto owner = register_account(api, "sc");
  auto member = register_account(api, "scm");
  auto conv = make_channel(api, owner, channel_name("cmd"), "private");
  add_members(api, owner, conv, {member.id});
  std::mutex mu;
  std::string visibility = "ephemeral";
  TestHttpServer app([&](const TestRequest& r) {
    auto body = boost::json::parse(r.body).as_object();
    std::lock_guard lock(mu);
    object answer{{"text", "Weather in " + str(body, "text") + ": sunny"},
                  {"visibility", visibility}};
    return curl::testing::http_response(200, "application/json", boost::json::serialize(answer));
  });
  const std::string trigger = unique_name("w").substr(0, 20);
  auto created =
      api.post("/api/v1/commands",
               object{{"trigger", "/" + trigger},
                      {"url", "http://127.0.0.1:" + std::to_string(app.port()) + "/cmd"}},
               owner.access);
  ASSERT_EQ(created.status, 201) << created;
  const std::string secret = created.str("secret");
  // Listed for everyone (the composer offers it), the URL for its owner only.
  auto listed = api.get("/api/v1/commands", member.access);
  ASSERT_EQ(listed.status, 200);
  EXPECT_TRUE(mentions(listed.json, "/" + trigger));
  EXPECT_EQ(listed.body.find(std::to_string(app.port())), std::string::npos);

  Live mine(port(), member);
  Live theirs(port(), owner);
  auto before = all_messages(api, owner, conv).size();
  auto eph = send(api, member, conv, "/" + trigger + " Paris");
  ASSERT_EQ(eph.status, 200) << eph;
  EXPECT_EQ(str(eph.obj().at("command"), "text"), "Weather in Paris: sunny");
  EXPECT_EQ(str(eph.obj().at("command"), "visibility"), "ephemeral");
  auto shown = mine.event("command.response");
  EXPECT_EQ(str(shown, "text"), "Weather in Paris: sunny");
  EXPECT_EQ(str(shown, "conversation_id"), conv);
  EXPECT_EQ(all_messages(api, owner, conv).size(), before) << "an ephemeral answer is not stored";
  // The request the app received: the payload, signed.
  auto req = app.requests().back();
  auto payload = boost::json::parse(req.body).as_object();
  EXPECT_EQ(str(payload, "command"), "/" + trigger);
  EXPECT_EQ(str(payload, "text"), "Paris");
  EXPECT_EQ(str(payload, "user_id"), member.id);
  EXPECT_EQ(str(payload, "conversation_id"), conv);
  EXPECT_EQ(req.header("parley-signature"), "sha256=" + hmac_hex(secret, req.body));

  {
    std::lock_guard lock(mu);
    visibility = "in_channel";
  }
  auto inch = send(api, member, conv, "/" + trigger + " Oslo");
  ASSERT_EQ(inch.status, 200) << inch;
  EXPECT_EQ(str(inch.obj().at("command"), "visibility"), "in_channel");
  auto msg_id = str(inch.obj().at("message"), "id");
  auto seen = theirs.event("message.created", with_id(msg_id));
  EXPECT_EQ(str(seen, "text"), "Weather in Oslo: sunny");
  EXPECT_EQ(all_messages(api, owner, conv).size(), before + 1);

  // Over the WebSocket too: the ack carries the answer.
  {
    std::lock_guard lock(mu);
    visibility = "ephemeral";
  }
  mine.send(object{{"type", "send"},
                   {"req", "c1"},
                   {"conversation_id", conv},
                   {"text", "/" + trigger + " Rome"},
                   {"client_msg_id", fresh_cmid()}});
  auto ack = mine.wait([](const object& f) { return str(f, "type") == "ack"; }, 5s, "ack");
  EXPECT_EQ(str(ack.at("command"), "text"), "Weather in Rome: sunny");

  // Unknown commands: a clear error, nothing sent. "//" sends the text with one slash.
  auto unknown = send(api, member, conv, "/nosuchcommand now");
  EXPECT_EQ(unknown.status, 422) << unknown;
  EXPECT_NE(unknown.error_message().find("unknown command /nosuchcommand"), std::string::npos);
  auto escaped = send(api, member, conv, "//nosuchcommand is literal");
  ASSERT_EQ(escaped.status, 201) << escaped;
  EXPECT_EQ(escaped.str("text"), "/nosuchcommand is literal");
  EXPECT_EQ(send(api, member, conv, "/usr/bin is a path").status, 201);

  // Only a system admin registers commands (the owner here: the server's first account); bad
  // registrations; deletion by the owner only.
  auto by_member = api.post("/api/v1/commands",
                            object{{"trigger", "mine"}, {"url", "https://x.example/"}},
                            member.access);
  EXPECT_EQ(by_member.status, 403) << by_member;
  EXPECT_EQ(api.post("/api/v1/commands",
                     object{{"trigger", trigger}, {"url", "https://x.example/"}}, owner.access)
                .status,
            409);
  EXPECT_EQ(api.post("/api/v1/commands", object{{"trigger", "two words"}, {"url", "https://x/"}},
                     owner.access)
                .status,
            422);
  EXPECT_EQ(api.post("/api/v1/commands", object{{"trigger", "ok"}}, owner.access).status, 400);
  auto id = created.str("id");
  EXPECT_EQ(api.del("/api/v1/commands/" + id, member.access).status, 403);
  EXPECT_EQ(api.del("/api/v1/commands/" + std::string(kUnknownId), owner.access).status, 404);
  ASSERT_EQ(api.del("/api/v1/commands/" + id, owner.access).status, 204);
  EXPECT_EQ(send(api, member, conv, "/" + trigger + " again").status, 422);
}

}  // namespace
}  // namespace parley::itest

namespace parley::itest {
namespace {

using namespace chat;

// A server of its own: its first account is the system admin.
TEST(BotsAudit, TokenCreationIsAuditedAndADeactivatedBotIsRefused) {
  ServerProcess server({"--rate-limits", kGenerousLimits});
  ASSERT_EQ(server.start(), "");
  Api api(server.port());
  auto admin = register_account(api, "ad");
  auto owner = register_account(api, "ow");
  auto created = api.post("/api/v1/bots", object{{"username", unique_name("bot")}}, owner.access);
  ASSERT_EQ(created.status, 201) << created;
  const std::string bot_id = str(created.obj().at("bot"), "id");
  const std::string token = created.str("token");
  auto bot = api.get("/api/v1/bots/" + bot_id, owner.access);
  auto token_id = str(arr(bot.json, "tokens")[0], "id");
  ASSERT_EQ(api.post("/api/v1/bots/" + bot_id + "/tokens/" + token_id + "/rotate",
                     std::string_view(), owner.access)
                .status,
            201);
  auto events = api.get("/api/v1/admin/audit?action=bot.token_created", admin.access);
  ASSERT_EQ(events.status, 200) << events;
  auto list = arr(events.json, "events");
  ASSERT_EQ(list.size(), 2u) << "one event per token: creation and rotation";
  for (const auto& e : list) {
    EXPECT_EQ(str(e, "actor_id"), owner.id);
    EXPECT_EQ(str(e, "target"), "bot:" + bot_id);
    EXPECT_FALSE(str(e, "ip").empty());
  }
  // The admin deactivates the bot's account: its tokens stop working.
  BotAccount b{bot_id, token};
  auto fresh = api.post("/api/v1/bots/" + bot_id + "/tokens", std::string_view(), owner.access);
  ASSERT_EQ(fresh.status, 201);
  EXPECT_EQ(api.get("/api/v1/users/me", fresh.str("token")).status, 200);
  ASSERT_EQ(
      api.post("/api/v1/admin/users/" + bot_id + "/deactivate", std::string_view(), admin.access)
          .status,
      200);
  EXPECT_EQ(api.get("/api/v1/users/me", fresh.str("token")).status, 401);
}

// Open bot sockets close when the bot, or its owner, is deactivated (a bot has no session for
// the deactivation to revoke), and the bot connects again once reactivated.
TEST(BotsAudit, DeactivationClosesTheOpenSocketsOfABotAndOfAnOwnersBots) {
  ServerProcess server({"--rate-limits", kGenerousLimits});
  ASSERT_EQ(server.start(), "");
  Api api(server.port());
  auto admin = register_account(api, "ad");
  auto owner = register_account(api, "ow");
  auto bystander = register_account(api, "by");
  auto first = make_bot(api, owner);
  auto second = make_bot(api, owner);
  auto other = make_bot(api, bystander);
  auto deactivate = [&](const std::string& id, const char* how) {
    return api.post("/api/v1/admin/users/" + id + "/" + how, std::string_view(), admin.access)
        .status;
  };

  Live bot(server.port(), first.as_account());
  ASSERT_EQ(deactivate(first.id, "deactivate"), 200);
  EXPECT_EQ(ws_wait_close(bot.raw(), 3s), 4001) << "a deactivated bot's socket stays open";
  ASSERT_EQ(deactivate(first.id, "reactivate"), 200);
  Live again(server.port(), first.as_account());  // a later hello is judged afresh

  Live mine(server.port(), second.as_account());
  Live theirs(server.port(), other.as_account());
  ASSERT_EQ(deactivate(owner.id, "deactivate"), 200);
  EXPECT_EQ(ws_wait_close(again.raw(), 3s), 4001) << "the owner's bots keep their sockets";
  EXPECT_EQ(ws_wait_close(mine.raw(), 3s), 4001);
  EXPECT_FALSE(ws_wait_close(theirs.raw(), 500ms).has_value()) << "another owner's bot is closed";
}

}  // namespace
}  // namespace parley::itest
