// The contract every SearchIndex implementation must pass: the same queries find the same
// messages in the same order on every adapter. An adapter's test instantiates it with a factory
// that opens a fresh database and returns its messaging store and search index on it:
//   INSTANTIATE_TEST_SUITE_P(Sqlite, SearchIndexContract, testing::Values(make_fixture));
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "modules/messaging/store.h"
#include "modules/search/store.h"

namespace parley::search {

struct IndexFixture {
  std::shared_ptr<messaging::MessagingStore> store;  // messages are written through it
  std::shared_ptr<SearchIndex> index;                // and found through this
};
using IndexFixtureFactory = std::function<IndexFixture()>;
// ctest names each parameterised case after its printed parameter: name it, not its bytes.
inline void PrintTo(const IndexFixtureFactory&, std::ostream* os) { *os << "index"; }

class SearchIndexContract : public ::testing::TestWithParam<IndexFixtureFactory> {
 protected:
  using V = std::vector<std::string>;

  void SetUp() override {
    f = GetParam()();
    if (IsSkipped()) return;
    ASSERT_TRUE(f.store && f.index);
    for (const char* id : {"C1", "C2"}) {
      messaging::Conversation c;
      c.id = id;
      c.type = messaging::ConversationType::channel;
      c.name = id;
      c.visibility = messaging::Visibility::public_;
      c.created_by = "U1";
      c.created_at = 1000;
      ASSERT_TRUE(f.store->create_conversation(
          c, {{"U1", messaging::Role::owner, 1000}, {"U2", messaging::Role::member, 1000}}));
    }
  }

  void send(const std::string& id, const std::string& cid, const std::string& sender,
            const std::string& text, Millis at) {
    messaging::NewMessage m;
    m.id = id;
    m.conversation_id = cid;
    m.sender_id = sender;
    m.client_msg_id = id;
    m.text = text;
    m.created_at = at;
    ASSERT_TRUE(f.store->append(m));
  }

  // The standard corpus: English, Chinese, Japanese, and punctuation that query syntaxes treat
  // specially.
  void send_corpus() {
    send("M1", "C1", "U1", "the quick brown fox jumps over the lazy dog by the river", 1000);
    send("M2", "C1", "U2", "brown, brown and brown again", 2000);
    send("M3", "C1", "U1", "我住在東京。今天天氣很好", 3000);
    send("M4", "C1", "U2", "東京タワーに行きました", 4000);
    send("M5", "C2", "U1", "Brown in another conversation", 5000);
    send("M6", "C1", "U1", "100% sure_thing, it's \"quoted\" \\ back", 6000);
  }

  V find(V terms, V convs = {"C1"}, const std::function<void(IndexQuery&)>& more = {}) {
    IndexQuery q;
    q.terms = std::move(terms);
    q.conversation_ids = std::move(convs);
    if (more) more(q);
    auto r = f.index->find(q);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : V{};
  }

  IndexFixture f;
};

TEST_P(SearchIndexContract, RanksByRelevanceThenNewestAndFindsSubstrings) {
  send_corpus();
  EXPECT_EQ(find({"brown"}), (V{"M2", "M1"})) << "more matches in a shorter text first";
  EXPECT_EQ(find({"BROWN"}), (V{"M2", "M1"})) << "ASCII case-insensitive";
  EXPECT_EQ(find({"row"}), (V{"M2", "M1"})) << "a substring inside words";
  EXPECT_EQ(find({"ox"}), (V{"M1"})) << "two characters";
  EXPECT_EQ(find({"fox", "quick"}), (V{"M1"})) << "every term must occur";
  EXPECT_TRUE(find({"brown", "zebra"}).empty());
  EXPECT_EQ(find({"brown"}, {"C1", "C2"}), (V{"M2", "M5", "M1"}));
  EXPECT_EQ(find({"brown"}, {"C2"}), (V{"M5"})) << "only the conversations asked for";
}

TEST_P(SearchIndexContract, FindsChineseAndJapaneseWords) {
  send_corpus();
  EXPECT_EQ(find({"東京"}), (V{"M4", "M3"})) << "a two-character word, newest first";
  EXPECT_EQ(find({"東京タワー"}), (V{"M4"}));
  EXPECT_EQ(find({"天氣很好"}), (V{"M3"}));
  EXPECT_EQ(find({"京"}), (V{"M4", "M3"})) << "one character";
}

TEST_P(SearchIndexContract, WildcardsQuotesAndBackslashesAreLiteralText) {
  send_corpus();
  EXPECT_EQ(find({"0%"}), (V{"M6"}));
  EXPECT_EQ(find({"e_t"}), (V{"M6"}));
  EXPECT_EQ(find({"100%"}), (V{"M6"}));
  EXPECT_EQ(find({"sure_thing"}), (V{"M6"}));
  EXPECT_TRUE(find({"surexthing"}).empty()) << "_ is not a wildcard";
  EXPECT_TRUE(find({"10%0"}).empty()) << "% is not a wildcard";
  EXPECT_TRUE(find({"%"}, {"C2"}).empty());
  EXPECT_EQ(find({"it's"}), (V{"M6"}));
  EXPECT_EQ(find({"\"quoted\""}), (V{"M6"}));
  EXPECT_EQ(find({"\\"}), (V{"M6"}));
  EXPECT_EQ(find({"'"}), (V{"M6"}));
  EXPECT_EQ(find({"&|!():*"}), V{}) << "query operators are text, not syntax errors";
  EXPECT_EQ(find({"AND"}), (V{"M2"})) << "a query keyword is a word like any other";
  EXPECT_EQ(find({"NEAR"}), V{});
}

TEST_P(SearchIndexContract, FiltersBySenderAndTimeWithLimitAndOffset) {
  send_corpus();
  EXPECT_EQ(find({"brown"}, {"C1"}, [](auto& q) { q.sender_id = "U1"; }), (V{"M1"}));
  EXPECT_EQ(find({"東京"}, {"C1"}, [](auto& q) { q.before = 4000; }), (V{"M3"}));
  EXPECT_EQ(find({"東京"}, {"C1"}, [](auto& q) { q.after = 3000; }), (V{"M4"}));
  EXPECT_EQ(find({"brown"}, {"C1", "C2"}, [](auto& q) { q.limit = 1; }), (V{"M2"}));
  EXPECT_EQ(find({"brown"}, {"C1", "C2"},
                 [](auto& q) {
                   q.limit = 1;
                   q.offset = 1;
                 }),
            (V{"M5"}));
  EXPECT_EQ(find({"brown"}, {"C1", "C2"}, [](auto& q) { q.offset = 3; }), V{});
}

TEST_P(SearchIndexContract, DeletedMessagesAreGoneAndEditedOnesFoundByNewTextOnly) {
  send_corpus();
  ASSERT_TRUE(f.store->remove_message("M2"));
  EXPECT_EQ(find({"brown"}), (V{"M1"}));
  ASSERT_TRUE(f.store->edit("M1", "a slow grey cat", 7000));
  EXPECT_TRUE(find({"brown"}).empty());
  EXPECT_TRUE(find({"ox"}).empty()) << "old text, two characters";
  EXPECT_EQ(find({"grey"}), (V{"M1"}));
  EXPECT_EQ(find({"ey"}), (V{"M1"}));
}

// A voice message is found by its transcript once it arrives, and no longer when it is deleted.
TEST_P(SearchIndexContract, VoiceMessagesAreFoundByTheirTranscripts) {
  send_corpus();
  messaging::Attachment voice;
  voice.id = "F1";
  voice.name = "voice.webm";
  voice.size = 1000;
  voice.content_type = "audio/webm";
  voice.created_by = "U1";
  messaging::NewMessage m;
  m.id = "V1";
  m.conversation_id = "C1";
  m.sender_id = "U1";
  m.client_msg_id = "V1";
  m.created_at = 7000;
  m.attachments = {voice};
  ASSERT_TRUE(f.store->append(m));
  EXPECT_TRUE(find({"friday"}).empty()) << "no transcript yet";

  voice.transcript =
      messaging::AttachmentTranscript{"the meeting moved to friday", "en", "pocketsphinx"};
  ASSERT_TRUE(f.store->set_attachments("V1", {voice}));
  EXPECT_EQ(find({"friday"}), (V{"V1"}));
  EXPECT_EQ(find({"FRIDAY", "meeting"}), (V{"V1"}));
  auto short_term = find({"ri"});  // friday and river; their order is the index's own ranking
  std::sort(short_term.begin(), short_term.end());
  EXPECT_EQ(short_term, (V{"M1", "V1"})) << "a short term, checked on the transcript too";
  EXPECT_TRUE(find({"voice.webm"}).empty()) << "file names are not transcripts";
  EXPECT_TRUE(find({"pocketsphinx"}).empty()) << "nor the engine's name";

  ASSERT_TRUE(f.store->remove_message("V1"));
  EXPECT_TRUE(find({"friday"}).empty());
}

}  // namespace parley::search
