// SQLite AiStore: the ai module's own tables (component "ai"). Compound scores are kept as
// integers in units of 1/10000, so sums stay exact and both backends agree to the digit.
#include "adapters/sqlite/stores.h"

namespace parley::sqlite {
namespace {

using namespace ai;

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE ai_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
     "CREATE TABLE ai_user_languages (user_id TEXT PRIMARY KEY, language TEXT NOT NULL)"
     "  WITHOUT ROWID;"
     "CREATE TABLE ai_auto_translate (user_id TEXT NOT NULL, conversation_id TEXT NOT NULL,"
     "  PRIMARY KEY (user_id, conversation_id)) WITHOUT ROWID;"
     "CREATE TABLE ai_reminders (id TEXT PRIMARY KEY, user_id TEXT NOT NULL,"
     "  conversation_id TEXT NOT NULL, text TEXT NOT NULL, due_at INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL, fired_at INTEGER);"
     "CREATE INDEX ai_reminders_due ON ai_reminders(due_at) WHERE fired_at IS NULL;"
     "CREATE TABLE ai_sentiment (message_id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL,"
     "  day TEXT NOT NULL, compound_e4 INTEGER NOT NULL) WITHOUT ROWID;"
     "CREATE INDEX ai_sentiment_day ON ai_sentiment(day, conversation_id);"
     "CREATE TABLE ai_reply_pairs (prompt TEXT NOT NULL, reply TEXT NOT NULL,"
     "  conversation_id TEXT NOT NULL, PRIMARY KEY (prompt, reply, conversation_id))"
     "  WITHOUT ROWID;"},
};

class SqliteAiStore final : public AiStore {
 public:
  explicit SqliteAiStore(Database& db) : db_(db) {}

  Result<std::optional<std::string>> setting(const std::string& key) override {
    return db_.read_value([&](Connection& c) -> Result<std::optional<std::string>> {
      auto q = c.prepare("SELECT value FROM ai_settings WHERE key = ?");
      q.bind(1, key);
      if (!q.step()) return std::optional<std::string>{};
      return std::optional<std::string>{q.text(0)};
    });
  }

  Result<void> set_setting(const std::string& key, const std::string& value) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare("INSERT INTO ai_settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value")
          .bind(1, key)
          .bind(2, value)
          .exec();
      return ok();
    });
  }

  Result<std::string> user_language(const std::string& user_id) override {
    return db_.read_value([&](Connection& c) -> Result<std::string> {
      auto q = c.prepare("SELECT language FROM ai_user_languages WHERE user_id = ?");
      q.bind(1, user_id);
      return q.step() ? q.text(0) : std::string();
    });
  }

  Result<void> set_user_language(const std::string& user_id, const std::string& lang) override {
    return db_.write([&](Connection& c) -> Result<void> {
      if (lang.empty()) {
        c.prepare("DELETE FROM ai_user_languages WHERE user_id = ?").bind(1, user_id).exec();
      } else {
        c.prepare("INSERT INTO ai_user_languages (user_id, language) VALUES (?, ?)"
                  " ON CONFLICT (user_id) DO UPDATE SET language = excluded.language")
            .bind(1, user_id)
            .bind(2, lang)
            .exec();
      }
      return ok();
    });
  }

  Result<bool> auto_translate(const std::string& user_id,
                              const std::string& conversation_id) override {
    return db_.read_value([&](Connection& c) -> Result<bool> {
      auto q = c.prepare(
          "SELECT 1 FROM ai_auto_translate WHERE user_id = ? AND conversation_id = ?");
      q.bind(1, user_id).bind(2, conversation_id);
      return q.step();
    });
  }

  Result<void> set_auto_translate(const std::string& user_id, const std::string& conversation_id,
                                  bool on) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare(on ? "INSERT OR IGNORE INTO ai_auto_translate (user_id, conversation_id)"
                     " VALUES (?, ?)"
                   : "DELETE FROM ai_auto_translate WHERE user_id = ? AND conversation_id = ?")
          .bind(1, user_id)
          .bind(2, conversation_id)
          .exec();
      return ok();
    });
  }

  Result<void> add_reminder(const Reminder& r) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare("INSERT INTO ai_reminders (id, user_id, conversation_id, text, due_at,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)")
          .bind(1, r.id)
          .bind(2, r.user_id)
          .bind(3, r.conversation_id)
          .bind(4, r.text)
          .bind(5, r.due_at)
          .bind(6, r.created_at)
          .exec();
      return ok();
    });
  }

  Result<std::vector<Reminder>> due_reminders(Millis now, int limit) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<Reminder>> {
      auto q = c.prepare(
          "SELECT id, user_id, conversation_id, text, due_at, created_at FROM ai_reminders"
          " WHERE fired_at IS NULL AND due_at <= ? ORDER BY due_at, id LIMIT ?");
      q.bind(1, now).bind(2, limit);
      std::vector<Reminder> out;
      while (q.step())
        out.push_back({q.text(0), q.text(1), q.text(2), q.text(3), q.integer(4), q.integer(5)});
      return out;
    });
  }

  Result<bool> claim_reminder(const std::string& id, Millis now) override {
    return db_.write_value([&](Connection& c) -> Result<bool> {
      return c.prepare("UPDATE ai_reminders SET fired_at = ? WHERE id = ? AND fired_at IS NULL")
                 .bind(1, now)
                 .bind(2, id)
                 .exec() == 1;
    });
  }

  Result<void> record_sentiment(const std::string& message_id, const std::string& conversation_id,
                                const std::string& date, double compound) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare("INSERT OR IGNORE INTO ai_sentiment (message_id, conversation_id, day,"
                " compound_e4) VALUES (?, ?, ?, ?)")
          .bind(1, message_id)
          .bind(2, conversation_id)
          .bind(3, date)
          .bind(4, static_cast<std::int64_t>(compound * 10'000.0 + (compound < 0 ? -0.5 : 0.5)))
          .exec();
      return ok();
    });
  }

  Result<std::vector<SentimentDay>> sentiment_days(const std::string& from,
                                                   const std::string& to) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<SentimentDay>> {
      auto q = c.prepare(
          "SELECT conversation_id, day, COUNT(*), SUM(compound_e4),"
          " SUM(compound_e4 >= 500), SUM(compound_e4 <= -500) FROM ai_sentiment"
          " WHERE day >= ? AND day <= ? GROUP BY day, conversation_id"
          " ORDER BY day, conversation_id");
      q.bind(1, from).bind(2, to);
      std::vector<SentimentDay> out;
      while (q.step()) {
        SentimentDay d;
        d.conversation_id = q.text(0);
        d.date = q.text(1);
        d.messages = q.integer(2);
        d.compound = d.messages ? static_cast<double>(q.integer(3)) / 10'000.0 /
                                      static_cast<double>(d.messages)
                                : 0;
        d.positive = q.integer(4);
        d.negative = q.integer(5);
        out.push_back(std::move(d));
      }
      return out;
    });
  }

  Result<void> add_reply_pair(const std::string& prompt, const std::string& reply,
                              const std::string& conversation_id) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare("INSERT OR IGNORE INTO ai_reply_pairs (prompt, reply, conversation_id)"
                " VALUES (?, ?, ?)")
          .bind(1, prompt)
          .bind(2, reply)
          .bind(3, conversation_id)
          .exec();
      return ok();
    });
  }

  Result<std::vector<LearnedReply>> learned_replies(int min_conversations, int limit) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<LearnedReply>> {
      auto q = c.prepare(
          "SELECT prompt, reply, COUNT(*) AS n FROM ai_reply_pairs GROUP BY prompt, reply"
          " HAVING COUNT(*) >= ? ORDER BY n DESC, prompt, reply LIMIT ?");
      q.bind(1, min_conversations).bind(2, limit);
      std::vector<LearnedReply> out;
      while (q.step()) out.push_back({q.text(0), q.text(1), q.integer(2)});
      return out;
    });
  }

 private:
  Database& db_;
};

}  // namespace

Result<std::unique_ptr<ai::AiStore>> make_ai_store(Database& db) {
  if (auto m = db.migrate("ai", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<ai::AiStore>(new SqliteAiStore(db));
}

}  // namespace parley::sqlite
