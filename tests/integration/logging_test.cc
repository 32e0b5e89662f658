// Logs with --log-format json: every line is an ECS-style JSON object, nothing secret is ever
// written (passwords, tokens, TOTP secrets and codes, message text, signed links, file bytes),
// and the trace id ties a client's error answer (its "request_id") and its traceparent to the
// access line of that request.
#include <sstream>

#include "chat_support.h"
#include "file_support.h"
#include "harness.h"

namespace parley::itest {
namespace {

using namespace chat;
using namespace files;
using boost::json::object;

std::vector<object> json_lines(const std::string& logs) {
  std::vector<object> out;
  std::istringstream in(logs);
  std::string line;
  while (std::getline(in, line)) {
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    EXPECT_FALSE(ec) << "not JSON: " << line;
    if (ec) continue;
    EXPECT_TRUE(v.is_object()) << line;
    if (!v.is_object()) continue;
    const auto& o = v.as_object();
    EXPECT_TRUE(o.contains("@timestamp") && o.contains("log.level") && o.contains("message"))
        << line;
    out.push_back(o);
  }
  return out;
}

// The access line of the request with this trace id, or nullptr.
const object* access_line(const std::vector<object>& lines, const std::string& trace_id) {
  for (const auto& o : lines)
    if (str(o, "message") == "http" && str(o, "trace.id") == trace_id) return &o;
  return nullptr;
}

TEST(Logging, JsonLogsCarryTraceIdsAndNoSecrets) {
  ServerProcess server({"--log-format", "json", "--log-level", "debug"});
  ASSERT_EQ(server.start(), "");
  Api api(server.port());

  std::vector<std::string> secrets;
  auto a = register_account(api, "logs");
  auto b = register_account(api, "logsb");
  secrets.insert(secrets.end(), {a.password, b.password, a.access, a.refresh, b.access, b.refresh});

  // TOTP: the secret, the codes and the recovery codes.
  auto s = api.post("/api/v1/auth/totp/setup", std::string_view(), a.access);
  ASSERT_EQ(s.status, 200) << s;
  const std::string secret = s.str("secret");
  secrets.push_back(secret);
  Authenticator app(secret);
  const std::string enable_code = app.next_code();
  secrets.push_back(enable_code);
  auto enable = api.post("/api/v1/auth/totp/enable", object{{"code", enable_code}}, a.access);
  ASSERT_EQ(enable.status, 200) << enable;
  for (const auto& c : enable.obj().at("recovery_codes").as_array())
    secrets.emplace_back(c.as_string());
  const std::string login_code = app.next_code();
  secrets.push_back(login_code);
  auto login = api.post(
      "/api/v1/auth/login",
      object{{"username", a.username}, {"password", a.password}, {"totp_code", login_code}});
  ASSERT_EQ(login.status, 200) << login;
  secrets.push_back(login.str("access_token"));
  secrets.push_back(login.str("refresh_token"));

  auto refreshed = api.post("/api/v1/auth/refresh", object{{"refresh_token", b.refresh}});
  ASSERT_EQ(refreshed.status, 200) << refreshed;
  const std::string b_access = refreshed.str("access_token");
  secrets.push_back(b_access);
  secrets.push_back(refreshed.str("refresh_token"));
  b.access = b_access;

  // Messages over HTTP and WebSocket.
  const std::string http_text = "zebra-quartz-http-7f3a91";
  const std::string ws_text = "zebra-quartz-ws-c04e62";
  secrets.insert(secrets.end(), {http_text, ws_text});
  auto conv = make_group(api, b, {a.id});
  send_ok(api, b, conv, http_text);
  {
    Live live(server.port(), b);
    live.send(object{{"type", "send"},
                     {"req", "s1"},
                     {"conversation_id", conv},
                     {"client_msg_id", fresh_cmid()},
                     {"text", ws_text}});
    live.reply("ack", "s1");
  }

  // A file, its signed link, and a download through it.
  const std::string bytes = "file-bytes-" + sha256_hex("logging test") + "-end";
  secrets.push_back(bytes);
  auto file = upload(api, b, bytes, "notes.txt", "text/plain");
  auto link = download(api, b, str(file, "id"), {}, "/link");
  ASSERT_EQ(link.status, 200) << link;
  const std::string url = str(link.json, "url");
  auto sig_at = url.find("sig=");
  ASSERT_NE(sig_at, std::string::npos) << url;
  std::string sig = url.substr(sig_at + 4);
  sig = sig.substr(0, sig.find('&'));
  ASSERT_GE(sig.size(), 16u) << url;
  secrets.push_back(sig);
  auto by_link = Api(server.port()).get(url);
  ASSERT_EQ(by_link.status, 200) << by_link;
  EXPECT_EQ(by_link.body, bytes);

  // A failed login: its error answer names the request, and the trace id is in the log.
  auto wrong = api.post("/api/v1/auth/login",
                        object{{"username", b.username}, {"password", "wrong-Pa55word-9d1b"}});
  secrets.push_back("wrong-Pa55word-9d1b");
  ASSERT_EQ(wrong.status, 401) << wrong;
  const auto* err = wrong.obj().at("error").as_object().if_contains("request_id");
  ASSERT_TRUE(err && err->is_string()) << wrong;
  const std::string wrong_id(err->as_string());
  EXPECT_EQ(wrong_id.size(), 32u) << wrong;
  EXPECT_EQ(wrong.header("X-Request-Id"), wrong_id);

  // A continued trace: the answer's traceparent keeps the trace id and flags, with the
  // server's own span id; a malformed one starts a new trace rather than failing.
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  auto traced = api.call("GET", "/api/v1/health", {}, {},
                         {{"traceparent", "00-" + trace_id + "-00f067aa0ba902b7-01"}});
  ASSERT_EQ(traced.status, 200) << traced;
  const std::string tp = traced.header("traceparent");
  ASSERT_EQ(tp.size(), 55u) << tp;
  EXPECT_EQ(tp.substr(0, 36), "00-" + trace_id + "-") << tp;
  EXPECT_NE(tp.substr(36, 16), "00f067aa0ba902b7") << tp;
  EXPECT_EQ(tp.substr(52), "-01") << tp;
  auto malformed =
      api.call("GET", "/api/v1/health", {}, {},
               {{"traceparent", "00-" + std::string(32, '0') + "-00f067aa0ba902b7-01"}});
  EXPECT_EQ(malformed.status, 200) << malformed;
  EXPECT_EQ(malformed.header("traceparent").size(), 55u);
  EXPECT_NE(malformed.header("traceparent").substr(3, 32), std::string(32, '0'));
  auto unknown = api.get("/api/v1/no/such/route");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.obj().at("error").as_object().at("request_id").as_string(),
            unknown.header("traceparent").substr(3, 32))
      << unknown;

  ASSERT_TRUE(server.wait_for_log("\"trace.id\":\"" + trace_id + "\"", 5s)) << server.logs();
  server.stop();
  const std::string logs = server.logs();
  for (const auto& secret_text : secrets) {
    ASSERT_FALSE(secret_text.empty());
    EXPECT_EQ(logs.find(secret_text), std::string::npos)
        << "the log holds a secret: " << secret_text;
    // A JWT's signature alone (after the last dot) is as secret as the whole token.
    auto dot = secret_text.rfind('.');
    if (dot != std::string::npos && secret_text.size() - dot > 16)
      EXPECT_EQ(logs.find(secret_text.substr(dot + 1)), std::string::npos)
          << "the log holds a token's signature: " << secret_text;
  }

  auto lines = json_lines(logs);
  const object* wrong_line = access_line(lines, wrong_id);
  ASSERT_TRUE(wrong_line) << "no access line with trace.id " << wrong_id << "\n" << logs;
  EXPECT_EQ(str(*wrong_line, "url.path"), "/api/v1/auth/login");
  EXPECT_EQ(str(*wrong_line, "http.request.method"), "POST");
  EXPECT_EQ(wrong_line->at("http.response.status_code"), 401);
  EXPECT_EQ(str(*wrong_line, "client.ip"), "127.0.0.1");
  EXPECT_TRUE(wrong_line->at("event.duration").is_int64());
  const std::string ts = str(*wrong_line, "@timestamp");
  EXPECT_EQ(ts.size(), 24u) << ts;  // 2026-12-06T08:53:00.123Z
  EXPECT_EQ(ts.back(), 'Z') << ts;
  const object* traced_line = access_line(lines, trace_id);
  ASSERT_TRUE(traced_line) << "the continued trace is not in the log";
  EXPECT_EQ(str(*traced_line, "span.id"), tp.substr(36, 16)) << dump(*traced_line);
  // The link's access line names the route, not the target with its signature.
  int access_lines = 0;
  for (const auto& o : lines)
    if (str(o, "message") == "http") {
      ++access_lines;
      EXPECT_EQ(str(o, "url.path").find('?'), std::string::npos) << dump(o);
    }
  EXPECT_GE(access_lines, 15) << "the log misses requests:\n" << logs;
}

// Behind a trusted proxy the access line names the client the proxy saw, not the proxy.
TEST(Logging, ClientIpIsTheRealClientBehindTrustedProxies) {
  ServerProcess server({"--log-format", "json", "--trusted-proxies", "127.0.0.1"});
  ASSERT_EQ(server.start(), "");
  Api api(server.port());
  auto r = api.call("GET", "/api/v1/health", {}, {}, {{"X-Forwarded-For", "198.51.100.7"}});
  ASSERT_EQ(r.status, 200) << r;
  const std::string trace_id = r.header("X-Request-Id");
  ASSERT_EQ(trace_id.size(), 32u) << r;
  EXPECT_EQ(r.header("traceparent").substr(3, 32), trace_id);
  ASSERT_TRUE(server.wait_for_log("\"trace.id\":\"" + trace_id + "\"", 5s)) << server.logs();
  server.stop();
  auto lines = json_lines(server.logs());
  const object* line = access_line(lines, trace_id);
  ASSERT_TRUE(line) << server.logs();
  EXPECT_EQ(str(*line, "client.ip"), "198.51.100.7") << dump(*line);
}

}  // namespace
}  // namespace parley::itest
