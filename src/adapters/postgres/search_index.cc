// PostgreSQL SearchIndex. The port asks for substring matching (every term somewhere in the
// text, ASCII case-insensitively), which must also find Chinese and Japanese words that have no
// spaces around them. PostgreSQL's word-based full-text search cannot do that alone, so:
// - matching: `message_searchable(text, attachments) ILIKE '%term%'` for each term (the text
//   and any voice attachments' transcripts), served by a pg_trgm GIN index on that expression
//   (trigrams need no word segmentation). Terms without a run of three word characters give
//   pg_trgm nothing to look up; they are checked with strpos() on the rows the other conditions
//   select instead of forcing a scan of the whole index.
// - ranking: ts_rank over a stored 'simple' tsvector of the text, against the terms' words as
//   prefixes, normalised by length (so more matches in a shorter text come first), then newest;
//   only the newest 2,000 matches are ranked.
// Both live on the messages row (a generated column and an index), so they change in the same
// transaction as the message: a committed message is findable at once, an edited or deleted one
// never by its old text. The column is C-collated, so ILIKE and lower() fold ASCII only.
//
// This index reads the messaging module's table, as the SQLite one does (docs/decisions.md).
#include <algorithm>
#include <cctype>
#include <string>

#include "adapters/postgres/stores.h"
#include "core/text.h"

namespace parley::postgres {
namespace {

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE EXTENSION IF NOT EXISTS pg_trgm;"
     "ALTER TABLE messages ADD COLUMN search_tsv tsvector"
     "  GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, text)) STORED;"
     "CREATE INDEX messages_text_trgm ON messages USING gin (text gin_trgm_ops);"},
    // Voice messages are found by their transcripts too (the "x"."t" of the attachments JSON,
    // messaging/attachments.cc): the index and the ranking column cover text plus transcripts.
    // A one-expression SQL function without a subquery, so the planner inlines it in queries
    // and in the index expression alike and the two match. The transcripts are appended as
    // their JSON array's text; the brackets and quotes are no word characters.
    {2,
     "CREATE FUNCTION message_searchable(body text, attachments text) RETURNS text"
     "  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT CASE WHEN attachments IS NULL"
     "  THEN body ELSE body || ' ' || jsonb_path_query_array(attachments::jsonb, '$[*].x.t')::text"
     "  END $$;"
     "ALTER TABLE messages DROP COLUMN search_tsv;"
     "ALTER TABLE messages ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS"
     "  (to_tsvector('simple'::regconfig, message_searchable(text, attachments))) STORED;"
     "DROP INDEX messages_text_trgm;"
     "CREATE INDEX messages_search_trgm ON messages"
     "  USING gin (message_searchable(text, attachments) gin_trgm_ops);"},
};

bool word_byte(unsigned char c) { return c >= 0x80 || std::isalnum(c); }

// Whether pg_trgm can extract a trigram from the term: three word characters in a row (any
// non-ASCII character counts as one; a UTF-8 continuation byte does not start a new one).
bool trigram_term(const std::string& t) {
  int run = 0;
  for (unsigned char c : t) {
    if ((c & 0xC0) == 0x80) continue;
    run = word_byte(c) ? run + 1 : 0;
    if (run >= 3) return true;
  }
  return false;
}

std::string like_contains(const std::string& s) {
  std::string p = "%";
  for (char ch : s) {
    if (ch == '%' || ch == '_' || ch == '\\') p += '\\';
    p += ch;
  }
  return p + "%";
}

// A to_tsquery() text that matches any word of the terms as a prefix: 'brown':* | 'fox':*.
// Words are runs of ASCII letters and digits and non-ASCII bytes, so no quote, backslash or
// operator reaches the query parser.
std::string rank_query(const std::vector<std::string>& terms) {
  std::string q;
  for (const auto& t : terms) {
    std::string word;
    auto flush = [&] {
      if (word.empty()) return;
      if (!q.empty()) q += " | ";
      q += "'" + word + "':*";
      word.clear();
    };
    for (char ch : text::ascii_lower(t)) {
      if (word_byte(static_cast<unsigned char>(ch)))
        word += ch;
      else
        flush();
    }
    flush();
  }
  return q;
}

class PostgresSearchIndex final : public search::SearchIndex {
  static constexpr int kCandidates = 2'000;

 public:
  explicit PostgresSearchIndex(Pool& pool) : pool_(pool) {}

  Result<std::vector<std::string>> find(const search::IndexQuery& q) override {
    std::vector<Param> params{Param::text_array(q.conversation_ids), q.limit, q.offset};
    auto next = [&] { return "$" + std::to_string(params.size()); };
    // The statement's shape depends on which filters are present.
    std::string where = " WHERE m.conversation_id = ANY($1::text[]) AND NOT m.deleted";
    if (q.sender_id) {
      params.emplace_back(*q.sender_id);
      where += " AND m.sender_id = " + next();
    }
    if (q.before) {
      params.emplace_back(*q.before);
      where += " AND m.created_at < " + next();
    }
    if (q.after) {
      params.emplace_back(*q.after);
      where += " AND m.created_at > " + next();
    }
    for (const auto& t : q.terms) {
      if (trigram_term(t)) {
        params.emplace_back(like_contains(t));
        where += " AND message_searchable(m.text, m.attachments) ILIKE " + next();
      } else {
        params.emplace_back(text::ascii_lower(t));
        where +=
            " AND strpos(lower(message_searchable(m.text, m.attachments)), " + next() + ") > 0";
      }
    }
    std::string sql;
    if (auto rq = rank_query(q.terms); rq.empty()) {
      sql = "SELECT m.id FROM messages m" + where + " ORDER BY m.pk DESC";
    } else {
      // Ranking scores every candidate, so rank only the newest kCandidates matches (as the
      // SQLite index does): a common word costs the same as a rare one, and recent messages
      // are what people look for.
      params.emplace_back(rq);
      std::string query = next();
      params.emplace_back(std::max(kCandidates, q.offset + q.limit));
      sql = "SELECT id FROM (SELECT m.id, m.pk, ts_rank(m.search_tsv, to_tsquery('simple', " +
            query + "), 1) AS score FROM messages m" + where + " ORDER BY m.pk DESC LIMIT " +
            next() + ") s ORDER BY score DESC, pk DESC";
    }
    sql += " LIMIT $2 OFFSET $3";

    return pool_.run_value([&](Connection& c) -> Result<std::vector<std::string>> {
      // Unprepared: a generic plan cannot know the patterns and would walk the whole table.
      auto rows = c.exec_unprepared(sql, params);
      std::vector<std::string> out;
      for (int i = 0; i < rows.size(); ++i) out.push_back(rows.text(i, 0));
      return out;
    });
  }

 private:
  Pool& pool_;
};

}  // namespace

Result<std::unique_ptr<search::SearchIndex>> make_search_index(Pool& pool) {
  if (auto m = pool.migrate("search", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<search::SearchIndex>(new PostgresSearchIndex(pool));
}

}  // namespace parley::postgres
