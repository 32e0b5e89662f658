// Notifications end to end: the real server, a push receiver on loopback (the test's own HTTP
// server standing in for a push service), subscriptions with key pairs made here, and payloads
// decrypted here with an RFC 8291 implementation of the test's own (OpenSSL's HKDF, not the
// server's code).
//
// "No push" is observed with a barrier, never a sleep: the server runs one job worker, which
// takes due jobs oldest first, so once a later message's push has arrived, every push an earlier
// message could have caused would have arrived before it.
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <signal.h>

#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <sstream>

#include "chat_support.h"
#include "harness.h"
#include "test_server.h"

namespace parley::itest {
namespace {

using namespace chat;
using boost::json::object;
using curl::testing::TestHttpServer;
using curl::testing::TestRequest;

std::string b64url(std::string_view raw) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t buf = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    buf = (buf << 8) | c;
    bits += 8;
    while (bits >= 6) {
      out += a[(buf >> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  if (bits) out += a[(buf << (6 - bits)) & 63];
  return out;
}
std::string unb64url(std::string_view s) {
  std::string out;
  std::uint32_t buf = 0;
  int bits = 0;
  for (char c : s) {
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '-'             ? 62
            : c == '_'             ? 63
                                   : -1;
    if (v < 0) continue;
    buf = (buf << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      out += static_cast<char>((buf >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return out;
}

// A browser's side of a subscription: a P-256 key pair and an auth secret.
struct Browser {
  EVP_PKEY* key = nullptr;
  std::string public_raw;
  std::string auth;
  Browser() {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    unsigned char buf[65];
    size_t len = 0;
    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf, &len);
    public_raw.assign(reinterpret_cast<char*>(buf), len);
    auth.resize(16);
    for (auto& c : auth) c = static_cast<char>(std::rand());
  }
  ~Browser() { EVP_PKEY_free(key); }

  static std::string hkdf(const std::string& salt, const std::string& ikm, const std::string& info,
                          size_t n) {
    EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()),
                                          salt.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()),
                                          ikm.size()),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                          info.size()),
        OSSL_PARAM_construct_end()};
    std::string out(n, '\0');
    int rc = EVP_KDF_derive(ctx, reinterpret_cast<unsigned char*>(out.data()), n, params);
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    if (rc != 1) throw std::runtime_error("HKDF failed");
    return out;
  }

  // RFC 8291 section 3 and RFC 8188, receiving side.
  std::string decrypt(const std::string& body) const {
    if (body.size() < 21) throw std::runtime_error("short body");
    std::string salt = body.substr(0, 16);
    std::uint32_t rs = (std::uint32_t(static_cast<unsigned char>(body[16])) << 24) |
                       (std::uint32_t(static_cast<unsigned char>(body[17])) << 16) |
                       (std::uint32_t(static_cast<unsigned char>(body[18])) << 8) |
                       static_cast<unsigned char>(body[19]);
    if (rs < 18) throw std::runtime_error("bad record size");
    size_t idlen = static_cast<unsigned char>(body[20]);
    std::string as_public = body.substr(21, idlen);
    std::string record = body.substr(21 + idlen);
    // The sender's key as an EVP_PKEY.
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, as_public.data(),
                                     as_public.size());
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX* fctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
    EVP_PKEY* peer = nullptr;
    EVP_PKEY_fromdata_init(fctx);
    EVP_PKEY_fromdata(fctx, &peer, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(fctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    if (!peer) throw std::runtime_error("bad sender key");
    EVP_PKEY_CTX* dctx = EVP_PKEY_CTX_new(key, nullptr);
    EVP_PKEY_derive_init(dctx);
    EVP_PKEY_derive_set_peer(dctx, peer);
    size_t len = 32;
    std::string ecdh(32, '\0');
    EVP_PKEY_derive(dctx, reinterpret_cast<unsigned char*>(ecdh.data()), &len);
    EVP_PKEY_CTX_free(dctx);
    EVP_PKEY_free(peer);
    std::string ikm =
        hkdf(auth, ecdh, std::string("WebPush: info") + '\0' + public_raw + as_public, 32);
    std::string cek = hkdf(salt, ikm, std::string("Content-Encoding: aes128gcm") + '\0', 16);
    std::string nonce = hkdf(salt, ikm, std::string("Content-Encoding: nonce") + '\0', 12);
    if (record.size() < 17) throw std::runtime_error("short record");
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    std::string plain(record.size() - 16, '\0');
    int n = 0, fin = 0;
    EVP_DecryptInit_ex(c, EVP_aes_128_gcm(), nullptr,
                       reinterpret_cast<const unsigned char*>(cek.data()),
                       reinterpret_cast<const unsigned char*>(nonce.data()));
    EVP_DecryptUpdate(c, reinterpret_cast<unsigned char*>(plain.data()), &n,
                      reinterpret_cast<const unsigned char*>(record.data()),
                      static_cast<int>(record.size() - 16));
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, record.data() + record.size() - 16);
    int ok = EVP_DecryptFinal_ex(c, reinterpret_cast<unsigned char*>(plain.data()) + n, &fin);
    EVP_CIPHER_CTX_free(c);
    if (ok != 1) throw std::runtime_error("payload does not decrypt");
    plain.resize(n + fin);
    while (!plain.empty() && plain.back() == '\0') plain.pop_back();
    if (plain.empty() || plain.back() != '\x02') throw std::runtime_error("no delimiter");
    plain.pop_back();
    return plain;
  }
};

// The push service stand-in: records every push, answers with status_for(path).
class PushReceiver {
 public:
  PushReceiver()
      : server_([this](const TestRequest& r) {
          int st = status_.load();
          return curl::testing::http_response(st, "text/plain", "");
        }) {}
  std::string endpoint(const std::string& name) const {
    return "http://127.0.0.1:" + std::to_string(server_.port()) + "/push/" + name;
  }
  void answer(int status) { status_ = status; }
  int port() const { return server_.port(); }
  std::vector<TestRequest> pushes() const { return server_.requests(); }
  // Pushes to name's endpoint, decrypted by browser (only those answered while the status was
  // 2xx count as delivered; the test decides).
  std::vector<object> payloads(const std::string& name, const Browser& b) const {
    std::vector<object> out;
    for (const auto& r : server_.requests())
      if (r.target == "/push/" + name)
        out.push_back(boost::json::parse(b.decrypt(r.body)).as_object());
    return out;
  }
  // Waits (20 s) until name's endpoint got n pushes.
  bool wait_for(const std::string& name, std::size_t n) const {
    auto until = Clock::now() + 20s;
    while (Clock::now() < until) {
      std::size_t got = 0;
      for (const auto& r : server_.requests())
        if (r.target == "/push/" + name) ++got;
      if (got >= n) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

 private:
  std::atomic<int> status_{201};
  TestHttpServer server_;
};

std::string json_text(const object& o) { return boost::json::serialize(o); }

// PARLEY_TEST_NOTIFY_DATABASE=postgres://... runs these tests on PostgreSQL instead of SQLite
// (the outbox rows then go into the PostgreSQL append batches); not set by `make test`.
std::vector<std::string> server_args(std::vector<std::string> more = {}) {
  std::vector<std::string> a = {"--outbound-allow", "127.0.0.0/8",  "--job-workers", "1",
                                "--rate-limits",    kGenerousLimits};
  if (const char* db = std::getenv("PARLEY_TEST_NOTIFY_DATABASE"); db && *db) {
    a.push_back("--database");
    a.push_back(db);
  }
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

std::string subscribe(Api& api, const Account& who, const std::string& endpoint, const Browser& b) {
  auto r =
      api.post("/api/v1/push/subscriptions",
               object{{"endpoint", endpoint},
                      {"keys", object{{"p256dh", b64url(b.public_raw)}, {"auth", b64url(b.auth)}}},
                      {"device_name", "test browser"}},
               who.access);
  if (r.status != 201) fail_reply("subscribe", r);
  return r.str("id");
}

class Notifications : public ::testing::Test {
 protected:
  void start(std::vector<std::string> more = {}) {
    server = std::make_unique<ServerProcess>(server_args(std::move(more)));
    auto err = server->start();
    ASSERT_EQ(err, "");
    api = std::make_unique<Api>(server->port());
  }
  std::unique_ptr<ServerProcess> server;
  std::unique_ptr<Api> api;
  PushReceiver push;
};

TEST_F(Notifications, MentionOfAnOfflineUserGivesExactlyOnePushThatDecrypts) {
  start();
  auto alice = register_account(*api, "alice");
  auto bob = register_account(*api, "bob");
  Browser phone;
  subscribe(*api, bob, push.endpoint("bob"), phone);
  auto channel = make_channel(*api, alice, channel_name(), "public");
  join(*api, bob, channel);
  send_ok(*api, alice, channel, "no mention here, just chatter");  // level mentions: no push
  auto m = send_ok(*api, alice, channel, "hello @" + bob.username + " ready?");
  ASSERT_TRUE(push.wait_for("bob", 1));
  // The barrier: a DM, pushed after whatever the channel messages caused.
  auto dm = make_dm(*api, alice, bob.id);
  auto d = send_ok(*api, alice, dm, "ping");
  ASSERT_TRUE(push.wait_for("bob", 2));
  auto got = push.payloads("bob", phone);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(str(got[0], "message_id"), str(m, "id"));
  EXPECT_EQ(str(got[0], "conversation_id"), channel);
  EXPECT_NE(str(got[0], "title").find("alice"), std::string::npos) << dump(got[0]);
  EXPECT_EQ(str(got[0], "body"), "hello @" + bob.username + " ready?");
  EXPECT_EQ(got[0].size(), 4u) << "only conversation_id, message_id, title, body: " << dump(got[0]);
  EXPECT_EQ(str(got[1], "message_id"), str(d, "id"));
  // In /metrics: at least the three fan-out jobs and two pushes ran (a webhook.message job per
  // message may too), none died, and nothing is left waiting.
  auto metric = [&](const char* series) { return metric_value(*api, series).value_or(-1); };
  auto settled = [&] {
    return metric("parley_jobs_total{outcome=\"succeeded\"}") >= 5 &&
           metric("parley_job_backlog{state=\"waiting\"}") == 0 &&
           metric("parley_job_backlog{state=\"running\"}") == 0;
  };
  for (auto until = std::chrono::steady_clock::now() + 5s;
       !settled() && std::chrono::steady_clock::now() < until;)
    std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(settled()) << "succeeded " << metric("parley_jobs_total{outcome=\"succeeded\"}");
  EXPECT_EQ(metric("parley_jobs_total{outcome=\"dead\"}"), 0.0);
  EXPECT_EQ(metric("parley_job_oldest_waiting_seconds"), 0.0);

  // What a push service checks: the coding, a TTL, and a VAPID header with the server's key.
  auto req = push.pushes()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.header("content-encoding"), "aes128gcm");
  EXPECT_FALSE(req.header("ttl").empty());
  auto key = api->get("/api/v1/push/vapid-key", bob.access);
  ASSERT_EQ(key.status, 200);
  EXPECT_EQ(unb64url(key.str("public_key")).size(), 65u);
  auto authz = req.header("authorization");
  EXPECT_EQ(authz.rfind("vapid t=", 0), 0u) << authz;
  EXPECT_NE(authz.find(", k=" + key.str("public_key")), std::string::npos) << authz;
  // The JWT's claims: the push service's origin, an expiry, a contact.
  auto jwt = authz.substr(8, authz.find(',') - 8);
  auto claims = boost::json::parse(
      unb64url(jwt.substr(jwt.find('.') + 1, jwt.rfind('.') - jwt.find('.') - 1)));
  EXPECT_EQ(str(claims, "aud"), "http://127.0.0.1:" + std::to_string(push.port()));
  EXPECT_GT(num(claims, "exp"), static_cast<std::int64_t>(std::time(nullptr)));
  EXPECT_EQ(str(claims, "sub"), "mailto:parley@localhost");
}

// A channel message that mentions nobody at large is weighed only for members whose settings
// ask for more than mentions (level "all", a keyword, an "all" override) and those it mentions;
// the rest of the channel is not read member by member, and gets nothing.
TEST_F(Notifications, ChannelMessagesReachThoseWhoAskForMoreAndThoseMentioned) {
  start();
  auto alice = register_account(*api, "alice");
  std::map<std::string, Account> who;
  std::map<std::string, Browser> phones;
  for (const char* name : {"bob", "carol", "dave", "erin", "frank"}) {
    who[name] = register_account(*api, name);
    subscribe(*api, who[name], push.endpoint(name), phones[name]);
  }
  auto channel = make_channel(*api, alice, channel_name(), "public");
  for (auto& [name, account] : who) join(*api, account, channel);
  auto settings = [&](const std::string& name, const object& body) {
    auto r = api->patch("/api/v1/users/me/notification-settings", body, who[name].access);
    ASSERT_EQ(r.status, 200) << r;
  };
  settings("bob", object{{"push", "all"}});
  settings("carol", object{{"keywords", boost::json::array{"deploy"}}});
  settings("erin", object{{"push_previews", false}});  // saved, at the default level
  auto r = api->call("PUT", conv_path(channel) + "/notification-settings",
                     json_text(object{{"level", "all"}}), who["dave"].access);
  ASSERT_EQ(r.status, 200) << r;

  auto chatter = send_ok(*api, alice, channel, "lunch at noon?");
  auto deploy = send_ok(*api, alice, channel, "Deploy starts now");
  auto mention = send_ok(*api, alice, channel, "@" + who["frank"].username + " can you look?");
  // One worker runs the jobs in order: erin's DM push comes after everything above.
  auto barrier = send_ok(*api, alice, make_dm(*api, alice, who["erin"].id), "barrier");
  ASSERT_TRUE(push.wait_for("erin", 1));
  auto ids = [&](const std::string& name) {
    std::vector<std::string> out;
    for (const auto& p : push.payloads(name, phones[name])) out.push_back(str(p, "message_id"));
    std::sort(out.begin(), out.end());
    return out;
  };
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  const std::string c = str(chatter, "id"), d = str(deploy, "id"), m = str(mention, "id");
  EXPECT_EQ(ids("bob"), sorted({c, d, m})) << "level all";
  EXPECT_EQ(ids("carol"), sorted({d})) << "the keyword, in any case";
  EXPECT_EQ(ids("dave"), sorted({c, d, m})) << "the conversation's all override";
  EXPECT_EQ(ids("frank"), sorted({m})) << "mentioned";
  EXPECT_EQ(ids("erin"), sorted({str(barrier, "id")})) << "default level: only the DM";
}

TEST_F(Notifications, NoPushWhenTheUserReadTheMessageOnAnotherDeviceFirst) {
  start({"--push-delay-ms", "3000"});
  auto alice = register_account(*api, "alice");
  auto bob = register_account(*api, "bob");
  Browser phone;
  subscribe(*api, bob, push.endpoint("bob"), phone);
  auto dm = make_dm(*api, alice, bob.id);
  auto m = send_ok(*api, alice, dm, "are you at your desk?");
  // Bob reads it on his desktop before the push is due.
  ASSERT_EQ(api->post(conv_path(dm) + "/read", object{{"seq", num(m, "seq")}}, bob.access).status,
            200);
  auto later = send_ok(*api, alice, dm, "second message, unread");
  ASSERT_TRUE(push.wait_for("bob", 1));
  auto got = push.payloads("bob", phone);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(str(got[0], "message_id"), str(later, "id")) << "the read one was not pushed";
}

TEST_F(Notifications, MutedConversationsAndQuietHoursGiveNone) {
  start();
  auto alice = register_account(*api, "alice");
  auto bob = register_account(*api, "bob");
  Browser phone;
  subscribe(*api, bob, push.endpoint("bob"), phone);
  auto muted = make_group(*api, alice, {bob.id}, "muted group");
  auto open = make_dm(*api, alice, bob.id);
  auto r = api->call("PUT", conv_path(muted) + "/notification-settings",
                     json_text(object{{"level", "all"}, {"muted_until", 4'102'444'800'000}}),
                     bob.access);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(num(r.json, "muted_until"), 4'102'444'800'000);
  send_ok(*api, alice, muted, "@" + bob.username + " muted, so silent");
  auto barrier = send_ok(*api, alice, open, "barrier one");
  ASSERT_TRUE(push.wait_for("bob", 1));
  auto got = push.payloads("bob", phone);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(str(got[0], "message_id"), str(barrier, "id"));

  // Quiet hours around the current UTC time.
  std::time_t t = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&t, &utc);
  int now_min = utc.tm_hour * 60 + utc.tm_min;
  auto hhmm = [](int m) {
    m = (m % 1440 + 1440) % 1440;
    char buf[6];
    std::snprintf(buf, sizeof buf, "%02d:%02d", m / 60, m % 60);
    return std::string(buf);
  };
  r = api->patch(
      "/api/v1/users/me/notification-settings",
      object{{"quiet_hours",
              object{{"start", hhmm(now_min - 60)}, {"end", hhmm(now_min + 60)}, {"tz", "UTC"}}}},
      bob.access);
  ASSERT_EQ(r.status, 200) << r;
  send_ok(*api, alice, open, "quiet hours, so silent");
  // The decision is taken when the message's job runs, after the send returns. With one worker,
  // Carol's push for a later message means the quiet message's job has run; only then may the
  // quiet hours end (ending them first would, rightly, let the push through).
  auto carol = register_account(*api, "carol");
  Browser carols_phone;
  subscribe(*api, carol, push.endpoint("carol"), carols_phone);
  send_ok(*api, alice, make_dm(*api, alice, carol.id), "barrier for carol");
  ASSERT_TRUE(push.wait_for("carol", 1));
  EXPECT_EQ(push.payloads("bob", phone).size(), 1u) << "nothing pushed in quiet hours";
  r = api->patch("/api/v1/users/me/notification-settings", object{{"quiet_hours", nullptr}},
                 bob.access);
  ASSERT_EQ(r.status, 200) << r;
  auto barrier2 = send_ok(*api, alice, open, "barrier two");
  ASSERT_TRUE(push.wait_for("bob", 2));
  got = push.payloads("bob", phone);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(str(got[1], "message_id"), str(barrier2, "id"));
}

TEST_F(Notifications, TheOutboxSurvivesSigkillBetweenCommitAndDelivery) {
  start({"--push-delay-ms", "1500"});
  auto alice = register_account(*api, "alice");
  auto bob = register_account(*api, "bob");
  Browser phone;
  subscribe(*api, bob, push.endpoint("bob"), phone);
  auto key_before = api->get("/api/v1/push/vapid-key", bob.access).str("public_key");
  auto dm = make_dm(*api, alice, bob.id);
  auto m = send_ok(*api, alice, dm, "sent just before the crash");
  // The send was acknowledged, so the message and its job are committed; the push is not due
  // for 1.5 s. Kill the server without a chance to do anything.
  server->send_signal(SIGKILL);
  ASSERT_TRUE(server->wait_exit(10s));
  EXPECT_TRUE(push.pushes().empty());
  ASSERT_EQ(server->start(), "");
  api = std::make_unique<Api>(server->port());
  ASSERT_TRUE(push.wait_for("bob", 1));
  auto barrier = send_ok(*api, alice, dm, "after the restart");
  ASSERT_TRUE(push.wait_for("bob", 2));
  auto got = push.payloads("bob", phone);
  ASSERT_EQ(got.size(), 2u) << "once, not twice";
  EXPECT_EQ(str(got[0], "message_id"), str(m, "id"));
  EXPECT_EQ(str(got[1], "message_id"), str(barrier, "id"));
  EXPECT_EQ(api->get("/api/v1/push/vapid-key", bob.access).str("public_key"), key_before)
      << "the VAPID key is kept in the data dir";
}

TEST_F(Notifications, GoneSubscriptionsAreRemovedAndFailuresRetried) {
  start();
  auto alice = register_account(*api, "alice");
  auto bob = register_account(*api, "bob");
  Browser phone;
  subscribe(*api, bob, push.endpoint("bob"), phone);
  auto dm = make_dm(*api, alice, bob.id);
  push.answer(503);  // the push service is having a bad moment: retried with backoff
  auto m = send_ok(*api, alice, dm, "first");
  ASSERT_TRUE(push.wait_for("bob", 1));
  push.answer(201);
  ASSERT_TRUE(push.wait_for("bob", 2));
  auto got = push.payloads("bob", phone);
  EXPECT_EQ(str(got[1], "message_id"), str(m, "id")) << "the retry carried the same message";
  push.answer(410);  // the browser unsubscribed
  send_ok(*api, alice, dm, "second");
  ASSERT_TRUE(push.wait_for("bob", 3));
  // The subscription goes once the service says it is gone.
  auto until = Clock::now() + 10s;
  std::size_t left = 1;
  while (Clock::now() < until && left) {
    auto list = api->get("/api/v1/push/subscriptions", bob.access);
    left = arr(list.json, "subscriptions").size();
    if (left) std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(left, 0u);
}

TEST_F(Notifications, SettingsRoutesValidateAndAuthorise) {
  start();
  auto alice = register_account(*api, "alice");
  auto bob = register_account(*api, "bob");
  const std::string settings = "/api/v1/users/me/notification-settings";
  auto r = api->get(settings, bob.access);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(str(r.json, "push"), "mentions");
  EXPECT_EQ(str(r.json, "email"), "mentions");
  EXPECT_EQ(num(r.json, "email_delay_minutes"), 15);
  EXPECT_TRUE(r.json.as_object().at("quiet_hours").is_null());
  r = api->patch(
      settings,
      object{{"push", "all"},
             {"email_delay_minutes", 30},
             {"keywords", boost::json::array{"Deploy", " outage "}},
             {"quiet_hours", object{{"start", "22:00"}, {"end", "07:00"}, {"tz", "Europe/Paris"}}}},
      bob.access);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(str(r.json, "push"), "all");
  EXPECT_EQ(str(r.json, "email"), "mentions") << "fields not sent stay";
  EXPECT_EQ(dump(arr(r.json, "keywords")), "[\"deploy\",\"outage\"]");
  EXPECT_EQ(str(api->get(settings, bob.access).json.at("quiet_hours"), "tz"), "Europe/Paris");
  for (auto [body, field] : std::vector<std::pair<object, std::string>>{
           {object{{"push", "sometimes"}}, "push"},
           {object{{"email_delay_minutes", -1}}, "email_delay_minutes"},
           {object{{"quiet_hours", object{{"start", "25:00"}, {"end", "07:00"}, {"tz", "UTC"}}}},
            "quiet_hours"},
           {object{
                {"quiet_hours", object{{"start", "22:00"}, {"end", "07:00"}, {"tz", "Mars/Base"}}}},
            "quiet_hours"},
           {object{{"keywords", boost::json::array{""}}}, "keywords"}}) {
    r = api->patch(settings, body, bob.access);
    EXPECT_EQ(r.status, 422) << dump(body);
    EXPECT_EQ(r.error_field(), field) << r;
  }
  EXPECT_EQ(api->patch(settings, object{{"push", 3}}, bob.access).status, 400);
  EXPECT_EQ(api->get(settings, "").status, 401);

  // Per conversation: members only; a conversation the caller cannot see is 404.
  auto group = make_channel(*api, alice, channel_name(), "private");
  r = api->call("PUT", conv_path(group) + "/notification-settings",
                json_text(object{{"level", "none"}}), bob.access);
  EXPECT_EQ(r.status, 404) << r;
  r = api->call("PUT", conv_path(group) + "/notification-settings",
                json_text(object{{"level", "loud"}}), alice.access);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.error_field(), "level");
  r = api->call("PUT", conv_path(group) + "/notification-settings",
                json_text(object{{"level", "mentions"}, {"muted_until", nullptr}}), alice.access);
  ASSERT_EQ(r.status, 200) << r;
  r = api->get(conv_path(group) + "/notification-settings", alice.access);
  EXPECT_EQ(str(r.json, "level"), "mentions");
  EXPECT_TRUE(r.json.as_object().at("muted_until").is_null());

  // Subscriptions: https only (http only to an allow-listed address), keys checked, owned.
  Browser b;
  object keys{{"p256dh", b64url(b.public_raw)}, {"auth", b64url(b.auth)}};
  r = api->post("/api/v1/push/subscriptions",
                object{{"endpoint", "http://push.example.com/x"}, {"keys", keys}}, bob.access);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.error_field(), "endpoint");
  r = api->post("/api/v1/push/subscriptions",
                object{{"endpoint", "https://push.example.com/x"},
                       {"keys", object{{"p256dh", "AAAA"}, {"auth", b64url(b.auth)}}}},
                bob.access);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.error_field(), "keys.p256dh");
  auto id = subscribe(*api, bob, "https://push.example.com/x", b);
  r = api->patch("/api/v1/push/subscriptions/" + id, object{{"enabled", false}}, bob.access);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_FALSE(flag(r.json, "enabled"));
  EXPECT_EQ(api->del("/api/v1/push/subscriptions/" + id, alice.access).status, 404);
  EXPECT_EQ(api->del("/api/v1/push/subscriptions/" + id, bob.access).status, 204);
  EXPECT_EQ(api->del("/api/v1/push/subscriptions/" + id, bob.access).status, 404);
}

// ---- against web-push-testing (PARLEY_TEST_PUSH_URL; scripts/push-service.sh): a push service
// written by others checks our VAPID JWT and decrypts our aes128gcm payload ----

TEST_F(Notifications, AThirdPartyPushServiceAcceptsAndDecryptsOurPushes) {
  const char* service = std::getenv("PARLEY_TEST_PUSH_URL");
  if (!service || !*service)
    GTEST_SKIP() << "PARLEY_TEST_PUSH_URL is not set (`make test` starts scripts/push-service.sh)";
  start();
  auto alice = register_account(*api, "alice");
  auto bob = register_account(*api, "bob");
  auto key = api->get("/api/v1/push/vapid-key", bob.access).str("public_key");
  std::string base = service;
  auto port = static_cast<std::uint16_t>(std::stoi(base.substr(base.rfind(':') + 1)));
  Api push_service(port);
  auto sub = push_service.post("/subscribe", object{{"applicationServerKey", key}});
  ASSERT_EQ(sub.status, 200) << sub;
  const auto& data = sub.json.at("data");
  // It names itself "localhost"; Parley takes plain http only to an allow-listed address.
  std::string endpoint = str(data, "endpoint");
  endpoint.replace(0, std::string("http://localhost").size(), "http://127.0.0.1");
  auto r = api->post("/api/v1/push/subscriptions",
                     object{{"endpoint", endpoint}, {"keys", data.at("keys")}}, bob.access);
  ASSERT_EQ(r.status, 201) << r;
  auto dm = make_dm(*api, alice, bob.id);
  auto m = send_ok(*api, alice, dm, "checked by somebody else's code");
  object query{{"clientHash", str(data, "clientHash")}};
  boost::json::array messages;
  auto until = Clock::now() + 20s;
  while (Clock::now() < until && messages.empty()) {
    auto got = push_service.post("/get-notifications", query);
    if (got.status == 200) messages = got.json.at("data").at("messages").as_array();
    if (messages.empty()) std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(messages.size(), 1u);
  auto payload = boost::json::parse(messages[0].as_string());
  EXPECT_EQ(str(payload, "message_id"), str(m, "id"));
  EXPECT_EQ(str(payload, "body"), "checked by somebody else's code");
}

// ---- with RabbitMQ (PARLEY_TEST_AMQP_URL; `make test` starts one with scripts/rabbitmq.sh) ----

const char* amqp_url() {
  const char* u = std::getenv("PARLEY_TEST_AMQP_URL");
  return u && *u ? u : nullptr;
}

std::string rabbitmq_script() { return std::string(PARLEY_SOURCE_DIR) + "/scripts/rabbitmq.sh"; }

std::string shell(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  ::pclose(p);
  return out;
}

// Messages in a queue, from `rabbitmq.sh queues`; -1 when it is not listed.
long queue_depth(const std::string& name) {
  std::istringstream in(shell(rabbitmq_script() + " queues 2>/dev/null"));
  std::string q;
  long n;
  while (in >> q >> n)
    if (q == name) return n;
  return -1;
}

class NotificationsAmqp : public Notifications {
 protected:
  void SetUp() override {
    if (!amqp_url())
      GTEST_SKIP() << "PARLEY_TEST_AMQP_URL is not set: RabbitMQ tests skipped (`make test` "
                      "starts a throw-away broker; or run `scripts/rabbitmq.sh start`)";
    // Queues of this test alone: tests run in parallel against one broker.
    queue = "parley.itest." + unique_name("q");
    start({"--amqp", amqp_url(), "--amqp-queue", queue, "--job-workers", "4"});
  }
  std::string queue;
};

TEST_F(NotificationsAmqp, ARestartOfRabbitmqDuringABurstOf1000NotificationsLosesNone) {
  // The broker must be the one this checkout's script runs, to restart it.
  std::string own = shell(rabbitmq_script() + " url 2>/dev/null");
  while (!own.empty() && own.back() == '\n') own.pop_back();
  if (own != amqp_url()) GTEST_SKIP() << "PARLEY_TEST_AMQP_URL is not scripts/rabbitmq.sh's broker";
  auto alice = register_account(*api, "alice");
  auto bob = register_account(*api, "bob");
  Browser phone;
  subscribe(*api, bob, push.endpoint("bob"), phone);
  auto dm = make_dm(*api, alice, bob.id);
  constexpr int kBurst = 1000;
  std::set<std::string> sent;
  std::thread restart;
  std::string restarted;  // the script's errors and status
  for (int i = 0; i < kBurst; ++i) {
    // A third of the way in, the broker stops (unacked deliveries go back to their queues,
    // unconfirmed publishes are published again) and starts on the same data; sends go on
    // meanwhile: they only need the outbox.
    if (i == kBurst / 3)
      restart = std::thread([&restarted] {
        restarted = shell(rabbitmq_script() + " restart 2>&1 >/dev/null; echo status $?");
      });
    sent.insert(str(send_ok(*api, alice, dm, "m" + std::to_string(i)), "id"));
  }
  restart.join();
  // A broker that did not come back would leave the jobs waiting in the outbox (nothing lost,
  // but nothing to measure): that is this machine's failure, said as such.
  ASSERT_NE(restarted.find("status 0"), std::string::npos)
      << "scripts/rabbitmq.sh restart failed: " << restarted;
  ASSERT_EQ(sent.size(), static_cast<std::size_t>(kBurst));
  // Count at the receiver until every message arrived (or 3 minutes).
  std::map<std::string, int> got;
  auto until = Clock::now() + 180s;
  while (Clock::now() < until) {
    got.clear();
    for (const auto& p : push.payloads("bob", phone)) ++got[str(p, "message_id")];
    if (got.size() >= sent.size()) break;
    std::this_thread::sleep_for(200ms);
  }
  int duplicates = 0;
  for (const auto& [id, n] : got) duplicates += n - 1;
  std::cout << "[ RESULT   ] " << kBurst
            << " notifications across a RabbitMQ restart: " << got.size() << " distinct received, "
            << duplicates << " duplicates\n";
  RecordProperty("received", static_cast<int>(got.size()));
  RecordProperty("duplicates", duplicates);
  std::size_t lost = 0;
  for (const auto& id : sent) lost += got.count(id) ? 0 : 1;
  EXPECT_EQ(lost, 0u) << "notifications lost";
  if (lost) {  // where the missing ones are: the outbox, the broker's queues, or gone
    auto metric = [&](const char* series) { return metric_value(*api, series).value_or(-1); };
    std::cout << "outbox waiting " << metric("parley_job_backlog{state=\"waiting\"}")
              << ", running " << metric("parley_job_backlog{state=\"running\"}")
              << ", dead " << metric("parley_jobs_total{outcome=\"dead\"}") << "\nqueues:\n"
              << shell(rabbitmq_script() + " queues 2>&1") << "server log (last 4 KiB):\n";
    auto log = server->logs();
    std::cout << log.substr(log.size() > 4096 ? log.size() - 4096 : 0) << "\n";
  }
}

TEST_F(NotificationsAmqp, APoisonJobEndsInTheDeadLetterQueue) {
  auto alice = register_account(*api, "alice");
  auto bob = register_account(*api, "bob");
  Browser phone;
  subscribe(*api, bob, push.endpoint("bob"), phone);
  auto dm = make_dm(*api, alice, bob.id);
  push.answer(400);  // the push service refuses the message itself: retrying cannot help
  send_ok(*api, alice, dm, "this push is refused");
  ASSERT_TRUE(push.wait_for("bob", 1));
  auto until = Clock::now() + 30s;
  long dead = -1;
  while (Clock::now() < until && dead < 1) {
    dead = queue_depth(queue + ".dead");
    if (dead < 1) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(dead, 1);
  EXPECT_TRUE(server->wait_for_log("dead letter", 5s));
  EXPECT_EQ(push.pushes().size(), 1u) << "a poison job is not retried";
}

}  // namespace
}  // namespace parley::itest
