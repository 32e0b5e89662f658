// SQLite NotificationStore: settings, per-conversation overrides and push subscriptions.
#include <string>

#include "adapters/sqlite/stores.h"

namespace parley::sqlite {
namespace {

using namespace notifications;

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE notification_settings ("
     "  user_id TEXT PRIMARY KEY,"
     "  push TEXT NOT NULL,"
     "  email TEXT NOT NULL,"
     "  email_delay_minutes INTEGER NOT NULL,"
     "  quiet_start TEXT,"
     "  quiet_end TEXT,"
     "  quiet_tz TEXT,"
     "  keywords TEXT NOT NULL,"  // joined with '\n' (keywords hold none)
     "  push_previews INTEGER NOT NULL);"
     "CREATE TABLE notification_conversation_settings ("
     "  user_id TEXT NOT NULL,"
     "  conversation_id TEXT NOT NULL,"
     "  level TEXT NOT NULL,"
     "  muted_until INTEGER,"
     "  PRIMARY KEY (user_id, conversation_id));"
     "CREATE TABLE push_subscriptions ("
     "  id TEXT PRIMARY KEY,"
     "  user_id TEXT NOT NULL,"
     "  endpoint TEXT NOT NULL UNIQUE,"
     "  p256dh TEXT NOT NULL,"
     "  auth TEXT NOT NULL,"
     "  device_name TEXT NOT NULL,"
     "  enabled INTEGER NOT NULL DEFAULT 1,"
     "  created_at INTEGER NOT NULL);"
     "CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id, created_at);"},
    {2,
     "CREATE TABLE notification_digest_marks ("
     "  user_id TEXT NOT NULL,"
     "  conversation_id TEXT NOT NULL,"
     "  seq INTEGER NOT NULL,"
     "  PRIMARY KEY (user_id, conversation_id));"},
    {3,
     // eager_members: the few users whose settings ask for more than mentions.
     "CREATE INDEX notification_settings_eager ON notification_settings(user_id)"
     "  WHERE push = 'all' OR email = 'all' OR keywords <> '';"
     "CREATE INDEX notification_conversation_settings_all"
     "  ON notification_conversation_settings(conversation_id) WHERE level = 'all';"},
};

std::string join_lines(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += '\n';
    out += s;
  }
  return out;
}
std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (!s.empty() && at <= s.size()) {
    auto nl = s.find('\n', at);
    out.push_back(s.substr(at, nl == std::string::npos ? std::string::npos : nl - at));
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  return out;
}

constexpr const char* kSubColumns =
    "id, user_id, endpoint, p256dh, auth, device_name, enabled, created_at";

PushSubscription row_to_sub(const Stmt& q) {
  return {q.text(0), q.text(1), q.text(2),         q.text(3),
          q.text(4), q.text(5), q.integer(6) != 0, q.integer(7)};
}

class SqliteNotificationStore final : public NotificationStore {
 public:
  explicit SqliteNotificationStore(Database& db) : db_(db) {}

  Result<std::unordered_map<std::string, UserSettings>> settings_of(
      const std::vector<std::string>& user_ids) override {
    const std::string ids = json_list(user_ids);
    return db_.read_value([&](Connection& c) -> Result<std::unordered_map<std::string, UserSettings>> {
      auto q = c.prepare(
          "SELECT user_id, push, email, email_delay_minutes, quiet_start, quiet_end, quiet_tz,"
          " keywords, push_previews FROM notification_settings"
          " WHERE user_id IN (SELECT value FROM json_each(?))");
      q.bind(1, ids);
      std::unordered_map<std::string, UserSettings> out;
      while (q.step()) {
        UserSettings& s = out[q.text(0)];
        s.push = q.text(1);
        s.email = q.text(2);
        s.email_delay_minutes = static_cast<int>(q.integer(3));
        if (!q.is_null(4)) s.quiet_hours = QuietHours{q.text(4), q.text(5), q.text(6)};
        s.keywords = split_lines(q.text(7));
        s.push_previews = q.integer(8) != 0;
      }
      return out;
    });
  }

  Result<void> put_settings(const std::string& user_id, const UserSettings& s) override {
    return db_.write([&](Connection& c) -> Result<void> {
      auto q = c.prepare(
          "INSERT INTO notification_settings (user_id, push, email, email_delay_minutes,"
          " quiet_start, quiet_end, quiet_tz, keywords, push_previews)"
          " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
          " push = excluded.push, email = excluded.email,"
          " email_delay_minutes = excluded.email_delay_minutes,"
          " quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end,"
          " quiet_tz = excluded.quiet_tz, keywords = excluded.keywords,"
          " push_previews = excluded.push_previews");
      q.bind(1, user_id).bind(2, s.push).bind(3, s.email).bind(4, s.email_delay_minutes);
      if (s.quiet_hours)
        q.bind(5, s.quiet_hours->start).bind(6, s.quiet_hours->end).bind(7, s.quiet_hours->tz);
      else
        q.bind_null(5).bind_null(6).bind_null(7);
      q.bind(8, join_lines(s.keywords)).bind(9, s.push_previews ? 1 : 0).exec();
      return ok();
    });
  }

  Result<std::unordered_map<std::string, ConversationSettings>> conversation_settings_of(
      const std::string& conversation_id, const std::vector<std::string>& user_ids) override {
    const std::string ids = json_list(user_ids);
    return db_.read_value(
        [&](Connection& c) -> Result<std::unordered_map<std::string, ConversationSettings>> {
          auto q = c.prepare(
              "SELECT user_id, level, muted_until FROM notification_conversation_settings"
              " WHERE conversation_id = ?1 AND user_id IN (SELECT value FROM json_each(?2))");
          q.bind(1, conversation_id).bind(2, ids);
          std::unordered_map<std::string, ConversationSettings> out;
          while (q.step()) {
            ConversationSettings& s = out[q.text(0)];
            s.level = q.text(1);
            if (!q.is_null(2)) s.muted_until = q.integer(2);
          }
          return out;
        });
  }

  Result<void> put_conversation_settings(const std::string& user_id,
                                         const std::string& conversation_id,
                                         const ConversationSettings& s) override {
    return db_.write([&](Connection& c) -> Result<void> {
      auto q = c.prepare(
          "INSERT INTO notification_conversation_settings (user_id, conversation_id, level,"
          " muted_until) VALUES (?, ?, ?, ?) ON CONFLICT (user_id, conversation_id) DO UPDATE"
          " SET level = excluded.level, muted_until = excluded.muted_until");
      q.bind(1, user_id).bind(2, conversation_id).bind(3, s.level);
      if (s.muted_until)
        q.bind(4, *s.muted_until);
      else
        q.bind_null(4);
      q.exec();
      return ok();
    });
  }

  Result<std::vector<std::string>> eager_members(const std::string& conversation_id) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<std::string>> {
      std::vector<std::string> out;
      auto q = c.prepare(
          "SELECT s.user_id FROM notification_settings s"
          " WHERE (push = 'all' OR email = 'all' OR keywords <> '') AND EXISTS (SELECT 1 FROM"
          " members m WHERE m.conversation_id = ?1 AND m.user_id = s.user_id)"
          " UNION SELECT o.user_id FROM notification_conversation_settings o"
          " WHERE o.conversation_id = ?1 AND o.level = 'all' AND EXISTS (SELECT 1 FROM"
          " members m WHERE m.conversation_id = ?1 AND m.user_id = o.user_id)");
      q.bind(1, conversation_id);
      while (q.step()) out.push_back(q.text(0));
      return out;
    });
  }

  Result<PushSubscription> add_subscription(const PushSubscription& s) override {
    return db_.write_value([&](Connection& c) -> Result<PushSubscription> {
      c.prepare(
           "INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, device_name,"
           " enabled, created_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT (endpoint) DO"
           " UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh,"
           " auth = excluded.auth, device_name = excluded.device_name, enabled = 1")
          .bind(1, s.id)
          .bind(2, s.user_id)
          .bind(3, s.endpoint)
          .bind(4, s.p256dh)
          .bind(5, s.auth)
          .bind(6, s.device_name)
          .bind(7, s.created_at)
          .exec();
      auto q = c.prepare(std::string("SELECT ") + kSubColumns +
                         " FROM push_subscriptions WHERE endpoint = ?");
      q.bind(1, s.endpoint);
      if (!q.step()) return fail(Errc::internal, "subscription vanished");
      return row_to_sub(q);
    });
  }

  Result<std::vector<PushSubscription>> subscriptions_of(const std::string& user_id) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<PushSubscription>> {
      auto q = c.prepare(std::string("SELECT ") + kSubColumns +
                         " FROM push_subscriptions WHERE user_id = ? ORDER BY created_at, id");
      q.bind(1, user_id);
      std::vector<PushSubscription> out;
      while (q.step()) out.push_back(row_to_sub(q));
      return out;
    });
  }

  Result<std::optional<PushSubscription>> set_subscription_enabled(const std::string& user_id,
                                                                   const std::string& id,
                                                                   bool enabled) override {
    return db_.write_value([&](Connection& c) -> Result<std::optional<PushSubscription>> {
      auto q = c.prepare(std::string("UPDATE push_subscriptions SET enabled = ? WHERE id = ? AND"
                                     " user_id = ? RETURNING ") +
                         kSubColumns);
      q.bind(1, enabled ? 1 : 0).bind(2, id).bind(3, user_id);
      if (!q.step()) return std::optional<PushSubscription>();
      auto s = row_to_sub(q);
      while (q.step()) {
      }
      return std::optional<PushSubscription>(std::move(s));
    });
  }

  Result<bool> remove_subscription(const std::string& user_id, const std::string& id) override {
    return db_.write_value([&](Connection& c) -> Result<bool> {
      return c.prepare("DELETE FROM push_subscriptions WHERE id = ? AND user_id = ?")
                 .bind(1, id)
                 .bind(2, user_id)
                 .exec() > 0;
    });
  }

  Result<bool> remove_endpoint(const std::string& endpoint) override {
    return db_.write_value([&](Connection& c) -> Result<bool> {
      return c.prepare("DELETE FROM push_subscriptions WHERE endpoint = ?")
                 .bind(1, endpoint)
                 .exec() > 0;
    });
  }

  Result<std::map<std::string, std::int64_t>> digest_marks(const std::string& user_id) override {
    return db_.read_value([&](Connection& c) -> Result<std::map<std::string, std::int64_t>> {
      std::map<std::string, std::int64_t> out;
      auto q =
          c.prepare("SELECT conversation_id, seq FROM notification_digest_marks WHERE user_id = ?");
      q.bind(1, user_id);
      while (q.step()) out[q.text(0)] = q.integer(1);
      return out;
    });
  }

  Result<void> raise_digest_marks(
      const std::string& user_id,
      const std::vector<std::pair<std::string, std::int64_t>>& marks) override {
    return db_.write([&](Connection& c) -> Result<void> {
      for (const auto& [conversation_id, seq] : marks)
        c.prepare(
             "INSERT INTO notification_digest_marks (user_id, conversation_id, seq)"
             " VALUES (?, ?, ?) ON CONFLICT (user_id, conversation_id) DO UPDATE"
             " SET seq = max(seq, excluded.seq)")
            .bind(1, user_id)
            .bind(2, conversation_id)
            .bind(3, seq)
            .exec();
      return ok();
    });
  }

 private:
  Database& db_;
};

}  // namespace

Result<std::unique_ptr<notifications::NotificationStore>> make_notification_store(Database& db) {
  if (auto m = db.migrate("notifications", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<notifications::NotificationStore>(new SqliteNotificationStore(db));
}

}  // namespace parley::sqlite
