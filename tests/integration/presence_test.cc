// Presence: GET /presence, chosen statuses, presence.changed, and the grace period after the
// last socket closes (shortened with --presence-grace-ms so no test sleeps 30 s).
#include "chat_support.h"

namespace parley::itest {
namespace {

using namespace chat;

class PresenceTest : public SharedServerTest {};

constexpr int kGraceMs = 500;

class PresenceGraceTest : public SharedServerTest {
 public:
  static void SetUpTestSuite() {
    start_shared({"--presence-grace-ms", std::to_string(kGraceMs)});
  }
};

std::string presence_path(const std::vector<std::string>& ids) {
  std::string q;
  for (const auto& id : ids) q += (q.empty() ? "" : ",") + id;
  return "/api/v1/presence?user_ids=" + q;
}

// The shown status of each asked user.
std::vector<std::string> statuses(Api& api, const Account& who, const std::vector<std::string>& ids) {
  auto r = api.get(presence_path(ids), who.access);
  if (r.status != 200) fail_reply("presence", r);
  std::vector<std::string> out;
  for (const auto& p : arr(r.json, "presence")) out.push_back(str(p, "status"));
  return out;
}
std::string status_of(Api& api, const Account& who, const std::string& id) {
  auto s = statuses(api, who, {id});
  return s.size() == 1 ? s[0] : "(" + std::to_string(s.size()) + " entries)";
}

// Polls until the user shows `want` or the deadline passes; the last status seen.
std::string wait_status(Api& api, const Account& who, const std::string& id,
                        const std::string& want, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::string got;
  do {
    got = status_of(api, who, id);
    if (got == want) return got;
    std::this_thread::sleep_for(10ms);
  } while (Clock::now() < deadline);
  return got;
}

auto presence_of(const std::string& user, const std::string& status) {
  return [user, status](const object& d) {
    return str(d, "user_id") == user && str(d, "status") == status;
  };
}

// Members of one group connecting at once: before, each member's presence.changed went to
// every connected member on its own (N^2 frames for N members). Now each connection gets one
// frame per sweep tick, so a watcher hears all of them online in fewer frames than members, and
// no frame names a user twice (the WebSocket helper refuses such a batch).
TEST_F(PresenceTest, AMassConnectIsSentInBatches) {
  constexpr int kMembers = 24;
  auto accounts = register_accounts(port(), kMembers + 1, "pmass");
  auto api = this->api();
  make_group_of(api, accounts);
  Live watcher(port(), accounts[0]);
  std::vector<std::unique_ptr<Live>> members(kMembers);
  run_parallel(kMembers, [&](int i) {
    members[static_cast<std::size_t>(i)] =
        std::make_unique<Live>(port(), accounts[static_cast<std::size_t>(i) + 1]);
  });
  std::set<std::string> online;
  while (online.size() < static_cast<std::size_t>(kMembers)) {
    auto d = watcher.event("presence.changed", {}, 5s);
    if (str(d, "status") == "online" && str(d, "user_id") != accounts[0].id)
      online.insert(str(d, "user_id"));
  }
  for (std::size_t i = 1; i < accounts.size(); ++i) EXPECT_TRUE(online.contains(accounts[i].id));
  const auto& frames = watcher.presence_frames();
  EXPECT_LT(frames.size(), static_cast<std::size_t>(kMembers)) << "one frame per member";
  EXPECT_GT(*std::max_element(frames.begin(), frames.end()), 1u) << "no presence.batch";
}

TEST_F(PresenceTest, GetPresenceValidatesIds) {
  auto api = this->api();
  auto a = register_account(api, "pv");
  auto b = register_account(api, "pvb");
  make_dm(api, a, b.id);  // presence answers only about contacts

  auto r = api.get(presence_path({b.id, a.id}), a.access);
  ASSERT_EQ(r.status, 200) << r;
  auto list = arr(r.json, "presence");
  ASSERT_EQ(list.size(), 2u) << r;
  EXPECT_EQ(str(list[0], "user_id"), b.id) << "not in the order asked: " << r;
  EXPECT_EQ(str(list[1], "user_id"), a.id);
  for (const auto& p : list) {
    for (const char* k : {"user_id", "status", "last_active_at"})
      EXPECT_TRUE(p.as_object().contains(k)) << "presence lacks " << k << ": " << dump(p);
    EXPECT_EQ(str(p, "status"), "offline") << "never connected: " << dump(p);
    EXPECT_EQ(num(p, "last_active_at"), 0) << "never connected: " << dump(p);
  }

  auto unknown = api.get(presence_path({a.id, kUnknownId}), a.access);
  EXPECT_EQ(unknown.status, 404) << unknown;
  EXPECT_EQ(unknown.error_code(), "not_found") << unknown;
  auto missing = api.get("/api/v1/presence", a.access);
  EXPECT_EQ(missing.status, 400) << missing;
  std::vector<std::string> many(201, a.id);
  auto too_many = api.get(presence_path(many), a.access);
  EXPECT_EQ(too_many.status, 422) << too_many;
  EXPECT_EQ(too_many.error_code(), "validation_failed") << too_many;
  std::vector<std::string> max(200, b.id);
  auto at_limit = api.get(presence_path(max), a.access);
  EXPECT_EQ(at_limit.status, 200) << "200 ids are allowed: " << at_limit;
  EXPECT_EQ(api.get(presence_path({a.id})).status, 401);
}

TEST_F(PresenceTest, OnlineWhileConnected) {
  auto api = this->api();
  auto a = register_account(api, "pon");
  auto b = register_account(api, "ponb");
  make_dm(api, a, b.id);  // presence answers only about contacts
  EXPECT_EQ(status_of(api, a, b.id), "offline");
  auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  Live b_ws(port(), b);
  EXPECT_EQ(wait_status(api, a, b.id, "online", 2s), "online");
  auto r = api.get(presence_path({b.id}), a.access);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_GE(num(arr(r.json, "presence")[0], "last_active_at"), before - 1000) << r;
  // A second socket of the same user changes nothing.
  Live b_again(port(), b);
  EXPECT_EQ(status_of(api, a, b.id), "online");
}

TEST_F(PresenceTest, ChosenStatus) {
  auto api = this->api();
  auto a = register_account(api, "pst");
  auto b = register_account(api, "pstb");
  make_dm(api, a, b.id);  // presence answers only about contacts
  Live b_ws(port(), b);
  ASSERT_EQ(wait_status(api, a, b.id, "online", 2s), "online");
  auto put = [&](const std::string& body) {
    return api.call("PUT", "/api/v1/users/me/presence", body, b.access);
  };
  for (const std::string s : {"away", "dnd", "online"}) {
    auto r = put(R"({"status":")" + s + "\"}");
    ASSERT_EQ(r.status, 200) << s << ": " << r;
    EXPECT_EQ(r.str("user_id"), b.id) << r;
    EXPECT_EQ(r.str("status"), s) << r;
    EXPECT_EQ(status_of(api, a, b.id), s);
  }
  auto invisible = put(R"({"status":"invisible"})");
  ASSERT_EQ(invisible.status, 200) << invisible;
  EXPECT_EQ(invisible.str("status"), "offline") << "invisible shows as offline: " << invisible;
  EXPECT_EQ(status_of(api, a, b.id), "offline");
  EXPECT_EQ(status_of(api, b, b.id), "offline") << "everyone sees offline, the user too";

  for (const auto& [body, status] : std::vector<std::pair<std::string, int>>{
           {R"({"status":"busy"})", 422},
           {R"({"status":"offline"})", 422},
           {R"({"status":""})", 422},
           {R"({"status":1})", 400},
           {R"({})", 400},
           {"{", 400}}) {
    auto r = put(body);
    EXPECT_EQ(r.status, status) << body << ": " << r;
    if (status == 422) {
      EXPECT_EQ(r.error_field(), "status") << body << ": " << r;
    }
  }
  EXPECT_EQ(status_of(api, a, b.id), "offline") << "a refused change took effect";
  ASSERT_EQ(put(R"({"status":"online"})").status, 200);
  EXPECT_EQ(status_of(api, a, b.id), "online");
}

TEST_F(PresenceTest, PresenceChangedGoesToThoseSharingAConversation) {
  auto api = this->api();
  auto a = register_account(api, "pch");
  auto b = register_account(api, "pchb");
  auto s = register_account(api, "pchs");
  make_group(api, a, {b.id});
  Live a_ws(port(), a), s_ws(port(), s);

  Live b_ws(port(), b);
  a_ws.event("presence.changed", presence_of(b.id, "online"));
  ASSERT_EQ(api.call("PUT", "/api/v1/users/me/presence", R"({"status":"dnd"})", b.access).status,
            200);
  auto d = a_ws.event("presence.changed", presence_of(b.id, "dnd"));
  EXPECT_GT(num(d, "last_active_at"), 0) << dump(d);
  b_ws.event("presence.changed", presence_of(b.id, "dnd"));  // the user's own sessions
  ASSERT_EQ(api.call("PUT", "/api/v1/users/me/presence", R"({"status":"invisible"})", b.access)
                .status,
            200);
  a_ws.event("presence.changed", presence_of(b.id, "offline"));
  // Setting the same again changes nothing that shows: no event.
  ASSERT_EQ(api.call("PUT", "/api/v1/users/me/presence", R"({"status":"invisible"})", b.access)
                .status,
            200);
  ASSERT_EQ(api.call("PUT", "/api/v1/users/me/presence", R"({"status":"away"})", b.access).status,
            200);
  auto next = a_ws.event("presence.changed", [&](const object& d) { return str(d, "user_id") == b.id; });
  EXPECT_EQ(str(next, "status"), "away") << "an unchanged shown status sent an event";

  EXPECT_FALSE(s_ws.seen_within([&](const object& f) { return mentions(f, b.id); }, 300ms))
      << "a stranger got b's presence";
}

TEST_F(PresenceGraceTest, OfflineOnlyAfterTheGrace) {
  auto api = this->api();
  auto a = register_account(api, "gr");
  auto b = register_account(api, "grb");
  make_dm(api, a, b.id);
  Live a_ws(port(), a);
  {
    Live b_ws(port(), b);
    a_ws.event("presence.changed", presence_of(b.id, "online"));
    b_ws.raw().close();
  }
  auto closed = Clock::now();
  EXPECT_EQ(status_of(api, a, b.id), "online") << "offline at once, before the grace";
  a_ws.event("presence.changed", presence_of(b.id, "offline"), 5s);
  auto took = Clock::now() - closed;
  EXPECT_GE(took, std::chrono::milliseconds(kGraceMs - 50)) << "offline before the grace ended";
  EXPECT_LT(took, 3s);
  EXPECT_EQ(status_of(api, a, b.id), "offline");
  auto r = api.get(presence_path({b.id}), a.access);
  EXPECT_GT(num(arr(r.json, "presence")[0], "last_active_at"), 0) << r;
}

TEST_F(PresenceGraceTest, ReconnectWithinTheGraceStaysOnline) {
  auto api = this->api();
  auto a = register_account(api, "grr");
  auto b = register_account(api, "grrb");
  make_dm(api, a, b.id);
  Live a_ws(port(), a);
  auto first = std::make_unique<Live>(port(), b);
  a_ws.event("presence.changed", presence_of(b.id, "online"));
  first->raw().close();
  first.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(kGraceMs / 3));
  Live again(port(), b);
  auto flapped = a_ws.event_within(
      "presence.changed", [&](const object& d) { return str(d, "user_id") == b.id; },
      std::chrono::milliseconds(kGraceMs * 2));
  EXPECT_FALSE(flapped) << "a reconnect within the grace showed a change: " << dump(*flapped);
  EXPECT_EQ(status_of(api, a, b.id), "online");
}

TEST_F(PresenceGraceTest, ChosenStatusShowsOnlyWhileConnected) {
  auto api = this->api();
  auto a = register_account(api, "grc");
  auto b = register_account(api, "grcb");
  make_dm(api, a, b.id);
  // Not connected: away is chosen, but offline shows.
  auto r = api.call("PUT", "/api/v1/users/me/presence", R"({"status":"away"})", b.access);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.str("status"), "offline") << "shown as others see it: not connected: " << r;
  EXPECT_EQ(status_of(api, a, b.id), "offline");
  Live a_ws(port(), a);
  {
    Live b_ws(port(), b);
    a_ws.event("presence.changed", presence_of(b.id, "away"));
    EXPECT_EQ(status_of(api, a, b.id), "away");
    b_ws.raw().close();
  }
  a_ws.event("presence.changed", presence_of(b.id, "offline"), 5s);
}

}  // namespace
}  // namespace parley::itest
