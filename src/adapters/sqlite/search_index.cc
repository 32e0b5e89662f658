// SQLite SearchIndex: an FTS5 table with the trigram tokenizer over the messages' text and their
// voice attachments' transcripts (external content, a view), kept in step by triggers, so the index
// changes in the same transaction as the message. Trigrams find any substring of three or more
// characters, which is what makes Chinese and Japanese text (no spaces between words) searchable.
// Shorter terms cannot use the trigram index and are matched with LIKE on the rows the index (or
// the filters) selected.
//
// This index reads the messaging module's table: the one place where two modules share storage,
// because "indexed in the same transaction" asks for it (docs/decisions.md).
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <string>

#include "adapters/sqlite/stores.h"
#include "core/json.h"
#include "core/metrics.h"
#include "core/text.h"
#include "modules/search/search.h"

namespace parley::sqlite {
namespace {

// What a message is found by: its text, then the transcripts of its voice attachments (the
// "x"."t" of the attachments JSON, messaging/attachments.cc). `row` names the row: "m.", "new.".
std::string searchable(const std::string& row) {
  return "(CASE WHEN " + row + "attachments IS NULL THEN " + row + "text ELSE " + row +
         "text || coalesce(' ' || (SELECT group_concat(json_extract(value, '$.x.t'), ' ')"
         " FROM json_each(" +
         row + "attachments)), '') END)";
}

// Version 3 indexes searchable() through a view, so the index's external content and the
// triggers' 'delete' rows agree; an attachment change (a transcript arriving) re-indexes.
const std::string kTranscriptsIndexed =
    "DROP TRIGGER messages_fts_insert; DROP TRIGGER messages_fts_update;"
    "DROP TRIGGER messages_fts_delete; DROP TABLE message_fts_terms; DROP TABLE message_fts;"
    "CREATE VIEW message_search(pk, text) AS SELECT pk, " +
    searchable("") +
    " FROM messages;"
    "CREATE VIRTUAL TABLE message_fts USING fts5(text, content='message_search',"
    "  content_rowid='pk', tokenize='trigram');"
    // Filled by a plain insert: FTS5's 'rebuild' fails on a view whose column runs json_each.
    "INSERT INTO message_fts(rowid, text) SELECT pk, text FROM message_search;"
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN"
    "  INSERT INTO message_fts(rowid, text) VALUES (new.pk, " +
    searchable("new.") +
    ");"
    "END;"
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, attachments ON messages BEGIN"
    "  INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.pk, " +
    searchable("old.") +
    ");"
    "  INSERT INTO message_fts(rowid, text) VALUES (new.pk, " +
    searchable("new.") +
    ");"
    "END;"
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN"
    "  INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.pk, " +
    searchable("old.") +
    ");"
    "END;"
    "CREATE VIRTUAL TABLE message_fts_terms USING fts5vocab(message_fts, 'row');";

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
    // The index's own per-trigram document counts, for the planner in find().
    {2, "CREATE VIRTUAL TABLE message_fts_terms USING fts5vocab(message_fts, 'row');"},
    {3, kTranscriptsIndexed.c_str()},
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

// The trigrams of a term as FTS5's trigram tokenizer indexes them (ASCII folded to lower case;
// other characters as they are, so an upper-case non-ASCII letter may find no count, which
// only makes the estimate below err towards the index).
std::vector<std::string> trigrams(const std::string& term) {
  std::vector<std::size_t> starts;
  for (std::size_t i = 0; i < term.size(); ++i)
    if ((static_cast<unsigned char>(term[i]) & 0xC0) != 0x80) starts.push_back(i);
  std::vector<std::string> out;
  for (std::size_t i = 0; i + 2 < starts.size(); ++i) {
    std::size_t end = i + 3 < starts.size() ? starts[i + 3] : term.size();
    out.push_back(text::ascii_lower(term.substr(starts[i], end - starts[i])));
  }
  return out;
}

class SqliteSearchIndex final : public search::SearchIndex {
  static constexpr int kCandidates = 2'000;

 public:
  explicit SqliteSearchIndex(Database& db)
      : db_(db),
        plans_(prometheus::BuildCounter()
                   .Name("parley_search_plans_total")
                   .Help("Searches by plan: through the caller's own messages, or the text index")
                   .Register(metrics::registry())),
        scoped_(plans_.Add({{"plan", "scoped"}})),
        indexed_(plans_.Add({{"plan", "index"}})) {}

  // Two plans, and the cheaper one for this caller: walk the caller's own messages (cost: how
  // many they can read), or the trigram index (cost: how many messages anywhere hold the rarest
  // trigram, estimated from the index's own counts). Either way a search costs at most what the
  // caller's data costs, never the whole database's matches. Both rank the newest kCandidates
  // matches with search::relevance(), so the plan never changes the order of results.
  Result<std::vector<std::string>> find(const search::IndexQuery& q) override {
    std::string match;
    std::vector<std::string> likes, ranked_terms;
    for (const auto& t : q.terms) {
      if (text::char_count(t) >= 3) {
        if (!match.empty()) match += " AND ";
        match += fts_phrase(t);
        ranked_terms.push_back(t);
      }
      likes.push_back(like_contains(t));
    }
    const std::string ids_json = json_list(q.conversation_ids);

    std::string filters =
        " AND m.deleted = 0 AND m.conversation_id IN (SELECT value FROM json_each(?2))";
    if (q.sender_id) filters += " AND m.sender_id = ?3";
    if (q.before) filters += " AND m.created_at < ?4";
    if (q.after) filters += " AND m.created_at > ?5";
    const int candidates = std::max(kCandidates, q.offset + q.limit);

    struct Candidate {
      std::string id;
      std::int64_t pk;
      double score;
    };
    static const std::string found_text = searchable("m.");
    return db_.read_value([&](Connection& c) -> Result<std::vector<std::string>> {
      bool scoped = match.empty() || caller_rows(c, ids_json) <= index_rows(c, q.terms);
      std::string sql;
      if (scoped) {
        sql = "SELECT m.id, m.pk, " + found_text + " FROM messages m WHERE 1" + filters;
        for (std::size_t i = 0; i < likes.size(); ++i)
          sql += " AND " + found_text + " LIKE ?" + std::to_string(10 + i) + " ESCAPE '\\'";
      } else {
        // Short terms cannot use trigrams: checked on the rows the index selects.
        sql = "SELECT m.id, m.pk, " + found_text +
              " FROM message_fts f JOIN messages m ON m.pk = f.rowid WHERE message_fts MATCH ?1" +
              filters;
        for (std::size_t i = 0; i < likes.size(); ++i)
          if (text::char_count(q.terms[i]) < 3)
            sql += " AND " + found_text + " LIKE ?" + std::to_string(10 + i) + " ESCAPE '\\'";
      }
      // Newest first. Through the index, ordered by the FTS table's own rowid (the same value
      // as m.pk): FTS5 then walks its doclists backwards and the LIMIT stops it after the
      // newest candidates; ordered by m.pk, every match was collected and sorted first (a word
      // in 10 % of a million messages: 100,000 rows sorted for 2,000 kept).
      sql += scoped ? " ORDER BY m.pk DESC LIMIT ?6" : " ORDER BY f.rowid DESC LIMIT ?6";
      (scoped ? scoped_ : indexed_).Increment();
      auto s = c.prepare(sql);
      if (!scoped) s.bind(1, match);
      s.bind(2, ids_json);
      if (q.sender_id) s.bind(3, *q.sender_id);
      if (q.before) s.bind(4, *q.before);
      if (q.after) s.bind(5, *q.after);
      s.bind(6, candidates);
      for (std::size_t i = 0; i < likes.size(); ++i)
        if (scoped || text::char_count(q.terms[i]) < 3) s.bind(static_cast<int>(10 + i), likes[i]);
      std::vector<Candidate> found;
      while (s.step())
        found.push_back({s.text(0), s.integer(1),
                         ranked_terms.empty() ? 0.0 : search::relevance(s.text(2), ranked_terms)});
      // Best match first, then newest (found is newest first, and the sort is stable).
      std::stable_sort(found.begin(), found.end(),
                       [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
      std::vector<std::string> out;
      for (std::size_t i = static_cast<std::size_t>(q.offset);
           i < found.size() && static_cast<int>(out.size()) < q.limit; ++i)
        out.push_back(std::move(found[i].id));
      return out;
    });
  }

 private:
  // Messages the caller can read in the conversations asked for (deleted ones included).
  static std::int64_t caller_rows(Connection& c, const std::string& ids_json) {
    auto s = c.prepare(
        "SELECT coalesce(sum(last_seq), 0) FROM conversations"
        " WHERE id IN (SELECT value FROM json_each(?1))");
    s.bind(1, ids_json);
    return s.step() ? s.integer(0) : 0;
  }

  // Messages anywhere that hold the rarest trigram of the query: an upper bound of the rows
  // the index plan joins.
  static std::int64_t index_rows(Connection& c, const std::vector<std::string>& terms) {
    std::optional<std::int64_t> least;
    for (const auto& t : terms)
      for (const auto& tri : trigrams(t)) {
        auto s = c.prepare("SELECT doc FROM message_fts_terms WHERE term = ?1");
        s.bind(1, tri);
        std::int64_t docs = s.step() ? s.integer(0) : 0;
        if (!least || docs < *least) least = docs;
      }
    return least.value_or(std::numeric_limits<std::int64_t>::max());
  }

  Database& db_;
  prometheus::Family<prometheus::Counter>& plans_;
  prometheus::Counter& scoped_;
  prometheus::Counter& indexed_;
};

}  // namespace

Result<std::unique_ptr<search::SearchIndex>> make_search_index(Database& db) {
  if (auto m = db.migrate("search", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<search::SearchIndex>(new SqliteSearchIndex(db));
}

}  // namespace parley::sqlite
