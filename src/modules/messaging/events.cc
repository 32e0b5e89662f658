#include "modules/messaging/events.h"

#include <cstdint>

namespace parley::messaging {
namespace {

constexpr char kKinds[] = {'c', 'j', 'l', 'u', 's', 'o'};

// Splits off the text before sep; the rest stays in s.
std::string_view take(std::string_view& s, char sep) {
  auto at = s.find(sep);
  std::string_view head = s.substr(0, at);
  s = at == std::string_view::npos ? std::string_view{} : s.substr(at + 1);
  return head;
}

// Ids joined with ',' (ids hold no commas).
void append_list(std::string& out, const std::vector<std::string>& ids) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += ids[i];
  }
}

// The ','-separated ids before the next '|'.
std::vector<std::string> take_list(std::string_view& header) {
  std::string_view list = take(header, '|');
  std::vector<std::string> out;
  while (!list.empty()) out.emplace_back(take(list, ','));
  return out;
}

}  // namespace

std::string encode(const Event& e) {
  std::string out;
  out.reserve(64 + e.name.size() + e.data.size());
  out += kKinds[static_cast<int>(e.route.kind)];
  out += '|';
  append_list(out, e.route.conversation_ids);
  out += '|';
  append_list(out, e.route.user_ids);
  out += '|';
  out += e.route.except_user;
  out += '|';
  out += e.route.except_session;
  out += '|';
  out += std::to_string(e.route.seq);
  if (e.trace.sampled && e.trace.valid()) {
    out += '|';
    out += e.trace.traceparent();
  }
  out += '\n';
  out += e.name;
  out += '\n';
  out += e.data;
  return out;
}

std::optional<Event> decode(std::string_view payload) {
  Event e;
  std::string_view header = take(payload, '\n');
  std::string_view name = take(payload, '\n');
  if (header.size() < 2 || header[1] != '|' || name.empty()) return std::nullopt;
  bool known = false;
  for (int i = 0; i < static_cast<int>(sizeof kKinds); ++i)
    if (header[0] == kKinds[i]) {
      e.route.kind = static_cast<Route::Kind>(i);
      known = true;
    }
  if (!known) return std::nullopt;
  header.remove_prefix(2);
  e.route.conversation_ids = take_list(header);
  e.route.user_ids = take_list(header);
  e.route.except_user = take(header, '|');
  e.route.except_session = take(header, '|');
  std::string_view seq_text = take(header, '|');
  if (!header.empty()) {
    auto tc = trace::Context::parse(header);
    if (!tc) return std::nullopt;
    e.trace = *tc;
  }
  std::int64_t seq = 0;
  for (char c : seq_text) {
    if (c < '0' || c > '9' || seq > (INT64_MAX - 9) / 10) return std::nullopt;
    seq = seq * 10 + (c - '0');
  }
  e.route.seq = seq;
  e.name = name;
  e.data = payload;
  return e;
}

}  // namespace parley::messaging
