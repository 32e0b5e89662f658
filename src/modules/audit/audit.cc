#include "modules/audit/audit.h"

#include "core/id.h"
#include "core/log.h"
#include "core/text.h"

namespace parley::audit {
namespace {

constexpr std::size_t kMaxField = 256;

// Cut on a character boundary, so a stored field is always valid UTF-8.
std::string bounded(const std::string& s) {
  if (s.size() <= kMaxField) return s;
  std::size_t end = kMaxField;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

}  // namespace

Result<void> AuditLog::record(const Entry& e) {
  if (e.action.empty() || e.action.size() > 64)
    return fail(Errc::invalid_argument, "action must be 1 to 64 bytes", "action");
  const Millis now = clock_.now_ms();
  Event ev{new_id(now), now, bounded(e.actor_id), e.action, bounded(e.target), bounded(e.ip)};
  auto r = store_.append(ev);
  if (!r)
    log::error("audit event not stored", {{"action", e.action}, {"reason", r.error().message}});
  return r;
}

Result<EventPage> AuditLog::list(const std::optional<std::string>& actor_id,
                                 const std::optional<std::string>& action,
                                 const std::optional<std::string>& cursor, int limit) {
  if (limit < 1 || limit > 200)
    return fail(Errc::invalid_argument, "limit must be 1 to 200", "limit");
  if (cursor && !looks_like_id(*cursor))
    return fail(Errc::invalid_argument, "cursor is not valid", "cursor");
  if (action && (action->size() > 64 || !text::is_valid_utf8(*action)))
    return fail(Errc::invalid_argument, "action is not an action name", "action");
  if (actor_id && (actor_id->size() > kMaxField || !text::is_valid_utf8(*actor_id)))
    return fail(Errc::invalid_argument, "actor is not a user id", "actor");
  Query q{actor_id, action, cursor, limit + 1};
  auto rows = store_.list(q);
  if (!rows) return fail(rows.error());
  EventPage page;
  page.events = std::move(*rows);
  if (static_cast<int>(page.events.size()) > limit) {
    page.events.resize(static_cast<std::size_t>(limit));
    page.next_cursor = page.events.back().id;
  }
  return page;
}

}  // namespace parley::audit
