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
};

constexpr const char* kColumns =
    "id, username, display_name, status_text, timezone, avatar_file_id, email, created_at";

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
        c.exec(
            "INSERT INTO users (id, username, display_name, status_text, timezone, avatar_file_id,"
            " email, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            {u.id, u.username, u.display_name, u.status_text, u.timezone, u.avatar_file_id, u.email,
             u.created_at});
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

 private:
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
