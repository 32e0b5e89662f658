// Search module: full-text search over message text, only in the caller's conversations.
//
// SearchService turns a query into terms, restricts it to what the caller may read (their
// conversations, or one conversation they can see), asks the index (store.h) and returns the
// messages with a highlight: the text HTML-escaped with each match wrapped in <mark></mark>.
// Values in, values out; blocking; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "modules/messaging/messaging.h"
#include "modules/search/store.h"

namespace parley::search {

struct SearchRequest {
  std::string q;
  std::optional<std::string> conversation_id;
  std::optional<std::string> sender_id;
  std::optional<Millis> before;
  std::optional<Millis> after;
  int limit = 50;
  std::optional<std::string> cursor;
};

struct Hit {
  messaging::Message message;
  std::string highlight;
};

struct SearchPage {
  std::vector<Hit> results;
  std::optional<std::string> next_cursor;
};

class SearchService {
 public:
  SearchService(SearchIndex& index, messaging::MessagingService& messaging)
      : index_(index), messaging_(messaging) {}

  Result<SearchPage> search(const std::string& caller, const SearchRequest& in);

  static constexpr int kMaxQueryChars = 256;
  static constexpr int kMaxTerms = 16;

 private:
  SearchIndex& index_;
  messaging::MessagingService& messaging_;
};

// The text HTML-escaped, with every case-insensitive (ASCII) occurrence of a term marked.
std::string highlight(std::string_view text, const std::vector<std::string>& terms);

// How well text matches terms, for indexes that rank candidates themselves: BM25's
// term-frequency saturation and length normalisation over case-insensitive (ASCII) substring
// occurrences, so more matches in a shorter text score higher. Higher is better.
double relevance(std::string_view text, const std::vector<std::string>& terms);

}  // namespace parley::search
