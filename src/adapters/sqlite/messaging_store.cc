// SQLite MessagingStore. Every mutation runs inside Database::write (the one writer thread), so
// "read last_seq, insert at last_seq + 1" cannot interleave with another writer: seq is gap-free
// by construction, and a savepoint per write rolls a failed one back alone.
#include <algorithm>
#include <limits>
#include <string>

#include "job_rows.h"
#include "adapters/sqlite/stores.h"
#include "core/found_or.h"
#include "core/json.h"

namespace parley::sqlite {
namespace {

using namespace messaging;

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE conversations ("
     "  id TEXT PRIMARY KEY,"
     "  type INTEGER NOT NULL,"
     "  name TEXT NOT NULL DEFAULT '',"
     "  topic TEXT NOT NULL DEFAULT '',"
     "  visibility INTEGER NOT NULL,"
     "  member_count INTEGER NOT NULL DEFAULT 0,"
     "  last_seq INTEGER NOT NULL DEFAULT 0,"
     "  last_message_at INTEGER NOT NULL DEFAULT 0,"
     "  activity INTEGER NOT NULL,"
     "  created_by TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  dm_key TEXT UNIQUE,"
     "  channel_name TEXT UNIQUE COLLATE NOCASE);"
     "CREATE INDEX conversations_public_channels ON conversations(name COLLATE NOCASE)"
     "  WHERE type = 2 AND visibility = 0;"
     "CREATE TABLE members ("
     "  pos INTEGER PRIMARY KEY,"
     "  conversation_id TEXT NOT NULL,"
     "  user_id TEXT NOT NULL,"
     "  role INTEGER NOT NULL,"
     "  joined_at INTEGER NOT NULL,"
     "  last_read_seq INTEGER NOT NULL DEFAULT 0,"
     "  muted INTEGER NOT NULL DEFAULT 0,"
     "  UNIQUE (conversation_id, user_id));"
     "CREATE INDEX members_by_user ON members(user_id, conversation_id);"
     "CREATE TABLE messages ("
     "  pk INTEGER PRIMARY KEY,"
     "  id TEXT NOT NULL UNIQUE,"
     "  conversation_id TEXT NOT NULL,"
     "  seq INTEGER NOT NULL,"
     "  sender_id TEXT NOT NULL,"
     "  text TEXT NOT NULL,"
     "  client_msg_id TEXT NOT NULL,"
     "  thread_root_id TEXT,"
     "  reply_count INTEGER NOT NULL DEFAULT 0,"
     "  reaction_count INTEGER NOT NULL DEFAULT 0,"
     "  created_at INTEGER NOT NULL,"
     "  edited_at INTEGER,"
     "  deleted INTEGER NOT NULL DEFAULT 0,"
     "  UNIQUE (conversation_id, seq),"
     "  UNIQUE (conversation_id, sender_id, client_msg_id));"
     "CREATE INDEX messages_thread ON messages(thread_root_id, seq)"
     "  WHERE thread_root_id IS NOT NULL;"
     "CREATE TABLE reactions ("
     "  message_pk INTEGER NOT NULL,"
     "  emoji TEXT NOT NULL,"
     "  user_id TEXT NOT NULL,"
     "  UNIQUE (message_pk, emoji, user_id));"
     "CREATE TABLE pins ("
     "  conversation_id TEXT NOT NULL,"
     "  message_id TEXT NOT NULL,"
     "  pinned_by TEXT NOT NULL,"
     "  pinned_at INTEGER NOT NULL,"
     "  PRIMARY KEY (conversation_id, message_id));"},
    {2, "UPDATE conversations SET channel_name = NULL WHERE visibility != 0;"},
    {3,
     "UPDATE members SET role = 2 WHERE conversation_id IN"
     " (SELECT id FROM conversations WHERE type = 0);"},
    // encode_attachments / encode_previews JSON; NULL for none.
    {4,
     "ALTER TABLE messages ADD COLUMN attachments TEXT;"
     "ALTER TABLE messages ADD COLUMN previews TEXT;"},
    // Mentions: the message keeps its list (encode_mention_ids, NULL for none); mention_count
    // reads message_mentions (one row per mentioned member other than the sender) and the
    // partial index of messages that mention everyone, both range scans from last_read_seq.
    {5,
     "ALTER TABLE messages ADD COLUMN mentions TEXT;"
     "ALTER TABLE messages ADD COLUMN mention_all INTEGER NOT NULL DEFAULT 0;"
     "CREATE TABLE message_mentions ("
     "  conversation_id TEXT NOT NULL,"
     "  user_id TEXT NOT NULL,"
     "  seq INTEGER NOT NULL,"
     "  PRIMARY KEY (conversation_id, user_id, seq)) WITHOUT ROWID;"
     "CREATE INDEX message_mentions_by_seq ON message_mentions(conversation_id, seq);"
     "CREATE INDEX messages_mention_all ON messages(conversation_id, seq)"
     "  WHERE mention_all = 1;"},
    {6,
     "ALTER TABLE members ADD COLUMN starred INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE conversations ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;"
     "CREATE TABLE saved_messages ("
     "  pos INTEGER PRIMARY KEY,"
     "  user_id TEXT NOT NULL,"
     "  message_id TEXT NOT NULL,"
     "  saved_at INTEGER NOT NULL,"
     "  UNIQUE (user_id, message_id));"
     "CREATE INDEX saved_messages_by_user ON saved_messages(user_id, pos);"},
};

constexpr const char* kConvColumns =
    "c.id, c.type, c.name, c.topic, c.visibility, c.member_count, c.last_seq, c.last_message_at,"
    " c.created_by, c.created_at, c.archived";
constexpr const char* kMsgColumns =
    "pk, id, conversation_id, seq, sender_id, text, client_msg_id, thread_root_id, reply_count,"
    " reaction_count, created_at, edited_at, deleted, attachments, previews, mentions,"
    " mention_all";

Conversation row_to_conversation(const Stmt& s, int at = 0) {
  Conversation c;
  c.id = s.text(at);
  c.type = static_cast<ConversationType>(s.integer(at + 1));
  c.name = s.text(at + 2);
  c.topic = s.text(at + 3);
  c.visibility = s.integer(at + 4) == 0 ? Visibility::public_ : Visibility::private_;
  c.member_count = s.integer(at + 5);
  c.last_seq = s.integer(at + 6);
  c.last_message_at = s.integer(at + 7);
  c.created_by = s.text(at + 8);
  c.created_at = s.integer(at + 9);
  c.archived = s.integer(at + 10) != 0;
  return c;
}

int visibility_code(Visibility v) { return v == Visibility::public_ ? 0 : 1; }

// A message row plus what the reactions query needs.
struct Row {
  std::int64_t pk = 0;
  std::int64_t reaction_count = 0;
  Message m;
};

Row row_to_message(const Stmt& s) {
  Row r;
  r.pk = s.integer(0);
  r.m.id = s.text(1);
  r.m.conversation_id = s.text(2);
  r.m.seq = s.integer(3);
  r.m.sender_id = s.text(4);
  r.m.text = s.text(5);
  r.m.client_msg_id = s.text(6);
  if (!s.is_null(7)) r.m.thread_root_id = s.text(7);
  r.m.reply_count = s.integer(8);
  r.reaction_count = s.integer(9);
  r.m.created_at = s.integer(10);
  if (!s.is_null(11)) r.m.edited_at = s.integer(11);
  r.m.deleted = s.integer(12) != 0;
  if (!s.is_null(13)) r.m.attachments = decode_attachments(s.text(13));
  if (!s.is_null(14)) r.m.previews = decode_previews(s.text(14));
  if (!s.is_null(15)) r.m.mentions.user_ids = decode_mention_ids(s.text(15));
  r.m.mentions.all = s.integer(16) != 0;
  return r;
}

// Fills reactions (ordered by first use) for rows that have any.
void fill_reactions(Connection& c, Row& r, const std::string& viewer) {
  if (r.reaction_count == 0) return;
  auto q = c.prepare(
      "SELECT emoji, count(*), max(user_id = ?2), min(rowid) AS first FROM reactions"
      " WHERE message_pk = ?1 GROUP BY emoji ORDER BY first");
  q.bind(1, r.pk).bind(2, viewer);
  while (q.step()) r.m.reactions.push_back({q.text(0), q.integer(1), q.integer(2) != 0});
}

std::vector<Message> collect(Connection& c, Stmt& q, const std::string& viewer, bool reverse) {
  std::vector<Row> rows;
  while (q.step()) rows.push_back(row_to_message(q));
  if (reverse) std::reverse(rows.begin(), rows.end());
  std::vector<Message> out;
  out.reserve(rows.size());
  for (auto& r : rows) {
    fill_reactions(c, r, viewer);
    out.push_back(std::move(r.m));
  }
  return out;
}

std::optional<Row> message_by_id(Connection& c, const std::string& id) {
  auto q = c.prepare(std::string("SELECT ") + kMsgColumns + " FROM messages WHERE id = ?");
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return row_to_message(q);
}

std::int64_t unread_count(Connection& c, const std::string& cid, const std::string& user,
                          std::int64_t last_read, std::int64_t last_seq) {
  if (last_read >= last_seq) return 0;
  auto q = c.prepare(
      "SELECT count(*) FROM (SELECT 1 FROM messages WHERE conversation_id = ?1 AND seq > ?2"
      " AND sender_id <> ?3 AND deleted = 0 LIMIT ?4)");
  q.bind(1, cid).bind(2, last_read).bind(3, user).bind(4, kUnreadCountCap);
  q.step();
  return q.integer(0);
}

// Unread messages that mention user or everyone, up to the cap. A tombstone has no mentions,
// and message_mentions holds no row for a sender's own message.
std::int64_t mention_count(Connection& c, const std::string& cid, const std::string& user,
                           std::int64_t last_read, std::int64_t last_seq) {
  if (last_read >= last_seq) return 0;
  auto q = c.prepare(
      "SELECT count(*) FROM (SELECT seq FROM message_mentions WHERE conversation_id = ?1"
      " AND user_id = ?3 AND seq > ?2 UNION SELECT seq FROM messages WHERE conversation_id = ?1"
      " AND mention_all = 1 AND seq > ?2 AND sender_id <> ?3 LIMIT ?4)");
  q.bind(1, cid).bind(2, last_read).bind(3, user).bind(4, kUnreadCountCap);
  q.step();
  return q.integer(0);
}

std::optional<std::string> mention_ids_or_null(const Mentions& m) {
  if (m.user_ids.empty()) return std::nullopt;
  return encode_mention_ids(m.user_ids);
}

// The message_mentions rows of message (cid, seq): its mentioned members but the sender.
void insert_mention_rows(Connection& c, const std::string& cid, std::int64_t seq,
                         const std::string& sender, const Mentions& m) {
  auto q = c.prepare(
      "INSERT OR IGNORE INTO message_mentions (conversation_id, user_id, seq) VALUES (?, ?, ?)");
  for (const auto& id : m.user_ids) {
    if (id == sender) continue;
    q.bind(1, cid).bind(2, id).bind(3, seq);
    q.exec();
  }
}

std::string like_contains(const std::string& s) {
  std::string p = "%";
  for (char ch : s) {
    if (ch == '%' || ch == '_' || ch == '\\') p += '\\';
    p += ch;
  }
  return p + "%";
}

void insert_members(Connection& c, const std::string& cid, const std::vector<Member>& members,
                    int& added) {
  auto q = c.prepare(
      "INSERT OR IGNORE INTO members (conversation_id, user_id, role, joined_at)"
      " VALUES (?, ?, ?, ?)");
  for (const auto& m : members) {
    q.bind(1, cid).bind(2, m.user_id).bind(3, static_cast<int>(m.role)).bind(4, m.joined_at);
    added += q.exec();
  }
}

class SqliteMessagingStore final : public MessagingStore {
 public:
  explicit SqliteMessagingStore(Database& db) : db_(db) {}

  void add_append_hook(AppendHook hook) override { hooks_.push_back(std::move(hook)); }

  Result<void> create_conversation(const Conversation& conv,
                                   const std::vector<Member>& members) override {
    return db_.write([&](Connection& c) -> Result<void> {
      try {
        insert_conversation(c, conv, nullptr);
      } catch (const std::exception& e) {
        if (is_unique_violation(e))
          return fail(Errc::already_exists, "a channel with this name exists", "name");
        throw;
      }
      int added = 0;
      insert_members(c, conv.id, members, added);
      set_member_count(c, conv.id, added);
      return ok();
    });
  }

  Result<std::pair<Conversation, bool>> find_or_create_dm(const Conversation& proposed,
                                                          const std::string& a,
                                                          const std::string& b) override {
    std::string key = a < b ? a + "|" + b : b + "|" + a;
    return db_.write_value([&](Connection& c) -> Result<std::pair<Conversation, bool>> {
      auto q = c.prepare(std::string("SELECT ") + kConvColumns +
                         " FROM conversations c WHERE dm_key = ?");
      q.bind(1, key);
      if (q.step()) return std::make_pair(row_to_conversation(q), false);
      insert_conversation(c, proposed, &key);
      int added = 0;
      std::vector<Member> members{{a, Role::member, proposed.created_at}};  // a DM has no owner
      if (b != a) members.push_back({b, Role::member, proposed.created_at});
      insert_members(c, proposed.id, members, added);
      set_member_count(c, proposed.id, added);
      Conversation created = proposed;
      created.member_count = added;
      return std::make_pair(std::move(created), true);
    });
  }

  Result<Conversation> get_conversation(const std::string& id) override {
    return db_.read_value([&](Connection& c) -> Result<Conversation> {
      auto found = conversation_by_id(c, id);
      if (!found) return fail(Errc::not_found, "conversation not found");
      return std::move(*found);
    });
  }

  Result<ConversationView> view(const std::string& id, const std::string& viewer,
                                bool count_unread) override {
    return db_.read_value([&](Connection& c) -> Result<ConversationView> {
      auto conv = conversation_by_id(c, id);
      if (!conv) return fail(Errc::not_found, "conversation not found");
      ConversationView v;
      v.conversation = std::move(*conv);
      v.me = membership_of(c, id, viewer);
      if (v.me && count_unread) {
        v.unread_count =
            unread_count(c, id, viewer, v.me->last_read_seq, v.conversation.last_seq);
        v.mention_count =
            mention_count(c, id, viewer, v.me->last_read_seq, v.conversation.last_seq);
      }
      return v;
    });
  }

  Result<std::vector<ConversationView>> list_for_user(
      const std::string& user_id, int limit, const std::optional<ActivityCursor>& after) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<ConversationView>> {
      std::vector<ConversationView> out;
      auto q = c.prepare(std::string("SELECT ") + kConvColumns +
                         ", m.role, m.joined_at, m.last_read_seq, m.muted, m.starred"
                         " FROM members m JOIN conversations c ON c.id = m.conversation_id"
                         " WHERE m.user_id = ?1 AND (?2 = 0 OR c.activity < ?3 OR"
                         " (c.activity = ?3 AND c.id < ?4))"
                         " ORDER BY c.activity DESC, c.id DESC LIMIT ?5");
      q.bind(1, user_id)
          .bind(2, after ? 1 : 0)
          .bind(3, after ? after->activity : 0)
          .bind(4, after ? after->id : std::string())
          .bind(5, limit);
      while (q.step()) {
        ConversationView v;
        v.conversation = row_to_conversation(q);
        Membership m;
        m.role = static_cast<Role>(q.integer(11));
        m.joined_at = q.integer(12);
        m.last_read_seq = q.integer(13);
        m.muted = q.integer(14) != 0;
        m.starred = q.integer(15) != 0;
        v.me = m;
        out.push_back(std::move(v));
      }
      for (auto& v : out) {
        v.unread_count = unread_count(c, v.conversation.id, user_id, v.me->last_read_seq,
                                      v.conversation.last_seq);
        v.mention_count = mention_count(c, v.conversation.id, user_id, v.me->last_read_seq,
                                        v.conversation.last_seq);
      }
      return out;
    });
  }

  Result<std::vector<Conversation>> list_public_channels(
      const std::string& contains, int limit, const std::optional<std::string>& after_name) override {
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
    return db_.read_value([&](Connection& c) -> Result<std::vector<Conversation>> {
      std::vector<Conversation> out;
      auto q = c.prepare(std::string("SELECT ") + kConvColumns +
                         " FROM conversations c WHERE c.type = 2 AND (?5 = 1 OR c.visibility = 0)"
                         " AND c.name LIKE ?1 ESCAPE '\\'"
                         " AND (?2 = 0 OR c.name > ?3 COLLATE NOCASE)"
                         " ORDER BY c.name COLLATE NOCASE LIMIT ?4");
      q.bind(1, like_contains(contains))
          .bind(2, after_name ? 1 : 0)
          .bind(3, after_name.value_or(""))
          .bind(4, limit)
          .bind(5, include_private ? 1 : 0);
      while (q.step()) out.push_back(row_to_conversation(q));
      return out;
    });
  }

  Result<std::vector<std::string>> conversation_ids_of(const std::string& user_id) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<std::string>> {
      std::vector<std::string> out;
      auto q = c.prepare("SELECT conversation_id FROM members WHERE user_id = ?");
      q.bind(1, user_id);
      while (q.step()) out.push_back(q.text(0));
      return out;
    });
  }

  Result<std::vector<std::string>> co_members(const std::string& user_id,
                                              const std::vector<std::string>& candidates) override {
    const std::string ids_json = json_list(candidates);
    return db_.read_value([&](Connection& c) -> Result<std::vector<std::string>> {
      std::vector<std::string> out;
      auto q = c.prepare(
          "SELECT DISTINCT them.user_id FROM members me"
          " JOIN members them ON them.conversation_id = me.conversation_id"
          " WHERE me.user_id = ?1 AND them.user_id IN (SELECT value FROM json_each(?2))");
      q.bind(1, user_id).bind(2, ids_json);
      while (q.step()) out.push_back(q.text(0));
      return out;
    });
  }

  Result<Conversation> update_conversation(const std::string& id,
                                           const std::optional<std::string>& name,
                                           const std::optional<std::string>& topic) override {
    auto updated = db_.write_value([&](Connection& c) -> Result<std::optional<Conversation>> {
      try {
        c.prepare(
             "UPDATE conversations SET name = coalesce(?1, name), topic = coalesce(?2, topic),"
             " channel_name = CASE WHEN type = 2 AND visibility = 0 THEN coalesce(?1, name) END"
             " WHERE id = ?3")
            .bind(1, name)
            .bind(2, topic)
            .bind(3, id)
            .exec();
      } catch (const std::exception& e) {
        if (is_unique_violation(e))
          return fail(Errc::already_exists, "a channel with this name exists", "name");
        throw;
      }
      return conversation_by_id(c, id);
    });
    return found_or(std::move(updated), Errc::not_found, "conversation not found");
  }

  Result<std::optional<Membership>> membership(const std::string& conversation_id,
                                               const std::string& user_id) override {
    return db_.read_value([&](Connection& c) -> Result<std::optional<Membership>> {
      return membership_of(c, conversation_id, user_id);
    });
  }

  Result<std::vector<Member>> add_members(const std::string& conversation_id,
                                          const std::vector<Member>& members,
                                          std::int64_t max_members) override {
    return db_.write_value([&](Connection& c) -> Result<std::vector<Member>> {
      std::vector<Member> added;
      auto conv = conversation_by_id(c, conversation_id);
      if (!conv) return fail(Errc::not_found, "conversation not found");
      for (const auto& m : members) {
        int n = 0;
        insert_members(c, conversation_id, {m}, n);
        if (n) added.push_back(m);
      }
      if (conv->member_count + static_cast<std::int64_t>(added.size()) > max_members)
        return fail(Errc::failed_precondition, "too many members");
      set_member_count(c, conversation_id, static_cast<int>(added.size()));
      return added;
    });
  }

  Result<bool> remove_member(const std::string& conversation_id,
                             const std::string& user_id) override {
    return db_.write_value([&](Connection& c) -> Result<bool> {
      auto q = c.prepare("DELETE FROM members WHERE conversation_id = ? AND user_id = ?");
      q.bind(1, conversation_id).bind(2, user_id);
      if (q.exec() == 0) return false;
      set_member_count(c, conversation_id, -1);
      // Someone must own what remains: the longest-standing admin, else member, inherits.
      auto owners =
          c.prepare("SELECT count(*) FROM members WHERE conversation_id = ? AND role = 0");
      owners.bind(1, conversation_id);
      owners.step();
      if (owners.integer(0) == 0)
        c.prepare(
             "UPDATE members SET role = 0 WHERE pos ="
             " (SELECT pos FROM members WHERE conversation_id = ? ORDER BY role, pos LIMIT 1)")
            .bind(1, conversation_id)
            .exec();
      return true;
    });
  }

  Result<Member> set_role(const std::string& conversation_id, const std::string& user_id,
                          Role role) override {
    auto member = db_.write_value([&](Connection& c) -> Result<std::optional<Member>> {
      auto q = c.prepare(
          "UPDATE members SET role = ?1 WHERE conversation_id = ?2 AND user_id = ?3"
          " RETURNING joined_at");
      q.bind(1, static_cast<int>(role)).bind(2, conversation_id).bind(3, user_id);
      std::optional<Member> m;
      if (q.step()) m = Member{user_id, role, q.integer(0)};
      while (q.step()) {
      }
      return m;
    });
    return found_or(std::move(member), Errc::not_found, "not a member");
  }

  Result<std::vector<std::pair<Member, std::int64_t>>> list_members(
      const std::string& conversation_id, int limit, std::int64_t after_position) override {
    return db_.read_value([&](Connection& c)
                              -> Result<std::vector<std::pair<Member, std::int64_t>>> {
      std::vector<std::pair<Member, std::int64_t>> out;
      auto q = c.prepare(
          "SELECT user_id, role, joined_at, pos FROM members WHERE conversation_id = ?"
          " AND pos > ? ORDER BY pos LIMIT ?");
      q.bind(1, conversation_id).bind(2, after_position).bind(3, limit);
      while (q.step())
        out.push_back({Member{q.text(0), static_cast<Role>(q.integer(1)), q.integer(2)},
                       q.integer(3)});
      return out;
    });
  }

  Result<Appended> append(const NewMessage& m) override {
    auto out = db_.write_value([&](Connection& c) { return append_in(c, m, hooks_); });
    if (out && out->created) committed();
    return out;
  }

  void append_async(const NewMessage& m, AppendDone done) override {
    // write_async's function answers only success or failure: the appended message waits in out
    // for done.
    auto out = std::make_shared<std::optional<Appended>>();
    db_.write_async(
        [this, m, out](Connection& c) -> Result<void> {
          auto appended = append_in(c, m, hooks_);
          if (!appended) return fail(std::move(appended.error()));
          *out = std::move(*appended);
          return ok();
        },
        [this, out, done = std::move(done)](Result<void> r) {
          if (!r) return done(fail(r.error()));
          if ((*out)->created) committed();
          done(std::move(**out));
        });
  }

  Result<Message> get_message(const std::string& id, const std::string& viewer) override {
    return db_.read_value([&](Connection& c) -> Result<Message> {
      auto row = message_by_id(c, id);
      if (!row) return fail(Errc::not_found, "message not found");
      fill_reactions(c, *row, viewer);
      return std::move(row->m);
    });
  }

  Result<MessagePage> history(const std::string& conversation_id, const HistoryQuery& hq,
                              const std::string& viewer) override {
    return db_.read_value([&](Connection& c) -> Result<MessagePage> {
      MessagePage page;
      if (hq.after_seq) {
        auto q = c.prepare(std::string("SELECT ") + kMsgColumns +
                           " FROM messages WHERE conversation_id = ? AND seq > ?"
                           " ORDER BY seq LIMIT ?");
        q.bind(1, conversation_id).bind(2, *hq.after_seq).bind(3, hq.limit + 1);
        page.messages = collect(c, q, viewer, false);
        if (static_cast<int>(page.messages.size()) > hq.limit) {
          page.messages.pop_back();
          page.has_more = true;
        }
      } else {
        auto q = c.prepare(std::string("SELECT ") + kMsgColumns +
                           " FROM messages WHERE conversation_id = ? AND seq < ?"
                           " ORDER BY seq DESC LIMIT ?");
        q.bind(1, conversation_id)
            .bind(2, hq.before_seq.value_or(std::numeric_limits<std::int64_t>::max()))
            .bind(3, hq.limit + 1);
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
    return db_.read_value([&](Connection& c) -> Result<MessagePage> {
      MessagePage page;
      auto q = c.prepare(std::string("SELECT ") + kMsgColumns +
                         " FROM messages WHERE thread_root_id = ? AND seq > ?"
                         " ORDER BY seq LIMIT ?");
      q.bind(1, root_id).bind(2, after_seq).bind(3, limit + 1);
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
    return db_.write_value([&](Connection& c) -> Result<Message> {
      auto n = c.prepare(
                    "UPDATE messages SET text = ?, edited_at = ?, previews = NULL, mentions = ?,"
                    " mention_all = ? WHERE id = ? AND deleted = 0")
                   .bind(1, text)
                   .bind(2, edited_at)
                   .bind(3, mention_ids_or_null(mentions))
                   .bind(4, mentions.all ? 1 : 0)
                   .bind(5, id)
                   .exec();
      if (n == 0) return fail(Errc::failed_precondition, "the message was deleted");
      auto row = message_by_id(c, id);
      c.prepare("DELETE FROM message_mentions WHERE conversation_id = ? AND seq = ?")
          .bind(1, row->m.conversation_id)
          .bind(2, row->m.seq)
          .exec();
      insert_mention_rows(c, row->m.conversation_id, row->m.seq, row->m.sender_id, mentions);
      return std::move(row->m);
    });
  }

  Result<Message> set_previews(const std::string& id,
                               const std::vector<LinkPreview>& previews) override {
    return set_json_column(id, "UPDATE messages SET previews = ? WHERE id = ? AND deleted = 0",
                           previews.empty() ? "" : encode_previews(previews));
  }

  Result<Message> set_attachments(const std::string& id,
                                  const std::vector<Attachment>& attachments) override {
    return set_json_column(id, "UPDATE messages SET attachments = ? WHERE id = ? AND deleted = 0",
                           encode_attachments(attachments));
  }

  // A live message's previews or attachments column ("" stores NULL): update (binding the value
  // then the id), the message as it now is.
  Result<Message> set_json_column(const std::string& id, const char* update,
                                  const std::string& json) {
    return db_.write_value([&](Connection& c) -> Result<Message> {
      auto n = c.prepare(update)
                   .bind(1, json.empty() ? std::optional<std::string>()
                                         : std::optional<std::string>(json))
                   .bind(2, id)
                   .exec();
      if (n == 0) {
        if (!message_by_id(c, id)) return fail(Errc::not_found, "message not found");
        return fail(Errc::failed_precondition, "the message was deleted");
      }
      auto row = message_by_id(c, id);
      fill_reactions(c, *row, "");
      return std::move(row->m);
    });
  }

  Result<std::pair<Message, bool>> remove_message(const std::string& id) override {
    return db_.write_value([&](Connection& c) -> Result<std::pair<Message, bool>> {
      auto row = message_by_id(c, id);
      if (!row) return fail(Errc::not_found, "message not found");
      bool changed = false;
      if (!row->m.deleted) {
        c.prepare(
             "UPDATE messages SET text = '', deleted = 1, reaction_count = 0, mentions = NULL,"
             " mention_all = 0 WHERE pk = ?")
            .bind(1, row->pk)
            .exec();
        c.prepare("DELETE FROM reactions WHERE message_pk = ?").bind(1, row->pk).exec();
        c.prepare("DELETE FROM pins WHERE message_id = ?").bind(1, id).exec();
        c.prepare("DELETE FROM message_mentions WHERE conversation_id = ? AND seq = ?")
            .bind(1, row->m.conversation_id)
            .bind(2, row->m.seq)
            .exec();
        row->m.text.clear();
        row->m.mentions = {};
        row->m.deleted = true;
        changed = true;
      }
      return std::make_pair(std::move(row->m), changed);
    });
  }

  Result<bool> add_reaction(const std::string& message_id, const std::string& user_id,
                            const std::string& emoji, int max_distinct) override {
    return db_.write_value([&](Connection& c) -> Result<bool> {
      auto row = message_by_id(c, message_id);
      if (!row) return fail(Errc::not_found, "message not found");
      if (row->m.deleted) return fail(Errc::failed_precondition, "the message was deleted");
      auto known = c.prepare("SELECT 1 FROM reactions WHERE message_pk = ? AND emoji = ? LIMIT 1");
      known.bind(1, row->pk).bind(2, emoji);
      if (!known.step()) {
        auto distinct =
            c.prepare("SELECT count(DISTINCT emoji) FROM reactions WHERE message_pk = ?");
        distinct.bind(1, row->pk);
        distinct.step();
        if (distinct.integer(0) >= max_distinct)
          return fail(Errc::failed_precondition, "too many different reactions");
      }
      const bool changed =
          c.prepare("INSERT OR IGNORE INTO reactions (message_pk, emoji, user_id) VALUES (?, ?, ?)")
              .bind(1, row->pk)
              .bind(2, emoji)
              .bind(3, user_id)
              .exec() > 0;
      if (changed)
        c.prepare("UPDATE messages SET reaction_count = reaction_count + 1 WHERE pk = ?")
            .bind(1, row->pk)
            .exec();
      return changed;
    });
  }

  Result<bool> remove_reaction(const std::string& message_id, const std::string& user_id,
                               const std::string& emoji) override {
    return db_.write_value([&](Connection& c) -> Result<bool> {
      auto row = message_by_id(c, message_id);
      if (!row) return fail(Errc::not_found, "message not found");
      const bool changed =
          c.prepare("DELETE FROM reactions WHERE message_pk = ? AND emoji = ? AND user_id = ?")
              .bind(1, row->pk)
              .bind(2, emoji)
              .bind(3, user_id)
              .exec() > 0;
      if (changed)
        c.prepare("UPDATE messages SET reaction_count = reaction_count - 1 WHERE pk = ?")
            .bind(1, row->pk)
            .exec();
      return changed;
    });
  }

  // The one write of a read marker: mark_read only moves it forward (up to last_seq);
  // set_read_marker (mark as unread) may also move it back (down to 0).
  Result<ReadState> write_read_marker(const std::string& conversation_id,
                                      const std::string& user_id, std::int64_t seq,
                                      bool may_move_back) {
    return db_.write_value([&](Connection& c) -> Result<ReadState> {
      ReadState out;
      auto q = c.prepare(
          "SELECT m.last_read_seq, c.last_seq FROM members m JOIN conversations c"
          " ON c.id = m.conversation_id WHERE m.conversation_id = ? AND m.user_id = ?");
      q.bind(1, conversation_id).bind(2, user_id);
      if (!q.step()) return fail(Errc::not_found, "not a member");
      std::int64_t last_read = q.integer(0), last_seq = q.integer(1);
      const std::int64_t target = std::clamp<std::int64_t>(seq, 0, last_seq);
      if (target > last_read || (may_move_back && target != last_read)) {
        c.prepare("UPDATE members SET last_read_seq = ? WHERE conversation_id = ? AND user_id = ?")
            .bind(1, target)
            .bind(2, conversation_id)
            .bind(3, user_id)
            .exec();
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
    return db_.write_value([&](Connection& c) -> Result<bool> {
      auto q = c.prepare("SELECT starred FROM members WHERE conversation_id = ? AND user_id = ?");
      q.bind(1, conversation_id).bind(2, user_id);
      if (!q.step()) return fail(Errc::not_found, "not a member");
      if ((q.integer(0) != 0) == starred) return false;
      c.prepare("UPDATE members SET starred = ? WHERE conversation_id = ? AND user_id = ?")
          .bind(1, starred ? 1 : 0)
          .bind(2, conversation_id)
          .bind(3, user_id)
          .exec();
      return true;
    });
  }

  Result<std::pair<Conversation, bool>> set_archived(const std::string& conversation_id,
                                                     bool archived) override {
    using Archived = std::pair<Conversation, bool>;
    auto out = db_.write_value([&](Connection& c) -> Result<std::optional<Archived>> {
      const bool changed =
          c.prepare("UPDATE conversations SET archived = ?1 WHERE id = ?2 AND archived <> ?1")
              .bind(1, archived ? 1 : 0)
              .bind(2, conversation_id)
              .exec() > 0;
      auto conv = conversation_by_id(c, conversation_id);
      if (!conv) return std::nullopt;
      return Archived{std::move(*conv), changed};
    });
    return found_or(std::move(out), Errc::not_found, "conversation not found");
  }

  Result<bool> set_saved(const std::string& user_id, const std::string& message_id, bool saved,
                         Millis at) override {
    return db_.write_value([&](Connection& c) -> Result<bool> {
      bool changed = false;
      if (saved)
        changed = c.prepare(
                       "INSERT OR IGNORE INTO saved_messages (user_id, message_id, saved_at)"
                       " VALUES (?, ?, ?)")
                      .bind(1, user_id)
                      .bind(2, message_id)
                      .bind(3, at)
                      .exec() > 0;
      else
        changed = c.prepare("DELETE FROM saved_messages WHERE user_id = ? AND message_id = ?")
                      .bind(1, user_id)
                      .bind(2, message_id)
                      .exec() > 0;
      return changed;
    });
  }

  Result<std::vector<SavedMessage>> list_saved(const std::string& user_id, int limit,
                                               std::optional<std::int64_t> before) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<SavedMessage>> {
      std::vector<SavedMessage> out;
      auto q = c.prepare(std::string("SELECT ") + kMsgColumns +
                         ", s.pos FROM saved_messages s JOIN messages ON messages.id = s.message_id"
                         " WHERE s.user_id = ?1 AND s.pos < ?2 AND messages.deleted = 0 AND"
                         " (EXISTS (SELECT 1 FROM members mb WHERE"
                         "   mb.conversation_id = messages.conversation_id AND mb.user_id = ?1)"
                         "  OR EXISTS (SELECT 1 FROM conversations cv WHERE"
                         "   cv.id = messages.conversation_id AND cv.type = 2 AND"
                         "   cv.visibility = 0))"
                         " ORDER BY s.pos DESC LIMIT ?3");
      q.bind(1, user_id)
          .bind(2, before.value_or(std::numeric_limits<std::int64_t>::max()))
          .bind(3, limit);
      while (q.step()) {
        Row row = row_to_message(q);
        std::int64_t pos = q.integer(17);
        fill_reactions(c, row, user_id);
        out.push_back({std::move(row.m), pos});
      }
      return out;
    });
  }

  Result<bool> pin(const std::string& conversation_id, const std::string& message_id,
                   const std::string& by, Millis at, int max_pins) override {
    return db_.write_value([&](Connection& c) -> Result<bool> {
      auto known = c.prepare("SELECT 1 FROM pins WHERE conversation_id = ? AND message_id = ?");
      known.bind(1, conversation_id).bind(2, message_id);
      if (known.step()) return false;
      auto count = c.prepare("SELECT count(*) FROM pins WHERE conversation_id = ?");
      count.bind(1, conversation_id);
      count.step();
      if (count.integer(0) >= max_pins)
        return fail(Errc::failed_precondition, "too many pins");
      c.prepare("INSERT INTO pins (conversation_id, message_id, pinned_by, pinned_at)"
                " VALUES (?, ?, ?, ?)")
          .bind(1, conversation_id)
          .bind(2, message_id)
          .bind(3, by)
          .bind(4, at)
          .exec();
      return true;
    });
  }

  Result<bool> unpin(const std::string& conversation_id, const std::string& message_id) override {
    return db_.write_value([&](Connection& c) -> Result<bool> {
      return c.prepare("DELETE FROM pins WHERE conversation_id = ? AND message_id = ?")
                 .bind(1, conversation_id)
                 .bind(2, message_id)
                 .exec() > 0;
    });
  }

  Result<std::vector<Message>> pins(const std::string& conversation_id,
                                    const std::string& viewer) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<Message>> {
      auto q = c.prepare(std::string("SELECT ") + kMsgColumns +
                         " FROM messages JOIN (SELECT message_id, pinned_at, rowid AS r FROM pins"
                         " WHERE conversation_id = ?) p ON messages.id = p.message_id"
                         " ORDER BY p.pinned_at DESC, p.r DESC");
      q.bind(1, conversation_id);
      return collect(c, q, viewer, false);
    });
  }

 private:
  // After a commit that stored a new message: the hooks' signals (their jobs are durable now).
  void committed() const {
    for (const auto& h : hooks_)
      if (h.committed) h.committed();
  }

  // The append itself, inside the writer's transaction. The hooks' jobs go into the outbox in
  // the same transaction (savepoint) as the message.
  static Result<Appended> append_in(Connection& c, const NewMessage& m,
                                    const std::vector<AppendHook>& hooks) {
    auto dup = c.prepare(std::string("SELECT ") + kMsgColumns +
                         " FROM messages WHERE conversation_id = ? AND sender_id = ? AND"
                         " client_msg_id = ?");
    dup.bind(1, m.conversation_id).bind(2, m.sender_id).bind(3, m.client_msg_id);
    if (dup.step()) {
      Row row = row_to_message(dup);
      fill_reactions(c, row, m.sender_id);
      return Appended{std::move(row.m), false};
    }
    if (m.thread_root_id) {
      auto root = message_by_id(c, *m.thread_root_id);
      if (!root || root->m.conversation_id != m.conversation_id || root->m.thread_root_id ||
          root->m.deleted)
        return fail(Errc::invalid_argument,
                    "thread_root_id is not a message of this conversation", "thread_root_id");
    }
    // Membership is checked here, in the write, not only before it: a member removed while
    // the send waited for the writer cannot post.
    auto member = c.prepare("SELECT 1 FROM members WHERE conversation_id = ? AND user_id = ?");
    member.bind(1, m.conversation_id).bind(2, m.sender_id);
    if (!member.step()) return fail(Errc::not_found, "conversation not found");
    auto next = c.prepare(
        "UPDATE conversations SET last_seq = last_seq + 1, last_message_at = ?1,"
        " activity = ?1 WHERE id = ?2 RETURNING last_seq");
    next.bind(1, m.created_at).bind(2, m.conversation_id);
    if (!next.step()) return fail(Errc::not_found, "conversation not found");
    std::int64_t seq = next.integer(0);
    while (next.step()) {
    }
    c.prepare(
         "INSERT INTO messages (id, conversation_id, seq, sender_id, text, client_msg_id,"
         " thread_root_id, created_at, attachments, mentions, mention_all)"
         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(1, m.id)
        .bind(2, m.conversation_id)
        .bind(3, seq)
        .bind(4, m.sender_id)
        .bind(5, m.text)
        .bind(6, m.client_msg_id)
        .bind(7, m.thread_root_id)
        .bind(8, m.created_at)
        .bind(9, m.attachments.empty()
                     ? std::optional<std::string>()
                     : std::optional<std::string>(encode_attachments(m.attachments)))
        .bind(10, mention_ids_or_null(m.mentions))
        .bind(11, m.mentions.all ? 1 : 0)
        .exec();
    insert_mention_rows(c, m.conversation_id, seq, m.sender_id, m.mentions);
    if (m.thread_root_id)
      c.prepare("UPDATE messages SET reply_count = reply_count + 1 WHERE id = ?")
          .bind(1, *m.thread_root_id)
          .exec();
    c.prepare(
         "UPDATE members SET last_read_seq = ?1 WHERE conversation_id = ?2 AND user_id = ?3"
         " AND last_read_seq < ?1")
        .bind(1, seq)
        .bind(2, m.conversation_id)
        .bind(3, m.sender_id)
        .exec();
    Appended out = appended_as(m, seq);
    for (const auto& h : hooks) {
      if (!h.produce) continue;
      auto jobs = h.produce(out.message);
      if (!jobs.empty()) insert_job_rows(c, jobs, m.created_at);
    }
    return out;
  }

  static void insert_conversation(Connection& c, const Conversation& conv,
                                  const std::string* dm_key) {
    auto q = c.prepare(
        "INSERT INTO conversations (id, type, name, topic, visibility, activity, created_by,"
        " created_at, dm_key, channel_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    q.bind(1, conv.id)
        .bind(2, static_cast<int>(conv.type))
        .bind(3, conv.name)
        .bind(4, conv.topic)
        .bind(5, visibility_code(conv.visibility))
        .bind(6, conv.created_at)
        .bind(7, conv.created_by)
        .bind(8, conv.created_at);
    if (dm_key)
      q.bind(9, *dm_key);
    else
      q.bind_null(9);
    // Names are unique among public channels only: a private channel's name is nobody
    // else's business, and a clash would tell an outsider it exists.
    if (conv.type == ConversationType::channel && conv.visibility == Visibility::public_)
      q.bind(10, conv.name);
    else
      q.bind_null(10);
    q.exec();
  }

  static void set_member_count(Connection& c, const std::string& cid, int delta) {
    c.prepare("UPDATE conversations SET member_count = member_count + ? WHERE id = ?")
        .bind(1, delta)
        .bind(2, cid)
        .exec();
  }

  static std::optional<Conversation> conversation_by_id(Connection& c, const std::string& id) {
    auto q = c.prepare(std::string("SELECT ") + kConvColumns + " FROM conversations c WHERE id = ?");
    q.bind(1, id);
    if (!q.step()) return std::nullopt;
    return row_to_conversation(q);
  }

  static std::optional<Membership> membership_of(Connection& c, const std::string& cid,
                                                 const std::string& user) {
    auto q = c.prepare(
        "SELECT role, joined_at, last_read_seq, muted, starred FROM members"
        " WHERE conversation_id = ? AND user_id = ?");
    q.bind(1, cid).bind(2, user);
    if (!q.step()) return std::nullopt;
    Membership m;
    m.role = static_cast<Role>(q.integer(0));
    m.joined_at = q.integer(1);
    m.last_read_seq = q.integer(2);
    m.muted = q.integer(3) != 0;
    m.starred = q.integer(4) != 0;
    return m;
  }

  Database& db_;
  std::vector<AppendHook> hooks_;
};

}  // namespace

Result<std::unique_ptr<messaging::MessagingStore>> make_messaging_store(Database& db) {
  if (auto m = db.migrate("messaging", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<messaging::MessagingStore>(new SqliteMessagingStore(db));
}

}  // namespace parley::sqlite
