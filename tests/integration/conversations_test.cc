// Conversations: DMs, groups, channels, listing, browsing, join/leave, members and roles, and
// "private means invisible" on every conversation and message route.
#include <algorithm>
#include <atomic>
#include <map>
#include <set>

#include "chat_support.h"

namespace parley::itest {
namespace {

using namespace chat;

class ConversationsTest : public SharedServerTest {};

void expect_conv_shape(const value& v, bool as_member, const std::string& where) {
  ASSERT_TRUE(v.is_object()) << where << ": " << dump(v);
  for (const char* k : {"id", "type", "name", "topic", "visibility", "member_count", "last_seq",
                        "last_message_at", "created_by", "created_at"})
    EXPECT_TRUE(v.as_object().contains(k)) << where << " lacks " << k << ": " << dump(v);
  if (as_member) {
    for (const char* k : {"unread_count", "last_read_seq", "muted", "role"})
      EXPECT_TRUE(v.as_object().contains(k)) << where << " (member view) lacks " << k << ": "
                                             << dump(v);
  }
  EXPECT_EQ(str(v, "id").size(), 26u) << where << ": " << dump(v);
  EXPECT_GT(num(v, "created_at"), 1'600'000'000'000) << where << ": " << dump(v);
}

// Every conversation of the caller, paging with limit.
std::vector<std::string> list_all(Api& api, const Account& who, int limit) {
  std::vector<std::string> out;
  std::string cursor;
  for (int page = 0; page < 100; ++page) {
    std::string target = kConv + "?limit=" + std::to_string(limit);
    if (!cursor.empty()) target += "&cursor=" + pct(cursor);
    auto r = api.get(target, who.access);
    if (r.status != 200) fail_reply("list conversations", r);
    auto convs = arr(r.json, "conversations");
    if (static_cast<int>(convs.size()) > limit)
      throw std::runtime_error("page larger than limit: " + r.body);
    for (const auto& c : convs) out.push_back(str(c, "id"));
    if (is_null_or_absent(r.json, "next_cursor")) return out;
    cursor = str(r.json, "next_cursor");
    if (cursor.empty()) throw std::runtime_error("next_cursor not a string: " + r.body);
  }
  throw std::runtime_error("listing never ended");
}

std::vector<std::string> member_ids(Api& api, const Account& who, const std::string& conv) {
  auto r = api.get(conv_path(conv) + "/members?limit=200", who.access);
  if (r.status != 200) fail_reply("members of " + conv, r);
  std::vector<std::string> out;
  for (const auto& m : arr(r.json, "members")) out.push_back(str(m, "user_id"));
  return out;
}

std::string role_of(Api& api, const Account& viewer, const std::string& conv,
                    const std::string& user) {
  auto r = api.get(conv_path(conv) + "/members?limit=200", viewer.access);
  if (r.status != 200) fail_reply("members of " + conv, r);
  for (const auto& m : arr(r.json, "members"))
    if (str(m, "user_id") == user) return str(m, "role");
  return "";
}

// ---- DMs ----

TEST_F(ConversationsTest, DmIsCreatedOnceThenFound) {
  auto api = this->api();
  auto a = register_account(api, "dma");
  auto b = register_account(api, "dmb");
  auto first = create(api, a, object{{"type", "dm"}, {"member_ids", array{value(b.id)}}});
  ASSERT_EQ(first.status, 201) << first;
  expect_conv_shape(first.json, true, "new DM");
  EXPECT_EQ(first.str("type"), "dm");
  EXPECT_EQ(first.str("name"), "");
  EXPECT_EQ(first.str("visibility"), "private");
  EXPECT_EQ(num(first.json, "member_count"), 2) << first;
  EXPECT_EQ(num(first.json, "last_seq"), 0) << first;
  EXPECT_EQ(num(first.json, "last_message_at"), 0) << first;
  EXPECT_EQ(num(first.json, "unread_count"), 0) << first;
  EXPECT_EQ(num(first.json, "last_read_seq"), 0) << first;
  EXPECT_FALSE(flag(first.json, "muted")) << first;
  EXPECT_EQ(first.str("created_by"), a.id) << first;
  EXPECT_EQ(first.str("role"), "member") << "a DM has no owner: " << first;
  std::string id = first.str("id");

  auto again = create(api, a, object{{"type", "dm"}, {"member_ids", array{value(b.id)}}});
  EXPECT_EQ(again.status, 200) << again;
  EXPECT_EQ(again.str("id"), id) << again;
  auto other_side = create(api, b, object{{"type", "dm"}, {"member_ids", array{value(a.id)}}});
  EXPECT_EQ(other_side.status, 200) << other_side;
  EXPECT_EQ(other_side.str("id"), id) << other_side;

  // Both see it, in their lists and by id.
  auto seen = get_conv(api, b, id);
  ASSERT_EQ(seen.status, 200) << seen;
  expect_conv_shape(seen.json, true, "DM seen by the other member");
  auto list_a = list_all(api, a, 50);
  auto list_b = list_all(api, b, 50);
  EXPECT_EQ(std::count(list_a.begin(), list_a.end(), id), 1);
  EXPECT_EQ(std::count(list_b.begin(), list_b.end(), id), 1);
  EXPECT_EQ(list_a.size(), 1u) << "a DM create that found the existing one added another";
}

TEST_F(ConversationsTest, DmCreateRejectsBadInput) {
  auto api = this->api();
  auto a = register_account(api, "dmbad");
  auto b = register_account(api, "dmbad2");
  auto c = register_account(api, "dmbad3");
  struct Case {
    std::string what, body;
    int status;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"no member", R"({"type":"dm","member_ids":[]})", 422, "member_ids"},
      {"two members", R"({"type":"dm","member_ids":[")" + b.id + R"(",")" + c.id + R"("]})", 422,
       "member_ids"},
      {"member_ids missing", R"({"type":"dm"})", 400, ""},
      {"member_ids a string", R"({"type":"dm","member_ids":")" + b.id + R"("})", 400, ""},
      {"member id a number", R"({"type":"dm","member_ids":[5]})", 400, ""},
      {"type missing", R"({"member_ids":[")" + b.id + R"("]})", 400, ""},
      {"type unknown", R"({"type":"room","member_ids":[")" + b.id + R"("]})", 422, "type"},
      {"type a number", R"({"type":1,"member_ids":[")" + b.id + R"("]})", 400, ""},
      {"malformed JSON", R"({"type":"dm","member_ids":[)", 400, ""},
      {"array root", R"([])", 400, ""},
  };
  for (const auto& c : cases) {
    auto r = api.call("POST", kConv, c.body, a.access);
    EXPECT_EQ(r.status, c.status) << c.what << ": " << r;
    EXPECT_EQ(r.error_code(), c.status == 422 ? "validation_failed" : "bad_request")
        << c.what << ": " << r;
    if (!c.field.empty()) {
      EXPECT_EQ(r.error_field(), c.field) << c.what << ": " << r;
    }
  }
  auto unknown =
      create(api, a, object{{"type", "dm"}, {"member_ids", array{value(std::string(kUnknownId))}}});
  EXPECT_EQ(unknown.status, 404) << unknown;
  EXPECT_EQ(unknown.error_code(), "not_found") << unknown;
  auto unauth = api.post(kConv, object{{"type", "dm"}, {"member_ids", array{value(b.id)}}});
  EXPECT_EQ(unauth.status, 401) << unauth;

  // Nothing was created by any of them.
  EXPECT_TRUE(list_all(api, a, 50).empty());
  EXPECT_TRUE(list_all(api, b, 50).empty());
}

TEST_F(ConversationsTest, ConcurrentDmCreatesFromBothSidesGiveOneDm) {
  auto api = this->api();
  for (int round = 0; round < 3; ++round) {
    auto a = register_account(api, "race");
    auto b = register_account(api, "race");
    constexpr int kThreads = 8;
    std::vector<Reply> replies(kThreads);
    run_parallel(kThreads, [&](int i) {
      Api mine(port());
      const Account& me = i % 2 ? a : b;
      const Account& other = i % 2 ? b : a;
      replies[static_cast<std::size_t>(i)] =
          create(mine, me, object{{"type", "dm"}, {"member_ids", array{value(other.id)}}});
    });
    std::set<std::string> ids;
    int created = 0;
    for (const auto& r : replies) {
      ASSERT_TRUE(r.status == 200 || r.status == 201) << r;
      if (r.status == 201) ++created;
      ids.insert(r.str("id"));
    }
    EXPECT_EQ(ids.size(), 1u) << "concurrent creates gave several DMs, round " << round;
    EXPECT_EQ(created, 1) << "exactly one create should say 201, round " << round;
    EXPECT_EQ(list_all(api, a, 50).size(), 1u);
    EXPECT_EQ(list_all(api, b, 50).size(), 1u);
  }
}

TEST_F(ConversationsTest, NoteToSelfDm) {
  auto api = this->api();
  auto a = register_account(api, "self");
  auto b = register_account(api, "selfb");
  auto r = create(api, a, object{{"type", "dm"}, {"member_ids", array{value(a.id)}}});
  ASSERT_EQ(r.status, 201) << r;
  EXPECT_EQ(r.str("type"), "dm");
  EXPECT_EQ(num(r.json, "member_count"), 1) << r;
  std::string self_id = r.str("id");
  auto again = create(api, a, object{{"type", "dm"}, {"member_ids", array{value(a.id)}}});
  EXPECT_EQ(again.status, 200) << again;
  EXPECT_EQ(again.str("id"), self_id);
  // Distinct from the DM with someone else, and invisible to them.
  std::string with_b = make_dm(api, a, b.id);
  EXPECT_NE(with_b, self_id);
  EXPECT_EQ(get_conv(api, b, self_id).status, 404);
  // A note to self holds messages like any DM.
  auto m = send(api, a, self_id, "remember the milk");
  EXPECT_EQ(m.status, 201) << m;
  EXPECT_EQ(member_ids(api, a, self_id), std::vector<std::string>{a.id});
}

// ---- groups ----

TEST_F(ConversationsTest, GroupHasTwoToFiftyMembers) {
  auto api = this->api();
  auto a = register_account(api, "grp");
  auto pool = register_accounts(port(), 50, "gpool");
  std::vector<std::string> ids;
  for (const auto& p : pool) ids.push_back(p.id);

  // 49 others + the creator = 50: fine.
  std::vector<std::string> fortynine(ids.begin(), ids.begin() + 49);
  auto ok = create(api, a,
                   object{{"type", "group"}, {"member_ids", ids_of(fortynine)}, {"name", "Fifty"}});
  ASSERT_EQ(ok.status, 201) << ok;
  expect_conv_shape(ok.json, true, "new group");
  EXPECT_EQ(ok.str("type"), "group");
  EXPECT_EQ(ok.str("visibility"), "private");
  EXPECT_EQ(ok.str("name"), "Fifty");
  EXPECT_EQ(ok.str("role"), "owner");
  EXPECT_EQ(num(ok.json, "member_count"), 50) << ok;

  // 50 others + the creator = 51: refused, and nothing is created.
  auto over = create(api, a, object{{"type", "group"}, {"member_ids", ids_of(ids)}});
  EXPECT_EQ(over.status, 422) << over;
  EXPECT_EQ(over.error_code(), "validation_failed") << over;
  EXPECT_EQ(over.error_field(), "member_ids") << over;
  EXPECT_EQ(list_all(api, pool[49], 50).size(), 0u) << "a refused group was created anyway";

  // Duplicates (and the creator listed) are removed before counting.
  auto dup = create(api, a,
                    object{{"type", "group"},
                           {"member_ids", array{value(ids[0]), value(ids[0]), value(a.id)}}});
  ASSERT_EQ(dup.status, 201) << dup;
  EXPECT_EQ(num(dup.json, "member_count"), 2) << dup;
  EXPECT_EQ(dup.str("name"), "") << "a group without a name has name \"\": " << dup;

  // Only the creator: one member, too few.
  for (const auto& members : {array{value(a.id)}, array{}}) {
    auto lonely = create(api, a, object{{"type", "group"}, {"member_ids", members}});
    EXPECT_EQ(lonely.status, 422) << dump(members) << ": " << lonely;
    EXPECT_EQ(lonely.error_field(), "member_ids") << lonely;
  }
  // An unknown user: 404, and no group appears for the known one.
  auto unknown = create(api, a,
                        object{{"type", "group"},
                               {"member_ids", array{value(pool[49].id), value(kUnknownId)}}});
  EXPECT_EQ(unknown.status, 404) << unknown;
  EXPECT_EQ(list_all(api, pool[49], 50).size(), 0u) << "a group with an unknown member was made";
  EXPECT_EQ(list_all(api, a, 50).size(), 2u);
}

// ---- channels ----

TEST_F(ConversationsTest, ChannelNameRules) {
  auto api = this->api();
  auto a = register_account(api, "chn");
  std::string name = channel_name("Gen");
  auto r = create(api, a,
                  object{{"type", "channel"}, {"name", "  " + name + "  "}, {"topic", "Chat"}});
  ASSERT_EQ(r.status, 201) << r;
  expect_conv_shape(r.json, true, "new channel");
  EXPECT_EQ(r.str("type"), "channel");
  EXPECT_EQ(r.str("name"), name) << "name not trimmed";
  EXPECT_EQ(r.str("topic"), "Chat");
  EXPECT_EQ(r.str("visibility"), "public") << "channels are public by default";
  EXPECT_EQ(r.str("role"), "owner");
  EXPECT_EQ(num(r.json, "member_count"), 1);

  std::string upper = name;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  for (const auto& [what, taken] : std::vector<std::pair<std::string, object>>{
           {"same name", object{{"type", "channel"}, {"name", name}}},
           {"other case", object{{"type", "channel"}, {"name", upper}}},
           {"padded", object{{"type", "channel"}, {"name", " " + upper + "\t"}}}}) {
    auto dup = create(api, a, taken);
    EXPECT_EQ(dup.status, 409) << what << ": " << dup;
    EXPECT_EQ(dup.error_code(), "conflict") << what << ": " << dup;
  }
  // Names are unique among public channels only: a private one may share one.
  auto private_twin =
      create(api, a, object{{"type", "channel"}, {"name", upper}, {"visibility", "private"}});
  EXPECT_EQ(private_twin.status, 201) << private_twin;

  // 80 characters (a unique ASCII start, then two-byte ones): allowed; 81 is not.
  std::string eighty = unique_name("e");
  for (std::size_t n = eighty.size(); n < 80; ++n) eighty += "\xC3\xA9";
  auto at_limit = create(api, a, object{{"type", "channel"}, {"name", eighty}});
  EXPECT_EQ(at_limit.status, 201) << "80 characters is allowed: " << at_limit;
  auto topic250 = create(api, a,
                         object{{"type", "channel"},
                                {"name", channel_name("t250")},
                                {"topic", std::string(250, 't')}});
  EXPECT_EQ(topic250.status, 201) << topic250;

  struct Case {
    std::string what;
    object body;
    int status;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"empty name", object{{"type", "channel"}, {"name", ""}}, 422, "name"},
      {"blank name", object{{"type", "channel"}, {"name", "   "}}, 422, "name"},
      {"81 characters", object{{"type", "channel"}, {"name", eighty + "z"}}, 422, "name"},
      {"control character", object{{"type", "channel"}, {"name", channel_name("c") + "\x07"}},
       422, "name"},
      {"topic of 251",
       object{{"type", "channel"}, {"name", channel_name("t")}, {"topic", std::string(251, 't')}},
       422, "topic"},
      {"bad visibility",
       object{{"type", "channel"}, {"name", channel_name("v")}, {"visibility", "secret"}}, 422,
       "visibility"},
      {"name a number", object{{"type", "channel"}, {"name", 7}}, 400, ""},
      {"name missing", object{{"type", "channel"}}, 400, ""},
      {"topic a number", object{{"type", "channel"}, {"name", channel_name("n")}, {"topic", 1}},
       400, ""},
  };
  for (const auto& c : cases) {
    auto bad = create(api, a, c.body);
    EXPECT_EQ(bad.status, c.status) << c.what << ": " << bad;
    if (!c.field.empty()) {
      EXPECT_EQ(bad.error_field(), c.field) << c.what << ": " << bad;
    }
  }
  // Only the three good channels and the private twin exist.
  EXPECT_EQ(list_all(api, a, 50).size(), 4u);
}

TEST_F(ConversationsTest, PublicChannelVisibleToAllPrivateOnlyToMembers) {
  auto api = this->api();
  auto a = register_account(api, "vis");
  auto s = register_account(api, "visstr");
  auto pub = make_channel(api, a, channel_name("pub"));
  auto priv = make_channel(api, a, channel_name("priv"), "private");
  auto seen = get_conv(api, s, pub);
  ASSERT_EQ(seen.status, 200) << "a public channel is visible to anyone signed in: " << seen;
  expect_conv_shape(seen.json, false, "public channel seen by a non-member");
  EXPECT_EQ(seen.str("visibility"), "public");
  auto hidden = get_conv(api, s, priv);
  EXPECT_EQ(hidden.status, 404) << hidden;
  auto own = get_conv(api, a, priv);
  ASSERT_EQ(own.status, 200) << own;
  EXPECT_EQ(own.str("visibility"), "private");
  // Neither is in the stranger's own list.
  EXPECT_TRUE(list_all(api, s, 50).empty());
}

// ---- listing ----

TEST_F(ConversationsTest, ListIsOrderedByActivityAndPages) {
  auto api = this->api();
  auto a = register_account(api, "lst");
  auto b = register_account(api, "lstb");
  std::vector<std::string> made;
  for (int i = 0; i < 4; ++i) {
    made.push_back(make_channel(api, a, channel_name("ord")));
    std::this_thread::sleep_for(3ms);  // distinct creation times
  }
  made.push_back(make_dm(api, a, b.id));
  std::this_thread::sleep_for(3ms);
  // Newest first: creation order reversed.
  std::vector<std::string> expected(made.rbegin(), made.rend());
  EXPECT_EQ(list_all(api, a, 50), expected);

  // A message moves a conversation to the front.
  send_ok(api, a, made[1], "bump");
  std::this_thread::sleep_for(3ms);
  send_ok(api, b, made[4], "bump too");  // the DM, by the other member
  std::vector<std::string> after = {made[4], made[1], made[3], made[2], made[0]};
  EXPECT_EQ(list_all(api, a, 50), after);
  // Paged one and two at a time: the same order, nothing twice, nothing missing.
  EXPECT_EQ(list_all(api, a, 1), after);
  EXPECT_EQ(list_all(api, a, 2), after);

  auto page = api.get(kConv + "?limit=50", a.access);
  ASSERT_EQ(page.status, 200) << page;
  EXPECT_TRUE(is_null_or_absent(page.json, "next_cursor")) << "next_cursor on the last page";
  for (const auto& c : arr(page.json, "conversations"))
    expect_conv_shape(c, true, "listed conversation");
  ASSERT_FALSE(arr(page.json, "conversations").empty()) << page;
  auto front = arr(page.json, "conversations")[0];
  EXPECT_EQ(num(front, "last_seq"), 1) << dump(front);
  EXPECT_GT(num(front, "last_message_at"), 0) << dump(front);
  EXPECT_EQ(num(front, "unread_count"), 1) << "b's message is unread for a: " << dump(front);

  for (const char* bad : {"0", "201"}) {
    auto r = api.get(kConv + "?limit=" + bad, a.access);
    EXPECT_EQ(r.status, 422) << "limit=" << bad << ": " << r;
    EXPECT_EQ(r.error_field(), "limit") << r;
  }
  auto nonint = api.get(kConv + "?limit=abc", a.access);
  EXPECT_EQ(nonint.status, 400) << nonint;
  EXPECT_EQ(api.get(kConv, "").status, 401);
}

// ---- get / patch ----

TEST_F(ConversationsTest, PatchByOwnerAndAdminOnly) {
  auto api = this->api();
  auto a = register_account(api, "pat");
  auto b = register_account(api, "patb");
  auto c = register_account(api, "patc");
  auto g = make_group(api, a, {b.id, c.id}, "Before");

  auto renamed = api.patch(conv_path(g), object{{"name", "  After  "}, {"topic", "New topic"}},
                           a.access);
  ASSERT_EQ(renamed.status, 200) << renamed;
  EXPECT_EQ(renamed.str("name"), "After");
  EXPECT_EQ(renamed.str("topic"), "New topic");
  EXPECT_EQ(get_conv(api, c, g).str("name"), "After");

  auto by_member = api.patch(conv_path(g), object{{"name", "Member's"}}, b.access);
  EXPECT_EQ(by_member.status, 403) << by_member;
  EXPECT_EQ(by_member.error_code(), "forbidden") << by_member;
  EXPECT_EQ(get_conv(api, a, g).str("name"), "After") << "a refused rename changed the name";

  auto promote = api.patch(conv_path(g) + "/members/" + b.id, object{{"role", "admin"}}, a.access);
  ASSERT_EQ(promote.status, 200) << promote;
  auto by_admin = api.patch(conv_path(g), object{{"topic", "Admin's topic"}}, b.access);
  EXPECT_EQ(by_admin.status, 200) << by_admin;
  EXPECT_EQ(by_admin.str("topic"), "Admin's topic");
  EXPECT_EQ(by_admin.str("name"), "After") << "an absent field changed";

  // A DM cannot be renamed.
  auto dm = make_dm(api, a, b.id);
  auto dm_rename = api.patch(conv_path(dm), object{{"name", "Our DM"}}, a.access);
  EXPECT_EQ(dm_rename.status, 422) << dm_rename;
  EXPECT_EQ(dm_rename.error_field(), "name") << dm_rename;
  EXPECT_EQ(get_conv(api, a, dm).str("name"), "");

  // Channel names stay valid and unique.
  auto ch1_name = channel_name("ren");
  auto ch1 = make_channel(api, a, ch1_name);
  auto ch2 = make_channel(api, a, channel_name("ren"));
  auto blank = api.patch(conv_path(ch2), object{{"name", "  "}}, a.access);
  EXPECT_EQ(blank.status, 422) << blank;
  EXPECT_EQ(blank.error_field(), "name") << blank;
  auto long_topic = api.patch(conv_path(ch2), object{{"topic", std::string(251, 'x')}}, a.access);
  EXPECT_EQ(long_topic.status, 422) << long_topic;
  EXPECT_EQ(long_topic.error_field(), "topic") << long_topic;
  auto taken = api.patch(conv_path(ch2), object{{"name", ch1_name}}, a.access);
  EXPECT_EQ(taken.status, 409) << "renaming onto another channel's name: " << taken;
  auto wrong_type = api.call("PATCH", conv_path(ch2), R"({"name":5})", a.access);
  EXPECT_EQ(wrong_type.status, 400) << wrong_type;
  EXPECT_NE(get_conv(api, a, ch2).str("name"), ch1_name);
  (void)ch1;

  auto unknown = api.patch(conv_path(kUnknownId), object{{"name", "x"}}, a.access);
  EXPECT_EQ(unknown.status, 404) << unknown;
}

// ---- browsing ----

TEST_F(ConversationsTest, BrowseChannelsByName) {
  auto api = this->api();
  auto a = register_account(api, "brw");
  auto s = register_account(api, "brws");
  std::string tag = unique_name("tag");  // lower-case, unique in this run
  std::vector<std::string> names = {"zeta-" + tag, "Alpha-" + tag, "mid-" + tag + "-x"};
  std::map<std::string, std::string> id_by_name;
  for (const auto& n : names) id_by_name[n] = make_channel(api, a, n);
  make_channel(api, a, "hidden-" + tag, "private");
  make_channel(api, a, channel_name("other"));

  auto upper = tag;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  auto r = api.get("/api/v1/channels?q=" + upper, s.access);
  ASSERT_EQ(r.status, 200) << r;
  auto channels = arr(r.json, "channels");
  std::vector<std::string> got;
  for (const auto& c : channels) {
    expect_conv_shape(c, false, "browsed channel");
    EXPECT_EQ(str(c, "visibility"), "public") << dump(c);
    got.push_back(str(c, "name"));
  }
  // By name, case-insensitively: Alpha, mid, zeta.
  EXPECT_EQ(got, (std::vector<std::string>{names[1], names[2], names[0]})) << r;

  // Paged two at a time.
  std::vector<std::string> paged;
  std::string cursor;
  for (int i = 0; i < 5; ++i) {
    auto p = api.get("/api/v1/channels?limit=2&q=" + tag + (cursor.empty() ? "" : "&cursor=" + pct(cursor)),
                     s.access);
    ASSERT_EQ(p.status, 200) << p;
    for (const auto& c : arr(p.json, "channels")) paged.push_back(str(c, "name"));
    if (is_null_or_absent(p.json, "next_cursor")) break;
    cursor = str(p.json, "next_cursor");
  }
  EXPECT_EQ(paged, got);

  // The private one is not listed, even to its owner.
  auto own = api.get("/api/v1/channels?q=hidden-" + tag, a.access);
  ASSERT_EQ(own.status, 200) << own;
  EXPECT_TRUE(arr(own.json, "channels").empty()) << own;
  // Everything public without q.
  auto all = api.get("/api/v1/channels?limit=200", s.access);
  ASSERT_EQ(all.status, 200) << all;
  EXPECT_GE(arr(all.json, "channels").size(), 4u) << all;
}

// ---- join / leave ----

TEST_F(ConversationsTest, JoinAndLeave) {
  auto api = this->api();
  auto a = register_account(api, "jl");
  auto b = register_account(api, "jlb");
  auto c = register_account(api, "jlc");
  auto pub = make_channel(api, a, channel_name("join"));

  auto joined = api.post(conv_path(pub) + "/join", std::string_view("{}"), b.access);
  ASSERT_EQ(joined.status, 200) << joined;
  expect_conv_shape(joined.json, true, "joined channel");
  EXPECT_EQ(joined.str("id"), pub);
  EXPECT_EQ(num(joined.json, "member_count"), 2) << joined;
  EXPECT_EQ(joined.str("role"), "member") << joined;
  auto again = api.post(conv_path(pub) + "/join", std::string_view("{}"), b.access);
  EXPECT_EQ(again.status, 200) << again;
  EXPECT_EQ(num(again.json, "member_count"), 2) << "joining again is a no-op: " << again;
  EXPECT_EQ(list_all(api, b, 50), std::vector<std::string>{pub});

  auto left = api.post(conv_path(pub) + "/leave", std::string_view("{}"), b.access);
  EXPECT_EQ(left.status, 204) << left;
  EXPECT_EQ(num(get_conv(api, a, pub).json, "member_count"), 1);
  EXPECT_TRUE(list_all(api, b, 50).empty());
  auto left_again = api.post(conv_path(pub) + "/leave", std::string_view("{}"), b.access);
  EXPECT_EQ(left_again.status, 404) << "leaving when not a member: " << left_again;

  // A private channel: 404 to a non-member, exactly like an unknown id.
  auto priv = make_channel(api, a, channel_name("pj"), "private");
  auto no = api.post(conv_path(priv) + "/join", std::string_view("{}"), b.access);
  auto none = api.post(conv_path(kUnknownId) + "/join", std::string_view("{}"), b.access);
  EXPECT_EQ(no.status, 404) << no;
  EXPECT_EQ(none.status, 404) << none;
  EXPECT_EQ(no.body_without_request_id(), none.body_without_request_id());
  EXPECT_EQ(member_ids(api, a, priv), std::vector<std::string>{a.id});

  // A DM or group member cannot join (409); a DM cannot be left (409); a group can.
  auto dm = make_dm(api, a, b.id);
  auto g = make_group(api, a, {b.id, c.id});
  auto dm_join = api.post(conv_path(dm) + "/join", std::string_view("{}"), b.access);
  EXPECT_EQ(dm_join.status, 409) << dm_join;
  auto g_join = api.post(conv_path(g) + "/join", std::string_view("{}"), c.access);
  EXPECT_EQ(g_join.status, 409) << g_join;
  auto dm_leave = api.post(conv_path(dm) + "/leave", std::string_view("{}"), b.access);
  EXPECT_EQ(dm_leave.status, 409) << dm_leave;
  EXPECT_EQ(dm_leave.error_code(), "conflict") << dm_leave;
  EXPECT_EQ(get_conv(api, b, dm).status, 200) << "the DM is still b's";
  auto g_leave = api.post(conv_path(g) + "/leave", std::string_view("{}"), c.access);
  EXPECT_EQ(g_leave.status, 204) << g_leave;
  EXPECT_EQ(get_conv(api, c, g).status, 404) << "a group is private: gone for who left";
  EXPECT_EQ(num(get_conv(api, a, g).json, "member_count"), 2);
}

// ---- members ----

TEST_F(ConversationsTest, MembersListAddRemove) {
  auto api = this->api();
  auto a = register_account(api, "mem");
  auto b = register_account(api, "memb");
  auto c = register_account(api, "memc");
  auto d = register_account(api, "memd");
  auto e = register_account(api, "meme");
  auto g = make_group(api, a, {b.id, c.id});

  auto list = api.get(conv_path(g) + "/members", b.access);
  ASSERT_EQ(list.status, 200) << list;
  auto members = arr(list.json, "members");
  ASSERT_EQ(members.size(), 3u) << list;
  std::set<std::string> got;
  for (const auto& m : members) {
    for (const char* k : {"user_id", "role", "joined_at", "user"})
      EXPECT_TRUE(m.as_object().contains(k)) << "member lacks " << k << ": " << dump(m);
    EXPECT_EQ(str(m, "user_id"), str(*field(m, "user"), "id")) << dump(m);
    EXPECT_TRUE(field(*field(m, "user"), "username")) << dump(m);
    got.insert(str(m, "user_id"));
  }
  EXPECT_EQ(got, (std::set<std::string>{a.id, b.id, c.id}));

  // Any member of a group may add; only the new ones come back.
  auto added = api.post(conv_path(g) + "/members", object{{"user_ids", array{value(d.id)}}},
                        b.access);
  ASSERT_EQ(added.status, 200) << added;
  ASSERT_EQ(arr(added.json, "members").size(), 1u) << added;
  EXPECT_EQ(str(arr(added.json, "members")[0], "user_id"), d.id);
  auto readd = api.post(conv_path(g) + "/members",
                        object{{"user_ids", array{value(d.id), value(e.id)}}}, a.access);
  ASSERT_EQ(readd.status, 200) << readd;
  ASSERT_EQ(arr(readd.json, "members").size(), 1u) << "only e is new: " << readd;
  EXPECT_EQ(str(arr(readd.json, "members")[0], "user_id"), e.id);

  // Join order, paged one at a time: creator first, e (added last) last.
  std::vector<std::string> order;
  std::string cursor;
  for (int i = 0; i < 10; ++i) {
    auto p = api.get(conv_path(g) + "/members?limit=1" + (cursor.empty() ? "" : "&cursor=" + pct(cursor)),
                     a.access);
    ASSERT_EQ(p.status, 200) << p;
    ASSERT_LE(arr(p.json, "members").size(), 1u) << p;
    for (const auto& m : arr(p.json, "members")) order.push_back(str(m, "user_id"));
    if (is_null_or_absent(p.json, "next_cursor")) break;
    cursor = str(p.json, "next_cursor");
  }
  ASSERT_EQ(order.size(), 5u);
  EXPECT_EQ(order, member_ids(api, a, g)) << "paging changed the order";
  EXPECT_EQ(order[3], d.id);
  EXPECT_EQ(order[4], e.id);

  // Refusals, each leaving the member list as it was.
  auto before = member_ids(api, a, g);
  auto unknown = api.post(conv_path(g) + "/members",
                          object{{"user_ids", array{value(kUnknownId)}}}, a.access);
  EXPECT_EQ(unknown.status, 404) << unknown;
  auto empty = api.post(conv_path(g) + "/members", object{{"user_ids", array{}}}, a.access);
  EXPECT_EQ(empty.status, 422) << empty;
  EXPECT_EQ(empty.error_field(), "user_ids") << empty;
  array many;
  for (int i = 0; i < 51; ++i) many.emplace_back(b.id);
  auto too_many = api.post(conv_path(g) + "/members", object{{"user_ids", many}}, a.access);
  EXPECT_EQ(too_many.status, 422) << "51 ids: " << too_many;
  auto wrong = api.call("POST", conv_path(g) + "/members", R"({"user_ids":"x"})", a.access);
  EXPECT_EQ(wrong.status, 400) << wrong;
  auto missing = api.call("POST", conv_path(g) + "/members", R"({})", a.access);
  EXPECT_EQ(missing.status, 400) << missing;
  auto dm = make_dm(api, a, b.id);
  auto to_dm = api.post(conv_path(dm) + "/members", object{{"user_ids", array{value(c.id)}}},
                        a.access);
  EXPECT_EQ(to_dm.status, 409) << to_dm;
  EXPECT_EQ(member_ids(api, a, dm).size(), 2u);
  EXPECT_EQ(member_ids(api, a, g), before);

  // Removal: a plain member may not remove others; the owner may; anyone may remove themself.
  auto by_member = api.del(conv_path(g) + "/members/" + c.id, b.access);
  EXPECT_EQ(by_member.status, 403) << by_member;
  EXPECT_EQ(member_ids(api, a, g), before);
  auto by_owner = api.del(conv_path(g) + "/members/" + c.id, a.access);
  EXPECT_EQ(by_owner.status, 204) << by_owner;
  EXPECT_EQ(get_conv(api, c, g).status, 404) << "a removed member still sees the group";
  auto self = api.del(conv_path(g) + "/members/" + e.id, e.access);
  EXPECT_EQ(self.status, 204) << self;
  auto gone = api.del(conv_path(g) + "/members/" + c.id, a.access);
  EXPECT_EQ(gone.status, 404) << "removing a non-member: " << gone;
  EXPECT_EQ(member_ids(api, a, g), (std::vector<std::string>{a.id, b.id, d.id}));
  EXPECT_EQ(num(get_conv(api, a, g).json, "member_count"), 3);

  // A private channel: plain members may not add; a public one: they may.
  auto priv = make_channel(api, a, channel_name("pm"), "private");
  add_members(api, a, priv, {b.id});
  auto priv_add = api.post(conv_path(priv) + "/members",
                           object{{"user_ids", array{value(c.id)}}}, b.access);
  EXPECT_EQ(priv_add.status, 403) << priv_add;
  auto pub = make_channel(api, a, channel_name("pm"));
  join(api, b, pub);
  auto pub_add = api.post(conv_path(pub) + "/members", object{{"user_ids", array{value(c.id)}}},
                          b.access);
  EXPECT_EQ(pub_add.status, 200) << pub_add;
}

TEST_F(ConversationsTest, GroupCannotGrowPastFifty) {
  auto api = this->api();
  auto a = register_account(api, "cap");
  auto pool = register_accounts(port(), 50, "cpool");
  std::vector<std::string> ids;
  for (const auto& p : pool) ids.push_back(p.id);
  auto g = make_group(api, a, std::vector<std::string>(ids.begin(), ids.begin() + 48));
  auto to_fifty = api.post(conv_path(g) + "/members", object{{"user_ids", array{value(ids[48])}}},
                           a.access);
  ASSERT_EQ(to_fifty.status, 200) << to_fifty;
  auto past = api.post(conv_path(g) + "/members", object{{"user_ids", array{value(ids[49])}}},
                       a.access);
  EXPECT_EQ(past.status, 422) << past;
  EXPECT_EQ(num(get_conv(api, a, g).json, "member_count"), 50);
}

TEST_F(ConversationsTest, RolesCanBeChangedByTheOwnerOnly) {
  auto api = this->api();
  auto a = register_account(api, "role");
  auto b = register_account(api, "roleb");
  auto c = register_account(api, "rolec");
  auto ch = make_channel(api, a, channel_name("roles"));
  join(api, b, ch);
  join(api, c, ch);

  auto promote = api.patch(conv_path(ch) + "/members/" + b.id, object{{"role", "admin"}}, a.access);
  ASSERT_EQ(promote.status, 200) << promote;
  EXPECT_EQ(promote.str("user_id"), b.id) << promote;
  EXPECT_EQ(promote.str("role"), "admin") << promote;
  EXPECT_EQ(get_conv(api, b, ch).str("role"), "admin");

  auto by_admin = api.patch(conv_path(ch) + "/members/" + c.id, object{{"role", "admin"}},
                            b.access);
  EXPECT_EQ(by_admin.status, 403) << "only the owner changes roles: " << by_admin;
  auto by_member = api.patch(conv_path(ch) + "/members/" + b.id, object{{"role", "member"}},
                             c.access);
  EXPECT_EQ(by_member.status, 403) << by_member;
  auto own = api.patch(conv_path(ch) + "/members/" + a.id, object{{"role", "member"}}, a.access);
  EXPECT_EQ(own.status, 409) << "the owner's own role cannot change: " << own;
  auto bad = api.patch(conv_path(ch) + "/members/" + c.id, object{{"role", "owner"}}, a.access);
  EXPECT_EQ(bad.status, 422) << bad;
  EXPECT_EQ(bad.error_field(), "role") << bad;
  auto typed = api.call("PATCH", conv_path(ch) + "/members/" + c.id, R"({"role":1})", a.access);
  EXPECT_EQ(typed.status, 400) << typed;
  auto stranger = register_account(api, "roles");
  auto not_member = api.patch(conv_path(ch) + "/members/" + stranger.id,
                              object{{"role", "admin"}}, a.access);
  EXPECT_EQ(not_member.status, 404) << not_member;
  EXPECT_EQ(role_of(api, a, ch, c.id), "member");
  EXPECT_EQ(role_of(api, a, ch, a.id), "owner");

  // An admin may remove members but not the owner.
  auto kick_owner = api.del(conv_path(ch) + "/members/" + a.id, b.access);
  EXPECT_EQ(kick_owner.status, 403) << kick_owner;
  auto kick = api.del(conv_path(ch) + "/members/" + c.id, b.access);
  EXPECT_EQ(kick.status, 204) << kick;
  EXPECT_EQ(member_ids(api, a, ch), (std::vector<std::string>{a.id, b.id}));

  // Demoted, b is a plain member again.
  auto demote = api.patch(conv_path(ch) + "/members/" + b.id, object{{"role", "member"}},
                          a.access);
  EXPECT_EQ(demote.status, 200) << demote;
  EXPECT_EQ(api.patch(conv_path(ch), object{{"topic", "nope"}}, b.access).status, 403);
}

TEST_F(ConversationsTest, LongestStandingMemberBecomesOwnerWhenTheOwnerLeaves) {
  auto api = this->api();
  auto a = register_account(api, "own");
  auto b = register_account(api, "ownb");
  auto c = register_account(api, "ownc");
  auto ch = make_channel(api, a, channel_name("handover"));
  join(api, b, ch);
  std::this_thread::sleep_for(3ms);
  join(api, c, ch);
  ASSERT_EQ(api.post(conv_path(ch) + "/leave", std::string_view("{}"), a.access).status, 204);
  EXPECT_EQ(role_of(api, c, ch, b.id), "owner") << "b joined first and should own it now";
  EXPECT_EQ(role_of(api, c, ch, c.id), "member");
  EXPECT_EQ(get_conv(api, b, ch).str("role"), "owner");
  // The new owner can do owner things.
  EXPECT_EQ(api.patch(conv_path(ch), object{{"topic", "b's now"}}, b.access).status, 200);
  auto promote = api.patch(conv_path(ch) + "/members/" + c.id, object{{"role", "admin"}},
                           b.access);
  EXPECT_EQ(promote.status, 200) << promote;

  // The same in a group, when the owner is removed by leaving via DELETE on themself.
  auto d = register_account(api, "ownd");
  auto g = make_group(api, a, {d.id});
  ASSERT_EQ(api.del(conv_path(g) + "/members/" + a.id, a.access).status, 204);
  EXPECT_EQ(get_conv(api, d, g).str("role"), "owner");
  EXPECT_EQ(num(get_conv(api, d, g).json, "member_count"), 1);
}

// ---- private means invisible ----

struct Route {
  std::string method, path, body;
};

// Every conversation and message route, for a conversation id and a message id in it.
std::vector<Route> routes_for(const std::string& conv, const std::string& msg,
                              const std::string& member_id, const std::string& caller_id) {
  const std::string c = conv_path(conv), m = msg_path(msg);
  const std::string thumbs = pct("\xF0\x9F\x91\x8D");
  return {
      {"GET", c, ""},
      {"PATCH", c, R"({"name":"mine now","topic":"t"})"},
      {"POST", c + "/join", "{}"},
      {"POST", c + "/leave", "{}"},
      {"GET", c + "/members", ""},
      {"POST", c + "/members", R"({"user_ids":[")" + caller_id + R"("]})"},
      {"DELETE", c + "/members/" + member_id, ""},
      {"DELETE", c + "/members/" + caller_id, ""},
      {"PATCH", c + "/members/" + member_id, R"({"role":"member"})"},
      {"GET", c + "/messages", ""},
      {"GET", c + "/messages?after_seq=0&limit=5", ""},
      {"POST", c + "/messages", R"({"text":"let me in","client_msg_id":"intruder-1"})"},
      {"POST", c + "/read", R"({"seq":1})"},
      {"GET", c + "/pins", ""},
      {"PUT", c + "/pins/" + msg, ""},
      {"DELETE", c + "/pins/" + msg, ""},
      {"GET", m, ""},
      {"PATCH", m, R"({"text":"defaced"})"},
      {"DELETE", m, ""},
      {"GET", m + "/replies", ""},
      {"PUT", m + "/reactions/" + thumbs, ""},
      {"DELETE", m + "/reactions/" + thumbs, ""},
      {"GET", "/api/v1/search/messages?q=secret&conversation_id=" + conv, ""},
  };
}

TEST_F(ConversationsTest, PrivateConversationsAreInvisibleToNonMembers) {
  auto api = this->api();
  auto a = register_account(api, "inv");
  auto b = register_account(api, "invb");
  auto s = register_account(api, "invs");

  struct Target {
    std::string what, conv, msg;
  };
  std::vector<Target> targets = {
      {"private channel", make_channel(api, a, channel_name("secret"), "private"), ""},
      {"group", make_group(api, a, {b.id}), ""},
      {"DM", make_dm(api, a, b.id), ""},
  };
  for (auto& t : targets) {
    auto m = send_ok(api, a, t.conv, "the secret plan");
    t.msg = str(m, "id");
    send_ok(api, a, t.conv, "a reply in the thread", t.msg);
    ASSERT_EQ(api.call("PUT", conv_path(t.conv) + "/pins/" + t.msg, "", a.access).status, 204);
  }

  for (const auto& t : targets) {
    auto hidden = routes_for(t.conv, t.msg, a.id, s.id);
    auto unknown = routes_for(kUnknownId, kUnknownId2, a.id, s.id);
    ASSERT_EQ(hidden.size(), unknown.size());
    for (std::size_t i = 0; i < hidden.size(); ++i) {
      auto h = api.call(hidden[i].method, hidden[i].path, hidden[i].body, s.access);
      auto u = api.call(unknown[i].method, unknown[i].path, unknown[i].body, s.access);
      EXPECT_EQ(h.status, 404) << t.what << ": " << hidden[i].method << " " << hidden[i].path
                               << " -> " << h;
      EXPECT_EQ(h.error_code(), "not_found") << t.what << ": " << hidden[i].method << " "
                                             << hidden[i].path << " -> " << h;
      EXPECT_EQ(u.status, 404) << "unknown id: " << unknown[i].method << " " << unknown[i].path
                               << " -> " << u;
      EXPECT_EQ(h.body_without_request_id(), u.body_without_request_id())
          << t.what << ": " << hidden[i].method << " " << hidden[i].path << " answers differently from an unknown id";
    }
  }

  // Nothing the stranger tried changed anything.
  for (const auto& t : targets) {
    auto conv = get_conv(api, a, t.conv);
    ASSERT_EQ(conv.status, 200) << conv;
    EXPECT_EQ(num(conv.json, "last_seq"), 2) << t.what << ": " << conv;
    EXPECT_NE(conv.str("name"), "mine now") << t.what;
    auto members = member_ids(api, a, t.conv);
    EXPECT_EQ(std::count(members.begin(), members.end(), s.id), 0) << t.what;
    EXPECT_EQ(std::count(members.begin(), members.end(), a.id), 1) << t.what;
    auto m = get_message(api, a, t.msg);
    EXPECT_EQ(str(m, "text"), "the secret plan") << t.what;
    EXPECT_FALSE(flag(m, "deleted")) << t.what;
    EXPECT_TRUE(arr(m, "reactions").empty()) << t.what << ": " << dump(m);
    auto pins = api.get(conv_path(t.conv) + "/pins", a.access);
    EXPECT_EQ(arr(pins.json, "messages").size(), 1u) << t.what << ": " << pins;
    if (t.what != "DM") {
      EXPECT_EQ(role_of(api, a, t.conv, a.id), "owner") << t.what;
    }
    EXPECT_TRUE(list_all(api, s, 50).empty()) << t.what;
  }
}

TEST_F(ConversationsTest, PublicChannelContentIsReadableButNotWritableByNonMembers) {
  // The contract only promises 404 for conversations the caller may not see; a public channel
  // is visible, so reads work and its id is not hidden. A non-member still cannot post.
  auto api = this->api();
  auto a = register_account(api, "pubr");
  auto s = register_account(api, "pubs");
  auto ch = make_channel(api, a, channel_name("open"));
  send_ok(api, a, ch, "hello world");
  auto seen = get_conv(api, s, ch);
  EXPECT_EQ(seen.status, 200) << seen;
  auto post = send(api, s, ch, "drive-by");
  EXPECT_TRUE(post.status == 403 || post.status == 404) << post;
  EXPECT_EQ(num(get_conv(api, a, ch).json, "last_seq"), 1) << "a non-member's post was stored";
}

TEST_F(ConversationsTest, ConcurrentAddsNeverGrowAGroupPastFifty) {
  auto api = this->api();
  auto a = register_account(api, "cadd");
  auto pool = register_accounts(port(), 51, "capool");
  std::vector<std::string> ids;
  for (const auto& p : pool) ids.push_back(p.id);
  // 45 members; four adders with three new users each would make 57.
  auto g = make_group(api, a, std::vector<std::string>(ids.begin(), ids.begin() + 44));
  std::vector<Reply> replies(4);
  run_parallel(4, [&](int t) {
    Api mine(port());
    array batch;
    for (int i = 0; i < 3; ++i) batch.emplace_back(ids[static_cast<std::size_t>(44 + 3 * t + i) % 51]);
    replies[static_cast<std::size_t>(t)] =
        mine.post(conv_path(g) + "/members", object{{"user_ids", batch}}, a.access);
  });
  std::size_t added = 0;
  for (const auto& r : replies) {
    ASSERT_TRUE(r.status == 200 || r.status == 422) << r;
    if (r.status == 200) added += arr(r.json, "members").size();
  }
  auto members = member_ids(api, a, g);
  EXPECT_LE(members.size(), 50u) << "concurrent adds grew the group past 50";
  EXPECT_EQ(members.size(), 45 + added) << "the answers do not match what was stored";
  EXPECT_EQ(num(get_conv(api, a, g).json, "member_count"), static_cast<std::int64_t>(members.size()));
  EXPECT_EQ(std::set<std::string>(members.begin(), members.end()).size(), members.size());
}

}  // namespace
}  // namespace parley::itest
