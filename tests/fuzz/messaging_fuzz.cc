// Messaging inputs from the network: message text (normalise_text), search highlighting of
// arbitrary text and terms, and bus event payloads (which cross nodes when scaled out).
// Invariants: nothing crashes; a normalised text is valid, trimmed UTF-8 within the limit; a
// highlight holds no '<' except the <mark> tags it adds; a decoded event re-encodes to a payload
// that decodes to the same event.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/text.h"
#include "modules/messaging/events.h"
#include "modules/messaging/messaging.h"
#include "modules/search/search.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

bool only_mark_tags(const std::string& html) {
  for (std::size_t at = html.find('<'); at != std::string::npos; at = html.find('<', at + 1)) {
    if (html.compare(at, 6, "<mark>") != 0 && html.compare(at, 7, "</mark>") != 0) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);

  if (auto t = parley::messaging::normalise_text(in, 64)) {
    check(parley::text::is_valid_utf8(*t));
    check(!t->empty() && parley::text::char_count(*t) <= 64);
    check(parley::text::trim(*t).size() == t->size());
  }

  // First line: search terms; the rest: the text they are highlighted in.
  auto nl = in.find('\n');
  std::string terms_line = in.substr(0, nl);
  std::string body = nl == std::string::npos ? std::string() : in.substr(nl + 1);
  std::vector<std::string> terms;
  for (std::size_t s = 0; s <= terms_line.size();) {
    auto sp = terms_line.find(' ', s);
    if (sp == std::string::npos) sp = terms_line.size();
    if (sp > s) terms.push_back(terms_line.substr(s, sp - s));
    s = sp + 1;
  }
  check(only_mark_tags(parley::search::highlight(body, terms)));

  if (auto e = parley::messaging::decode(in)) {
    auto again = parley::messaging::decode(parley::messaging::encode(*e));
    check(again.has_value());
    check(again->name == e->name && again->data == e->data);
    check(again->route.kind == e->route.kind && again->route.user_ids == e->route.user_ids);
  }
  return 0;
}
