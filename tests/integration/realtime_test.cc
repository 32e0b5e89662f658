// Real time over the WebSocket: send/ack, events to every member's sessions, typing, read
// state, ordering under concurrent senders, catch-up, bad frames, removal, slow consumers.
#include <atomic>
#include <map>
#include <set>

#include "chat_support.h"

namespace parley::itest {
namespace {

using namespace chat;

class RealtimeTest : public SharedServerTest {};

std::string error_code_of(const object& frame) {
  auto e = field(frame, "error");
  return e ? str(*e, "code") : "";
}

TEST_F(RealtimeTest, SendFrameIsAckedAndIdempotent) {
  auto api = this->api();
  auto a = register_account(api, "ack");
  auto b = register_account(api, "ackb");
  auto conv = make_group(api, a, {b.id});
  Live ws(port(), a);

  ws.send(send_frame("r1", conv, "  over the socket  ", "ws-1"));
  auto ack = ws.reply("ack", "r1");
  ASSERT_TRUE(field(ack, "message") && field(ack, "message")->is_object()) << dump(ack);
  const auto& m = ack.at("message").as_object();
  EXPECT_EQ(str(m, "text"), "over the socket");
  EXPECT_EQ(num(m, "seq"), 1);
  EXPECT_EQ(str(m, "sender_id"), a.id);
  EXPECT_EQ(str(m, "client_msg_id"), "ws-1");
  EXPECT_EQ(str(m, "conversation_id"), conv);

  // A retry acks the original.
  ws.send(send_frame("r2", conv, "retry text", "ws-1"));
  auto again = ws.reply("ack", "r2");
  EXPECT_EQ(str(again.at("message"), "id"), str(m, "id")) << dump(again);
  EXPECT_EQ(num(again.at("message"), "seq"), 1);
  EXPECT_EQ(str(again.at("message"), "text"), "over the socket");
  // The same id over HTTP is the same message too.
  auto http = send(api, a, conv, "via http", "ws-1");
  EXPECT_EQ(http.status, 200) << http;
  EXPECT_EQ(http.str("id"), str(m, "id"));
  EXPECT_EQ(seqs_of(all_messages(api, a, conv)), std::vector<std::int64_t>{1});

  // Refusals come back as error frames carrying req; nothing is stored.
  ws.send(send_frame("r3", kUnknownId, "x", "ws-3"));
  auto nf = ws.reply("error", "r3");
  EXPECT_EQ(error_code_of(nf), "not_found") << dump(nf);
  ws.send(send_frame("r4", conv, " \n ", "ws-4"));
  auto blank = ws.reply("error", "r4");
  EXPECT_EQ(error_code_of(blank), "validation_failed") << dump(blank);
  ws.send(send_frame("r5", conv, std::string(16001, 'x'), "ws-5"));
  auto big = ws.reply("error", "r5");
  EXPECT_EQ(error_code_of(big), "validation_failed") << dump(big);
  EXPECT_EQ(seqs_of(all_messages(api, a, conv)), std::vector<std::int64_t>{1});

  // A reply in a thread over the socket.
  object reply = send_frame("r6", conv, "threaded", "ws-6");
  reply["thread_root_id"] = str(m, "id");
  ws.send(reply);
  auto rack = ws.reply("ack", "r6");
  EXPECT_EQ(str(rack.at("message"), "thread_root_id"), str(m, "id")) << dump(rack);
  EXPECT_EQ(num(rack.at("message"), "seq"), 2);
}

TEST_F(RealtimeTest, MessageCreatedReachesEverySessionOfEveryMember) {
  auto api = this->api();
  auto a = register_account(api, "fan");
  auto a2 = login_account(api, a, "second device");
  auto b = register_account(api, "fanb");
  auto s = register_account(api, "fans");
  auto conv = make_group(api, a, {b.id});
  Live a_ws(port(), a), a_other(port(), a2), a_same_session(port(), a), b_ws(port(), b),
      s_ws(port(), s);

  a_ws.send(send_frame("f1", conv, "to everyone", "fan-1"));
  auto ack = a_ws.reply("ack", "f1");
  const std::string id = str(ack.at("message"), "id");
  for (auto* live : {&a_ws, &a_other, &a_same_session, &b_ws}) {
    auto data = live->event("message.created", with_id(id));
    EXPECT_EQ(str(data, "conversation_id"), conv) << dump(data);
    EXPECT_EQ(str(data, "text"), "to everyone");
    EXPECT_EQ(num(data, "seq"), 1);
    EXPECT_EQ(str(data, "sender_id"), a.id);
  }
  // An HTTP send reaches the sockets too.
  auto m2 = send_ok(api, b, conv, "from http");
  for (auto* live : {&a_ws, &a_other, &b_ws})
    EXPECT_EQ(num(live->event("message.created", with_id(str(m2, "id"))), "seq"), 2);
  // The stranger got nothing.
  EXPECT_FALSE(s_ws.event_within("message.created", {}, 300ms)) << "a non-member got a message";
}

TEST_F(RealtimeTest, EditDeleteAndReactionEvents) {
  auto api = this->api();
  auto a = register_account(api, "evt");
  auto b = register_account(api, "evtb");
  auto conv = make_group(api, a, {b.id});
  Live b_ws(port(), b);
  auto m = send_ok(api, a, conv, "original");
  const std::string id = str(m, "id");
  b_ws.event("message.created", with_id(id));

  ASSERT_EQ(api.patch(msg_path(id), object{{"text", "edited"}}, a.access).status, 200);
  auto upd = b_ws.event("message.updated", with_id(id));
  EXPECT_EQ(str(upd, "text"), "edited") << dump(upd);
  EXPECT_FALSE(upd.contains("reactions")) << "message.updated carries no reactions: " << dump(upd);
  EXPECT_FALSE(is_null_or_absent(upd, "edited_at")) << dump(upd);

  const std::string emoji = "\xF0\x9F\x94\xA5";
  const std::string rpath = msg_path(id) + "/reactions/" + pct(emoji);
  ASSERT_EQ(api.call("PUT", rpath, "", a.access).status, 204);
  auto added = b_ws.event("reaction.added", [&](const object& d) { return str(d, "message_id") == id; });
  EXPECT_EQ(str(added, "conversation_id"), conv);
  EXPECT_EQ(str(added, "emoji"), emoji);
  EXPECT_EQ(str(added, "user_id"), a.id);
  // A no-op PUT sends nothing; the next reaction event is the DELETE's.
  ASSERT_EQ(api.call("PUT", rpath, "", a.access).status, 204);
  ASSERT_EQ(api.call("DELETE", rpath, "", a.access).status, 204);
  ASSERT_EQ(api.call("DELETE", rpath, "", a.access).status, 204);  // no-op
  auto next = b_ws.wait(
      [](const object& f) {
        auto e = str(f, "event");
        return e == "reaction.added" || e == "reaction.removed";
      },
      5s, "a reaction event");
  EXPECT_EQ(str(next, "event"), "reaction.removed") << "a no-op PUT sent an event: " << dump(next);
  EXPECT_EQ(str(next.at("data"), "emoji"), emoji);
  EXPECT_EQ(str(next.at("data"), "user_id"), a.id);

  // Deleting: one event with id, conversation and seq.
  ASSERT_EQ(api.del(msg_path(id), a.access).status, 204);
  auto del = b_ws.event("message.deleted", with_id(id));
  EXPECT_EQ(str(del, "conversation_id"), conv);
  EXPECT_EQ(num(del, "seq"), 1);
  ASSERT_EQ(api.del(msg_path(id), a.access).status, 204);  // again: no second event...
  auto m2 = send_ok(api, a, conv, "marker");  // ...before this one
  auto after = b_ws.wait(
      [](const object& f) {
        auto e = str(f, "event");
        return e == "message.deleted" || e == "message.created" || e.rfind("reaction.", 0) == 0;
      },
      5s, "the marker");
  EXPECT_EQ(str(after, "event"), "message.created") << dump(after);
  EXPECT_EQ(str(after.at("data"), "id"), str(m2, "id"));
  // Nothing was left over: no extra reaction or delete events at all.
  EXPECT_FALSE(b_ws.event_within("reaction.removed", {}, 200ms));
  EXPECT_FALSE(b_ws.event_within("message.deleted", {}, 1ms));
}

TEST_F(RealtimeTest, ConversationAndMemberEvents) {
  auto api = this->api();
  auto a = register_account(api, "cev");
  auto b = register_account(api, "cevb");
  auto c = register_account(api, "cevc");
  Live a_ws(port(), a), b_ws(port(), b), c_ws(port(), c);

  auto g = make_group(api, a, {b.id}, "Events");
  for (auto* live : {&a_ws, &b_ws}) {
    auto d = live->event("conversation.created", with_id(g));
    EXPECT_EQ(str(d, "type"), "group") << dump(d);
    EXPECT_EQ(str(d, "name"), "Events");
  }
  ASSERT_EQ(api.patch(conv_path(g), object{{"topic", "new topic"}}, a.access).status, 200);
  EXPECT_EQ(str(b_ws.event("conversation.updated", with_id(g)), "topic"), "new topic");

  add_members(api, b, g, {c.id});
  auto mentions_c = [&](const object& d) { return mentions(d, g) && mentions(d, c.id); };
  for (auto* live : {&a_ws, &b_ws, &c_ws}) live->event("member.joined", mentions_c);

  // c leaves: members and c hear of it.
  ASSERT_EQ(api.post(conv_path(g) + "/leave", std::string_view("{}"), c.access).status, 204);
  for (auto* live : {&a_ws, &b_ws, &c_ws}) live->event("member.left", mentions_c);

  // Joining a public channel: the joiner hears it too.
  auto ch = make_channel(api, a, channel_name("cev"));
  join(api, c, ch);
  auto joined = [&](const object& d) { return mentions(d, ch) && mentions(d, c.id); };
  a_ws.event("member.joined", joined);
  c_ws.event("member.joined", joined);
  // And then receives its messages.
  auto m = send_ok(api, a, ch, "welcome");
  c_ws.event("message.created", with_id(str(m, "id")));
  // b is in neither the channel nor anything new: no channel events for b.
  EXPECT_FALSE(b_ws.seen_within([&](const object& f) { return mentions(f, ch); }, 300ms))
      << "a non-member got a channel event";
}

TEST_F(RealtimeTest, ReadUpdatedGoesToTheCallersOtherSessionsOnly) {
  auto api = this->api();
  auto a = register_account(api, "rdu");
  auto b1 = register_account(api, "rdub");
  auto b2 = login_account(api, b1, "phone");
  auto conv = make_group(api, a, {b1.id});
  for (int i = 0; i < 3; ++i) send_ok(api, a, conv, "msg " + std::to_string(i));
  Live a_ws(port(), a), b_first(port(), b1), b_second(port(), b2);

  // Over the socket: no answer on success; the other session hears it.
  b_first.send(object{{"type", "read"}, {"conversation_id", conv}, {"seq", 2}});
  auto d = b_second.event("read.updated", with_conv(conv));
  EXPECT_EQ(num(d, "last_read_seq"), 2) << dump(d);
  b_first.sync();
  EXPECT_FALSE(b_first.seen_within(
      [](const object& f) { return str(f, "event") == "read.updated" || str(f, "type") == "error"; },
      200ms))
      << "the reading session itself got an answer";
  EXPECT_FALSE(a_ws.event_within("read.updated", {}, 1ms)) << "another user got read.updated";
  auto view = get_conv(api, b1, conv);
  EXPECT_EQ(num(view.json, "last_read_seq"), 2) << view;
  EXPECT_EQ(num(view.json, "unread_count"), 1) << view;

  // Backwards does not move it, so no event; forwards over HTTP does.
  b_first.send(object{{"type", "read"}, {"conversation_id", conv}, {"seq", 1}});
  b_first.sync();
  ASSERT_EQ(api.post(conv_path(conv) + "/read", object{{"seq", 3}}, b1.access).status, 200);
  auto d2 = b_second.event("read.updated", with_conv(conv));
  EXPECT_EQ(num(d2, "last_read_seq"), 3) << "the backwards read sent an event: " << dump(d2);
  EXPECT_FALSE(a_ws.event_within("read.updated", {}, 200ms));

  // A read frame for a conversation the user is not in: an error frame.
  auto other = make_channel(api, a, channel_name("rdu"), "private");
  b_first.send(object{{"type", "read"}, {"conversation_id", other}, {"seq", 1}});
  auto err = b_first.wait([](const object& f) { return str(f, "type") == "error"; }, 5s,
                          "an error frame");
  EXPECT_EQ(error_code_of(err), "not_found") << dump(err);
}

TEST_F(RealtimeTest, TypingIsRelayedToOthersAndThrottled) {
  auto api = this->api();
  auto a = register_account(api, "typ");
  auto b = register_account(api, "typb");
  auto c = register_account(api, "typc");
  auto s = register_account(api, "typs");
  auto conv = make_group(api, a, {b.id, c.id});
  Live a_ws(port(), a), b_ws(port(), b), c_ws(port(), c), s_ws(port(), s);
  auto typing = [&](Live& who) { who.send(object{{"type", "typing"}, {"conversation_id", conv}}); };
  auto from_a = [&](const object& d) {
    return str(d, "conversation_id") == conv && str(d, "user_id") == a.id;
  };

  // The server's 3 s window starts between sent and seen.
  auto sent = Clock::now();
  typing(a_ws);
  b_ws.event("typing", from_a);
  auto seen = Clock::now();
  c_ws.event("typing", from_a);
  // More within 3 s are dropped silently.
  for (int i = 0; i < 5; ++i) typing(a_ws);
  a_ws.sync();
  auto echo = a_ws.seen_within(
      [](const object& f) { return str(f, "type") == "error" || str(f, "event") == "typing"; },
      1ms);
  EXPECT_FALSE(echo) << "typing got an answer or an echo: " << dump(*echo);
  auto extra = b_ws.event_within("typing", from_a,
                                 std::chrono::duration_cast<std::chrono::milliseconds>(
                                     sent + 2800ms - Clock::now()));
  EXPECT_FALSE(extra) << "a second typing within 3 s was relayed";
  EXPECT_FALSE(s_ws.event_within("typing", {}, 1ms)) << "a non-member saw typing";
  // Another user is throttled separately.
  typing(b_ws);
  a_ws.event("typing", [&](const object& d) { return str(d, "user_id") == b.id; });
  // After 3 s, a's typing is relayed again.
  std::this_thread::sleep_until(seen + 3150ms);
  typing(a_ws);
  b_ws.event("typing", from_a);

  // Errors: not a member, or no conversation.
  s_ws.send(object{{"type", "typing"}, {"conversation_id", conv}});
  auto err = s_ws.wait([](const object& f) { return str(f, "type") == "error"; }, 5s, "error");
  EXPECT_EQ(error_code_of(err), "not_found") << dump(err);
  s_ws.send(object{{"type", "typing"}});
  auto bad = s_ws.wait([](const object& f) { return str(f, "type") == "error"; }, 5s, "error");
  EXPECT_EQ(error_code_of(bad), "bad_request") << dump(bad);
}

TEST_F(RealtimeTest, UserUpdatedAfterProfileChange) {
  auto api = this->api();
  auto a = register_account(api, "uup");
  auto b = register_account(api, "uupb");
  auto s = register_account(api, "uups");
  make_dm(api, a, b.id);
  Live a_ws(port(), a), b_ws(port(), b), s_ws(port(), s);
  auto r = api.patch("/api/v1/users/me", object{{"display_name", "Renamed A"}}, a.access);
  ASSERT_EQ(r.status, 200) << r;
  for (auto* live : {&a_ws, &b_ws}) {
    auto d = live->event("user.updated", with_id(a.id));
    EXPECT_EQ(str(d, "display_name"), "Renamed A") << dump(d);
    EXPECT_EQ(str(d, "username"), a.username);
    EXPECT_FALSE(d.contains("email")) << dump(d);
  }
  EXPECT_FALSE(s_ws.event_within("user.updated", {}, 300ms))
      << "a user sharing no conversation got user.updated";
}

TEST_F(RealtimeTest, ConcurrentSendersAllSeeOneGapFreeOrder) {
  auto api = this->api();
  constexpr int kSenders = 4, kEach = 100, kTotal = kSenders * kEach;
  std::vector<Account> senders;
  for (int i = 0; i < kSenders; ++i) senders.push_back(register_account(api, "ord"));
  auto watcher = register_account(api, "ordw");
  std::vector<std::string> others;
  for (int i = 1; i < kSenders; ++i) others.push_back(senders[static_cast<std::size_t>(i)].id);
  others.push_back(watcher.id);
  auto conv = make_group(api, senders[0], others);

  std::vector<std::unique_ptr<Live>> sockets;
  for (const auto& s : senders) sockets.push_back(std::make_unique<Live>(port(), s));
  sockets.push_back(std::make_unique<Live>(port(), watcher));

  // What each session saw: seq -> message id, in arrival order; and the acks.
  std::vector<std::vector<std::pair<std::int64_t, std::string>>> seen(sockets.size());
  std::vector<std::map<std::string, std::pair<std::int64_t, std::string>>> acks(kSenders);
  run_parallel(static_cast<int>(sockets.size()), [&](int t) {
    auto& live = *sockets[static_cast<std::size_t>(t)];
    auto& mine = seen[static_cast<std::size_t>(t)];
    if (t < kSenders) {
      for (int i = 0; i < kEach; ++i) {
        std::string req = "q" + std::to_string(i);
        std::string cmid = "s" + std::to_string(t) + "-" + std::to_string(i);
        live.send(send_frame(req, conv, "sender " + std::to_string(t) + " #" + std::to_string(i),
                             cmid));
        auto ans = live.answer(req, 20s);
        if (str(ans, "type") != "ack") throw std::runtime_error("send refused: " + dump(ans));
        acks[static_cast<std::size_t>(t)][cmid] = {num(ans.at("message"), "seq"),
                                                   str(ans.at("message"), "id")};
      }
    }
    for (int n = 0; n < kTotal; ++n) {
      auto d = live.event("message.created", with_conv(conv), 30s);
      mine.emplace_back(num(d, "seq"), str(d, "id"));
    }
  });

  // Every session: seqs 1..N in order, no duplicates, the same id for each seq.
  std::map<std::int64_t, std::string> id_of;
  for (std::size_t t = 0; t < seen.size(); ++t) {
    std::vector<std::int64_t> seqs;
    for (const auto& [seq, id] : seen[t]) {
      seqs.push_back(seq);
      auto [it, fresh] = id_of.emplace(seq, id);
      EXPECT_EQ(it->second, id) << "session " << t << " saw another message at seq " << seq;
    }
    EXPECT_EQ(seqs, range(1, kTotal)) << "session " << t << " saw a different order";
  }
  // Acks match what was delivered; every seq was acked once.
  std::set<std::int64_t> acked;
  for (const auto& per : acks)
    for (const auto& [cmid, sa] : per) {
      EXPECT_TRUE(acked.insert(sa.first).second) << "seq " << sa.first << " acked twice";
      EXPECT_EQ(id_of[sa.first], sa.second) << cmid;
    }
  EXPECT_EQ(acked.size(), static_cast<std::size_t>(kTotal));
  // History agrees.
  auto all = all_messages(api, watcher, conv);
  ASSERT_EQ(seqs_of(all), range(1, kTotal));
  for (const auto& m : all) EXPECT_EQ(str(m, "id"), id_of[num(m, "seq")]);
  // No session got more.
  for (auto& live : sockets)
    EXPECT_FALSE(live->event_within("message.created", with_conv(conv), 1ms)) << "an extra event";
}

// Before: each frame went to the worker pool on its own, so 20 quick sends from one socket
// were stored as w0, w2, w1, ... Now a connection's sends are stored in the order sent, and the
// same holds for HTTP sends made one after another.
TEST_F(RealtimeTest, FramesOfOneSocketAreStoredInTheOrderSent) {
  auto api = this->api();
  auto sender = register_account(api, "fifo");
  auto watcher = register_account(api, "fifow");
  auto conv = make_group(api, sender, {watcher.id});
  Live out(port(), sender);
  Live in(port(), watcher);
  constexpr int kFrames = 500;
  for (int i = 0; i < kFrames; ++i)  // written back to back, no waiting for acks
    out.send(send_frame("w" + std::to_string(i), conv, "w" + std::to_string(i),
                        "fifo-" + std::to_string(i)));
  std::vector<std::string> texts;
  for (int i = 0; i < kFrames; ++i)
    texts.push_back(str(in.event("message.created", with_conv(conv), 30s), "text"));
  for (int i = 0; i < kFrames; ++i)
    ASSERT_EQ(texts[static_cast<std::size_t>(i)], "w" + std::to_string(i))
        << "the receiver saw frame " << texts[static_cast<std::size_t>(i)] << " at " << i;
  for (int i = 0; i < 50; ++i) send_ok(api, sender, conv, "h" + std::to_string(i));
  auto all = all_messages(api, watcher, conv);
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kFrames + 50));
  for (int i = 0; i < kFrames + 50; ++i)
    EXPECT_EQ(str(all[static_cast<std::size_t>(i)], "text"),
              (i < kFrames ? "w" + std::to_string(i) : "h" + std::to_string(i - kFrames)));
}

TEST_F(RealtimeTest, FramesForAPrivateConversationAnswerLikeAnUnknownOne) {
  auto api = this->api();
  auto a = register_account(api, "wsinv");
  auto s = register_account(api, "wsinvs");
  std::vector<std::string> hidden = {make_channel(api, a, channel_name("wsinv"), "private"),
                                     make_dm(api, a, register_account(api, "wsinvb").id)};
  for (const auto& conv : hidden) send_ok(api, a, conv, "private words");
  Live ws(port(), s);
  auto error_of = [&](const object& frame, const std::string& req) {
    ws.send(frame);
    auto f = req.empty() ? ws.wait([](const object& f) { return str(f, "type") == "error"; }, 5s,
                                   "an error frame")
                         : ws.answer(req);
    EXPECT_EQ(str(f, "type"), "error") << dump(f);
    return field(f, "error") ? boost::json::serialize(*field(f, "error")) : std::string();
  };
  int n = 0;
  for (const auto& conv : hidden) {
    for (auto kind : {"send", "typing", "read"}) {
      auto frame_for = [&](const std::string& id, const std::string& req) {
        object f{{"type", kind}, {"conversation_id", id}};
        if (std::string(kind) == "send") {
          f["req"] = req;
          f["text"] = "intrusion";
          f["client_msg_id"] = "intr-" + req;
        }
        if (std::string(kind) == "read") f["seq"] = 1;
        return f;
      };
      bool with_req = std::string(kind) == "send";
      std::string r1 = with_req ? "h" + std::to_string(++n) : "";
      std::string r2 = with_req ? "u" + std::to_string(++n) : "";
      auto h = error_of(frame_for(conv, r1), r1);
      auto u = error_of(frame_for(kUnknownId, r2), r2);
      EXPECT_NE(h.find("\"not_found\""), std::string::npos) << kind << ": " << h;
      EXPECT_EQ(h, u) << kind << ": a private conversation answers differently from an unknown one";
    }
  }
  for (const auto& conv : hidden) {
    EXPECT_EQ(seqs_of(all_messages(api, a, conv)), std::vector<std::int64_t>{1});
    // a sent seq 1 (which moved a's read marker to 1); the outsider's read frame changed nothing.
    EXPECT_EQ(num(get_conv(api, a, conv).json, "last_read_seq"), 1);
  }
  ws.sync();  // still open
}

TEST_F(RealtimeTest, CatchUpAfterDisconnect) {
  auto api = this->api();
  auto a = register_account(api, "cu");
  auto b = register_account(api, "cub");
  auto conv = make_group(api, a, {b.id});
  std::int64_t last_seen = 0;
  {
    Live b_ws(port(), b);
    for (int i = 0; i < 3; ++i) {
      auto m = send_ok(api, a, conv, "live " + std::to_string(i));
      last_seen = num(b_ws.event("message.created", with_id(str(m, "id"))), "seq");
    }
    b_ws.raw().close();
  }
  std::vector<std::string> missed;
  for (int i = 0; i < 5; ++i) missed.push_back(str(send_ok(api, a, conv, "missed " + std::to_string(i)), "id"));

  // The client lists conversations, sees last_seq moved, and fetches after what it saw.
  auto list = api.get(kConv, b.access);
  ASSERT_EQ(list.status, 200) << list;
  ASSERT_EQ(arr(list.json, "conversations").size(), 1u);
  auto listed = arr(list.json, "conversations")[0];
  EXPECT_EQ(num(listed, "last_seq"), last_seen + 5) << dump(listed);
  auto page = history(api, b, conv, "after_seq=" + std::to_string(last_seen));
  ASSERT_EQ(page.status, 200) << page;
  std::vector<std::string> got;
  for (const auto& m : arr(page.json, "messages")) got.push_back(str(m, "id"));
  EXPECT_EQ(got, missed);
  EXPECT_FALSE(flag(page.json, "has_more"));

  // Reconnected, new messages arrive live again.
  Live again(port(), b);
  auto m = send_ok(api, a, conv, "back");
  EXPECT_EQ(num(again.event("message.created", with_id(str(m, "id"))), "seq"), last_seen + 6);
}

TEST_F(RealtimeTest, MalformedFramesGetErrorsAndTheSocketStaysUsable) {
  auto api = this->api();
  auto a = register_account(api, "bad");
  auto conv = make_group(api, a, {register_account(api, "badb").id});
  Live ws(port(), a);
  struct Case {
    std::string what, frame, req, code;
  };
  const std::string c = conv;
  const std::vector<Case> cases = {
      {"bad JSON", "{\"type\":\"send\",", "", "bad_request"},
      {"not an object", "[\"send\"]", "", "bad_request"},
      {"unknown type", R"({"type":"shout","req":"u1"})", "u1", "bad_request"},
      {"type not a string", R"({"type":["send"],"req":"u2"})", "", "bad_request"},
      {"send without fields", R"({"type":"send","req":"m1"})", "m1", "bad_request"},
      {"send without text", R"({"type":"send","req":"m2","conversation_id":")" + c +
                                R"(","client_msg_id":"x2"})",
       "m2", "bad_request"},
      {"send without client_msg_id",
       R"({"type":"send","req":"m3","conversation_id":")" + c + R"(","text":"hi"})", "m3",
       "bad_request"},
      {"conversation_id a number",
       R"({"type":"send","req":"m4","conversation_id":5,"text":"hi","client_msg_id":"x4"})", "m4",
       "bad_request"},
      {"text an array", R"({"type":"send","req":"m5","conversation_id":")" + c +
                            R"(","text":["hi"],"client_msg_id":"x5"})",
       "m5", "bad_request"},
      {"client_msg_id a number", R"({"type":"send","req":"m6","conversation_id":")" + c +
                                     R"(","text":"hi","client_msg_id":6})",
       "m6", "bad_request"},
      {"typing without conversation", R"({"type":"typing"})", "", "bad_request"},
      {"typing with a number", R"({"type":"typing","conversation_id":1})", "", "bad_request"},
      {"read without seq", R"({"type":"read","conversation_id":")" + c + R"("})", "",
       "bad_request"},
      {"read with a string seq", R"({"type":"read","conversation_id":")" + c + R"(","seq":"2"})",
       "", "bad_request"},
      {"read with a negative seq", R"({"type":"read","conversation_id":")" + c + R"(","seq":-1})",
       "", "validation_failed"},
  };
  for (const auto& k : cases) {
    ws.send_raw(k.frame);
    auto err = ws.wait([](const object& f) { return str(f, "type") == "error"; }, 5s,
                       "the error frame for " + k.what);
    EXPECT_EQ(error_code_of(err), k.code) << k.what << ": " << dump(err);
    EXPECT_FALSE(str(*field(err, "error"), "message").empty()) << k.what << ": " << dump(err);
    if (!k.req.empty()) {
      EXPECT_EQ(str(err, "req"), k.req) << k.what << ": " << dump(err);
    }
    EXPECT_FALSE(ws.raw().close_code()) << "closed after " << k.what;
  }
  ws.sync();  // a ping still pongs
  EXPECT_TRUE(all_messages(api, a, conv).empty()) << "a malformed send stored a message";
  // And the socket still sends.
  ws.send(send_frame("ok", conv, "still works", "fine-1"));
  EXPECT_EQ(str(ws.reply("ack", "ok"), "type"), "ack");
}

TEST_F(RealtimeTest, OversizeFrameClosesWith1009) {
  auto api = this->api();
  auto a = register_account(api, "big");
  auto conv = make_group(api, a, {register_account(api, "bigb").id});
  Live ws(port(), a);
  (void)ws.raw().send_text(boost::json::serialize(
      send_frame("huge", conv, std::string(70 * 1024, 'h'), "huge-1")));
  EXPECT_EQ(ws_wait_close(ws.raw(), 5s), 1009);
  EXPECT_TRUE(all_messages(api, a, conv).empty());
}

TEST_F(RealtimeTest, RemovedMemberStopsReceivingAtOnce) {
  auto api = this->api();
  auto a = register_account(api, "rm");
  auto b = register_account(api, "rmb");
  auto c = register_account(api, "rmc");
  auto conv = make_group(api, a, {b.id, c.id});
  Live b_ws(port(), b), c_ws(port(), c);

  // Messages flow while c is removed.
  constexpr int kMessages = 60;
  std::atomic<int> sent{0};
  std::vector<std::string> ids(kMessages);
  std::thread sender([&] {
    Api mine(port());
    for (int i = 0; i < kMessages; ++i) {
      auto r = send(mine, a, conv, "flow " + std::to_string(i));
      EXPECT_EQ(r.status, 201) << "send " << i << ": " << r;
      ids[static_cast<std::size_t>(i)] = r.str("id");
      ++sent;
    }
  });
  while (sent < 15) std::this_thread::sleep_for(1ms);
  auto removed = api.del(conv_path(conv) + "/members/" + c.id, a.access);
  sender.join();
  ASSERT_EQ(removed.status, 204) << removed;
  auto last = send_ok(api, a, conv, "after the removal");

  // b gets everything.
  for (int i = 0; i < kMessages; ++i) b_ws.event("message.created", with_id(ids[static_cast<std::size_t>(i)]));
  b_ws.event("message.created", with_id(str(last, "id")));
  // c gets member.left, then nothing of the conversation.
  auto left = c_ws.event("member.left", [&](const object& d) { return mentions(d, c.id); });
  EXPECT_TRUE(mentions(left, conv)) << dump(left);
  std::int64_t max_before = 0;
  for (const auto& f : c_ws.kept()) {
    // Frames kept so far arrived before member.left.
    if (str(f, "event") == "message.created") max_before = std::max(max_before, num(f.at("data"), "seq"));
  }
  c_ws.forget();
  auto later = c_ws.seen_within([&](const object& f) { return mentions(f, conv); }, 300ms);
  EXPECT_FALSE(later) << "c got an event of the conversation after member.left: " << dump(*later);
  EXPECT_LT(max_before, num(last, "seq")) << "c got the message sent after the removal";
  EXPECT_EQ(get_conv(api, c, conv).status, 404);
}

TEST_F(RealtimeTest, SlowConsumerIsClosedWith4008WhileOthersKeepUp) {
  auto api = this->api();
  auto a = register_account(api, "slow");
  auto slow_user = register_account(api, "slowb");
  auto fast_user = register_account(api, "slowc");
  auto conv = make_group(api, a, {slow_user.id, fast_user.id});
  Live slow(port(), slow_user);  // never read from until the end
  // Large events (16,000 three-byte characters, about 48 KB a frame) fill the TCP buffers
  // after a hundred or so; then the server's 1024-frame queue overflows. 1300 leaves room for
  // about 13 MB of kernel buffering.
  constexpr int kMessages = 1300, kSenders = 2;
  std::string text;
  for (int i = 0; i < 16'000; ++i) text += "\xE6\x95\xB0";  // 数
  std::atomic<bool> connected{false};
  std::atomic<bool> fast_done{false};
  std::atomic<int> fast_seen{0};
  std::string fast_error;
  std::vector<std::int64_t> fast_seqs;
  std::thread fast([&] {
    try {
      Live live(port(), fast_user);
      connected = true;
      for (int i = 0; i < kMessages; ++i) {
        fast_seqs.push_back(num(live.event("message.created", with_conv(conv), 60s), "seq"));
        ++fast_seen;
      }
    } catch (const std::exception& e) {
      fast_error = e.what();
    }
    connected = true;
    fast_done = true;
  });
  while (!connected) std::this_thread::sleep_for(1ms);
  std::atomic<int> failures{0};
  // The senders stay at most kWindow messages (about 0.8 MB) ahead of the fast reader, so it
  // keeps up however loaded the machine is (its lag always fits its 1 MiB queue), while the
  // slow reader, which reads nothing, falls ever further behind.
  constexpr int kWindow = 16;
  run_parallel(kSenders, [&](int t) {
    Api mine(port(), 30s);
    for (int i = t; i < kMessages; i += kSenders) {
      while (i - fast_seen.load() > kWindow && !fast_done) std::this_thread::sleep_for(1ms);
      if (send(mine, a, conv, text).status != 201) ++failures;
    }
  });
  fast.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(fast_error.empty()) << "the fast reader fell behind or was closed: " << fast_error;
  EXPECT_EQ(fast_seqs, range(1, kMessages)) << "the fast reader missed or reordered messages";
  // The slow one: what it has buffered, then a close with 4008.
  int drained = 0;
  while (slow.raw().read_text(30s)) ++drained;
  EXPECT_LT(drained, kMessages) << "the slow reader was not cut off";
  EXPECT_EQ(slow.raw().close_code(), 4008);
}

TEST_F(RealtimeTest, JoinerGetsEveryMessageFromItsJoinOn) {
  auto api = this->api();
  auto a = register_account(api, "jn");
  auto c = register_account(api, "jnc");
  auto ch = make_channel(api, a, channel_name("jn"));
  Live c_ws(port(), c);
  constexpr int kMessages = 150;
  std::atomic<int> sent{0};
  std::thread sender([&] {
    Api mine(port());
    for (int i = 0; i < kMessages; ++i) {
      send(mine, a, ch, "stream " + std::to_string(i));
      ++sent;
    }
  });
  while (sent < 30) std::this_thread::sleep_for(1ms);
  auto joined = api.post(conv_path(ch) + "/join", std::string_view("{}"), c.access);
  sender.join();
  ASSERT_EQ(joined.status, 200) << joined;
  const auto at_join = num(joined.json, "last_seq");
  ASSERT_LT(at_join, kMessages) << "the join came after the stream; nothing to check";
  // From its first message event on, the joiner sees every seq up to the end, in order.
  std::vector<std::int64_t> got;
  for (;;) {
    auto d = c_ws.event_within("message.created", with_conv(ch), 3s);
    if (!d) break;
    got.push_back(num(field(*d, "data") ? field(*d, "data")->as_object() : object(), "seq"));
    c_ws.kept().erase(std::find(c_ws.kept().begin(), c_ws.kept().end(), *d));
    if (got.back() == kMessages) break;
  }
  ASSERT_FALSE(got.empty()) << "the joiner got no messages";
  EXPECT_LE(got.front(), at_join + 1) << "messages after the join were lost";
  EXPECT_EQ(got, range(got.front(), kMessages)) << "gaps or disorder for the joiner";
}

}  // namespace
}  // namespace parley::itest
