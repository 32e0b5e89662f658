// AiStore: the port through which the AI module keeps its own state: each user's language and
// per-conversation auto-translate choice, the assistant's reminders, per-message sentiment
// scores (for the daily per-channel aggregates of the admin analytics), the reply pairs smart
// replies learn from, and a few settings (the assistant's user id). Implemented by adapters
// (SQLite, PostgreSQL); every implementation passes store_contract.h. Blocking; thread-safe.
//
// Writes that events cause (sentiment, reply pairs) are idempotent, so that several nodes, each
// seeing every event, store each once. claim_reminder() hands a reminder to exactly one caller.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace parley::ai {

struct Reminder {
  std::string id;
  std::string user_id;
  std::string conversation_id;  // where it was asked for (the answer goes to the user's DM)
  std::string text;
  Millis due_at = 0;
  Millis created_at = 0;
};

struct SentimentDay {
  std::string conversation_id;
  std::string date;  // YYYY-MM-DD (UTC)
  std::int64_t messages = 0;
  double compound = 0;  // mean compound score of that day's messages
  std::int64_t positive = 0, negative = 0;  // messages with compound >= 0.05 / <= -0.05
};

struct LearnedReply {
  std::string prompt;  // normalised text of the message answered
  std::string reply;
  std::int64_t conversations = 0;  // in how many distinct conversations this pair was seen
};

class AiStore {
 public:
  virtual ~AiStore() = default;

  virtual Result<std::optional<std::string>> setting(const std::string& key) = 0;
  virtual Result<void> set_setting(const std::string& key, const std::string& value) = 0;

  // "" when the user chose none.
  virtual Result<std::string> user_language(const std::string& user_id) = 0;
  virtual Result<void> set_user_language(const std::string& user_id, const std::string& lang) = 0;
  virtual Result<bool> auto_translate(const std::string& user_id,
                                      const std::string& conversation_id) = 0;
  virtual Result<void> set_auto_translate(const std::string& user_id,
                                          const std::string& conversation_id, bool on) = 0;

  virtual Result<void> add_reminder(const Reminder& r) = 0;
  // Unclaimed reminders due at or before now, earliest first.
  virtual Result<std::vector<Reminder>> due_reminders(Millis now, int limit) = 0;
  // True for the one caller that claims it; false when it was claimed already or is unknown.
  virtual Result<bool> claim_reminder(const std::string& id, Millis now) = 0;

  // Once per message; a repeat is ignored.
  virtual Result<void> record_sentiment(const std::string& message_id,
                                        const std::string& conversation_id,
                                        const std::string& date, double compound) = 0;
  // Days from..to inclusive (YYYY-MM-DD), by date then conversation.
  virtual Result<std::vector<SentimentDay>> sentiment_days(const std::string& from,
                                                           const std::string& to) = 0;

  // Once per (prompt, reply, conversation); a repeat is ignored.
  virtual Result<void> add_reply_pair(const std::string& prompt, const std::string& reply,
                                      const std::string& conversation_id) = 0;
  // Pairs seen in at least min_conversations distinct conversations, most seen first.
  virtual Result<std::vector<LearnedReply>> learned_replies(int min_conversations,
                                                            int limit) = 0;
};

}  // namespace parley::ai
