// PostgreSQL IntegrationStore: bots, bot tokens, incoming and outgoing webhooks, slash commands.
// Each call is one statement (or one transaction); nothing here needs a row lock.
#include "adapters/postgres/stores.h"

namespace parley::postgres {
namespace {

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE integration_bots ("
     "  id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  owner_id TEXT COLLATE \"C\" NOT NULL,"
     "  created_at BIGINT NOT NULL);"
     "CREATE INDEX integration_bots_owner ON integration_bots (owner_id, created_at);"
     "CREATE TABLE integration_tokens ("
     "  id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  bot_id TEXT COLLATE \"C\" NOT NULL,"
     "  secret_hash TEXT NOT NULL,"
     "  scopes TEXT NOT NULL,"
     "  created_at BIGINT NOT NULL,"
     "  revoked_at BIGINT);"
     "CREATE INDEX integration_tokens_bot ON integration_tokens (bot_id, created_at);"
     "CREATE TABLE integration_incoming ("
     "  id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  conversation_id TEXT COLLATE \"C\" NOT NULL,"
     "  name TEXT NOT NULL,"
     "  bot_id TEXT COLLATE \"C\" NOT NULL,"
     "  secret_hash TEXT NOT NULL,"
     "  created_by TEXT COLLATE \"C\" NOT NULL,"
     "  created_at BIGINT NOT NULL);"
     "CREATE INDEX integration_incoming_conv ON integration_incoming (conversation_id, id);"
     "CREATE TABLE integration_outgoing ("
     "  id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  conversation_id TEXT COLLATE \"C\" NOT NULL,"
     "  url TEXT NOT NULL,"
     "  events TEXT NOT NULL,"
     "  secret TEXT NOT NULL,"
     "  created_by TEXT COLLATE \"C\" NOT NULL,"
     "  created_at BIGINT NOT NULL);"
     "CREATE INDEX integration_outgoing_conv ON integration_outgoing (conversation_id, id);"
     "CREATE TABLE integration_commands ("
     "  id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  trigger_word TEXT COLLATE \"C\" NOT NULL UNIQUE,"
     "  url TEXT NOT NULL,"
     "  secret TEXT NOT NULL,"
     "  owner_id TEXT COLLATE \"C\" NOT NULL,"
     "  created_at BIGINT NOT NULL);"},
};

using namespace integrations;

TokenRecord token_row(const Rows& r, int i) {
  TokenRecord t{
      r.text(i, 0), r.text(i, 1), r.text(i, 2), split_words(r.text(i, 3)), r.integer(i, 4), {}};
  if (!r.is_null(i, 5)) t.revoked_at = r.integer(i, 5);
  return t;
}
IncomingRecord incoming_row(const Rows& r, int i) {
  return {r.text(i, 0), r.text(i, 1), r.text(i, 2),   r.text(i, 3),
          r.text(i, 4), r.text(i, 5), r.integer(i, 6)};
}
OutgoingRecord outgoing_row(const Rows& r, int i) {
  return {r.text(i, 0), r.text(i, 1), r.text(i, 2),   split_words(r.text(i, 3)),
          r.text(i, 4), r.text(i, 5), r.integer(i, 6)};
}
CommandRecord command_row(const Rows& r, int i) {
  return {r.text(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4), r.integer(i, 5)};
}
BotRecord bot_row(const Rows& r, int i) { return {r.text(i, 0), r.text(i, 1), r.integer(i, 2)}; }

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

class PostgresIntegrationStore final : public IntegrationStore {
 public:
  explicit PostgresIntegrationStore(Pool& pool) : pool_(pool) {}

  Result<void> insert_bot(const BotRecord& b) override {
    return exec("INSERT INTO integration_bots (id, owner_id, created_at) VALUES ($1, $2, $3)",
                {b.id, b.owner_id, b.created_at});
  }
  Result<BotRecord> find_bot(const std::string& id) override {
    return one<BotRecord>("SELECT id, owner_id, created_at FROM integration_bots WHERE id = $1", id,
                          "bot", bot_row);
  }
  Result<std::vector<BotRecord>> bots_of(const std::string& owner_id) override {
    return many<BotRecord>(
        "SELECT id, owner_id, created_at FROM integration_bots WHERE owner_id = $1"
        " ORDER BY created_at, id",
        owner_id, bot_row);
  }
  Result<void> delete_bot(const std::string& id) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec("DELETE FROM integration_tokens WHERE bot_id = $1", {id});
      if (c.exec("DELETE FROM integration_bots WHERE id = $1", {id}).affected() == 0)
        return fail(Errc::not_found, "bot not found");
      return ok();
    });
  }

  Result<void> insert_token(const TokenRecord& t) override {
    return exec(
        "INSERT INTO integration_tokens (id, bot_id, secret_hash, scopes, created_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        {t.id, t.bot_id, t.secret_hash, join_words(t.scopes), t.created_at});
  }
  Result<TokenRecord> find_token(const std::string& id) override {
    return one<TokenRecord>(std::string(kToken) + "WHERE id = $1", id, "token", token_row);
  }
  Result<std::vector<TokenRecord>> tokens_of(const std::string& bot_id) override {
    return many<TokenRecord>(std::string(kToken) + "WHERE bot_id = $1 ORDER BY created_at, id",
                             bot_id, token_row);
  }
  Result<void> revoke_token(const std::string& id, Millis at) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec("UPDATE integration_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
             {at, id});
      if (c.exec("SELECT 1 FROM integration_tokens WHERE id = $1", {id}).empty())
        return fail(Errc::not_found, "token not found");
      return ok();
    });
  }

  Result<void> insert_incoming(const IncomingRecord& w) override {
    return exec(
        "INSERT INTO integration_incoming (id, conversation_id, name, bot_id, secret_hash,"
        " created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        {w.id, w.conversation_id, w.name, w.bot_id, w.secret_hash, w.created_by, w.created_at});
  }
  Result<IncomingRecord> find_incoming(const std::string& id) override {
    return one<IncomingRecord>(std::string(kIncoming) + "WHERE id = $1", id, "webhook",
                               incoming_row);
  }
  Result<std::vector<IncomingRecord>> incoming_of(const std::string& conversation_id) override {
    return many<IncomingRecord>(std::string(kIncoming) + "WHERE conversation_id = $1 ORDER BY id",
                                conversation_id, incoming_row);
  }
  Result<void> delete_incoming(const std::string& id) override {
    return remove("DELETE FROM integration_incoming WHERE id = $1", id, "webhook");
  }

  Result<void> insert_outgoing(const OutgoingRecord& w) override {
    return exec(
        "INSERT INTO integration_outgoing (id, conversation_id, url, events, secret, created_by,"
        " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        {w.id, w.conversation_id, w.url, join_words(w.events), w.secret, w.created_by,
         w.created_at});
  }
  Result<OutgoingRecord> find_outgoing(const std::string& id) override {
    return one<OutgoingRecord>(std::string(kOutgoing) + "WHERE id = $1", id, "webhook",
                               outgoing_row);
  }
  Result<std::vector<OutgoingRecord>> outgoing_of(const std::string& conversation_id) override {
    return many<OutgoingRecord>(std::string(kOutgoing) + "WHERE conversation_id = $1 ORDER BY id",
                                conversation_id, outgoing_row);
  }
  Result<bool> any_outgoing() override {
    return pool_.run_value([&](Connection& c) -> Result<bool> {
      auto r = c.exec("SELECT EXISTS (SELECT 1 FROM integration_outgoing)");
      return r.size() == 1 && r.text(0, 0) == "t";
    });
  }
  Result<void> delete_outgoing(const std::string& id) override {
    return remove("DELETE FROM integration_outgoing WHERE id = $1", id, "webhook");
  }

  Result<void> insert_command(const CommandRecord& r) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      try {
        c.exec(
            "INSERT INTO integration_commands (id, trigger_word, url, secret, owner_id,"
            " created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            {r.id, r.trigger, r.url, r.secret, r.owner_id, r.created_at});
      } catch (const std::exception& e) {
        if (is_unique_violation(e)) return fail(Errc::already_exists, "trigger taken");
        throw;
      }
      return ok();
    });
  }
  Result<CommandRecord> find_command(const std::string& id) override {
    return one<CommandRecord>(std::string(kCommand) + "WHERE id = $1", id, "command", command_row);
  }
  Result<CommandRecord> find_command_by_trigger(const std::string& trigger) override {
    return one<CommandRecord>(std::string(kCommand) + "WHERE trigger_word = $1", trigger, "command",
                              command_row);
  }
  Result<std::vector<CommandRecord>> commands() override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<CommandRecord>> {
      auto r = c.exec(std::string(kCommand) + "ORDER BY trigger_word");
      std::vector<CommandRecord> out;
      for (int i = 0; i < r.size(); ++i) out.push_back(command_row(r, i));
      return out;
    });
  }
  Result<void> delete_command(const std::string& id) override {
    return remove("DELETE FROM integration_commands WHERE id = $1", id, "command");
  }

 private:
  Result<void> exec(const char* sql, std::initializer_list<Param> params) {
    std::vector<Param> p(params);
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec(sql, p);
      return ok();
    });
  }
  Result<void> remove(const char* sql, const std::string& id, const char* what) {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      if (c.exec(sql, {id}).affected() == 0)
        return fail(Errc::not_found, std::string(what) + " not found");
      return ok();
    });
  }
  template <class T, class Row>
  Result<T> one(const std::string& sql, const std::string& key, const char* what, Row row) {
    return pool_.run_value([&](Connection& c) -> Result<T> {
      auto r = c.exec(sql, {key});
      if (r.empty()) return fail(Errc::not_found, std::string(what) + " not found");
      return row(r, 0);
    });
  }
  template <class T, class Row>
  Result<std::vector<T>> many(const std::string& sql, const std::string& key, Row row) {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<T>> {
      auto r = c.exec(sql, {key});
      std::vector<T> out;
      for (int i = 0; i < r.size(); ++i) out.push_back(row(r, i));
      return out;
    });
  }

  Pool& pool_;
};

}  // namespace

Result<std::unique_ptr<integrations::IntegrationStore>> make_integration_store(Pool& pool) {
  if (auto m = pool.migrate("integrations", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<integrations::IntegrationStore>(new PostgresIntegrationStore(pool));
}

}  // namespace parley::postgres
