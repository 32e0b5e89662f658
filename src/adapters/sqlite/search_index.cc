// SQLite SearchIndex: an FTS5 table with the trigram tokenizer over the messages table
// (external content), kept in step by triggers, so the index changes in the same transaction as
// the message. Trigrams find any substring of three or more characters, which is what makes
// Chinese and Japanese text (no spaces between words) searchable. Shorter terms cannot use the
// trigram index and are matched with LIKE on the rows the index (or the filters) selected.
//
// This index reads the messaging module's table: the one place where two modules share storage,
// because "indexed in the same transaction" asks for it (docs/decisions.md).
#include <algorithm>
#include <string>

#include "adapters/sqlite/stores.h"
#include "core/json.h"
#include "core/text.h"

namespace parley::sqlite {
namespace {

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE VIRTUAL TABLE message_fts USING fts5(text, content='messages', content_rowid='pk',"
     "  tokenize='trigram');"
     "INSERT INTO message_fts(message_fts) VALUES ('rebuild');"
     "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN"
     "  INSERT INTO message_fts(rowid, text) VALUES (new.pk, new.text);"
     "END;"
     "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN"
     "  INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.pk, old.text);"
     "  INSERT INTO message_fts(rowid, text) VALUES (new.pk, new.text);"
     "END;"
     "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN"
     "  INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.pk, old.text);"
     "END;"},
};

// An FTS5 string literal: the term in double quotes, its own quotes doubled.
std::string fts_phrase(const std::string& term) {
  std::string out = "\"";
  for (char c : term) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string like_contains(const std::string& s) {
  std::string p = "%";
  for (char ch : s) {
    if (ch == '%' || ch == '_' || ch == '\\') p += '\\';
    p += ch;
  }
  return p + "%";
}

class SqliteSearchIndex final : public search::SearchIndex {
  static constexpr int kCandidates = 2'000;

 public:
  explicit SqliteSearchIndex(Database& db) : db_(db) {}

  Result<std::vector<std::string>> find(const search::IndexQuery& q) override {
    std::string match;
    std::vector<std::string> likes;
    for (const auto& t : q.terms) {
      if (text::char_count(t) >= 3) {
        if (!match.empty()) match += " AND ";
        match += fts_phrase(t);
      } else {
        likes.push_back(like_contains(t));
      }
    }
    boost::json::array ids;
    for (const auto& id : q.conversation_ids) ids.emplace_back(id);
    std::string ids_json = json::serialize(ids);

    // The statement's shape depends on which filters are present; each shape is cached.
    std::string filters =
        " AND m.deleted = 0 AND m.conversation_id IN (SELECT value FROM json_each(?2))";
    if (q.sender_id) filters += " AND m.sender_id = ?3";
    if (q.before) filters += " AND m.created_at < ?4";
    if (q.after) filters += " AND m.created_at > ?5";
    for (std::size_t i = 0; i < likes.size(); ++i)
      filters += " AND m.text LIKE ?" + std::to_string(9 + i) + " ESCAPE '\\'";
    std::string sql;
    if (match.empty()) {
      sql = "SELECT m.id FROM messages m WHERE 1" + filters + " ORDER BY m.pk DESC";
    } else {
      // Ranking scores every candidate, so rank only the newest kCandidates matches: a common
      // word costs the same as a rare one, and recent messages are what people look for.
      sql = "SELECT id FROM (SELECT m.id AS id, m.pk AS pk, bm25(message_fts) AS score"
            " FROM message_fts f JOIN messages m ON m.pk = f.rowid WHERE message_fts MATCH ?1" +
            filters + " ORDER BY f.rowid DESC LIMIT ?8) ORDER BY score, pk DESC";
    }
    sql += " LIMIT ?6 OFFSET ?7";

    std::vector<std::string> out;
    auto r = db_.read([&](Connection& c) -> Result<void> {
      auto s = c.prepare(sql);
      if (!match.empty()) s.bind(1, match);
      s.bind(2, ids_json);
      if (q.sender_id) s.bind(3, *q.sender_id);
      if (q.before) s.bind(4, *q.before);
      if (q.after) s.bind(5, *q.after);
      s.bind(6, q.limit).bind(7, q.offset);
      if (!match.empty()) s.bind(8, std::max(kCandidates, q.offset + q.limit));
      for (std::size_t i = 0; i < likes.size(); ++i) s.bind(static_cast<int>(9 + i), likes[i]);
      while (s.step()) out.push_back(s.text(0));
      return ok();
    });
    if (!r) return fail(r.error());
    return out;
  }

 private:
  Database& db_;
};

}  // namespace

Result<std::unique_ptr<search::SearchIndex>> make_search_index(Database& db) {
  if (auto m = db.migrate("search", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<search::SearchIndex>(new SqliteSearchIndex(db));
}

}  // namespace parley::sqlite
