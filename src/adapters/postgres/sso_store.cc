// PostgreSQL SsoStore. A take is one DELETE ... RETURNING: of two nodes presenting the same
// state or hand-off code at once, the row lock gives it to exactly one.
#include "adapters/postgres/stores.h"

namespace parley::postgres {
namespace {

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE sso_flows ("
     "  state_hash BYTEA PRIMARY KEY,"
     "  provider TEXT NOT NULL,"
     "  nonce TEXT NOT NULL,"
     "  verifier TEXT NOT NULL,"
     "  redirect_uri TEXT NOT NULL,"
     "  binding_hash BYTEA NOT NULL,"
     "  expires_at BIGINT NOT NULL);"
     "CREATE INDEX sso_flows_expiry ON sso_flows (expires_at);"
     "CREATE TABLE sso_links ("
     "  issuer TEXT COLLATE \"C\" NOT NULL,"
     "  subject TEXT COLLATE \"C\" NOT NULL,"
     "  user_id TEXT COLLATE \"C\" NOT NULL,"
     "  created_at BIGINT NOT NULL,"
     "  PRIMARY KEY (issuer, subject),"
     "  UNIQUE (user_id, issuer));"
     "CREATE TABLE sso_handoffs ("
     "  code_hash BYTEA PRIMARY KEY,"
     "  user_id TEXT COLLATE \"C\" NOT NULL,"
     "  expires_at BIGINT NOT NULL);"
     "CREATE INDEX sso_handoffs_expiry ON sso_handoffs (expires_at);"},
};

class PostgresSsoStore final : public sso::SsoStore {
 public:
  explicit PostgresSsoStore(Pool& pool) : pool_(pool) {}

  Result<void> put_flow(const sso::FlowRecord& f, Millis now) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec("DELETE FROM sso_flows WHERE expires_at <= $1", {now});
      try {
        c.exec(
            "INSERT INTO sso_flows (state_hash, provider, nonce, verifier, redirect_uri,"
            " binding_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            {Param::bytes(f.state_hash), f.provider, f.nonce, f.verifier, f.redirect_uri,
             Param::bytes(f.binding_hash), f.expires_at});
      } catch (const std::exception& e) {
        if (is_unique_violation(e)) return fail(Errc::already_exists, "state exists");
        throw;
      }
      return ok();
    });
  }

  Result<std::optional<sso::FlowRecord>> take_flow(const std::string& state_hash,
                                                   Millis now) override {
    return pool_.transaction_value([&](Connection& c) -> Result<std::optional<sso::FlowRecord>> {
      auto q = c.exec(
          "DELETE FROM sso_flows WHERE state_hash = $1"
          " RETURNING provider, nonce, verifier, redirect_uri, binding_hash, expires_at",
          {Param::bytes(state_hash)});
      if (q.empty() || q.integer(0, 5) <= now) return std::optional<sso::FlowRecord>();
      return std::optional<sso::FlowRecord>(sso::FlowRecord{state_hash, q.text(0, 0), q.text(0, 1),
                                                            q.text(0, 2), q.text(0, 3),
                                                            q.bytes(0, 4), q.integer(0, 5)});
    });
  }

  Result<std::optional<sso::Link>> find_link(const std::string& issuer,
                                             const std::string& subject) override {
    return pool_.run_value([&](Connection& c) -> Result<std::optional<sso::Link>> {
      auto q =
          c.exec("SELECT user_id, created_at FROM sso_links WHERE issuer = $1 AND subject = $2",
                 {issuer, subject});
      if (q.empty()) return std::optional<sso::Link>();
      return std::optional<sso::Link>(sso::Link{issuer, subject, q.text(0, 0), q.integer(0, 1)});
    });
  }

  Result<void> create_link(const sso::Link& l) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      try {
        c.exec(
            "INSERT INTO sso_links (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)",
            {l.issuer, l.subject, l.user_id, l.created_at});
      } catch (const std::exception& e) {
        if (is_unique_violation(e)) return fail(Errc::already_exists, "identity already linked");
        throw;
      }
      return ok();
    });
  }

  Result<void> put_handoff(const std::string& code_hash, const std::string& user_id,
                           Millis expires_at, Millis now) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec("DELETE FROM sso_handoffs WHERE expires_at <= $1", {now});
      c.exec("INSERT INTO sso_handoffs (code_hash, user_id, expires_at) VALUES ($1, $2, $3)",
             {Param::bytes(code_hash), user_id, expires_at});
      return ok();
    });
  }

  Result<std::optional<std::string>> take_handoff(const std::string& code_hash,
                                                  Millis now) override {
    return pool_.transaction_value([&](Connection& c) -> Result<std::optional<std::string>> {
      auto q = c.exec("DELETE FROM sso_handoffs WHERE code_hash = $1 RETURNING user_id, expires_at",
                      {Param::bytes(code_hash)});
      if (q.empty() || q.integer(0, 1) <= now) return std::optional<std::string>();
      return std::optional<std::string>(q.text(0, 0));
    });
  }

 private:
  Pool& pool_;
};

}  // namespace

Result<std::unique_ptr<sso::SsoStore>> make_sso_store(Pool& pool) {
  if (auto m = pool.migrate("sso", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<sso::SsoStore>(new PostgresSsoStore(pool));
}

}  // namespace parley::postgres
