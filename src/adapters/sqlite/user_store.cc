#include <string>

#include "adapters/sqlite/stores.h"

namespace parley::sqlite {
namespace {

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE users ("
     "  id TEXT PRIMARY KEY,"
     "  username TEXT NOT NULL UNIQUE COLLATE NOCASE,"
     "  display_name TEXT NOT NULL COLLATE NOCASE,"
     "  status_text TEXT NOT NULL DEFAULT '',"
     "  avatar_url TEXT NOT NULL DEFAULT '',"
     "  email TEXT,"
     "  created_at INTEGER NOT NULL);"
     "CREATE INDEX users_display_name ON users(display_name COLLATE NOCASE);"},
    // The avatar is kept as the file's id (the URL is the API's to make); avatar_url stays
    // unused. The partial index serves GET /api/v1/avatars/{file_id}.
    {2,
     "ALTER TABLE users ADD COLUMN timezone TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE users ADD COLUMN avatar_file_id TEXT NOT NULL DEFAULT '';"
     "CREATE INDEX users_avatar_file_id ON users(avatar_file_id) WHERE avatar_file_id <> '';"},
    // System roles and deactivation (docs/administration.md). A server that existed before roles
    // makes its oldest account the admin, as a new server makes its first.
    {3,
     "ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user';"
     "ALTER TABLE users ADD COLUMN deactivated_at INTEGER;"
     "UPDATE users SET role = 'admin'"
     " WHERE id = (SELECT id FROM users ORDER BY created_at, id LIMIT 1);"
     "CREATE INDEX users_role ON users(role) WHERE role <> 'user';"},
};

constexpr const char* kColumns =
    "id, username, display_name, status_text, timezone, avatar_file_id, email, created_at, role,"
    " deactivated_at";

// The condition a demotion or deactivation of ?2 needs: another active admin remains.
constexpr const char* kAnotherAdmin =
    "EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND deactivated_at IS NULL AND id <> ?2)";

users::User row_to_user(const Stmt& s) {
  users::User u;
  u.id = s.text(0);
  u.username = s.text(1);
  u.display_name = s.text(2);
  u.status_text = s.text(3);
  u.timezone = s.text(4);
  u.avatar_file_id = s.text(5);
  if (!s.is_null(6)) u.email = s.text(6);
  u.created_at = s.integer(7);
  u.role = users::parse_role(s.text(8)).value_or(users::Role::user);
  if (!s.is_null(9)) u.deactivated_at = s.integer(9);
  return u;
}

// LIKE pattern for "starts with prefix", with the prefix's own wildcards escaped.
std::string like_prefix(const std::string& prefix) {
  std::string p;
  for (char c : prefix) {
    if (c == '%' || c == '_' || c == '\\') p += '\\';
    p += c;
  }
  return p + "%";
}

class SqliteUserStore final : public users::UserStore {
 public:
  explicit SqliteUserStore(Database& db) : db_(db) {}

  Result<void> insert(const users::User& u) override {
    return db_.write([&](Connection& c) -> Result<void> {
      try {
        // One writer: the EXISTS and the insert cannot interleave with another insert, so only
        // the very first account becomes an admin.
        c.prepare(
             "INSERT INTO users (id, username, display_name, status_text, timezone,"
             " avatar_file_id, email, created_at, role) VALUES (?, ?, ?, ?, ?, ?, ?, ?,"
             " CASE WHEN EXISTS (SELECT 1 FROM users) THEN ? ELSE 'admin' END)")
            .bind(1, u.id)
            .bind(2, u.username)
            .bind(3, u.display_name)
            .bind(4, u.status_text)
            .bind(5, u.timezone)
            .bind(6, u.avatar_file_id)
            .bind(7, u.email)
            .bind(8, u.created_at)
            .bind(9, std::string(users::role_name(u.role)))
            .exec();
      } catch (const std::exception& e) {
        if (is_unique_violation(e))
          return fail(Errc::already_exists, "username is taken", "username");
        throw;
      }
      return ok();
    });
  }

  Result<users::User> get(const std::string& id) override {
    return one(std::string("SELECT ") + kColumns + " FROM users WHERE id = ?", id);
  }

  Result<users::User> get_by_username(const std::string& username) override {
    return one(std::string("SELECT ") + kColumns + " FROM users WHERE username = ?", username);
  }

  Result<users::User> update_profile(const std::string& id,
                                     const users::ProfileFields& f) override {
    return db_.write_value([&](Connection& c) -> Result<users::User> {
      auto q = c.prepare(std::string("UPDATE users SET display_name = coalesce(?1, display_name),"
                                     " status_text = coalesce(?2, status_text),"
                                     " timezone = coalesce(?3, timezone) WHERE id = ?4"
                                     " RETURNING ") +
                         kColumns);
      q.bind(1, f.display_name).bind(2, f.status_text).bind(3, f.timezone).bind(4, id);
      return updated_row(q);
    });
  }

  Result<users::User> set_avatar(const std::string& id,
                                 const std::string& avatar_file_id) override {
    return db_.write_value([&](Connection& c) -> Result<users::User> {
      auto q = c.prepare(std::string("UPDATE users SET avatar_file_id = ?1 WHERE id = ?2"
                                     " RETURNING ") +
                         kColumns);
      q.bind(1, avatar_file_id).bind(2, id);
      return updated_row(q);
    });
  }

  Result<users::User> find_by_avatar(const std::string& file_id) override {
    if (file_id.empty()) return fail(Errc::not_found, "no such user");
    return one(std::string("SELECT ") + kColumns + " FROM users WHERE avatar_file_id = ?", file_id);
  }

  Result<std::vector<users::User>> search_prefix(const std::string& prefix, int limit,
                                                 const std::optional<std::string>& after) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<users::User>> {
      auto q = c.prepare(std::string("SELECT ") + kColumns +
                         " FROM users WHERE (username LIKE ?1 ESCAPE '\\' OR display_name LIKE ?1"
                         " ESCAPE '\\') AND username > ?2 ORDER BY username LIMIT ?3");
      q.bind(1, like_prefix(prefix)).bind(2, after.value_or("")).bind(3, limit);
      std::vector<users::User> out;
      while (q.step()) out.push_back(row_to_user(q));
      return out;
    });
  }

  Result<void> remove(const std::string& id) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare("DELETE FROM users WHERE id = ?").bind(1, id).exec();
      return ok();
    });
  }

  Result<users::User> set_role(const std::string& id, users::Role role) override {
    return db_.write_value([&](Connection& c) -> Result<users::User> {
      auto q = c.prepare(std::string("UPDATE users SET role = ?1 WHERE id = ?2 AND (?1 = 'admin'"
                                     " OR role <> 'admin' OR deactivated_at IS NOT NULL OR ") +
                         kAnotherAdmin + ") RETURNING " + kColumns);
      q.bind(1, std::string(users::role_name(role))).bind(2, id);
      return guarded_update(c, q, id);
    });
  }

  Result<users::User> set_deactivated(const std::string& id, std::optional<Millis> at) override {
    return db_.write_value([&](Connection& c) -> Result<users::User> {
      auto q = c.prepare(std::string("UPDATE users SET deactivated_at = ?1 WHERE id = ?2 AND (?1"
                                     " IS NULL OR role <> 'admin' OR ") +
                         kAnotherAdmin + ") RETURNING " + kColumns);
      if (at)
        q.bind(1, *at);
      else
        q.bind_null(1);
      q.bind(2, id);
      return guarded_update(c, q, id);
    });
  }

 private:
  // The row an UPDATE ... RETURNING gave (stepped to the end, so the statement completes).
  static Result<users::User> updated_row(Stmt& q) {
    if (!q.step()) return fail(Errc::not_found, "no such user");
    auto updated = row_to_user(q);
    while (q.step()) {
    }
    return updated;
  }

  // An UPDATE guarded by "another admin remains": no row is either an unknown id or the guard.
  static Result<users::User> guarded_update(Connection& c, Stmt& q, const std::string& id) {
    auto updated = updated_row(q);
    if (updated || updated.error().code != Errc::not_found) return updated;
    auto exists = c.prepare("SELECT 1 FROM users WHERE id = ?");
    exists.bind(1, id);
    if (!exists.step()) return updated;
    return fail(Errc::failed_precondition, "the server must keep at least one active admin");
  }

  Result<users::User> one(const std::string& sql, const std::string& key) {
    return db_.read_value([&](Connection& c) -> Result<users::User> {
      auto q = c.prepare(sql);
      q.bind(1, key);
      if (!q.step()) return fail(Errc::not_found, "no such user");
      return row_to_user(q);
    });
  }

  Database& db_;
};

}  // namespace

Result<std::unique_ptr<users::UserStore>> make_user_store(Database& db) {
  if (auto m = db.migrate("users", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<users::UserStore>(new SqliteUserStore(db));
}

}  // namespace parley::sqlite
