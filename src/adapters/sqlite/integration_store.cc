// SQLite IntegrationStore: bots, bot tokens, incoming and outgoing webhooks, slash commands.
#include "adapters/sqlite/stores.h"

namespace parley::sqlite {
namespace {

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE integration_bots ("
     "  id TEXT PRIMARY KEY,"
     "  owner_id TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL);"
     "CREATE INDEX integration_bots_owner ON integration_bots(owner_id, created_at);"
     "CREATE TABLE integration_tokens ("
     "  id TEXT PRIMARY KEY,"
     "  bot_id TEXT NOT NULL,"
     "  secret_hash TEXT NOT NULL,"
     "  scopes TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  revoked_at INTEGER);"
     "CREATE INDEX integration_tokens_bot ON integration_tokens(bot_id, created_at);"
     "CREATE TABLE integration_incoming ("
     "  id TEXT PRIMARY KEY,"
     "  conversation_id TEXT NOT NULL,"
     "  name TEXT NOT NULL,"
     "  bot_id TEXT NOT NULL,"
     "  secret_hash TEXT NOT NULL,"
     "  created_by TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL);"
     "CREATE INDEX integration_incoming_conv ON integration_incoming(conversation_id, id);"
     "CREATE TABLE integration_outgoing ("
     "  id TEXT PRIMARY KEY,"
     "  conversation_id TEXT NOT NULL,"
     "  url TEXT NOT NULL,"
     "  events TEXT NOT NULL,"
     "  secret TEXT NOT NULL,"
     "  created_by TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL);"
     "CREATE INDEX integration_outgoing_conv ON integration_outgoing(conversation_id, id);"
     "CREATE TABLE integration_commands ("
     "  id TEXT PRIMARY KEY,"
     "  trigger_word TEXT NOT NULL UNIQUE,"
     "  url TEXT NOT NULL,"
     "  secret TEXT NOT NULL,"
     "  owner_id TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL);"},
};

using namespace integrations;

TokenRecord token_row(const Stmt& q) {
  TokenRecord t{q.text(0), q.text(1), q.text(2), split_words(q.text(3)), q.integer(4), {}};
  if (!q.is_null(5)) t.revoked_at = q.integer(5);
  return t;
}
IncomingRecord incoming_row(const Stmt& q) {
  return {q.text(0), q.text(1), q.text(2), q.text(3), q.text(4), q.text(5), q.integer(6)};
}
OutgoingRecord outgoing_row(const Stmt& q) {
  return {q.text(0), q.text(1), q.text(2),   split_words(q.text(3)),
          q.text(4), q.text(5), q.integer(6)};
}
CommandRecord command_row(const Stmt& q) {
  return {q.text(0), q.text(1), q.text(2), q.text(3), q.text(4), q.integer(5)};
}

constexpr const char* kToken =
    "SELECT id, bot_id, secret_hash, scopes, created_at, revoked_at FROM integration_tokens ";
constexpr const char* kIncoming =
    "SELECT id, conversation_id, name, bot_id, secret_hash, created_by, created_at"
    " FROM integration_incoming ";
constexpr const char* kOutgoing =
    "SELECT id, conversation_id, url, events, secret, created_by, created_at"
    " FROM integration_outgoing ";
constexpr const char* kCommand =
    "SELECT id, trigger_word, url, secret, owner_id, created_at FROM integration_commands ";

class SqliteIntegrationStore final : public IntegrationStore {
 public:
  explicit SqliteIntegrationStore(Database& db) : db_(db) {}

  Result<void> insert_bot(const BotRecord& b) override {
    return exec("INSERT INTO integration_bots (id, owner_id, created_at) VALUES (?, ?, ?)",
                [&](Stmt& s) { s.bind(1, b.id).bind(2, b.owner_id).bind(3, b.created_at); });
  }
  Result<BotRecord> find_bot(const std::string& id) override {
    return one<BotRecord>("SELECT id, owner_id, created_at FROM integration_bots WHERE id = ?", id,
                          "bot", [](const Stmt& q) {
                            return BotRecord{q.text(0), q.text(1), q.integer(2)};
                          });
  }
  Result<std::vector<BotRecord>> bots_of(const std::string& owner_id) override {
    return many<BotRecord>(
        "SELECT id, owner_id, created_at FROM integration_bots WHERE owner_id = ?"
        " ORDER BY created_at, id",
        owner_id, [](const Stmt& q) {
          return BotRecord{q.text(0), q.text(1), q.integer(2)};
        });
  }
  Result<void> delete_bot(const std::string& id) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare("DELETE FROM integration_tokens WHERE bot_id = ?").bind(1, id).exec();
      if (c.prepare("DELETE FROM integration_bots WHERE id = ?").bind(1, id).exec() == 0)
        return fail(Errc::not_found, "bot not found");
      return ok();
    });
  }

  Result<void> insert_token(const TokenRecord& t) override {
    return exec(
        "INSERT INTO integration_tokens (id, bot_id, secret_hash, scopes, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [&](Stmt& s) {
          s.bind(1, t.id).bind(2, t.bot_id).bind(3, t.secret_hash).bind(4, join_words(t.scopes));
          s.bind(5, t.created_at);
        });
  }
  Result<TokenRecord> find_token(const std::string& id) override {
    return one<TokenRecord>(std::string(kToken) + "WHERE id = ?", id, "token", token_row);
  }
  Result<std::vector<TokenRecord>> tokens_of(const std::string& bot_id) override {
    return many<TokenRecord>(std::string(kToken) + "WHERE bot_id = ? ORDER BY created_at, id",
                             bot_id, token_row);
  }
  Result<void> revoke_token(const std::string& id, Millis at) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare("UPDATE integration_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
          .bind(1, at)
          .bind(2, id)
          .exec();
      auto q = c.prepare("SELECT 1 FROM integration_tokens WHERE id = ?");
      q.bind(1, id);
      if (!q.step()) return fail(Errc::not_found, "token not found");
      return ok();
    });
  }

  Result<void> insert_incoming(const IncomingRecord& w) override {
    return exec(
        "INSERT INTO integration_incoming (id, conversation_id, name, bot_id, secret_hash,"
        " created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [&](Stmt& s) {
          s.bind(1, w.id).bind(2, w.conversation_id).bind(3, w.name).bind(4, w.bot_id);
          s.bind(5, w.secret_hash).bind(6, w.created_by).bind(7, w.created_at);
        });
  }
  Result<IncomingRecord> find_incoming(const std::string& id) override {
    return one<IncomingRecord>(std::string(kIncoming) + "WHERE id = ?", id, "webhook",
                               incoming_row);
  }
  Result<std::vector<IncomingRecord>> incoming_of(const std::string& conversation_id) override {
    return many<IncomingRecord>(std::string(kIncoming) + "WHERE conversation_id = ? ORDER BY id",
                                conversation_id, incoming_row);
  }
  Result<void> delete_incoming(const std::string& id) override {
    return remove("DELETE FROM integration_incoming WHERE id = ?", id, "webhook");
  }

  Result<void> insert_outgoing(const OutgoingRecord& w) override {
    return exec(
        "INSERT INTO integration_outgoing (id, conversation_id, url, events, secret, created_by,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [&](Stmt& s) {
          s.bind(1, w.id).bind(2, w.conversation_id).bind(3, w.url).bind(4, join_words(w.events));
          s.bind(5, w.secret).bind(6, w.created_by).bind(7, w.created_at);
        });
  }
  Result<OutgoingRecord> find_outgoing(const std::string& id) override {
    return one<OutgoingRecord>(std::string(kOutgoing) + "WHERE id = ?", id, "webhook",
                               outgoing_row);
  }
  Result<std::vector<OutgoingRecord>> outgoing_of(const std::string& conversation_id) override {
    return many<OutgoingRecord>(std::string(kOutgoing) + "WHERE conversation_id = ? ORDER BY id",
                                conversation_id, outgoing_row);
  }
  Result<bool> any_outgoing() override {
    return db_.read_value([&](Connection& c) -> Result<bool> {
      auto q = c.prepare("SELECT EXISTS (SELECT 1 FROM integration_outgoing)");
      return q.step() && q.integer(0) != 0;
    });
  }
  Result<void> delete_outgoing(const std::string& id) override {
    return remove("DELETE FROM integration_outgoing WHERE id = ?", id, "webhook");
  }

  Result<void> insert_command(const CommandRecord& r) override {
    return db_.write([&](Connection& c) -> Result<void> {
      try {
        c.prepare(
             "INSERT INTO integration_commands (id, trigger_word, url, secret, owner_id,"
             " created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(1, r.id)
            .bind(2, r.trigger)
            .bind(3, r.url)
            .bind(4, r.secret)
            .bind(5, r.owner_id)
            .bind(6, r.created_at)
            .exec();
      } catch (const std::exception& e) {
        if (is_unique_violation(e)) return fail(Errc::already_exists, "trigger taken");
        throw;
      }
      return ok();
    });
  }
  Result<CommandRecord> find_command(const std::string& id) override {
    return one<CommandRecord>(std::string(kCommand) + "WHERE id = ?", id, "command", command_row);
  }
  Result<CommandRecord> find_command_by_trigger(const std::string& trigger) override {
    return one<CommandRecord>(std::string(kCommand) + "WHERE trigger_word = ?", trigger, "command",
                              command_row);
  }
  Result<std::vector<CommandRecord>> commands() override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<CommandRecord>> {
      auto q = c.prepare(std::string(kCommand) + "ORDER BY trigger_word");
      std::vector<CommandRecord> out;
      while (q.step()) out.push_back(command_row(q));
      return out;
    });
  }
  Result<void> delete_command(const std::string& id) override {
    return remove("DELETE FROM integration_commands WHERE id = ?", id, "command");
  }

 private:
  template <class Bind>
  Result<void> exec(const char* sql, Bind bind) {
    return db_.write([&](Connection& c) -> Result<void> {
      auto s = c.prepare(sql);
      bind(s);
      s.exec();
      return ok();
    });
  }
  Result<void> remove(const char* sql, const std::string& id, const char* what) {
    return db_.write([&](Connection& c) -> Result<void> {
      if (c.prepare(sql).bind(1, id).exec() == 0)
        return fail(Errc::not_found, std::string(what) + " not found");
      return ok();
    });
  }
  template <class T, class Row>
  Result<T> one(const std::string& sql, const std::string& key, const char* what, Row row) {
    return db_.read_value([&](Connection& c) -> Result<T> {
      auto q = c.prepare(sql);
      q.bind(1, key);
      if (!q.step()) return fail(Errc::not_found, std::string(what) + " not found");
      return row(q);
    });
  }
  template <class T, class Row>
  Result<std::vector<T>> many(const std::string& sql, const std::string& key, Row row) {
    return db_.read_value([&](Connection& c) -> Result<std::vector<T>> {
      auto q = c.prepare(sql);
      q.bind(1, key);
      std::vector<T> out;
      while (q.step()) out.push_back(row(q));
      return out;
    });
  }

  Database& db_;
};

}  // namespace

Result<std::unique_ptr<integrations::IntegrationStore>> make_integration_store(Database& db) {
  if (auto m = db.migrate("integrations", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<integrations::IntegrationStore>(new SqliteIntegrationStore(db));
}

}  // namespace parley::sqlite
