// Calls: the call.* frames and events of API-EXTENSIONS.md "Calls" against the real server:
// ringing every device, accept on one device stopping the others, decline, busy, cancel, ring
// timeout, hang up, the call message each call leaves, the relay of SDP/ICE between participants
// only, 404 for non-members, a removed member dropped from the running call, and the rejoin of a
// session whose socket dropped (the ring timeout and the rejoin grace are shortened by flags).
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "chat_support.h"

namespace parley::itest {
namespace {

using namespace chat;

constexpr const char* kTurnSecret = "calls-test-turn-secret";

class CallsTest : public SharedServerTest {
 public:
  static void SetUpTestSuite() {
    start_shared({"--call-ring-timeout-ms", "4000", "--call-rejoin-grace-ms", "2000",
                  "--turn-secret", kTurnSecret, "--turn-urls",
                  "stun:127.0.0.1:3478,turn:127.0.0.1:3478?transport=udp"});
  }

 protected:
  void SetUp() override {
    SharedServerTest::SetUp();
    if (HasFatalFailure()) return;
    auto users = register_accounts(port(), 4, "call");
    alice_ = users[0];
    bob_ = users[1];
    carol_ = users[2];
    dave_ = users[3];
  }

  // Sends a frame with a fresh req; the ack or error answering it.
  object ask(Live& ws, object frame) {
    std::string req = "r" + std::to_string(++req_);
    frame["req"] = req;
    ws.send(frame);
    return ws.answer(req);
  }
  // The call of an ack (throws on an error answer).
  object call_of(const object& answer) {
    if (str(answer, "type") != "ack") throw std::runtime_error("not an ack: " + dump(answer));
    return answer.at("call").as_object();
  }
  object start(Live& ws, const std::string& conv, const std::string& media = "video") {
    return call_of(
        ask(ws, object{{"type", "call.start"}, {"conversation_id", conv}, {"media", media}}));
  }
  object act(Live& ws, const std::string& type, const std::string& call_id) {
    return ask(ws, object{{"type", type}, {"call_id", call_id}});
  }
  static std::string error_code(const object& answer) {
    auto e = field(answer, "error");
    return e ? str(*e, "code") : "(no error: " + dump(answer) + ")";
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
  static std::vector<std::string> participant_ids(const value& call) {
    std::vector<std::string> out;
    for (const auto& p : arr(call, "participants")) out.push_back(str(p, "user_id"));
    std::sort(out.begin(), out.end());
    return out;
  }
  static std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  }
  // The call message the server posted for call_id in conv (polled: it is posted after the end).
  object call_message(Api& api, const Account& who, const std::string& conv) {
    auto deadline = Clock::now() + 10s;
    while (Clock::now() < deadline) {
      for (const auto& m : all_messages(api, who, conv))
        if (str(m, "text").rfind("📞", 0) == 0) return m;
      std::this_thread::sleep_for(20ms);
    }
    throw std::runtime_error("no call message in " + conv);
  }

  Account alice_, bob_, carol_, dave_;
  int req_ = 0;
};

TEST_F(CallsTest, StartRingsEveryDeviceAndAcceptOnOneStopsTheOthers) {
  auto api = this->api();
  auto dm = make_dm(api, alice_, bob_.id);
  Account bob_phone = login_account(api, bob_, "phone");
  Live a(port(), alice_), b1(port(), bob_), b2(port(), bob_phone);

  auto call = start(a, dm);
  const std::string id = str(call, "id");
  EXPECT_EQ(str(call, "conversation_id"), dm);
  EXPECT_EQ(str(call, "started_by"), alice_.id);
  EXPECT_EQ(str(call, "state"), "ringing");
  EXPECT_EQ(participant_ids(call), std::vector<std::string>{alice_.id});

  // Both of bob's devices ring.
  auto r1 = b1.event("call.ringing", about(id));
  auto r2 = b2.event("call.ringing", about(id));
  EXPECT_EQ(str(r1.at("call"), "media"), "video");
  EXPECT_EQ(str(r2.at("call"), "started_by"), alice_.id);

  auto accepted = call_of(act(b1, "call.accept", id));
  EXPECT_EQ(str(accepted, "state"), "active");
  EXPECT_EQ(participant_ids(accepted), sorted({alice_.id, bob_.id}));

  // The other device learns bob is in with another session: it stops ringing.
  auto seen = b2.event("call.updated", state_is(id, "active"));
  bool bob_in_elsewhere = false;
  for (const auto& p : arr(seen.at("call"), "participants"))
    if (str(p, "user_id") == bob_.id)
      bob_in_elsewhere = str(p, "session_id") == b1.session_id() &&
                         str(p, "session_id") != b2.session_id();
  EXPECT_TRUE(bob_in_elsewhere) << dump(seen);
  EXPECT_TRUE(arr(seen.at("call"), "ringing").empty());
  a.event("call.updated", state_is(id, "active"));

  // The running call is listed for a member (a reloaded client finds it here).
  auto listed = api.get("/api/v1/calls", bob_.access);
  ASSERT_EQ(listed.status, 200) << listed;
  ASSERT_EQ(arr(listed.json, "calls").size(), 1u) << listed;
  EXPECT_EQ(str(arr(listed.json, "calls")[0], "id"), id);
  auto one = api.get("/api/v1/calls/" + id, alice_.access);
  ASSERT_EQ(one.status, 200) << one;
  EXPECT_EQ(str(one.json.at("call"), "state"), "active");
}

TEST_F(CallsTest, DeclineEndsTheCallAndLeavesAMissedCallMessage) {
  auto api = this->api();
  auto dm = make_dm(api, alice_, bob_.id);
  Live a(port(), alice_), b(port(), bob_);
  auto id = str(start(a, dm, "audio"), "id");
  b.event("call.ringing", about(id));
  auto declined = call_of(act(b, "call.decline", id));
  EXPECT_EQ(str(declined, "state"), "ended");
  auto ended = a.event("call.ended", about(id));
  EXPECT_EQ(str(ended, "reason"), "declined");
  b.event("call.ended", about(id));

  auto m = call_message(api, bob_, dm);
  EXPECT_EQ(str(m, "sender_id"), alice_.id);
  EXPECT_EQ(str(m, "text"), "📞 Missed audio call");
  // Over: it is no longer listed, and acting on it is refused.
  EXPECT_EQ(api.get("/api/v1/calls/" + id, alice_.access).status, 404);
  EXPECT_EQ(error_code(act(b, "call.accept", id)), "not_found");
}

TEST_F(CallsTest, CalleeInAnotherCallIsBusy) {
  auto api = this->api();
  auto ab = make_dm(api, alice_, bob_.id);
  auto cb = make_dm(api, carol_, bob_.id);
  Live a(port(), alice_), b(port(), bob_), c(port(), carol_);
  auto first = str(start(a, ab), "id");
  call_of(act(b, "call.accept", first));

  auto second = start(c, cb);
  EXPECT_EQ(str(second, "state"), "ended");
  EXPECT_EQ(str(second, "reason"), "busy");
  auto ended = c.event("call.ended", about(str(second, "id")));
  EXPECT_EQ(str(ended, "reason"), "busy");
  EXPECT_FALSE(b.event_within("call.ringing", about(str(second, "id")), 300ms));
  EXPECT_EQ(str(call_message(api, carol_, cb), "text"), "📞 Missed video call");

  // A caller already in a call cannot start another; a second call in one conversation neither.
  EXPECT_EQ(error_code(ask(b, object{{"type", "call.start"},
                                     {"conversation_id", cb},
                                     {"media", "audio"}})),
            "conflict");
  EXPECT_EQ(error_code(ask(c, object{{"type", "call.start"},
                                     {"conversation_id", ab},
                                     {"media", "audio"}})),
            "not_found");
}

TEST_F(CallsTest, CancelBeforeAnswerAndRingTimeoutAreMissed) {
  auto api = this->api();
  auto ab = make_dm(api, alice_, bob_.id);
  auto ac = make_dm(api, alice_, carol_.id);
  Live a(port(), alice_), b(port(), bob_), c(port(), carol_);

  auto cancelled = str(start(a, ab), "id");
  b.event("call.ringing", about(cancelled));
  EXPECT_EQ(str(call_of(act(a, "call.leave", cancelled)), "reason"), "hangup");
  EXPECT_EQ(str(b.event("call.ended", about(cancelled)), "reason"), "hangup");
  EXPECT_EQ(str(call_message(api, bob_, ab), "text"), "📞 Missed video call");

  // Nobody answers: the ring times out (4 s here).
  auto unanswered = str(start(a, ac, "audio"), "id");
  c.event("call.ringing", about(unanswered));
  auto ended = c.event("call.ended", about(unanswered), 15s);
  EXPECT_EQ(str(ended, "reason"), "timeout");
  EXPECT_EQ(str(a.event("call.ended", about(unanswered), 5s), "reason"), "timeout");
  EXPECT_EQ(str(call_message(api, carol_, ac), "text"), "📞 Missed audio call");
}

TEST_F(CallsTest, HangUpEndsTheCallForBothWithADurationMessage) {
  auto api = this->api();
  auto dm = make_dm(api, alice_, bob_.id);
  Live a(port(), alice_), b(port(), bob_);
  auto id = str(start(a, dm), "id");
  call_of(act(b, "call.accept", id));
  std::this_thread::sleep_for(1100ms);  // a duration of at least a second to show
  auto left = call_of(act(b, "call.leave", id));
  EXPECT_EQ(str(left, "state"), "ended");
  EXPECT_EQ(str(a.event("call.ended", about(id)), "reason"), "hangup");
  EXPECT_EQ(str(b.event("call.ended", about(id)), "reason"), "hangup");
  auto m = call_message(api, alice_, dm);
  EXPECT_EQ(str(m, "sender_id"), alice_.id);
  EXPECT_EQ(str(m, "text").rfind("📞 Video call · 0:0", 0), 0u) << str(m, "text");
  // Exactly one call message, even though both sides heard the end.
  int n = 0;
  for (const auto& msg : all_messages(api, alice_, dm)) n += str(msg, "text").rfind("📞", 0) == 0;
  EXPECT_EQ(n, 1);
}

TEST_F(CallsTest, SignalsGoOnlyToTheParticipantTheyAreFor) {
  auto api = this->api();
  auto group = make_group(api, alice_, {bob_.id, carol_.id});
  Live a(port(), alice_), b(port(), bob_), c(port(), carol_), d(port(), dave_);
  auto id = str(start(a, group), "id");
  call_of(act(b, "call.accept", id));

  auto ok = ask(a, object{{"type", "call.signal"},
                          {"call_id", id},
                          {"to_user_id", bob_.id},
                          {"data", object{{"sdp", "v=0 offer"}, {"kind", "offer"}}}});
  EXPECT_EQ(str(ok, "type"), "ack") << dump(ok);
  auto got = b.event("call.signal", about(id));
  EXPECT_EQ(str(got, "from_user_id"), alice_.id);
  EXPECT_EQ(str(got, "from_session_id"), a.session_id());
  EXPECT_EQ(str(got.at("data"), "sdp"), "v=0 offer");
  // Carol is a member still ringing, Dave an outsider: neither sees it.
  EXPECT_FALSE(c.event_within("call.signal", {}, 300ms));
  EXPECT_FALSE(d.event_within("call.signal", {}, 100ms));

  auto signal = [&](Live& from, const std::string& to) {
    return ask(from, object{{"type", "call.signal"},
                            {"call_id", id},
                            {"to_user_id", to},
                            {"data", object{{"candidate", "x"}}}});
  };
  EXPECT_EQ(error_code(signal(c, alice_.id)), "forbidden");   // member, not in the call
  EXPECT_EQ(error_code(signal(d, alice_.id)), "not_found");   // not a member
  EXPECT_EQ(error_code(signal(a, carol_.id)), "not_found");   // target not in the call
  EXPECT_EQ(error_code(signal(a, dave_.id)), "not_found");
  auto big = ask(a, object{{"type", "call.signal"},
                           {"call_id", id},
                           {"to_user_id", bob_.id},
                           {"data", object{{"sdp", std::string(17 * 1024, 'a')}}}});
  EXPECT_EQ(error_code(big), "payload_too_large");
  auto wrong_session = ask(a, object{{"type", "call.signal"},
                                     {"call_id", id},
                                     {"to_user_id", bob_.id},
                                     {"to_session_id", kUnknownId},
                                     {"data", object{{"candidate", "x"}}}});
  EXPECT_EQ(error_code(wrong_session), "not_found");
  EXPECT_FALSE(c.event_within("call.signal", {}, 200ms));
}

TEST_F(CallsTest, NonMembersCannotStartSeeOrJoinACall) {
  auto api = this->api();
  auto group = make_group(api, alice_, {bob_.id});
  auto open_channel = make_channel(api, alice_, channel_name("callch"), "public");
  Live a(port(), alice_), d(port(), dave_);
  EXPECT_EQ(error_code(ask(d, object{{"type", "call.start"},
                                     {"conversation_id", group},
                                     {"media", "audio"}})),
            "not_found");
  // A public channel is visible, but only members call in it.
  EXPECT_EQ(error_code(ask(d, object{{"type", "call.start"},
                                     {"conversation_id", open_channel},
                                     {"media", "audio"}})),
            "not_found");
  auto id = str(start(a, group), "id");
  for (const char* type : {"call.accept", "call.decline", "call.leave"})
    EXPECT_EQ(error_code(act(d, type, id)), "not_found") << type;
  auto unknown = act(d, "call.accept", kUnknownId);
  EXPECT_EQ(error_code(unknown), "not_found");
  auto hidden = api.get("/api/v1/calls/" + id, dave_.access);
  auto missing = api.get(std::string("/api/v1/calls/") + kUnknownId, dave_.access);
  EXPECT_EQ(hidden.status, 404);
  EXPECT_EQ(hidden.body_without_request_id(), missing.body_without_request_id());
  auto listed = api.get("/api/v1/calls", dave_.access);
  ASSERT_EQ(listed.status, 200);
  EXPECT_TRUE(arr(listed.json, "calls").empty());
  EXPECT_FALSE(d.event_within("call.ringing", {}, 200ms));
  EXPECT_EQ(api.get("/api/v1/calls", "").status, 401);
}

TEST_F(CallsTest, ARemovedMemberIsDroppedFromTheRunningCall) {
  auto api = this->api();
  auto group = make_group(api, alice_, {bob_.id, carol_.id});
  Live a(port(), alice_), b(port(), bob_), c(port(), carol_);
  auto id = str(start(a, group), "id");
  call_of(act(b, "call.accept", id));
  call_of(act(c, "call.accept", id));
  // Bob's accept told everyone "Alice and Bob": wait past it so that only the removal's update
  // matches below (the call service learns of the removal from the bus, after the 204).
  auto all_three = [&](const object& d) {
    auto call = field(d, "call");
    return call && str(*call, "id") == id &&
           participant_ids(*call) == sorted({alice_.id, bob_.id, carol_.id});
  };
  for (Live* live : {&a, &c}) {
    live->event("call.updated", all_three);
    live->forget();
  }

  auto r = api.del(conv_path(group) + "/members/" + carol_.id, alice_.access);
  ASSERT_EQ(r.status, 204) << r;
  auto dropped = a.event("call.updated", [&](const object& d) {
    auto call = field(d, "call");
    return call && str(*call, "id") == id &&
           participant_ids(*call) == sorted({alice_.id, bob_.id});
  });
  EXPECT_EQ(str(dropped.at("call"), "state"), "active");
  // Carol hears she is out, and can no longer join or signal.
  c.event("call.updated", [&](const object& d) {
    auto call = field(d, "call");
    return call && str(*call, "id") == id &&
           participant_ids(*call) == sorted({alice_.id, bob_.id});
  });
  EXPECT_EQ(error_code(act(c, "call.accept", id)), "not_found");
  EXPECT_EQ(error_code(ask(c, object{{"type", "call.signal"},
                                     {"call_id", id},
                                     {"to_user_id", alice_.id},
                                     {"data", object{{"candidate", "x"}}}})),
            "not_found");
}

TEST_F(CallsTest, ADroppedSocketRejoinsWithinTheGraceWindow) {
  auto api = this->api();
  auto dm = make_dm(api, alice_, bob_.id);
  Live b(port(), bob_);
  auto a = std::make_unique<Live>(port(), alice_);
  const std::string session = a->session_id();
  auto id = str(start(*a, dm), "id");
  call_of(act(b, "call.accept", id));

  a.reset();  // the page reloads: its socket drops
  b.event("call.updated", [&](const object& d) {
    auto call = field(d, "call");
    if (!call || str(*call, "id") != id) return false;
    for (const auto& p : arr(*call, "participants"))
      if (str(p, "user_id") == alice_.id) return !flag(p, "connected");
    return false;
  });
  a = std::make_unique<Live>(port(), alice_);
  ASSERT_EQ(a->session_id(), session);  // same sign-in session after the reload
  auto listed = api.get("/api/v1/calls", alice_.access);
  ASSERT_EQ(arr(listed.json, "calls").size(), 1u) << listed;
  auto rejoined = call_of(act(*a, "call.accept", id));
  EXPECT_EQ(str(rejoined, "state"), "active");
  EXPECT_EQ(participant_ids(rejoined), sorted({alice_.id, bob_.id}));
  // Past the grace (2 s) the call still runs, and signals reach the rejoined session.
  EXPECT_FALSE(b.event_within("call.ended", about(id), 3s));
  auto ok = ask(b, object{{"type", "call.signal"},
                          {"call_id", id},
                          {"to_user_id", alice_.id},
                          {"data", object{{"kind", "offer"}}}});
  EXPECT_EQ(str(ok, "type"), "ack") << dump(ok);
  EXPECT_EQ(str(a->event("call.signal", about(id)).at("data"), "kind"), "offer");
}

TEST_F(CallsTest, ADroppedSocketThatDoesNotComeBackLeavesAfterTheGrace) {
  auto api = this->api();
  auto dm = make_dm(api, alice_, bob_.id);
  Live b(port(), bob_);
  auto a = std::make_unique<Live>(port(), alice_);
  auto id = str(start(*a, dm), "id");
  call_of(act(b, "call.accept", id));
  a.reset();
  EXPECT_EQ(str(b.event("call.ended", about(id), 15s), "reason"), "hangup");
}

TEST_F(CallsTest, MediaTogglesAreShownToTheOthers) {
  auto api = this->api();
  auto dm = make_dm(api, alice_, bob_.id);
  Live a(port(), alice_), b(port(), bob_);
  auto id = str(start(a, dm), "id");
  call_of(act(b, "call.accept", id));
  auto muted = call_of(ask(a, object{{"type", "call.media"},
                                     {"call_id", id},
                                     {"audio", false},
                                     {"screen", true}}));
  auto seen = b.event("call.updated", [&](const object& d) {
    auto call = field(d, "call");
    if (!call || str(*call, "id") != id) return false;
    for (const auto& p : arr(*call, "participants"))
      if (str(p, "user_id") == alice_.id) return !flag(p, "audio") && flag(p, "screen");
    return false;
  });
  EXPECT_GT(num(seen.at("call"), "version"), 0);
  EXPECT_EQ(num(muted, "version"), num(seen.at("call"), "version"));
  EXPECT_EQ(error_code(ask(a, object{{"type", "call.media"}, {"call_id", id}, {"audio", "no"}})),
            "bad_request");
}

TEST_F(CallsTest, MalformedCallFramesGetClearErrors) {
  auto api = this->api();
  auto dm = make_dm(api, alice_, bob_.id);
  Live a(port(), alice_);
  EXPECT_EQ(error_code(ask(a, object{{"type", "call.start"}, {"conversation_id", dm}})),
            "bad_request");
  auto bad_media = ask(a, object{{"type", "call.start"}, {"conversation_id", dm}, {"media", "smell"}});
  EXPECT_EQ(error_code(bad_media), "validation_failed");
  EXPECT_EQ(error_code(ask(a, object{{"type", "call.accept"}})), "bad_request");
  EXPECT_EQ(error_code(ask(a, object{{"type", "call.signal"},
                                     {"call_id", kUnknownId},
                                     {"to_user_id", bob_.id}})),
            "bad_request");
  EXPECT_EQ(error_code(ask(a, object{{"type", "call.dance"}, {"call_id", kUnknownId}})),
            "bad_request");
  // Still usable after the errors.
  a.sync();
}

TEST_F(CallsTest, ChannelCallRingsItsMembersAndOthersJoinIt) {
  auto api = this->api();
  auto ch = make_channel(api, alice_, channel_name("callch"), "public");
  join(api, bob_, ch);
  join(api, carol_, ch);
  Live a(port(), alice_), b(port(), bob_), c(port(), carol_);
  auto call = start(a, ch, "audio");
  auto id = str(call, "id");
  std::vector<std::string> rung;
  for (const auto& u : arr(call, "ringing")) rung.emplace_back(u.as_string());
  EXPECT_EQ(sorted(rung), sorted({bob_.id, carol_.id}));
  b.event("call.ringing", about(id));
  c.event("call.ringing", about(id));
  call_of(act(b, "call.accept", id));
  // Carol declines: the call goes on between the two others.
  auto after = call_of(act(c, "call.decline", id));
  EXPECT_EQ(str(after, "state"), "active");
  // A second call in the same channel is refused: join the running one.
  EXPECT_EQ(error_code(ask(c, object{{"type", "call.start"},
                                     {"conversation_id", ch},
                                     {"media", "audio"}})),
            "conflict");
  auto joined = call_of(act(c, "call.accept", id));
  EXPECT_EQ(participant_ids(joined), sorted({alice_.id, bob_.id, carol_.id}));
}

TEST_F(CallsTest, OwnersAndAdminsMuteAndRemoveParticipants) {
  auto api = this->api();
  auto group = make_group(api, alice_, {bob_.id, carol_.id});
  Live a(port(), alice_), b(port(), bob_), c(port(), carol_), d(port(), dave_);
  auto id = str(start(a, group), "id");
  call_of(act(b, "call.accept", id));
  call_of(act(c, "call.accept", id));
  auto moderate = [&](Live& ws, const char* type, const std::string& who) {
    return ask(ws, object{{"type", type}, {"call_id", id}, {"user_id", who}});
  };
  EXPECT_EQ(error_code(moderate(b, "call.kick", carol_.id)), "forbidden");  // a plain member
  EXPECT_EQ(error_code(moderate(b, "call.mute", carol_.id)), "forbidden");
  EXPECT_EQ(error_code(moderate(d, "call.kick", carol_.id)), "not_found");  // not a member
  EXPECT_EQ(error_code(moderate(a, "call.kick", dave_.id)), "not_found");   // not in the call
  EXPECT_EQ(error_code(ask(a, object{{"type", "call.mute"}, {"call_id", id}})), "bad_request");
  // Recording needs the SFU: this server has none, so a peer-to-peer call is not recorded.
  auto record = [&](Live& ws, boost::json::value on) {
    return ask(ws, object{{"type", "call.record"}, {"call_id", id}, {"on", on}});
  };
  EXPECT_EQ(error_code(record(b, true)), "forbidden");
  EXPECT_EQ(error_code(record(a, true)), "conflict");
  EXPECT_EQ(error_code(record(a, "yes")), "bad_request");

  auto muted = call_of(moderate(a, "call.mute", bob_.id));
  b.event("call.updated", [&](const object& dd) {
    auto call = field(dd, "call");
    if (!call || str(*call, "id") != id) return false;
    for (const auto& p : arr(*call, "participants"))
      if (str(p, "user_id") == bob_.id) return !flag(p, "audio");
    return false;
  });
  auto kicked = call_of(moderate(a, "call.kick", carol_.id));
  EXPECT_EQ(participant_ids(kicked), sorted({alice_.id, bob_.id}));
  c.event("call.updated", [&](const object& dd) {
    auto call = field(dd, "call");
    return call && str(*call, "id") == id && participant_ids(*call) == sorted({alice_.id, bob_.id});
  });
  EXPECT_EQ(error_code(ask(c, object{{"type", "call.signal"},
                                     {"call_id", id},
                                     {"to_user_id", alice_.id},
                                     {"data", object{{"candidate", "x"}}}})),
            "forbidden");
}

std::string hmac_sha1_base64(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  std::string out(4 * ((len + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), mac, static_cast<int>(len));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

TEST_F(CallsTest, IceServersCarryShortLivedTurnCredentials) {
  auto api = this->api();
  auto r = api.get("/api/v1/calls/ice-servers", alice_.access);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(num(r.json, "ttl"), 3600);
  auto servers = arr(r.json, "ice_servers");
  ASSERT_EQ(servers.size(), 2u) << r;
  EXPECT_EQ(boost::json::serialize(servers[0].at("urls")), R"(["stun:127.0.0.1:3478"])");
  EXPECT_TRUE(is_null_or_absent(servers[0], "credential"));
  const auto& turn = servers[1];
  EXPECT_EQ(boost::json::serialize(turn.at("urls")), R"(["turn:127.0.0.1:3478?transport=udp"])");
  auto username = str(turn, "username");
  auto colon = username.find(':');
  ASSERT_NE(colon, std::string::npos) << username;
  EXPECT_EQ(username.substr(colon + 1), alice_.id);
  auto expiry = std::stoll(username.substr(0, colon));
  auto now_s = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  EXPECT_GT(expiry, now_s + 3000);
  EXPECT_LE(expiry, now_s + 3700);
  EXPECT_EQ(str(turn, "credential"), hmac_sha1_base64(kTurnSecret, username));
  EXPECT_EQ(api.get("/api/v1/calls/ice-servers", "").status, 401);
}

}  // namespace
}  // namespace parley::itest
