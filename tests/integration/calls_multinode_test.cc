// Calls across nodes (docs/decisions.md §42): two nodes on one PostgreSQL and one Redis, node A
// holding the calls (--calls-node) and node B forwarding call frames to it over the bus. The
// caller is on A, the callee on B: ringing, accept, SDP/ICE relayed both ways, the running call
// listed on B, hang up, and one call message however many nodes hear the end.
//
// Needs PARLEY_TEST_POSTGRES_URL and PARLEY_TEST_REDIS_URL (`make test` starts both) and skips
// without them.
#include "chat_support.h"
#include "cluster.h"

namespace parley::itest {
namespace {

using namespace chat;

class CallsAcrossNodes : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = shared_postgres_and_redis(&pg_, &redis_); !why.empty()) GTEST_SKIP() << why;
    holder_ = unique_name("calls-a");
    for (const char* name : {"a", "b"}) {
      std::string node = name == std::string("a") ? holder_ : unique_name("calls-b");
      auto p = std::make_unique<ServerProcess>(std::vector<std::string>{
          "--database", pg_, "--redis", redis_, "--rate-limits", kGenerousLimits,
          "--node-id", node, "--calls-node", holder_, "--call-rejoin-grace-ms", "2000"});
      auto err = p->start();
      ASSERT_TRUE(err.empty()) << "node " << name << ": " << err;
      nodes_.push_back(std::move(p));
    }
  }

  object ask(Live& ws, object frame) {
    std::string req = "r" + std::to_string(++req_);
    frame["req"] = req;
    ws.send(frame);
    return ws.answer(req, 10s);
  }
  static object call_of(const object& answer) {
    if (str(answer, "type") != "ack") throw std::runtime_error("not an ack: " + dump(answer));
    return answer.at("call").as_object();
  }
  static std::function<bool(const object&)> about(const std::string& call_id) {
    return [call_id](const object& d) {
      return str(d, "call_id") == call_id ||
             (field(d, "call") && str(*field(d, "call"), "id") == call_id);
    };
  }
  static std::function<bool(const object&)> state_is(const std::string& call_id,
                                                       const std::string& state) {
    return [call_id, state](const object& d) {
      auto c = field(d, "call");
      return c && str(*c, "id") == call_id && str(*c, "state") == state;
    };
  }

  std::string pg_, redis_, holder_;
  std::vector<std::unique_ptr<ServerProcess>> nodes_;
  int req_ = 0;
};

TEST_F(CallsAcrossNodes, CallerOnOneNodeCalleeOnAnother) {
  Api on_a(nodes_[0]->port()), on_b(nodes_[1]->port());
  auto alice = register_account(on_a, "cna");
  auto bob = register_account(on_b, "cnb");
  auto carol = register_account(on_b, "cnc");  // an outsider, on B
  auto dm = make_dm(on_a, alice, bob.id);
  Live a(nodes_[0]->port(), alice), b(nodes_[1]->port(), bob), c(nodes_[1]->port(), carol);

  // Alice calls from A; bob's socket on B rings.
  auto call = call_of(ask(a, object{{"type", "call.start"}, {"conversation_id", dm},
                                    {"media", "video"}}));
  const std::string id = str(call, "id");
  EXPECT_EQ(str(call, "state"), "ringing");
  auto rung = b.event("call.ringing", about(id), 10s);
  EXPECT_EQ(str(rung.at("call"), "started_by"), alice.id);

  // A second call in the same DM, started from B, meets the running one: one state machine.
  auto again = ask(b, object{{"type", "call.start"}, {"conversation_id", dm}, {"media", "audio"}});
  ASSERT_EQ(str(again, "type"), "error") << dump(again);
  EXPECT_EQ(str(again.at("error"), "code"), "conflict") << dump(again);
  // An outsider on B gets not_found for the call, through the node that holds it.
  auto outsider = ask(c, object{{"type", "call.accept"}, {"call_id", id}});
  ASSERT_EQ(str(outsider, "type"), "error") << dump(outsider);
  EXPECT_EQ(str(outsider.at("error"), "code"), "not_found");

  // Bob accepts on B: the ack carries the active call, and alice on A hears it.
  auto accepted = call_of(ask(b, object{{"type", "call.accept"}, {"call_id", id}}));
  EXPECT_EQ(str(accepted, "state"), "active");
  EXPECT_EQ(arr(accepted, "participants").size(), 2u);
  a.event("call.updated", state_is(id, "active"), 10s);

  // The running call is listed and read on B too.
  auto listed = on_b.get("/api/v1/calls", bob.access);
  ASSERT_EQ(listed.status, 200) << listed;
  ASSERT_EQ(arr(listed.json, "calls").size(), 1u) << listed;
  EXPECT_EQ(str(arr(listed.json, "calls")[0], "id"), id);
  EXPECT_EQ(on_b.get("/api/v1/calls/" + id, carol.access).status, 404);

  // SDP and ICE both ways: A -> B and B -> A.
  auto offer = ask(a, object{{"type", "call.signal"}, {"call_id", id}, {"to_user_id", bob.id},
                             {"data", object{{"kind", "offer"}, {"sdp", "v=0 from A"}}}});
  EXPECT_EQ(str(offer, "type"), "ack") << dump(offer);
  auto got_offer = b.event("call.signal", about(id), 10s);
  EXPECT_EQ(str(got_offer, "from_user_id"), alice.id);
  EXPECT_EQ(str(got_offer, "from_session_id"), a.session_id());
  EXPECT_EQ(str(got_offer.at("data"), "sdp"), "v=0 from A");
  auto answer = ask(b, object{{"type", "call.signal"}, {"call_id", id}, {"to_user_id", alice.id},
                              {"data", object{{"kind", "answer"}, {"sdp", "v=0 from B"}}}});
  EXPECT_EQ(str(answer, "type"), "ack") << dump(answer);
  auto got_answer = a.event("call.signal", about(id), 10s);
  EXPECT_EQ(str(got_answer, "from_user_id"), bob.id);
  EXPECT_EQ(str(got_answer, "from_session_id"), b.session_id());
  EXPECT_EQ(str(got_answer.at("data"), "sdp"), "v=0 from B");
  // Media toggles from B reach A.
  auto muted = call_of(ask(b, object{{"type", "call.media"}, {"call_id", id}, {"audio", false}}));
  for (const auto& p : arr(muted, "participants")) {
    if (str(p, "user_id") == bob.id) {
      EXPECT_FALSE(p.at("audio").as_bool());
    }
  }
  // Signals from outside the call are refused across nodes as on one.
  auto stray = ask(c, object{{"type", "call.signal"}, {"call_id", id}, {"to_user_id", alice.id},
                             {"data", object{{"kind", "ice"}}}});
  ASSERT_EQ(str(stray, "type"), "error") << dump(stray);
  EXPECT_EQ(str(stray.at("error"), "code"), "not_found");

  // Bob hangs up on B: the call ends for alice on A.
  auto left = call_of(ask(b, object{{"type", "call.leave"}, {"call_id", id}}));
  EXPECT_EQ(str(left, "state"), "ended");
  a.event("call.ended", about(id), 10s);

  // Both nodes hear the end; the call message is posted once.
  auto deadline = Clock::now() + 10s;
  int n = 0;
  while (Clock::now() < deadline) {
    n = 0;
    for (const auto& m : all_messages(on_b, bob, dm)) n += str(m, "text").rfind("📞", 0) == 0;
    if (n > 0) break;
    std::this_thread::sleep_for(50ms);
  }
  std::this_thread::sleep_for(500ms);  // a second copy from the other node would be in by now
  n = 0;
  for (const auto& m : all_messages(on_a, alice, dm)) n += str(m, "text").rfind("📞", 0) == 0;
  EXPECT_EQ(n, 1);
}

// A session on the forwarding node whose socket drops stays in the call for the rejoin grace
// (the socket's close travels to the holder) and rejoins with call.accept from B.
TEST_F(CallsAcrossNodes, RejoinFromTheForwardingNode) {
  Api on_a(nodes_[0]->port()), on_b(nodes_[1]->port());
  auto alice = register_account(on_a, "cra");
  auto bob = register_account(on_b, "crb");
  auto dm = make_dm(on_a, alice, bob.id);
  Live a(nodes_[0]->port(), alice);
  std::string id;
  {
    Live b(nodes_[1]->port(), bob);
    id = str(call_of(ask(a, object{{"type", "call.start"}, {"conversation_id", dm},
                                   {"media", "audio"}})),
             "id");
    b.event("call.ringing", about(id), 10s);
    call_of(ask(b, object{{"type", "call.accept"}, {"call_id", id}}));
  }  // bob's socket on B closes
  auto gone = a.event(
      "call.updated",
      [&](const object& d) {
        auto c = field(d, "call");
        if (!c || str(*c, "id") != id) return false;
        for (const auto& p : arr(*c, "participants"))
          if (str(p, "user_id") == bob.id) return !p.at("connected").as_bool();
        return false;
      },
      10s);
  EXPECT_EQ(str(gone.at("call"), "state"), "active");
  Live b2(nodes_[1]->port(), bob);
  auto back = call_of(ask(b2, object{{"type", "call.accept"}, {"call_id", id}}));
  EXPECT_EQ(str(back, "state"), "active");
  for (const auto& p : arr(back, "participants")) {
    if (str(p, "user_id") == bob.id) {
      EXPECT_TRUE(p.at("connected").as_bool());
    }
  }
  call_of(ask(a, object{{"type", "call.leave"}, {"call_id", id}}));
}

}  // namespace
}  // namespace parley::itest
