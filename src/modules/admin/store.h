// AdminStore: the port through which the admin module keeps the server settings and the invite
// links (component "admin": tables admin_settings, admin_invites). Implemented by adapters
// (SQLite, PostgreSQL); every implementation passes store_contract.h. Blocking; thread-safe.
// Operations documented as atomic must be one transaction: they decide races between concurrent
// registrations.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace parley::admin {

enum class RegistrationMode { open, invite_only, closed };

const char* mode_name(RegistrationMode m);  // "open" | "invite_only" | "closed"
std::optional<RegistrationMode> parse_mode(std::string_view name);

struct Settings {
  RegistrationMode registration = RegistrationMode::open;
  // Lower-case domains ("example.com"); empty: any email (or none) may register.
  std::vector<std::string> allowed_email_domains;
};

// The domain list as one stored value (one domain per line: a domain holds no newline), for
// adapters that keep settings as key/value text.
std::string join_domains(const std::vector<std::string>& domains);
std::vector<std::string> split_domains(const std::string& stored);

struct Invite {
  std::string id;
  std::string created_by;
  Millis created_at = 0;
  std::optional<Millis> expires_at;  // none: never expires
  int max_uses = 0;                  // 0: unlimited
  int uses = 0;
  std::optional<Millis> revoked_at;
};

class AdminStore {
 public:
  virtual ~AdminStore() = default;

  // The stored settings; the defaults (open, no domain list) until something was stored.
  virtual Result<Settings> settings() = 0;
  virtual Result<void> put_settings(const Settings& s) = 0;

  // token_hash: the invite's secret, hashed (the token itself is never stored).
  virtual Result<void> create_invite(const Invite& inv, const std::string& token_hash) = 0;
  // Newest first, at most limit.
  virtual Result<std::vector<Invite>> list_invites(int limit) = 0;
  // Marks it revoked (idempotent: the first time is kept); not_found for an unknown id.
  virtual Result<Invite> revoke_invite(const std::string& id, Millis now) = 0;
  // Atomic: the invite with this token hash, when it is usable at now (not revoked, not expired,
  // uses < max_uses or unlimited), with one more use counted; not_found otherwise, whatever the
  // reason (the caller must not learn which).
  virtual Result<Invite> consume_invite(const std::string& token_hash, Millis now) = 0;
  // Gives back a use consume_invite took (the registration then failed); never below zero.
  virtual Result<void> release_invite(const std::string& id) = 0;
};

}  // namespace parley::admin
