// SQLite ContactStore (component "contact"). Every mutation runs on the one writer thread, so a
// redeem, a code attempt or a confirm is a single statement's compare-and-set.
#include "adapters/sqlite/stores.h"
#include "core/text.h"

namespace parley::sqlite {
namespace {

using namespace contact;

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE contact_keys ("
     "  name TEXT PRIMARY KEY,"
     "  secret BLOB NOT NULL) WITHOUT ROWID;"
     "CREATE TABLE contact_emails ("
     "  user_id TEXT PRIMARY KEY,"
     "  email TEXT,"
     "  email_key TEXT,"
     "  verified_at INTEGER NOT NULL DEFAULT 0,"
     "  pending_email TEXT,"
     "  mail_opt_out INTEGER NOT NULL DEFAULT 0);"
     "CREATE UNIQUE INDEX contact_emails_key ON contact_emails(email_key);"
     "CREATE TABLE contact_tokens ("
     "  token_hash BLOB PRIMARY KEY,"
     "  purpose TEXT NOT NULL,"
     "  user_id TEXT,"
     "  email TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  expires_at INTEGER NOT NULL,"
     "  used_at INTEGER);"
     "CREATE INDEX contact_tokens_expiry ON contact_tokens(expires_at);"
     "CREATE INDEX contact_tokens_user ON contact_tokens(user_id, purpose);"
     "CREATE TABLE contact_phones ("
     "  user_id TEXT PRIMARY KEY,"
     "  phone TEXT,"
     "  verified_at INTEGER NOT NULL DEFAULT 0,"
     "  pending_phone TEXT,"
     "  code_hash BLOB,"
     "  code_expires_at INTEGER NOT NULL DEFAULT 0,"
     "  code_attempts INTEGER NOT NULL DEFAULT 0,"
     "  sms_notifications INTEGER NOT NULL DEFAULT 0);"},
};

const char* purpose_name(TokenPurpose p) {
  return p == TokenPurpose::verify_email ? "verify_email" : "reset_password";
}

std::optional<std::string> opt_text(const Stmt& s, int col) {
  if (s.is_null(col)) return std::nullopt;
  return s.text(col);
}

class SqliteContactStore final : public ContactStore {
 public:
  explicit SqliteContactStore(Database& db) : db_(db) {}

  Result<EmailRecord> email(const std::string& user_id) override {
    return db_.read_value([&](Connection& c) -> Result<EmailRecord> {
      auto q = c.prepare(
          "SELECT email, pending_email, verified_at, mail_opt_out FROM contact_emails"
          " WHERE user_id = ?");
      q.bind(1, user_id);
      EmailRecord r;
      if (q.step()) r = {opt_text(q, 0), opt_text(q, 1), q.integer(2), q.integer(3) != 0};
      return r;
    });
  }

  Result<void> set_pending_email(const std::string& user_id, const std::string& email) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare(
           "INSERT INTO contact_emails (user_id, pending_email) VALUES (?1, ?2)"
           " ON CONFLICT (user_id) DO UPDATE SET pending_email = ?2")
          .bind(1, user_id)
          .bind(2, email)
          .exec();
      return ok();
    });
  }

  Result<void> set_verified_email(const std::string& user_id, const std::string& email,
                                  Millis now) override {
    return db_.write([&](Connection& c) -> Result<void> {
      try {
        c.prepare(
             "INSERT INTO contact_emails (user_id, email, email_key, verified_at)"
             " VALUES (?1, ?2, ?3, ?4)"
             " ON CONFLICT (user_id) DO UPDATE SET email = ?2, email_key = ?3, verified_at = ?4,"
             " pending_email = CASE WHEN lower(pending_email) = ?3 THEN NULL"
             " ELSE pending_email END")
            .bind(1, user_id)
            .bind(2, email)
            .bind(3, text::ascii_lower(email))
            .bind(4, now)
            .exec();
      } catch (const std::exception& e) {
        if (is_unique_violation(e))
          return fail(Errc::already_exists, "another account verified this address", "email");
        throw;
      }
      return ok();
    });
  }

  Result<void> set_mail_opt_out(const std::string& user_id, bool out) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare(
           "INSERT INTO contact_emails (user_id, mail_opt_out) VALUES (?1, ?2)"
           " ON CONFLICT (user_id) DO UPDATE SET mail_opt_out = ?2")
          .bind(1, user_id)
          .bind(2, out ? 1 : 0)
          .exec();
      return ok();
    });
  }

  Result<std::optional<std::string>> user_by_email(const std::string& email) override {
    return db_.read_value([&](Connection& c) -> Result<std::optional<std::string>> {
      auto q = c.prepare("SELECT user_id FROM contact_emails WHERE email_key = ?");
      q.bind(1, text::ascii_lower(email));
      if (!q.step()) return std::optional<std::string>{};
      return std::optional<std::string>(q.text(0));
    });
  }

  Result<void> put_token(const TokenRecord& t, Millis now) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare("DELETE FROM contact_tokens WHERE expires_at < ?")
          .bind(1, now - 24 * 3600 * 1000)
          .exec();
      auto q = c.prepare(
          "INSERT INTO contact_tokens (token_hash, purpose, user_id, email, created_at,"
          " expires_at) VALUES (?, ?, ?, ?, ?, ?)");
      q.bind_blob(1, t.token_hash).bind(2, purpose_name(t.purpose));
      if (t.user_id.empty())
        q.bind_null(3);
      else
        q.bind(3, t.user_id);
      q.bind(4, t.email).bind(5, t.created_at).bind(6, t.expires_at).exec();
      return ok();
    });
  }

  Result<Redeemed> redeem_token(const std::string& token_hash, TokenPurpose purpose,
                                Millis now) override {
    return db_.write_value([&](Connection& c) -> Result<Redeemed> {
      auto q = c.prepare(
          "UPDATE contact_tokens SET used_at = ?1 WHERE token_hash = ?2 AND purpose = ?3"
          " AND used_at IS NULL AND expires_at > ?1 AND user_id IS NOT NULL"
          " RETURNING user_id, email");
      q.bind(1, now).bind_blob(2, token_hash).bind(3, purpose_name(purpose));
      if (!q.step()) return fail(Errc::not_found, "no such token");
      Redeemed r{q.text(0), q.text(1)};
      while (q.step()) {
      }
      return r;
    });
  }

  Result<void> drop_tokens(const std::string& user_id, TokenPurpose purpose) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare("DELETE FROM contact_tokens WHERE user_id = ? AND purpose = ? AND used_at IS NULL")
          .bind(1, user_id)
          .bind(2, purpose_name(purpose))
          .exec();
      return ok();
    });
  }

  Result<PhoneRecord> phone(const std::string& user_id) override {
    return db_.read_value([&](Connection& c) -> Result<PhoneRecord> {
      auto q = c.prepare(
          "SELECT phone, pending_phone, verified_at, sms_notifications FROM contact_phones"
          " WHERE user_id = ?");
      q.bind(1, user_id);
      PhoneRecord r;
      if (q.step()) r = {opt_text(q, 0), opt_text(q, 1), q.integer(2), q.integer(3) != 0};
      return r;
    });
  }

  Result<void> set_pending_phone(const std::string& user_id, const std::string& phone,
                                 const std::string& code_hash, Millis expires_at) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare(
           "INSERT INTO contact_phones (user_id, pending_phone, code_hash, code_expires_at)"
           " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id) DO UPDATE SET pending_phone = ?2,"
           " code_hash = ?3, code_expires_at = ?4, code_attempts = 0")
          .bind(1, user_id)
          .bind(2, phone)
          .bind_blob(3, code_hash)
          .bind(4, expires_at)
          .exec();
      return ok();
    });
  }

  Result<CodeAttempt> attempt_phone_code(const std::string& user_id, Millis now,
                                         int max_attempts) override {
    return db_.write_value([&](Connection& c) -> Result<CodeAttempt> {
      auto q = c.prepare(
          "UPDATE contact_phones SET code_attempts = code_attempts + 1 WHERE user_id = ?1"
          " AND pending_phone IS NOT NULL AND code_hash IS NOT NULL AND code_expires_at > ?2"
          " AND code_attempts < ?3 RETURNING code_hash, pending_phone");
      q.bind(1, user_id).bind(2, now).bind(3, max_attempts);
      if (!q.step()) return fail(Errc::failed_precondition, "no code to check");
      CodeAttempt a{q.text(0), q.text(1)};
      while (q.step()) {
      }
      return a;
    });
  }

  Result<void> confirm_phone(const std::string& user_id, const std::string& code_hash,
                             Millis now) override {
    return db_.write([&](Connection& c) -> Result<void> {
      int n = c.prepare(
                   "UPDATE contact_phones SET phone = pending_phone, verified_at = ?3,"
                   " pending_phone = NULL, code_hash = NULL, code_attempts = 0"
                   " WHERE user_id = ?1 AND code_hash = ?2 AND pending_phone IS NOT NULL")
                  .bind(1, user_id)
                  .bind_blob(2, code_hash)
                  .bind(3, now)
                  .exec();
      if (n == 0) return fail(Errc::failed_precondition, "the code changed meanwhile");
      return ok();
    });
  }

  Result<void> set_sms_notifications(const std::string& user_id, bool on) override {
    return db_.write([&](Connection& c) -> Result<void> {
      int n = c.prepare(
                   "UPDATE contact_phones SET sms_notifications = ? WHERE user_id = ?"
                   " AND phone IS NOT NULL")
                  .bind(1, on ? 1 : 0)
                  .bind(2, user_id)
                  .exec();
      if (n == 0) return fail(Errc::failed_precondition, "no verified phone number");
      return ok();
    });
  }

  Result<void> remove_phone(const std::string& user_id) override {
    return db_.write([&](Connection& c) -> Result<void> {
      if (c.prepare("DELETE FROM contact_phones WHERE user_id = ?").bind(1, user_id).exec() == 0)
        return fail(Errc::not_found, "no phone number");
      return ok();
    });
  }

  Result<std::string> secret_key(const std::string& candidate) override {
    return db_.write_value([&](Connection& c) -> Result<std::string> {
      c.prepare("INSERT OR IGNORE INTO contact_keys (name, secret) VALUES ('links', ?)")
          .bind_blob(1, candidate)
          .exec();
      auto q = c.prepare("SELECT secret FROM contact_keys WHERE name = 'links'");
      if (!q.step()) return fail(Errc::internal, "contact key missing");
      return q.text(0);
    });
  }

 private:
  Database& db_;
};

}  // namespace

Result<std::unique_ptr<contact::ContactStore>> make_contact_store(Database& db) {
  if (auto m = db.migrate("contact", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<contact::ContactStore>(new SqliteContactStore(db));
}

}  // namespace parley::sqlite
