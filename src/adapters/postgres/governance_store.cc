// PostgreSQL GovernanceStore: the SQLite one's semantics (adapters/sqlite/governance_store.cc)
// on the shared database. Each expiry batch is one transaction that deletes by primary key the
// rows it selected, so sends (other rows) do not wait on it beyond their own row locks. The
// rollups aggregate a batch in memory and write one upsert per day, channel and user-day.
#include <map>
#include <set>
#include <string>

#include "adapters/postgres/stores.h"
#include "modules/messaging/store.h"

namespace parley::postgres {
namespace {

using namespace governance;

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE INDEX governance_messages_created ON messages (created_at, id);"
     "CREATE INDEX governance_messages_conv_created ON messages (conversation_id, created_at);"
     "CREATE INDEX governance_messages_sender ON messages (sender_id, pk);"
     "CREATE INDEX governance_users_created ON users (created_at, id);"
     "CREATE INDEX governance_file_posts_conv ON file_posts (conversation_id, file_id);"
     "CREATE TABLE governance_settings (key TEXT COLLATE \"C\" PRIMARY KEY, value BIGINT);"
     "CREATE TABLE governance_retention ("
     "  conversation_id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  days INTEGER NOT NULL);"
     "CREATE TABLE governance_exports ("
     "  id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  requested_by TEXT COLLATE \"C\" NOT NULL,"
     "  kind TEXT NOT NULL,"
     "  target TEXT COLLATE \"C\" NOT NULL,"
     "  status SMALLINT NOT NULL,"
     "  blob_key TEXT NOT NULL,"
     "  size BIGINT NOT NULL,"
     "  error TEXT NOT NULL,"
     "  created_at BIGINT NOT NULL,"
     "  finished_at BIGINT NOT NULL,"
     "  expires_at BIGINT NOT NULL);"
     "CREATE TABLE governance_watermarks ("
     "  name TEXT COLLATE \"C\" PRIMARY KEY,"
     "  at BIGINT NOT NULL,"
     "  id TEXT COLLATE \"C\" NOT NULL);"
     "CREATE TABLE analytics_days ("
     "  day TEXT COLLATE \"C\" PRIMARY KEY,"
     "  messages BIGINT NOT NULL DEFAULT 0,"
     "  new_users BIGINT NOT NULL DEFAULT 0);"
     "CREATE TABLE analytics_user_days ("
     "  day TEXT COLLATE \"C\" NOT NULL,"
     "  user_id TEXT COLLATE \"C\" NOT NULL,"
     "  PRIMARY KEY (day, user_id));"
     "CREATE TABLE analytics_channel_days ("
     "  day TEXT COLLATE \"C\" NOT NULL,"
     "  conversation_id TEXT COLLATE \"C\" NOT NULL,"
     "  messages BIGINT NOT NULL DEFAULT 0,"
     "  PRIMARY KEY (day, conversation_id));"
     "CREATE TABLE analytics_channel_user_days ("
     "  day TEXT COLLATE \"C\" NOT NULL,"
     "  conversation_id TEXT COLLATE \"C\" NOT NULL,"
     "  user_id TEXT COLLATE \"C\" NOT NULL,"
     "  PRIMARY KEY (day, conversation_id, user_id));"},
    // Messages by conversation type, calls, files and DM first responses (decisions §47).
    {2,
     "ALTER TABLE analytics_days ADD COLUMN dm_messages BIGINT NOT NULL DEFAULT 0,"
     "  ADD COLUMN group_messages BIGINT NOT NULL DEFAULT 0,"
     "  ADD COLUMN channel_messages BIGINT NOT NULL DEFAULT 0,"
     "  ADD COLUMN calls BIGINT NOT NULL DEFAULT 0,"
     "  ADD COLUMN call_seconds BIGINT NOT NULL DEFAULT 0,"
     "  ADD COLUMN files BIGINT NOT NULL DEFAULT 0;"
     "CREATE TABLE analytics_dm_turns ("
     "  conversation_id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  sender_id TEXT COLLATE \"C\" NOT NULL,"
     "  turn_at BIGINT NOT NULL);"
     "CREATE TABLE analytics_dm_response_days ("
     "  day TEXT COLLATE \"C\" NOT NULL,"
     "  bucket INTEGER NOT NULL,"
     "  n BIGINT NOT NULL DEFAULT 0,"
     "  PRIMARY KEY (day, bucket));"
     "CREATE INDEX governance_files_created ON files (created_at, id);"},
};

constexpr const char* kTypeNames[] = {"dm", "group", "channel"};
const char* type_name(std::int64_t t) { return t >= 0 && t <= 2 ? kTypeNames[t] : "group"; }

constexpr const char* kLabel =
    "CASE WHEN c.name <> '' THEN c.name ELSE coalesce((SELECT string_agg(u.username, ', '"
    " ORDER BY u.username) FROM members mb JOIN users u ON u.id = mb.user_id"
    " WHERE mb.conversation_id = c.id), '') END";

ExportMessage row_to_export(const Rows& r, int i) {
  ExportMessage m;
  m.cursor = r.integer(i, 0);
  m.id = r.text(i, 1);
  m.conversation_id = r.text(i, 2);
  m.seq = r.integer(i, 3);
  m.sender_id = r.text(i, 4);
  m.text = r.text(i, 5);
  if (!r.is_null(i, 6)) m.thread_root_id = r.text(i, 6);
  for (const auto& a : messaging::decode_attachments(r.text(i, 7)))
    m.attachment_ids.push_back(a.id);
  m.created_at = r.integer(i, 8);
  if (!r.is_null(i, 9)) m.edited_at = r.integer(i, 9);
  m.conversation_name = r.text(i, 10);
  m.conversation_type = type_name(r.integer(i, 11));
  m.sender_username = r.text(i, 12);
  return m;
}

ExportRecord row_to_record(const Rows& q, int i) {
  ExportRecord r;
  r.id = q.text(i, 0);
  r.requested_by = q.text(i, 1);
  r.kind = q.text(i, 2);
  r.target = q.text(i, 3);
  r.status = static_cast<ExportStatus>(q.integer(i, 4));
  r.blob_key = q.text(i, 5);
  r.size = q.integer(i, 6);
  r.error = q.text(i, 7);
  r.created_at = q.integer(i, 8);
  r.finished_at = q.integer(i, 9);
  r.expires_at = q.integer(i, 10);
  return r;
}
constexpr const char* kExportColumns =
    "id, requested_by, kind, target, status, blob_key, size, error, created_at, finished_at,"
    " expires_at";

std::vector<ExportFile> files_of(const Rows& q) {
  std::vector<ExportFile> out;
  for (int i = 0; i < q.size(); ++i)
    out.push_back({q.text(i, 0), q.text(i, 1), q.text(i, 2), q.integer(i, 3), q.text(i, 4),
                   q.text(i, 5), q.integer(i, 6)});
  return out;
}
constexpr const char* kFileColumns =
    "f.id, f.owner_id, f.name, f.size, f.content_type, f.blob_key, f.created_at";

void release_files(Connection& c, const std::set<std::string>& candidates, ExpiryBatch& out) {
  for (const auto& id : candidates) {
    const std::string pattern = "%" + id + "%";
    if (!c.exec("SELECT 1 FROM file_posts p JOIN messages m ON m.conversation_id = p.conversation_id"
                " WHERE p.file_id = $1 AND (m.attachments LIKE $2 OR m.previews LIKE $2) LIMIT 1",
                {id, pattern})
             .empty())
      continue;
    if (!c.exec("SELECT 1 FROM users WHERE avatar_file_id = $1 LIMIT 1", {id}).empty()) continue;
    auto f = c.exec("DELETE FROM files WHERE id = $1 RETURNING blob_key, thumbnail_key,"
                    " upload_sha256",
                    {id});
    if (f.empty()) continue;
    const std::string blob = f.text(0, 0), thumb = f.text(0, 1), hash = f.text(0, 2);
    c.exec("DELETE FROM file_posts WHERE file_id = $1", {id});
    out.file_ids.push_back(id);
    if (!c.exec("SELECT 1 FROM files WHERE upload_sha256 = $1 AND blob_key = $2 LIMIT 1",
                {hash, blob})
             .empty())
      continue;
    out.blob_keys.push_back(blob);
    if (!thumb.empty()) out.blob_keys.push_back(thumb);
  }
}

class PostgresGovernanceStore final : public GovernanceStore {
 public:
  explicit PostgresGovernanceStore(Pool& pool) : pool_(pool) {}

  Result<std::optional<int>> global_retention_days() override {
    return pool_.run_value([&](Connection& c) -> Result<std::optional<int>> {
      auto q = c.exec("SELECT value FROM governance_settings WHERE key = 'retention_days'");
      if (q.empty() || q.is_null(0, 0)) return std::optional<int>();
      return std::optional<int>(static_cast<int>(q.integer(0, 0)));
    });
  }

  Result<void> set_global_retention_days(std::optional<int> days) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      if (days)
        c.exec("INSERT INTO governance_settings (key, value) VALUES ('retention_days', $1)"
               " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
               {*days});
      else
        c.exec("DELETE FROM governance_settings WHERE key = 'retention_days'");
      return ok();
    });
  }

  Result<std::optional<int>> conversation_retention_days(const std::string& id) override {
    return pool_.run_value([&](Connection& c) -> Result<std::optional<int>> {
      auto q = c.exec("SELECT days FROM governance_retention WHERE conversation_id = $1", {id});
      if (q.empty()) return std::optional<int>();
      return std::optional<int>(static_cast<int>(q.integer(0, 0)));
    });
  }

  Result<void> set_conversation_retention_days(const std::string& id,
                                               std::optional<int> days) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      if (days)
        c.exec("INSERT INTO governance_retention (conversation_id, days) VALUES ($1, $2)"
               " ON CONFLICT (conversation_id) DO UPDATE SET days = excluded.days",
               {id, *days});
      else
        c.exec("DELETE FROM governance_retention WHERE conversation_id = $1", {id});
      return ok();
    });
  }

  Result<std::vector<ConversationPolicy>> conversation_policies() override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<ConversationPolicy>> {
      std::vector<ConversationPolicy> out;
      auto q = c.exec(
          "SELECT conversation_id, days FROM governance_retention ORDER BY conversation_id");
      for (int i = 0; i < q.size(); ++i)
        out.push_back({q.text(i, 0), static_cast<int>(q.integer(i, 1))});
      return out;
    });
  }

  Result<ExpiryBatch> expire_messages(const std::optional<std::string>& conversation_id,
                                      Millis before, int limit) override {
    return pool_.transaction_value([&](Connection& c) -> Result<ExpiryBatch> {
      ExpiryBatch out;
      // Deleted in one statement each, returning what the follow-ups need; SKIP LOCKED leaves
      // a row another transaction holds (an edit, a reaction) to the next batch.
      auto gone = conversation_id
                      ? c.exec("DELETE FROM messages WHERE pk IN (SELECT pk FROM messages"
                               " WHERE conversation_id = $1 AND created_at < $2"
                               " ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED)"
                               " RETURNING pk, id, conversation_id, seq, thread_root_id,"
                               " coalesce(attachments, '')",
                               {*conversation_id, before, limit})
                      : c.exec("DELETE FROM messages WHERE pk IN (SELECT pk FROM messages"
                               " WHERE created_at < $1 ORDER BY created_at LIMIT $2"
                               " FOR UPDATE SKIP LOCKED)"
                               " RETURNING pk, id, conversation_id, seq, thread_root_id,"
                               " coalesce(attachments, '')",
                               {before, limit});
      std::vector<std::int64_t> pks;
      std::set<std::string> files;
      for (int i = 0; i < gone.size(); ++i) {
        const std::string id = gone.text(i, 1), conv = gone.text(i, 2);
        pks.push_back(gone.integer(i, 0));
        c.exec("DELETE FROM pins WHERE conversation_id = $1 AND message_id = $2", {conv, id});
        c.exec("DELETE FROM saved_messages WHERE message_id = $1", {id});
        c.exec("DELETE FROM message_mentions WHERE conversation_id = $1 AND seq = $2",
               {conv, gone.integer(i, 3)});
        if (!gone.is_null(i, 4))
          c.exec("UPDATE messages SET reply_count = reply_count - 1"
                 " WHERE id = $1 AND reply_count > 0",
                 {gone.text(i, 4)});
        for (const auto& a : messaging::decode_attachments(gone.text(i, 5))) files.insert(a.id);
        out.messages.push_back({id, conv});
      }
      if (!pks.empty())
        c.exec("DELETE FROM reactions WHERE message_pk = ANY($1::bigint[])",
               {Param::int_array(pks)});
      release_files(c, files, out);
      return out;
    });
  }

  Result<ExpiryBatch> expire_files(Millis before, int limit) override {
    return pool_.transaction_value([&](Connection& c) -> Result<ExpiryBatch> {
      ExpiryBatch out;
      std::set<std::string> ids;
      auto q = c.exec(
          "SELECT f.id FROM files f WHERE f.created_at < $1"
          " AND NOT EXISTS (SELECT 1 FROM file_posts p WHERE p.file_id = f.id)"
          " AND NOT EXISTS (SELECT 1 FROM users u WHERE u.avatar_file_id = f.id)"
          " ORDER BY f.created_at LIMIT $2",
          {before, limit});
      for (int i = 0; i < q.size(); ++i) ids.insert(q.text(i, 0));
      release_files(c, ids, out);
      return out;
    });
  }

  Result<std::vector<ExportMessage>> messages_sent_by(const std::string& user_id,
                                                      std::int64_t after, int limit) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<ExportMessage>> {
      auto q = c.exec(
          "SELECT m.pk, m.id, m.conversation_id, m.seq, m.sender_id, m.text, m.thread_root_id,"
          " coalesce(m.attachments, ''), m.created_at, m.edited_at, " +
              std::string(kLabel) +
              ", c.type, '' FROM messages m JOIN conversations c ON c.id = m.conversation_id"
              " WHERE m.sender_id = $1 AND m.pk > $2 AND NOT m.deleted ORDER BY m.pk LIMIT $3",
          {user_id, after, limit});
      std::vector<ExportMessage> out;
      for (int i = 0; i < q.size(); ++i) out.push_back(row_to_export(q, i));
      return out;
    });
  }

  Result<std::vector<ExportMessage>> messages_in(const std::string& conversation_id,
                                                 std::int64_t after, int limit) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<ExportMessage>> {
      auto q = c.exec(
          "SELECT m.seq, m.id, m.conversation_id, m.seq, m.sender_id, m.text, m.thread_root_id,"
          " coalesce(m.attachments, ''), m.created_at, m.edited_at, " +
              std::string(kLabel) +
              ", c.type, coalesce((SELECT username FROM users WHERE id = m.sender_id), '')"
              " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
              " WHERE m.conversation_id = $1 AND m.seq > $2 AND NOT m.deleted"
              " ORDER BY m.seq LIMIT $3",
          {conversation_id, after, limit});
      std::vector<ExportMessage> out;
      for (int i = 0; i < q.size(); ++i) out.push_back(row_to_export(q, i));
      return out;
    });
  }

  Result<ConversationLabel> conversation_label(const std::string& id) override {
    return pool_.run_value([&](Connection& c) -> Result<ConversationLabel> {
      auto q = c.exec("SELECT c.id, " + std::string(kLabel) +
                          ", c.type FROM conversations c WHERE c.id = $1",
                      {id});
      if (q.empty()) return fail(Errc::not_found, "conversation not found");
      return ConversationLabel{q.text(0, 0), q.text(0, 1), type_name(q.integer(0, 2))};
    });
  }

  Result<std::vector<ExportFile>> files_owned_by(const std::string& user_id,
                                                 const std::string& after_id,
                                                 int limit) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<ExportFile>> {
      return files_of(c.exec(std::string("SELECT ") + kFileColumns +
                                 " FROM files f WHERE f.owner_id = $1 AND f.id > $2"
                                 " AND f.status = 0 ORDER BY f.id LIMIT $3",
                             {user_id, after_id, limit}));
    });
  }

  Result<std::vector<ExportFile>> files_posted_in(const std::string& conversation_id,
                                                  const std::string& after_id,
                                                  int limit) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<ExportFile>> {
      return files_of(c.exec(std::string("SELECT ") + kFileColumns +
                                 " FROM file_posts p JOIN files f ON f.id = p.file_id"
                                 " WHERE p.conversation_id = $1 AND p.file_id > $2"
                                 " AND f.status = 0 ORDER BY p.file_id LIMIT $3",
                             {conversation_id, after_id, limit}));
    });
  }

  Result<void> create_export(const ExportRecord& r) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec(std::string("INSERT INTO governance_exports (") + kExportColumns +
                 ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
             params(r));
      return ok();
    });
  }

  Result<void> update_export(const ExportRecord& r) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec("UPDATE governance_exports SET requested_by = $2, kind = $3, target = $4,"
             " status = $5, blob_key = $6, size = $7, error = $8, created_at = $9,"
             " finished_at = $10, expires_at = $11 WHERE id = $1",
             params(r));
      return ok();
    });
  }

  Result<ExportRecord> get_export(const std::string& id) override {
    return pool_.run_value([&](Connection& c) -> Result<ExportRecord> {
      auto q = c.exec(std::string("SELECT ") + kExportColumns +
                          " FROM governance_exports WHERE id = $1",
                      {id});
      if (q.empty()) return fail(Errc::not_found, "export not found");
      return row_to_record(q, 0);
    });
  }

  Result<std::vector<ExportRecord>> expired_exports(Millis now, Millis stale_before,
                                                    int limit) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<ExportRecord>> {
      auto q = c.exec(std::string("SELECT ") + kExportColumns +
                          " FROM governance_exports WHERE (expires_at > 0 AND expires_at < $1)"
                          " OR (status = 0 AND created_at < $2) ORDER BY created_at LIMIT $3",
                      {now, stale_before, limit});
      std::vector<ExportRecord> out;
      for (int i = 0; i < q.size(); ++i) out.push_back(row_to_record(q, i));
      return out;
    });
  }

  Result<void> remove_export(const std::string& id) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      c.exec("DELETE FROM governance_exports WHERE id = $1", {id});
      return ok();
    });
  }

  Result<RollupProgress> roll_up(Millis horizon, int limit) override {
    return pool_.transaction_value([&](Connection& c) -> Result<RollupProgress> {
      RollupProgress p;
      // One roll-up at a time across nodes: the watermark rows are the lock.
      c.exec("INSERT INTO governance_watermarks (name, at, id) VALUES ('messages', -1, ''),"
             " ('users', -1, ''), ('files', -1, '') ON CONFLICT (name) DO NOTHING");
      auto marks = c.exec(
          "SELECT name, at, id FROM governance_watermarks"
          " WHERE name IN ('files', 'messages', 'users') ORDER BY name FOR UPDATE");
      std::map<std::string, std::pair<Millis, std::string>> mark;
      for (int i = 0; i < marks.size(); ++i)
        mark[marks.text(i, 0)] = {marks.integer(i, 1), marks.text(i, 2)};
      auto [m_at, m_id] = mark["messages"];
      auto [u_at, u_id] = mark["users"];
      auto [f_at, f_id] = mark["files"];
      // The text is read for call messages only, to take their duration.
      auto q = c.exec(
          "SELECT m.created_at, m.id, m.conversation_id, m.sender_id, coalesce(c.type, 1),"
          " m.client_msg_id, CASE WHEN m.client_msg_id LIKE 'call-%' THEN m.text ELSE '' END"
          " FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id"
          " WHERE (m.created_at, m.id) > ($1, $2) AND m.created_at < $3"
          " ORDER BY m.created_at, m.id LIMIT $4",
          {m_at, m_id, horizon, limit});
      struct Day {
        std::int64_t messages = 0, dm = 0, group = 0, channel = 0, calls = 0, call_seconds = 0,
                     files = 0, new_users = 0;
      };
      std::map<std::string, Day> per_day;
      std::map<std::pair<std::string, std::string>, std::int64_t> per_channel;
      std::set<std::pair<std::string, std::string>> user_days;
      std::set<std::tuple<std::string, std::string, std::string>> channel_user_days;
      std::map<std::string, std::optional<DmTurn>> turns;  // DMs of this batch
      std::map<std::pair<std::string, int>, std::int64_t> responses;
      for (int i = 0; i < q.size(); ++i) {
        m_at = q.integer(i, 0);
        m_id = q.text(i, 1);
        const std::string day = utc_date(m_at), conv = q.text(i, 2), sender = q.text(i, 3);
        const std::int64_t type = q.integer(i, 4);
        const std::string client_msg_id = q.text(i, 5);
        auto& d = per_day[day];
        ++d.messages;
        (type == 0 ? d.dm : type == 2 ? d.channel : d.group) += 1;
        if (auto call = call_seconds(client_msg_id, q.text(i, 6))) {
          ++d.calls;
          d.call_seconds += *call;
        }
        if (type == 0 && !messaging::is_server_post(client_msg_id)) {
          auto it = turns.find(conv);
          if (it == turns.end()) {
            std::optional<DmTurn> turn;
            auto t = c.exec(
                "SELECT sender_id, turn_at FROM analytics_dm_turns WHERE conversation_id = $1",
                {conv});
            if (t.size() > 0) turn = DmTurn{t.text(0, 0), t.integer(0, 1)};
            it = turns.emplace(conv, std::move(turn)).first;
          }
          if (auto took = next_turn(it->second, sender, m_at))
            ++responses[{day, response_bucket(*took)}];
        }
        ++per_channel[{day, conv}];
        user_days.insert({day, sender});
        channel_user_days.insert({day, conv, sender});
        ++p.messages;
      }
      // Rows of a table created after its watermark, counted per day into a field of Day.
      auto count_new = [&](const char* table, Millis& at, std::string& id,
                           std::int64_t Day::*field) {
        auto rows = c.exec(std::string("SELECT created_at, id FROM ") + table +
                               " WHERE (created_at, id) > ($1, $2) AND created_at < $3"
                               " ORDER BY created_at, id LIMIT $4",
                           {at, id, horizon, limit});
        for (int i = 0; i < rows.size(); ++i) {
          at = rows.integer(i, 0);
          id = rows.text(i, 1);
          ++(per_day[utc_date(at)].*field);
        }
        return static_cast<std::int64_t>(rows.size());
      };
      p.users = count_new("users", u_at, u_id, &Day::new_users);
      p.files = count_new("files", f_at, f_id, &Day::files);
      for (const auto& [day, d] : per_day)
        c.exec("INSERT INTO analytics_days (day, messages, dm_messages, group_messages,"
               " channel_messages, calls, call_seconds, files, new_users)"
               " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (day) DO UPDATE SET"
               " messages = analytics_days.messages + excluded.messages,"
               " dm_messages = analytics_days.dm_messages + excluded.dm_messages,"
               " group_messages = analytics_days.group_messages + excluded.group_messages,"
               " channel_messages = analytics_days.channel_messages + excluded.channel_messages,"
               " calls = analytics_days.calls + excluded.calls,"
               " call_seconds = analytics_days.call_seconds + excluded.call_seconds,"
               " files = analytics_days.files + excluded.files,"
               " new_users = analytics_days.new_users + excluded.new_users",
               {day, d.messages, d.dm, d.group, d.channel, d.calls, d.call_seconds, d.files,
                d.new_users});
      for (const auto& [key, n] : per_channel)
        c.exec("INSERT INTO analytics_channel_days (day, conversation_id, messages)"
               " VALUES ($1, $2, $3) ON CONFLICT (day, conversation_id) DO UPDATE"
               " SET messages = analytics_channel_days.messages + excluded.messages",
               {key.first, key.second, n});
      for (const auto& [day, user] : user_days)
        c.exec("INSERT INTO analytics_user_days (day, user_id) VALUES ($1, $2)"
               " ON CONFLICT DO NOTHING",
               {day, user});
      for (const auto& [day, conv, user] : channel_user_days)
        c.exec("INSERT INTO analytics_channel_user_days (day, conversation_id, user_id)"
               " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
               {day, conv, user});
      for (const auto& [conv, turn] : turns)
        if (turn)
          c.exec("INSERT INTO analytics_dm_turns (conversation_id, sender_id, turn_at)"
                 " VALUES ($1, $2, $3) ON CONFLICT (conversation_id) DO UPDATE"
                 " SET sender_id = excluded.sender_id, turn_at = excluded.turn_at",
                 {conv, turn->sender_id, turn->turn_at});
      for (const auto& [key, n] : responses)
        c.exec("INSERT INTO analytics_dm_response_days (day, bucket, n) VALUES ($1, $2, $3)"
               " ON CONFLICT (day, bucket) DO UPDATE"
               " SET n = analytics_dm_response_days.n + excluded.n",
               {key.first, std::int64_t{key.second}, n});
      if (p.messages > 0)
        c.exec("UPDATE governance_watermarks SET at = $1, id = $2 WHERE name = 'messages'",
               {m_at, m_id});
      if (p.users > 0)
        c.exec("UPDATE governance_watermarks SET at = $1, id = $2 WHERE name = 'users'",
               {u_at, u_id});
      if (p.files > 0)
        c.exec("UPDATE governance_watermarks SET at = $1, id = $2 WHERE name = 'files'",
               {f_at, f_id});
      p.more = p.messages >= limit || p.users >= limit || p.files >= limit;
      return p;
    });
  }

  Result<void> prune_rollups(const std::string& before) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      for (const char* t : {"analytics_days", "analytics_user_days", "analytics_channel_days",
                            "analytics_channel_user_days", "analytics_dm_response_days"})
        c.exec(std::string("DELETE FROM ") + t + " WHERE day < $1", {before});
      // A DM quiet since before the kept days: its next message starts a turn either way.
      if (auto d = parse_date(before))
        c.exec("DELETE FROM analytics_dm_turns WHERE turn_at < $1",
               {*d * kDayMs - kMaxFirstResponseMs});
      return ok();
    });
  }

  Result<std::vector<DayCount>> days(const std::string& from, const std::string& to) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<DayCount>> {
      auto q = c.exec(
          "SELECT d.day, (SELECT count(*) FROM analytics_user_days u WHERE u.day = d.day),"
          " d.messages, d.new_users, d.dm_messages, d.group_messages, d.channel_messages,"
          " d.calls, d.call_seconds, d.files FROM analytics_days d"
          " WHERE d.day BETWEEN $1 AND $2 ORDER BY d.day",
          {from, to});
      std::vector<DayCount> out;
      for (int i = 0; i < q.size(); ++i) {
        DayCount d;
        d.date = q.text(i, 0);
        d.active_users = q.integer(i, 1);
        d.messages = q.integer(i, 2);
        d.new_users = q.integer(i, 3);
        d.dm_messages = q.integer(i, 4);
        d.group_messages = q.integer(i, 5);
        d.channel_messages = q.integer(i, 6);
        d.calls = q.integer(i, 7);
        d.call_seconds = q.integer(i, 8);
        d.files = q.integer(i, 9);
        out.push_back(std::move(d));
      }
      return out;
    });
  }

  Result<std::vector<ResponseBucket>> response_buckets(const std::string& from,
                                                       const std::string& to) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<ResponseBucket>> {
      auto q = c.exec(
          "SELECT day, bucket, n FROM analytics_dm_response_days WHERE day BETWEEN $1 AND $2"
          " ORDER BY day, bucket",
          {from, to});
      std::vector<ResponseBucket> out;
      for (int i = 0; i < q.size(); ++i)
        out.push_back({q.text(i, 0), static_cast<int>(q.integer(i, 1)), q.integer(i, 2)});
      return out;
    });
  }

  Result<std::int64_t> active_users(const std::string& from, const std::string& to) override {
    return pool_.run_value([&](Connection& c) -> Result<std::int64_t> {
      auto q = c.exec(
          "SELECT count(DISTINCT user_id) FROM analytics_user_days WHERE day BETWEEN $1 AND $2",
          {from, to});
      return q.integer(0, 0);
    });
  }

  Result<std::vector<ChannelCount>> channels(const std::string& from, const std::string& to,
                                             int limit) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<ChannelCount>> {
      auto q = c.exec(
          "SELECT d.conversation_id, c.name, sum(d.messages)::bigint,"
          " (SELECT count(DISTINCT u.user_id) FROM analytics_channel_user_days u"
          "  WHERE u.conversation_id = d.conversation_id AND u.day BETWEEN $1 AND $2)"
          " FROM analytics_channel_days d JOIN conversations c ON c.id = d.conversation_id"
          " WHERE d.day BETWEEN $1 AND $2 AND c.type = 2"
          " GROUP BY d.conversation_id, c.name ORDER BY sum(d.messages) DESC, d.conversation_id"
          " LIMIT $3",
          {from, to, limit});
      std::vector<ChannelCount> out;
      for (int i = 0; i < q.size(); ++i)
        out.push_back({q.text(i, 0), q.text(i, 1), q.integer(i, 2), q.integer(i, 3)});
      return out;
    });
  }

 private:
  static std::vector<Param> params(const ExportRecord& r) {
    return {r.id,         r.requested_by, r.kind,         r.target,
            static_cast<int>(r.status), r.blob_key, r.size, r.error,
            r.created_at, r.finished_at,  r.expires_at};
  }

  Pool& pool_;
};

}  // namespace

Result<std::unique_ptr<governance::GovernanceStore>> make_governance_store(Pool& pool) {
  if (auto m = pool.migrate("governance", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<governance::GovernanceStore>(new PostgresGovernanceStore(pool));
}

}  // namespace parley::postgres
