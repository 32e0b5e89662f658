// The authorization matrix: every route that takes a conversation or message id, and every
// WebSocket frame that does, called by a user who was never a member, by a member who was
// removed, and by a member. The first two must learn nothing (404 not_found, API.md: "also for
// anything the caller may not see"); the member must succeed.
//
// The rows are checked against the server's real route table (`parley routes`): a route
// without a row here, or a row for a route that no longer exists, fails the test, so a new
// route cannot ship without its authorization being tested. Routes that take no such id are
// listed as exempt, each with the reason.
#include <set>

#include "file_support.h"

namespace parley::itest {
namespace {

using namespace chat;

// A private channel of `owner` with `member`, `removed` (who sent a message, then was removed)
// and `target` (a member other rows act on); `outsider` never belonged. Each row gets its own,
// since some calls (leave, delete) change it.
struct Fixture {
  std::string conv;
  std::string member_msg;   // sent by member
  std::string removed_msg;  // sent by removed while still a member
  std::string file;         // an image the owner uploaded and posted in conv
};

enum class Who { outsider, removed, member };
const char* who_name(Who w) {
  return w == Who::outsider ? "non-member" : w == Who::removed ? "removed member" : "member";
}

struct Row {
  Row(std::string m, std::string p, int ok, bool owner = false, std::string b = {},
      std::string q = {})
      : method(std::move(m)),
        pattern(std::move(p)),
        success(ok),
        owner_acts(owner),
        body(std::move(b)),
        query(std::move(q)) {}

  std::string method;
  std::string pattern;
  int success;        // the member's status
  bool owner_acts;    // the member's call is made by the owner (an owner-only route)
  std::string body;   // JSON body, "" for none
  std::string query;  // appended after '?'
};

// "{id}" is a conversation id under /conversations and a message id under /messages; a
// message id names the caller's own message where it has one (the removed member's own
// message must still be out of reach).
std::string fill(const Row& row, const Fixture& f, Who who, const std::string& target_user) {
  const std::string msg = who == Who::removed ? f.removed_msg : f.member_msg;
  std::string path = row.pattern;
  auto put = [&](const std::string& name, const std::string& value) {
    auto at = path.find(name);
    if (at != std::string::npos) path.replace(at, name.size(), value);
  };
  put("{id}", row.pattern.rfind("/api/v1/messages/", 0) == 0 ? msg
              : row.pattern.rfind("/api/v1/files/", 0) == 0  ? f.file
                                                              : f.conv);
  put("{message_id}", msg);
  put("{user_id}", target_user);
  put("{emoji}", pct("\xF0\x9F\x91\x8D"));
  std::string query = row.query;
  auto c = query.find("{conversation_id}");
  if (c != std::string::npos) query.replace(c, 17, f.conv);
  return query.empty() ? path : path + "?" + query;
}

// The matrix. Success statuses are those of docs/api.md.
std::vector<Row> matrix_rows() {
  const std::string conv = "/api/v1/conversations/{id}";
  const std::string msg = "/api/v1/messages/{id}";
  return {
      {"GET", conv, 200},
      {"PATCH", conv, 200, true, R"({"topic":"matrix topic"})"},
      {"POST", conv + "/join", 200, false, "{}"},
      {"POST", conv + "/leave", 204, false, "{}"},
      {"GET", conv + "/members", 200},
      {"POST", conv + "/members", 200, true, ""},  // body: a fresh user (see the test)
      {"DELETE", conv + "/members/{user_id}", 204, true},
      {"PATCH", conv + "/members/{user_id}", 200, true, R"({"role":"admin"})"},
      {"POST", conv + "/messages", 201, false, R"({"text":"matrix","client_msg_id":"m1"})"},
      {"GET", conv + "/messages", 200},
      {"GET", conv + "/pins", 200},
      {"PUT", conv + "/pins/{message_id}", 204, true},
      {"DELETE", conv + "/pins/{message_id}", 204, true},
      {"POST", conv + "/read", 200, false, R"({"seq":1})"},
      {"POST", conv + "/unread", 200, false, R"({"seq":1})"},
      {"PUT", conv + "/star", 204},
      {"GET", conv + "/notification-settings", 200},
      {"PUT", conv + "/notification-settings", 200, false, R"({"level":"mentions"})"},
      {"DELETE", conv + "/star", 204},
      {"POST", conv + "/archive", 200, true, "{}"},
      {"POST", conv + "/unarchive", 200, true, "{}"},
      {"GET", conv + "/retention", 200},
      {"PUT", conv + "/retention", 200, true, R"({"days":30})"},
      {"PUT", msg + "/saved", 204},
      {"DELETE", msg + "/saved", 204},
      {"GET", msg, 200},
      {"PATCH", msg, 200, false, R"({"text":"edited by the matrix"})"},
      {"DELETE", msg, 204},
      {"GET", msg + "/replies", 200},
      {"POST", msg + "/translate", 200, false, R"({"to":"es"})"},
      {"GET", conv + "/smart-replies", 200},
      {"GET", conv + "/auto-translate", 200},
      {"PUT", conv + "/auto-translate", 200, false, R"({"enabled":true})"},
      {"PUT", msg + "/reactions/{emoji}", 204},
      {"DELETE", msg + "/reactions/{emoji}", 204},
      {"GET", "/api/v1/search/messages", 200, false, "",
       "q=matrix&conversation_id={conversation_id}"},
      // A file is readable where it was posted: the same 404 for non-members.
      {"GET", "/api/v1/files/{id}", 200},
      {"GET", "/api/v1/files/{id}/thumbnail", 200},
      {"GET", "/api/v1/files/{id}/link", 200},
      {"GET", "/api/v1/files/{id}/info", 200},
      // Integrations of a conversation: its owners and admins manage them.
      {"GET", conv + "/webhooks", 200, true},
      {"POST", conv + "/webhooks", 201, true, R"({"name":"matrix hook"})"},
      {"GET", conv + "/outgoing-webhooks", 200, true},
      {"POST", conv + "/outgoing-webhooks", 201, true,
       R"({"url":"https://example.com/matrix","events":["message.created"]})"},
  };
}

// Routes that take no conversation or message id, with the reason they need no row.
const std::map<std::string, std::string>& exempt_routes() {
  static const std::map<std::string, std::string> exempt = {
      {"GET /api/v1/health", "no authentication, no id"},
      {"GET /api/v1/health/live", "no authentication, no id"},
      {"GET /api/v1/health/ready", "no authentication, no id"},
      {"GET /metrics", "operations endpoint, no id"},
      {"POST /api/v1/auth/register", "creates an account; no id"},
      {"GET /api/v1/auth/registration", "no authentication: the server's registration mode"},
      {"POST /api/v1/auth/login", "no id; credentials are the authorization"},
      {"POST /api/v1/auth/refresh", "no id; the refresh token is the authorization"},
      {"GET /api/v1/auth/providers", "public: what the sign-in page offers"},
      {"GET /api/v1/auth/oidc/{name}/start", "a provider name, not an object; starts a sign-in"},
      {"GET /api/v1/auth/oidc/{name}/callback",
       "a provider name; the state and the browser's flow cookie are the authorization"},
      {"POST /api/v1/auth/oidc/exchange", "no id; the one-time hand-off cookie is the authorization"},
      {"POST /api/v1/auth/logout", "acts on the caller's own session only"},
      {"POST /api/v1/auth/logout-all", "acts on the caller's own sessions only"},
      {"POST /api/v1/auth/password", "the caller's own account"},
      {"POST /api/v1/auth/reauth", "the caller's own session"},
      {"GET /api/v1/auth/sessions", "lists the caller's own sessions only"},
      {"DELETE /api/v1/auth/sessions/{id}",
       "a session id, not a conversation: covered by SessionOfAnotherUserIsNotFound below"},
      {"POST /api/v1/auth/totp/setup", "the caller's own account"},
      {"POST /api/v1/auth/totp/enable", "the caller's own account"},
      {"POST /api/v1/auth/totp/disable", "the caller's own account"},
      {"GET /api/v1/users/me", "the caller's own profile"},
      {"PATCH /api/v1/users/me", "the caller's own profile"},
      {"PUT /api/v1/users/me/avatar",
       "the caller's own profile; a file id another user uploaded is refused (422): "
       "ProfileTest.AvatarMustBeTheCallersOwnReadyImage"},
      {"DELETE /api/v1/users/me/avatar", "the caller's own profile"},
      {"GET /api/v1/users/me/email", "the caller's own address"},
      {"PUT /api/v1/users/me/email", "the caller's own address"},
      {"POST /api/v1/auth/email/verify", "no token: the mailed link's token is the authorization"},
      {"POST /api/v1/auth/password/forgot", "no token, no id: the same answer for any address"},
      {"POST /api/v1/auth/password/reset", "no token: the mailed link's token is the authorization"},
      {"POST /api/v1/mail/unsubscribe", "no token: the signed token of the mail is the authorization"},
      {"GET /api/v1/users/me/phone", "the caller's own number"},
      {"PUT /api/v1/users/me/phone", "the caller's own number"},
      {"PATCH /api/v1/users/me/phone", "the caller's own number"},
      {"DELETE /api/v1/users/me/phone", "the caller's own number"},
      {"POST /api/v1/users/me/phone/verify", "the caller's own number"},
      {"GET /api/v1/avatars/{file_id}",
       "no token by design (an <img> sends none; avatars are directory data): it answers only "
       "for a file that is someone's current avatar, 404 otherwise: "
       "ProfileTest.OnlyCurrentAvatarsAreServedAndEverythingElseIs404"},
      {"GET /api/v1/users/{id}", "a user id: profiles are directory data every user may read"},
      {"GET /api/v1/users", "directory search; no conversation"},
      {"POST /api/v1/conversations", "creates a conversation; takes user ids, not a conversation"},
      {"GET /api/v1/conversations", "lists the caller's own conversations"},
      {"GET /api/v1/channels", "lists public channels, visible to all by definition"},
      {"GET /api/v1/presence",
       "user ids, not a conversation: who may see whose presence is the presence suite's"},
      {"PUT /api/v1/users/me/presence", "the caller's own status"},
      {"GET /api/v1/users/me/saved",
       "the caller's own list; it leaves out what they can no longer see (PersonalStateTest)"},
      {"OPTIONS /api/v1/uploads", "tus discovery: no authentication, no id"},
      {"POST /api/v1/uploads", "creates the caller's own upload"},
      {"GET /api/v1/uploads/{id}",
       "an upload id is its uploader's alone: FilesTest.OnlyTheUploaderAndMembersWhereItWas"
       "PostedMayReadAFile calls every upload route as a stranger"},
      {"PATCH /api/v1/uploads/{id}", "an upload id is its uploader's alone (as GET)"},
      {"DELETE /api/v1/uploads/{id}", "an upload id is its uploader's alone (as GET)"},
      {"POST /api/v1/users/me/export", "exports the caller's own data"},
      {"GET /api/v1/exports/{id}",
       "an export id is its requester's alone: DataExport.ZipHoldsTheUsersMessagesAndFilesAnd"
       "NobodyElsesPrivateData asks for it as another user (404)"},
      {"GET /api/v1/exports/{id}/download", "an export id is its requester's alone (as GET)"},
      {"GET /api/v1/openapi.json", "the API's description: no authentication, no id"},
      {"POST /api/v1/bots", "creates the caller's own bot"},
      {"GET /api/v1/bots", "lists the caller's own bots"},
      {"GET /api/v1/bots/{id}",
       "a bot is its owner's alone: BotsTest.BotsAreTheirOwnersOnly calls the bot routes as "
       "another user"},
      {"DELETE /api/v1/bots/{id}", "a bot is its owner's alone (as GET)"},
      {"POST /api/v1/bots/{id}/tokens", "a bot is its owner's alone (as GET)"},
      {"DELETE /api/v1/bots/{id}/tokens/{token_id}", "a bot is its owner's alone (as GET)"},
      {"POST /api/v1/bots/{id}/tokens/{token_id}/rotate", "a bot is its owner's alone (as GET)"},
      {"DELETE /api/v1/conversations/{id}/webhooks/{hook_id}",
       "needs a hook id: BotsTest.WebhookRoutesHideOtherPeoplesConversations and "
       "SlackStylePayloadPostsAMessage (a member who is not an admin gets 403)"},
      {"DELETE /api/v1/conversations/{id}/outgoing-webhooks/{hook_id}",
       "needs a hook id: as the incoming webhook's DELETE"},
      {"POST /api/v1/webhooks/{id}/{secret}",
       "no token: the URL's secret is the authorization (wrong secret = unknown hook = 404)"},
      {"POST /api/v1/commands", "server-wide slash commands; no conversation"},
      {"GET /api/v1/commands", "server-wide slash commands; no conversation"},
      {"DELETE /api/v1/commands/{id}", "a command id; only its owner deletes it (403 otherwise)"},
      {"GET /api/v1/calls/ice-servers", "the caller's own TURN credentials; no id"},
      {"GET /api/v1/calls", "lists the running calls of the caller's own conversations"},
      {"GET /api/v1/calls/{id}",
       "a call id, not a conversation's: CallsTest.NonMembersCannotStartSeeOrJoinACall asks "
       "for it as a non-member"},
      {"GET /api/v1/ai/capabilities", "the server's engines; no id"},
      {"POST /api/v1/ai/detect-language", "a text the caller sends; no id"},
      {"POST /api/v1/ai/sentiment", "a text the caller sends; no id"},
      {"GET /api/v1/users/me/notification-settings", "the caller's own settings"},
      {"PATCH /api/v1/users/me/notification-settings", "the caller's own settings"},
      {"GET /api/v1/push/vapid-key", "the server's public key; no id"},
      {"GET /api/v1/push/subscriptions", "lists the caller's own push subscriptions"},
      {"POST /api/v1/push/subscriptions", "creates the caller's own subscription"},
      {"PATCH /api/v1/push/subscriptions/{id}",
       "a subscription id is its owner's alone: Notifications.SettingsRoutesValidateAndAuthorise "
       "(notifications_integration_test) calls it as another user"},
      {"DELETE /api/v1/push/subscriptions/{id}", "a subscription id is its owner's alone (as PATCH)"},
  };
  return exempt;
}

std::string key_of(const std::string& method, const std::string& pattern) {
  return method + " " + pattern;
}

class AuthorizationMatrix : public SharedServerTest {
 protected:
  void SetUp() override {
    SharedServerTest::SetUp();
    if (HasFatalFailure()) return;
    auto users = register_accounts(port(), 5, "authz");
    owner_ = users[0];
    member_ = users[1];
    removed_ = users[2];
    outsider_ = users[3];
    target_ = users[4];
  }

  Fixture fresh_fixture(Api& api) {
    Fixture f;
    f.conv = make_channel(api, owner_, channel_name("authz"), "private");
    add_members(api, owner_, f.conv, {member_.id, removed_.id, target_.id});
    f.member_msg = str(send_ok(api, member_, f.conv, "matrix member"), "id");
    f.removed_msg = str(send_ok(api, removed_, f.conv, "matrix removed"), "id");
    f.file = str(files::upload(api, owner_, files::jpeg_with_gps(), "matrix.jpg"), "id");
    auto posted = api.post(conv_path(f.conv) + "/messages",
                           object{{"text", "matrix file"},
                                  {"client_msg_id", fresh_cmid()},
                                  {"attachments", array{value(f.file)}}},
                           owner_.access);
    if (posted.status != 201) fail_reply("post a file", posted);
    auto r = api.del(conv_path(f.conv) + "/members/" + removed_.id, owner_.access);
    if (r.status != 204) fail_reply("remove member", r);
    return f;
  }

  const Account& account(Who who, const Row& row) const {
    if (who == Who::outsider) return outsider_;
    if (who == Who::removed) return removed_;
    return row.owner_acts ? owner_ : member_;
  }

  Account owner_, member_, removed_, outsider_, target_;
};

TEST_F(AuthorizationMatrix, EveryRouteWithAnIdHidesTheConversationFromNonMembers) {
  auto api = this->api();
  const auto table = parley_route_table();
  ASSERT_GT(table.size(), 20u) << "parley routes printed too little";

  // Coverage: every route has a row or an exemption, and every row names a real route.
  std::set<std::string> covered;
  for (const auto& row : matrix_rows()) {
    auto key = key_of(row.method, row.pattern);
    EXPECT_TRUE(covered.insert(key).second) << "two rows for " << key;
    EXPECT_TRUE(table.count(key)) << "row for a route the server does not have: " << key;
    EXPECT_FALSE(exempt_routes().count(key)) << key << " has a row and an exemption";
  }
  for (const auto& [key, reason] : exempt_routes()) {
    EXPECT_TRUE(table.count(key)) << "exemption for a route the server does not have: " << key;
    covered.insert(key);
  }
  for (const auto& key : table) {
    // System-admin routes take no conversation from the caller's point of view: every one of
    // them refuses non-admins first (AdminGate.EveryAdminRouteRefusesNonAdmins walks them all).
    if (key.find(" /api/v1/admin/") != std::string::npos) continue;
    EXPECT_TRUE(covered.count(key))
        << "route " << key << " has no row in the authorization matrix and no exemption";
  }

  int calls = 0;
  for (const auto& row : matrix_rows()) {
    const auto key = key_of(row.method, row.pattern);
    Fixture f = fresh_fixture(api);
    for (Who who : {Who::outsider, Who::removed, Who::member}) {
      const Account& caller = account(who, row);
      std::string body = row.body;
      if (key == "POST /api/v1/conversations/{id}/members")
        body = boost::json::serialize(object{{"user_ids", array{value(outsider_.id)}}});
      auto path = fill(row, f, who, target_.id);
      auto r =
          api.call(row.method, path, body, caller.access,
                   body.empty() ? std::vector<net::Header>{}
                                : std::vector<net::Header>{{"Content-Type", "application/json"}});
      ++calls;
      if (who == Who::member) {
        EXPECT_EQ(r.status, row.success) << key << " as " << who_name(who) << ": " << r;
      } else {
        EXPECT_EQ(r.status, 404) << key << " as " << who_name(who) << ": " << r;
        EXPECT_EQ(r.error_code(), "not_found") << key << " as " << who_name(who) << ": " << r;
      }
    }
    // What the non-members tried changed nothing the member can see: the conversation and the
    // member's message are still there (unless the member's own call removed them).
    if (row.method == "GET") {
      EXPECT_EQ(get_conv(api, owner_, f.conv).status, 200) << key;
    }
  }
  std::cout << "authorization matrix: " << table.size() << " routes, " << matrix_rows().size()
            << " with a row, " << exempt_routes().size() << " exempt; " << calls << " HTTP calls\n";
}

// The WebSocket frames that name a conversation: send, typing, read.
TEST_F(AuthorizationMatrix, EveryFrameWithAConversationIdHidesItFromNonMembers) {
  auto api = this->api();
  Fixture f = fresh_fixture(api);
  struct FrameRow {
    std::string type;
    object extra;
    std::string success;  // "ack", or "" for frames answered only on error
  };
  const std::vector<FrameRow> frames = {
      {"send", {{"text", "over the socket"}}, "ack"},
      {"typing", {}, ""},
      {"read", {{"seq", 1}}, ""},
  };
  int n = 0;
  for (const auto& fr : frames) {
    for (Who who : {Who::outsider, Who::removed, Who::member}) {
      const Account& caller = who == Who::outsider  ? outsider_
                              : who == Who::removed ? removed_
                                                    : member_;
      Live live(port(), caller);
      std::string req = fr.type + "-" + std::to_string(++n);
      object frame{{"type", fr.type}, {"req", req}, {"conversation_id", f.conv}};
      if (fr.type == "send") frame["client_msg_id"] = fresh_cmid();
      for (const auto& kv : fr.extra) frame[kv.key()] = kv.value();
      live.send(frame);
      const std::string what = fr.type + " frame as " + who_name(who);
      if (who != Who::member) {
        auto err = live.reply("error", req);
        EXPECT_EQ(str(*field(err, "error"), "code"), "not_found") << what << ": " << dump(err);
        continue;
      }
      if (!fr.success.empty()) {
        auto ack = live.answer(req);
        EXPECT_EQ(str(ack, "type"), fr.success) << what << ": " << dump(ack);
      } else {
        live.sync();  // every answer to the frame has arrived by the pong
        EXPECT_FALSE(
            live.seen_within([&](const object& o) { return str(o, "type") == "error"; }, 0ms))
            << what << " got an error frame";
      }
    }
  }
}

// DELETE /auth/sessions/{id} takes a session id: another user's is not found and stays valid.
TEST_F(AuthorizationMatrix, SessionOfAnotherUserIsNotFound) {
  auto api = this->api();
  auto sessions = api.get("/api/v1/auth/sessions", owner_.access);
  ASSERT_EQ(sessions.status, 200) << sessions;
  auto list = arr(sessions.json, "sessions");
  ASSERT_FALSE(list.empty());
  auto id = str(list[0], "id");
  auto r = api.del("/api/v1/auth/sessions/" + id, outsider_.access);
  EXPECT_EQ(r.status, 404) << r;
  EXPECT_EQ(r.error_code(), "not_found") << r;
  EXPECT_EQ(api.get("/api/v1/users/me", owner_.access).status, 200);
  auto own = login_account(api, owner_, "second");
  auto mine = api.del("/api/v1/auth/sessions/" + id, own.access);
  EXPECT_EQ(mine.status, 204) << mine;
  EXPECT_EQ(api.get("/api/v1/users/me", owner_.access).status, 401);
}

}  // namespace
}  // namespace parley::itest
