// Message search: matching, ranking, highlighting, filters, visibility, CJK text, deletes and
// edits, validation and paging. Each test uses fresh users, who see only their own
// conversations, so tests do not see each other's messages.
#include <set>

#include "chat_support.h"

namespace parley::itest {
namespace {

using namespace chat;

class SearchTest : public SharedServerTest {};

Reply search(Api& api, const Account& who, const std::string& query) {
  return api.get("/api/v1/search/messages?" + query, who.access);
}

// The ids of the results, in order (throws unless 200).
std::vector<std::string> found(Api& api, const Account& who, const std::string& query) {
  auto r = search(api, who, query);
  if (r.status != 200) fail_reply("search " + query, r);
  std::vector<std::string> out;
  for (const auto& res : arr(r.json, "results")) {
    auto m = field(res, "message");
    out.push_back(m ? str(*m, "id") : "");
  }
  return out;
}

std::string q(const std::string& words) { return "q=" + pct(words); }

TEST_F(SearchTest, FindsWordsRankedWithHighlights) {
  auto api = this->api();
  auto a = register_account(api, "srch");
  auto conv = make_channel(api, a, channel_name("srch"), "private");
  auto once = send_ok(api, a, conv, "the quick brown fox jumps over the lazy dog by the river");
  auto thrice = send_ok(api, a, conv, "brown, brown and brown again");
  send_ok(api, a, conv, "nothing relevant in this one");

  auto r = search(api, a, q("brown"));
  ASSERT_EQ(r.status, 200) << r;
  auto results = arr(r.json, "results");
  ASSERT_EQ(results.size(), 2u) << r;
  EXPECT_EQ(str(*field(results[0], "message"), "id"), str(thrice, "id"))
      << "more matches in a shorter text should rank first: " << r;
  EXPECT_EQ(str(*field(results[1], "message"), "id"), str(once, "id"));
  for (const auto& res : results) {
    const auto& m = *field(res, "message");
    for (const char* k : {"id", "conversation_id", "seq", "sender_id", "text", "created_at"})
      EXPECT_TRUE(m.as_object().contains(k)) << "result message lacks " << k << ": " << dump(res);
    auto h = str(res, "highlight");
    EXPECT_NE(h.find("<mark>brown</mark>"), std::string::npos) << "highlight: " << h;
  }
  EXPECT_EQ(str(results[1], "highlight"),
            "the quick <mark>brown</mark> fox jumps over the lazy dog by the river");
  EXPECT_TRUE(is_null_or_absent(r.json, "next_cursor")) << r;

  // Words are ANDed, in any order; a substring of 3+ characters matches.
  EXPECT_EQ(found(api, a, q("fox quick")), std::vector<std::string>{str(once, "id")});
  EXPECT_EQ(found(api, a, q("brown again")), std::vector<std::string>{str(thrice, "id")});
  EXPECT_EQ(found(api, a, q("row")).size(), 2u) << "substring search";
  EXPECT_TRUE(found(api, a, q("brown zebra")).empty());
  EXPECT_EQ(found(api, a, q("BROWN")).size(), 2u) << "case-insensitive";
  // A one- or two-character word matches as a substring.
  EXPECT_EQ(found(api, a, q("ox")), std::vector<std::string>{str(once, "id")});
}

TEST_F(SearchTest, HighlightEscapesHtml) {
  auto api = this->api();
  auto a = register_account(api, "xss");
  auto conv = make_channel(api, a, channel_name("xss"), "private");
  auto m = send_ok(api, a, conv, "<script>alert('pwned')</script> & <b>bold</b> payload");
  auto r = search(api, a, q("payload"));
  ASSERT_EQ(r.status, 200) << r;
  auto results = arr(r.json, "results");
  ASSERT_EQ(results.size(), 1u) << r;
  auto h = str(results[0], "highlight");
  EXPECT_EQ(h.find("<script"), std::string::npos) << "raw HTML in highlight: " << h;
  EXPECT_EQ(h.find("<b>"), std::string::npos) << h;
  EXPECT_NE(h.find("&lt;script&gt;"), std::string::npos) << h;
  EXPECT_NE(h.find("&amp;"), std::string::npos) << h;
  EXPECT_NE(h.find("<mark>payload</mark>"), std::string::npos) << h;
  EXPECT_EQ(str(*field(results[0], "message"), "text"), str(m, "text"))
      << "the message text itself is not escaped";
  // Searching for markup finds it, escaped in the highlight.
  auto tag = search(api, a, q("<script>"));
  ASSERT_EQ(tag.status, 200) << tag;
  ASSERT_EQ(arr(tag.json, "results").size(), 1u) << tag;
  auto th = str(arr(tag.json, "results")[0], "highlight");
  EXPECT_NE(th.find("<mark>&lt;script&gt;</mark>"), std::string::npos) << th;
}

TEST_F(SearchTest, Filters) {
  auto api = this->api();
  auto a = register_account(api, "flt");
  auto b = register_account(api, "fltb");
  auto c1 = make_group(api, a, {b.id});
  auto c2 = make_channel(api, a, channel_name("flt"));
  join(api, b, c2);
  std::vector<object> ms;
  ms.push_back(send_ok(api, a, c1, "kumquat one"));
  std::this_thread::sleep_for(15ms);
  ms.push_back(send_ok(api, b, c1, "kumquat two"));
  std::this_thread::sleep_for(15ms);
  ms.push_back(send_ok(api, a, c2, "kumquat three"));
  std::this_thread::sleep_for(15ms);
  ms.push_back(send_ok(api, b, c2, "kumquat four"));
  auto ids = [&](std::initializer_list<int> which) {
    std::set<std::string> out;
    for (int i : which) out.insert(str(ms[static_cast<std::size_t>(i)], "id"));
    return out;
  };
  auto set_of = [&](const std::string& query) {
    auto v = found(api, a, query);
    std::set<std::string> s(v.begin(), v.end());
    EXPECT_EQ(s.size(), v.size()) << "duplicates for " << query;
    return s;
  };
  EXPECT_EQ(set_of(q("kumquat")), ids({0, 1, 2, 3}));
  EXPECT_EQ(set_of(q("kumquat") + "&conversation_id=" + c1), ids({0, 1}));
  EXPECT_EQ(set_of(q("kumquat") + "&sender_id=" + b.id), ids({1, 3}));
  EXPECT_EQ(set_of(q("kumquat") + "&sender_id=" + b.id + "&conversation_id=" + c2), ids({3}));
  auto t = [&](int i) { return num(ms[static_cast<std::size_t>(i)], "created_at"); };
  ASSERT_LT(t(0), t(1));
  ASSERT_LT(t(1), t(2));
  ASSERT_LT(t(2), t(3));
  auto mid = [&](int i) { return std::to_string((t(i) + t(i + 1)) / 2); };
  EXPECT_EQ(set_of(q("kumquat") + "&after=" + mid(0)), ids({1, 2, 3}));
  EXPECT_EQ(set_of(q("kumquat") + "&before=" + mid(2)), ids({0, 1, 2}));
  EXPECT_EQ(set_of(q("kumquat") + "&after=" + mid(0) + "&before=" + mid(2)), ids({1, 2}));
  EXPECT_TRUE(set_of(q("kumquat") + "&sender_id=" + std::string(kUnknownId)).empty());

  // A conversation the caller cannot see, or none: 404.
  auto s = register_account(api, "flts");
  auto hidden = make_channel(api, s, channel_name("flth"), "private");
  send_ok(api, s, hidden, "kumquat secret");
  auto r = search(api, a, q("kumquat") + "&conversation_id=" + hidden);
  EXPECT_EQ(r.status, 404) << r;
  auto u = search(api, a, q("kumquat") + "&conversation_id=" + std::string(kUnknownId));
  EXPECT_EQ(u.status, 404) << u;
  EXPECT_EQ(r.body_without_request_id(), u.body_without_request_id())
      << "a hidden conversation answers differently from an unknown one";
  for (const char* bad : {"before=abc", "after=1.5"}) {
    auto br = search(api, a, q("kumquat") + "&" + bad);
    EXPECT_EQ(br.status, 400) << bad << ": " << br;
  }
}

TEST_F(SearchTest, OnlyTheCallersConversations) {
  auto api = this->api();
  auto a = register_account(api, "own");
  auto s = register_account(api, "owns");
  std::string word = "zx" + unique_name("w").substr(2);  // unique in this run
  auto priv = make_channel(api, s, channel_name("sp"), "private");
  auto secret = send_ok(api, s, priv, "the " + word + " is hidden");
  auto pub = make_channel(api, s, channel_name("spub"));
  auto open_msg = send_ok(api, s, pub, "the " + word + " is public");
  auto dm = make_dm(api, s, register_account(api, "ownd").id);
  send_ok(api, s, dm, "a " + word + " in a DM");

  EXPECT_TRUE(found(api, a, q(word)).empty()) << "a non-member found messages";
  EXPECT_EQ(found(api, s, q(word)).size(), 3u) << "the member finds all three";
  // Not even when asking for the (visible) public channel by id.
  auto by_id = search(api, a, q(word) + "&conversation_id=" + pub);
  EXPECT_TRUE(by_id.status == 200 || by_id.status == 404) << by_id;
  EXPECT_TRUE(arr(by_id.json, "results").empty())
      << "a non-member found a public channel's messages by conversation_id: " << by_id;
  // Joining the public channel makes its messages searchable for a.
  join(api, a, pub);
  EXPECT_EQ(found(api, a, q(word)), std::vector<std::string>{str(open_msg, "id")});
  // Leaving takes them away again.
  ASSERT_EQ(api.post(conv_path(pub) + "/leave", std::string_view("{}"), a.access).status, 204);
  EXPECT_TRUE(found(api, a, q(word)).empty());
  (void)secret;
}

TEST_F(SearchTest, ChineseAndJapanese) {
  auto api = this->api();
  auto a = register_account(api, "cjk");
  auto conv = make_channel(api, a, channel_name("cjk"), "private");
  auto zh = send_ok(api, a, conv, "我们明天讨论数据库的设计方案");
  auto ja = send_ok(api, a, conv, "来週、東京で会議があります");
  auto ja2 = send_ok(api, a, conv, "京都に行きました");
  send_ok(api, a, conv, "nothing to see here");

  EXPECT_EQ(found(api, a, q("数据库")), std::vector<std::string>{str(zh, "id")});
  EXPECT_EQ(found(api, a, q("東京")), std::vector<std::string>{str(ja, "id")})
      << "a two-character word matches as a substring";
  EXPECT_EQ(found(api, a, q("会議があります")), std::vector<std::string>{str(ja, "id")});
  auto kyo = found(api, a, q("京"));
  EXPECT_EQ(std::set<std::string>(kyo.begin(), kyo.end()),
            (std::set<std::string>{str(ja, "id"), str(ja2, "id")}));
  EXPECT_TRUE(found(api, a, q("大阪")).empty());
  EXPECT_TRUE(found(api, a, q("数据 東京")).empty()) << "words are ANDed";

  auto r = search(api, a, q("数据库"));
  ASSERT_EQ(r.status, 200) << r;
  ASSERT_EQ(arr(r.json, "results").size(), 1u);
  EXPECT_EQ(str(arr(r.json, "results")[0], "highlight"), "我们明天讨论<mark>数据库</mark>的设计方案");
  auto t = search(api, a, q("東京"));
  ASSERT_EQ(arr(t.json, "results").size(), 1u) << t;
  EXPECT_EQ(str(arr(t.json, "results")[0], "highlight"), "来週、<mark>東京</mark>で会議があります");
}

TEST_F(SearchTest, DeletedMessagesAreNotFoundEditsAreReindexed) {
  auto api = this->api();
  auto a = register_account(api, "dlt");
  auto conv = make_channel(api, a, channel_name("dlt"), "private");
  auto doomed = send_ok(api, a, conv, "a doomed walrus message");
  auto kept = send_ok(api, a, conv, "a surviving walrus message");
  EXPECT_EQ(found(api, a, q("walrus")).size(), 2u);
  ASSERT_EQ(api.del(msg_path(str(doomed, "id")), a.access).status, 204);
  EXPECT_EQ(found(api, a, q("walrus")), std::vector<std::string>{str(kept, "id")});
  EXPECT_TRUE(found(api, a, q("doomed")).empty());

  ASSERT_EQ(api.patch(msg_path(str(kept, "id")), object{{"text", "now about a narwhal"}}, a.access)
                .status,
            200);
  EXPECT_TRUE(found(api, a, q("walrus")).empty()) << "the old text is still indexed";
  auto r = search(api, a, q("narwhal"));
  ASSERT_EQ(r.status, 200) << r;
  ASSERT_EQ(arr(r.json, "results").size(), 1u) << r;
  EXPECT_EQ(str(*field(arr(r.json, "results")[0], "message"), "text"), "now about a narwhal");
}

TEST_F(SearchTest, ValidationAndPaging) {
  auto api = this->api();
  auto a = register_account(api, "pg");
  auto missing = search(api, a, "");
  EXPECT_TRUE(missing.status == 400 || missing.status == 422) << missing;
  for (const std::string& query : {std::string("q="), "q=" + std::string(257, 'q')}) {
    auto r = search(api, a, query);
    EXPECT_EQ(r.status, 422) << "'" << query.substr(0, 20) << "': " << r;
    EXPECT_EQ(r.error_field(), "q") << r;
  }
  auto max = search(api, a, "q=" + std::string(256, 'q'));
  EXPECT_EQ(max.status, 200) << "256 characters are allowed: " << max;
  for (const char* bad : {"limit=0", "limit=201"}) {
    auto r = search(api, a, q("x") + "&" + bad);
    EXPECT_EQ(r.status, 422) << bad << ": " << r;
  }
  EXPECT_EQ(search(api, a, q("x") + "&limit=abc").status, 400);
  EXPECT_EQ(api.get("/api/v1/search/messages?q=abc").status, 401);

  auto conv = make_channel(api, a, channel_name("pg"), "private");
  std::set<std::string> all;
  for (int i = 0; i < 7; ++i) all.insert(str(send_ok(api, a, conv, "pelican number " + std::to_string(i)), "id"));
  send_ok(api, a, conv, "something else");
  std::vector<std::string> seen;
  std::vector<std::size_t> sizes;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    auto r = search(api, a, q("pelican") + "&limit=3" + (cursor.empty() ? "" : "&cursor=" + pct(cursor)));
    ASSERT_EQ(r.status, 200) << r;
    auto results = arr(r.json, "results");
    sizes.push_back(results.size());
    for (const auto& res : results) seen.push_back(str(*field(res, "message"), "id"));
    if (is_null_or_absent(r.json, "next_cursor")) break;
    cursor = str(r.json, "next_cursor");
    ASSERT_FALSE(cursor.empty()) << r;
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{3, 3, 1}));
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), all);
  EXPECT_EQ(seen.size(), all.size()) << "a result came twice";
}

}  // namespace
}  // namespace parley::itest
