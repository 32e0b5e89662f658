// PostgreSQL NotificationStore: settings, per-conversation overrides and push subscriptions.
#include <string>

#include "adapters/postgres/stores.h"

namespace parley::postgres {
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
     "  keywords TEXT[] NOT NULL,"
     "  push_previews BOOLEAN NOT NULL);"
     "CREATE TABLE notification_conversation_settings ("
     "  user_id TEXT NOT NULL,"
     "  conversation_id TEXT NOT NULL,"
     "  level TEXT NOT NULL,"
     "  muted_until BIGINT,"
     "  PRIMARY KEY (user_id, conversation_id));"
     "CREATE TABLE push_subscriptions ("
     "  id TEXT PRIMARY KEY,"
     "  user_id TEXT NOT NULL,"
     "  endpoint TEXT NOT NULL UNIQUE,"
     "  p256dh TEXT NOT NULL,"
     "  auth TEXT NOT NULL,"
     "  device_name TEXT NOT NULL,"
     "  enabled BOOLEAN NOT NULL DEFAULT TRUE,"
     "  created_at BIGINT NOT NULL);"
     "CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id, created_at);"},
    {2,
     "CREATE TABLE notification_digest_marks ("
     "  user_id TEXT NOT NULL,"
     "  conversation_id TEXT NOT NULL,"
     "  seq BIGINT NOT NULL,"
     "  PRIMARY KEY (user_id, conversation_id));"},
    {3,
     // eager_members: the few users whose settings ask for more than mentions.
     "CREATE INDEX notification_settings_eager ON notification_settings(user_id)"
     "  WHERE push = 'all' OR email = 'all' OR cardinality(keywords) > 0;"
     "CREATE INDEX notification_conversation_settings_all"
     "  ON notification_conversation_settings(conversation_id) WHERE level = 'all';"},
};

constexpr const char* kSubColumns =
    "id, user_id, endpoint, p256dh, auth, device_name, enabled, created_at";

PushSubscription row_to_sub(const Rows& r, int i) {
  return {r.text(i, 0), r.text(i, 1), r.text(i, 2),    r.text(i, 3),
          r.text(i, 4), r.text(i, 5), r.boolean(i, 6), r.integer(i, 7)};
}

class PostgresNotificationStore final : public NotificationStore {
 public:
  explicit PostgresNotificationStore(Pool& pool) : pool_(pool) {}

  Result<std::unordered_map<std::string, UserSettings>> settings_of(
      const std::vector<std::string>& user_ids) override {
    return pool_.run_value([&](Connection& c) -> Result<std::unordered_map<std::string, UserSettings>> {
      auto r = c.exec(
          "SELECT user_id, push, email, email_delay_minutes, quiet_start, quiet_end, quiet_tz,"
          " array_to_string(keywords, E'\\n'), cardinality(keywords), push_previews"
          " FROM notification_settings WHERE user_id = ANY($1::text[])",
          {Param::text_array(user_ids)});
      std::unordered_map<std::string, UserSettings> out;
      for (int i = 0; i < r.size(); ++i) {
        UserSettings& s = out[r.text(i, 0)];
        s.push = r.text(i, 1);
        s.email = r.text(i, 2);
        s.email_delay_minutes = static_cast<int>(r.integer(i, 3));
        if (!r.is_null(i, 4)) s.quiet_hours = QuietHours{r.text(i, 4), r.text(i, 5), r.text(i, 6)};
        if (r.integer(i, 8) > 0) {
          std::string all = r.text(i, 7);
          std::size_t at = 0;
          while (true) {
            auto nl = all.find('\n', at);
            s.keywords.push_back(all.substr(at, nl == std::string::npos ? nl : nl - at));
            if (nl == std::string::npos) break;
            at = nl + 1;
          }
        }
        s.push_previews = r.boolean(i, 9);
      }
      return out;
    });
  }

  Result<void> put_settings(const std::string& user_id, const UserSettings& s) override {
    return pool_.run([&](Connection& c) -> Result<void> {
      std::optional<std::string> qs, qe, qt;
      if (s.quiet_hours) {
        qs = s.quiet_hours->start;
        qe = s.quiet_hours->end;
        qt = s.quiet_hours->tz;
      }
      c.exec(
          "INSERT INTO notification_settings (user_id, push, email, email_delay_minutes,"
          " quiet_start, quiet_end, quiet_tz, keywords, push_previews)"
          " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text[], $9) ON CONFLICT (user_id) DO UPDATE"
          " SET push = excluded.push, email = excluded.email,"
          " email_delay_minutes = excluded.email_delay_minutes,"
          " quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end,"
          " quiet_tz = excluded.quiet_tz, keywords = excluded.keywords,"
          " push_previews = excluded.push_previews",
          {user_id, s.push, s.email, s.email_delay_minutes, qs, qe, qt,
           Param::text_array(s.keywords), s.push_previews});
      return ok();
    });
  }

  Result<std::unordered_map<std::string, ConversationSettings>> conversation_settings_of(
      const std::string& conversation_id, const std::vector<std::string>& user_ids) override {
    return pool_.run_value(
        [&](Connection& c) -> Result<std::unordered_map<std::string, ConversationSettings>> {
          auto r = c.exec(
              "SELECT user_id, level, muted_until FROM notification_conversation_settings"
              " WHERE conversation_id = $1 AND user_id = ANY($2::text[])",
              {conversation_id, Param::text_array(user_ids)});
          std::unordered_map<std::string, ConversationSettings> out;
          for (int i = 0; i < r.size(); ++i) {
            ConversationSettings& s = out[r.text(i, 0)];
            s.level = r.text(i, 1);
            if (!r.is_null(i, 2)) s.muted_until = r.integer(i, 2);
          }
          return out;
        });
  }

  Result<void> put_conversation_settings(const std::string& user_id,
                                         const std::string& conversation_id,
                                         const ConversationSettings& s) override {
    return pool_.run([&](Connection& c) -> Result<void> {
      c.exec(
          "INSERT INTO notification_conversation_settings (user_id, conversation_id, level,"
          " muted_until) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, conversation_id) DO"
          " UPDATE SET level = excluded.level, muted_until = excluded.muted_until",
          {user_id, conversation_id, s.level, std::optional<std::int64_t>(s.muted_until)});
      return ok();
    });
  }

  Result<std::vector<std::string>> eager_members(const std::string& conversation_id) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<std::string>> {
      // members' ids are COLLATE "C": compare in it, so its unique index serves the lookups.
      auto q = c.exec(
          "SELECT s.user_id FROM notification_settings s"
          " WHERE (push = 'all' OR email = 'all' OR cardinality(keywords) > 0) AND EXISTS ("
          "SELECT 1 FROM members m WHERE m.conversation_id = $1"
          " AND m.user_id = s.user_id COLLATE \"C\")"
          " UNION SELECT o.user_id FROM notification_conversation_settings o"
          " WHERE o.conversation_id = $1 AND o.level = 'all' AND EXISTS ("
          "SELECT 1 FROM members m WHERE m.conversation_id = $1"
          " AND m.user_id = o.user_id COLLATE \"C\")",
          {conversation_id});
      std::vector<std::string> out;
      for (int i = 0; i < q.size(); ++i) out.push_back(q.text(i, 0));
      return out;
    });
  }

  Result<PushSubscription> add_subscription(const PushSubscription& s) override {
    return pool_.run_value([&](Connection& c) -> Result<PushSubscription> {
      auto r = c.exec(
          std::string(
              "INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, device_name,"
              " enabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7) ON CONFLICT"
              " (endpoint) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh,"
              " auth = excluded.auth, device_name = excluded.device_name, enabled = TRUE"
              " RETURNING ") +
              kSubColumns,
          {s.id, s.user_id, s.endpoint, s.p256dh, s.auth, s.device_name, s.created_at});
      return row_to_sub(r, 0);
    });
  }

  Result<std::vector<PushSubscription>> subscriptions_of(const std::string& user_id) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<PushSubscription>> {
      auto r = c.exec(std::string("SELECT ") + kSubColumns +
                          " FROM push_subscriptions WHERE user_id = $1 ORDER BY created_at, id",
                      {user_id});
      std::vector<PushSubscription> out;
      for (int i = 0; i < r.size(); ++i) out.push_back(row_to_sub(r, i));
      return out;
    });
  }

  Result<std::optional<PushSubscription>> set_subscription_enabled(const std::string& user_id,
                                                                   const std::string& id,
                                                                   bool enabled) override {
    return pool_.run_value([&](Connection& c) -> Result<std::optional<PushSubscription>> {
      auto r = c.exec(std::string("UPDATE push_subscriptions SET enabled = $1 WHERE id = $2 AND"
                                  " user_id = $3 RETURNING ") +
                          kSubColumns,
                      {enabled, id, user_id});
      if (r.empty()) return std::optional<PushSubscription>();
      return std::optional<PushSubscription>(row_to_sub(r, 0));
    });
  }

  Result<bool> remove_subscription(const std::string& user_id, const std::string& id) override {
    return pool_.run_value([&](Connection& c) -> Result<bool> {
      return c.exec("DELETE FROM push_subscriptions WHERE id = $1 AND user_id = $2", {id, user_id})
                 .affected() > 0;
    });
  }

  Result<bool> remove_endpoint(const std::string& endpoint) override {
    return pool_.run_value([&](Connection& c) -> Result<bool> {
      return c.exec("DELETE FROM push_subscriptions WHERE endpoint = $1", {endpoint}).affected() >
             0;
    });
  }

  Result<std::map<std::string, std::int64_t>> digest_marks(const std::string& user_id) override {
    return pool_.run_value([&](Connection& c) -> Result<std::map<std::string, std::int64_t>> {
      auto r =
          c.exec("SELECT conversation_id, seq FROM notification_digest_marks WHERE user_id = $1",
                 {user_id});
      std::map<std::string, std::int64_t> out;
      for (int i = 0; i < r.size(); ++i) out[r.text(i, 0)] = r.integer(i, 1);
      return out;
    });
  }

  Result<void> raise_digest_marks(
      const std::string& user_id,
      const std::vector<std::pair<std::string, std::int64_t>>& marks) override {
    if (marks.empty()) return ok();
    std::vector<std::string> ids;
    std::vector<std::int64_t> seqs;
    for (const auto& [id, seq] : marks) {
      ids.push_back(id);
      seqs.push_back(seq);
    }
    return pool_.run([&](Connection& c) -> Result<void> {
      c.exec(
          "INSERT INTO notification_digest_marks (user_id, conversation_id, seq)"
          " SELECT $1, * FROM unnest($2::text[], $3::bigint[]) ON CONFLICT"
          " (user_id, conversation_id) DO UPDATE"
          " SET seq = greatest(notification_digest_marks.seq, excluded.seq)",
          {user_id, Param::text_array(ids), Param::int_array(seqs)});
      return ok();
    });
  }

 private:
  Pool& pool_;
};

}  // namespace

Result<std::unique_ptr<notifications::NotificationStore>> make_notification_store(Pool& pool) {
  if (auto m = pool.migrate("notifications", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<notifications::NotificationStore>(new PostgresNotificationStore(pool));
}

}  // namespace parley::postgres
