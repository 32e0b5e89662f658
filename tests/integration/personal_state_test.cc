// A user's own state kept by the server: mentions and mention counts, starred conversations,
// saved messages, "mark as unread", and archived (read-only) conversations.
#include "chat_support.h"

namespace parley::itest {
namespace {

using namespace chat;

class PersonalStateTest : public SharedServerTest {};

std::vector<std::string> strings_of(const array& a) {
  std::vector<std::string> out;
  for (const auto& v : a)
    if (v.is_string()) out.emplace_back(v.as_string());
  return out;
}

std::vector<std::string> ids_in(const Reply& r) {
  std::vector<std::string> out;
  for (const auto& m : arr(r.json, "messages")) out.push_back(str(m, "id"));
  return out;
}

// The caller's view of conv in GET /conversations (throws when absent).
object listed(Api& api, const Account& who, const std::string& conv) {
  auto r = api.get(kConv + "?limit=200", who.access);
  if (r.status != 200) fail_reply("list conversations", r);
  for (const auto& c : arr(r.json, "conversations"))
    if (str(c, "id") == conv) return c.as_object();
  throw std::runtime_error("conversation " + conv + " not listed");
}

TEST_F(PersonalStateTest, MentionsAreResolvedStoredAndCounted) {
  auto api = this->api();
  auto a = register_account(api, "mna");
  auto b = register_account(api, "mnb");
  auto outsider = register_account(api, "mnc");
  auto conv = make_group(api, a, {b.id});
  Live b_ws(port(), b);

  // Upper case is fine; a trailing dot ends the name; a non-member is just text.
  auto m = send_ok(api, a, conv,
                   "hi @" + b.username + ". and @" + outsider.username + " @HERE, @" + b.username);
  EXPECT_EQ(strings_of(arr(m, "mentions")), std::vector<std::string>{b.id}) << dump(m);
  EXPECT_TRUE(flag(m, "mention_all")) << dump(m);
  auto created = b_ws.event("message.created", with_id(str(m, "id")));
  EXPECT_EQ(strings_of(arr(created, "mentions")), std::vector<std::string>{b.id});
  EXPECT_TRUE(flag(created, "mention_all"));
  auto fetched = get_message(api, b, str(m, "id"));
  EXPECT_EQ(strings_of(arr(fetched, "mentions")), std::vector<std::string>{b.id});

  auto plain = send_ok(api, a, conv, "no one");
  ASSERT_TRUE(field(plain, "mentions") && field(plain, "mentions")->is_array()) << dump(plain);
  EXPECT_TRUE(arr(plain, "mentions").empty());
  ASSERT_TRUE(field(plain, "mention_all") && field(plain, "mention_all")->is_bool());

  auto view = get_conv(api, b, conv);
  EXPECT_EQ(num(view.json, "mention_count"), 1) << view;
  EXPECT_EQ(num(view.json, "unread_count"), 2) << view;
  EXPECT_EQ(num(listed(api, b, conv), "mention_count"), 1);
  EXPECT_EQ(num(get_conv(api, a, conv).json, "mention_count"), 0);  // their own message

  // An edit recomputes them.
  auto edited = api.patch(msg_path(str(m, "id")), object{{"text", "now just text"}}, a.access);
  ASSERT_EQ(edited.status, 200) << edited;
  EXPECT_TRUE(arr(edited.json, "mentions").empty());
  EXPECT_FALSE(flag(edited.json, "mention_all"));
  auto updated = b_ws.event("message.updated", with_id(str(m, "id")));
  EXPECT_FALSE(flag(updated, "mention_all")) << dump(updated);
  EXPECT_EQ(num(get_conv(api, b, conv).json, "mention_count"), 0);

  auto again = send_ok(api, a, conv, "@" + b.username + " look");
  auto read = api.post(conv_path(conv) + "/read", object{{"seq", 2}}, b.access);
  ASSERT_EQ(read.status, 200) << read;
  EXPECT_EQ(num(read.json, "mention_count"), 1) << read;
  read = api.post(conv_path(conv) + "/read", object{{"seq", num(again, "seq")}}, b.access);
  EXPECT_EQ(num(read.json, "mention_count"), 0) << read;

  // In a DM, @channel is only text.
  auto dm = make_dm(api, a, b.id);
  auto in_dm = send_ok(api, a, dm, "@channel @" + b.username);
  EXPECT_FALSE(flag(in_dm, "mention_all")) << dump(in_dm);
  EXPECT_EQ(strings_of(arr(in_dm, "mentions")), std::vector<std::string>{b.id});
  EXPECT_EQ(num(get_conv(api, b, dm).json, "mention_count"), 1);
}

TEST_F(PersonalStateTest, StarsArePerMemberAndToldToEverySession) {
  auto api = this->api();
  auto a = register_account(api, "sta");
  auto a2 = login_account(api, a, "second device");
  auto b = register_account(api, "stb");
  auto outsider = register_account(api, "stc");
  auto conv = make_group(api, a, {b.id});
  Live a_ws(port(), a), a_other(port(), a2), b_ws(port(), b);

  EXPECT_FALSE(flag(get_conv(api, a, conv).json, "starred"));
  auto put = api.call("PUT", conv_path(conv) + "/star", {}, a.access);
  ASSERT_EQ(put.status, 204) << put;
  for (auto* ws : {&a_ws, &a_other}) {
    auto e = ws->event("star.updated", with_conv(conv));
    EXPECT_TRUE(flag(e, "starred")) << dump(e);
  }
  EXPECT_EQ(api.call("PUT", conv_path(conv) + "/star", {}, a.access).status, 204);  // idempotent
  EXPECT_TRUE(flag(get_conv(api, a, conv).json, "starred"));
  EXPECT_TRUE(flag(listed(api, a, conv), "starred"));
  EXPECT_FALSE(flag(get_conv(api, b, conv).json, "starred"));
  EXPECT_FALSE(b_ws.event_within("star.updated", {}, 200ms)) << "another user heard of the star";

  auto del = api.del(conv_path(conv) + "/star", a.access);
  ASSERT_EQ(del.status, 204) << del;
  auto off = a_other.event("star.updated", [](const object& d) { return !flag(d, "starred"); });
  EXPECT_EQ(str(off, "conversation_id"), conv);
  EXPECT_FALSE(flag(get_conv(api, a, conv).json, "starred"));
  EXPECT_EQ(api.del(conv_path(conv) + "/star", a.access).status, 204);

  EXPECT_EQ(api.call("PUT", conv_path(conv) + "/star", {}, outsider.access).status, 404);
  EXPECT_EQ(api.del(conv_path(conv) + "/star", outsider.access).status, 404);
  EXPECT_EQ(api.call("PUT", conv_path(kUnknownId) + "/star", {}, a.access).status, 404);
  // A public channel one has not joined: not a member, so 404 too.
  auto pub = make_channel(api, b, channel_name("stp"));
  EXPECT_EQ(api.call("PUT", conv_path(pub) + "/star", {}, a.access).status, 404);
}

TEST_F(PersonalStateTest, SavedMessagesAreListedNewestFirstWhileVisible) {
  auto api = this->api();
  auto a = register_account(api, "sva");
  auto a2 = login_account(api, a, "second device");
  auto b = register_account(api, "svb");
  auto outsider = register_account(api, "svc");
  auto conv = make_group(api, b, {a.id});
  auto keep = make_group(api, b, {a.id});
  Live a_ws(port(), a), a_other(port(), a2);
  auto m1 = str(send_ok(api, b, conv, "one"), "id");
  auto m2 = str(send_ok(api, b, conv, "two"), "id");
  auto m3 = str(send_ok(api, b, keep, "three"), "id");
  auto m4 = str(send_ok(api, b, keep, "four"), "id");

  for (const auto& id : {m1, m2, m3, m4}) {
    auto r = api.call("PUT", msg_path(id) + "/saved", {}, a.access);
    ASSERT_EQ(r.status, 204) << r;
  }
  for (auto* ws : {&a_ws, &a_other}) {
    auto e =
        ws->event("saved.updated", [&](const object& d) { return str(d, "message_id") == m1; });
    EXPECT_TRUE(flag(e, "saved")) << dump(e);
  }
  auto e =
      a_other.event("saved.updated", [&](const object& d) { return str(d, "message_id") == m2; });
  EXPECT_EQ(str(e, "conversation_id"), conv) << dump(e);
  EXPECT_TRUE(flag(e, "saved")) << dump(e);
  EXPECT_EQ(api.call("PUT", msg_path(m1) + "/saved", {}, a.access).status, 204);  // idempotent

  auto all = api.get("/api/v1/users/me/saved", a.access);
  ASSERT_EQ(all.status, 200) << all;
  EXPECT_EQ(ids_in(all), (std::vector<std::string>{m4, m3, m2, m1}));
  EXPECT_TRUE(is_null_or_absent(all.json, "next_cursor"));
  auto first = api.get("/api/v1/users/me/saved?limit=3", a.access);
  EXPECT_EQ(ids_in(first), (std::vector<std::string>{m4, m3, m2}));
  ASSERT_FALSE(str(first.json, "next_cursor").empty()) << first;
  auto rest =
      api.get("/api/v1/users/me/saved?limit=3&cursor=" + str(first.json, "next_cursor"), a.access);
  EXPECT_EQ(ids_in(rest), std::vector<std::string>{m1}) << rest;
  EXPECT_EQ(api.get("/api/v1/users/me/saved?cursor=zz", a.access).status, 422);
  EXPECT_TRUE(ids_in(api.get("/api/v1/users/me/saved", b.access)).empty());

  // Unsaving; a deleted message and a conversation left are left out.
  ASSERT_EQ(api.del(msg_path(m4) + "/saved", a.access).status, 204);
  auto unsaved = a_ws.event("saved.updated", [&](const object& d) {
    return str(d, "message_id") == m4 && !flag(d, "saved");
  });
  EXPECT_EQ(str(unsaved, "conversation_id"), keep);
  EXPECT_EQ(api.del(msg_path(m4) + "/saved", a.access).status, 204);
  ASSERT_EQ(api.del(msg_path(m3), b.access).status, 204);
  ASSERT_EQ(api.post(conv_path(conv) + "/leave", std::string_view("{}"), a.access).status, 204);
  EXPECT_TRUE(ids_in(api.get("/api/v1/users/me/saved", a.access)).empty());

  // Only a message the caller can see.
  EXPECT_EQ(api.call("PUT", msg_path(m1) + "/saved", {}, a.access).status, 404);
  EXPECT_EQ(api.call("PUT", msg_path(m1) + "/saved", {}, outsider.access).status, 404);
  EXPECT_EQ(api.del(msg_path(m1) + "/saved", outsider.access).status, 404);
  EXPECT_EQ(api.call("PUT", msg_path(kUnknownId) + "/saved", {}, a.access).status, 404);
  EXPECT_EQ(api.get("/api/v1/users/me/saved").status, 401);
}

TEST_F(PersonalStateTest, MarkUnreadMovesTheReadMarkerBack) {
  auto api = this->api();
  auto a = register_account(api, "ura");
  auto b = register_account(api, "urb");
  auto b2 = login_account(api, b, "second device");
  auto outsider = register_account(api, "urc");
  auto conv = make_group(api, a, {b.id});
  send_ok(api, a, conv, "one");
  send_ok(api, a, conv, "@" + b.username + " two");
  send_ok(api, a, conv, "three");
  ASSERT_EQ(api.post(conv_path(conv) + "/read", object{{"seq", 3}}, b.access).status, 200);
  Live b_ws(port(), b), b_other(port(), b2), a_ws(port(), a);

  auto r = api.post(conv_path(conv) + "/unread", object{{"seq", 2}}, b.access);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(str(r.json, "conversation_id"), conv);
  EXPECT_EQ(num(r.json, "last_read_seq"), 1);
  EXPECT_EQ(num(r.json, "unread_count"), 2);
  EXPECT_EQ(num(r.json, "mention_count"), 1);
  for (auto* ws : {&b_ws, &b_other}) {
    auto e = ws->event("read.updated", with_conv(conv));
    EXPECT_EQ(num(e, "last_read_seq"), 1) << dump(e);
  }
  EXPECT_FALSE(a_ws.event_within("read.updated", {}, 200ms));
  auto view = get_conv(api, b, conv);
  EXPECT_EQ(num(view.json, "last_read_seq"), 1) << view;
  EXPECT_EQ(num(view.json, "unread_count"), 2) << view;
  EXPECT_EQ(num(view.json, "mention_count"), 1) << view;

  auto first = api.post(conv_path(conv) + "/unread", object{{"seq", 1}}, b.access);
  EXPECT_EQ(num(first.json, "last_read_seq"), 0) << first;
  EXPECT_EQ(num(first.json, "unread_count"), 3) << first;

  for (int bad : {0, 4, -1}) {
    auto refused = api.post(conv_path(conv) + "/unread", object{{"seq", bad}}, b.access);
    EXPECT_EQ(refused.status, 422) << refused;
    EXPECT_EQ(refused.error_field(), "seq") << refused;
  }
  EXPECT_EQ(api.post(conv_path(conv) + "/unread", object{}, b.access).status, 400);
  EXPECT_EQ(api.post(conv_path(conv) + "/unread", object{{"seq", 1}}, outsider.access).status, 404);
  EXPECT_EQ(api.post(conv_path(kUnknownId) + "/unread", object{{"seq", 1}}, b.access).status, 404);
}

TEST_F(PersonalStateTest, ArchivedConversationsAreReadOnly) {
  auto api = this->api();
  auto owner = register_account(api, "ara");
  auto member = register_account(api, "arb");
  auto late = register_account(api, "arc");
  auto chan = make_channel(api, owner, channel_name("arch"));
  join(api, member, chan);
  auto m = str(send_ok(api, owner, chan, "before"), "id");
  Live member_ws(port(), member);

  auto refused = api.post(conv_path(chan) + "/archive", std::string_view("{}"), member.access);
  EXPECT_EQ(refused.status, 403) << refused;
  auto ar = api.post(conv_path(chan) + "/archive", std::string_view("{}"), owner.access);
  ASSERT_EQ(ar.status, 200) << ar;
  EXPECT_TRUE(flag(ar.json, "archived")) << ar;
  EXPECT_EQ(str(ar.json, "id"), chan);
  auto e = member_ws.event("conversation.updated", [&](const object& d) {
    return str(d, "id") == chan && flag(d, "archived");
  });
  (void)e;
  EXPECT_TRUE(flag(get_conv(api, member, chan).json, "archived"));
  EXPECT_TRUE(flag(listed(api, member, chan), "archived"));

  auto is_archived_conflict = [](const Reply& r) {
    return r.status == 409 && r.error_code() == "conflict" &&
           r.error_message() == "the conversation is archived";
  };
  EXPECT_PRED1(is_archived_conflict, send(api, owner, chan, "after"));
  EXPECT_PRED1(is_archived_conflict,
               api.patch(msg_path(m), object{{"text", "changed"}}, owner.access));
  EXPECT_PRED1(is_archived_conflict,
               api.call("PUT", msg_path(m) + "/reactions/" + pct("👍"), {}, member.access));
  EXPECT_PRED1(is_archived_conflict,
               api.call("PUT", conv_path(chan) + "/pins/" + m, {}, owner.access));
  EXPECT_PRED1(is_archived_conflict,
               api.post(conv_path(chan) + "/join", std::string_view("{}"), late.access));
  {
    Live owner_ws(port(), owner);
    owner_ws.send(object{{"type", "send"},
                         {"req", "arch"},
                         {"conversation_id", chan},
                         {"text", "over the socket"},
                         {"client_msg_id", fresh_cmid()}});
    auto err = owner_ws.reply("error", "arch");
    auto e2 = field(err, "error");
    ASSERT_TRUE(e2) << dump(err);
    EXPECT_EQ(str(*e2, "code"), "conflict") << dump(err);
    EXPECT_EQ(str(*e2, "message"), "the conversation is archived") << dump(err);
  }
  // Reading, history and leaving still work.
  EXPECT_EQ(history(api, member, chan).status, 200);
  EXPECT_EQ(api.get(msg_path(m), member.access).status, 200);
  EXPECT_EQ(api.post(conv_path(chan) + "/read", object{{"seq", 1}}, member.access).status, 200);
  EXPECT_EQ(api.post(conv_path(chan) + "/leave", std::string_view("{}"), member.access).status,
            204);

  auto un = api.post(conv_path(chan) + "/unarchive", std::string_view("{}"), owner.access);
  ASSERT_EQ(un.status, 200) << un;
  EXPECT_FALSE(flag(un.json, "archived"));
  EXPECT_EQ(send(api, owner, chan, "after").status, 201);

  auto dm = make_dm(api, owner, member.id);
  EXPECT_EQ(api.post(conv_path(dm) + "/archive", std::string_view("{}"), owner.access).status, 422);
  auto priv = make_channel(api, owner, channel_name("arp"), "private");
  EXPECT_EQ(api.post(conv_path(priv) + "/archive", std::string_view("{}"), late.access).status,
            404);
  EXPECT_EQ(
      api.post(conv_path(kUnknownId) + "/unarchive", std::string_view("{}"), owner.access).status,
      404);
}

}  // namespace
}  // namespace parley::itest
