// Auth module: registration, login with optional TOTP, access and refresh tokens, sessions.
//
// Passwords are Argon2id; access tokens are short-lived Ed25519-signed values checked on every
// request together with their session (a revoked session's token stops working at once);
// refresh tokens rotate, and presenting a used one revokes its whole session. Revocations are
// published on the bus (kSessionRevokedTopic, payload = session id) so open WebSockets close.
//
// Blocking (stores, Argon2id): call from worker threads. Thread-safe after init().
// Errors: invalid_argument/malformed, unauthenticated (same answer for unknown user and wrong
// password), second_factor_required, already_exists, failed_precondition, not_found,
// reauth_required (a sensitive change without a recent credential check), permission_denied
// with field "deactivated" (an admin deactivated the account: API 403 `deactivated`).
#pragma once

#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/bus.h"
#include "core/clock.h"
#include "core/result.h"
#include "modules/auth/store.h"
#include "modules/users/users.h"

namespace parley::auth {

inline constexpr const char* kSessionRevokedTopic = "auth.session_revoked";
// Payload: a user id. Every open socket of that user closes now (4001): a deactivated bot, or
// the bots of a deactivated owner, whose tokens stay but are refused while deactivated. Not
// remembered: a later hello is judged afresh (after a reactivation it succeeds).
inline constexpr const char* kUserDisconnectTopic = "auth.user_disconnect";

struct AuthOptions {
  Millis access_ttl_ms = 15 * 60 * 1000;
  Millis refresh_ttl_ms = 30LL * 24 * 3600 * 1000;
  unsigned long long argon2_ops_limit = 2;
  std::size_t argon2_mem_limit_bytes = 19 * 1024 * 1024;
  std::string totp_issuer = "Parley";
  // Sensitive changes (2FA, revoking another session) need a password or second-factor check
  // in the session within this window (sign-in counts); else reauth_required.
  Millis reauth_window_ms = 10 * 60 * 1000;
};

struct Tokens {
  std::string access_token;
  std::string refresh_token;
  int expires_in_s = 0;
};

struct Authenticated {
  users::User user;
  Tokens tokens;
  std::string session_id;
};

struct Principal {
  std::string user_id;
  std::string session_id;
  // A bot token's principal (the integrations module's, recognised by the API layer) carries
  // the scopes it was given and may do nothing else; a person's session has no scopes and is
  // not limited by them.
  bool bot = false;
  std::vector<std::string> scopes{};
};

struct RegisterRequest {
  std::string username;
  std::string password;
  std::optional<std::string> display_name;
  std::optional<std::string> email;
  std::optional<std::string> device_name;
};

struct LoginRequest {
  std::string username;
  std::string password;
  std::optional<std::string> totp_code;
  std::optional<std::string> device_name;
};

struct SessionInfo {
  std::string id;
  std::string device_name;
  Millis created_at = 0;
  Millis last_seen_at = 0;
  bool current = false;
};

struct TotpSetup {
  std::string secret_base32;
  std::string otpauth_uri;
};

class AuthService {
 public:
  AuthService(AuthStore& store, users::UserService& users, Bus& bus, const Clock& clock,
              AuthOptions options);
  ~AuthService();

  // Loads (or creates) the token signing key and subscribes to revocations from other nodes.
  Result<void> init();

  Result<Authenticated> register_user(const RegisterRequest& r);
  Result<Authenticated> login(const LoginRequest& r);
  // A session for an account whose owner another party vouched for (single sign-on: the sso
  // module checked the provider's ID token). Counts as a fresh credential check.
  Result<Authenticated> sign_in_verified(const std::string& user_id,
                                         const std::optional<std::string>& device_name);
  Result<Tokens> refresh(const std::string& refresh_token);
  // Signature, expiry, and that the session is still active.
  Result<Principal> authenticate(const std::string& access_token);
  Result<void> logout(const Principal& p);
  // Ends every session of the user, this one too.
  Result<void> logout_all(const Principal& p);
  Result<std::vector<SessionInfo>> sessions(const Principal& p);
  // Ending the caller's own session is a logout; ending another needs a recent credential check.
  Result<void> revoke_session(const Principal& p, const std::string& session_id);
  // Needs the current password; every other session of the user ends.
  Result<void> change_password(const Principal& p, const std::string& current_password,
                               const std::string& new_password);
  // A fresh credential check for this session: the password, or a TOTP/recovery code when 2FA
  // is on. invalid_argument when it does not match.
  Result<void> reauthenticate(const Principal& p, const std::optional<std::string>& password,
                              const std::optional<std::string>& code);
  // reauth_required unless this session checked a credential within the reauth window: for
  // other modules' sensitive changes (an email address).
  Result<void> require_recent_auth(const Principal& p);
  // invalid_argument (field "password") unless pw is an acceptable password (8-1024 characters).
  static Result<void> check_new_password(const std::string& pw);
  // Sets the password of a user who proved control some other way (a reset link) and ends every
  // session of that user (their sockets close). Checks the password's shape first.
  Result<void> reset_password(const std::string& user_id, const std::string& new_password);
  // When the session's refresh token lapses; unauthenticated once it ended (revoked, expired).
  Result<Millis> session_expiry(const std::string& session_id);

  // All three need a recent credential check (reauth_required otherwise).
  Result<TotpSetup> totp_setup(const Principal& p);
  Result<std::vector<std::string>> totp_enable(const Principal& p, const std::string& code);
  Result<void> totp_disable(const Principal& p, const std::string& code);

  // Administration (the API checks the caller is an admin). Ends every session of the user (their
  // tokens stop working and their sockets close, on every node); the ids it ended.
  Result<std::vector<std::string>> end_all_sessions(const std::string& user_id);
  // Turns two-factor off for the user (secret, pending secret and recovery codes gone) without
  // a code, for an admin helping someone who lost their device. not_found for an unknown user.
  Result<void> reset_second_factor(const std::string& user_id);
  // Whether the user has two-factor on (for the admin console).
  Result<bool> second_factor_enabled(const std::string& user_id);

  static constexpr int kRecoveryCodes = 10;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::auth
