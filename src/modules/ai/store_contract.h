// The AiStore contract: every backend (SQLite, PostgreSQL) runs these, instantiated in
// adapters/*/stores_test.cc with a factory that hands out an empty store.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "modules/ai/store.h"

namespace parley::ai {

using AiStoreFactory = std::function<std::shared_ptr<AiStore>()>;
inline void PrintTo(const AiStoreFactory&, std::ostream* os) { *os << "store"; }

class AiStoreContract : public ::testing::TestWithParam<AiStoreFactory> {
 protected:
  void SetUp() override { store = GetParam()(); }
  std::shared_ptr<AiStore> store;
};

TEST_P(AiStoreContract, SettingsAreSetReplacedAndReadBack) {
  EXPECT_FALSE(store->setting("assistant_user_id").value().has_value());
  ASSERT_TRUE(store->set_setting("assistant_user_id", "u1"));
  ASSERT_TRUE(store->set_setting("assistant_user_id", "u2"));
  EXPECT_EQ(store->setting("assistant_user_id").value(), std::optional<std::string>("u2"));
}

TEST_P(AiStoreContract, LanguageAndAutoTranslatePerUser) {
  EXPECT_EQ(store->user_language("a").value(), "");
  ASSERT_TRUE(store->set_user_language("a", "es"));
  ASSERT_TRUE(store->set_user_language("a", "ca"));
  EXPECT_EQ(store->user_language("a").value(), "ca");
  EXPECT_EQ(store->user_language("b").value(), "");
  ASSERT_TRUE(store->set_user_language("a", ""));
  EXPECT_EQ(store->user_language("a").value(), "");

  EXPECT_FALSE(store->auto_translate("a", "c1").value());
  ASSERT_TRUE(store->set_auto_translate("a", "c1", true));
  ASSERT_TRUE(store->set_auto_translate("a", "c1", true));  // idempotent
  EXPECT_TRUE(store->auto_translate("a", "c1").value());
  EXPECT_FALSE(store->auto_translate("b", "c1").value());
  ASSERT_TRUE(store->set_auto_translate("a", "c1", false));
  EXPECT_FALSE(store->auto_translate("a", "c1").value());
}

TEST_P(AiStoreContract, RemindersComeDueInOrderAndAreClaimedOnce) {
  ASSERT_TRUE(store->add_reminder({"r2", "u", "c", "second", 2000, 10}));
  ASSERT_TRUE(store->add_reminder({"r1", "u", "c", "first", 1000, 10}));
  ASSERT_TRUE(store->add_reminder({"r3", "u", "c", "later", 9000, 10}));
  auto due = store->due_reminders(2000, 10).value();
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].id, "r1");
  EXPECT_EQ(due[0].text, "first");
  EXPECT_EQ(due[1].id, "r2");
  EXPECT_TRUE(store->claim_reminder("r1", 2000).value());
  EXPECT_FALSE(store->claim_reminder("r1", 2001).value());
  EXPECT_FALSE(store->claim_reminder("nope", 2001).value());
  due = store->due_reminders(2000, 10).value();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].id, "r2");
}

TEST_P(AiStoreContract, SentimentIsRecordedOncePerMessageAndAggregatedPerDay) {
  ASSERT_TRUE(store->record_sentiment("m1", "c1", "2026-01-01", 0.5));
  ASSERT_TRUE(store->record_sentiment("m1", "c1", "2026-01-01", 0.9));  // a repeat: ignored
  ASSERT_TRUE(store->record_sentiment("m2", "c1", "2026-01-01", -0.25));
  ASSERT_TRUE(store->record_sentiment("m3", "c2", "2026-01-01", 0.0));
  ASSERT_TRUE(store->record_sentiment("m4", "c1", "2026-01-02", -0.8));
  ASSERT_TRUE(store->record_sentiment("m5", "c1", "2026-01-05", 0.8));
  auto days = store->sentiment_days("2026-01-01", "2026-01-02").value();
  ASSERT_EQ(days.size(), 3u);
  EXPECT_EQ(days[0].conversation_id, "c1");
  EXPECT_EQ(days[0].date, "2026-01-01");
  EXPECT_EQ(days[0].messages, 2);
  EXPECT_NEAR(days[0].compound, 0.125, 1e-9);
  EXPECT_EQ(days[0].positive, 1);
  EXPECT_EQ(days[0].negative, 1);
  EXPECT_EQ(days[1].conversation_id, "c2");
  EXPECT_EQ(days[2].date, "2026-01-02");
  EXPECT_EQ(days[2].negative, 1);
}

TEST_P(AiStoreContract, ReplyPairsCountDistinctConversations) {
  for (const char* c : {"c1", "c2", "c3"}) ASSERT_TRUE(store->add_reply_pair("thanks", "np", c));
  ASSERT_TRUE(store->add_reply_pair("thanks", "np", "c1"));  // same conversation again
  ASSERT_TRUE(store->add_reply_pair("thanks", "private words", "c1"));
  ASSERT_TRUE(store->add_reply_pair("hi", "hello", "c1"));
  ASSERT_TRUE(store->add_reply_pair("hi", "hello", "c2"));
  auto learned = store->learned_replies(2, 10).value();
  ASSERT_EQ(learned.size(), 2u);
  EXPECT_EQ(learned[0].reply, "np");
  EXPECT_EQ(learned[0].conversations, 3);
  EXPECT_EQ(learned[1].reply, "hello");
  EXPECT_EQ(store->learned_replies(3, 10).value().size(), 1u);
}

}  // namespace parley::ai
