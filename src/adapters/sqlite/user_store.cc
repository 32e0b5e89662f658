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
};

constexpr const char* kColumns =
    "id, username, display_name, status_text, timezone, avatar_file_id, email, created_at";

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
        c.prepare(
             "INSERT INTO users (id, username, display_name, status_text, timezone,"
             " avatar_file_id, email, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(1, u.id)
            .bind(2, u.username)
            .bind(3, u.display_name)
            .bind(4, u.status_text)
            .bind(5, u.timezone)
            .bind(6, u.avatar_file_id)
            .bind(7, u.email)
            .bind(8, u.created_at)
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

 private:
  // The row an UPDATE ... RETURNING gave (stepped to the end, so the statement completes).
  static Result<users::User> updated_row(Stmt& q) {
    if (!q.step()) return fail(Errc::not_found, "no such user");
    auto updated = row_to_user(q);
    while (q.step()) {
    }
    return updated;
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
