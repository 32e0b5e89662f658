// What nodes share through Redis, end to end with two real nodes on one PostgreSQL: session
// revocations close sockets and stop tokens on the other node, rate limits hold across nodes,
// and a Redis restart mid-stream loses no acknowledged message while real-time delivery resumes
// by itself. (multinode_cluster_test.cc covers the cluster behind nginx: chat across nodes,
// ordering, a node killed.)
//
// Needs PARLEY_TEST_POSTGRES_URL and PARLEY_TEST_REDIS_URL (`make test` starts both) and skips
// without them. The Redis-restart test starts a Redis of its own (scripts/redis.sh, own folder
// and port), so restarting it disturbs no other test.
#include "chat_support.h"
#include "cluster.h"

namespace parley::itest {
namespace {

using namespace chat;

class SharedRedis : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = shared_postgres_and_redis(&pg_, &redis_); !why.empty()) GTEST_SKIP() << why;
  }

  std::vector<std::string> node_args(const std::string& redis,
                                     const std::string& limits = kGenerousLimits) const {
    return {"--database",    pg_,    "--redis",           redis,
            "--rate-limits", limits, "--trusted-proxies", "127.0.0.1"};
  }

  // Starts n nodes on one database and one Redis.
  std::vector<std::unique_ptr<ServerProcess>> start_nodes(
      int n, const std::string& redis, const std::string& limits = kGenerousLimits) {
    std::vector<std::unique_ptr<ServerProcess>> nodes;
    for (int i = 0; i < n; ++i) {
      auto node = std::make_unique<ServerProcess>(node_args(redis, limits));
      auto err = node->start();
      if (!err.empty()) throw std::runtime_error("node " + std::to_string(i) + ": " + err);
      nodes.push_back(std::move(node));
    }
    return nodes;
  }

  std::string pg_, redis_;
};

auto with_text(const std::string& text) {
  return [text](const object& m) { return str(m, "text") == text; };
}

TEST_F(SharedRedis, EventsAndRevocationsCrossNodes) {
  auto nodes = start_nodes(2, redis_);
  Api on_a(nodes[0]->port()), on_b(nodes[1]->port());
  auto alice = register_account(on_a, "mna");
  auto bob = register_account(on_b, "mnb");  // one database: bob is known on A too
  auto conv = make_group(on_a, alice, {bob.id});
  Live alice_a(nodes[0]->port(), alice);
  Live bob_b(nodes[1]->port(), bob);

  // A message sent on A reaches bob's socket on B, and one sent over B's socket reaches A.
  auto m = send_ok(on_a, alice, conv, "hello from A");
  auto ev = bob_b.event("message.created", with_text("hello from A"), 10s);
  EXPECT_EQ(str(ev, "id"), str(m, "id"));
  EXPECT_EQ(num(ev, "seq"), 1);
  bob_b.send(object{{"type", "send"},
                    {"req", "r1"},
                    {"conversation_id", conv},
                    {"text", "hello from B"},
                    {"client_msg_id", fresh_cmid()}});
  auto ack = bob_b.reply("ack", "r1", 10s);
  EXPECT_EQ(num(ack.at("message"), "seq"), 2);
  EXPECT_EQ(num(alice_a.event("message.created", with_text("hello from B"), 10s), "seq"), 2);

  // Logging out on A ends the session on B: its socket closes, its token stops working there.
  auto alice2 = login_account(on_b, alice);
  Live alice2_b(nodes[1]->port(), alice2);
  EXPECT_EQ(on_a.post("/api/v1/auth/logout", std::string_view(), alice2.access).status, 204);
  EXPECT_EQ(ws_wait_close(alice2_b.raw(), 10s), 4001);
  EXPECT_EQ(on_b.get("/api/v1/users/me", alice2.access).status, 401);
  EXPECT_EQ(on_b.get("/api/v1/users/me", alice.access).status, 200);  // her other session lives
}

// An admin on node A deactivates a user whose sockets and tokens are on node B: the session
// revocations cross through Redis, so B closes the sockets and refuses the tokens at once. The
// admin is named on the command line against the shared PostgreSQL (the first account of that
// database belongs to whichever test ran first).
TEST_F(SharedRedis, DeactivationOnOneNodeEndsTheUserOnTheOther) {
  auto nodes = start_nodes(2, redis_);
  Api on_a(nodes[0]->port()), on_b(nodes[1]->port());
  auto admin = register_account(on_a, "mnadm");
  auto grant = run_parley("admin grant " + admin.username + " --database '" + pg_ + "'");
  ASSERT_EQ(grant.exit_code, 0) << grant.output;
  auto dana = register_account(on_b, "mndana");
  auto dana2 = login_account(on_b, dana);
  auto ws = ws_ready(nodes[1]->port(), dana.access);
  auto ws2 = ws_ready(nodes[1]->port(), dana2.access);

  auto r = on_a.post("/api/v1/admin/users/" + dana.id + "/deactivate", std::string_view(),
                     admin.access);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(ws_wait_close(*ws, 1s), 4001) << "node B kept a deactivated user's socket open";
  EXPECT_EQ(ws_wait_close(*ws2, 1s), 4001);
  EXPECT_EQ(on_b.get("/api/v1/users/me", dana.access).status, 401);
  EXPECT_EQ(on_b.get("/api/v1/users/me", dana2.access).status, 401);
  auto login = on_b.post("/api/v1/auth/login",
                         object{{"username", dana.username}, {"password", dana.password}});
  EXPECT_EQ(login.error_code(), "deactivated") << login;
}

TEST_F(SharedRedis, RateLimitsAreSharedByTheNodes) {
  auto nodes = start_nodes(2, redis_, limits_with("login_per_account", "3/10m"));
  Api on_a(nodes[0]->port()), on_b(nodes[1]->port());
  auto carol = register_account(on_a, "mnrl");
  auto login = [&](Api& api) {
    return api.post("/api/v1/auth/login",
                    object{{"username", carol.username}, {"password", "wrong password"}});
  };
  // Three tries in all, whichever node they reach; the fourth is refused on either node.
  EXPECT_EQ(login(on_a).status, 401);
  EXPECT_EQ(login(on_b).status, 401);
  EXPECT_EQ(login(on_a).status, 401);
  auto refused = login(on_b);
  EXPECT_EQ(refused.status, 429) << refused;
  EXPECT_EQ(login(on_a).status, 429);
}

// The acceptance scenario: Redis restarted while messages flow. Every send is
// acknowledged after the PostgreSQL commit whatever Redis does, none goes missing from history,
// and real-time delivery to the other node resumes without anyone reconnecting.
TEST_F(SharedRedis, RedisRestartMidStreamLosesNoAcknowledgedMessage) {
  ScriptServer redis("redis");
  std::string why;
  bool missing = false;
  auto url = redis.start("", &why, &missing);
  ASSERT_FALSE(url.empty()) << "scripts/redis.sh could not start a private Redis: " << why;
  auto nodes = start_nodes(2, url);
  Api on_a(nodes[0]->port()), on_b(nodes[1]->port());
  auto alice = register_account(on_a, "mnra");
  auto bob = register_account(on_b, "mnrb");
  auto conv = make_group(on_a, alice, {bob.id});
  Live bob_b(nodes[1]->port(), bob);

  std::vector<std::string> acked;  // ids, in send order
  auto send_some = [&](const std::string& tag, int n) {
    for (int i = 0; i < n; ++i) {
      auto r = send(on_a, alice, conv, tag + "-" + std::to_string(i));
      ASSERT_EQ(r.status, 201) << "send while " << tag << ": " << r;
      acked.push_back(r.str("id"));
    }
  };
  send_some("before", 10);
  ASSERT_NO_FATAL_FAILURE(bob_b.event("message.created", with_text("before-9"), 10s));

  redis.stop();
  send_some("down", 20);  // acknowledged: PostgreSQL has them; Redis carries only notifications
  auto again = redis.start_again();
  ASSERT_TRUE(again.empty()) << "Redis did not come back on its port: " << again;
  send_some("back", 10);

  // Real time resumes by itself: keep sending until one reaches bob's open socket on B.
  bool resumed = false;
  for (int i = 0; i < 60 && !resumed; ++i) {
    auto text = "probe-" + std::to_string(i);
    auto r = send(on_a, alice, conv, text);
    ASSERT_EQ(r.status, 201) << r;
    acked.push_back(r.str("id"));
    resumed = bob_b.event_within("message.created", with_text(text), 500ms).has_value();
  }
  ASSERT_TRUE(resumed) << "no real-time event reached the other node after Redis came back";
  EXPECT_FALSE(bob_b.raw().close_code()) << "bob's socket closed";

  // Nothing acknowledged is missing: history (read on B) holds every id, seqs 1..N in order.
  auto history = all_messages(on_b, bob, conv);
  ASSERT_EQ(history.size(), acked.size());
  for (std::size_t i = 0; i < acked.size(); ++i) {
    EXPECT_EQ(str(history[i], "id"), acked[i]) << i;
    EXPECT_EQ(num(history[i], "seq"), static_cast<std::int64_t>(i + 1)) << i;
  }
  // What bob saw live is in seq order, without duplicates.
  std::int64_t last = 0;
  for (const auto& f : bob_b.kept()) {
    if (str(f, "type") != "event" || str(f, "event") != "message.created") continue;
    auto seq = num(f.at("data"), "seq");
    EXPECT_GT(seq, last) << "events out of order or repeated";
    last = seq;
  }
  bob_b.send(object{{"type", "ping"}, {"req", "bye"}});  // leaves no read pending
  bob_b.reply("pong", "bye");
  bob_b.raw().close();
}

}  // namespace
}  // namespace parley::itest
