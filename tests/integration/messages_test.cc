// Messages over HTTP: sending (idempotency, validation), history paging, edits, tombstones,
// threads, reactions, read state and pins. Every refused mutation also checks that nothing was
// stored.
#include <set>

#include "chat_support.h"

namespace parley::itest {
namespace {

using namespace chat;

class MessagesTest : public SharedServerTest {};

void expect_message_shape(const value& v, const std::string& where) {
  ASSERT_TRUE(v.is_object()) << where << ": " << dump(v);
  for (const char* k : {"id", "conversation_id", "seq", "sender_id", "text", "client_msg_id",
                        "thread_root_id", "reply_count", "reactions", "attachments", "created_at",
                        "edited_at", "deleted"})
    EXPECT_TRUE(v.as_object().contains(k)) << where << " lacks " << k << ": " << dump(v);
  EXPECT_EQ(str(v, "id").size(), 26u) << where << ": " << dump(v);
  EXPECT_TRUE(field(v, "reactions") && field(v, "reactions")->is_array()) << where;
  EXPECT_TRUE(field(v, "attachments") && field(v, "attachments")->is_array() &&
              field(v, "attachments")->as_array().empty())
      << where << ": " << dump(v);
  EXPECT_GT(num(v, "created_at"), 1'600'000'000'000) << where << ": " << dump(v);
}

// The history as (seq, id, text, deleted) tuples, to compare before and after a refusal.
std::vector<std::string> snapshot(Api& api, const Account& who, const std::string& conv) {
  std::vector<std::string> out;
  for (const auto& m : all_messages(api, who, conv)) {
    object copy = m;
    out.push_back(boost::json::serialize(copy));
  }
  return out;
}

struct Pair {
  Account a, b;
  std::string conv;  // a group of a and b (a owns it)
};

Pair make_pair(Api& api, const std::string& tag) {
  Pair p;
  p.a = register_account(api, tag);
  p.b = register_account(api, tag + "b");
  p.conv = make_group(api, p.a, {p.b.id});
  return p;
}

// ---- sending ----

TEST_F(MessagesTest, SendThenRetryGivesTheOriginal) {
  auto api = this->api();
  auto p = make_pair(api, "snd");
  auto r = send(api, p.a, p.conv, "hello there", "cmid-1");
  ASSERT_EQ(r.status, 201) << r;
  expect_message_shape(r.json, "sent message");
  EXPECT_EQ(r.str("conversation_id"), p.conv);
  EXPECT_EQ(num(r.json, "seq"), 1) << r;
  EXPECT_EQ(r.str("sender_id"), p.a.id);
  EXPECT_EQ(r.str("text"), "hello there");
  EXPECT_EQ(r.str("client_msg_id"), "cmid-1");
  EXPECT_TRUE(is_null_or_absent(r.json, "thread_root_id")) << r;
  EXPECT_TRUE(field(r.json, "thread_root_id") && field(r.json, "thread_root_id")->is_null())
      << "thread_root_id is null, not absent: " << r;
  EXPECT_TRUE(field(r.json, "edited_at") && field(r.json, "edited_at")->is_null()) << r;
  EXPECT_EQ(num(r.json, "reply_count"), 0);
  EXPECT_TRUE(arr(r.json, "reactions").empty());
  EXPECT_FALSE(flag(r.json, "deleted"));

  auto retry = send(api, p.a, p.conv, "different text this time", "cmid-1");
  EXPECT_EQ(retry.status, 200) << retry;
  EXPECT_EQ(retry.str("id"), r.str("id"));
  EXPECT_EQ(num(retry.json, "seq"), 1);
  EXPECT_EQ(retry.str("text"), "hello there") << "the retry's text is ignored";
  EXPECT_EQ(all_messages(api, p.a, p.conv).size(), 1u);
  EXPECT_EQ(num(get_conv(api, p.a, p.conv).json, "last_seq"), 1);

  // The same client_msg_id from another user, or in another conversation, is a new message.
  auto by_b = send(api, p.b, p.conv, "b's own", "cmid-1");
  EXPECT_EQ(by_b.status, 201) << by_b;
  EXPECT_EQ(num(by_b.json, "seq"), 2) << by_b;
  auto other_conv = make_channel(api, p.a, channel_name("snd"));
  auto elsewhere = send(api, p.a, other_conv, "elsewhere", "cmid-1");
  EXPECT_EQ(elsewhere.status, 201) << elsewhere;
  EXPECT_EQ(num(elsewhere.json, "seq"), 1) << "seq counts per conversation: " << elsewhere;

  // The message by id.
  auto m = get_message(api, p.b, r.str("id"));
  EXPECT_EQ(str(m, "text"), "hello there");
  EXPECT_EQ(num(m, "seq"), 1);
  auto conv = get_conv(api, p.a, p.conv);
  EXPECT_EQ(num(conv.json, "last_seq"), 2);
  EXPECT_GE(num(conv.json, "last_message_at"), num(r.json, "created_at"));
}

TEST_F(MessagesTest, ConcurrentRetriesStoreOneMessage) {
  auto api = this->api();
  auto p = make_pair(api, "rty");
  std::vector<Reply> replies(6);
  run_parallel(6, [&](int i) {
    Api mine(port());
    replies[static_cast<std::size_t>(i)] =
        send(mine, p.a, p.conv, "racing " + std::to_string(i), "same-cmid");
  });
  std::set<std::string> ids;
  int created = 0;
  for (const auto& r : replies) {
    ASSERT_TRUE(r.status == 200 || r.status == 201) << r;
    created += r.status == 201;
    ids.insert(r.str("id"));
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(seqs_of(all_messages(api, p.a, p.conv)), std::vector<std::int64_t>{1});
}

TEST_F(MessagesTest, TextIsTrimmedAndLimitedTo16000Characters) {
  auto api = this->api();
  auto p = make_pair(api, "txt");
  auto trimmed = send(api, p.a, p.conv, " \n\t hi there \r\n ");
  ASSERT_EQ(trimmed.status, 201) << trimmed;
  EXPECT_EQ(trimmed.str("text"), "hi there");

  std::string inner = "multi\nline\n  indented";
  auto kept = send(api, p.a, p.conv, "  " + inner + "  ");
  EXPECT_EQ(kept.str("text"), inner) << "inner whitespace must be kept: " << kept;

  std::string max;
  for (int i = 0; i < 16000; ++i) max += "\xC3\xA9";  // 16,000 characters, 32,000 bytes
  auto at_limit = send(api, p.a, p.conv, "   " + max + "   ");
  ASSERT_EQ(at_limit.status, 201) << "16,000 characters (after trimming) are allowed";
  EXPECT_EQ(at_limit.str("text"), max);

  auto before = snapshot(api, p.a, p.conv);
  struct Case {
    std::string what, text;
  };
  for (const auto& c : std::vector<Case>{{"16,001 characters", max + "x"},
                                         {"whitespace only", " \t\n  \r\n"},
                                         {"empty", ""},
                                         {"NUL inside", std::string("a\0b", 3)}}) {
    auto r = send(api, p.a, p.conv, c.text);
    EXPECT_EQ(r.status, 422) << c.what << ": " << r;
    EXPECT_EQ(r.error_code(), "validation_failed") << c.what << ": " << r;
    EXPECT_EQ(r.error_field(), "text") << c.what << ": " << r;
  }
  EXPECT_EQ(snapshot(api, p.a, p.conv), before) << "a refused message was stored";
}

TEST_F(MessagesTest, MalformedSendsAreRefusedAndNothingIsStored) {
  auto api = this->api();
  auto p = make_pair(api, "mal");
  send_ok(api, p.a, p.conv, "the only message");
  auto before = snapshot(api, p.a, p.conv);
  const std::string path = conv_path(p.conv) + "/messages";
  struct Case {
    std::string what, body;
    int status;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"invalid UTF-8", "{\"text\":\"bad \xC3\x28 bytes\",\"client_msg_id\":\"u1\"}", 400, ""},
      {"overlong UTF-8", "{\"text\":\"\xC0\xAF\",\"client_msg_id\":\"u2\"}", 400, ""},
      {"text a number", R"({"text":5,"client_msg_id":"t1"})", 400, "text"},
      {"text an object", R"({"text":{},"client_msg_id":"t2"})", 400, "text"},
      {"text null", R"({"text":null,"client_msg_id":"t3"})", 400, "text"},
      {"client_msg_id a number", R"({"text":"x","client_msg_id":7})", 400, "client_msg_id"},
      {"thread_root_id a number", R"({"text":"x","client_msg_id":"t4","thread_root_id":1})", 400,
       "thread_root_id"},
      {"text missing", R"({"client_msg_id":"m1"})", 400, "text"},
      {"client_msg_id missing", R"({"text":"x"})", 400, "client_msg_id"},
      {"empty object", R"({})", 400, ""},
      {"malformed JSON", R"({"text":"x","client_msg_id":)", 400, ""},
      {"trailing garbage", R"({"text":"x","client_msg_id":"g1"} x)", 400, ""},
      {"array root", R"(["x"])", 400, ""},
      {"empty body", "", 400, ""},
      {"empty client_msg_id", R"({"text":"x","client_msg_id":""})", 422, "client_msg_id"},
      {"65-character client_msg_id",
       R"({"text":"x","client_msg_id":")" + std::string(65, 'c') + "\"}", 422, "client_msg_id"},
      {"non-ASCII client_msg_id", "{\"text\":\"x\",\"client_msg_id\":\"caf\xC3\xA9\"}", 422,
       "client_msg_id"},
      {"control character in client_msg_id", R"({"text":"x","client_msg_id":"a\u0001b"})", 422,
       "client_msg_id"},
      {"unknown thread root", R"({"text":"x","client_msg_id":"r1","thread_root_id":")" +
                                  std::string(kUnknownId) + "\"}",
       422, "thread_root_id"},
  };
  for (const auto& c : cases) {
    auto r = api.call("POST", path, c.body, p.a.access);
    EXPECT_EQ(r.status, c.status) << c.what << ": " << r;
    EXPECT_EQ(r.error_code(), c.status == 422 ? "validation_failed" : "bad_request")
        << c.what << ": " << r;
    if (c.status == 422 || (!c.field.empty() && !r.error_field().empty())) {
      EXPECT_EQ(r.error_field(), c.field) << c.what << ": " << r;
    }
  }
  auto ok64 = send(api, p.a, p.conv, "64 is fine", std::string(64, 'c'));
  EXPECT_EQ(ok64.status, 201) << ok64;
  auto printable = send(api, p.a, p.conv, "printable", "a-b~!@#$%^&*()_+{}|:\"<>?");
  EXPECT_EQ(printable.status, 201) << printable;
  auto after = snapshot(api, p.a, p.conv);
  ASSERT_EQ(after.size(), before.size() + 2) << "a refused message was stored";
  EXPECT_EQ(std::vector<std::string>(after.begin(), after.begin() + 1), before);

  auto unauth = api.call("POST", path, R"({"text":"x","client_msg_id":"n"})");
  EXPECT_EQ(unauth.status, 401) << unauth;
  auto unknown = send(api, p.a, kUnknownId, "nowhere");
  EXPECT_EQ(unknown.status, 404) << unknown;
  EXPECT_EQ(snapshot(api, p.a, p.conv), after);
}

// ---- history ----

TEST_F(MessagesTest, HistoryPagesBothWays) {
  auto api = this->api();
  auto p = make_pair(api, "his");
  std::vector<std::string> ids;
  for (int i = 1; i <= 25; ++i)
    ids.push_back(str(send_ok(api, i % 3 ? p.a : p.b, p.conv, "message " + std::to_string(i)), "id"));

  auto page = [&](const std::string& q) {
    auto r = history(api, p.b, p.conv, q);
    if (r.status != 200) fail_reply("history " + q, r);
    EXPECT_TRUE(field(r.json, "has_more") && field(r.json, "has_more")->is_bool()) << r;
    return std::make_pair(seqs_of(arr(r.json, "messages")), flag(r.json, "has_more"));
  };
  using P = std::pair<std::vector<std::int64_t>, bool>;
  EXPECT_EQ(page("limit=10"), (P{range(16, 25), true})) << "the latest page";
  EXPECT_EQ(page("before_seq=16&limit=10"), (P{range(6, 15), true}));
  EXPECT_EQ(page("before_seq=6&limit=10"), (P{range(1, 5), false}));
  EXPECT_EQ(page("before_seq=1&limit=10"), (P{{}, false}));
  EXPECT_EQ(page("before_seq=11&limit=10"), (P{range(1, 10), false})) << "exactly the rest";
  EXPECT_EQ(page("after_seq=0&limit=10"), (P{range(1, 10), true}));
  EXPECT_EQ(page("after_seq=10&limit=10"), (P{range(11, 20), true}));
  EXPECT_EQ(page("after_seq=15&limit=10"), (P{range(16, 25), false})) << "exactly the rest";
  EXPECT_EQ(page("after_seq=20&limit=10"), (P{range(21, 25), false}));
  EXPECT_EQ(page("after_seq=25"), (P{{}, false}));
  EXPECT_EQ(page(""), (P{range(1, 25), false})) << "default limit 50";
  EXPECT_EQ(page("limit=200"), (P{range(1, 25), false}));

  // The messages themselves, in order.
  auto full = all_messages(api, p.b, p.conv);
  ASSERT_EQ(full.size(), 25u);
  for (std::size_t i = 0; i < full.size(); ++i) {
    EXPECT_EQ(str(full[i], "id"), ids[i]);
    EXPECT_EQ(str(full[i], "text"), "message " + std::to_string(i + 1));
  }

  auto both = history(api, p.b, p.conv, "before_seq=10&after_seq=2");
  EXPECT_EQ(both.status, 422) << both;
  EXPECT_EQ(both.error_code(), "validation_failed") << both;
  for (const char* q : {"limit=0", "limit=201"}) {
    auto r = history(api, p.b, p.conv, q);
    EXPECT_EQ(r.status, 422) << q << ": " << r;
    EXPECT_EQ(r.error_field(), "limit") << q << ": " << r;
  }
  for (const char* q : {"before_seq=-1", "after_seq=-5"}) {
    auto r = history(api, p.b, p.conv, q);
    EXPECT_TRUE(r.status == 400 || r.status == 422) << q << ": " << r;
  }
  for (const char* q : {"limit=abc", "before_seq=x", "after_seq=1.5"}) {
    auto r = history(api, p.b, p.conv, q);
    EXPECT_EQ(r.status, 400) << q << ": " << r;
  }
}

// ---- edit and delete ----

TEST_F(MessagesTest, OnlyTheSenderEdits) {
  auto api = this->api();
  auto p = make_pair(api, "edt");
  auto m = send_ok(api, p.a, p.conv, "first draft");
  std::string id = str(m, "id");

  auto by_other = api.patch(msg_path(id), object{{"text", "b was here"}}, p.b.access);
  EXPECT_EQ(by_other.status, 403) << by_other;
  EXPECT_EQ(by_other.error_code(), "forbidden") << by_other;
  auto stranger = register_account(api, "edts");
  auto by_stranger = api.patch(msg_path(id), object{{"text", "x"}}, stranger.access);
  EXPECT_EQ(by_stranger.status, 404) << by_stranger;
  for (const auto& bad : {std::string("   "), std::string(16001, 'x')}) {
    auto r = api.patch(msg_path(id), object{{"text", bad}}, p.a.access);
    EXPECT_EQ(r.status, 422) << r;
    EXPECT_EQ(r.error_field(), "text") << r;
  }
  auto typed = api.call("PATCH", msg_path(id), R"({"text":1})", p.a.access);
  EXPECT_EQ(typed.status, 400) << typed;
  auto missing = api.call("PATCH", msg_path(id), R"({})", p.a.access);
  EXPECT_EQ(missing.status, 400) << missing;
  auto unchanged = get_message(api, p.a, id);
  EXPECT_EQ(str(unchanged, "text"), "first draft");
  EXPECT_TRUE(is_null_or_absent(unchanged, "edited_at")) << "a refused edit set edited_at";

  auto edited = api.patch(msg_path(id), object{{"text", "  final text  "}}, p.a.access);
  ASSERT_EQ(edited.status, 200) << edited;
  expect_message_shape(edited.json, "edited message");
  EXPECT_EQ(edited.str("text"), "final text");
  EXPECT_EQ(num(edited.json, "seq"), 1) << "an edit keeps the seq";
  EXPECT_GE(num(edited.json, "edited_at"), num(m, "created_at")) << edited;
  auto seen = get_message(api, p.b, id);
  EXPECT_EQ(str(seen, "text"), "final text");
  EXPECT_EQ(all_messages(api, p.a, p.conv).size(), 1u) << "an edit added a message";

  auto unknown = api.patch(msg_path(kUnknownId), object{{"text", "x"}}, p.a.access);
  EXPECT_EQ(unknown.status, 404) << unknown;
}

TEST_F(MessagesTest, DeleteLeavesATombstone) {
  auto api = this->api();
  auto p = make_pair(api, "del");
  auto c = register_account(api, "delc");
  add_members(api, p.a, p.conv, {c.id});
  auto m1 = send_ok(api, p.b, p.conv, "b's first");
  auto m2 = send_ok(api, p.b, p.conv, "b's second");
  auto m3 = send_ok(api, c, p.conv, "c's");
  auto reply = send_ok(api, p.b, p.conv, "a reply", str(m2, "id"));
  ASSERT_EQ(api.call("PUT", msg_path(str(m1, "id")) + "/reactions/ok", "", p.a.access).status,
            204);

  // A plain member may not delete someone else's message.
  auto refused = api.del(msg_path(str(m1, "id")), c.access);
  EXPECT_EQ(refused.status, 403) << refused;
  EXPECT_EQ(str(get_message(api, p.a, str(m1, "id")), "text"), "b's first");

  // The sender may.
  auto gone = api.del(msg_path(str(m1, "id")), p.b.access);
  EXPECT_EQ(gone.status, 204) << gone;
  auto again = api.del(msg_path(str(m1, "id")), p.b.access);
  EXPECT_EQ(again.status, 204) << "deleting twice is fine: " << again;

  auto tomb = get_message(api, p.a, str(m1, "id"));
  expect_message_shape(tomb, "tombstone");
  EXPECT_EQ(str(tomb, "id"), str(m1, "id"));
  EXPECT_EQ(num(tomb, "seq"), 1);
  EXPECT_EQ(str(tomb, "sender_id"), p.b.id);
  EXPECT_EQ(str(tomb, "text"), "");
  EXPECT_TRUE(flag(tomb, "deleted")) << dump(tomb);
  EXPECT_TRUE(arr(tomb, "reactions").empty()) << "reactions cleared: " << dump(tomb);

  // The owner may delete anyone's; so may an admin.
  EXPECT_EQ(api.del(msg_path(str(m2, "id")), p.a.access).status, 204);
  ASSERT_EQ(api.patch(conv_path(p.conv) + "/members/" + c.id, object{{"role", "admin"}},
                      p.a.access)
                .status,
            200);
  EXPECT_EQ(api.del(msg_path(str(reply, "id")), c.access).status, 204) << "admin deletes b's";
  auto reply_tomb = get_message(api, p.a, str(reply, "id"));
  EXPECT_EQ(str(reply_tomb, "thread_root_id"), str(m2, "id")) << "thread fields are kept";
  EXPECT_TRUE(flag(reply_tomb, "deleted"));

  // History keeps every seq; tombstones are in place.
  auto all = all_messages(api, p.a, p.conv);
  EXPECT_EQ(seqs_of(all), range(1, 4));
  ASSERT_EQ(all.size(), 4u);
  EXPECT_TRUE(flag(all[0], "deleted"));
  EXPECT_EQ(str(all[0], "text"), "");
  EXPECT_TRUE(flag(all[1], "deleted"));
  EXPECT_FALSE(flag(all[2], "deleted"));
  EXPECT_EQ(str(all[2], "text"), "c's");
  EXPECT_EQ(str(all[2], "id"), str(m3, "id"));

  // A tombstone cannot be edited, reacted to or replied to.
  auto edit = api.patch(msg_path(str(m1, "id")), object{{"text", "revived"}}, p.b.access);
  EXPECT_EQ(edit.status, 409) << edit;
  auto react = api.call("PUT", msg_path(str(m1, "id")) + "/reactions/ok", "", p.b.access);
  EXPECT_EQ(react.status, 409) << react;
  auto reply_to_deleted = send(api, p.b, p.conv, "hello?", "", str(m1, "id"));
  EXPECT_EQ(reply_to_deleted.status, 422) << reply_to_deleted;
  EXPECT_EQ(reply_to_deleted.error_field(), "thread_root_id") << reply_to_deleted;
  EXPECT_EQ(seqs_of(all_messages(api, p.a, p.conv)), range(1, 4)) << "a refused reply was stored";
  EXPECT_TRUE(arr(get_message(api, p.a, str(m1, "id")), "reactions").empty());

  auto unknown = api.del(msg_path(kUnknownId), p.a.access);
  EXPECT_EQ(unknown.status, 404) << unknown;
}

// ---- threads ----

TEST_F(MessagesTest, ThreadsAndReplies) {
  auto api = this->api();
  auto p = make_pair(api, "thr");
  auto root = send_ok(api, p.a, p.conv, "root");
  std::string root_id = str(root, "id");
  send_ok(api, p.a, p.conv, "unrelated");
  auto r1 = send_ok(api, p.b, p.conv, "first reply", root_id);
  auto r2 = send_ok(api, p.a, p.conv, "second reply", root_id);
  EXPECT_EQ(str(r1, "thread_root_id"), root_id);
  EXPECT_EQ(num(r1, "seq"), 3);
  EXPECT_EQ(num(r2, "seq"), 4);
  EXPECT_EQ(num(get_message(api, p.a, root_id), "reply_count"), 2);

  auto replies = api.get(msg_path(root_id) + "/replies", p.b.access);
  ASSERT_EQ(replies.status, 200) << replies;
  EXPECT_EQ(seqs_of(arr(replies.json, "messages")), (std::vector<std::int64_t>{3, 4}));
  EXPECT_FALSE(flag(replies.json, "has_more"));
  auto first = api.get(msg_path(root_id) + "/replies?limit=1", p.b.access);
  ASSERT_EQ(first.status, 200) << first;
  EXPECT_EQ(seqs_of(arr(first.json, "messages")), std::vector<std::int64_t>{3});
  EXPECT_TRUE(flag(first.json, "has_more")) << first;
  auto rest = api.get(msg_path(root_id) + "/replies?after_seq=3&limit=1", p.b.access);
  ASSERT_EQ(rest.status, 200) << rest;
  EXPECT_EQ(seqs_of(arr(rest.json, "messages")), std::vector<std::int64_t>{4});
  EXPECT_FALSE(flag(rest.json, "has_more")) << rest;

  // A reply to a reply, to another conversation's message, or to nothing: 422.
  auto other = make_channel(api, p.a, channel_name("thr"));
  auto foreign = send_ok(api, p.a, other, "elsewhere");
  for (const auto& [what, target] :
       std::vector<std::pair<std::string, std::string>>{{"a reply", str(r1, "id")},
                                                        {"another conversation's", str(foreign, "id")},
                                                        {"unknown", kUnknownId}}) {
    auto r = send(api, p.a, p.conv, "nested", "", target);
    EXPECT_EQ(r.status, 422) << what << ": " << r;
    EXPECT_EQ(r.error_field(), "thread_root_id") << what << ": " << r;
  }
  // History has everything, replies included, with no gaps.
  EXPECT_EQ(seqs_of(all_messages(api, p.a, p.conv)), range(1, 4));
  EXPECT_EQ(num(get_message(api, p.a, root_id), "reply_count"), 2);
}

// ---- reactions ----

std::vector<std::tuple<std::string, std::int64_t, bool>> reactions_of(Api& api, const Account& who,
                                                                      const std::string& msg) {
  std::vector<std::tuple<std::string, std::int64_t, bool>> out;
  for (const auto& r : arr(get_message(api, who, msg), "reactions"))
    out.emplace_back(str(r, "emoji"), num(r, "count"), flag(r, "me"));
  return out;
}

TEST_F(MessagesTest, ReactionsAreIdempotentAndCounted) {
  auto api = this->api();
  auto p = make_pair(api, "rct");
  auto m = send_ok(api, p.a, p.conv, "react to me");
  const std::string id = str(m, "id");
  const std::string thumbs = "\xF0\x9F\x91\x8D", party = "\xF0\x9F\x8E\x89";
  auto put = [&](const Account& who, const std::string& raw_segment) {
    return api.call("PUT", msg_path(id) + "/reactions/" + raw_segment, "", who.access);
  };
  auto del = [&](const Account& who, const std::string& raw_segment) {
    return api.call("DELETE", msg_path(id) + "/reactions/" + raw_segment, "", who.access);
  };
  using R = std::vector<std::tuple<std::string, std::int64_t, bool>>;

  EXPECT_EQ(put(p.a, pct(thumbs)).status, 204);
  EXPECT_EQ(put(p.a, pct(thumbs)).status, 204) << "PUT again is a no-op";
  EXPECT_EQ(reactions_of(api, p.a, id), (R{{thumbs, 1, true}}));
  EXPECT_EQ(reactions_of(api, p.b, id), (R{{thumbs, 1, false}}));
  EXPECT_EQ(put(p.b, pct(thumbs)).status, 204);
  EXPECT_EQ(put(p.b, pct(party)).status, 204);
  EXPECT_EQ(reactions_of(api, p.a, id), (R{{thumbs, 2, true}, {party, 1, false}}))
      << "ordered by first use";
  EXPECT_EQ(reactions_of(api, p.b, id), (R{{thumbs, 2, true}, {party, 1, true}}));

  EXPECT_EQ(del(p.a, pct(thumbs)).status, 204);
  EXPECT_EQ(del(p.a, pct(thumbs)).status, 204) << "DELETE again is a no-op";
  EXPECT_EQ(del(p.a, pct(party)).status, 204) << "DELETE of a reaction never made";
  EXPECT_EQ(reactions_of(api, p.a, id), (R{{thumbs, 1, false}, {party, 1, false}}));

  // ASCII and 64 bytes are fine; what comes back is the decoded emoji.
  EXPECT_EQ(put(p.a, "%2B1").status, 204);
  std::string sixty_four(64, 'e');
  EXPECT_EQ(put(p.a, sixty_four).status, 204);
  auto now = reactions_of(api, p.a, id);
  ASSERT_EQ(now.size(), 4u);
  EXPECT_EQ(std::get<0>(now[2]), "+1");
  EXPECT_EQ(std::get<0>(now[3]), sixty_four);

  // Refusals change nothing.
  struct Case {
    std::string what, segment;
    int status;
  };
  for (const auto& c : std::vector<Case>{{"65 bytes", std::string(65, 'e'), 422},
                                         {"17 four-byte emoji (68 bytes)", [&] {
                                            std::string s;
                                            for (int i = 0; i < 17; ++i) s += pct(thumbs);
                                            return s;
                                          }(), 422},
                                         {"a space", "a%20b", 422},
                                         {"a control character", "%07", 422},
                                         {"invalid UTF-8", "%FF", 422},
                                         {"broken percent-encoding", "%ZZ", 400}}) {
    auto r = put(p.a, c.segment);
    EXPECT_TRUE(r.status == c.status || (c.what == "invalid UTF-8" && r.status == 400))
        << c.what << ": " << r;
  }
  EXPECT_EQ(reactions_of(api, p.a, id), now);

  auto unknown = api.call("PUT", msg_path(kUnknownId) + "/reactions/ok", "", p.a.access);
  EXPECT_EQ(unknown.status, 404) << unknown;
}

TEST_F(MessagesTest, AtMostFiftyDistinctReactions) {
  auto api = this->api();
  auto p = make_pair(api, "r50");
  auto id = str(send_ok(api, p.a, p.conv, "popular"), "id");
  for (int i = 0; i < 50; ++i)
    ASSERT_EQ(api.call("PUT", msg_path(id) + "/reactions/e" + std::to_string(i), "", p.a.access)
                  .status,
              204)
        << i;
  auto over = api.call("PUT", msg_path(id) + "/reactions/e50", "", p.b.access);
  EXPECT_EQ(over.status, 422) << over;
  // An existing one may still be added to.
  EXPECT_EQ(api.call("PUT", msg_path(id) + "/reactions/e7", "", p.b.access).status, 204);
  auto r = reactions_of(api, p.b, id);
  EXPECT_EQ(r.size(), 50u);
}

// ---- read state ----

TEST_F(MessagesTest, ReadStateNeverMovesBackwards) {
  auto api = this->api();
  auto p = make_pair(api, "rd");
  for (int i = 0; i < 3; ++i) send_ok(api, p.a, p.conv, "from a " + std::to_string(i));
  auto view = [&](const Account& who) {
    auto r = get_conv(api, who, p.conv);
    if (r.status != 200) fail_reply("get conversation", r);
    return std::make_pair(num(r.json, "last_read_seq"), num(r.json, "unread_count"));
  };
  using V = std::pair<std::int64_t, std::int64_t>;
  EXPECT_EQ(view(p.b), (V{0, 3}));
  EXPECT_EQ(view(p.a), (V{3, 0})) << "sending moves the sender's read marker";

  auto read = [&](const Account& who, const std::string& body) {
    return api.call("POST", conv_path(p.conv) + "/read", body, who.access);
  };
  auto r = read(p.b, R"({"seq":2})");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.str("conversation_id"), p.conv);
  EXPECT_EQ(num(r.json, "last_read_seq"), 2);
  EXPECT_EQ(num(r.json, "unread_count"), 1);
  auto back = read(p.b, R"({"seq":1})");
  ASSERT_EQ(back.status, 200) << back;
  EXPECT_EQ(num(back.json, "last_read_seq"), 2) << "moved backwards";
  EXPECT_EQ(view(p.b), (V{2, 1}));
  auto beyond = read(p.b, R"({"seq":999})");
  ASSERT_EQ(beyond.status, 200) << beyond;
  EXPECT_EQ(num(beyond.json, "last_read_seq"), 3) << "clamped to last_seq";
  EXPECT_EQ(num(beyond.json, "unread_count"), 0);

  for (const auto& [body, status] : std::vector<std::pair<std::string, int>>{
           {R"({"seq":-1})", 422}, {R"({"seq":"2"})", 400}, {R"({})", 400}, {R"({"seq":1.5})", 400},
           {"{", 400}}) {
    auto bad = read(p.b, body);
    EXPECT_EQ(bad.status, status) << body << ": " << bad;
    if (status == 422) {
      EXPECT_EQ(bad.error_field(), "seq") << bad;
    }
  }
  EXPECT_EQ(view(p.b), (V{3, 0}));

  // Unread counts only others' messages after the read mark.
  send_ok(api, p.b, p.conv, "b's own");  // seq 4: b's marker moves to 4
  send_ok(api, p.a, p.conv, "a again");  // seq 5: a's marker moves to 5
  EXPECT_EQ(view(p.b), (V{4, 1}));
  EXPECT_EQ(view(p.a), (V{5, 0}));
  // A read marker left behind by others' messages counts them, never one's own.
  auto fresh = read(p.a, R"({"seq":5})");
  ASSERT_EQ(fresh.status, 200) << fresh;
  send_ok(api, p.b, p.conv, "b once more");  // seq 6
  EXPECT_EQ(view(p.a), (V{5, 1})) << "only b's message is unread for a";
  // The same numbers in the conversation list.
  auto list = api.get(kConv, p.a.access);
  ASSERT_EQ(list.status, 200) << list;
  ASSERT_FALSE(arr(list.json, "conversations").empty()) << list;
  EXPECT_EQ(num(arr(list.json, "conversations")[0], "unread_count"), 1) << list;

  // Reading at 0 is allowed (nothing changes).
  auto zero = read(p.a, R"({"seq":0})");
  EXPECT_EQ(zero.status, 200) << zero;
}

// ---- pins ----

TEST_F(MessagesTest, PinsMostRecentFirst) {
  auto api = this->api();
  auto p = make_pair(api, "pin");
  auto m1 = str(send_ok(api, p.a, p.conv, "one"), "id");
  auto m2 = str(send_ok(api, p.b, p.conv, "two"), "id");
  auto pins = [&] {
    auto r = api.get(conv_path(p.conv) + "/pins", p.a.access);
    if (r.status != 200) fail_reply("pins", r);
    std::vector<std::string> out;
    for (const auto& m : arr(r.json, "messages")) out.push_back(str(m, "id"));
    return out;
  };
  EXPECT_TRUE(pins().empty());
  EXPECT_EQ(api.call("PUT", conv_path(p.conv) + "/pins/" + m1, "", p.a.access).status, 204);
  std::this_thread::sleep_for(3ms);
  EXPECT_EQ(api.call("PUT", conv_path(p.conv) + "/pins/" + m2, "", p.b.access).status, 204)
      << "any member may pin";
  EXPECT_EQ(pins(), (std::vector<std::string>{m2, m1}));
  EXPECT_EQ(api.call("PUT", conv_path(p.conv) + "/pins/" + m2, "", p.a.access).status, 204)
      << "pinning again is fine";
  EXPECT_EQ(pins().size(), 2u);
  EXPECT_EQ(api.call("DELETE", conv_path(p.conv) + "/pins/" + m2, "", p.a.access).status, 204);
  EXPECT_EQ(api.call("DELETE", conv_path(p.conv) + "/pins/" + m2, "", p.a.access).status, 204)
      << "unpinning again is fine";
  EXPECT_EQ(pins(), std::vector<std::string>{m1});

  // A message of another conversation, or none: 404, and the pins are unchanged.
  auto other = make_channel(api, p.a, channel_name("pin"));
  auto foreign = str(send_ok(api, p.a, other, "elsewhere"), "id");
  auto r = api.call("PUT", conv_path(p.conv) + "/pins/" + foreign, "", p.a.access);
  EXPECT_EQ(r.status, 404) << r;
  auto none = api.call("PUT", conv_path(p.conv) + "/pins/" + kUnknownId, "", p.a.access);
  EXPECT_EQ(none.status, 404) << none;
  EXPECT_EQ(pins(), std::vector<std::string>{m1});
}

TEST_F(MessagesTest, AtMostOneHundredPins) {
  auto api = this->api();
  auto p = make_pair(api, "p100");
  std::vector<std::string> ids;
  for (int i = 0; i < 101; ++i) ids.push_back(str(send_ok(api, p.a, p.conv, "m" + std::to_string(i)), "id"));
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(api.call("PUT", conv_path(p.conv) + "/pins/" + ids[static_cast<std::size_t>(i)], "",
                       p.a.access)
                  .status,
              204)
        << i;
  auto over = api.call("PUT", conv_path(p.conv) + "/pins/" + ids[100], "", p.a.access);
  EXPECT_EQ(over.status, 422) << over;
  auto list = api.get(conv_path(p.conv) + "/pins", p.a.access);
  EXPECT_EQ(arr(list.json, "messages").size(), 100u);
}

// The one test here with a real message limit (a server of its own).
TEST(MessagesRateLimit, SendsBeyondTheLimitAre429AndNotStored) {
  ServerProcess server({"--rate-limits", "messages_per_user=5/60s"});
  auto err = server.start();
  ASSERT_TRUE(err.empty()) << err;
  Api api(server.port());
  auto a = register_account(api, "rl");
  auto b = register_account(api, "rlb");
  auto conv = make_group(api, a, {b.id});
  for (int i = 0; i < 5; ++i) ASSERT_EQ(send(api, a, conv, "ok " + std::to_string(i)).status, 201) << i;
  auto limited = send(api, a, conv, "one too many");
  EXPECT_EQ(limited.status, 429) << limited;
  EXPECT_EQ(limited.error_code(), "rate_limited") << limited;
  EXPECT_FALSE(limited.header("Retry-After").empty()) << limited;
  {
    Live ws(server.port(), a);
    ws.send(object{{"type", "send"}, {"req", "w1"}, {"conversation_id", conv}, {"text", "ws too"},
                   {"client_msg_id", "rl-ws"}});
    auto f = ws.answer("w1");
    EXPECT_EQ(str(f, "type"), "error") << dump(f);
    EXPECT_EQ(field(f, "error") ? str(*field(f, "error"), "code") : "", "rate_limited") << dump(f);
  }
  EXPECT_EQ(seqs_of(all_messages(api, a, conv)), range(1, 5)) << "a refused send was stored";
  // Another user has a bucket of their own.
  EXPECT_EQ(send(api, b, conv, "b is fine").status, 201);
}

TEST_F(MessagesTest, ConcurrentReactionsCountEachUserOnce) {
  auto api = this->api();
  auto p = make_pair(api, "crx");
  std::vector<Account> users = {p.a, p.b};
  for (int i = 0; i < 2; ++i) {
    users.push_back(register_account(api, "crxu"));
    add_members(api, p.a, p.conv, {users.back().id});
  }
  auto id = str(send_ok(api, p.a, p.conv, "pile on"), "id");
  const std::string path = msg_path(id) + "/reactions/" + pct("\xE2\x9D\xA4");
  // Every user four times at once.
  run_parallel(16, [&](int t) {
    Api mine(port());
    auto r = mine.call("PUT", path, "", users[static_cast<std::size_t>(t % 4)].access);
    if (r.status != 204) fail_reply("concurrent PUT", r);
  });
  auto r = arr(get_message(api, p.a, id), "reactions");
  ASSERT_EQ(r.size(), 1u) << dump(r);
  EXPECT_EQ(num(r[0], "count"), 4) << dump(r);
  run_parallel(16, [&](int t) {
    Api mine(port());
    auto d = mine.call("DELETE", path, "", users[static_cast<std::size_t>(t % 4)].access);
    if (d.status != 204) fail_reply("concurrent DELETE", d);
  });
  EXPECT_TRUE(arr(get_message(api, p.a, id), "reactions").empty());
}

TEST_F(MessagesTest, ConcurrentPinsStopAtOneHundred) {
  auto api = this->api();
  auto p = make_pair(api, "cpin");
  std::vector<std::string> ids;
  for (int i = 0; i < 110; ++i) ids.push_back(str(send_ok(api, p.a, p.conv, "m" + std::to_string(i)), "id"));
  std::atomic<int> ok{0}, refused{0};
  run_parallel(5, [&](int t) {
    Api mine(port());
    for (std::size_t i = static_cast<std::size_t>(t); i < ids.size(); i += 5) {
      auto r = mine.call("PUT", conv_path(p.conv) + "/pins/" + ids[i], "", t % 2 ? p.a.access : p.b.access);
      if (r.status == 204) ++ok;
      else if (r.status == 422) ++refused;
      else fail_reply("pin", r);
    }
  });
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(refused.load(), 10);
  auto list = api.get(conv_path(p.conv) + "/pins", p.a.access);
  EXPECT_EQ(arr(list.json, "messages").size(), 100u);
}

}  // namespace
}  // namespace parley::itest
