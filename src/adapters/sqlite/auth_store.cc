#include "adapters/sqlite/stores.h"

namespace parley::sqlite {
namespace {

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE auth_credentials ("
     "  user_id TEXT PRIMARY KEY,"
     "  password_hash TEXT NOT NULL,"
     "  totp_secret BLOB,"
     "  pending_totp_secret BLOB,"
     "  totp_last_step INTEGER NOT NULL DEFAULT -1);"
     "CREATE TABLE auth_sessions ("
     "  id TEXT PRIMARY KEY,"
     "  user_id TEXT NOT NULL,"
     "  device_name TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  last_seen_at INTEGER NOT NULL,"
     "  expires_at INTEGER NOT NULL,"
     "  revoked_at INTEGER);"
     "CREATE INDEX auth_sessions_user ON auth_sessions(user_id, created_at);"
     "CREATE TABLE auth_refresh_tokens ("
     "  token_hash BLOB PRIMARY KEY,"
     "  session_id TEXT NOT NULL,"
     "  expires_at INTEGER NOT NULL,"
     "  used_at INTEGER);"
     "CREATE INDEX auth_refresh_session ON auth_refresh_tokens(session_id);"
     "CREATE TABLE auth_recovery_codes ("
     "  user_id TEXT NOT NULL,"
     "  code_hash BLOB NOT NULL,"
     "  PRIMARY KEY (user_id, code_hash));"
     "CREATE TABLE auth_signing_keys ("
     "  kid TEXT PRIMARY KEY,"
     "  secret BLOB NOT NULL,"
     "  created_at INTEGER NOT NULL);"},
    {2, "ALTER TABLE auth_sessions ADD COLUMN authenticated_at INTEGER NOT NULL DEFAULT 0;"},
};

constexpr const char* kSessionColumns =
    "id, user_id, device_name, created_at, last_seen_at, revoked_at, expires_at, authenticated_at";

auth::SessionRecord row_to_session(const Stmt& s) {
  auth::SessionRecord r;
  r.id = s.text(0);
  r.user_id = s.text(1);
  r.device_name = s.text(2);
  r.created_at = s.integer(3);
  r.last_seen_at = s.integer(4);
  if (!s.is_null(5)) r.revoked_at = s.integer(5);
  r.expires_at = s.integer(6);
  r.authenticated_at = s.integer(7);
  return r;
}

std::optional<auth::SessionRecord> find_session(Connection& c, const std::string& id) {
  auto q = c.prepare(std::string("SELECT ") + kSessionColumns + " FROM auth_sessions WHERE id = ?");
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return row_to_session(q);
}

class SqliteAuthStore final : public auth::AuthStore {
 public:
  explicit SqliteAuthStore(Database& db) : db_(db) {}

  Result<void> create_credentials(const std::string& user_id, const std::string& hash) override {
    return db_.write([&](Connection& c) -> Result<void> {
      try {
        c.prepare("INSERT INTO auth_credentials (user_id, password_hash) VALUES (?, ?)")
            .bind(1, user_id)
            .bind(2, hash)
            .exec();
      } catch (const std::exception& e) {
        if (is_unique_violation(e)) return fail(Errc::already_exists, "credentials exist");
        throw;
      }
      return ok();
    });
  }

  Result<auth::Credentials> credentials(const std::string& user_id) override {
    std::optional<auth::Credentials> found;
    auto r = db_.read([&](Connection& c) -> Result<void> {
      auto q = c.prepare(
          "SELECT password_hash, totp_secret, pending_totp_secret, totp_last_step"
          " FROM auth_credentials WHERE user_id = ?");
      q.bind(1, user_id);
      if (!q.step()) return ok();
      auth::Credentials cr;
      cr.user_id = user_id;
      cr.password_hash = q.text(0);
      if (!q.is_null(1)) cr.totp_secret = q.text(1);
      if (!q.is_null(2)) cr.pending_totp_secret = q.text(2);
      cr.totp_last_step = q.integer(3);
      found = std::move(cr);
      return ok();
    });
    if (!r) return fail(r.error());
    if (!found) return fail(Errc::not_found, "no credentials");
    return std::move(*found);
  }

  Result<void> set_password_hash(const std::string& user_id, const std::string& hash) override {
    return update_one("UPDATE auth_credentials SET password_hash = ?2 WHERE user_id = ?1", user_id,
                      hash);
  }

  Result<void> create_session(const auth::SessionRecord& s, const std::string& refresh_hash,
                              Millis refresh_expires_at) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare(
           "INSERT INTO auth_sessions (id, user_id, device_name, created_at, last_seen_at,"
           " expires_at, authenticated_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
          .bind(1, s.id)
          .bind(2, s.user_id)
          .bind(3, s.device_name)
          .bind(4, s.created_at)
          .bind(5, s.last_seen_at)
          .bind(6, refresh_expires_at)
          .bind(7, s.authenticated_at)
          .exec();
      c.prepare(
           "INSERT INTO auth_refresh_tokens (token_hash, session_id, expires_at)"
           " VALUES (?, ?, ?)")
          .bind_blob(1, refresh_hash)
          .bind(2, s.id)
          .bind(3, refresh_expires_at)
          .exec();
      return ok();
    });
  }

  Result<auth::SessionRecord> session(const std::string& id) override {
    std::optional<auth::SessionRecord> found;
    auto r = db_.read([&](Connection& c) -> Result<void> {
      found = find_session(c, id);
      return ok();
    });
    if (!r) return fail(r.error());
    if (!found) return fail(Errc::not_found, "no such session");
    return std::move(*found);
  }

  Result<std::vector<auth::SessionRecord>> active_sessions(const std::string& user_id,
                                                           Millis now) override {
    std::vector<auth::SessionRecord> out;
    auto r = db_.read([&](Connection& c) -> Result<void> {
      auto q = c.prepare(std::string("SELECT ") + kSessionColumns +
                         " FROM auth_sessions WHERE user_id = ? AND revoked_at IS NULL"
                         " AND expires_at > ? ORDER BY created_at DESC, id DESC");
      q.bind(1, user_id).bind(2, now);
      while (q.step()) out.push_back(row_to_session(q));
      return ok();
    });
    if (!r) return fail(r.error());
    return out;
  }

  Result<void> revoke_session(const std::string& user_id, const std::string& id,
                              Millis now) override {
    return db_.write([&](Connection& c) -> Result<void> {
      int n = c.prepare(
                   "UPDATE auth_sessions SET revoked_at = ? WHERE id = ? AND user_id = ?"
                   " AND revoked_at IS NULL")
                  .bind(1, now)
                  .bind(2, id)
                  .bind(3, user_id)
                  .exec();
      if (n == 0) return fail(Errc::not_found, "no such session");
      c.prepare("DELETE FROM auth_refresh_tokens WHERE session_id = ?").bind(1, id).exec();
      return ok();
    });
  }

  Result<std::vector<std::string>> revoke_sessions(const std::string& user_id,
                                                   const std::string& keep, Millis now) override {
    std::vector<std::string> ids;
    auto r = db_.write([&](Connection& c) -> Result<void> {
      ids.clear();
      auto q = c.prepare(
          "UPDATE auth_sessions SET revoked_at = ?1 WHERE user_id = ?2 AND id != ?3"
          " AND revoked_at IS NULL RETURNING id");
      q.bind(1, now).bind(2, user_id).bind(3, keep);
      while (q.step()) ids.push_back(q.text(0));
      auto drop = c.prepare("DELETE FROM auth_refresh_tokens WHERE session_id = ?");
      for (const auto& id : ids) drop.bind(1, id).exec();
      return ok();
    });
    if (!r) return fail(r.error());
    return ids;
  }

  Result<void> mark_authenticated(const std::string& session_id, Millis now) override {
    return db_.write([&](Connection& c) -> Result<void> {
      int n = c.prepare(
                   "UPDATE auth_sessions SET authenticated_at = ?1 WHERE id = ?2"
                   " AND revoked_at IS NULL AND expires_at > ?1")
                  .bind(1, now)
                  .bind(2, session_id)
                  .exec();
      if (n == 0) return fail(Errc::not_found, "no such session");
      return ok();
    });
  }

  Result<auth::RotateResult> rotate_refresh(const std::string& old_hash,
                                            const std::string& new_hash, Millis now,
                                            Millis new_expires_at) override {
    auth::RotateResult out;
    auto r = db_.write([&](Connection& c) -> Result<void> {
      std::string session_id;
      std::int64_t expires_at = 0;
      bool used = false;
      {
        auto q = c.prepare(
            "SELECT session_id, expires_at, used_at FROM auth_refresh_tokens WHERE token_hash = ?");
        q.bind_blob(1, old_hash);
        if (!q.step()) return ok();  // unknown
        session_id = q.text(0);
        expires_at = q.integer(1);
        used = !q.is_null(2);
      }
      auto s = find_session(c, session_id);
      if (!s || s->revoked_at) return ok();
      if (used) {
        c.prepare("UPDATE auth_sessions SET revoked_at = ? WHERE id = ?")
            .bind(1, now)
            .bind(2, session_id)
            .exec();
        c.prepare("DELETE FROM auth_refresh_tokens WHERE session_id = ?")
            .bind(1, session_id)
            .exec();
        out = {auth::RotateOutcome::reused, *s};
        return ok();
      }
      if (expires_at <= now) return ok();
      // Spent tokens are kept for reuse detection only as long as they would have been valid.
      c.prepare("DELETE FROM auth_refresh_tokens WHERE session_id = ? AND expires_at <= ?")
          .bind(1, session_id)
          .bind(2, now)
          .exec();
      c.prepare("UPDATE auth_refresh_tokens SET used_at = ? WHERE token_hash = ?")
          .bind(1, now)
          .bind_blob(2, old_hash)
          .exec();
      c.prepare(
           "INSERT INTO auth_refresh_tokens (token_hash, session_id, expires_at)"
           " VALUES (?, ?, ?)")
          .bind_blob(1, new_hash)
          .bind(2, session_id)
          .bind(3, new_expires_at)
          .exec();
      c.prepare("UPDATE auth_sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?")
          .bind(1, now)
          .bind(2, new_expires_at)
          .bind(3, session_id)
          .exec();
      s->last_seen_at = now;
      out = {auth::RotateOutcome::rotated, *s};
      return ok();
    });
    if (!r) return fail(r.error());
    return out;
  }

  Result<void> set_pending_totp(const std::string& user_id, const std::string& secret) override {
    return db_.write([&](Connection& c) -> Result<void> {
      int n = c.prepare("UPDATE auth_credentials SET pending_totp_secret = ? WHERE user_id = ?")
                  .bind_blob(1, secret)
                  .bind(2, user_id)
                  .exec();
      if (n == 0) return fail(Errc::not_found, "no credentials");
      return ok();
    });
  }

  Result<void> enable_totp(const std::string& user_id,
                           const std::vector<std::string>& recovery_hashes) override {
    return db_.write([&](Connection& c) -> Result<void> {
      int n = c.prepare(
                   "UPDATE auth_credentials SET totp_secret = pending_totp_secret,"
                   " pending_totp_secret = NULL WHERE user_id = ?"
                   " AND pending_totp_secret IS NOT NULL")
                  .bind(1, user_id)
                  .exec();
      if (n == 0) return fail(Errc::failed_precondition, "no pending two-factor set-up");
      c.prepare("DELETE FROM auth_recovery_codes WHERE user_id = ?").bind(1, user_id).exec();
      for (const auto& h : recovery_hashes)
        c.prepare("INSERT INTO auth_recovery_codes (user_id, code_hash) VALUES (?, ?)")
            .bind(1, user_id)
            .bind_blob(2, h)
            .exec();
      return ok();
    });
  }

  Result<void> disable_totp(const std::string& user_id) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare(
           "UPDATE auth_credentials SET totp_secret = NULL, pending_totp_secret = NULL"
           " WHERE user_id = ?")
          .bind(1, user_id)
          .exec();
      c.prepare("DELETE FROM auth_recovery_codes WHERE user_id = ?").bind(1, user_id).exec();
      return ok();
    });
  }

  Result<bool> consume_totp_step(const std::string& user_id, std::int64_t step) override {
    bool fresh = false;
    auto r = db_.write([&](Connection& c) -> Result<void> {
      fresh = c.prepare(
                   "UPDATE auth_credentials SET totp_last_step = ?1"
                   " WHERE user_id = ?2 AND totp_last_step < ?1")
                  .bind(1, step)
                  .bind(2, user_id)
                  .exec() == 1;
      return ok();
    });
    if (!r) return fail(r.error());
    return fresh;
  }

  Result<bool> consume_recovery_code(const std::string& user_id,
                                     const std::string& code_hash) override {
    bool found = false;
    auto r = db_.write([&](Connection& c) -> Result<void> {
      found = c.prepare("DELETE FROM auth_recovery_codes WHERE user_id = ? AND code_hash = ?")
                  .bind(1, user_id)
                  .bind_blob(2, code_hash)
                  .exec() == 1;
      return ok();
    });
    if (!r) return fail(r.error());
    return found;
  }

  Result<SigningKey> signing_key(const SigningKey& candidate) override {
    SigningKey out;
    auto r = db_.write([&](Connection& c) -> Result<void> {
      c.prepare(
           "INSERT INTO auth_signing_keys (kid, secret, created_at)"
           " SELECT ?, ?, strftime('%s','now') * 1000"
           " WHERE NOT EXISTS (SELECT 1 FROM auth_signing_keys)")
          .bind(1, candidate.kid)
          .bind_blob(2, candidate.secret)
          .exec();
      auto q = c.prepare("SELECT kid, secret FROM auth_signing_keys ORDER BY created_at LIMIT 1");
      if (!q.step()) return fail(Errc::internal, "signing key missing");
      out = {q.text(0), q.text(1)};
      return ok();
    });
    if (!r) return fail(r.error());
    return out;
  }

 private:
  Result<void> update_one(const char* sql, const std::string& key, const std::string& value) {
    return db_.write([&](Connection& c) -> Result<void> {
      if (c.prepare(sql).bind(1, key).bind(2, value).exec() == 0)
        return fail(Errc::not_found, "not found");
      return ok();
    });
  }

  Database& db_;
};

}  // namespace

Result<std::unique_ptr<auth::AuthStore>> make_auth_store(Database& db) {
  if (auto m = db.migrate("auth", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<auth::AuthStore>(new SqliteAuthStore(db));
}

}  // namespace parley::sqlite
