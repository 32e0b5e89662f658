// PostgreSQL MessagingStore. Nodes share the database, so what SQLite gets from its single
// writer thread comes here from row locks inside each transaction:
// - append: `UPDATE conversations SET last_seq = last_seq + 1 ... RETURNING last_seq` locks the
//   conversation's row until COMMIT, so concurrent sends to one conversation, from any node,
//   take seq one after another (a failed send rolls its increment back: no gaps); the message
//   row goes in the same transaction (the same statement) and append returns after the COMMIT.
//   A repeated (conversation, sender, client_msg_id), also one whose first copy committed while
//   this one waited for the lock, meets the unique constraint (ON CONFLICT DO NOTHING); then the
//   transaction rolls back and the original is returned.
// - membership changes lock the conversation's row first, so counts, caps and the owner
//   handover see every concurrent change; reactions lock their message's row; pins of one
//   conversation take a transaction-level advisory lock.
// Locks are always taken conversation first, then message or member, so these never deadlock
// each other.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "job_rows.h"
#include "adapters/postgres/stores.h"
#include "core/commit_metrics.h"
#include "core/found_or.h"
#include "core/text.h"

namespace parley::postgres {
namespace {

using namespace messaging;

// pg_advisory_xact_lock(kPinsLockClass, hashtext(conversation_id)) serialises pin caps.
constexpr int kPinsLockClass = 0x50494E53;  // "PINS"

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE conversations ("
     "  id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  type SMALLINT NOT NULL,"
     "  name TEXT COLLATE \"C\" NOT NULL DEFAULT '',"
     "  topic TEXT NOT NULL DEFAULT '',"
     "  visibility SMALLINT NOT NULL,"
     "  member_count BIGINT NOT NULL DEFAULT 0,"
     "  last_seq BIGINT NOT NULL DEFAULT 0,"
     "  last_message_at BIGINT NOT NULL DEFAULT 0,"
     "  activity BIGINT NOT NULL,"
     "  created_by TEXT COLLATE \"C\" NOT NULL,"
     "  created_at BIGINT NOT NULL,"
     "  dm_key TEXT COLLATE \"C\" UNIQUE,"
     "  channel_name TEXT COLLATE \"C\");"
     "CREATE UNIQUE INDEX conversations_channel_name ON conversations (lower(channel_name));"
     "CREATE INDEX conversations_public_channels ON conversations (lower(name))"
     "  WHERE type = 2 AND visibility = 0;"
     "CREATE TABLE members ("
     "  pos BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
     "  conversation_id TEXT COLLATE \"C\" NOT NULL,"
     "  user_id TEXT COLLATE \"C\" NOT NULL,"
     "  role SMALLINT NOT NULL,"
     "  joined_at BIGINT NOT NULL,"
     "  last_read_seq BIGINT NOT NULL DEFAULT 0,"
     "  muted BOOLEAN NOT NULL DEFAULT false,"
     "  UNIQUE (conversation_id, user_id));"
     "CREATE INDEX members_by_user ON members (user_id, conversation_id);"
     "CREATE TABLE messages ("
     "  pk BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
     "  id TEXT COLLATE \"C\" NOT NULL UNIQUE,"
     "  conversation_id TEXT COLLATE \"C\" NOT NULL,"
     "  seq BIGINT NOT NULL,"
     "  sender_id TEXT COLLATE \"C\" NOT NULL,"
     "  text TEXT COLLATE \"C\" NOT NULL,"
     "  client_msg_id TEXT COLLATE \"C\" NOT NULL,"
     "  thread_root_id TEXT COLLATE \"C\","
     "  reply_count BIGINT NOT NULL DEFAULT 0,"
     "  reaction_count BIGINT NOT NULL DEFAULT 0,"
     "  created_at BIGINT NOT NULL,"
     "  edited_at BIGINT,"
     "  deleted BOOLEAN NOT NULL DEFAULT false,"
     "  UNIQUE (conversation_id, seq),"
     "  UNIQUE (conversation_id, sender_id, client_msg_id));"
     "CREATE INDEX messages_thread ON messages (thread_root_id, seq)"
     "  WHERE thread_root_id IS NOT NULL;"
     "CREATE TABLE reactions ("
     "  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
     "  message_pk BIGINT NOT NULL,"
     "  emoji TEXT COLLATE \"C\" NOT NULL,"
     "  user_id TEXT COLLATE \"C\" NOT NULL,"
     "  UNIQUE (message_pk, emoji, user_id));"
     "CREATE TABLE pins ("
     "  id BIGINT GENERATED ALWAYS AS IDENTITY,"
     "  conversation_id TEXT COLLATE \"C\" NOT NULL,"
     "  message_id TEXT COLLATE \"C\" NOT NULL,"
     "  pinned_by TEXT COLLATE \"C\" NOT NULL,"
     "  pinned_at BIGINT NOT NULL,"
     "  PRIMARY KEY (conversation_id, message_id));"},
    {2, "UPDATE conversations SET channel_name = NULL WHERE visibility <> 0;"},
    {3,
     "UPDATE members SET role = 2 WHERE conversation_id IN"
     " (SELECT id FROM conversations WHERE type = 0);"},
    // encode_attachments / encode_previews JSON; NULL for none.
    {4, "ALTER TABLE messages ADD COLUMN attachments TEXT, ADD COLUMN previews TEXT;"},
    // Mentions: the message keeps its list (encode_mention_ids, NULL for none); mention_count
    // reads message_mentions (one row per mentioned member other than the sender) and the
    // partial index of messages that mention everyone, both range scans from last_read_seq.
    {5,
     "ALTER TABLE messages ADD COLUMN mentions TEXT,"
     "  ADD COLUMN mention_all BOOLEAN NOT NULL DEFAULT false;"
     "CREATE TABLE message_mentions ("
     "  conversation_id TEXT COLLATE \"C\" NOT NULL,"
     "  user_id TEXT COLLATE \"C\" NOT NULL,"
     "  seq BIGINT NOT NULL,"
     "  PRIMARY KEY (conversation_id, user_id, seq));"
     "CREATE INDEX message_mentions_by_seq ON message_mentions (conversation_id, seq);"
     "CREATE INDEX messages_mention_all ON messages (conversation_id, seq) WHERE mention_all;"},
    {6,
     "ALTER TABLE members ADD COLUMN starred BOOLEAN NOT NULL DEFAULT false;"
     "ALTER TABLE conversations ADD COLUMN archived BOOLEAN NOT NULL DEFAULT false;"
     "CREATE TABLE saved_messages ("
     "  pos BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
     "  user_id TEXT COLLATE \"C\" NOT NULL,"
     "  message_id TEXT COLLATE \"C\" NOT NULL,"
     "  saved_at BIGINT NOT NULL,"
     "  UNIQUE (user_id, message_id));"
     "CREATE INDEX saved_messages_by_user ON saved_messages (user_id, pos);"},
};

// NULL for none: most messages have neither.
std::optional<std::string> or_null(std::string encoded) {
  if (encoded.empty()) return std::nullopt;
  return encoded;
}

constexpr const char* kConvColumns =
    "c.id, c.type, c.name, c.topic, c.visibility, c.member_count, c.last_seq, c.last_message_at,"
    " c.created_by, c.created_at, c.archived";
constexpr const char* kMsgColumns =
    "m.pk, m.id, m.conversation_id, m.seq, m.sender_id, m.text, m.client_msg_id,"
    " m.thread_root_id, m.reply_count, m.reaction_count, m.created_at, m.edited_at, m.deleted,"
    " m.attachments, m.previews, m.mentions, m.mention_all";

// Counts a member's unread messages, up to the cap, for the conversation c and member row m of
// the enclosing query.
constexpr const char* kUnreadExpr =
    "CASE WHEN m.last_read_seq >= c.last_seq THEN 0 ELSE (SELECT count(*) FROM (SELECT 1"
    " FROM messages x WHERE x.conversation_id = c.id AND x.seq > m.last_read_seq"
    " AND x.sender_id <> m.user_id AND NOT x.deleted LIMIT 10000) u) END";
static_assert(kUnreadCountCap == 10'000, "kUnreadExpr spells the cap");

// Counts the unread messages that mention the member m (message_mentions has no row for a
// sender's own message) or everyone, up to the cap, as kUnreadExpr.
constexpr const char* kMentionExpr =
    "CASE WHEN m.last_read_seq >= c.last_seq THEN 0 ELSE (SELECT count(*) FROM ("
    " SELECT x.seq FROM message_mentions x WHERE x.conversation_id = c.id"
    " AND x.user_id = m.user_id AND x.seq > m.last_read_seq"
    " UNION SELECT y.seq FROM messages y WHERE y.conversation_id = c.id AND y.mention_all"
    " AND y.seq > m.last_read_seq AND y.sender_id <> m.user_id LIMIT 10000) u) END";

std::optional<std::string> mention_ids_or_null(const Mentions& m) {
  if (m.user_ids.empty()) return std::nullopt;
  return encode_mention_ids(m.user_ids);
}

// The message_mentions rows of message (cid, seq): its mentioned members but the sender.
void insert_mention_rows(Connection& c, const std::string& cid, std::int64_t seq,
                         const std::string& sender, const Mentions& m) {
  std::vector<std::string> ids;
  for (const auto& id : m.user_ids)
    if (id != sender) ids.push_back(id);
  if (ids.empty()) return;
  c.exec(
      "INSERT INTO message_mentions (conversation_id, user_id, seq)"
      " SELECT $1::text, u, $2::bigint FROM unnest($3::text[]) AS u ON CONFLICT DO NOTHING",
      {cid, seq, Param::text_array(ids)});
}

std::string sql(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (auto p : parts) s += p;
  return s;
}

Conversation row_to_conversation(const Rows& r, int i, int at = 0) {
  Conversation c;
  c.id = r.text(i, at);
  c.type = static_cast<ConversationType>(r.integer(i, at + 1));
  c.name = r.text(i, at + 2);
  c.topic = r.text(i, at + 3);
  c.visibility = r.integer(i, at + 4) == 0 ? Visibility::public_ : Visibility::private_;
  c.member_count = r.integer(i, at + 5);
  c.last_seq = r.integer(i, at + 6);
  c.last_message_at = r.integer(i, at + 7);
  c.created_by = r.text(i, at + 8);
  c.created_at = r.integer(i, at + 9);
  c.archived = r.boolean(i, at + 10);
  return c;
}

int visibility_code(Visibility v) { return v == Visibility::public_ ? 0 : 1; }

// A message row plus what the reactions query needs.
struct Row {
  std::int64_t pk = 0;
  std::int64_t reaction_count = 0;
  Message m;
};

Row row_to_message(const Rows& r, int i) {
  Row row;
  row.pk = r.integer(i, 0);
  row.m.id = r.text(i, 1);
  row.m.conversation_id = r.text(i, 2);
  row.m.seq = r.integer(i, 3);
  row.m.sender_id = r.text(i, 4);
  row.m.text = r.text(i, 5);
  row.m.client_msg_id = r.text(i, 6);
  if (!r.is_null(i, 7)) row.m.thread_root_id = r.text(i, 7);
  row.m.reply_count = r.integer(i, 8);
  row.reaction_count = r.integer(i, 9);
  row.m.created_at = r.integer(i, 10);
  if (!r.is_null(i, 11)) row.m.edited_at = r.integer(i, 11);
  row.m.deleted = r.boolean(i, 12);
  if (!r.is_null(i, 13)) row.m.attachments = decode_attachments(r.text(i, 13));
  if (!r.is_null(i, 14)) row.m.previews = decode_previews(r.text(i, 14));
  if (!r.is_null(i, 15)) row.m.mentions.user_ids = decode_mention_ids(r.text(i, 15));
  row.m.mentions.all = r.boolean(i, 16);
  return row;
}

// Fills reactions (ordered by first use) of every row that has any, in one query.
void fill_reactions(Connection& c, std::vector<Row>& rows, const std::string& viewer) {
  std::vector<std::int64_t> pks;
  std::unordered_map<std::int64_t, std::size_t> at;
  for (std::size_t i = 0; i < rows.size(); ++i)
    if (rows[i].reaction_count > 0) {
      pks.push_back(rows[i].pk);
      at[rows[i].pk] = i;
    }
  if (pks.empty()) return;
  auto q = c.exec(
      "SELECT message_pk, emoji, count(*), bool_or(user_id = $2), min(id) AS first"
      " FROM reactions WHERE message_pk = ANY($1::bigint[]) GROUP BY message_pk, emoji"
      " ORDER BY message_pk, first",
      {Param::int_array(pks), viewer});
  for (int i = 0; i < q.size(); ++i)
    rows[at[q.integer(i, 0)]].m.reactions.push_back(
        {q.text(i, 1), q.integer(i, 2), q.boolean(i, 3)});
}

std::vector<Message> collect(Connection& c, const Rows& q, const std::string& viewer,
                             bool reverse) {
  std::vector<Row> rows;
  rows.reserve(static_cast<std::size_t>(q.size()));
  for (int i = 0; i < q.size(); ++i) rows.push_back(row_to_message(q, i));
  if (reverse) std::reverse(rows.begin(), rows.end());
  fill_reactions(c, rows, viewer);
  std::vector<Message> out;
  out.reserve(rows.size());
  for (auto& r : rows) out.push_back(std::move(r.m));
  return out;
}

std::optional<Row> message_by_id(Connection& c, const std::string& id, bool for_update = false) {
  auto q = c.exec(sql({"SELECT ", kMsgColumns, " FROM messages m WHERE m.id = $1",
                       for_update ? " FOR UPDATE" : ""}),
                  {id});
  if (q.empty()) return std::nullopt;
  return row_to_message(q, 0);
}

std::int64_t unread_count(Connection& c, const std::string& cid, const std::string& user,
                          std::int64_t last_read, std::int64_t last_seq) {
  if (last_read >= last_seq) return 0;
  auto q = c.exec(
      "SELECT count(*) FROM (SELECT 1 FROM messages WHERE conversation_id = $1 AND seq > $2"
      " AND sender_id <> $3 AND NOT deleted LIMIT $4) u",
      {cid, last_read, user, kUnreadCountCap});
  return q.integer(0, 0);
}

std::int64_t mention_count(Connection& c, const std::string& cid, const std::string& user,
                           std::int64_t last_read, std::int64_t last_seq) {
  if (last_read >= last_seq) return 0;
  auto q = c.exec(
      "SELECT count(*) FROM (SELECT seq FROM message_mentions WHERE conversation_id = $1"
      " AND user_id = $3 AND seq > $2 UNION SELECT seq FROM messages WHERE conversation_id = $1"
      " AND mention_all AND seq > $2 AND sender_id <> $3 LIMIT $4) u",
      {cid, last_read, user, kUnreadCountCap});
  return q.integer(0, 0);
}

// LIKE pattern for "contains s" over lower(column), s lower-cased for ASCII and its wildcards
// escaped.
std::string like_contains_lower(const std::string& s) {
  std::string p = "%";
  for (char ch : text::ascii_lower(s)) {
    if (ch == '%' || ch == '_' || ch == '\\') p += '\\';
    p += ch;
  }
  return p + "%";
}

// Inserts those not yet members, in the order given; returns the user ids inserted.
std::set<std::string> insert_members(Connection& c, const std::string& cid,
                                     const std::vector<Member>& members) {
  std::set<std::string> added;
  if (members.empty()) return added;
  std::vector<std::string> users;
  std::vector<std::int64_t> roles, joined;
  for (const auto& m : members) {
    users.push_back(m.user_id);
    roles.push_back(static_cast<std::int64_t>(m.role));
    joined.push_back(m.joined_at);
  }
  auto q = c.exec(
      "INSERT INTO members (conversation_id, user_id, role, joined_at)"
      " SELECT $1, u.user_id, u.role, u.joined_at"
      " FROM unnest($2::text[], $3::smallint[], $4::bigint[]) WITH ORDINALITY"
      "   AS u(user_id, role, joined_at, ord) ORDER BY u.ord"
      " ON CONFLICT (conversation_id, user_id) DO NOTHING RETURNING user_id",
      {cid, Param::text_array(users), Param::int_array(roles), Param::int_array(joined)});
  for (int i = 0; i < q.size(); ++i) added.insert(q.text(i, 0));
  return added;
}

void add_member_count(Connection& c, const std::string& cid, std::int64_t delta) {
  c.exec("UPDATE conversations SET member_count = member_count + $1 WHERE id = $2", {delta, cid});
}

// Locks the conversation's row until COMMIT; false when there is no such conversation.
bool lock_conversation(Connection& c, const std::string& cid) {
  return !c.exec("SELECT 1 FROM conversations WHERE id = $1 FOR NO KEY UPDATE", {cid}).empty();
}

std::optional<Conversation> conversation_by_id(Connection& c, const std::string& id) {
  auto q = c.exec(sql({"SELECT ", kConvColumns, " FROM conversations c WHERE c.id = $1"}), {id});
  if (q.empty()) return std::nullopt;
  return row_to_conversation(q, 0);
}

std::optional<Membership> membership_of(Connection& c, const std::string& cid,
                                        const std::string& user) {
  auto q = c.exec(
      "SELECT role, joined_at, last_read_seq, muted, starred FROM members"
      " WHERE conversation_id = $1 AND user_id = $2",
      {cid, user});
  if (q.empty()) return std::nullopt;
  Membership m;
  m.role = static_cast<Role>(q.integer(0, 0));
  m.joined_at = q.integer(0, 1);
  m.last_read_seq = q.integer(0, 2);
  m.muted = q.boolean(0, 3);
  m.starred = q.boolean(0, 4);
  return m;
}

void insert_conversation(Connection& c, const Conversation& conv,
                         const std::optional<std::string>& dm_key) {
  std::optional<std::string> channel_name;
  // Unique among public channels only (as in the SQLite store).
  if (conv.type == ConversationType::channel && conv.visibility == Visibility::public_)
    channel_name = conv.name;
  c.exec(
      "INSERT INTO conversations (id, type, name, topic, visibility, activity, created_by,"
      " created_at, dm_key, channel_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
      {conv.id, static_cast<int>(conv.type), conv.name, conv.topic,
       visibility_code(conv.visibility), conv.created_at, conv.created_by, conv.created_at, dm_key,
       channel_name});
}

class PostgresMessagingStore final : public MessagingStore {
 public:
  explicit PostgresMessagingStore(Pool& pool) : pool_(pool) {}

  void add_append_hook(AppendHook hook) override { hooks_.push_back(std::move(hook)); }

  Result<void> create_conversation(const Conversation& conv,
                                   const std::vector<Member>& members) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      try {
        insert_conversation(c, conv, std::nullopt);
      } catch (const std::exception& e) {
        if (is_unique_violation(e))
          return fail(Errc::already_exists, "a channel with this name exists", "name");
        throw;
      }
      auto added = insert_members(c, conv.id, members);
      add_member_count(c, conv.id, static_cast<std::int64_t>(added.size()));
      return ok();
    });
  }

  Result<std::pair<Conversation, bool>> find_or_create_dm(const Conversation& proposed,
                                                          const std::string& a,
                                                          const std::string& b) override {
    std::string key = a < b ? a + "|" + b : b + "|" + a;
    return pool_.transaction_value([&](Connection& c) -> Result<std::pair<Conversation, bool>> {
      auto found = dm_by_key(c, key);
      if (found) return std::make_pair(std::move(*found), false);
      std::optional<std::string> no_channel;
      // Both users opening the DM at once: the second insert waits for the first, does nothing,
      // and reads the first one's row.
      auto ins = c.exec(
          "INSERT INTO conversations (id, type, name, topic, visibility, activity, created_by,"
          " created_at, dm_key, channel_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)"
          " ON CONFLICT (dm_key) DO NOTHING RETURNING id",
          {proposed.id, static_cast<int>(proposed.type), proposed.name, proposed.topic,
           visibility_code(proposed.visibility), proposed.created_at, proposed.created_by,
           proposed.created_at, key});
      if (ins.empty()) {
        found = dm_by_key(c, key);
        if (!found) return fail(Errc::internal, "direct conversation vanished");
        return std::make_pair(std::move(*found), false);
      }
      std::vector<Member> members{{a, Role::member, proposed.created_at}};  // a DM has no owner
      if (b != a) members.push_back({b, Role::member, proposed.created_at});
      auto added = insert_members(c, proposed.id, members);
      add_member_count(c, proposed.id, static_cast<std::int64_t>(added.size()));
      Conversation created = proposed;
      created.member_count = static_cast<std::int64_t>(added.size());
      return std::make_pair(std::move(created), true);
    });
  }

  Result<Conversation> get_conversation(const std::string& id) override {
    return pool_.run_value([&](Connection& c) -> Result<Conversation> {
      auto found = conversation_by_id(c, id);
      if (!found) return fail(Errc::not_found, "conversation not found");
      return std::move(*found);
    });
  }

  Result<ConversationView> view(const std::string& id, const std::string& viewer,
                                bool count_unread) override {
    return pool_.run_value([&](Connection& c) -> Result<ConversationView> {
      auto conv = conversation_by_id(c, id);
      if (!conv) return fail(Errc::not_found, "conversation not found");
      ConversationView v;
      v.conversation = std::move(*conv);
      v.me = membership_of(c, id, viewer);
      if (v.me && count_unread) {
        v.unread_count = unread_count(c, id, viewer, v.me->last_read_seq, v.conversation.last_seq);
        v.mention_count =
            mention_count(c, id, viewer, v.me->last_read_seq, v.conversation.last_seq);
      }
      return v;
    });
  }

  Result<std::vector<ConversationView>> list_for_user(
      const std::string& user_id, int limit, const std::optional<ActivityCursor>& after) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<ConversationView>> {
      auto q = c.exec(sql({"SELECT ", kConvColumns,
                           ", m.role, m.joined_at, m.last_read_seq, m.muted, m.starred, ",
                           kUnreadExpr, ", ", kMentionExpr,
                           " FROM members m JOIN conversations c ON c.id = m.conversation_id"
                           " WHERE m.user_id = $1 AND (NOT $2::boolean OR c.activity < $3 OR"
                           " (c.activity = $3 AND c.id < $4))"
                           " ORDER BY c.activity DESC, c.id DESC LIMIT $5"}),
                      {user_id, after.has_value(), after ? after->activity : Millis{0},
                       after ? after->id : std::string(), limit});
      std::vector<ConversationView> out;
      for (int i = 0; i < q.size(); ++i) {
        ConversationView v;
        v.conversation = row_to_conversation(q, i);
        Membership m;
        m.role = static_cast<Role>(q.integer(i, 11));
        m.joined_at = q.integer(i, 12);
        m.last_read_seq = q.integer(i, 13);
        m.muted = q.boolean(i, 14);
        m.starred = q.boolean(i, 15);
        v.me = m;
        v.unread_count = q.integer(i, 16);
        v.mention_count = q.integer(i, 17);
        out.push_back(std::move(v));
      }
      return out;
    });
  }

  Result<std::vector<Conversation>> list_public_channels(
      const std::string& contains, int limit,
      const std::optional<std::string>& after_name) override {
    return list_channels(contains, limit, after_name, false);
  }

  Result<std::vector<Conversation>> list_all_channels(
      const std::string& contains, int limit,
      const std::optional<std::string>& after_name) override {
    return list_channels(contains, limit, after_name, true);
  }

  Result<std::vector<Conversation>> list_channels(const std::string& contains, int limit,
                                                  const std::optional<std::string>& after_name,
                                                  bool include_private) {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<Conversation>> {
      auto q = c.exec(
          sql({"SELECT ", kConvColumns,
               " FROM conversations c WHERE c.type = 2 AND ($5::boolean OR c.visibility = 0)"
               " AND lower(c.name) LIKE $1"
               " AND (NOT $2::boolean OR lower(c.name) > lower($3::text COLLATE \"C\"))"
               " ORDER BY lower(c.name) LIMIT $4"}),
          {like_contains_lower(contains), after_name.has_value(), after_name.value_or(""), limit,
           include_private});
      std::vector<Conversation> out;
      for (int i = 0; i < q.size(); ++i) out.push_back(row_to_conversation(q, i));
      return out;
    });
  }

  Result<std::vector<std::string>> conversation_ids_of(const std::string& user_id) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<std::string>> {
      auto q = c.exec("SELECT conversation_id FROM members WHERE user_id = $1", {user_id});
      std::vector<std::string> out;
      for (int i = 0; i < q.size(); ++i) out.push_back(q.text(i, 0));
      return out;
    });
  }

  Result<std::vector<std::string>> co_members(const std::string& user_id,
                                              const std::vector<std::string>& candidates) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<std::string>> {
      auto q = c.exec(
          "SELECT DISTINCT them.user_id FROM members me"
          " JOIN members them ON them.conversation_id = me.conversation_id"
          " WHERE me.user_id = $1 AND them.user_id = ANY($2::text[])",
          {user_id, Param::text_array(candidates)});
      std::vector<std::string> out;
      for (int i = 0; i < q.size(); ++i) out.push_back(q.text(i, 0));
      return out;
    });
  }

  Result<Conversation> update_conversation(const std::string& id,
                                           const std::optional<std::string>& name,
                                           const std::optional<std::string>& topic) override {
    auto updated = pool_.transaction_value([&](Connection& c)
                                               -> Result<std::optional<Conversation>> {
      try {
        auto q = c.exec(sql({"UPDATE conversations c SET name = coalesce($1, c.name),"
                             " topic = coalesce($2, c.topic),"
                             " channel_name = CASE WHEN c.type = 2 AND c.visibility = 0"
                             " THEN coalesce($1, c.name) END"
                             " WHERE c.id = $3 RETURNING ",
                             kConvColumns}),
                        {name, topic, id});
        if (q.empty()) return std::nullopt;
        return row_to_conversation(q, 0);
      } catch (const std::exception& e) {
        if (is_unique_violation(e))
          return fail(Errc::already_exists, "a channel with this name exists", "name");
        throw;
      }
    });
    return found_or(std::move(updated), Errc::not_found, "conversation not found");
  }

  Result<std::optional<Membership>> membership(const std::string& conversation_id,
                                               const std::string& user_id) override {
    return pool_.run_value([&](Connection& c) -> Result<std::optional<Membership>> {
      return membership_of(c, conversation_id, user_id);
    });
  }

  Result<std::vector<Member>> add_members(const std::string& conversation_id,
                                          const std::vector<Member>& members,
                                          std::int64_t max_members) override {
    return pool_.transaction_value([&](Connection& c) -> Result<std::vector<Member>> {
      std::vector<Member> added;
      auto count = c.exec("SELECT member_count FROM conversations WHERE id = $1 FOR NO KEY UPDATE",
                          {conversation_id});
      if (count.empty()) return fail(Errc::not_found, "conversation not found");
      auto ids = insert_members(c, conversation_id, members);
      for (const auto& m : members)
        if (ids.erase(m.user_id)) added.push_back(m);
      if (count.integer(0, 0) + static_cast<std::int64_t>(added.size()) > max_members)
        return fail(Errc::failed_precondition, "too many members");
      add_member_count(c, conversation_id, static_cast<std::int64_t>(added.size()));
      return added;
    });
  }

  Result<bool> remove_member(const std::string& conversation_id,
                             const std::string& user_id) override {
    return pool_.transaction_value([&](Connection& c) -> Result<bool> {
      lock_conversation(c, conversation_id);
      if (c.exec("DELETE FROM members WHERE conversation_id = $1 AND user_id = $2",
                 {conversation_id, user_id})
              .affected() == 0)
        return false;
      add_member_count(c, conversation_id, -1);
      // Someone must own what remains: the longest-standing admin, else member, inherits.
      auto owners = c.exec("SELECT 1 FROM members WHERE conversation_id = $1 AND role = 0 LIMIT 1",
                           {conversation_id});
      if (owners.empty())
        c.exec(
            "UPDATE members SET role = 0 WHERE pos ="
            " (SELECT pos FROM members WHERE conversation_id = $1 ORDER BY role, pos LIMIT 1)",
            {conversation_id});
      return true;
    });
  }

  Result<Member> set_role(const std::string& conversation_id, const std::string& user_id,
                          Role role) override {
    auto member = pool_.transaction_value([&](Connection& c) -> Result<std::optional<Member>> {
      lock_conversation(c, conversation_id);  // ordered with remove_member's owner handover
      auto q = c.exec(
          "UPDATE members SET role = $1 WHERE conversation_id = $2 AND user_id = $3"
          " RETURNING joined_at",
          {static_cast<int>(role), conversation_id, user_id});
      if (q.empty()) return std::nullopt;
      return Member{user_id, role, q.integer(0, 0)};
    });
    return found_or(std::move(member), Errc::not_found, "not a member");
  }

  Result<std::vector<std::pair<Member, std::int64_t>>> list_members(
      const std::string& conversation_id, int limit, std::int64_t after_position) override {
    return pool_.run_value([&](Connection& c)
                               -> Result<std::vector<std::pair<Member, std::int64_t>>> {
      auto q = c.exec(
          "SELECT user_id, role, joined_at, pos FROM members WHERE conversation_id = $1"
          " AND pos > $2 ORDER BY pos LIMIT $3",
          {conversation_id, after_position, limit});
      std::vector<std::pair<Member, std::int64_t>> out;
      for (int i = 0; i < q.size(); ++i)
        out.push_back({Member{q.text(i, 0), static_cast<Role>(q.integer(i, 1)), q.integer(i, 2)},
                       q.integer(i, 3)});
      return out;
    });
  }

  Result<Appended> append(const NewMessage& m) override {
    auto out = pool_.transaction_value([&](Connection& c) -> Result<Appended> {
      auto one = append_in(c, m);
      if (one) write_jobs(c, hooks_, {&*one});
      return one;
    });
    // A duplicate: only append_in answers already_exists (the pool never does).
    if (!out && out.error().code == Errc::already_exists) return original_send(pool_, m);
    if (out) committed(hooks_);
    return out;
  }

  void append_async(const NewMessage& m, AppendDone done) override {
    batcher_.add(m, std::move(done));
  }

  void stop() override { batcher_.stop(); }

  Result<Message> get_message(const std::string& id, const std::string& viewer) override {
    return pool_.run_value([&](Connection& c) -> Result<Message> {
      auto row = message_by_id(c, id);
      if (!row) return fail(Errc::not_found, "message not found");
      std::vector<Row> rows{std::move(*row)};
      fill_reactions(c, rows, viewer);
      return std::move(rows[0].m);
    });
  }

  Result<MessagePage> history(const std::string& conversation_id, const HistoryQuery& hq,
                              const std::string& viewer) override {
    return pool_.run_value([&](Connection& c) -> Result<MessagePage> {
      MessagePage page;
      if (hq.after_seq) {
        auto q = c.exec(sql({"SELECT ", kMsgColumns,
                             " FROM messages m WHERE m.conversation_id = $1 AND m.seq > $2"
                             " ORDER BY m.seq LIMIT $3"}),
                        {conversation_id, *hq.after_seq, hq.limit + 1});
        page.messages = collect(c, q, viewer, false);
        if (static_cast<int>(page.messages.size()) > hq.limit) {
          page.messages.pop_back();
          page.has_more = true;
        }
      } else {
        auto q = c.exec(
            sql({"SELECT ", kMsgColumns,
                 " FROM messages m WHERE m.conversation_id = $1 AND m.seq < $2"
                 " ORDER BY m.seq DESC LIMIT $3"}),
            {conversation_id, hq.before_seq.value_or(std::numeric_limits<std::int64_t>::max()),
             hq.limit + 1});
        page.messages = collect(c, q, viewer, true);
        if (static_cast<int>(page.messages.size()) > hq.limit) {
          page.messages.erase(page.messages.begin());
          page.has_more = true;
        }
      }
      return page;
    });
  }

  Result<MessagePage> replies(const std::string& root_id, std::int64_t after_seq, int limit,
                              const std::string& viewer) override {
    return pool_.run_value([&](Connection& c) -> Result<MessagePage> {
      MessagePage page;
      auto q = c.exec(sql({"SELECT ", kMsgColumns,
                           " FROM messages m WHERE m.thread_root_id = $1 AND m.seq > $2"
                           " ORDER BY m.seq LIMIT $3"}),
                      {root_id, after_seq, limit + 1});
      page.messages = collect(c, q, viewer, false);
      if (static_cast<int>(page.messages.size()) > limit) {
        page.messages.pop_back();
        page.has_more = true;
      }
      return page;
    });
  }

  Result<Message> edit(const std::string& id, const std::string& text, Millis edited_at,
                       const Mentions& mentions) override {
    return pool_.transaction_value([&](Connection& c) -> Result<Message> {
      auto q = c.exec(sql({"UPDATE messages m SET text = $1, edited_at = $2, previews = NULL,"
                           " mentions = $4, mention_all = $5"
                           " WHERE m.id = $3 AND NOT m.deleted RETURNING ",
                           kMsgColumns}),
                      {text, edited_at, id, mention_ids_or_null(mentions), mentions.all});
      if (q.empty()) return fail(Errc::failed_precondition, "the message was deleted");
      Message out = row_to_message(q, 0).m;
      c.exec("DELETE FROM message_mentions WHERE conversation_id = $1 AND seq = $2",
             {out.conversation_id, out.seq});
      insert_mention_rows(c, out.conversation_id, out.seq, out.sender_id, mentions);
      return out;
    });
  }

  Result<Message> set_previews(const std::string& id,
                               const std::vector<LinkPreview>& previews) override {
    return set_json_column(id, "previews", encode_previews(previews));
  }

  Result<Message> set_attachments(const std::string& id,
                                  const std::vector<Attachment>& attachments) override {
    return set_json_column(id, "attachments", encode_attachments(attachments));
  }

  // A live message's previews or attachments column ("" stores NULL), the message as it now is.
  Result<Message> set_json_column(const std::string& id, const char* column,
                                  const std::string& json) {
    return pool_.transaction_value([&](Connection& c) -> Result<Message> {
      auto q = c.exec(sql({"UPDATE messages m SET ", column, " = $1 WHERE m.id = $2 AND NOT m.deleted"
                           " RETURNING ",
                           kMsgColumns}),
                      {or_null(json), id});
      if (q.empty()) {
        if (!message_by_id(c, id)) return fail(Errc::not_found, "message not found");
        return fail(Errc::failed_precondition, "the message was deleted");
      }
      std::vector<Row> rows{row_to_message(q, 0)};
      fill_reactions(c, rows, "");
      return std::move(rows[0].m);
    });
  }

  Result<std::pair<Message, bool>> remove_message(const std::string& id) override {
    return pool_.transaction_value([&](Connection& c) -> Result<std::pair<Message, bool>> {
      auto row = message_by_id(c, id, true);
      if (!row) return fail(Errc::not_found, "message not found");
      bool changed = false;
      if (!row->m.deleted) {
        c.exec(
            "UPDATE messages SET text = '', deleted = true, reaction_count = 0, mentions = NULL,"
            " mention_all = false WHERE pk = $1",
            {row->pk});
        c.exec("DELETE FROM message_mentions WHERE conversation_id = $1 AND seq = $2",
               {row->m.conversation_id, row->m.seq});
        row->m.mentions = {};
        c.exec("DELETE FROM reactions WHERE message_pk = $1", {row->pk});
        c.exec("DELETE FROM pins WHERE conversation_id = $1 AND message_id = $2",
               {row->m.conversation_id, id});
        row->m.text.clear();
        row->m.deleted = true;
        changed = true;
      }
      return std::make_pair(std::move(row->m), changed);
    });
  }

  Result<bool> add_reaction(const std::string& message_id, const std::string& user_id,
                            const std::string& emoji, int max_distinct) override {
    return pool_.transaction_value([&](Connection& c) -> Result<bool> {
      // The message's row lock orders reactions to it (the distinct-emoji cap and the count).
      auto row = message_by_id(c, message_id, true);
      if (!row) return fail(Errc::not_found, "message not found");
      if (row->m.deleted) return fail(Errc::failed_precondition, "the message was deleted");
      auto known = c.exec("SELECT 1 FROM reactions WHERE message_pk = $1 AND emoji = $2 LIMIT 1",
                          {row->pk, emoji});
      if (known.empty()) {
        auto distinct =
            c.exec("SELECT count(DISTINCT emoji) FROM reactions WHERE message_pk = $1", {row->pk});
        if (distinct.integer(0, 0) >= max_distinct)
          return fail(Errc::failed_precondition, "too many different reactions");
      }
      const bool changed =
          c.exec(
               "INSERT INTO reactions (message_pk, emoji, user_id) VALUES ($1, $2, $3)"
               " ON CONFLICT DO NOTHING",
               {row->pk, emoji, user_id})
              .affected() > 0;
      if (changed)
        c.exec("UPDATE messages SET reaction_count = reaction_count + 1 WHERE pk = $1", {row->pk});
      return changed;
    });
  }

  Result<bool> remove_reaction(const std::string& message_id, const std::string& user_id,
                               const std::string& emoji) override {
    return pool_.transaction_value([&](Connection& c) -> Result<bool> {
      auto row = message_by_id(c, message_id, true);
      if (!row) return fail(Errc::not_found, "message not found");
      const bool changed =
          c.exec("DELETE FROM reactions WHERE message_pk = $1 AND emoji = $2 AND user_id = $3",
                 {row->pk, emoji, user_id})
              .affected() > 0;
      if (changed)
        c.exec("UPDATE messages SET reaction_count = reaction_count - 1 WHERE pk = $1", {row->pk});
      return changed;
    });
  }

  // The one write of a read marker: mark_read only moves it forward (up to last_seq);
  // set_read_marker (mark as unread) may also move it back (down to 0).
  Result<ReadState> write_read_marker(const std::string& conversation_id,
                                      const std::string& user_id, std::int64_t seq,
                                      bool may_move_back) {
    return pool_.transaction_value([&](Connection& c) -> Result<ReadState> {
      ReadState out;
      auto q = c.exec(
          "SELECT m.last_read_seq, c.last_seq FROM members m JOIN conversations c"
          " ON c.id = m.conversation_id WHERE m.conversation_id = $1 AND m.user_id = $2"
          " FOR UPDATE OF m",
          {conversation_id, user_id});
      if (q.empty()) return fail(Errc::not_found, "not a member");
      std::int64_t last_read = q.integer(0, 0), last_seq = q.integer(0, 1);
      const std::int64_t target = std::clamp<std::int64_t>(seq, 0, last_seq);
      if (target > last_read || (may_move_back && target != last_read)) {
        c.exec("UPDATE members SET last_read_seq = $1 WHERE conversation_id = $2 AND user_id = $3",
               {target, conversation_id, user_id});
        last_read = target;
        out.moved = true;
      }
      out.last_read_seq = last_read;
      out.unread_count = unread_count(c, conversation_id, user_id, last_read, last_seq);
      out.mention_count = mention_count(c, conversation_id, user_id, last_read, last_seq);
      return out;
    });
  }

  Result<ReadState> mark_read(const std::string& conversation_id, const std::string& user_id,
                              std::int64_t seq) override {
    return write_read_marker(conversation_id, user_id, seq, false);
  }

  Result<ReadState> set_read_marker(const std::string& conversation_id, const std::string& user_id,
                                    std::int64_t seq) override {
    return write_read_marker(conversation_id, user_id, seq, true);
  }

  Result<bool> set_starred(const std::string& conversation_id, const std::string& user_id,
                           bool starred) override {
    return pool_.transaction_value([&](Connection& c) -> Result<bool> {
      auto q = c.exec(
          "SELECT starred FROM members WHERE conversation_id = $1 AND user_id = $2 FOR UPDATE",
          {conversation_id, user_id});
      if (q.empty()) return fail(Errc::not_found, "not a member");
      if (q.boolean(0, 0) == starred) return false;
      c.exec("UPDATE members SET starred = $1 WHERE conversation_id = $2 AND user_id = $3",
             {starred, conversation_id, user_id});
      return true;
    });
  }

  Result<std::pair<Conversation, bool>> set_archived(const std::string& conversation_id,
                                                     bool archived) override {
    using Archived = std::pair<Conversation, bool>;
    auto out = pool_.transaction_value([&](Connection& c) -> Result<std::optional<Archived>> {
      const bool changed =
          c.exec("UPDATE conversations SET archived = $1 WHERE id = $2 AND archived <> $1",
                 {archived, conversation_id})
              .affected() > 0;
      auto conv = conversation_by_id(c, conversation_id);
      if (!conv) return std::nullopt;
      return Archived{std::move(*conv), changed};
    });
    return found_or(std::move(out), Errc::not_found, "conversation not found");
  }

  Result<bool> set_saved(const std::string& user_id, const std::string& message_id, bool saved,
                         Millis at) override {
    return pool_.run_value([&](Connection& c) -> Result<bool> {
      bool changed = false;
      if (saved)
        changed = c.exec(
                       "INSERT INTO saved_messages (user_id, message_id, saved_at)"
                       " VALUES ($1, $2, $3) ON CONFLICT (user_id, message_id) DO NOTHING",
                       {user_id, message_id, at})
                      .affected() > 0;
      else
        changed = c.exec("DELETE FROM saved_messages WHERE user_id = $1 AND message_id = $2",
                         {user_id, message_id})
                      .affected() > 0;
      return changed;
    });
  }

  Result<std::vector<SavedMessage>> list_saved(const std::string& user_id, int limit,
                                               std::optional<std::int64_t> before) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<SavedMessage>> {
      std::vector<SavedMessage> out;
      auto q = c.exec(
          sql({"SELECT ", kMsgColumns,
               ", s.pos FROM saved_messages s JOIN messages m ON m.id = s.message_id"
               " WHERE s.user_id = $1 AND s.pos < $2 AND NOT m.deleted AND"
               " (EXISTS (SELECT 1 FROM members mb WHERE mb.conversation_id = m.conversation_id"
               "   AND mb.user_id = $1)"
               "  OR EXISTS (SELECT 1 FROM conversations cv WHERE cv.id = m.conversation_id"
               "   AND cv.type = 2 AND cv.visibility = 0))"
               " ORDER BY s.pos DESC LIMIT $3"}),
          {user_id, before.value_or(std::numeric_limits<std::int64_t>::max()), limit});
      std::vector<Row> rows;
      std::vector<std::int64_t> positions;
      for (int i = 0; i < q.size(); ++i) {
        rows.push_back(row_to_message(q, i));
        positions.push_back(q.integer(i, 17));
      }
      fill_reactions(c, rows, user_id);
      for (std::size_t i = 0; i < rows.size(); ++i)
        out.push_back({std::move(rows[i].m), positions[i]});
      return out;
    });
  }

  Result<bool> pin(const std::string& conversation_id, const std::string& message_id,
                   const std::string& by, Millis at, int max_pins) override {
    return pool_.transaction_value([&](Connection& c) -> Result<bool> {
      // Orders pins of one conversation, so two at once cannot both take the last free place.
      c.exec("SELECT pg_advisory_xact_lock($1, hashtext($2))", {kPinsLockClass, conversation_id});
      auto known = c.exec("SELECT 1 FROM pins WHERE conversation_id = $1 AND message_id = $2",
                          {conversation_id, message_id});
      if (!known.empty()) return false;
      auto count =
          c.exec("SELECT count(*) FROM pins WHERE conversation_id = $1", {conversation_id});
      if (count.integer(0, 0) >= max_pins) return fail(Errc::failed_precondition, "too many pins");
      c.exec(
          "INSERT INTO pins (conversation_id, message_id, pinned_by, pinned_at)"
          " VALUES ($1, $2, $3, $4)",
          {conversation_id, message_id, by, at});
      return true;
    });
  }

  Result<bool> unpin(const std::string& conversation_id, const std::string& message_id) override {
    return pool_.transaction_value([&](Connection& c) -> Result<bool> {
      return c.exec("DELETE FROM pins WHERE conversation_id = $1 AND message_id = $2",
                    {conversation_id, message_id})
                 .affected() > 0;
    });
  }

  Result<std::vector<Message>> pins(const std::string& conversation_id,
                                    const std::string& viewer) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<Message>> {
      auto q = c.exec(sql({"SELECT ", kMsgColumns,
                           " FROM pins p JOIN messages m ON m.id = p.message_id"
                           " WHERE p.conversation_id = $1 ORDER BY p.pinned_at DESC, p.id DESC"}),
                      {conversation_id});
      return collect(c, q, viewer, false);
    });
  }

 private:
  static std::optional<Conversation> dm_by_key(Connection& c, const std::string& key) {
    auto q =
        c.exec(sql({"SELECT ", kConvColumns, " FROM conversations c WHERE c.dm_key = $1"}), {key});
    if (q.empty()) return std::nullopt;
    return row_to_conversation(q, 0);
  }

  // The message already sent with m's (conversation, sender, client_msg_id), with the sender's
  // view of its reactions.
  static std::optional<Message> original_of(Connection& c, const NewMessage& m) {
    auto q = c.exec(sql({"SELECT ", kMsgColumns,
                         " FROM messages m WHERE m.conversation_id = $1 AND m.sender_id = $2"
                         " AND m.client_msg_id = $3"}),
                    {m.conversation_id, m.sender_id, m.client_msg_id});
    if (q.empty()) return std::nullopt;
    auto found = collect(c, q, m.sender_id, false);
    return std::move(found[0]);
  }

  // One send inside the caller's transaction: out is set when it was inserted; already_exists
  // when it is a retry (the caller rolls back and answers with the original), not_found when
  // the sender is not a member.
  // The transactional outbox: the hooks' jobs for the messages this transaction created, in one
  // statement, inside that transaction.
  static void write_jobs(Connection& c, const std::vector<AppendHook>& hooks,
                         const std::vector<const Appended*>& created) {
    if (hooks.empty()) return;
    std::vector<jobs::NewJob> all;
    Millis now = 0;
    for (const Appended* a : created) {
      now = std::max(now, a->message.created_at);
      for (const auto& h : hooks) {
        if (!h.produce) continue;
        auto jobs = h.produce(a->message);
        all.insert(all.end(), std::make_move_iterator(jobs.begin()),
                   std::make_move_iterator(jobs.end()));
      }
    }
    insert_job_rows(c, all, now);
  }
  static void committed(const std::vector<AppendHook>& hooks) {
    for (const auto& h : hooks)
      if (h.committed) h.committed();
  }

  // What append answers for a retried send: its original, as it is now.
  static Result<Appended> original_send(Pool& pool, const NewMessage& m) {
    return pool.run_value([&](Connection& c) -> Result<Appended> {
      auto orig = original_of(c, m);
      if (!orig) return fail(Errc::internal, "duplicate send without an original");
      return Appended{std::move(*orig), false};
    });
  }

  static Result<Appended> append_in(Connection& c, const NewMessage& m) {
    // One statement, so the conversation's row lock (held until COMMIT, it orders this send
    // after every other send to the conversation that got there first, on any node) is held
    // across no further round trip for a top-level message: take the next seq, insert the
    // message unless this (sender, client_msg_id) is already there, and move the sender's
    // read marker (they have seen the conversation up to their own message).
    auto ins = c.exec(
        "WITH s AS (UPDATE conversations SET last_seq = last_seq + 1,"
        "   last_message_at = GREATEST(last_message_at, $7::bigint),"
        "   activity = GREATEST(activity, $7::bigint)"
        "   WHERE id = $2 RETURNING last_seq),"
        // The sender's membership row is the gate: a removal that committed first (or
        // that this waits for) leaves nothing to update, so nothing is inserted; one that
        // comes later waits for this commit.
        " r AS (UPDATE members SET last_read_seq = GREATEST(last_read_seq, s.last_seq) FROM s"
        "   WHERE members.conversation_id = $2 AND members.user_id = $3 RETURNING 1)"
        " INSERT INTO messages (id, conversation_id, seq, sender_id, text, client_msg_id,"
        "   thread_root_id, created_at, attachments, mentions, mention_all)"
        " SELECT $1::text, $2::text, s.last_seq, $3::text, $4::text, $5::text, $6::text,"
        "   $7::bigint, $8::text, $9::text, $10::boolean FROM s, r"
        " ON CONFLICT (conversation_id, sender_id, client_msg_id) DO NOTHING RETURNING seq",
        {m.id, m.conversation_id, m.sender_id, m.text, m.client_msg_id, m.thread_root_id,
         m.created_at, or_null(encode_attachments(m.attachments)), mention_ids_or_null(m.mentions),
         m.mentions.all});
    if (ins.empty()) {
      // Nothing inserted: the send is a retry (its original exists), or the sender is not a
      // member (or the conversation is gone).
      if (c.exec("SELECT 1 FROM messages WHERE conversation_id = $1 AND sender_id = $2"
                 " AND client_msg_id = $3",
                 {m.conversation_id, m.sender_id, m.client_msg_id})
              .empty())
        return fail(Errc::not_found, "conversation not found");
      // A retried send (perhaps committed by another node while this one waited for the
      // lock): the caller rolls back, and with it the seq, and answers with the original.
      return fail(Errc::already_exists, "duplicate send");
    }
    std::int64_t seq = ins.integer(0, 0);
    insert_mention_rows(c, m.conversation_id, seq, m.sender_id, m.mentions);
    if (m.thread_root_id) {
      // Locked after the conversation, as everywhere (see the top of this file).
      auto root = message_by_id(c, *m.thread_root_id, true);
      if (!root || root->m.conversation_id != m.conversation_id || root->m.thread_root_id ||
          root->m.deleted)
        return fail(Errc::invalid_argument,
                    "thread_root_id is not a message of this conversation", "thread_root_id");
      c.exec("UPDATE messages SET reply_count = reply_count + 1 WHERE pk = $1", {root->pk});
    }
    return appended_as(m, seq);
  }

  // Sends queued by append_async, committed in batches on a thread of its own: everything that
  // queued while the previous batch committed goes into one transaction, so many sends share
  // one WAL flush and a hot conversation's row lock is taken once per batch, not once per send.
  // A batch takes conversations' row locks in id order, so two nodes' batches never deadlock.
  // A send that fails (a retry, a sender no longer a member) rolls the batch back; the batch
  // runs again without it, so no savepoint costs a round trip per send.
  class Batcher {
   public:
    Batcher(Pool& pool, const std::vector<AppendHook>& hooks)
        : pool_(pool), hooks_(hooks), thread_([this] { loop(); }) {}
    ~Batcher() { stop(); }
    // Commits what is queued, then ends the thread; later sends are refused.
    void stop() {
      {
        std::lock_guard lock(mu_);
        stopping_ = true;
      }
      cv_.notify_all();
      if (thread_.joinable()) thread_.join();
    }
    void add(NewMessage m, AppendDone done) {
      {
        std::lock_guard lock(mu_);
        if (!stopping_) {
          queue_.push_back({std::move(m), std::move(done)});
          cv_.notify_one();
          return;
        }
      }
      done(fail(Errc::unavailable, "storage is shutting down"));
    }

   private:
    struct Job {
      NewMessage m;
      AppendDone done;
    };
    static constexpr std::size_t kMaxBatch = 256;

    void loop() {
      std::vector<Job> batch;
      for (;;) {
        {
          std::unique_lock lock(mu_);
          cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
          if (queue_.empty()) return;
          while (!queue_.empty() && batch.size() < kMaxBatch) {
            batch.push_back(std::move(queue_.front()));
            queue_.pop_front();
          }
        }
        run(batch);
        batch.clear();
      }
    }

    void run(std::vector<Job>& batch) {
      std::stable_sort(batch.begin(), batch.end(), [](const Job& a, const Job& b) {
        return a.m.conversation_id < b.m.conversation_id;
      });
      std::vector<std::optional<Result<Appended>>> results(batch.size());
      bool retried_once = false;
      for (;;) {
        std::vector<std::optional<Appended>> outs(batch.size());
        std::optional<std::size_t> failed;
        Result<void> failure = ok();
        const auto started = std::chrono::steady_clock::now();
        auto r = pool_.transaction([&](Connection& c) -> Result<void> {
          failed.reset();
          for (std::size_t i = 0; i < batch.size(); ++i) {
            if (results[i]) continue;  // settled by an earlier run
            outs[i].reset();
            Result<void> one = ok();
            try {
              auto appended = append_in(c, batch[i].m);
              if (appended)
                outs[i] = std::move(*appended);
              else
                one = fail(std::move(appended.error()));
            } catch (const std::exception& e) {
              // The statement failed for this send alone (or the connection broke: then the
              // runs that follow fail too and every send gets the error).
              one = fail(pg_error(e));
            }
            if (!one) {
              failed = i;
              failure = one;
              return fail(Errc::failed_precondition, "batch rolled back for one send");
            }
          }
          std::vector<const Appended*> created;
          for (auto& o : outs)
            if (o) created.push_back(&*o);
          write_jobs(c, hooks_, created);
          return ok();
        });
        if (r) {
          std::size_t n = 0;
          for (std::size_t i = 0; i < batch.size(); ++i)
            if (!results[i]) {
              results[i] = std::move(*outs[i]);
              ++n;
            }
          if (n > 0) committed(hooks_);
          metrics::observe_commit(
              "postgres",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), n);
          break;
        }
        if (!failed) {  // the commit itself failed: every send not settled gets the error
          for (auto& res : results)
            if (!res) res = fail(r.error());
          break;
        }
        auto& res = results[*failed];
        if (failure.error().code == Errc::already_exists) {
          res = original_send(pool_, batch[*failed].m);
        } else {
          res = fail(failure.error());
          // A broken connection fails every send in turn; after a second such run, give up.
          if (failure.error().code == Errc::unavailable) {
            if (retried_once) {
              for (auto& other : results)
                if (!other) other = fail(failure.error());
              break;
            }
            retried_once = true;
          }
        }
      }
      for (std::size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(*results[i]));
    }

    Pool& pool_;
    const std::vector<AppendHook>& hooks_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> queue_;
    bool stopping_ = false;
    std::thread thread_;
  };

  Pool& pool_;
  std::vector<AppendHook> hooks_;  // before batcher_, which reads it
  Batcher batcher_{pool_, hooks_};
};

}  // namespace

Result<std::unique_ptr<messaging::MessagingStore>> make_messaging_store(Pool& pool) {
  if (auto m = pool.migrate("messaging", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<messaging::MessagingStore>(new PostgresMessagingStore(pool));
}

}  // namespace parley::postgres
