#include "modules/messaging/events.h"

#include <cstdint>

namespace parley::messaging {
namespace {

constexpr char kKinds[] = {'c', 'j', 'l', 'u', 's'};

// Splits off the text before sep; the rest stays in s.
std::string_view take(std::string_view& s, char sep) {
  auto at = s.find(sep);
  std::string_view head = s.substr(0, at);
  s = at == std::string_view::npos ? std::string_view{} : s.substr(at + 1);
  return head;
}

}  // namespace

std::string encode(const Event& e) {
  std::string out;
  out.reserve(64 + e.name.size() + e.data.size());
  out += kKinds[static_cast<int>(e.route.kind)];
  out += '|';
  for (std::size_t i = 0; i < e.route.conversation_ids.size(); ++i) {
    if (i) out += ',';
    out += e.route.conversation_ids[i];
  }
  out += '|';
  out += e.route.user_id;
  out += '|';
  out += e.route.except_user;
  out += '|';
  out += e.route.except_session;
  out += '|';
  out += std::to_string(e.route.seq);
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
  for (int i = 0; i < 5; ++i)
    if (header[0] == kKinds[i]) {
      e.route.kind = static_cast<Route::Kind>(i);
      known = true;
    }
  if (!known) return std::nullopt;
  header.remove_prefix(2);
  std::string_view convs = take(header, '|');
  while (!convs.empty()) e.route.conversation_ids.emplace_back(take(convs, ','));
  e.route.user_id = take(header, '|');
  e.route.except_user = take(header, '|');
  e.route.except_session = take(header, '|');
  std::int64_t seq = 0;
  for (char c : header) {
    if (c < '0' || c > '9' || seq > (INT64_MAX - 9) / 10) return std::nullopt;
    seq = seq * 10 + (c - '0');
  }
  e.route.seq = seq;
  e.name = name;
  e.data = payload;
  return e;
}

}  // namespace parley::messaging
