// SearchIndex: the port through which the search module finds messages by their text.
// Implemented by adapters (SQLite FTS5, PostgreSQL full-text search); an implementation keeps
// its index in the same transaction as the message it indexes, so a committed message is
// findable at once and a deleted or edited one is never found by its old text.
// Blocking; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace parley::search {

struct IndexQuery {
  // Every term must occur in the text (as a substring, case-insensitively for ASCII).
  std::vector<std::string> terms;
  // Only messages of these conversations; never empty.
  std::vector<std::string> conversation_ids;
  std::optional<std::string> sender_id;
  std::optional<Millis> before;  // created_at < before
  std::optional<Millis> after;   // created_at > after
  int limit = 50;
  int offset = 0;
};

class SearchIndex {
 public:
  virtual ~SearchIndex() = default;
  // Ids of live (not deleted) messages, best match first, then newest.
  virtual Result<std::vector<std::string>> find(const IndexQuery& q) = 0;
};

}  // namespace parley::search
