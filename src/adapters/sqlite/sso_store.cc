// SQLite SsoStore. Every write goes through the one writer thread, so a take (DELETE ...
// RETURNING) is atomic against any other take of the same value.
#include "adapters/sqlite/stores.h"

namespace parley::sqlite {
namespace {

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE sso_flows ("
     "  state_hash BLOB PRIMARY KEY,"
     "  provider TEXT NOT NULL,"
     "  nonce TEXT NOT NULL,"
     "  verifier TEXT NOT NULL,"
     "  redirect_uri TEXT NOT NULL,"
     "  binding_hash BLOB NOT NULL,"
     "  expires_at INTEGER NOT NULL);"
     "CREATE INDEX sso_flows_expiry ON sso_flows(expires_at);"
     "CREATE TABLE sso_links ("
     "  issuer TEXT NOT NULL,"
     "  subject TEXT NOT NULL,"
     "  user_id TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  PRIMARY KEY (issuer, subject),"
     "  UNIQUE (user_id, issuer));"
     "CREATE TABLE sso_handoffs ("
     "  code_hash BLOB PRIMARY KEY,"
     "  user_id TEXT NOT NULL,"
     "  expires_at INTEGER NOT NULL);"
     "CREATE INDEX sso_handoffs_expiry ON sso_handoffs(expires_at);"},
};

class SqliteSsoStore final : public sso::SsoStore {
 public:
  explicit SqliteSsoStore(Database& db) : db_(db) {}

  Result<void> put_flow(const sso::FlowRecord& f, Millis now) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare("DELETE FROM sso_flows WHERE expires_at <= ?").bind(1, now).exec();
      try {
        c.prepare(
             "INSERT INTO sso_flows (state_hash, provider, nonce, verifier, redirect_uri,"
             " binding_hash, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind_blob(1, f.state_hash)
            .bind(2, f.provider)
            .bind(3, f.nonce)
            .bind(4, f.verifier)
            .bind(5, f.redirect_uri)
            .bind_blob(6, f.binding_hash)
            .bind(7, f.expires_at)
            .exec();
      } catch (const std::exception& e) {
        if (is_unique_violation(e)) return fail(Errc::already_exists, "state exists");
        throw;
      }
      return ok();
    });
  }

  Result<std::optional<sso::FlowRecord>> take_flow(const std::string& state_hash,
                                                   Millis now) override {
    return db_.write_value([&](Connection& c) -> Result<std::optional<sso::FlowRecord>> {
      auto q = c.prepare(
          "DELETE FROM sso_flows WHERE state_hash = ?"
          " RETURNING provider, nonce, verifier, redirect_uri, binding_hash, expires_at");
      q.bind_blob(1, state_hash);
      if (!q.step()) return std::optional<sso::FlowRecord>();
      sso::FlowRecord f{state_hash, q.text(0), q.text(1),   q.text(2),
                        q.text(3),  q.text(4), q.integer(5)};
      while (q.step()) {
      }
      if (f.expires_at <= now) return std::optional<sso::FlowRecord>();
      return std::optional<sso::FlowRecord>(std::move(f));
    });
  }

  Result<std::optional<sso::Link>> find_link(const std::string& issuer,
                                             const std::string& subject) override {
    return db_.read_value([&](Connection& c) -> Result<std::optional<sso::Link>> {
      auto q =
          c.prepare("SELECT user_id, created_at FROM sso_links WHERE issuer = ? AND subject = ?");
      q.bind(1, issuer).bind(2, subject);
      if (!q.step()) return std::optional<sso::Link>();
      return std::optional<sso::Link>(sso::Link{issuer, subject, q.text(0), q.integer(1)});
    });
  }

  Result<void> create_link(const sso::Link& l) override {
    return db_.write([&](Connection& c) -> Result<void> {
      try {
        c.prepare(
             "INSERT INTO sso_links (issuer, subject, user_id, created_at) VALUES (?, ?, ?, ?)")
            .bind(1, l.issuer)
            .bind(2, l.subject)
            .bind(3, l.user_id)
            .bind(4, l.created_at)
            .exec();
      } catch (const std::exception& e) {
        if (is_unique_violation(e)) return fail(Errc::already_exists, "identity already linked");
        throw;
      }
      return ok();
    });
  }

  Result<void> put_handoff(const std::string& code_hash, const std::string& user_id,
                           Millis expires_at, Millis now) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare("DELETE FROM sso_handoffs WHERE expires_at <= ?").bind(1, now).exec();
      c.prepare("INSERT INTO sso_handoffs (code_hash, user_id, expires_at) VALUES (?, ?, ?)")
          .bind_blob(1, code_hash)
          .bind(2, user_id)
          .bind(3, expires_at)
          .exec();
      return ok();
    });
  }

  Result<std::optional<std::string>> take_handoff(const std::string& code_hash,
                                                  Millis now) override {
    return db_.write_value([&](Connection& c) -> Result<std::optional<std::string>> {
      auto q =
          c.prepare("DELETE FROM sso_handoffs WHERE code_hash = ? RETURNING user_id, expires_at");
      q.bind_blob(1, code_hash);
      if (!q.step()) return std::optional<std::string>();
      std::string user_id = q.text(0);
      Millis expires_at = q.integer(1);
      while (q.step()) {
      }
      if (expires_at <= now) return std::optional<std::string>();
      return std::optional<std::string>(std::move(user_id));
    });
  }

 private:
  Database& db_;
};

}  // namespace

Result<std::unique_ptr<sso::SsoStore>> make_sso_store(Database& db) {
  if (auto m = db.migrate("sso", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<sso::SsoStore>(new SqliteSsoStore(db));
}

}  // namespace parley::sqlite
