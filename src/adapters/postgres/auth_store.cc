// PostgreSQL AuthStore. The operations the port calls atomic are one transaction each; where two
// nodes could race (a refresh token presented twice at once, the first signing key), a row lock
// or an advisory lock makes the second wait for the first and then see its result.
#include "adapters/postgres/stores.h"

namespace parley::postgres {
namespace {

// pg_advisory_xact_lock key serialising the creation of the first signing key ("PKEY").
constexpr std::int64_t kSigningKeyLock = 0x504B4559;

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE auth_credentials ("
     "  user_id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  password_hash TEXT NOT NULL,"
     "  totp_secret BYTEA,"
     "  pending_totp_secret BYTEA,"
     "  totp_last_step BIGINT NOT NULL DEFAULT -1);"
     "CREATE TABLE auth_sessions ("
     "  id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  user_id TEXT COLLATE \"C\" NOT NULL,"
     "  device_name TEXT NOT NULL,"
     "  created_at BIGINT NOT NULL,"
     "  last_seen_at BIGINT NOT NULL,"
     "  expires_at BIGINT NOT NULL,"
     "  revoked_at BIGINT);"
     "CREATE INDEX auth_sessions_user ON auth_sessions (user_id, created_at);"
     "CREATE TABLE auth_refresh_tokens ("
     "  token_hash BYTEA PRIMARY KEY,"
     "  session_id TEXT COLLATE \"C\" NOT NULL,"
     "  expires_at BIGINT NOT NULL,"
     "  used_at BIGINT);"
     "CREATE INDEX auth_refresh_session ON auth_refresh_tokens (session_id);"
     "CREATE TABLE auth_recovery_codes ("
     "  user_id TEXT COLLATE \"C\" NOT NULL,"
     "  code_hash BYTEA NOT NULL,"
     "  PRIMARY KEY (user_id, code_hash));"
     "CREATE TABLE auth_signing_keys ("
     "  kid TEXT COLLATE \"C\" PRIMARY KEY,"
     "  secret BYTEA NOT NULL,"
     "  created_at BIGINT NOT NULL);"},
    {2, "ALTER TABLE auth_sessions ADD COLUMN authenticated_at BIGINT NOT NULL DEFAULT 0;"},
};

constexpr const char* kSessionColumns =
    "id, user_id, device_name, created_at, last_seen_at, revoked_at, expires_at, authenticated_at";

auth::SessionRecord row_to_session(const Rows& r, int i) {
  auth::SessionRecord s;
  s.id = r.text(i, 0);
  s.user_id = r.text(i, 1);
  s.device_name = r.text(i, 2);
  s.created_at = r.integer(i, 3);
  s.last_seen_at = r.integer(i, 4);
  if (!r.is_null(i, 5)) s.revoked_at = r.integer(i, 5);
  s.expires_at = r.integer(i, 6);
  s.authenticated_at = r.integer(i, 7);
  return s;
}

std::optional<auth::SessionRecord> find_session(Connection& c, const std::string& id,
                                                bool for_update = false) {
  auto q = c.exec(std::string("SELECT ") + kSessionColumns + " FROM auth_sessions WHERE id = $1" +
                      (for_update ? " FOR UPDATE" : ""),
                  {id});
  if (q.empty()) return std::nullopt;
  return row_to_session(q, 0);
}

class PostgresAuthStore final : public auth::AuthStore {
 public:
  explicit PostgresAuthStore(Pool& pool) : pool_(pool) {}

  Result<void> create_credentials(const std::string& user_id, const std::string& hash) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      try {
        c.exec("INSERT INTO auth_credentials (user_id, password_hash) VALUES ($1, $2)",
               {user_id, hash});
      } catch (const std::exception& e) {
        if (is_unique_violation(e)) return fail(Errc::already_exists, "credentials exist");
        throw;
      }
      return ok();
    });
  }

  Result<auth::Credentials> credentials(const std::string& user_id) override {
    std::optional<auth::Credentials> found;
    auto r = pool_.run([&](Connection& c) -> Result<void> {
      auto q = c.exec(
          "SELECT password_hash, totp_secret, pending_totp_secret, totp_last_step"
          " FROM auth_credentials WHERE user_id = $1",
          {user_id});
      found.reset();
      if (q.empty()) return ok();
      auth::Credentials cr;
      cr.user_id = user_id;
      cr.password_hash = q.text(0, 0);
      if (!q.is_null(0, 1)) cr.totp_secret = q.bytes(0, 1);
      if (!q.is_null(0, 2)) cr.pending_totp_secret = q.bytes(0, 2);
      cr.totp_last_step = q.integer(0, 3);
      found = std::move(cr);
      return ok();
    });
    if (!r) return fail(r.error());
    if (!found) return fail(Errc::not_found, "no credentials");
    return std::move(*found);
  }

  Result<void> set_password_hash(const std::string& user_id, const std::string& hash) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      if (c.exec("UPDATE auth_credentials SET password_hash = $2 WHERE user_id = $1",
                 {user_id, hash})
              .affected() == 0)
        return fail(Errc::not_found, "not found");
      return ok();
    });
  }

  Result<void> create_session(const auth::SessionRecord& s, const std::string& refresh_hash,
                              Millis refresh_expires_at) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec(
          "INSERT INTO auth_sessions (id, user_id, device_name, created_at, last_seen_at,"
          " expires_at, authenticated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
          {s.id, s.user_id, s.device_name, s.created_at, s.last_seen_at, refresh_expires_at,
           s.authenticated_at});
      c.exec(
          "INSERT INTO auth_refresh_tokens (token_hash, session_id, expires_at)"
          " VALUES ($1, $2, $3)",
          {Param::bytes(refresh_hash), s.id, refresh_expires_at});
      return ok();
    });
  }

  Result<auth::SessionRecord> session(const std::string& id) override {
    std::optional<auth::SessionRecord> found;
    auto r = pool_.run([&](Connection& c) -> Result<void> {
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
    auto r = pool_.run([&](Connection& c) -> Result<void> {
      auto q = c.exec(std::string("SELECT ") + kSessionColumns +
                          " FROM auth_sessions WHERE user_id = $1 AND revoked_at IS NULL"
                          " AND expires_at > $2 ORDER BY created_at DESC, id DESC",
                      {user_id, now});
      out.clear();
      for (int i = 0; i < q.size(); ++i) out.push_back(row_to_session(q, i));
      return ok();
    });
    if (!r) return fail(r.error());
    return out;
  }

  Result<void> revoke_session(const std::string& user_id, const std::string& id,
                              Millis now) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      auto n = c.exec(
                    "UPDATE auth_sessions SET revoked_at = $1 WHERE id = $2 AND user_id = $3"
                    " AND revoked_at IS NULL",
                    {now, id, user_id})
                   .affected();
      if (n == 0) return fail(Errc::not_found, "no such session");
      c.exec("DELETE FROM auth_refresh_tokens WHERE session_id = $1", {id});
      return ok();
    });
  }

  Result<std::vector<std::string>> revoke_sessions(const std::string& user_id,
                                                   const std::string& keep, Millis now) override {
    std::vector<std::string> ids;
    auto r = pool_.transaction([&](Connection& c) -> Result<void> {
      ids.clear();
      auto q = c.exec(
          "UPDATE auth_sessions SET revoked_at = $1 WHERE user_id = $2 AND id <> $3"
          " AND revoked_at IS NULL RETURNING id",
          {now, user_id, keep});
      for (int i = 0; i < q.size(); ++i) ids.push_back(q.text(i, 0));
      c.exec("DELETE FROM auth_refresh_tokens WHERE session_id = ANY($1::text[])",
             {Param::text_array(ids)});
      return ok();
    });
    if (!r) return fail(r.error());
    return ids;
  }

  Result<void> mark_authenticated(const std::string& session_id, Millis now) override {
    return pool_.run([&](Connection& c) -> Result<void> {
      if (c.exec("UPDATE auth_sessions SET authenticated_at = $1 WHERE id = $2"
                 " AND revoked_at IS NULL AND expires_at > $1",
                 {now, session_id})
              .affected() == 0)
        return fail(Errc::not_found, "no such session");
      return ok();
    });
  }

  Result<auth::RotateResult> rotate_refresh(const std::string& old_hash,
                                            const std::string& new_hash, Millis now,
                                            Millis new_expires_at) override {
    auth::RotateResult out;
    auto r = pool_.transaction([&](Connection& c) -> Result<void> {
      out = {};
      // Locks the session, then the token (the order revoke_session takes them too, so the two
      // never deadlock). A second presentation of the same token waits for the first to commit;
      // it then sees used_at set and counts as reuse, as on SQLite.
      auto owner = c.exec("SELECT session_id FROM auth_refresh_tokens WHERE token_hash = $1",
                          {Param::bytes(old_hash)});
      if (owner.empty()) return ok();  // unknown
      auto s = find_session(c, owner.text(0, 0), true);
      if (!s || s->revoked_at) return ok();
      auto q = c.exec(
          "SELECT session_id, expires_at, used_at FROM auth_refresh_tokens"
          " WHERE token_hash = $1 FOR UPDATE",
          {Param::bytes(old_hash)});
      if (q.empty()) return ok();  // deleted meanwhile (the session was revoked)
      std::string session_id = q.text(0, 0);
      std::int64_t expires_at = q.integer(0, 1);
      bool used = !q.is_null(0, 2);
      if (used) {
        c.exec("UPDATE auth_sessions SET revoked_at = $1 WHERE id = $2", {now, session_id});
        c.exec("DELETE FROM auth_refresh_tokens WHERE session_id = $1", {session_id});
        out = {auth::RotateOutcome::reused, *s};
        return ok();
      }
      if (expires_at <= now) return ok();
      // Spent tokens are kept for reuse detection only as long as they would have been valid.
      c.exec("DELETE FROM auth_refresh_tokens WHERE session_id = $1 AND expires_at <= $2",
             {session_id, now});
      c.exec("UPDATE auth_refresh_tokens SET used_at = $1 WHERE token_hash = $2",
             {now, Param::bytes(old_hash)});
      c.exec(
          "INSERT INTO auth_refresh_tokens (token_hash, session_id, expires_at)"
          " VALUES ($1, $2, $3)",
          {Param::bytes(new_hash), session_id, new_expires_at});
      c.exec("UPDATE auth_sessions SET last_seen_at = $1, expires_at = $2 WHERE id = $3",
             {now, new_expires_at, session_id});
      s->last_seen_at = now;
      out = {auth::RotateOutcome::rotated, *s};
      return ok();
    });
    if (!r) return fail(r.error());
    return out;
  }

  Result<void> set_pending_totp(const std::string& user_id, const std::string& secret) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      if (c.exec("UPDATE auth_credentials SET pending_totp_secret = $1 WHERE user_id = $2",
                 {Param::bytes(secret), user_id})
              .affected() == 0)
        return fail(Errc::not_found, "no credentials");
      return ok();
    });
  }

  Result<void> enable_totp(const std::string& user_id,
                           const std::vector<std::string>& recovery_hashes) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      auto n = c.exec(
                    "UPDATE auth_credentials SET totp_secret = pending_totp_secret,"
                    " pending_totp_secret = NULL WHERE user_id = $1"
                    " AND pending_totp_secret IS NOT NULL",
                    {user_id})
                   .affected();
      if (n == 0) return fail(Errc::failed_precondition, "no pending two-factor set-up");
      c.exec("DELETE FROM auth_recovery_codes WHERE user_id = $1", {user_id});
      for (const auto& h : recovery_hashes)
        c.exec("INSERT INTO auth_recovery_codes (user_id, code_hash) VALUES ($1, $2)",
               {user_id, Param::bytes(h)});
      return ok();
    });
  }

  Result<void> disable_totp(const std::string& user_id) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec(
          "UPDATE auth_credentials SET totp_secret = NULL, pending_totp_secret = NULL"
          " WHERE user_id = $1",
          {user_id});
      c.exec("DELETE FROM auth_recovery_codes WHERE user_id = $1", {user_id});
      return ok();
    });
  }

  Result<bool> consume_totp_step(const std::string& user_id, std::int64_t step) override {
    bool fresh = false;
    auto r = pool_.transaction([&](Connection& c) -> Result<void> {
      // The row lock and the re-check of the condition after waiting for it make this a
      // compare-and-set across nodes.
      fresh = c.exec(
                   "UPDATE auth_credentials SET totp_last_step = $1"
                   " WHERE user_id = $2 AND totp_last_step < $1",
                   {step, user_id})
                  .affected() == 1;
      return ok();
    });
    if (!r) return fail(r.error());
    return fresh;
  }

  Result<bool> consume_recovery_code(const std::string& user_id,
                                     const std::string& code_hash) override {
    bool found = false;
    auto r = pool_.transaction([&](Connection& c) -> Result<void> {
      found = c.exec("DELETE FROM auth_recovery_codes WHERE user_id = $1 AND code_hash = $2",
                     {user_id, Param::bytes(code_hash)})
                  .affected() == 1;
      return ok();
    });
    if (!r) return fail(r.error());
    return found;
  }

  Result<SigningKey> signing_key(const SigningKey& candidate) override {
    SigningKey out;
    auto r = pool_.transaction([&](Connection& c) -> Result<void> {
      // Two nodes starting on an empty table would each insert their own candidate (different
      // kids do not conflict); the lock makes the second see the first's key instead.
      c.exec("SELECT pg_advisory_xact_lock($1)", {kSigningKeyLock});
      c.exec(
          "INSERT INTO auth_signing_keys (kid, secret, created_at)"
          " SELECT $1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::bigint"
          " WHERE NOT EXISTS (SELECT 1 FROM auth_signing_keys)",
          {candidate.kid, Param::bytes(candidate.secret)});
      auto q = c.exec("SELECT kid, secret FROM auth_signing_keys ORDER BY created_at, kid LIMIT 1");
      if (q.empty()) return fail(Errc::internal, "signing key missing");
      out = {q.text(0, 0), q.bytes(0, 1)};
      return ok();
    });
    if (!r) return fail(r.error());
    return out;
  }

 private:
  Pool& pool_;
};

}  // namespace

Result<std::unique_ptr<auth::AuthStore>> make_auth_store(Pool& pool) {
  if (auto m = pool.migrate("auth", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<auth::AuthStore>(new PostgresAuthStore(pool));
}

}  // namespace parley::postgres
