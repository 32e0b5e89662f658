// PostgreSQL AiStore: the ai module's own tables (component "ai"), shared by every node. Writes
// caused by events (sentiment, reply pairs) are ON CONFLICT DO NOTHING, since every node sees
// every event; a reminder is claimed by the one UPDATE that finds it unfired.
#include "adapters/postgres/stores.h"

namespace parley::postgres {
namespace {

using namespace ai;

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE ai_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
     "CREATE TABLE ai_user_languages (user_id TEXT PRIMARY KEY, language TEXT NOT NULL);"
     "CREATE TABLE ai_auto_translate (user_id TEXT NOT NULL, conversation_id TEXT NOT NULL,"
     "  PRIMARY KEY (user_id, conversation_id));"
     "CREATE TABLE ai_reminders (id TEXT PRIMARY KEY, user_id TEXT NOT NULL,"
     "  conversation_id TEXT NOT NULL, text TEXT NOT NULL, due_at BIGINT NOT NULL,"
     "  created_at BIGINT NOT NULL, fired_at BIGINT);"
     "CREATE INDEX ai_reminders_due ON ai_reminders(due_at) WHERE fired_at IS NULL;"
     "CREATE TABLE ai_sentiment (message_id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL,"
     "  day TEXT NOT NULL, compound_e4 INTEGER NOT NULL);"
     "CREATE INDEX ai_sentiment_day ON ai_sentiment(day, conversation_id);"
     "CREATE TABLE ai_reply_pairs (prompt TEXT NOT NULL, reply TEXT NOT NULL,"
     "  conversation_id TEXT NOT NULL, PRIMARY KEY (prompt, reply, conversation_id));"},
};

class PostgresAiStore final : public AiStore {
 public:
  explicit PostgresAiStore(Pool& pool) : pool_(pool) {}

  Result<std::optional<std::string>> setting(const std::string& key) override {
    return pool_.run_value([&](Connection& c) -> Result<std::optional<std::string>> {
      auto q = c.exec("SELECT value FROM ai_settings WHERE key = $1", {key});
      if (q.empty()) return std::optional<std::string>{};
      return std::optional<std::string>{q.text(0, 0)};
    });
  }

  Result<void> set_setting(const std::string& key, const std::string& value) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec("INSERT INTO ai_settings (key, value) VALUES ($1, $2)"
             " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
             {key, value});
      return ok();
    });
  }

  Result<std::string> user_language(const std::string& user_id) override {
    return pool_.run_value([&](Connection& c) -> Result<std::string> {
      auto q = c.exec("SELECT language FROM ai_user_languages WHERE user_id = $1", {user_id});
      return q.empty() ? std::string() : q.text(0, 0);
    });
  }

  Result<void> set_user_language(const std::string& user_id, const std::string& lang) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      if (lang.empty())
        c.exec("DELETE FROM ai_user_languages WHERE user_id = $1", {user_id});
      else
        c.exec("INSERT INTO ai_user_languages (user_id, language) VALUES ($1, $2)"
               " ON CONFLICT (user_id) DO UPDATE SET language = excluded.language",
               {user_id, lang});
      return ok();
    });
  }

  Result<bool> auto_translate(const std::string& user_id,
                              const std::string& conversation_id) override {
    return pool_.run_value([&](Connection& c) -> Result<bool> {
      return !c.exec("SELECT 1 FROM ai_auto_translate WHERE user_id = $1 AND conversation_id = $2",
                     {user_id, conversation_id})
                  .empty();
    });
  }

  Result<void> set_auto_translate(const std::string& user_id, const std::string& conversation_id,
                                  bool on) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      if (on)
        c.exec("INSERT INTO ai_auto_translate (user_id, conversation_id) VALUES ($1, $2)"
               " ON CONFLICT DO NOTHING",
               {user_id, conversation_id});
      else
        c.exec("DELETE FROM ai_auto_translate WHERE user_id = $1 AND conversation_id = $2",
               {user_id, conversation_id});
      return ok();
    });
  }

  Result<void> add_reminder(const Reminder& r) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec("INSERT INTO ai_reminders (id, user_id, conversation_id, text, due_at, created_at)"
             " VALUES ($1, $2, $3, $4, $5, $6)",
             {r.id, r.user_id, r.conversation_id, r.text, r.due_at, r.created_at});
      return ok();
    });
  }

  Result<std::vector<Reminder>> due_reminders(Millis now, int limit) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<Reminder>> {
      auto q = c.exec(
          "SELECT id, user_id, conversation_id, text, due_at, created_at FROM ai_reminders"
          " WHERE fired_at IS NULL AND due_at <= $1 ORDER BY due_at, id LIMIT $2",
          {now, limit});
      std::vector<Reminder> out;
      for (int i = 0; i < q.size(); ++i)
        out.push_back({q.text(i, 0), q.text(i, 1), q.text(i, 2), q.text(i, 3), q.integer(i, 4),
                       q.integer(i, 5)});
      return out;
    });
  }

  Result<bool> claim_reminder(const std::string& id, Millis now) override {
    return pool_.transaction_value([&](Connection& c) -> Result<bool> {
      return c.exec("UPDATE ai_reminders SET fired_at = $1 WHERE id = $2 AND fired_at IS NULL",
                    {now, id})
                 .affected() == 1;
    });
  }

  Result<void> record_sentiment(const std::string& message_id, const std::string& conversation_id,
                                const std::string& date, double compound) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      commit_without_flush_wait(c);  // one per message: derived, and scored again if lost
      c.exec("INSERT INTO ai_sentiment (message_id, conversation_id, day, compound_e4)"
             " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
             {message_id, conversation_id, date,
              static_cast<std::int64_t>(compound * 10'000.0 + (compound < 0 ? -0.5 : 0.5))});
      return ok();
    });
  }

  Result<std::vector<SentimentDay>> sentiment_days(const std::string& from,
                                                   const std::string& to) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<SentimentDay>> {
      auto q = c.exec(
          "SELECT conversation_id, day, COUNT(*), SUM(compound_e4),"
          " COUNT(*) FILTER (WHERE compound_e4 >= 500), COUNT(*) FILTER (WHERE compound_e4 <= -500)"
          " FROM ai_sentiment WHERE day >= $1 AND day <= $2 GROUP BY day, conversation_id"
          " ORDER BY day, conversation_id",
          {from, to});
      std::vector<SentimentDay> out;
      for (int i = 0; i < q.size(); ++i) {
        SentimentDay d;
        d.conversation_id = q.text(i, 0);
        d.date = q.text(i, 1);
        d.messages = q.integer(i, 2);
        d.compound = d.messages ? static_cast<double>(q.integer(i, 3)) / 10'000.0 /
                                      static_cast<double>(d.messages)
                                : 0;
        d.positive = q.integer(i, 4);
        d.negative = q.integer(i, 5);
        out.push_back(std::move(d));
      }
      return out;
    });
  }

  Result<void> add_reply_pair(const std::string& prompt, const std::string& reply,
                              const std::string& conversation_id) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      commit_without_flush_wait(c);  // learned from traffic: a lost pair is learned again
      c.exec("INSERT INTO ai_reply_pairs (prompt, reply, conversation_id) VALUES ($1, $2, $3)"
             " ON CONFLICT DO NOTHING",
             {prompt, reply, conversation_id});
      return ok();
    });
  }

  Result<std::vector<LearnedReply>> learned_replies(int min_conversations, int limit) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<LearnedReply>> {
      auto q = c.exec(
          "SELECT prompt, reply, COUNT(*) AS n FROM ai_reply_pairs GROUP BY prompt, reply"
          " HAVING COUNT(*) >= $1 ORDER BY n DESC, prompt COLLATE \"C\", reply COLLATE \"C\""
          " LIMIT $2",
          {min_conversations, limit});
      std::vector<LearnedReply> out;
      for (int i = 0; i < q.size(); ++i)
        out.push_back({q.text(i, 0), q.text(i, 1), q.integer(i, 2)});
      return out;
    });
  }

 private:
  Pool& pool_;
};

}  // namespace

Result<std::unique_ptr<ai::AiStore>> make_ai_store(Pool& pool) {
  if (auto m = pool.migrate("ai", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<ai::AiStore>(new PostgresAiStore(pool));
}

}  // namespace parley::postgres
