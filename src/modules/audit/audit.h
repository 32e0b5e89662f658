// Audit module: the append-only record of security-relevant actions (docs/administration.md).
//
// Other modules and the API layer record through the small Recorder port; AuditLog (backed by
// an AuditStore) is the implementation app/ wires in, and also answers the admin's queries. To
// record from a new module, take an `audit::Recorder&` and call, after the action succeeded:
//
//   recorder.record({.actor_id = caller, .action = audit::actions::kBotTokenCreated,
//                    .target = audit::target("bot", bot_id), .ip = client_ip});
//
// Recording is one durable store write (blocking: call from a worker thread); a failure is
// returned (and logged by AuditLog), and callers decide whether the action still stands (the
// API's helper logs it and goes on, so a full disk does not lock users out). Thread-safe.
// list(): invalid_argument for a bad cursor, action or limit.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "modules/audit/store.h"

namespace parley::audit {

// Action names: "<area>.<what>". Adding one is fine; renaming one breaks saved filters.
namespace actions {
inline constexpr const char* kSignIn = "auth.sign_in";
inline constexpr const char* kSignInFailed = "auth.sign_in_failed";
inline constexpr const char* kRegistered = "auth.registered";
inline constexpr const char* kPasswordChanged = "auth.password_changed";
inline constexpr const char* kTotpEnabled = "auth.totp_enabled";
inline constexpr const char* kTotpDisabled = "auth.totp_disabled";
inline constexpr const char* kSessionRevoked = "auth.session_revoked";  // one, by its user
inline constexpr const char* kSignedOutEverywhere = "auth.logout_all";
inline constexpr const char* kRoleChanged = "admin.role_changed";
inline constexpr const char* kUserDeactivated = "admin.user_deactivated";
inline constexpr const char* kUserReactivated = "admin.user_reactivated";
inline constexpr const char* kTotpReset = "admin.totp_reset";
inline constexpr const char* kSessionsRevoked = "admin.sessions_revoked";  // force sign-out
inline constexpr const char* kSettingsChanged = "admin.settings_changed";
inline constexpr const char* kInviteCreated = "admin.invite_created";
inline constexpr const char* kInviteRevoked = "admin.invite_revoked";
inline constexpr const char* kChannelArchived = "admin.channel_archived";
inline constexpr const char* kChannelUnarchived = "admin.channel_unarchived";
inline constexpr const char* kChannelOwnerChanged = "admin.channel_owner_changed";
inline constexpr const char* kBotTokenCreated = "bot.token_created";
inline constexpr const char* kDataExported = "data.exported";
inline constexpr const char* kRetentionChanged = "data.retention_changed";  // global or one conversation
}  // namespace actions

// "kind:id", the shape of Event::target.
inline std::string target(std::string_view kind, std::string_view id) {
  return std::string(kind) + ":" + std::string(id);
}

struct Entry {
  std::string actor_id;  // "" for the command line / the server itself
  std::string action;
  std::string target;
  std::string ip;
};

// The port modules record through.
class Recorder {
 public:
  virtual ~Recorder() = default;
  virtual Result<void> record(const Entry& e) = 0;
};

struct EventPage {
  std::vector<Event> events;
  std::optional<std::string> next_cursor;
};

class AuditLog final : public Recorder {
 public:
  AuditLog(AuditStore& store, const Clock& clock) : store_(store), clock_(clock) {}

  // Stamps the time and an id, appends. invalid_argument when action is empty or over 64 bytes;
  // actor, target and ip are cut to 256 bytes.
  Result<void> record(const Entry& e) override;

  // Newest first; actor/action filter exactly; cursor is the previous page's next_cursor.
  Result<EventPage> list(const std::optional<std::string>& actor_id,
                         const std::optional<std::string>& action,
                         const std::optional<std::string>& cursor, int limit);

 private:
  AuditStore& store_;
  const Clock& clock_;
};

}  // namespace parley::audit
