// PostgreSQL ContactStore (component "contact"). Each compare-and-set the port calls atomic is
// one UPDATE ... WHERE ... RETURNING, so of two nodes racing on a token or a code only one
// matches; the unique index on verified addresses decides who verified one first.
#include "adapters/postgres/stores.h"
#include "core/text.h"

namespace parley::postgres {
namespace {

using namespace contact;

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE contact_keys ("
     "  name TEXT COLLATE \"C\" PRIMARY KEY,"
     "  secret BYTEA NOT NULL);"
     "CREATE TABLE contact_emails ("
     "  user_id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  email TEXT,"
     "  email_key TEXT COLLATE \"C\","
     "  verified_at BIGINT NOT NULL DEFAULT 0,"
     "  pending_email TEXT,"
     "  mail_opt_out BOOLEAN NOT NULL DEFAULT FALSE);"
     "CREATE UNIQUE INDEX contact_emails_key ON contact_emails(email_key);"
     "CREATE TABLE contact_tokens ("
     "  token_hash BYTEA PRIMARY KEY,"
     "  purpose TEXT COLLATE \"C\" NOT NULL,"
     "  user_id TEXT COLLATE \"C\","
     "  email TEXT NOT NULL,"
     "  created_at BIGINT NOT NULL,"
     "  expires_at BIGINT NOT NULL,"
     "  used_at BIGINT);"
     "CREATE INDEX contact_tokens_expiry ON contact_tokens(expires_at);"
     "CREATE INDEX contact_tokens_user ON contact_tokens(user_id, purpose);"
     "CREATE TABLE contact_phones ("
     "  user_id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  phone TEXT,"
     "  verified_at BIGINT NOT NULL DEFAULT 0,"
     "  pending_phone TEXT,"
     "  code_hash BYTEA,"
     "  code_expires_at BIGINT NOT NULL DEFAULT 0,"
     "  code_attempts INTEGER NOT NULL DEFAULT 0,"
     "  sms_notifications BOOLEAN NOT NULL DEFAULT FALSE);"},
};

const char* purpose_name(TokenPurpose p) {
  return p == TokenPurpose::verify_email ? "verify_email" : "reset_password";
}

std::optional<std::string> opt_text(const Rows& r, int row, int col) {
  if (r.is_null(row, col)) return std::nullopt;
  return r.text(row, col);
}

class PostgresContactStore final : public ContactStore {
 public:
  explicit PostgresContactStore(Pool& pool) : pool_(pool) {}

  Result<EmailRecord> email(const std::string& user_id) override {
    return pool_.run_value([&](Connection& c) -> Result<EmailRecord> {
      auto q = c.exec(
          "SELECT email, pending_email, verified_at, mail_opt_out FROM contact_emails"
          " WHERE user_id = $1",
          {user_id});
      EmailRecord r;
      if (!q.empty()) r = {opt_text(q, 0, 0), opt_text(q, 0, 1), q.integer(0, 2), q.boolean(0, 3)};
      return r;
    });
  }

  Result<void> set_pending_email(const std::string& user_id, const std::string& email) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec(
          "INSERT INTO contact_emails (user_id, pending_email) VALUES ($1, $2)"
          " ON CONFLICT (user_id) DO UPDATE SET pending_email = EXCLUDED.pending_email",
          {user_id, email});
      return ok();
    });
  }

  Result<void> set_verified_email(const std::string& user_id, const std::string& email,
                                  Millis now) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      try {
        c.exec(
            "INSERT INTO contact_emails (user_id, email, email_key, verified_at)"
            " VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email,"
            " email_key = EXCLUDED.email_key, verified_at = EXCLUDED.verified_at,"
            " pending_email = CASE WHEN lower(contact_emails.pending_email) = EXCLUDED.email_key"
            " THEN NULL ELSE contact_emails.pending_email END",
            {user_id, email, text::ascii_lower(email), static_cast<std::int64_t>(now)});
      } catch (const std::exception& e) {
        if (is_unique_violation(e))
          return fail(Errc::already_exists, "another account verified this address", "email");
        throw;
      }
      return ok();
    });
  }

  Result<void> set_mail_opt_out(const std::string& user_id, bool out) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec(
          "INSERT INTO contact_emails (user_id, mail_opt_out) VALUES ($1, $2)"
          " ON CONFLICT (user_id) DO UPDATE SET mail_opt_out = EXCLUDED.mail_opt_out",
          {user_id, out});
      return ok();
    });
  }

  Result<std::optional<std::string>> user_by_email(const std::string& email) override {
    return pool_.run_value([&](Connection& c) -> Result<std::optional<std::string>> {
      auto q = c.exec("SELECT user_id FROM contact_emails WHERE email_key = $1",
                      {text::ascii_lower(email)});
      if (q.empty()) return std::optional<std::string>{};
      return std::optional<std::string>(q.text(0, 0));
    });
  }

  Result<void> put_token(const TokenRecord& t, Millis now) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec("DELETE FROM contact_tokens WHERE expires_at < $1",
             {static_cast<std::int64_t>(now - 24 * 3600 * 1000)});
      c.exec(
          "INSERT INTO contact_tokens (token_hash, purpose, user_id, email, created_at,"
          " expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
          {Param::bytes(t.token_hash), purpose_name(t.purpose),
           t.user_id.empty() ? Param(std::nullopt) : Param(t.user_id), t.email,
           static_cast<std::int64_t>(t.created_at), static_cast<std::int64_t>(t.expires_at)});
      return ok();
    });
  }

  Result<Redeemed> redeem_token(const std::string& token_hash, TokenPurpose purpose,
                                Millis now) override {
    return pool_.transaction_value([&](Connection& c) -> Result<Redeemed> {
      auto q = c.exec(
          "UPDATE contact_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3"
          " AND used_at IS NULL AND expires_at > $1 AND user_id IS NOT NULL"
          " RETURNING user_id, email",
          {static_cast<std::int64_t>(now), Param::bytes(token_hash), purpose_name(purpose)});
      if (q.empty()) return fail(Errc::not_found, "no such token");
      return Redeemed{q.text(0, 0), q.text(0, 1)};
    });
  }

  Result<void> drop_tokens(const std::string& user_id, TokenPurpose purpose) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec("DELETE FROM contact_tokens WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
             {user_id, purpose_name(purpose)});
      return ok();
    });
  }

  Result<PhoneRecord> phone(const std::string& user_id) override {
    return pool_.run_value([&](Connection& c) -> Result<PhoneRecord> {
      auto q = c.exec(
          "SELECT phone, pending_phone, verified_at, sms_notifications FROM contact_phones"
          " WHERE user_id = $1",
          {user_id});
      PhoneRecord r;
      if (!q.empty()) r = {opt_text(q, 0, 0), opt_text(q, 0, 1), q.integer(0, 2), q.boolean(0, 3)};
      return r;
    });
  }

  Result<void> set_pending_phone(const std::string& user_id, const std::string& phone,
                                 const std::string& code_hash, Millis expires_at) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec(
          "INSERT INTO contact_phones (user_id, pending_phone, code_hash, code_expires_at)"
          " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET"
          " pending_phone = EXCLUDED.pending_phone, code_hash = EXCLUDED.code_hash,"
          " code_expires_at = EXCLUDED.code_expires_at, code_attempts = 0",
          {user_id, phone, Param::bytes(code_hash), static_cast<std::int64_t>(expires_at)});
      return ok();
    });
  }

  Result<CodeAttempt> attempt_phone_code(const std::string& user_id, Millis now,
                                         int max_attempts) override {
    return pool_.transaction_value([&](Connection& c) -> Result<CodeAttempt> {
      auto q = c.exec(
          "UPDATE contact_phones SET code_attempts = code_attempts + 1 WHERE user_id = $1"
          " AND pending_phone IS NOT NULL AND code_hash IS NOT NULL AND code_expires_at > $2"
          " AND code_attempts < $3 RETURNING code_hash, pending_phone",
          {user_id, static_cast<std::int64_t>(now), max_attempts});
      if (q.empty()) return fail(Errc::failed_precondition, "no code to check");
      return CodeAttempt{q.bytes(0, 0), q.text(0, 1)};
    });
  }

  Result<void> confirm_phone(const std::string& user_id, const std::string& code_hash,
                             Millis now) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      auto q = c.exec(
          "UPDATE contact_phones SET phone = pending_phone, verified_at = $3,"
          " pending_phone = NULL, code_hash = NULL, code_attempts = 0"
          " WHERE user_id = $1 AND code_hash = $2 AND pending_phone IS NOT NULL",
          {user_id, Param::bytes(code_hash), static_cast<std::int64_t>(now)});
      if (q.affected() == 0) return fail(Errc::failed_precondition, "the code changed meanwhile");
      return ok();
    });
  }

  Result<void> set_sms_notifications(const std::string& user_id, bool on) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      auto q = c.exec(
          "UPDATE contact_phones SET sms_notifications = $1 WHERE user_id = $2"
          " AND phone IS NOT NULL",
          {on, user_id});
      if (q.affected() == 0) return fail(Errc::failed_precondition, "no verified phone number");
      return ok();
    });
  }

  Result<void> remove_phone(const std::string& user_id) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      if (c.exec("DELETE FROM contact_phones WHERE user_id = $1", {user_id}).affected() == 0)
        return fail(Errc::not_found, "no phone number");
      return ok();
    });
  }

  Result<std::string> secret_key(const std::string& candidate) override {
    return pool_.transaction_value([&](Connection& c) -> Result<std::string> {
      c.exec(
          "INSERT INTO contact_keys (name, secret) VALUES ('links', $1)"
          " ON CONFLICT (name) DO NOTHING",
          {Param::bytes(candidate)});
      auto q = c.exec("SELECT secret FROM contact_keys WHERE name = 'links'");
      if (q.empty()) return fail(Errc::internal, "contact key missing");
      return q.bytes(0, 0);
    });
  }

 private:
  Pool& pool_;
};

}  // namespace

Result<std::unique_ptr<contact::ContactStore>> make_contact_store(Pool& pool) {
  if (auto m = pool.migrate("contact", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<contact::ContactStore>(new PostgresContactStore(pool));
}

}  // namespace parley::postgres
