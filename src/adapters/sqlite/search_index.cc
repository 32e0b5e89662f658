// SQLite SearchIndex: an FTS5 table with the trigram tokenizer over the messages' text and their
// voice attachments' transcripts (external content, a view). A new message is queued for the index
// in its own transaction (search_pending, by trigger) and indexed in batches a moment later
// (decisions §52); until then searches find it by LIKE among the queued rows, so a search always
// sees every committed message. Edits and deletes of indexed messages change the index in their
// own transaction, by trigger. Trigrams find any substring of three or more
// characters, which is what makes Chinese and Japanese text (no spaces between words) searchable.
// Shorter terms cannot use the trigram index and are matched with LIKE on the rows the index (or
// the filters) selected.
//
// This index reads the messaging module's table: the one place where two modules share storage,
// because "indexed in the same transaction" asks for it (docs/decisions.md).
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "adapters/sqlite/stores.h"
#include "core/json.h"
#include "core/log.h"
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

// The statements that add a row's index entry and take it away (FTS5's external-content
// 'delete' needs the values that were indexed). `row`: "new." or "old.".
std::string index_entry_added(const std::string& row) {
  return "INSERT INTO message_fts(rowid, text) VALUES (" + row + "pk, " + searchable(row) + ");";
}
std::string index_entry_removed(const std::string& row) {
  return "INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', " + row + "pk, " +
         searchable(row) + ");";
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
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN " +
    index_entry_added("new.") +
    " END;"
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, attachments ON messages BEGIN " +
    index_entry_removed("old.") + index_entry_added("new.") +
    " END;"
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN " +
    index_entry_removed("old.") +
    " END;"
    "CREATE VIRTUAL TABLE message_fts_terms USING fts5vocab(message_fts, 'row');";

// Version 4 takes indexing out of the message's transaction. FTS5 writes its pending terms out
// as a new segment at every savepoint, and a group commit gives each send its own savepoint (so
// one failing send does not undo the others): each message became a segment of its own, and
// indexing took most of the writer's time. A new message now only queues its pk; the indexer
// adds queued messages in one statement per batch. Changes to a queued message need nothing (the
// batch reads the message as it is then); changes to an indexed one update the index as before.
const std::string kIndexedInBatches =
    "CREATE TABLE search_pending (pk INTEGER PRIMARY KEY);"
    "DROP TRIGGER messages_fts_insert; DROP TRIGGER messages_fts_update;"
    "DROP TRIGGER messages_fts_delete;"
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN"
    "  INSERT OR IGNORE INTO search_pending(pk) VALUES (new.pk);"
    "END;"
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, attachments ON messages"
    "  WHEN NOT EXISTS (SELECT 1 FROM search_pending WHERE pk = old.pk) BEGIN " +
    index_entry_removed("old.") + index_entry_added("new.") +
    " END;"
    // A deleted row's pk may be reused by the next message (no AUTOINCREMENT): its index entry
    // goes now, and a queued pk leaves the queue, so the reused pk is queued afresh.
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN"
    "  INSERT INTO message_fts(message_fts, rowid, text) SELECT 'delete', old.pk, " +
    searchable("old.") +
    "    WHERE NOT EXISTS (SELECT 1 FROM search_pending WHERE pk = old.pk);"
    "  DELETE FROM search_pending WHERE pk = old.pk;"
    "END;";

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
    {4, kIndexedInBatches.c_str()},
};

// Messages indexed per write, and how long queued messages wait at most: a batch of a busy
// moment's messages costs one FTS5 segment, and a search meanwhile scans few queued rows.
constexpr std::int64_t kIndexBatch = 5'000;
constexpr auto kIndexEvery = std::chrono::milliseconds(100);

// Indexes up to kIndexBatch queued messages, oldest first; returns how many.
Result<std::int64_t> index_queued(Connection& c) {
  auto last = c.prepare(
      "SELECT max(pk), count(*) FROM (SELECT pk FROM search_pending ORDER BY pk LIMIT ?1)");
  last.bind(1, kIndexBatch);
  if (!last.step() || last.is_null(0)) return std::int64_t{0};
  const std::int64_t upto = last.integer(0), n = last.integer(1);
  c.prepare(
       "INSERT INTO message_fts(rowid, text) SELECT s.pk, s.text FROM search_pending p"
       " CROSS JOIN message_search s ON s.pk = p.pk WHERE p.pk <= ?1")
      .bind(1, upto)
      .exec();
  c.prepare("DELETE FROM search_pending WHERE pk <= ?1").bind(1, upto).exec();
  return n;
}

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
        indexed_(plans_.Add({{"plan", "index"}})),
        indexer_([this] { index_loop(); }) {}

  ~SqliteSearchIndex() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    indexer_.join();
  }

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
    // The LIKE checks of the terms (all, or only those too short for trigrams) and their
    // values, as parameters ?10 on.
    auto like_checks = [&](bool short_only) {
      std::string sql;
      for (std::size_t i = 0; i < likes.size(); ++i)
        if (!short_only || text::char_count(q.terms[i]) < 3)
          sql += " AND " + found_text + " LIKE ?" + std::to_string(10 + i) + " ESCAPE '\\'";
      return sql;
    };
    auto bind_likes = [&](Stmt& st, bool short_only) {
      for (std::size_t i = 0; i < likes.size(); ++i)
        if (!short_only || text::char_count(q.terms[i]) < 3)
          st.bind(static_cast<int>(10 + i), likes[i]);
    };
    return db_.read_value([&](Connection& c) -> Result<std::vector<std::string>> {
      bool scoped = match.empty() || caller_rows(c, ids_json) <= index_rows(c, q.terms);
      std::string sql;
      if (scoped) {
        sql = "SELECT m.id, m.pk, " + found_text + " FROM messages m WHERE 1" + filters +
              like_checks(false);
      } else {
        // Short terms cannot use trigrams: checked on the rows the index selects.
        sql = "SELECT m.id, m.pk, " + found_text +
              " FROM message_fts f JOIN messages m ON m.pk = f.rowid WHERE message_fts MATCH ?1" +
              filters + like_checks(true);
      }
      // Newest first. Through the index, ordered by the FTS table's own rowid (the same value
      // as m.pk): FTS5 then walks its doclists backwards and the LIMIT stops it after the
      // newest candidates; ordered by m.pk, every match was collected and sorted first (a word
      // in 10 % of a million messages: 100,000 rows sorted for 2,000 kept).
      sql += scoped ? " ORDER BY m.pk DESC LIMIT ?6" : " ORDER BY f.rowid DESC LIMIT ?6";
      (scoped ? scoped_ : indexed_).Increment();
      auto bind_filters = [&](Stmt& st) {
        st.bind(2, ids_json);
        if (q.sender_id) st.bind(3, *q.sender_id);
        if (q.before) st.bind(4, *q.before);
        if (q.after) st.bind(5, *q.after);
        st.bind(6, candidates);
      };
      auto s = c.prepare(sql);
      if (!scoped) s.bind(1, match);
      bind_filters(s);
      bind_likes(s, !scoped);
      std::vector<Candidate> found;
      auto collect = [&](Stmt& rows) {
        while (rows.step())
          found.push_back({rows.text(0), rows.integer(1),
                           ranked_terms.empty() ? 0.0
                                                : search::relevance(rows.text(2), ranked_terms)});
      };
      collect(s);
      if (!scoped) {
        // Messages queued for the index and not in it yet (the newest): by LIKE, every term.
        // CROSS JOIN keeps the queue the outer loop: ordered by pk with a LIMIT, the planner
        // would otherwise walk all messages newest first and look each up in the queue.
        auto p = c.prepare("SELECT m.id, m.pk, " + found_text +
                           " FROM search_pending p CROSS JOIN messages m ON m.pk = p.pk WHERE 1" +
                           filters + like_checks(false) + " ORDER BY p.pk DESC LIMIT ?6");
        bind_filters(p);
        bind_likes(p, false);
        const std::size_t from_index = found.size();
        collect(p);
        if (found.size() > from_index) {
          // Newest first across both, as the candidates the index plan keeps.
          std::sort(found.begin(), found.end(),
                    [](const Candidate& a, const Candidate& b) { return a.pk > b.pk; });
          if (found.size() > static_cast<std::size_t>(candidates)) found.resize(candidates);
        }
      }
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
  // Indexes what new messages queued, every kIndexEvery, until the index is destroyed.
  void index_loop() {
    pthread_setname_np(pthread_self(), "search-index");
    std::unique_lock lock(mu_);
    while (!wake_.wait_for(lock, kIndexEvery, [this] { return stopping_; })) {
      lock.unlock();
      index_round();
      lock.lock();
    }
  }

  void index_round() {
    for (;;) {
      auto queued = db_.read_value([](Connection& c) -> Result<bool> {
        auto q = c.prepare("SELECT EXISTS (SELECT 1 FROM search_pending)");
        return q.step() && q.integer(0) != 0;
      });
      if (!queued || !*queued) return;
      auto n = db_.write_value(index_queued);
      if (!n) {
        // The database is stopping, or failing: the queue stays and the next round retries.
        log::warn("search: indexing new messages failed", {{"error", n.error().message}});
        return;
      }
      if (*n < kIndexBatch) return;
    }
  }

  // Messages the caller can read in the conversations asked for (deleted ones included).
  static std::int64_t caller_rows(Connection& c, const std::string& ids_json) {
    auto s = c.prepare(
        "SELECT coalesce(sum(last_seq), 0) FROM conversations"
        " WHERE id IN (SELECT value FROM json_each(?1))");
    s.bind(1, ids_json);
    return s.step() ? s.integer(0) : 0;
  }

  // Messages anywhere that hold the rarest trigram of the query, and those queued for the
  // index: an upper bound of the rows the index plan reads.
  static std::int64_t index_rows(Connection& c, const std::vector<std::string>& terms) {
    auto queued = c.prepare("SELECT count(*) FROM search_pending");
    const std::int64_t waiting = queued.step() ? queued.integer(0) : 0;
    return waiting + indexed_rows(c, terms);
  }

  static std::int64_t indexed_rows(Connection& c, const std::vector<std::string>& terms) {
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
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread indexer_;  // last: it starts once the members above exist
};

}  // namespace

Result<std::unique_ptr<search::SearchIndex>> make_search_index(Database& db) {
  if (auto m = db.migrate("search", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<search::SearchIndex>(new SqliteSearchIndex(db));
}

}  // namespace parley::sqlite
