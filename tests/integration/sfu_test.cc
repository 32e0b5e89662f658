// Group calls through Janus (VideoRoom): a throw-away Janus (scripts/janus.sh) and Parley with
// --janus-url. A group call gets a room that admits only the tokens Parley hands to the
// participants who join (a made-up token is refused by Janus itself), the room's secret never
// reaches a client, a member removed from the conversation loses their feed and token, and the
// room is destroyed when the call ends. A DM call stays peer to peer. The Janus client here
// speaks its HTTP API as a browser would (create a session, attach, join, long-poll events).
// Skipped, with a line saying so, where Janus is not installed.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "chat_support.h"

namespace parley::itest {
namespace {

using namespace chat;

// A Janus session with the VideoRoom attached, over plain HTTP.
class JanusClient {
 public:
  explicit JanusClient(const std::string& url) {
    auto u = url.substr(std::string("http://").size());
    auto slash = u.find('/');
    auto colon = u.find(':');
    port_ = static_cast<std::uint16_t>(std::stoi(u.substr(colon + 1, slash - colon - 1)));
    path_ = u.substr(slash);
    auto s = post(path_, object{{"janus", "create"}});
    session_ = path_ + "/" + std::to_string(s.at("data").at("id").to_number<std::uint64_t>());
    auto h = post(session_, object{{"janus", "attach"}, {"plugin", "janus.plugin.videoroom"}});
    handle_ = session_ + "/" + std::to_string(h.at("data").at("id").to_number<std::uint64_t>());
  }

  // A synchronous VideoRoom request: its plugin data.
  object sync(const object& body) {
    auto r = post(handle_, object{{"janus", "message"}, {"body", body}});
    return r.at("plugindata").at("data").as_object();
  }
  // An asynchronous one (join): the plugin data of the event that answers it.
  object async(const object& body) {
    auto r = post(handle_, object{{"janus", "message"}, {"body", body}});
    std::string tx = str(r, "transaction");
    for (int i = 0; i < 20; ++i) {
      Api api(port_, 35s);
      auto events = api.get(session_ + "?maxev=5&rid=" + std::to_string(++rid_));
      if (events.status != 200) throw std::runtime_error("janus poll: " + events.body);
      auto list = events.json.is_array() ? events.json.as_array() : array{events.json};
      for (const auto& e : list)
        if (str(e, "transaction") == tx && field(e, "plugindata"))
          return e.at("plugindata").at("data").as_object();
    }
    throw std::runtime_error("no answer from janus to " + boost::json::serialize(body));
  }

 private:
  object post(const std::string& path, object body) {
    body["transaction"] = "t" + std::to_string(++rid_);
    Api api(port_);
    auto r = api.post(path, boost::json::value(body));
    if (r.status != 200 || !r.json.is_object()) throw std::runtime_error("janus: " + r.body);
    return r.json.as_object();
  }

  std::uint16_t port_ = 0;
  std::string path_, session_, handle_;
  int rid_ = 0;
};

class SfuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("parley-janus-" + std::to_string(getpid()) + "-" + unique_name("j"));
    std::string script = std::string(PARLEY_SOURCE_DIR) + "/scripts/janus.sh";
    std::string out = dir_.string() + ".out";
    int rc = std::system(("JANUS_ADMIN_KEY=sfu-test-admin-key '" + script + "' start '" +
                          dir_.string() + "' >'" + out + "' 2>&1")
                             .c_str());
    // The URL is the line that starts with http (a retry on a port taken by a Janus started
    // beside this one may print a note first); otherwise the last line says why.
    std::ifstream f(out);
    for (std::string line; std::getline(f, line);) {
      janus_url_ = line;
      if (line.rfind("http", 0) == 0) break;
    }
    std::filesystem::remove(out);
    if (WEXITSTATUS(rc) == 3) GTEST_SKIP() << janus_url_;
    ASSERT_EQ(rc, 0) << janus_url_;
    started_ = true;
    server_ = std::make_unique<ServerProcess>(std::vector<std::string>{
        "--janus-url", janus_url_, "--janus-admin-key", "sfu-test-admin-key",
        "--janus-recordings", (dir_ / "recordings").string(), "--rate-limits", kGenerousLimits});
    auto err = server_->start();
    ASSERT_TRUE(err.empty()) << err;
    Api api(server_->port());
    alice_ = register_account(api, "sfu");
    bob_ = register_account(api, "sfu");
    carol_ = register_account(api, "sfu");
  }
  void TearDown() override {
    server_.reset();
    if (started_)
      std::system(("'" + std::string(PARLEY_SOURCE_DIR) + "/scripts/janus.sh' stop '" +
                   dir_.string() + "'")
                      .c_str());
  }

  object ask(Live& ws, object frame) {
    std::string req = "r" + std::to_string(++req_);
    frame["req"] = req;
    ws.send(frame);
    auto a = ws.answer(req, 10s);
    if (str(a, "type") != "ack") throw std::runtime_error("refused: " + dump(a));
    return a.at("call").as_object();
  }
  static object join_body(const object& sfu, const std::string& token) {
    return object{{"request", "join"},
                  {"ptype", "publisher"},
                  {"room", str(sfu, "room")},
                  {"id", str(sfu, "feed")},
                  {"token", token}};
  }
  static std::set<std::string> feeds(JanusClient& j, const std::string& room) {
    std::set<std::string> out;
    auto r = j.sync(object{{"request", "listparticipants"}, {"room", room}});
    for (const auto& p : arr(r, "participants")) out.insert(str(p, "id"));
    return out;
  }

  std::filesystem::path dir_;
  bool started_ = false;
  std::string janus_url_;
  std::unique_ptr<ServerProcess> server_;
  Account alice_, bob_, carol_;
  int req_ = 0;
};

TEST_F(SfuTest, AGroupCallsRoomAdmitsOnlyItsParticipantsAndGoesWithTheCall) {
  Api api(server_->port());
  auto group = make_group(api, alice_, {bob_.id, carol_.id});
  Live a(server_->port(), alice_), b(server_->port(), bob_), c(server_->port(), carol_);

  auto call = ask(a, object{{"type", "call.start"}, {"conversation_id", group}, {"media", "video"}});
  const std::string id = str(call, "id");
  EXPECT_EQ(str(call, "mode"), "sfu");
  ASSERT_TRUE(field(call, "sfu")) << dump(call);
  auto sfu_a = call.at("sfu").as_object();
  EXPECT_EQ(str(sfu_a, "url"), janus_url_);
  EXPECT_FALSE(str(sfu_a, "token").empty());
  EXPECT_FALSE(mentions(call, "secret"));
  // Others learn of the call, never of anyone's token.
  auto ringing = b.event("call.ringing", [&](const object& d) { return mentions(d, id); });
  EXPECT_FALSE(mentions(ringing, str(sfu_a, "token")));
  EXPECT_FALSE(field(ringing.at("call"), "sfu"));

  JanusClient ja(janus_url_), jb(janus_url_), jx(janus_url_);
  auto joined = ja.async(join_body(sfu_a, str(sfu_a, "token")));
  EXPECT_EQ(str(joined, "videoroom"), "joined") << dump(joined);
  // A made-up token, or one before Parley handed it out, is refused by Janus.
  auto stranger = jx.async(join_body(object{{"room", str(sfu_a, "room")}, {"feed", "fx"}},
                                     "not-a-token"));
  EXPECT_EQ(num(stranger, "error_code"), 433) << dump(stranger);
  // Only Parley creates rooms (the admin key stays on the server).
  auto made = jx.sync(object{{"request", "create"}, {"room", "mine"}});
  EXPECT_TRUE(field(made, "error_code")) << dump(made);

  auto bob_call = ask(b, object{{"type", "call.accept"}, {"call_id", id}});
  auto sfu_b = bob_call.at("sfu").as_object();
  EXPECT_NE(str(sfu_b, "token"), str(sfu_a, "token"));
  EXPECT_EQ(str(jb.async(join_body(sfu_b, str(sfu_b, "token"))), "videoroom"), "joined");
  auto carol_call = ask(c, object{{"type", "call.accept"}, {"call_id", id}});
  auto sfu_c = carol_call.at("sfu").as_object();
  JanusClient jc(janus_url_);
  EXPECT_EQ(str(jc.async(join_body(sfu_c, str(sfu_c, "token"))), "videoroom"), "joined");
  EXPECT_EQ(feeds(jx, str(sfu_a, "room")),
            (std::set<std::string>{str(sfu_a, "feed"), str(sfu_b, "feed"), str(sfu_c, "feed")}));

  // Carol is removed from the group: her feed leaves the room and her token stops working.
  ASSERT_EQ(api.del(conv_path(group) + "/members/" + carol_.id, alice_.access).status, 204);
  a.event("call.updated", [&](const object& d) {
    auto cl = field(d, "call");
    return cl && str(*cl, "id") == id && arr(*cl, "participants").size() == 2;
  });
  std::set<std::string> left;
  for (int i = 0; i < 50; ++i) {
    left = feeds(jx, str(sfu_a, "room"));
    if (!left.contains(str(sfu_c, "feed"))) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(left, (std::set<std::string>{str(sfu_a, "feed"), str(sfu_b, "feed")}));
  JanusClient jc2(janus_url_);
  EXPECT_EQ(num(jc2.async(join_body(sfu_c, str(sfu_c, "token"))), "error_code"), 433);

  // The call ends: the room goes.
  ask(b, object{{"type", "call.leave"}, {"call_id", id}});
  a.event("call.ended", [&](const object& d) { return str(d, "call_id") == id; });
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    auto exists = jx.sync(object{{"request", "exists"}, {"room", str(sfu_a, "room")}});
    gone = field(exists, "exists") && !flag(exists, "exists");
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(gone);
}

TEST_F(SfuTest, ModeratorsRecordAndEveryoneSeesIt) {
  Api api(server_->port());
  auto group = make_group(api, alice_, {bob_.id});
  Live a(server_->port(), alice_), b(server_->port(), bob_);
  auto id = str(ask(a, object{{"type", "call.start"}, {"conversation_id", group}, {"media", "audio"}}),
                "id");
  ask(b, object{{"type", "call.accept"}, {"call_id", id}});
  std::string req = "rec-by-member";
  b.send(object{{"type", "call.record"}, {"req", req}, {"call_id", id}, {"on", true}});
  auto refused = b.answer(req);
  EXPECT_EQ(str(refused.at("error"), "code"), "forbidden") << dump(refused);
  auto on = ask(a, object{{"type", "call.record"}, {"call_id", id}, {"on", true}});
  EXPECT_TRUE(flag(on, "recording"));
  b.event("call.updated", [&](const object& d) {
    auto c = field(d, "call");
    return c && str(*c, "id") == id && flag(*c, "recording");
  });
  auto off = ask(a, object{{"type", "call.record"}, {"call_id", id}, {"on", false}});
  EXPECT_FALSE(flag(off, "recording"));
}

TEST_F(SfuTest, ADmCallStaysPeerToPeer) {
  Api api(server_->port());
  auto dm = make_dm(api, alice_, bob_.id);
  Live a(server_->port(), alice_);
  auto call = ask(a, object{{"type", "call.start"}, {"conversation_id", dm}, {"media", "audio"}});
  EXPECT_EQ(str(call, "mode"), "p2p");
  EXPECT_FALSE(field(call, "sfu"));
}

}  // namespace
}  // namespace parley::itest
