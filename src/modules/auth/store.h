// AuthStore: the port through which the auth module keeps credentials, sessions, refresh
// tokens, TOTP state and its signing key. Implemented by adapters; every implementation passes
// store_contract.h. Blocking; thread-safe. Operations documented as atomic must be one
// transaction: they decide races between concurrent requests.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace parley::auth {

struct Credentials {
  std::string user_id;
  std::string password_hash;
  std::optional<std::string> totp_secret;          // raw bytes; set while 2FA is enabled
  std::optional<std::string> pending_totp_secret;  // set between setup and enable
  std::int64_t totp_last_step = -1;
};

struct SessionRecord {
  std::string id;
  std::string user_id;
  std::string device_name;
  Millis created_at = 0;
  Millis last_seen_at = 0;
  std::optional<Millis> revoked_at;
  Millis expires_at = 0;        // when its refresh token lapses (rotation moves it on)
  Millis authenticated_at = 0;  // the last password or second-factor check in this session
};

enum class RotateOutcome { rotated, unknown, reused };

struct RotateResult {
  RotateOutcome outcome = RotateOutcome::unknown;
  SessionRecord session;  // for rotated and reused
};

class AuthStore {
 public:
  virtual ~AuthStore() = default;

  virtual Result<void> create_credentials(const std::string& user_id,
                                          const std::string& password_hash) = 0;
  virtual Result<Credentials> credentials(const std::string& user_id) = 0;
  virtual Result<void> set_password_hash(const std::string& user_id, const std::string& hash) = 0;

  // A new session with its first refresh token (stored as a hash).
  virtual Result<void> create_session(const SessionRecord& s, const std::string& refresh_hash,
                                      Millis refresh_expires_at) = 0;
  virtual Result<SessionRecord> session(const std::string& id) = 0;
  // Sessions neither revoked nor expired (their refresh token lapsed), newest first.
  virtual Result<std::vector<SessionRecord>> active_sessions(const std::string& user_id,
                                                             Millis now) = 0;
  // Revokes the session if it belongs to user_id and is active; not_found otherwise.
  virtual Result<void> revoke_session(const std::string& user_id, const std::string& id,
                                      Millis now) = 0;

  // Atomic: revokes every active session of user_id except keep (none when empty) and drops
  // their refresh tokens; the ids it revoked.
  virtual Result<std::vector<std::string>> revoke_sessions(const std::string& user_id,
                                                           const std::string& keep,
                                                           Millis now) = 0;
  // Records a fresh credential check in the session (re-authentication); not_found when the
  // session is not active.
  virtual Result<void> mark_authenticated(const std::string& session_id, Millis now) = 0;

  // Atomic: old token unknown or expired -> unknown; already used -> its session is revoked
  // (reused); session revoked -> unknown; otherwise the old token is marked used, new_hash
  // becomes the session's next token, last_seen_at = now and the session lives until
  // new_expires_at (rotated).
  virtual Result<RotateResult> rotate_refresh(const std::string& old_hash,
                                              const std::string& new_hash, Millis now,
                                              Millis new_expires_at) = 0;

  virtual Result<void> set_pending_totp(const std::string& user_id, const std::string& secret) = 0;
  // Atomic: pending secret becomes the active one, recovery code hashes replace old ones.
  virtual Result<void> enable_totp(const std::string& user_id,
                                   const std::vector<std::string>& recovery_hashes) = 0;
  virtual Result<void> disable_totp(const std::string& user_id) = 0;
  // Atomic compare-and-set: true when step is newer than the last accepted step (and records
  // it); false when that step or a later one was already used.
  virtual Result<bool> consume_totp_step(const std::string& user_id, std::int64_t step) = 0;
  // Atomic: true when the code hash existed (and is now spent).
  virtual Result<bool> consume_recovery_code(const std::string& user_id,
                                             const std::string& code_hash) = 0;

  // The token signing key: the stored one, or candidate stored and returned when none exists.
  struct SigningKey {
    std::string kid;
    std::string secret;
  };
  virtual Result<SigningKey> signing_key(const SigningKey& candidate) = 0;
};

}  // namespace parley::auth
