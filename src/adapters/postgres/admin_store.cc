// PostgreSQL AdminStore: server settings as key/value rows, invites with a hashed token. An
// invite's use is one guarded UPDATE: concurrent registrations on any nodes never pass its limit
// (the row lock makes the second re-check the guard).
#include "adapters/postgres/stores.h"

namespace parley::postgres {
namespace {

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE admin_settings ("
     "  key TEXT COLLATE \"C\" PRIMARY KEY,"
     "  value TEXT NOT NULL);"
     "CREATE TABLE admin_invites ("
     "  id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  token_hash BYTEA NOT NULL UNIQUE,"
     "  created_by TEXT NOT NULL,"
     "  created_at BIGINT NOT NULL,"
     "  expires_at BIGINT,"
     "  max_uses INTEGER NOT NULL,"
     "  uses INTEGER NOT NULL DEFAULT 0,"
     "  revoked_at BIGINT);"},
};

constexpr const char* kInviteColumns =
    "id, created_by, created_at, expires_at, max_uses, uses, revoked_at";

admin::Invite row_to_invite(const Rows& r, int i) {
  admin::Invite v;
  v.id = r.text(i, 0);
  v.created_by = r.text(i, 1);
  v.created_at = r.integer(i, 2);
  if (!r.is_null(i, 3)) v.expires_at = r.integer(i, 3);
  v.max_uses = static_cast<int>(r.integer(i, 4));
  v.uses = static_cast<int>(r.integer(i, 5));
  if (!r.is_null(i, 6)) v.revoked_at = r.integer(i, 6);
  return v;
}

class PostgresAdminStore final : public admin::AdminStore {
 public:
  explicit PostgresAdminStore(Pool& pool) : pool_(pool) {}

  Result<admin::Settings> settings() override {
    return pool_.run_value([&](Connection& c) -> Result<admin::Settings> {
      admin::Settings s;
      auto q = c.exec("SELECT key, value FROM admin_settings");
      for (int i = 0; i < q.size(); ++i) {
        const std::string key = q.text(i, 0);
        if (key == "registration")
          s.registration = admin::parse_mode(q.text(i, 1)).value_or(admin::RegistrationMode::open);
        else if (key == "allowed_email_domains")
          s.allowed_email_domains = admin::split_domains(q.text(i, 1));
      }
      return s;
    });
  }

  Result<void> put_settings(const admin::Settings& s) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      const char* sql =
          "INSERT INTO admin_settings (key, value) VALUES ($1, $2)"
          " ON CONFLICT (key) DO UPDATE SET value = excluded.value";
      c.exec(sql, {"registration", admin::mode_name(s.registration)});
      c.exec(sql, {"allowed_email_domains", admin::join_domains(s.allowed_email_domains)});
      return ok();
    });
  }

  Result<void> create_invite(const admin::Invite& inv, const std::string& token_hash) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec(
          "INSERT INTO admin_invites (id, token_hash, created_by, created_at, expires_at,"
          " max_uses) VALUES ($1, $2, $3, $4, $5, $6)",
          {inv.id, Param::bytes(token_hash), inv.created_by, inv.created_at, inv.expires_at,
           inv.max_uses});
      return ok();
    });
  }

  Result<std::vector<admin::Invite>> list_invites(int limit) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<admin::Invite>> {
      auto q = c.exec(
          std::string("SELECT ") + kInviteColumns + " FROM admin_invites ORDER BY id DESC LIMIT $1",
          {limit});
      std::vector<admin::Invite> out;
      for (int i = 0; i < q.size(); ++i) out.push_back(row_to_invite(q, i));
      return out;
    });
  }

  Result<admin::Invite> revoke_invite(const std::string& id, Millis now) override {
    return pool_.transaction_value([&](Connection& c) -> Result<admin::Invite> {
      auto q = c.exec(std::string("UPDATE admin_invites SET revoked_at = coalesce(revoked_at, $1)"
                                  " WHERE id = $2 RETURNING ") +
                          kInviteColumns,
                      {now, id});
      if (q.empty()) return fail(Errc::not_found, "no such invite");
      return row_to_invite(q, 0);
    });
  }

  Result<admin::Invite> consume_invite(const std::string& token_hash, Millis now) override {
    return pool_.transaction_value([&](Connection& c) -> Result<admin::Invite> {
      auto q = c.exec(std::string("UPDATE admin_invites SET uses = uses + 1 WHERE token_hash = $1"
                                  " AND revoked_at IS NULL AND (expires_at IS NULL OR"
                                  " expires_at > $2) AND (max_uses = 0 OR uses < max_uses)"
                                  " RETURNING ") +
                          kInviteColumns,
                      {Param::bytes(token_hash), now});
      if (q.empty()) return fail(Errc::not_found, "no usable invite");
      return row_to_invite(q, 0);
    });
  }

  Result<void> release_invite(const std::string& id) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec("UPDATE admin_invites SET uses = uses - 1 WHERE id = $1 AND uses > 0", {id});
      return ok();
    });
  }

 private:
  Pool& pool_;
};

}  // namespace

Result<std::unique_ptr<admin::AdminStore>> make_admin_store(Pool& pool) {
  if (auto m = pool.migrate("admin", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<admin::AdminStore>(new PostgresAdminStore(pool));
}

}  // namespace parley::postgres
