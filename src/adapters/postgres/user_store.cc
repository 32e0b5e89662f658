// PostgreSQL UserStore. Text columns use the "C" collation, so comparisons, ordering and
// lower() behave the same on every server whatever its locale (and as SQLite's NOCASE: ASCII
// only); the unique index on lower(username) makes usernames unique case-insensitively.
#include <string>

#include "adapters/postgres/stores.h"
#include "core/text.h"

namespace parley::postgres {
namespace {

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE users ("
     "  id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  username TEXT COLLATE \"C\" NOT NULL,"
     "  display_name TEXT COLLATE \"C\" NOT NULL,"
     "  status_text TEXT NOT NULL DEFAULT '',"
     "  avatar_url TEXT NOT NULL DEFAULT '',"
     "  email TEXT,"
     "  created_at BIGINT NOT NULL);"
     "CREATE UNIQUE INDEX users_username_lower ON users (lower(username));"
     "CREATE INDEX users_display_name_lower ON users (lower(display_name));"},
    // The avatar is kept as the file's id (the URL is the API's to make); avatar_url stays
    // unused. The partial index serves GET /api/v1/avatars/{file_id}.
    {2,
     "ALTER TABLE users ADD COLUMN timezone TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE users ADD COLUMN avatar_file_id TEXT COLLATE \"C\" NOT NULL DEFAULT '';"
     "CREATE INDEX users_avatar_file_id ON users (avatar_file_id) WHERE avatar_file_id <> '';"},
    // System roles and deactivation (docs/administration.md). A server that existed before roles
    // makes its oldest account the admin, as a new server makes its first.
    {3,
     "ALTER TABLE users ADD COLUMN role TEXT COLLATE \"C\" NOT NULL DEFAULT 'user';"
     "ALTER TABLE users ADD COLUMN deactivated_at BIGINT;"
     "UPDATE users SET role = 'admin'"
     " WHERE id = (SELECT id FROM users ORDER BY created_at, id LIMIT 1);"
     "CREATE INDEX users_role ON users (role) WHERE role <> 'user';"},
};

// Serialises the decisions that look at every admin (the first account, the last admin) between
// concurrent transactions, on every node: a transaction-scoped advisory lock.
constexpr const char* kRoleLock = "SELECT pg_advisory_xact_lock(7206011)";

// The condition a demotion or deactivation of $2 needs: another active admin remains.
constexpr const char* kAnotherAdmin =
    "EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND deactivated_at IS NULL AND id <> $2)";

constexpr const char* kColumns =
    "id, username, display_name, status_text, timezone, avatar_file_id, email, created_at, role,"
    " deactivated_at";

users::User row_to_user(const Rows& r, int i) {
  users::User u;
  u.id = r.text(i, 0);
  u.username = r.text(i, 1);
  u.display_name = r.text(i, 2);
  u.status_text = r.text(i, 3);
  u.timezone = r.text(i, 4);
  u.avatar_file_id = r.text(i, 5);
  if (!r.is_null(i, 6)) u.email = r.text(i, 6);
  u.created_at = r.integer(i, 7);
  u.role = users::parse_role(r.text(i, 8)).value_or(users::Role::user);
  if (!r.is_null(i, 9)) u.deactivated_at = r.integer(i, 9);
  return u;
}

// LIKE pattern for "starts with prefix" (lower-cased for ASCII), the prefix's own wildcards
// escaped with PostgreSQL's default escape character.
std::string like_prefix(const std::string& prefix) {
  std::string p;
  for (char c : text::ascii_lower(prefix)) {
    if (c == '%' || c == '_' || c == '\\') p += '\\';
    p += c;
  }
  return p + "%";
}

class PostgresUserStore final : public users::UserStore {
 public:
  explicit PostgresUserStore(Pool& pool) : pool_(pool) {}

  Result<void> insert(const users::User& u) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      try {
        // Only while the table looks empty is the lock taken (and the question asked again under
        // it): two first registrations racing on any nodes give one admin, and later ones pay
        // one cheap read.
        std::string role = users::role_name(u.role);
        if (c.exec("SELECT 1 FROM users LIMIT 1").empty()) {
          c.exec(kRoleLock);
          if (c.exec("SELECT 1 FROM users LIMIT 1").empty()) role = "admin";
        }
        c.exec(
            "INSERT INTO users (id, username, display_name, status_text, timezone, avatar_file_id,"
            " email, created_at, role) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            {u.id, u.username, u.display_name, u.status_text, u.timezone, u.avatar_file_id, u.email,
             u.created_at, role});
      } catch (const std::exception& e) {
        if (is_unique_violation(e))
          return fail(Errc::already_exists, "username is taken", "username");
        throw;
      }
      return ok();
    });
  }

  Result<users::User> get(const std::string& id) override {
    return one(std::string("SELECT ") + kColumns + " FROM users WHERE id = $1", id);
  }

  Result<users::User> get_by_username(const std::string& username) override {
    return one(std::string("SELECT ") + kColumns + " FROM users WHERE lower(username) = lower($1)",
               username);
  }

  Result<users::User> update_profile(const std::string& id,
                                     const users::ProfileFields& f) override {
    return pool_.transaction_value([&](Connection& c) -> Result<users::User> {
      auto q = c.exec(std::string("UPDATE users SET display_name = coalesce($1, display_name),"
                                  " status_text = coalesce($2, status_text),"
                                  " timezone = coalesce($3, timezone) WHERE id = $4"
                                  " RETURNING ") +
                          kColumns,
                      {f.display_name, f.status_text, f.timezone, id});
      if (q.empty()) return fail(Errc::not_found, "no such user");
      return row_to_user(q, 0);
    });
  }

  Result<users::User> set_avatar(const std::string& id,
                                 const std::string& avatar_file_id) override {
    return pool_.transaction_value([&](Connection& c) -> Result<users::User> {
      auto q = c.exec(
          std::string("UPDATE users SET avatar_file_id = $1 WHERE id = $2 RETURNING ") + kColumns,
          {avatar_file_id, id});
      if (q.empty()) return fail(Errc::not_found, "no such user");
      return row_to_user(q, 0);
    });
  }

  Result<users::User> find_by_avatar(const std::string& file_id) override {
    if (file_id.empty()) return fail(Errc::not_found, "no such user");
    return one(std::string("SELECT ") + kColumns + " FROM users WHERE avatar_file_id = $1",
               file_id);
  }

  Result<std::vector<users::User>> search_prefix(const std::string& prefix, int limit,
                                                 const std::optional<std::string>& after) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<users::User>> {
      // Unprepared, so the planner sees the pattern's prefix and can range-scan the indexes.
      auto q = c.exec_unprepared(std::string("SELECT ") + kColumns +
                                     " FROM users WHERE (lower(username) LIKE $1 OR"
                                     " lower(display_name) LIKE $1) AND lower(username) > lower($2)"
                                     " ORDER BY lower(username) LIMIT $3",
                                 {like_prefix(prefix), after.value_or(""), limit});
      std::vector<users::User> out;
      for (int i = 0; i < q.size(); ++i) out.push_back(row_to_user(q, i));
      return out;
    });
  }

  Result<void> remove(const std::string& id) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec("DELETE FROM users WHERE id = $1", {id});
      return ok();
    });
  }

  Result<users::User> set_role(const std::string& id, users::Role role) override {
    return pool_.transaction_value([&](Connection& c) -> Result<users::User> {
      if (role != users::Role::admin) c.exec(kRoleLock);
      auto q = c.exec(std::string("UPDATE users SET role = $1 WHERE id = $2 AND ($1 = 'admin'"
                                  " OR role <> 'admin' OR deactivated_at IS NOT NULL OR ") +
                          kAnotherAdmin + ") RETURNING " + kColumns,
                      {std::string(users::role_name(role)), id});
      return guarded_update(c, q, id);
    });
  }

  Result<users::User> set_deactivated(const std::string& id, std::optional<Millis> at) override {
    return pool_.transaction_value([&](Connection& c) -> Result<users::User> {
      if (at) c.exec(kRoleLock);
      auto q = c.exec(std::string("UPDATE users SET deactivated_at = $1::bigint WHERE id = $2 AND"
                                  " ($1::bigint IS NULL OR role <> 'admin' OR ") +
                          kAnotherAdmin + ") RETURNING " + kColumns,
                      {at, id});
      return guarded_update(c, q, id);
    });
  }

 private:
  // An UPDATE guarded by "another admin remains": no row is either an unknown id or the guard.
  static Result<users::User> guarded_update(Connection& c, const Rows& q, const std::string& id) {
    if (!q.empty()) return row_to_user(q, 0);
    if (c.exec("SELECT 1 FROM users WHERE id = $1", {id}).empty())
      return fail(Errc::not_found, "no such user");
    return fail(Errc::failed_precondition, "the server must keep at least one active admin");
  }

  Result<users::User> one(const std::string& sql, const std::string& key) {
    return pool_.run_value([&](Connection& c) -> Result<users::User> {
      auto q = c.exec(sql, {key});
      if (q.empty()) return fail(Errc::not_found, "no such user");
      return row_to_user(q, 0);
    });
  }

  Pool& pool_;
};

}  // namespace

Result<std::unique_ptr<users::UserStore>> make_user_store(Pool& pool) {
  if (auto m = pool.migrate("users", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<users::UserStore>(new PostgresUserStore(pool));
}

}  // namespace parley::postgres
