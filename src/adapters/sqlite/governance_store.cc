// SQLite GovernanceStore. Its own tables are component "governance"; it also reads and deletes
// rows of the messaging, files and users tables (store.h says why), and adds two indexes to
// messages and one to users for its range scans by time. Every batch is one Database::write, so
// it queues at the writer like any send and holds it for one bounded batch only.
#include <algorithm>
#include <set>
#include <string>

#include "adapters/sqlite/stores.h"
#include "modules/messaging/store.h"

namespace parley::sqlite {
namespace {

using namespace governance;

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE INDEX governance_messages_created ON messages(created_at, id);"
     "CREATE INDEX governance_messages_conv_created ON messages(conversation_id, created_at);"
     "CREATE INDEX governance_messages_sender ON messages(sender_id, pk);"
     "CREATE INDEX governance_users_created ON users(created_at, id);"
     "CREATE INDEX governance_file_posts_conv ON file_posts(conversation_id, file_id);"
     "CREATE TABLE governance_settings (key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;"
     "CREATE TABLE governance_retention ("
     "  conversation_id TEXT PRIMARY KEY,"
     "  days INTEGER NOT NULL) WITHOUT ROWID;"
     "CREATE TABLE governance_exports ("
     "  id TEXT PRIMARY KEY,"
     "  requested_by TEXT NOT NULL,"
     "  kind TEXT NOT NULL,"
     "  target TEXT NOT NULL,"
     "  status INTEGER NOT NULL,"
     "  blob_key TEXT NOT NULL,"
     "  size INTEGER NOT NULL,"
     "  error TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  finished_at INTEGER NOT NULL,"
     "  expires_at INTEGER NOT NULL);"
     "CREATE TABLE governance_watermarks ("
     "  name TEXT PRIMARY KEY,"
     "  at INTEGER NOT NULL,"
     "  id TEXT NOT NULL) WITHOUT ROWID;"
     "CREATE TABLE analytics_days ("
     "  day TEXT PRIMARY KEY,"
     "  messages INTEGER NOT NULL DEFAULT 0,"
     "  new_users INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
     "CREATE TABLE analytics_user_days ("
     "  day TEXT NOT NULL,"
     "  user_id TEXT NOT NULL,"
     "  PRIMARY KEY (day, user_id)) WITHOUT ROWID;"
     "CREATE TABLE analytics_channel_days ("
     "  day TEXT NOT NULL,"
     "  conversation_id TEXT NOT NULL,"
     "  messages INTEGER NOT NULL DEFAULT 0,"
     "  PRIMARY KEY (day, conversation_id)) WITHOUT ROWID;"
     "CREATE TABLE analytics_channel_user_days ("
     "  day TEXT NOT NULL,"
     "  conversation_id TEXT NOT NULL,"
     "  user_id TEXT NOT NULL,"
     "  PRIMARY KEY (day, conversation_id, user_id)) WITHOUT ROWID;"},
    // Messages by conversation type, calls, files and DM first responses (decisions §47).
    {2,
     "ALTER TABLE analytics_days ADD COLUMN dm_messages INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE analytics_days ADD COLUMN group_messages INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE analytics_days ADD COLUMN channel_messages INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE analytics_days ADD COLUMN calls INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE analytics_days ADD COLUMN call_seconds INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE analytics_days ADD COLUMN files INTEGER NOT NULL DEFAULT 0;"
     "CREATE TABLE analytics_dm_turns ("
     "  conversation_id TEXT PRIMARY KEY,"
     "  sender_id TEXT NOT NULL,"
     "  turn_at INTEGER NOT NULL) WITHOUT ROWID;"
     "CREATE TABLE analytics_dm_response_days ("
     "  day TEXT NOT NULL,"
     "  bucket INTEGER NOT NULL,"
     "  n INTEGER NOT NULL DEFAULT 0,"
     "  PRIMARY KEY (day, bucket)) WITHOUT ROWID;"
     "CREATE INDEX governance_files_created ON files(created_at, id);"},
};

constexpr const char* kTypeNames[] = {"dm", "group", "channel"};
const char* type_name(std::int64_t t) { return t >= 0 && t <= 2 ? kTypeNames[t] : "group"; }

// A conversation's label: its name, or its members' usernames when it has none.
constexpr const char* kLabel =
    "CASE WHEN c.name <> '' THEN c.name ELSE coalesce((SELECT group_concat(username, ', ') FROM"
    " (SELECT u.username FROM members mb JOIN users u ON u.id = mb.user_id"
    "  WHERE mb.conversation_id = c.id ORDER BY u.username)), '') END";

ExportMessage row_to_export(const Stmt& s) {
  ExportMessage m;
  m.cursor = s.integer(0);
  m.id = s.text(1);
  m.conversation_id = s.text(2);
  m.seq = s.integer(3);
  m.sender_id = s.text(4);
  m.text = s.text(5);
  if (!s.is_null(6)) m.thread_root_id = s.text(6);
  for (const auto& a : messaging::decode_attachments(s.text(7))) m.attachment_ids.push_back(a.id);
  m.created_at = s.integer(8);
  if (!s.is_null(9)) m.edited_at = s.integer(9);
  m.conversation_name = s.text(10);
  m.conversation_type = type_name(s.integer(11));
  m.sender_username = s.text(12);
  return m;
}

constexpr const char* kExportSelect =
    "SELECT m.pk, m.id, m.conversation_id, m.seq, m.sender_id, m.text, m.thread_root_id,"
    " coalesce(m.attachments, ''), m.created_at, m.edited_at, ";

ExportRecord row_to_record(const Stmt& s) {
  ExportRecord r;
  r.id = s.text(0);
  r.requested_by = s.text(1);
  r.kind = s.text(2);
  r.target = s.text(3);
  r.status = static_cast<ExportStatus>(s.integer(4));
  r.blob_key = s.text(5);
  r.size = s.integer(6);
  r.error = s.text(7);
  r.created_at = s.integer(8);
  r.finished_at = s.integer(9);
  r.expires_at = s.integer(10);
  return r;
}
constexpr const char* kExportColumns =
    "id, requested_by, kind, target, status, blob_key, size, error, created_at, finished_at,"
    " expires_at";

ExportFile row_to_file(const Stmt& s) {
  ExportFile f;
  f.id = s.text(0);
  f.owner_id = s.text(1);
  f.name = s.text(2);
  f.size = s.integer(3);
  f.content_type = s.text(4);
  f.blob_key = s.text(5);
  f.created_at = s.integer(6);
  return f;
}
constexpr const char* kFileColumns =
    "f.id, f.owner_id, f.name, f.size, f.content_type, f.blob_key, f.created_at";

// Removes the file records of `candidates` that nothing references any more, and collects the
// blobs that no remaining file record uses. Inside the caller's write.
void release_files(Connection& c, const std::set<std::string>& candidates, ExpiryBatch& out) {
  for (const auto& id : candidates) {
    const std::string pattern = "%" + id + "%";
    auto used = c.prepare(
        "SELECT 1 FROM file_posts p JOIN messages m ON m.conversation_id = p.conversation_id"
        " WHERE p.file_id = ? AND (m.attachments LIKE ? OR m.previews LIKE ?) LIMIT 1");
    used.bind(1, id).bind(2, pattern).bind(3, pattern);
    if (used.step()) continue;
    auto avatar = c.prepare("SELECT 1 FROM users WHERE avatar_file_id = ? LIMIT 1");
    avatar.bind(1, id);
    if (avatar.step()) continue;
    auto f = c.prepare("SELECT blob_key, thumbnail_key, upload_sha256 FROM files WHERE id = ?");
    f.bind(1, id);
    if (!f.step()) continue;
    const std::string blob = f.text(0), thumb = f.text(1), hash = f.text(2);
    c.prepare("DELETE FROM files WHERE id = ?").bind(1, id).exec();
    c.prepare("DELETE FROM file_posts WHERE file_id = ?").bind(1, id).exec();
    out.file_ids.push_back(id);
    // Identical uploads share their blobs (files.cc): they go with the last record.
    auto same = c.prepare("SELECT 1 FROM files WHERE upload_sha256 = ? AND blob_key = ? LIMIT 1");
    same.bind(1, hash).bind(2, blob);
    if (same.step()) continue;
    out.blob_keys.push_back(blob);
    if (!thumb.empty()) out.blob_keys.push_back(thumb);
  }
}

class SqliteGovernanceStore final : public GovernanceStore {
 public:
  explicit SqliteGovernanceStore(Database& db) : db_(db) {}

  Result<std::optional<int>> global_retention_days() override {
    return db_.read_value([&](Connection& c) -> Result<std::optional<int>> {
      auto q = c.prepare("SELECT value FROM governance_settings WHERE key = 'retention_days'");
      if (!q.step() || q.is_null(0)) return std::optional<int>();
      return std::optional<int>(static_cast<int>(q.integer(0)));
    });
  }

  Result<void> set_global_retention_days(std::optional<int> days) override {
    return db_.write([&](Connection& c) -> Result<void> {
      if (days)
        c.prepare("INSERT INTO governance_settings (key, value) VALUES ('retention_days', ?)"
                  " ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(1, *days)
            .exec();
      else
        c.prepare("DELETE FROM governance_settings WHERE key = 'retention_days'").exec();
      return ok();
    });
  }

  Result<std::optional<int>> conversation_retention_days(const std::string& id) override {
    return db_.read_value([&](Connection& c) -> Result<std::optional<int>> {
      auto q = c.prepare("SELECT days FROM governance_retention WHERE conversation_id = ?");
      q.bind(1, id);
      if (!q.step()) return std::optional<int>();
      return std::optional<int>(static_cast<int>(q.integer(0)));
    });
  }

  Result<void> set_conversation_retention_days(const std::string& id,
                                               std::optional<int> days) override {
    return db_.write([&](Connection& c) -> Result<void> {
      if (days)
        c.prepare("INSERT INTO governance_retention (conversation_id, days) VALUES (?, ?)"
                  " ON CONFLICT (conversation_id) DO UPDATE SET days = excluded.days")
            .bind(1, id)
            .bind(2, *days)
            .exec();
      else
        c.prepare("DELETE FROM governance_retention WHERE conversation_id = ?").bind(1, id).exec();
      return ok();
    });
  }

  Result<std::vector<ConversationPolicy>> conversation_policies() override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<ConversationPolicy>> {
      std::vector<ConversationPolicy> out;
      auto q = c.prepare(
          "SELECT conversation_id, days FROM governance_retention ORDER BY conversation_id");
      while (q.step()) out.push_back({q.text(0), static_cast<int>(q.integer(1))});
      return out;
    });
  }

  Result<ExpiryBatch> expire_messages(const std::optional<std::string>& conversation_id,
                                      Millis before, int limit) override {
    return db_.write_value([&](Connection& c) -> Result<ExpiryBatch> {
      ExpiryBatch out;
      struct Row {
        std::int64_t pk;
        std::string id, conv;
        std::int64_t seq;
        std::optional<std::string> root;
        std::string attachments;
      };
      std::vector<Row> rows;
      {
        auto q = conversation_id
                     ? c.prepare("SELECT pk, id, conversation_id, seq, thread_root_id,"
                                 " coalesce(attachments, '') FROM messages"
                                 " WHERE conversation_id = ? AND created_at < ?"
                                 " ORDER BY created_at LIMIT ?")
                     : c.prepare("SELECT pk, id, conversation_id, seq, thread_root_id,"
                                 " coalesce(attachments, '') FROM messages"
                                 " WHERE created_at < ? ORDER BY created_at LIMIT ?");
        int at = 1;
        if (conversation_id) q.bind(at++, *conversation_id);
        q.bind(at++, before);
        q.bind(at, limit);
        while (q.step())
          rows.push_back({q.integer(0), q.text(1), q.text(2), q.integer(3),
                          q.is_null(4) ? std::nullopt : std::optional(q.text(4)), q.text(5)});
      }
      std::set<std::string> files;
      for (const auto& r : rows) {
        c.prepare("DELETE FROM reactions WHERE message_pk = ?").bind(1, r.pk).exec();
        c.prepare("DELETE FROM pins WHERE conversation_id = ? AND message_id = ?")
            .bind(1, r.conv)
            .bind(2, r.id)
            .exec();
        c.prepare("DELETE FROM saved_messages WHERE message_id = ?").bind(1, r.id).exec();
        c.prepare("DELETE FROM message_mentions WHERE conversation_id = ? AND seq = ?")
            .bind(1, r.conv)
            .bind(2, r.seq)
            .exec();
        // The FTS5 delete trigger takes its search entry in this statement.
        c.prepare("DELETE FROM messages WHERE pk = ?").bind(1, r.pk).exec();
        if (r.root)
          c.prepare("UPDATE messages SET reply_count = reply_count - 1"
                    " WHERE id = ? AND reply_count > 0")
              .bind(1, *r.root)
              .exec();
        for (const auto& a : messaging::decode_attachments(r.attachments)) files.insert(a.id);
        out.messages.push_back({r.id, r.conv});
      }
      release_files(c, files, out);
      return out;
    });
  }

  Result<ExpiryBatch> expire_files(Millis before, int limit) override {
    return db_.write_value([&](Connection& c) -> Result<ExpiryBatch> {
      ExpiryBatch out;
      std::set<std::string> ids;
      auto q = c.prepare(
          "SELECT f.id FROM files f WHERE f.created_at < ?"
          " AND NOT EXISTS (SELECT 1 FROM file_posts p WHERE p.file_id = f.id)"
          " AND NOT EXISTS (SELECT 1 FROM users u WHERE u.avatar_file_id = f.id)"
          " ORDER BY f.created_at LIMIT ?");
      q.bind(1, before).bind(2, limit);
      while (q.step()) ids.insert(q.text(0));
      release_files(c, ids, out);
      return out;
    });
  }

  Result<std::vector<ExportMessage>> messages_sent_by(const std::string& user_id,
                                                      std::int64_t after, int limit) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<ExportMessage>> {
      std::vector<ExportMessage> out;
      auto q = c.prepare(std::string(kExportSelect) + kLabel +
                         ", c.type, '' FROM messages m JOIN conversations c"
                         " ON c.id = m.conversation_id"
                         " WHERE m.sender_id = ? AND m.pk > ? AND m.deleted = 0"
                         " ORDER BY m.pk LIMIT ?");
      q.bind(1, user_id).bind(2, after).bind(3, limit);
      while (q.step()) out.push_back(row_to_export(q));
      return out;
    });
  }

  Result<std::vector<ExportMessage>> messages_in(const std::string& conversation_id,
                                                 std::int64_t after, int limit) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<ExportMessage>> {
      std::vector<ExportMessage> out;
      // The cursor is the seq here: the (conversation_id, seq) index walks it in order.
      auto q = c.prepare(
          "SELECT m.seq, m.id, m.conversation_id, m.seq, m.sender_id, m.text, m.thread_root_id,"
          " coalesce(m.attachments, ''), m.created_at, m.edited_at, " +
          std::string(kLabel) +
          ", c.type, coalesce((SELECT username FROM users WHERE id = m.sender_id), '')"
          " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
          " WHERE m.conversation_id = ? AND m.seq > ? AND m.deleted = 0"
          " ORDER BY m.seq LIMIT ?");
      q.bind(1, conversation_id).bind(2, after).bind(3, limit);
      while (q.step()) out.push_back(row_to_export(q));
      return out;
    });
  }

  Result<ConversationLabel> conversation_label(const std::string& id) override {
    return db_.read_value([&](Connection& c) -> Result<ConversationLabel> {
      auto q = c.prepare("SELECT c.id, " + std::string(kLabel) +
                         ", c.type FROM conversations c WHERE c.id = ?");
      q.bind(1, id);
      if (!q.step()) return fail(Errc::not_found, "conversation not found");
      return ConversationLabel{q.text(0), q.text(1), type_name(q.integer(2))};
    });
  }

  Result<std::vector<ExportFile>> files_owned_by(const std::string& user_id,
                                                 const std::string& after_id,
                                                 int limit) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<ExportFile>> {
      std::vector<ExportFile> out;
      auto q = c.prepare(std::string("SELECT ") + kFileColumns +
                         " FROM files f WHERE f.owner_id = ? AND f.id > ? AND f.status = 0"
                         " ORDER BY f.id LIMIT ?");
      q.bind(1, user_id).bind(2, after_id).bind(3, limit);
      while (q.step()) out.push_back(row_to_file(q));
      return out;
    });
  }

  Result<std::vector<ExportFile>> files_posted_in(const std::string& conversation_id,
                                                  const std::string& after_id,
                                                  int limit) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<ExportFile>> {
      std::vector<ExportFile> out;
      auto q = c.prepare(std::string("SELECT ") + kFileColumns +
                         " FROM file_posts p JOIN files f ON f.id = p.file_id"
                         " WHERE p.conversation_id = ? AND p.file_id > ? AND f.status = 0"
                         " ORDER BY p.file_id LIMIT ?");
      q.bind(1, conversation_id).bind(2, after_id).bind(3, limit);
      while (q.step()) out.push_back(row_to_file(q));
      return out;
    });
  }

  Result<void> create_export(const ExportRecord& r) override { return put_export(r, false); }
  Result<void> update_export(const ExportRecord& r) override { return put_export(r, true); }

  Result<ExportRecord> get_export(const std::string& id) override {
    return db_.read_value([&](Connection& c) -> Result<ExportRecord> {
      auto q = c.prepare(std::string("SELECT ") + kExportColumns +
                         " FROM governance_exports WHERE id = ?");
      q.bind(1, id);
      if (!q.step()) return fail(Errc::not_found, "export not found");
      return row_to_record(q);
    });
  }

  Result<std::vector<ExportRecord>> expired_exports(Millis now, Millis stale_before,
                                                    int limit) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<ExportRecord>> {
      std::vector<ExportRecord> out;
      auto q = c.prepare(std::string("SELECT ") + kExportColumns +
                         " FROM governance_exports WHERE (expires_at > 0 AND expires_at < ?)"
                         " OR (status = 0 AND created_at < ?) ORDER BY created_at LIMIT ?");
      q.bind(1, now).bind(2, stale_before).bind(3, limit);
      while (q.step()) out.push_back(row_to_record(q));
      return out;
    });
  }

  Result<void> remove_export(const std::string& id) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare("DELETE FROM governance_exports WHERE id = ?").bind(1, id).exec();
      return ok();
    });
  }

  Result<RollupProgress> roll_up(Millis horizon, int limit) override {
    return db_.write_value([&](Connection& c) -> Result<RollupProgress> {
      RollupProgress p;
      auto mark = [&](const char* name) {
        auto q = c.prepare("SELECT at, id FROM governance_watermarks WHERE name = ?");
        q.bind(1, name);
        if (!q.step()) return std::pair<Millis, std::string>{-1, ""};
        return std::pair<Millis, std::string>{q.integer(0), q.text(1)};
      };
      auto set_mark = [&](const char* name, Millis at, const std::string& id) {
        c.prepare("INSERT INTO governance_watermarks (name, at, id) VALUES (?, ?, ?)"
                  " ON CONFLICT (name) DO UPDATE SET at = excluded.at, id = excluded.id")
            .bind(1, name)
            .bind(2, at)
            .bind(3, id)
            .exec();
      };
      auto [m_at, m_id] = mark("messages");
      // The text is read for call messages only, to take their duration.
      auto q = c.prepare(
          "SELECT m.created_at, m.id, m.conversation_id, m.sender_id, coalesce(c.type, 1),"
          " m.client_msg_id, CASE WHEN m.client_msg_id LIKE 'call-%' THEN m.text ELSE '' END"
          " FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id"
          " WHERE (m.created_at, m.id) > (?, ?) AND m.created_at < ?"
          " ORDER BY m.created_at, m.id LIMIT ?");
      q.bind(1, m_at).bind(2, m_id).bind(3, horizon).bind(4, limit);
      while (q.step()) {
        const Millis at = q.integer(0);
        const std::string day = utc_date(at), conv = q.text(2), sender = q.text(3);
        const std::int64_t type = q.integer(4);
        const std::string client_msg_id = q.text(5);
        const auto call = call_seconds(client_msg_id, q.text(6));
        c.prepare("INSERT INTO analytics_days (day, messages, dm_messages, group_messages,"
                  " channel_messages, calls, call_seconds) VALUES (?, 1, ?, ?, ?, ?, ?)"
                  " ON CONFLICT (day) DO UPDATE SET messages = messages + 1,"
                  " dm_messages = dm_messages + excluded.dm_messages,"
                  " group_messages = group_messages + excluded.group_messages,"
                  " channel_messages = channel_messages + excluded.channel_messages,"
                  " calls = calls + excluded.calls,"
                  " call_seconds = call_seconds + excluded.call_seconds")
            .bind(1, day)
            .bind(2, std::int64_t{type == 0})
            .bind(3, std::int64_t{type != 0 && type != 2})
            .bind(4, std::int64_t{type == 2})
            .bind(5, std::int64_t{call.has_value()})
            .bind(6, call.value_or(0))
            .exec();
        if (type == 0 && !messaging::is_server_post(client_msg_id)) {
          std::optional<DmTurn> turn;
          auto t = c.prepare("SELECT sender_id, turn_at FROM analytics_dm_turns"
                             " WHERE conversation_id = ?");
          t.bind(1, conv);
          if (t.step()) turn = DmTurn{t.text(0), t.integer(1)};
          if (auto took = next_turn(turn, sender, at)) {
            c.prepare("INSERT INTO analytics_dm_response_days (day, bucket, n) VALUES (?, ?, 1)"
                      " ON CONFLICT (day, bucket) DO UPDATE SET n = n + 1")
                .bind(1, day)
                .bind(2, std::int64_t{response_bucket(*took)})
                .exec();
          }
          c.prepare("INSERT INTO analytics_dm_turns (conversation_id, sender_id, turn_at)"
                    " VALUES (?, ?, ?) ON CONFLICT (conversation_id) DO UPDATE"
                    " SET sender_id = excluded.sender_id, turn_at = excluded.turn_at")
              .bind(1, conv)
              .bind(2, turn->sender_id)
              .bind(3, turn->turn_at)
              .exec();
        }
        c.prepare("INSERT OR IGNORE INTO analytics_user_days (day, user_id) VALUES (?, ?)")
            .bind(1, day)
            .bind(2, sender)
            .exec();
        c.prepare("INSERT INTO analytics_channel_days (day, conversation_id, messages)"
                  " VALUES (?, ?, 1) ON CONFLICT (day, conversation_id)"
                  " DO UPDATE SET messages = messages + 1")
            .bind(1, day)
            .bind(2, conv)
            .exec();
        c.prepare("INSERT OR IGNORE INTO analytics_channel_user_days"
                  " (day, conversation_id, user_id) VALUES (?, ?, ?)")
            .bind(1, day)
            .bind(2, conv)
            .bind(3, sender)
            .exec();
        m_at = at;
        m_id = q.text(1);
        ++p.messages;
      }
      if (p.messages > 0) set_mark("messages", m_at, m_id);
      // Rows of a table created after its watermark: each adds one to a column of its day.
      auto count_new = [&](const char* table, const char* column) {
        auto [at, id] = mark(table);
        auto rows = c.prepare(std::string("SELECT created_at, id FROM ") + table +
                              " WHERE (created_at, id) > (?, ?) AND created_at < ?"
                              " ORDER BY created_at, id LIMIT ?");
        rows.bind(1, at).bind(2, id).bind(3, horizon).bind(4, limit);
        std::int64_t n = 0;
        while (rows.step()) {
          at = rows.integer(0);
          id = rows.text(1);
          c.prepare(std::string("INSERT INTO analytics_days (day, ") + column +
                    ") VALUES (?, 1) ON CONFLICT (day) DO UPDATE SET " + column + " = " +
                    column + " + 1")
              .bind(1, utc_date(at))
              .exec();
          ++n;
        }
        if (n > 0) set_mark(table, at, id);
        return n;
      };
      p.users = count_new("users", "new_users");
      p.files = count_new("files", "files");
      p.more = p.messages >= limit || p.users >= limit || p.files >= limit;
      return p;
    });
  }

  Result<void> prune_rollups(const std::string& before) override {
    return db_.write([&](Connection& c) -> Result<void> {
      for (const char* t : {"analytics_days", "analytics_user_days", "analytics_channel_days",
                            "analytics_channel_user_days", "analytics_dm_response_days"})
        c.prepare(std::string("DELETE FROM ") + t + " WHERE day < ?").bind(1, before).exec();
      // A DM quiet since before the kept days: its next message starts a turn either way.
      if (auto d = parse_date(before))
        c.prepare("DELETE FROM analytics_dm_turns WHERE turn_at < ?")
            .bind(1, *d * kDayMs - kMaxFirstResponseMs)
            .exec();
      return ok();
    });
  }

  Result<std::vector<DayCount>> days(const std::string& from, const std::string& to) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<DayCount>> {
      std::vector<DayCount> out;
      auto q = c.prepare(
          "SELECT d.day, (SELECT count(*) FROM analytics_user_days u WHERE u.day = d.day),"
          " d.messages, d.new_users, d.dm_messages, d.group_messages, d.channel_messages,"
          " d.calls, d.call_seconds, d.files FROM analytics_days d WHERE d.day BETWEEN ? AND ?"
          " ORDER BY d.day");
      q.bind(1, from).bind(2, to);
      while (q.step()) {
        DayCount d;
        d.date = q.text(0);
        d.active_users = q.integer(1);
        d.messages = q.integer(2);
        d.new_users = q.integer(3);
        d.dm_messages = q.integer(4);
        d.group_messages = q.integer(5);
        d.channel_messages = q.integer(6);
        d.calls = q.integer(7);
        d.call_seconds = q.integer(8);
        d.files = q.integer(9);
        out.push_back(std::move(d));
      }
      return out;
    });
  }

  Result<std::vector<ResponseBucket>> response_buckets(const std::string& from,
                                                       const std::string& to) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<ResponseBucket>> {
      std::vector<ResponseBucket> out;
      auto q = c.prepare(
          "SELECT day, bucket, n FROM analytics_dm_response_days WHERE day BETWEEN ? AND ?"
          " ORDER BY day, bucket");
      q.bind(1, from).bind(2, to);
      while (q.step())
        out.push_back({q.text(0), static_cast<int>(q.integer(1)), q.integer(2)});
      return out;
    });
  }

  Result<std::int64_t> active_users(const std::string& from, const std::string& to) override {
    return db_.read_value([&](Connection& c) -> Result<std::int64_t> {
      auto q = c.prepare(
          "SELECT count(DISTINCT user_id) FROM analytics_user_days WHERE day BETWEEN ? AND ?");
      q.bind(1, from).bind(2, to);
      q.step();
      return q.integer(0);
    });
  }

  Result<std::vector<ChannelCount>> channels(const std::string& from, const std::string& to,
                                             int limit) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<ChannelCount>> {
      std::vector<ChannelCount> out;
      auto q = c.prepare(
          "SELECT d.conversation_id, c.name, sum(d.messages),"
          " (SELECT count(DISTINCT u.user_id) FROM analytics_channel_user_days u"
          "  WHERE u.conversation_id = d.conversation_id AND u.day BETWEEN ?1 AND ?2)"
          " FROM analytics_channel_days d JOIN conversations c ON c.id = d.conversation_id"
          " WHERE d.day BETWEEN ?1 AND ?2 AND c.type = 2"
          " GROUP BY d.conversation_id, c.name ORDER BY sum(d.messages) DESC, d.conversation_id"
          " LIMIT ?3");
      q.bind(1, from).bind(2, to).bind(3, limit);
      while (q.step()) out.push_back({q.text(0), q.text(1), q.integer(2), q.integer(3)});
      return out;
    });
  }

 private:
  Result<void> put_export(const ExportRecord& r, bool replace) {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare(std::string(replace ? "REPLACE" : "INSERT") + " INTO governance_exports (" +
                kExportColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
          .bind(1, r.id)
          .bind(2, r.requested_by)
          .bind(3, r.kind)
          .bind(4, r.target)
          .bind(5, static_cast<int>(r.status))
          .bind(6, r.blob_key)
          .bind(7, r.size)
          .bind(8, r.error)
          .bind(9, r.created_at)
          .bind(10, r.finished_at)
          .bind(11, r.expires_at)
          .exec();
      return ok();
    });
  }

  Database& db_;
};

}  // namespace

Result<std::unique_ptr<governance::GovernanceStore>> make_governance_store(Database& db) {
  if (auto m = db.migrate("governance", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<governance::GovernanceStore>(new SqliteGovernanceStore(db));
}

}  // namespace parley::sqlite
