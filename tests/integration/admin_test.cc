// Administration: the system-admin role (first account, `parley admin grant|revoke`), the admin
// gate on every /api/v1/admin/... route, the admin API, deactivation on every socket and token,
// registration settings and invites, and the audit log.
#include <filesystem>

#include "harness.h"

namespace parley::itest {
namespace {

using boost::json::object;

// A server of its own per test: which account is first (the admin) is the test's to decide.
struct AdminServer {
  explicit AdminServer(std::vector<std::string> extra = {}) : server(with_limits(extra)) {
    auto err = server.start();
    if (!err.empty()) throw std::runtime_error(err);
  }
  static std::vector<std::string> with_limits(std::vector<std::string> extra) {
    extra.insert(extra.end(), {"--rate-limits", kGenerousLimits});
    return extra;
  }
  Api api() { return Api(server.port()); }
  ServerProcess server;
};

std::string role_of(const Reply& r) {
  if (!r.json.is_object()) return "";
  auto it = r.obj().find("role");
  if (it == r.obj().end()) return "<absent>";
  return std::string(it->value().as_string());
}

TEST(AdminRole, FirstAccountIsAdminAndRoleShowsOnlyToSelfAndAdmins) {
  AdminServer s;
  auto api = s.api();
  auto first = api.post("/api/v1/auth/register",
                        object{{"username", "founder"}, {"password", "founder-password"}});
  ASSERT_EQ(first.status, 201) << first;
  EXPECT_EQ(first.obj().at("user").as_object().at("role").as_string(), "admin");
  const std::string admin = first.str("access_token");
  const std::string admin_id(first.obj().at("user").as_object().at("id").as_string());
  auto bob = register_account(api, "bob");
  auto carol = register_account(api, "carol");

  EXPECT_EQ(role_of(api.get("/api/v1/users/me", admin)), "admin");
  EXPECT_EQ(role_of(api.get("/api/v1/users/me", bob.access)), "user");
  // Another user sees no role; an admin sees everyone's.
  EXPECT_EQ(role_of(api.get("/api/v1/users/" + admin_id, bob.access)), "<absent>");
  EXPECT_EQ(role_of(api.get("/api/v1/users/" + carol.id, bob.access)), "<absent>");
  EXPECT_EQ(role_of(api.get("/api/v1/users/" + carol.id, admin)), "user");
  auto listed = api.get("/api/v1/users?q=car", bob.access);
  ASSERT_EQ(listed.status, 200) << listed;
  for (const auto& u : listed.obj().at("users").as_array())
    EXPECT_FALSE(u.as_object().contains("role")) << listed;
}

TEST(AdminRole, FirstRegistrationsRacingMakeOneAdmin) {
  AdminServer s;
  std::vector<std::thread> threads;
  std::vector<std::string> roles(6);
  for (int i = 0; i < 6; ++i)
    threads.emplace_back([&, i] {
      Api api(s.server.port());
      auto r = api.post("/api/v1/auth/register", object{{"username", "racer" + std::to_string(i)},
                                                        {"password", "racer-password"}});
      if (r.status == 201) roles[i] = r.obj().at("user").as_object().at("role").as_string();
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::count(roles.begin(), roles.end(), "admin"), 1);
  EXPECT_EQ(std::count(roles.begin(), roles.end(), "user"), 5);
}

TEST(AdminRole, CommandLineGrantsAndRevokesWhileTheServerRuns) {
  AdminServer s;
  auto api = s.api();
  auto founder = register_account(api, "founder");
  auto bob = register_account(api, "bob");
  const std::string dir = " --data-dir '" + s.server.data_dir() + "'";
  EXPECT_EQ(api.get("/api/v1/admin/users", bob.access).status, 403);

  auto grant = run_parley("admin grant " + bob.username + dir);
  EXPECT_EQ(grant.exit_code, 0) << grant.output;
  EXPECT_NE(grant.output.find("now an admin"), std::string::npos) << grant.output;
  EXPECT_EQ(role_of(api.get("/api/v1/users/me", bob.access)), "admin");
  EXPECT_EQ(api.get("/api/v1/admin/users", bob.access).status, 200);

  auto revoke = run_parley("admin revoke " + bob.username + dir);
  EXPECT_EQ(revoke.exit_code, 0) << revoke.output;
  EXPECT_EQ(role_of(api.get("/api/v1/users/me", bob.access)), "user");
  auto gate = api.get("/api/v1/admin/users", bob.access);
  EXPECT_EQ(gate.status, 403) << gate;
  EXPECT_EQ(gate.error_code(), "forbidden");

  // The last admin stays; unknown users and bad usage are refused.
  auto last = run_parley("admin revoke " + founder.username + dir);
  EXPECT_EQ(last.exit_code, 1) << last.output;
  EXPECT_NE(last.output.find("at least one active admin"), std::string::npos) << last.output;
  EXPECT_EQ(role_of(api.get("/api/v1/users/me", founder.access)), "admin");
  EXPECT_EQ(run_parley("admin grant nobody_here" + dir).exit_code, 1);
  EXPECT_EQ(run_parley("admin promote " + bob.username + dir).exit_code, 2);
  EXPECT_EQ(run_parley("admin grant").exit_code, 2);
}

// ---- the admin gate ----

// Every /api/v1/admin/... route the server answers (whoever added it: this module, analytics,
// export, retention) refuses a signed-in non-admin with 403 and an anonymous caller with 401.
TEST(AdminGate, EveryAdminRouteRefusesNonAdmins) {
  AdminServer s;
  auto api = s.api();
  auto admin = register_account(api, "admin");
  auto bob = register_account(api, "bob");
  int walked = 0;
  for (const auto& line : parley_route_table()) {
    auto sp = line.find(' ');
    std::string method = line.substr(0, sp), path = line.substr(sp + 1);
    if (path.rfind("/api/v1/admin/", 0) != 0) continue;
    // Path parameters: an id that exists (the admin's), so only the role can refuse.
    std::string target;
    for (std::size_t i = 0; i < path.size();) {
      if (path[i] == '{') {
        auto end = path.find('}', i);
        target += admin.id;
        i = end + 1;
      } else {
        target += path[i++];
      }
    }
    auto body = method == "GET" || method == "DELETE" ? std::string() : std::string("{}");
    auto as_bob = api.call(method, target, body, bob.access);
    EXPECT_EQ(as_bob.status, 403) << line << ": " << as_bob;
    EXPECT_EQ(as_bob.error_code(), "forbidden") << line;
    auto anonymous = api.call(method, target, body);
    EXPECT_EQ(anonymous.status, 401) << line << ": " << anonymous;
    ++walked;
  }
  EXPECT_GE(walked, 15) << "the admin routes were not found in `parley routes`";
  // Nothing those calls asked for happened: bob could not deactivate the admin.
  EXPECT_EQ(api.get("/api/v1/users/me", admin.access).status, 200);
}

// ---- deactivation ----

TEST(AdminUsers, DeactivationEndsSessionsSocketsAndSignIn) {
  AdminServer s;
  auto api = s.api();
  auto admin = register_account(api, "admin");
  auto bob = register_account(api, "bob");
  auto bob2 = login_account(api, bob, "phone");
  auto ws = ws_ready(s.server.port(), bob.access);
  auto ws2 = ws_ready(s.server.port(), bob2.access);

  auto r =
      api.post("/api/v1/admin/users/" + bob.id + "/deactivate", std::string_view(), admin.access);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.obj().at("deactivated").as_bool(), true);
  EXPECT_TRUE(r.obj().at("deactivated_at").is_int64());

  // Both sockets close at once; every token is refused from the next request on.
  EXPECT_EQ(ws_wait_close(*ws, 1s), 4001) << "a deactivated user's socket stayed open";
  EXPECT_EQ(ws_wait_close(*ws2, 1s), 4001);
  EXPECT_EQ(api.get("/api/v1/users/me", bob.access).status, 401);
  EXPECT_EQ(api.get("/api/v1/users/me", bob2.access).status, 401);
  EXPECT_EQ(api.post("/api/v1/auth/refresh", object{{"refresh_token", bob.refresh}}).status, 401);
  auto login = api.post("/api/v1/auth/login",
                        object{{"username", bob.username}, {"password", bob.password}});
  EXPECT_EQ(login.status, 403) << login;
  EXPECT_EQ(login.error_code(), "deactivated");
  // A wrong password still answers as any wrong password does (no account-state oracle).
  auto wrong = api.post("/api/v1/auth/login",
                        object{{"username", bob.username}, {"password", "not-the-password"}});
  EXPECT_EQ(wrong.status, 401) << wrong;
  // A new socket with an old token is refused.
  auto again = ws_connect(s.server.port());
  (void)again->send_text(boost::json::serialize(object{{"type", "hello"}, {"token", bob.access}}));
  EXPECT_EQ(ws_wait_close(*again, 5s), 4001);

  auto listed = api.get("/api/v1/admin/users?q=" + bob.username, admin.access);
  ASSERT_EQ(listed.status, 200) << listed;
  ASSERT_EQ(listed.obj().at("users").as_array().size(), 1u);
  EXPECT_EQ(listed.obj().at("users").as_array()[0].as_object().at("deactivated").as_bool(), true);

  auto back =
      api.post("/api/v1/admin/users/" + bob.id + "/reactivate", std::string_view(), admin.access);
  ASSERT_EQ(back.status, 200) << back;
  EXPECT_EQ(back.obj().at("deactivated").as_bool(), false);
  auto relogin = login_account(api, bob);
  EXPECT_EQ(api.get("/api/v1/users/me", relogin.access).status, 200);
  // The old sessions stay ended.
  EXPECT_EQ(api.get("/api/v1/users/me", bob.access).status, 401);
}

TEST(AdminUsers, ForceSignOutResetTwoFactorAndRoles) {
  AdminServer s;
  auto api = s.api();
  auto admin = register_account(api, "admin");
  auto bob = register_account(api, "bob");
  auto ws = ws_ready(s.server.port(), bob.access);

  auto out =
      api.post("/api/v1/admin/users/" + bob.id + "/sign-out", std::string_view(), admin.access);
  ASSERT_EQ(out.status, 200) << out;
  EXPECT_EQ(out.obj().at("sessions_ended").as_int64(), 1);
  EXPECT_EQ(ws_wait_close(*ws, 1s), 4001);
  EXPECT_EQ(api.get("/api/v1/users/me", bob.access).status, 401);
  bob = login_account(api, bob);  // signing out is not deactivation

  // Two-factor on, then reset by the admin: bob signs in with the password alone.
  auto setup = api.post("/api/v1/auth/totp/setup", std::string_view(), bob.access);
  ASSERT_EQ(setup.status, 200) << setup;
  Authenticator app(setup.str("secret"));
  ASSERT_EQ(
      api.post("/api/v1/auth/totp/enable", object{{"code", app.next_code()}}, bob.access).status,
      200);
  auto seen = api.get("/api/v1/admin/users/" + bob.id, admin.access);
  EXPECT_EQ(seen.obj().at("totp_enabled").as_bool(), true) << seen;
  auto needs = api.post("/api/v1/auth/login",
                        object{{"username", bob.username}, {"password", bob.password}});
  EXPECT_EQ(needs.error_code(), "totp_required");
  auto reset =
      api.post("/api/v1/admin/users/" + bob.id + "/reset-2fa", std::string_view(), admin.access);
  EXPECT_EQ(reset.status, 204) << reset;
  EXPECT_EQ(
      api.get("/api/v1/admin/users/" + bob.id, admin.access).obj().at("totp_enabled").as_bool(),
      false);
  login_account(api, bob);

  // Roles through the API; the admin cannot demote or deactivate the last admin (themself).
  auto promote = api.call("PUT", "/api/v1/admin/users/" + bob.id + "/role", R"({"role":"admin"})",
                          admin.access);
  ASSERT_EQ(promote.status, 200) << promote;
  EXPECT_EQ(promote.str("role"), "admin");
  auto demote = api.call("PUT", "/api/v1/admin/users/" + bob.id + "/role", R"({"role":"user"})",
                         admin.access);
  EXPECT_EQ(demote.str("role"), "user");
  auto self_demote = api.call("PUT", "/api/v1/admin/users/" + admin.id + "/role",
                              R"({"role":"user"})", admin.access);
  EXPECT_EQ(self_demote.status, 409) << self_demote;
  auto self_off =
      api.post("/api/v1/admin/users/" + admin.id + "/deactivate", std::string_view(), admin.access);
  EXPECT_EQ(self_off.status, 409) << self_off;

  // Bad input: unknown ids 404, a bad role 422, a malformed body 400.
  const std::string unknown = "/api/v1/admin/users/01ZZZZZZZZZZZZZZZZZZZZZZZZ";
  EXPECT_EQ(api.post(unknown + "/deactivate", std::string_view(), admin.access).status, 404);
  EXPECT_EQ(api.post(unknown + "/reset-2fa", std::string_view(), admin.access).status, 404);
  EXPECT_EQ(api.post(unknown + "/sign-out", std::string_view(), admin.access).status, 404);
  EXPECT_EQ(api.get("/api/v1/admin/users/not-an-id", admin.access).status, 404);
  auto bad_role = api.call("PUT", "/api/v1/admin/users/" + bob.id + "/role", R"({"role":"root"})",
                           admin.access);
  EXPECT_EQ(bad_role.status, 422) << bad_role;
  EXPECT_EQ(bad_role.error_field(), "role");
  EXPECT_EQ(api.call("PUT", "/api/v1/admin/users/" + bob.id + "/role", R"({"role":)", admin.access)
                .status,
            400);
}

// ---- channels ----

TEST(AdminChannels, ArchiveAndChangeOwnerOfAnyChannel) {
  AdminServer s;
  auto api = s.api();
  auto admin = register_account(api, "admin");
  auto bob = register_account(api, "bob");
  auto carol = register_account(api, "carol");
  auto created = api.post(
      "/api/v1/conversations",
      object{{"type", "channel"}, {"name", "secret-plans"}, {"visibility", "private"}}, bob.access);
  ASSERT_EQ(created.status, 201) << created;
  const std::string cid = created.str("id");

  // Private and the admin is no member: the admin list still shows it, with its owner.
  auto list = api.get("/api/v1/admin/channels?q=secret", admin.access);
  ASSERT_EQ(list.status, 200) << list;
  ASSERT_EQ(list.obj().at("channels").as_array().size(), 1u);
  auto row = list.obj().at("channels").as_array()[0].as_object();
  EXPECT_EQ(row.at("id").as_string(), cid);
  EXPECT_EQ(row.at("owner_id").as_string(), bob.id);
  EXPECT_EQ(api.get("/api/v1/conversations/" + cid, admin.access).status, 404);

  auto archived =
      api.post("/api/v1/admin/channels/" + cid + "/archive", std::string_view(), admin.access);
  ASSERT_EQ(archived.status, 200) << archived;
  EXPECT_EQ(archived.obj().at("archived").as_bool(), true);
  auto send = api.post("/api/v1/conversations/" + cid + "/messages",
                       object{{"text", "still here?"}, {"client_msg_id", "m1"}}, bob.access);
  EXPECT_EQ(send.status, 409) << "an archived channel took a message: " << send;
  auto unarchived =
      api.post("/api/v1/admin/channels/" + cid + "/unarchive", std::string_view(), admin.access);
  EXPECT_EQ(unarchived.obj().at("archived").as_bool(), false);

  // Carol (not a member) becomes the owner; bob stays, as an admin of the channel.
  auto owner = api.call("PUT", "/api/v1/admin/channels/" + cid + "/owner",
                        boost::json::serialize(object{{"user_id", carol.id}}), admin.access);
  ASSERT_EQ(owner.status, 200) << owner;
  EXPECT_EQ(owner.obj().at("owner_id").as_string(), carol.id);
  auto members = api.get("/api/v1/conversations/" + cid + "/members", carol.access);
  ASSERT_EQ(members.status, 200) << members;
  for (const auto& m : members.obj().at("members").as_array()) {
    auto uid = m.as_object().at("user_id").as_string();
    if (uid == carol.id) {
      EXPECT_EQ(m.as_object().at("role").as_string(), "owner");
    }
    if (uid == bob.id) {
      EXPECT_EQ(m.as_object().at("role").as_string(), "admin");
    }
  }

  auto unknown_user = api.call("PUT", "/api/v1/admin/channels/" + cid + "/owner",
                               R"({"user_id":"01ZZZZZZZZZZZZZZZZZZZZZZZZ"})", admin.access);
  EXPECT_EQ(unknown_user.status, 422) << unknown_user;
  EXPECT_EQ(api.post("/api/v1/admin/channels/01ZZZZZZZZZZZZZZZZZZZZZZZZ/archive",
                     std::string_view(), admin.access)
                .status,
            404);
  auto dm =
      api.post("/api/v1/conversations",
               object{{"type", "dm"}, {"member_ids", boost::json::array{carol.id}}}, bob.access);
  EXPECT_EQ(api.post("/api/v1/admin/channels/" + dm.str("id") + "/archive", std::string_view(),
                     admin.access)
                .status,
            404)
      << "a DM is not a channel";
}

// ---- registration settings and invites ----

TEST(AdminSettings, RegistrationModesInvitesAndDomains) {
  AdminServer s;
  auto api = s.api();
  auto admin = register_account(api, "admin");
  auto settings = api.get("/api/v1/admin/settings", admin.access);
  ASSERT_EQ(settings.status, 200) << settings;
  EXPECT_EQ(settings.str("registration"), "open");
  auto reg = [&](const std::string& name, object extra = {}) {
    object body{{"username", name}, {"password", "a-good-password"}};
    for (auto& kv : extra) body[kv.key()] = kv.value();
    return api.post("/api/v1/auth/register", body);
  };

  // Closed: nobody registers.
  ASSERT_EQ(
      api.patch("/api/v1/admin/settings", object{{"registration", "closed"}}, admin.access).status,
      200);
  EXPECT_EQ(api.get("/api/v1/auth/registration").str("registration"), "closed");
  auto closed = reg("closedout");
  EXPECT_EQ(closed.status, 403) << closed;

  // Invite-only: an invite with two uses lets two in, then no more.
  auto mode =
      api.patch("/api/v1/admin/settings", object{{"registration", "invite_only"}}, admin.access);
  ASSERT_EQ(mode.str("registration"), "invite_only");
  EXPECT_EQ(reg("noinvite").status, 403);
  auto inv = api.post("/api/v1/admin/invites", object{{"expires_in", 3600}, {"max_uses", 2}},
                      admin.access);
  ASSERT_EQ(inv.status, 201) << inv;
  const std::string token = inv.str("token");
  const std::string invite_id(inv.obj().at("invite").as_object().at("id").as_string());
  EXPECT_EQ(reg("wronginvite", object{{"invite_token", "not-a-token"}}).status, 403);
  EXPECT_EQ(reg("invited1", object{{"invite_token", token}}).status, 201);
  // A registration that fails after the invite was taken gives its use back.
  EXPECT_EQ(reg("invited1", object{{"invite_token", token}}).status, 409);
  EXPECT_EQ(reg("invited2", object{{"invite_token", token}}).status, 201);
  auto spent = reg("invited3", object{{"invite_token", token}});
  EXPECT_EQ(spent.status, 403) << spent;
  EXPECT_EQ(spent.error_field(), "invite_token");
  auto invites = api.get("/api/v1/admin/invites", admin.access);
  ASSERT_EQ(invites.status, 200) << invites;
  EXPECT_EQ(invites.obj().at("invites").as_array()[0].as_object().at("uses").as_int64(), 2);
  EXPECT_EQ(invites.body.find(token), std::string::npos) << "the token is shown once only";

  // A revoked invite stops working.
  auto inv2 = api.post("/api/v1/admin/invites", object{}, admin.access);
  ASSERT_EQ(inv2.status, 201) << inv2;
  const std::string id2(inv2.obj().at("invite").as_object().at("id").as_string());
  EXPECT_EQ(api.del("/api/v1/admin/invites/" + id2, admin.access).status, 204);
  EXPECT_EQ(reg("revokedinv", object{{"invite_token", inv2.str("token")}}).status, 403);
  EXPECT_EQ(api.del("/api/v1/admin/invites/01ZZZZZZZZZZZZZZZZZZZZZZZZ", admin.access).status, 404);

  // Open with allowed domains: an email at one of them is needed.
  auto domains =
      api.patch("/api/v1/admin/settings",
                object{{"registration", "open"},
                       {"allowed_email_domains", boost::json::array{"Example.COM", "corp.test"}}},
                admin.access);
  ASSERT_EQ(domains.status, 200) << domains;
  EXPECT_EQ(domains.obj().at("allowed_email_domains").as_array()[0].as_string(), "example.com");
  EXPECT_EQ(reg("nodomain").status, 422);
  auto elsewhere = reg("elsewhere", object{{"email", "x@other.test"}});
  EXPECT_EQ(elsewhere.status, 422) << elsewhere;
  EXPECT_EQ(elsewhere.error_field(), "email");
  EXPECT_EQ(reg("inside", object{{"email", "me@example.com"}}).status, 201);

  // Bad settings change nothing.
  EXPECT_EQ(api.patch("/api/v1/admin/settings", object{{"registration", "sometimes"}}, admin.access)
                .status,
            422);
  EXPECT_EQ(
      api.patch("/api/v1/admin/settings",
                object{{"allowed_email_domains", boost::json::array{"not a domain"}}}, admin.access)
          .status,
      422);
  EXPECT_EQ(
      api.patch("/api/v1/admin/settings", object{{"allowed_email_domains", "x.com"}}, admin.access)
          .status,
      400);
  EXPECT_EQ(api.post("/api/v1/admin/invites", object{{"max_uses", -1}}, admin.access).status, 422);
  EXPECT_EQ(api.post("/api/v1/admin/invites", object{{"expires_in", 5}}, admin.access).status, 422);
  EXPECT_EQ(api.post("/api/v1/admin/invites", object{{"max_uses", "two"}}, admin.access).status,
            400);
  auto kept = api.get("/api/v1/admin/settings", admin.access);
  EXPECT_EQ(kept.str("registration"), "open");
  EXPECT_EQ(kept.obj().at("allowed_email_domains").as_array().size(), 2u);
}

// ---- audit ----

// Each audited action, done once, appears in the log exactly once, with actor, target and ip.
TEST(AdminAudit, EveryAuditedActionAppearsOnce) {
  AdminServer s;
  auto api = s.api();
  auto admin = register_account(api, "admin");
  auto bob = register_account(api, "bob");
  auto carol = register_account(api, "carol");

  // Bob: a failed sign-in, a sign-in, 2FA on and off, a session revoked, password, logout-all.
  EXPECT_EQ(api.post("/api/v1/auth/login",
                     object{{"username", bob.username}, {"password", "wrong-password"}})
                .status,
            401);
  auto phone = login_account(api, bob, "phone");
  auto setup = api.post("/api/v1/auth/totp/setup", std::string_view(), bob.access);
  ASSERT_EQ(setup.status, 200) << setup;
  Authenticator app(setup.str("secret"));
  ASSERT_EQ(
      api.post("/api/v1/auth/totp/enable", object{{"code", app.next_code()}}, bob.access).status,
      200);
  ASSERT_EQ(
      api.post("/api/v1/auth/totp/disable", object{{"code", app.next_code()}}, bob.access).status,
      204);
  auto sessions = api.get("/api/v1/auth/sessions", bob.access);
  std::string phone_session;
  for (const auto& x : sessions.obj().at("sessions").as_array())
    if (!x.as_object().at("current").as_bool())
      phone_session = std::string(x.as_object().at("id").as_string());
  ASSERT_EQ(api.del("/api/v1/auth/sessions/" + phone_session, bob.access).status, 204);
  ASSERT_EQ(api.post("/api/v1/auth/password",
                     object{{"current_password", bob.password}, {"new_password", "a-new-password"}},
                     bob.access)
                .status,
            204);
  ASSERT_EQ(api.post("/api/v1/auth/logout-all", std::string_view(), bob.access).status, 204);

  // The admin: every kind of change once.
  auto ch = api.post("/api/v1/conversations", object{{"type", "channel"}, {"name", "audited"}},
                     carol.access);
  ASSERT_EQ(ch.status, 201) << ch;
  const std::string cid = ch.str("id");
  auto ok_status = [](const Reply& r) {
    return r.status == 200 || r.status == 201 || r.status == 204;
  };
  EXPECT_TRUE(ok_status(api.call("PUT", "/api/v1/admin/users/" + carol.id + "/role",
                                 R"({"role":"admin"})", admin.access)));
  EXPECT_TRUE(ok_status(
      api.post("/api/v1/admin/users/" + bob.id + "/deactivate", std::string_view(), admin.access)));
  EXPECT_TRUE(ok_status(
      api.post("/api/v1/admin/users/" + bob.id + "/reactivate", std::string_view(), admin.access)));
  EXPECT_TRUE(ok_status(
      api.post("/api/v1/admin/users/" + bob.id + "/reset-2fa", std::string_view(), admin.access)));
  EXPECT_TRUE(ok_status(
      api.post("/api/v1/admin/users/" + carol.id + "/sign-out", std::string_view(), admin.access)));
  EXPECT_TRUE(ok_status(
      api.patch("/api/v1/admin/settings", object{{"registration", "open"}}, admin.access)));
  auto inv = api.post("/api/v1/admin/invites", object{}, admin.access);
  EXPECT_TRUE(ok_status(inv));
  EXPECT_TRUE(
      ok_status(api.del("/api/v1/admin/invites/" +
                            std::string(inv.obj().at("invite").as_object().at("id").as_string()),
                        admin.access)));
  EXPECT_TRUE(ok_status(
      api.post("/api/v1/admin/channels/" + cid + "/archive", std::string_view(), admin.access)));
  EXPECT_TRUE(ok_status(
      api.post("/api/v1/admin/channels/" + cid + "/unarchive", std::string_view(), admin.access)));
  EXPECT_TRUE(
      ok_status(api.call("PUT", "/api/v1/admin/channels/" + cid + "/owner",
                         boost::json::serialize(object{{"user_id", admin.id}}), admin.access)));
  // Repeats that change nothing are not new events.
  EXPECT_TRUE(ok_status(
      api.post("/api/v1/admin/users/" + bob.id + "/reactivate", std::string_view(), admin.access)));

  // Page through the whole log, 7 at a time.
  std::vector<boost::json::object> events;
  std::string cursor;
  for (int page = 0; page < 50; ++page) {
    auto r = api.get("/api/v1/admin/audit?limit=7" + (cursor.empty() ? "" : "&cursor=" + cursor),
                     admin.access);
    ASSERT_EQ(r.status, 200) << r;
    for (const auto& e : r.obj().at("events").as_array()) events.push_back(e.as_object());
    if (!r.obj().contains("next_cursor")) break;
    cursor = r.str("next_cursor");
  }
  auto count = [&](const std::string& action, const std::string& actor) {
    int n = 0;
    for (const auto& e : events)
      if (e.at("action").as_string() == action &&
          (actor == "*" ||
           (e.at("actor_id").is_null() ? "" : std::string(e.at("actor_id").as_string())) == actor))
        ++n;
    return n;
  };
  EXPECT_EQ(count("auth.registered", "*"), 3);
  EXPECT_EQ(count("auth.sign_in_failed", ""), 1);
  EXPECT_EQ(count("auth.sign_in", bob.id), 1);
  EXPECT_EQ(count("auth.totp_enabled", bob.id), 1);
  EXPECT_EQ(count("auth.totp_disabled", bob.id), 1);
  EXPECT_EQ(count("auth.session_revoked", bob.id), 1);
  EXPECT_EQ(count("auth.password_changed", bob.id), 1);
  EXPECT_EQ(count("auth.logout_all", bob.id), 1);
  for (const char* a : {"admin.role_changed", "admin.user_deactivated", "admin.user_reactivated",
                        "admin.totp_reset", "admin.sessions_revoked", "admin.settings_changed",
                        "admin.invite_created", "admin.invite_revoked", "admin.channel_archived",
                        "admin.channel_unarchived", "admin.channel_owner_changed"})
    EXPECT_EQ(count(a, admin.id), 1) << a;
  for (const auto& e : events) {
    EXPECT_EQ(e.at("ip").as_string(), "127.0.0.1") << boost::json::serialize(e);
    EXPECT_TRUE(e.at("at").is_int64());
    EXPECT_FALSE(e.at("target").as_string().empty());
  }
  // Newest first, ids unique.
  std::set<std::string> ids;
  for (std::size_t i = 0; i < events.size(); ++i) {
    ids.insert(std::string(events[i].at("id").as_string()));
    if (i) {
      EXPECT_GT(events[i - 1].at("id").as_string(), events[i].at("id").as_string());
    }
  }
  EXPECT_EQ(ids.size(), events.size());
  auto deact = [&] {
    for (const auto& e : events)
      if (e.at("action").as_string() == "admin.user_deactivated") return e;
    return boost::json::object{};
  }();
  EXPECT_EQ(deact.at("target").as_string(), "user:" + bob.id);

  // Filters.
  auto by_bob = api.get("/api/v1/admin/audit?actor=" + bob.id, admin.access);
  ASSERT_EQ(by_bob.status, 200);
  for (const auto& e : by_bob.obj().at("events").as_array())
    EXPECT_EQ(e.as_object().at("actor_id").as_string(), bob.id);
  EXPECT_EQ(by_bob.obj().at("events").as_array().size(), 7u);  // registered + 6 above
  auto archives = api.get("/api/v1/admin/audit?action=admin.channel_archived", admin.access);
  EXPECT_EQ(archives.obj().at("events").as_array().size(), 1u);
  EXPECT_EQ(api.get("/api/v1/admin/audit?cursor=nonsense", admin.access).status, 422);

  // No route edits or deletes the log.
  const std::string one(events[0].at("id").as_string());
  for (const char* m : {"DELETE", "PUT", "PATCH", "POST"}) {
    EXPECT_NE(api.call(m, "/api/v1/admin/audit", "{}", admin.access).status / 100, 2) << m;
    EXPECT_NE(api.call(m, "/api/v1/admin/audit/" + one, "{}", admin.access).status / 100, 2) << m;
  }
}

}  // namespace
}  // namespace parley::itest
