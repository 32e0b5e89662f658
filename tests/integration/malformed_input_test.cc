// The malformed input sweep: 1,000 generated bad inputs (wrong types, sizes, deep nesting,
// invalid UTF-8, NaN and Infinity, huge numbers, duplicate keys, truncated JSON, bad headers),
// from a fixed seed, over every HTTP route that reads a body and over WebSocket frames. Each
// must be answered with a 4xx and the JSON error envelope, or a WebSocket error frame or close
// code; never a 5xx, never accepted, never logged at error level. The server must be alive at
// the end, and a healthy pair of clients alongside sends and receives a message after every
// 10 inputs.
//
// PARLEY_TEST_SWEEP_INPUTS and PARLEY_TEST_SWEEP_SEED change the count and the seed (for longer
// runs).
#include <random>

#include "chat_support.h"
#include "ws_wire.h"

namespace parley::itest {
namespace {

using namespace chat;

// A route that reads a JSON body, with a valid body to start mutations from.
struct BodyRoute {
  std::string method;
  std::string pattern;
  object valid;
  bool authed = true;
  bool all_optional = false;  // every field may be left out
};

// POST/PUT/PATCH routes that read no body (a body is ignored), so no bad body can reach them.
const std::set<std::string> kBodyless = {
    "POST /api/v1/mail/unsubscribe",  // RFC 8058's form body is not read; the token is the query
    "POST /api/v1/auth/logout",
    "POST /api/v1/auth/logout-all",
    "POST /api/v1/auth/totp/setup",
    "POST /api/v1/conversations/{id}/join",
    "POST /api/v1/conversations/{id}/leave",
    "PUT /api/v1/messages/{id}/reactions/{emoji}",
    "PUT /api/v1/conversations/{id}/pins/{message_id}",
    "PUT /api/v1/conversations/{id}/star",
    "POST /api/v1/conversations/{id}/archive",
    "POST /api/v1/conversations/{id}/unarchive",
    "PUT /api/v1/messages/{id}/saved",
    "POST /api/v1/users/me/export",
    // tus: the body is file bytes (any bytes are valid); their headers have their own sweep,
    // FilesTest.MalformedTusHeadersAreRefused.
    "POST /api/v1/uploads",
    "PATCH /api/v1/uploads/{id}",
    "POST /api/v1/bots/{id}/tokens/{token_id}/rotate",
};

std::int64_t env_int(const char* name, std::int64_t def) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : def;
}

// ---- generators: each turns a valid body into text that must be refused ----

using Rng = std::mt19937_64;

std::size_t pick(Rng& rng, std::size_t n) { return static_cast<std::size_t>(rng() % n); }

std::string invalid_utf8(Rng& rng) {
  static const std::vector<std::string> bad = {
      "\xff", "\xc0\x80", "\xed\xa0\x80",     "\xf8\x88\x80\x80\x80",
      "\x80", "\xe0\x80", "\xf4\x90\x80\x80", "\xfe\xfe"};
  return bad[pick(rng, bad.size())];
}

// A value of another JSON type than v.
value wrong_type(Rng& rng, const value& v) {
  std::vector<value> options = {value(12345),
                                value(-1.5),
                                value(true),
                                value(array{1, 2}),
                                value(object{{"nested", "x"}}),
                                value("a string")};
  for (;;) {
    auto& o = options[pick(rng, options.size())];
    bool same = o.kind() == v.kind() || (v.is_number() && o.is_number()) ||
                (v.is_string() && o.is_string());
    if (!same) return o;
  }
}

// The body with one field's value replaced by raw JSON text.
std::string with_raw_field(const object& body, const std::string& key, const std::string& raw) {
  std::string out = "{";
  bool first = true;
  for (const auto& kv : body) {
    if (!first) out += ",";
    first = false;
    out += boost::json::serialize(value(kv.key())) + ":";
    out += kv.key() == key ? raw : boost::json::serialize(kv.value());
  }
  return out + "}";
}

std::string any_key(Rng& rng, const object& body) {
  auto it = body.begin();
  std::advance(it, static_cast<std::ptrdiff_t>(pick(rng, body.size())));
  return std::string(it->key());
}

struct Generated {
  std::string kind;
  std::string body;
};

// One bad JSON body from a valid one. `max_body` is the server's body limit; `may_omit`: the
// body is refused when its fields are missing (false where every field is optional).
Generated bad_body(Rng& rng, const object& valid, std::size_t max_body, bool may_omit = true) {
  const std::string key = any_key(rng, valid);
  const std::string text = boost::json::serialize(valid);
  switch (pick(rng, may_omit ? 14 : 13)) {
    case 0:
      return {"wrong type",
              with_raw_field(valid, key, boost::json::serialize(wrong_type(rng, valid.at(key))))};
    case 1:
      return {"truncated", text.substr(0, 1 + pick(rng, text.size() - 1))};
    case 2: {
      std::size_t depth = 33 + pick(rng, 20'000);
      return {"deep nesting",
              with_raw_field(valid, key, std::string(depth, '[') + std::string(depth, ']'))};
    }
    case 3: {
      std::size_t depth = 33 + pick(rng, 5'000);
      std::string nested;
      for (std::size_t i = 0; i < depth; ++i) nested += "{\"a\":";
      nested += "1" + std::string(depth, '}');
      return {"deep nesting", nested};
    }
    case 4:
      return {"invalid UTF-8", with_raw_field(valid, key, "\"ok" + invalid_utf8(rng) + "ok\"")};
    case 5: {
      static const char* tokens[] = {"NaN", "Infinity", "-Infinity", "nan",
                                     "inf", "+1",       "0x10",      ".5"};
      return {"NaN/Infinity", with_raw_field(valid, key, tokens[pick(rng, std::size(tokens))])};
    }
    case 6: {
      static const char* huge[] = {"1e999999",
                                   "-1e999999",
                                   "123456789012345678901234567890",
                                   "9007199254740993",
                                   "-9223372036854775809",
                                   "1e400"};
      return {"huge number", with_raw_field(valid, key, huge[pick(rng, std::size(huge))])};
    }
    case 7: {
      // Last wins (as in JavaScript's JSON.parse): a bad last value must not hide behind a
      // good first one.
      std::string bad = boost::json::serialize(wrong_type(rng, valid.at(key)));
      std::string first =
          boost::json::serialize(value(key)) + ":" + boost::json::serialize(valid.at(key)) + ",";
      return {"duplicate key", with_raw_field(valid, key, bad).insert(1, first)};
    }
    case 8: {
      static const char* tops[] = {"[]",        "\"text\"", "42",           "null", "true",
                                   "",          "   ",      "\xef\xbb\xbf", "{",    "}",
                                   "{\"a\" 1}", "{'a':1}",  "{\"a\":1,}",   "[1,2"};
      return {"not an object", tops[pick(rng, std::size(tops))]};
    }
    case 9:
      return {"trailing garbage", text + (pick(rng, 2) ? " xyz" : "{}")};
    case 10:
      return {"oversize body",
              with_raw_field(valid, key, "\"" + std::string(max_body + 1, 'x') + "\"")};
    case 11: {
      static const char* escapes[] = {"\"\\u12\"", "\"\\x41\"", "\"\\ud800\"",
                                      "\"\\\"",    "\"\\q\"",   "\"\\udc00\\ud800\""};
      return {"bad escape", with_raw_field(valid, key, escapes[pick(rng, std::size(escapes))])};
    }
    case 12: {
      std::string raw = "\"a";
      raw += static_cast<char>(pick(rng, 0x20));  // a raw control character
      return {"control character", with_raw_field(valid, key, raw + "b\"")};
    }
    default: {
      object missing = valid;
      missing.erase(key);
      if (missing.empty() || pick(rng, 2)) missing = object{{"unrelated", 1}};
      return {"missing fields", boost::json::serialize(missing)};
    }
  }
}

// A raw HTTP request with something wrong in its head; `target` and `token` make it otherwise
// a real request.
Generated bad_request_head(Rng& rng, const std::string& target, const std::string& token) {
  const std::string auth = "Authorization: Bearer " + token + "\r\n";
  const std::string start =
      "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  const std::string body = "{}";
  switch (pick(rng, 10)) {
    case 0:
      return {"header without colon",
              start + auth + "X-Broken header\r\nContent-Length: 2\r\n\r\n" + body};
    case 1:
      return {"bad Content-Length", start + auth + "Content-Length: -1\r\n\r\n" + body};
    case 2:
      return {"bad Content-Length", start + auth + "Content-Length: two\r\n\r\n" + body};
    case 3:
      return {"two Content-Lengths",
              start + auth + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n" + body};
    case 4:
      return {"bad chunk size",
              start + auth + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"};
    case 5:
      return {"oversize header", start + auth +
                                     "X-Big: " + std::string(64 * 1024 + pick(rng, 1024), 'h') +
                                     "\r\n" + "Content-Length: 2\r\n\r\n" + body};
    case 6: {
      static const char* lines[] = {
          "GET\r\n\r\n", "FOO /api/v1/health HTTP/1.1\r\nConnection: close\r\n\r\n",
          "\x01\x02\x03\r\n\r\n",
          "GET /api/v1/users/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"};
      return {"bad request line", lines[pick(rng, std::size(lines))]};
    }
    case 7: {
      static const std::string tokens[] = {
          "Bearer", "Basic dXNlcjpwYXNz", "Bearer " + std::string(8192, 'A'), "Bearer \xff\xfe",
          "bearer", "Bearer a.b.c"};
      return {"bad Authorization", start +
                                       "Authorization: " + tokens[pick(rng, std::size(tokens))] +
                                       "\r\nContent-Length: 2\r\n\r\n" + body};
    }
    case 8:
      return {"header value with NUL", start + auth + std::string("X-Nul: a\0b\r\n", 12) +
                                           "Content-Length: 2\r\n\r\n" + body};
    default:
      return {"obsolete line folding",
              start + auth + "X-Fold: a\r\n b\r\nContent-Length: 2\r\n\r\n" + body};
  }
}

// A bad WebSocket text message for a ready connection, or a frame that must close it.
struct BadFrame {
  std::string kind;
  wire::OutFrame frame;
};

BadFrame bad_frame(Rng& rng, const std::string& conv) {
  const object send{{"type", "send"},
                    {"req", "r"},
                    {"conversation_id", conv},
                    {"text", "hello"},
                    {"client_msg_id", "sweep"}};
  const object read{{"type", "read"}, {"req", "r"}, {"conversation_id", conv}, {"seq", 1}};
  const object typing{{"type", "typing"}, {"req", "r"}, {"conversation_id", conv}};
  const object* bases[] = {&send, &read, &typing};
  const object& base = *bases[pick(rng, 3)];
  // Any JSON is a valid req, so mutations leave it out.
  object without_req = base;
  without_req.erase("req");
  switch (pick(rng, 8)) {
    case 0:  // the body generators, minus the oversize one (covered by case 1)
    case 1:
    case 2: {
      Generated g;
      do g = bad_body(rng, without_req, 1 << 20);
      while (g.kind == "oversize body" || g.kind == "missing fields" || g.body.size() > 60'000);
      // "type" with a wrong type or missing: still an error frame.
      return {"ws " + g.kind, {wire::kText, g.body}};
    }
    case 3: {
      // A field of the frame with a wrong type (type itself stays right).
      std::string key;
      do key = any_key(rng, base);
      while (key == "type" || key == "req");
      return {"ws wrong type",
              {wire::kText,
               with_raw_field(base, key, boost::json::serialize(wrong_type(rng, base.at(key))))}};
    }
    case 4:
      return {"ws unknown type", {wire::kText, R"({"type":"no-such-type","req":"r"})"}};
    case 5:
      return {"ws oversize", {wire::kText, std::string(64 * 1024 + 1 + pick(rng, 4096), ' ')}};
    case 6:
      return {"ws binary", {wire::kBinary, boost::json::serialize(base)}};
    default:
      return {"ws invalid UTF-8",
              {wire::kText, with_raw_field(base, "type", "\"send" + invalid_utf8(rng) + "\"")}};
  }
}

class MalformedInputSweep : public SharedServerTest {
 public:
  static void SetUpTestSuite() { start_shared(kGenerousSocketCaps); }
};

TEST_F(MalformedInputSweep, ThousandBadInputsAreRefusedAndTheServerKeepsServing) {
  const auto total = env_int("PARLEY_TEST_SWEEP_INPUTS", 1000);
  const auto seed = static_cast<std::uint64_t>(env_int("PARLEY_TEST_SWEEP_SEED", 13));
  constexpr std::size_t kMaxBody = 1024 * 1024;  // the server's default
  Rng rng(seed);
  auto api = this->api();

  // The healthy pair, in a DM of their own.
  auto accounts = register_accounts(port(), 3, "sweep");
  const Account &alice = accounts[0], &bob = accounts[1], &sweeper = accounts[2];
  const auto healthy_dm = make_dm(api, alice, bob.id);
  Live alice_ws(port(), alice), bob_ws(port(), bob);
  int healthy_round_trips = 0;
  auto healthy_round_trip = [&](std::int64_t at) {
    std::string req = "healthy-" + std::to_string(at);
    alice_ws.send(object{{"type", "send"},
                         {"req", req},
                         {"conversation_id", healthy_dm},
                         {"text", "still here " + std::to_string(at)},
                         {"client_msg_id", fresh_cmid()}});
    auto ack = alice_ws.answer(req, 10s);
    ASSERT_EQ(str(ack, "type"), "ack") << "after input " << at << ": " << dump(ack);
    auto id = str(*field(ack, "message"), "id");
    bob_ws.event("message.created", with_id(id), 10s);
    ++healthy_round_trips;
  };

  // The sweeper's own conversation and message, so that ids in paths name real things.
  const auto conv = make_group(api, sweeper, {alice.id});
  const auto msg = str(send_ok(api, sweeper, conv, "sweep target"), "id");
  const std::vector<BodyRoute> routes = {
      {"POST",
       "/api/v1/auth/register",
       {{"username", "sweep_new"}, {"password", "long enough pw"}},
       false},
      {"POST",
       "/api/v1/auth/login",
       {{"username", sweeper.username}, {"password", sweeper.password}},
       false},
      {"POST", "/api/v1/auth/refresh", {{"refresh_token", sweeper.refresh}}, false},
      // No hand-off cookie: even a well-formed body is refused (401).
      {"POST", "/api/v1/auth/oidc/exchange", {{"device_name", "sweep"}}, false, true},
      {"POST",
       "/api/v1/auth/password",
       {{"current_password", sweeper.password}, {"new_password", "another long password"}}},
      {"POST", "/api/v1/auth/reauth", {{"password", sweeper.password}}},
      {"POST", "/api/v1/auth/totp/enable", {{"code", "123456"}}},
      {"POST", "/api/v1/auth/totp/disable", {{"code", "123456"}}},
      {"PATCH",
       "/api/v1/users/me",
       {{"display_name", "Sweeper"}, {"status_text", "sweeping"}},
       true,
       true},
      {"PUT", "/api/v1/users/me/presence", {{"status", "away"}}},
      // Mail and SMS are not configured on this server: valid bodies get 409, bad ones 400/422.
      {"PUT", "/api/v1/users/me/email", {{"email", "sweep@example.test"}}},
      {"POST", "/api/v1/auth/email/verify", {{"token", "not-a-token"}}, false},
      {"POST", "/api/v1/auth/password/forgot", {{"email", "sweep@example.test"}}, false},
      {"POST",
       "/api/v1/auth/password/reset",
       {{"token", "not-a-token"}, {"new_password", "long enough pw"}},
       false},
      {"PUT", "/api/v1/users/me/phone", {{"phone", "+33612345678"}}},
      {"POST", "/api/v1/users/me/phone/verify", {{"code", "123456"}}},
      {"PATCH", "/api/v1/users/me/phone", {{"sms_notifications", true}}},
      // A file id that is not the sweeper's upload: every body is refused (400 or 422).
      {"PUT", "/api/v1/users/me/avatar", {{"file_id", kUnknownId}}},
      {"POST",
       "/api/v1/conversations",
       {{"type", "group"}, {"member_ids", array{value(alice.id)}}}},
      {"PATCH",
       "/api/v1/conversations/{id}",
       {{"name", "renamed"}, {"topic", "topic"}},
       true,
       true},
      {"POST", "/api/v1/conversations/{id}/members", {{"user_ids", array{value(bob.id)}}}},
      {"PATCH", "/api/v1/conversations/{id}/members/{user_id}", {{"role", "admin"}}},
      {"POST", "/api/v1/conversations/{id}/messages", {{"text", "hi"}, {"client_msg_id", "sweep"}}},
      {"PATCH", "/api/v1/messages/{id}", {{"text", "edited"}}},
      {"POST", "/api/v1/conversations/{id}/read", {{"seq", 1}}},
      {"POST", "/api/v1/conversations/{id}/unread", {{"seq", 1}}},
      {"PUT", "/api/v1/conversations/{id}/retention", {{"days", 30}}},
      {"POST", "/api/v1/bots", {{"username", "sweep_bot"}, {"display_name", "Sweep"}}},
      // The sweeper's conversation id is no bot of theirs: any body ends in 400, 422 or 404.
      {"POST", "/api/v1/bots/{id}/tokens", {{"scopes", array{"messages:read"}}}, true, true},
      {"POST", "/api/v1/conversations/{id}/webhooks", {{"name", "sweep"}}},
      {"POST",
       "/api/v1/conversations/{id}/outgoing-webhooks",
       {{"url", "https://example.com/hook"}, {"events", array{"message.created"}}}},
      {"POST", "/api/v1/commands", {{"trigger", "sweep"}, {"url", "https://example.com/cmd"}}},
      // No such hook: 404 whatever the body (the secret is checked before the payload).
      {"POST", "/api/v1/webhooks/{id}/{secret}", {{"text", "hi"}}, false},
      {"POST", "/api/v1/messages/{id}/translate", {{"to", "es"}}, true, true},
      {"POST", "/api/v1/ai/detect-language", {{"text", "hello there"}}},
      {"POST", "/api/v1/ai/sentiment", {{"text", "hello there"}}},
      {"PUT", "/api/v1/conversations/{id}/auto-translate", {{"enabled", true}}},
      {"PATCH",
       "/api/v1/users/me/notification-settings",
       {{"push", "all"}, {"email_delay_minutes", 5}, {"keywords", array{value("sweep")}}},
       true,
       true},
      {"PUT",
       "/api/v1/conversations/{id}/notification-settings",
       {{"level", "mentions"}},
       true,
       true},
      {"POST",
       "/api/v1/push/subscriptions",
       {{"endpoint", "https://push.example.com/sweep"},
        {"keys", object{{"p256dh", "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"},
                        {"auth", "BTBZMqHH6r4Tts7J_aSIgg"}}}}},
      {"PATCH", "/api/v1/push/subscriptions/{id}", {{"enabled", false}}},
  };

  // Coverage: every route that may carry a body is swept or known to read none.
  const auto table = parley_route_table();
  std::set<std::string> swept;
  for (const auto& r : routes) {
    swept.insert(r.method + " " + r.pattern);
    EXPECT_TRUE(table.count(r.method + " " + r.pattern)) << "no such route: " << r.pattern;
  }
  for (const auto& key : table) {
    bool has_body =
        key.rfind("POST ", 0) == 0 || key.rfind("PUT ", 0) == 0 || key.rfind("PATCH ", 0) == 0;
    if (has_body) {
      // The sweeper is no system admin: /api/v1/admin/ routes refuse it (403) before reading a
      // body; admin_test.cc sends them malformed and invalid bodies as an admin.
      const bool admin_only = key.find(" /api/v1/admin/") != std::string::npos;
      EXPECT_TRUE(swept.count(key) || kBodyless.count(key) || admin_only)
          << key << " reads a body but the sweep does not cover it";
    }
  }
  auto path_of = [&](const std::string& pattern) {
    std::string p = pattern;
    auto put = [&](const std::string& name, const std::string& v) {
      auto at = p.find(name);
      if (at != std::string::npos) p.replace(at, name.size(), v);
    };
    put("{id}", pattern.rfind("/api/v1/messages/", 0) == 0 ? msg : conv);
    put("{user_id}", alice.id);
    return p;
  };

  std::map<std::string, int> by_kind;
  std::map<int, int> by_status;
  int http_inputs = 0, ws_inputs = 0, closes = 0;
  std::unique_ptr<wire::WireSocket> ws;
  auto open_ws = [&] {
    std::string error;
    ws = wire::WireSocket::connect(port(), 5s, &error);
    ASSERT_TRUE(ws) << error;
    ASSERT_EQ(ws->handshake(5s), "");
    ws->send_text(boost::json::serialize(object{{"type", "hello"}, {"token", sweeper.access}}));
    auto ready = ws->read_frame(5s);
    ASSERT_TRUE(ready && ready->payload.find("\"ready\"") != std::string::npos);
  };
  open_ws();
  if (HasFatalFailure()) return;
  net::HttpClient raw_http("127.0.0.1", port(), 5s);

  const std::size_t log_start = server().logs().size();
  const auto started = Clock::now();
  for (std::int64_t i = 0; i < total; ++i) {
    const auto roll = pick(rng, 100);
    if (roll < 35) {  // a WebSocket frame
      ++ws_inputs;
      auto bf = bad_frame(rng, conv);
      ++by_kind[bf.kind];
      const std::string sync = "sync-" + std::to_string(i);
      ws->write(bf.frame);
      ws->send_text(R"({"type":"ping","req":")" + sync + "\"}");
      // An error frame or a close must come before the pong of the ping behind it.
      bool refused = false;
      for (;;) {
        auto f = ws->read_frame(10s);
        ASSERT_TRUE(f) << "input " << i << " (" << bf.kind << "): no answer; "
                       << (ws->violation().empty() ? "" : ws->violation());
        if (f->opcode == wire::kClose) {
          auto code = wire::parse_close(f->payload).code.value_or(0);
          EXPECT_TRUE(code == 1002 || code == 1003 || code == 1007 || code == 1008 ||
                      code == 1009 || (code >= 4000 && code < 5000))
              << "input " << i << " (" << bf.kind << "): close code " << code;
          ++closes;
          refused = true;
          ws->write({wire::kClose, wire::close_payload(code)});
          EXPECT_TRUE(ws->wait_eof(5s)) << "input " << i << ": TCP open after the close";
          open_ws();
          if (HasFatalFailure()) return;
          break;
        }
        if (f->opcode != wire::kText) continue;
        boost::system::error_code ec;
        auto v = boost::json::parse(f->payload, ec);
        ASSERT_FALSE(ec) << "a text frame that is not JSON: " << f->payload.substr(0, 200);
        auto type = str(v, "type");
        if (type == "error") {
          EXPECT_FALSE(str(*field(v, "error"), "code").empty()) << f->payload;
          EXPECT_NE(str(*field(v, "error"), "code"), "internal")
              << "input " << i << ": " << f->payload;
          refused = true;
          continue;  // its pong follows
        }
        if (type == "pong" && str(v, "req") == sync) break;
        ADD_FAILURE() << "input " << i << " (" << bf.kind << ") was answered with "
                      << f->payload.substr(0, 300);
      }
      EXPECT_TRUE(refused) << "input " << i << " (" << bf.kind
                           << ") was accepted silently: " << bf.frame.payload.substr(0, 200);
    } else if (roll < 45) {  // a bad request head
      ++http_inputs;
      const auto& route = routes[pick(rng, routes.size())];
      auto g = bad_request_head(rng, path_of(route.pattern), sweeper.access);
      ++by_kind[g.kind];
      auto got = raw_http.raw_exchange(g.body);
      ASSERT_TRUE(got) << "input " << i << " (" << g.kind << "): " << got.error().message;
      int status = 0;
      if (got->rfind("HTTP/1.1 ", 0) == 0) status = std::atoi(got->c_str() + 9);
      ++by_status[status];
      // RFC 9112 §5.2 lets a server replace an obs-fold with a space instead of refusing it:
      // then the request is an ordinary one with body {}, which some routes accept (translate
      // into the caller's language). Every other bad head must be refused with the envelope.
      const bool fold_accepted =
          g.kind == "obsolete line folding" && status >= 200 && status < 300;
      EXPECT_TRUE((status >= 400 && status < 500) || fold_accepted)
          << "input " << i << " (" << g.kind << "): " << got->substr(0, 300);
      auto body_at = got->find("\r\n\r\n");
      auto body = body_at == std::string::npos ? std::string() : got->substr(body_at + 4);
      if (!fold_accepted)
        EXPECT_NE(body.find("\"error\""), std::string::npos)
            << "input " << i << " (" << g.kind << "): no error envelope: " << got->substr(0, 300);
    } else {  // a bad body
      ++http_inputs;
      const auto& route = routes[pick(rng, routes.size())];
      auto g = bad_body(rng, route.valid, kMaxBody, !route.all_optional);
      ++by_kind[g.kind];
      auto r = api.call(route.method, path_of(route.pattern), g.body,
                        route.authed ? std::string_view(sweeper.access) : std::string_view(),
                        {{"Content-Type", "application/json"}});
      ++by_status[r.status];
      EXPECT_TRUE(r.status >= 400 && r.status < 500)
          << "input " << i << " (" << g.kind << ") to " << route.method << " " << route.pattern
          << ": " << r << "\nbody: " << g.body.substr(0, 300);
      EXPECT_FALSE(r.error_code().empty())
          << "input " << i << " (" << g.kind << "): no error envelope: " << r;
    }
    if ((i + 1) % 10 == 0) {
      healthy_round_trip(i);
      if (HasFatalFailure()) return;
    }
    ASSERT_FALSE(server().wait_exit(0ms).has_value())
        << "the server died at input " << i << "; output:\n"
        << server().logs();
  }
  const double secs = std::chrono::duration<double>(Clock::now() - started).count();

  EXPECT_EQ(api.get("/api/v1/health").status, 200);
  // Bad input is the client's fault: nothing of it is logged at error level (text log lines
  // are "<time> <level> <message>").
  std::istringstream log(server().logs().substr(log_start));
  int error_lines = 0, info_lines = 0;
  for (std::string line; std::getline(log, line);) {
    auto level = line.substr(line.find(' ') + 1, 9);
    info_lines += level.rfind("info ", 0) == 0;
    if (level.rfind("error ", 0) == 0 || level.rfind("critical ", 0) == 0) {
      if (++error_lines <= 3) ADD_FAILURE() << "logged at error level: " << line.substr(0, 300);
    }
  }
  EXPECT_EQ(error_lines, 0);
  EXPECT_GT(info_lines, 0) << "no access log lines read: has the log format changed?";
  // Every healthy message arrived, in order, and the history has them all.
  EXPECT_EQ(static_cast<int>(all_messages(api, alice, healthy_dm).size()), healthy_round_trips);
  EXPECT_EQ(healthy_round_trips, total / 10);

  std::cout << "malformed input sweep: " << total << " inputs (seed " << seed
            << "): " << http_inputs << " HTTP, " << ws_inputs << " WebSocket (" << closes
            << " closed the socket), in " << secs << " s; " << healthy_round_trips
            << " healthy round trips alongside\n  statuses:";
  for (auto& [s, n] : by_status) std::cout << " " << s << "=" << n;
  std::cout << "\n  kinds:";
  for (auto& [k, n] : by_kind) std::cout << " [" << k << "]=" << n;
  std::cout << "\n";
}

}  // namespace
}  // namespace parley::itest
