// Auth module: registration, login with optional TOTP, access and refresh tokens, sessions.
//
// Passwords are Argon2id; access tokens are short-lived Ed25519-signed values checked on every
// request together with their session (a revoked session's token stops working at once);
// refresh tokens rotate, and presenting a used one revokes its whole session. Revocations are
// published on the bus (kSessionRevokedTopic, payload = session id) so open WebSockets close.
//
// Blocking (stores, Argon2id): call from worker threads. Thread-safe after init().
// Errors: invalid_argument/malformed, unauthenticated (same answer for unknown user and wrong
// password), second_factor_required, already_exists, failed_precondition, not_found.
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

struct AuthOptions {
  Millis access_ttl_ms = 15 * 60 * 1000;
  Millis refresh_ttl_ms = 30LL * 24 * 3600 * 1000;
  unsigned long long argon2_ops_limit = 2;
  std::size_t argon2_mem_limit_bytes = 19 * 1024 * 1024;
  std::string totp_issuer = "Parley";
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
  Result<Tokens> refresh(const std::string& refresh_token);
  // Signature, expiry, and that the session is still active.
  Result<Principal> authenticate(const std::string& access_token);
  Result<void> logout(const Principal& p);
  Result<std::vector<SessionInfo>> sessions(const Principal& p);
  Result<void> revoke_session(const Principal& p, const std::string& session_id);

  Result<TotpSetup> totp_setup(const Principal& p);
  Result<std::vector<std::string>> totp_enable(const Principal& p, const std::string& code);
  Result<void> totp_disable(const Principal& p, const std::string& code);

  static constexpr int kRecoveryCodes = 10;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::auth
