#include "modules/search/search.h"

#include <algorithm>

#include "core/text.h"

namespace parley::search {
namespace {

std::vector<std::string> split_terms(std::string_view q) {
  std::vector<std::string> terms;
  std::size_t i = 0;
  while (i < q.size()) {
    while (i < q.size() && (q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r')) ++i;
    std::size_t start = i;
    while (i < q.size() && !(q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r')) ++i;
    if (i > start) {
      std::string t(q.substr(start, i - start));
      if (std::find(terms.begin(), terms.end(), t) == terms.end()) terms.push_back(std::move(t));
    }
  }
  return terms;
}

}  // namespace

std::string highlight(std::string_view text, const std::vector<std::string>& terms) {
  std::string lower = text::ascii_lower(text);
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  for (const auto& t : terms) {
    std::string lt = text::ascii_lower(t);
    if (lt.empty()) continue;
    for (auto at = lower.find(lt); at != std::string::npos; at = lower.find(lt, at + lt.size()))
      spans.push_back({at, at + lt.size()});
  }
  std::sort(spans.begin(), spans.end());
  std::string out;
  out.reserve(text.size() + 16 * spans.size());
  std::size_t pos = 0;
  for (std::size_t i = 0; i < spans.size();) {
    auto [start, end] = spans[i];
    for (++i; i < spans.size() && spans[i].first <= end; ++i) end = std::max(end, spans[i].second);
    if (start < pos) start = pos;
    text::append_html_escaped(out, text.substr(pos, start - pos));
    out += "<mark>";
    text::append_html_escaped(out, text.substr(start, end - start));
    out += "</mark>";
    pos = end;
  }
  text::append_html_escaped(out, text.substr(pos));
  return out;
}

double relevance(std::string_view text, const std::vector<std::string>& terms) {
  // BM25's usual constants; the corpus's mean length is taken as 100 bytes (a chat message).
  constexpr double k1 = 1.2, b = 0.75, mean_length = 100.0;
  const std::string lower = text::ascii_lower(text);
  const double norm = k1 * (1 - b + b * static_cast<double>(text.size()) / mean_length);
  double score = 0;
  for (const auto& t : terms) {
    const std::string lt = text::ascii_lower(t);
    if (lt.empty()) continue;
    double tf = 0;
    for (auto at = lower.find(lt); at != std::string::npos; at = lower.find(lt, at + lt.size()))
      ++tf;
    score += tf * (k1 + 1) / (tf + norm);
  }
  return score;
}

Result<SearchPage> SearchService::search(const std::string& caller, const SearchRequest& in) {
  if (!text::is_valid_utf8(in.q)) return fail(Errc::invalid_argument, "q is not UTF-8", "q");
  auto trimmed = text::trim(in.q);
  if (trimmed.empty()) return fail(Errc::invalid_argument, "q is empty", "q");
  // Tabs and newlines separate words; any other control character (NUL included) is refused
  // here, before it reaches an index's query parser.
  if (text::has_control_chars(trimmed, true))
    return fail(Errc::invalid_argument, "q holds control characters", "q");
  if (text::char_count(trimmed) > kMaxQueryChars)
    return fail(Errc::invalid_argument,
                "q is longer than " + std::to_string(kMaxQueryChars) + " characters", "q");
  IndexQuery q;
  q.terms = split_terms(trimmed);
  if (static_cast<int>(q.terms.size()) > kMaxTerms)
    return fail(Errc::invalid_argument, "q has more than " + std::to_string(kMaxTerms) + " words",
                "q");
  q.sender_id = in.sender_id;
  q.before = in.before;
  q.after = in.after;
  q.limit = in.limit + 1;
  if (in.cursor) {
    try {
      std::size_t used = 0;
      q.offset = std::stoi(*in.cursor, &used);
      if (used != in.cursor->size() || q.offset < 0 || q.offset > 10'000)
        throw std::invalid_argument("cursor");
    } catch (const std::exception&) {
      return fail(Errc::invalid_argument, "cursor is not valid", "cursor");
    }
  }
  if (in.conversation_id) {
    auto v = messaging_.get(caller, *in.conversation_id);
    if (!v) return fail(v.error());
    // Search covers the caller's own conversations: a public channel they have not joined
    // yields nothing, as it does without the filter.
    if (v->me) q.conversation_ids = {*in.conversation_id};
  } else {
    auto ids = messaging_.conversation_ids_of(caller);
    if (!ids) return fail(ids.error());
    q.conversation_ids = std::move(*ids);
  }
  SearchPage page;
  if (q.conversation_ids.empty()) return page;
  auto found = index_.find(q);
  if (!found) return fail(found.error());
  if (static_cast<int>(found->size()) > in.limit) {
    found->resize(in.limit);
    page.next_cursor = std::to_string(q.offset + in.limit);
  }
  for (const auto& id : *found) {
    // Read through messaging: it fills the caller's reactions and re-checks visibility.
    auto m = messaging_.get_message(caller, id);
    if (!m) continue;  // deleted or left in the meantime
    std::string hl = highlight(m->text, q.terms);
    page.results.push_back({std::move(*m), std::move(hl)});
  }
  return page;
}

}  // namespace parley::search
