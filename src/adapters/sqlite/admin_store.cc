// SQLite AdminStore: server settings as key/value rows, invites with a hashed token.
#include "adapters/sqlite/stores.h"

namespace parley::sqlite {
namespace {

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE admin_settings ("
     "  key TEXT PRIMARY KEY,"
     "  value TEXT NOT NULL);"
     "CREATE TABLE admin_invites ("
     "  id TEXT PRIMARY KEY,"
     "  token_hash BLOB NOT NULL UNIQUE,"
     "  created_by TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  expires_at INTEGER,"
     "  max_uses INTEGER NOT NULL,"
     "  uses INTEGER NOT NULL DEFAULT 0,"
     "  revoked_at INTEGER);"},
};

constexpr const char* kInviteColumns =
    "id, created_by, created_at, expires_at, max_uses, uses, revoked_at";

admin::Invite row_to_invite(const Stmt& s) {
  admin::Invite i;
  i.id = s.text(0);
  i.created_by = s.text(1);
  i.created_at = s.integer(2);
  if (!s.is_null(3)) i.expires_at = s.integer(3);
  i.max_uses = static_cast<int>(s.integer(4));
  i.uses = static_cast<int>(s.integer(5));
  if (!s.is_null(6)) i.revoked_at = s.integer(6);
  return i;
}

class SqliteAdminStore final : public admin::AdminStore {
 public:
  explicit SqliteAdminStore(Database& db) : db_(db) {}

  Result<admin::Settings> settings() override {
    return db_.read_value([&](Connection& c) -> Result<admin::Settings> {
      admin::Settings s;
      auto q = c.prepare("SELECT key, value FROM admin_settings");
      while (q.step()) {
        const std::string key = q.text(0);
        if (key == "registration")
          s.registration = admin::parse_mode(q.text(1)).value_or(admin::RegistrationMode::open);
        else if (key == "allowed_email_domains")
          s.allowed_email_domains = admin::split_domains(q.text(1));
      }
      return s;
    });
  }

  Result<void> put_settings(const admin::Settings& s) override {
    return db_.write([&](Connection& c) -> Result<void> {
      auto put = c.prepare(
          "INSERT INTO admin_settings (key, value) VALUES (?1, ?2)"
          " ON CONFLICT (key) DO UPDATE SET value = excluded.value");
      put.bind(1, "registration").bind(2, admin::mode_name(s.registration)).exec();
      put.bind(1, "allowed_email_domains")
          .bind(2, admin::join_domains(s.allowed_email_domains))
          .exec();
      return ok();
    });
  }

  Result<void> create_invite(const admin::Invite& inv, const std::string& token_hash) override {
    return db_.write([&](Connection& c) -> Result<void> {
      auto q = c.prepare(
          "INSERT INTO admin_invites (id, token_hash, created_by, created_at, expires_at,"
          " max_uses) VALUES (?, ?, ?, ?, ?, ?)");
      q.bind(1, inv.id).bind_blob(2, token_hash).bind(3, inv.created_by).bind(4, inv.created_at);
      if (inv.expires_at)
        q.bind(5, *inv.expires_at);
      else
        q.bind_null(5);
      q.bind(6, inv.max_uses).exec();
      return ok();
    });
  }

  Result<std::vector<admin::Invite>> list_invites(int limit) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<admin::Invite>> {
      auto q = c.prepare(std::string("SELECT ") + kInviteColumns +
                         " FROM admin_invites ORDER BY id DESC LIMIT ?");
      q.bind(1, limit);
      std::vector<admin::Invite> out;
      while (q.step()) out.push_back(row_to_invite(q));
      return out;
    });
  }

  Result<admin::Invite> revoke_invite(const std::string& id, Millis now) override {
    return db_.write_value([&](Connection& c) -> Result<admin::Invite> {
      c.prepare("UPDATE admin_invites SET revoked_at = coalesce(revoked_at, ?1) WHERE id = ?2")
          .bind(1, now)
          .bind(2, id)
          .exec();
      return one(c, "id = ?", id);
    });
  }

  Result<admin::Invite> consume_invite(const std::string& token_hash, Millis now) override {
    return db_.write_value([&](Connection& c) -> Result<admin::Invite> {
      auto q =
          c.prepare(std::string("UPDATE admin_invites SET uses = uses + 1 WHERE token_hash = ?1"
                                " AND revoked_at IS NULL AND (expires_at IS NULL OR"
                                " expires_at > ?2) AND (max_uses = 0 OR uses < max_uses)"
                                " RETURNING ") +
                    kInviteColumns);
      q.bind_blob(1, token_hash).bind(2, now);
      if (!q.step()) return fail(Errc::not_found, "no usable invite");
      auto inv = row_to_invite(q);
      while (q.step()) {
      }
      return inv;
    });
  }

  Result<void> release_invite(const std::string& id) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare("UPDATE admin_invites SET uses = uses - 1 WHERE id = ? AND uses > 0")
          .bind(1, id)
          .exec();
      return ok();
    });
  }

 private:
  static Result<admin::Invite> one(Connection& c, const char* where, const std::string& key) {
    auto q =
        c.prepare(std::string("SELECT ") + kInviteColumns + " FROM admin_invites WHERE " + where);
    q.bind(1, key);
    if (!q.step()) return fail(Errc::not_found, "no such invite");
    return row_to_invite(q);
  }

  Database& db_;
};

}  // namespace

Result<std::unique_ptr<admin::AdminStore>> make_admin_store(Database& db) {
  if (auto m = db.migrate("admin", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<admin::AdminStore>(new SqliteAdminStore(db));
}

}  // namespace parley::sqlite
