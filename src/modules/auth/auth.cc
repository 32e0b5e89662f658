#include "modules/auth/auth.h"

#include <cctype>
#include <mutex>

#include "access_token.h"
#include "core/crypto.h"
#include "core/id.h"
#include "core/log.h"
#include "core/text.h"
#include "password.h"
#include "totp.h"

namespace parley::auth {
namespace {

constexpr std::size_t kMaxSessionCache = 200'000;
constexpr std::size_t kMaxVerifiedTokens = 50'000;

Result<void> check_password_shape(const std::string& pw) {
  if (!text::is_valid_utf8(pw))
    return fail(Errc::malformed, "password is not valid UTF-8", "password");
  auto n = text::char_count(pw);
  if (n < 8 || n > 1024)
    return fail(Errc::invalid_argument, "password must be 8 to 1024 characters", "password");
  return ok();
}

std::string clean_device_name(const std::optional<std::string>& raw) {
  if (!raw || !text::is_valid_utf8(*raw)) return "unknown device";
  std::string t(text::trim(*raw));
  if (t.empty() || text::has_control_chars(t, false)) return "unknown device";
  std::size_t chars = 0;  // at most 64 characters, cut on a character boundary
  for (std::size_t i = 0; i < t.size(); ++i) {
    if ((static_cast<unsigned char>(t[i]) & 0xC0) != 0x80 && ++chars > 64) {
      t.resize(i);
      break;
    }
  }
  return t;
}

// Recovery codes: 10 base32 characters as "xxxxx-xxxxx" (50 bits), compared by hash.
std::string new_recovery_code() {
  std::string raw = base32_encode(random_bytes(7)).substr(0, 10);
  return text::ascii_lower(raw.substr(0, 5) + "-" + raw.substr(5));
}

// Keyed, so that a copy of the database alone cannot test the 2^50 codes offline.
std::string recovery_hash(std::string_view key, std::string_view code) {
  std::string norm;
  for (char c : code)
    if (c != '-' && c != ' ')
      norm += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return hmac_sha256(key, norm);
}

Error unauthenticated() {
  return Error{Errc::unauthenticated, "invalid username or password", {}, 0};
}

Error deactivated() {
  return Error{Errc::permission_denied, "this account has been deactivated by an administrator",
               "deactivated", 0};
}

}  // namespace

struct AuthService::Impl {
  AuthStore& store;
  users::UserService& users;
  Bus& bus;
  const Clock& clock;
  AuthOptions opts;
  PasswordHasher hasher;
  std::unique_ptr<AccessTokenSigner> signer;
  std::string recovery_key;  // derived from the signing key: stays with the data
  std::unique_ptr<Bus::Subscription> revocations;
  std::unique_ptr<Bus::Subscription> gaps;

  // Session id -> active? Filled on first sight, flipped on revocation (ours or, through the
  // bus, another node's). Revoked sessions never come back, so a stale "revoked" is impossible.
  std::shared_mutex cache_mu;
  std::unordered_map<std::string, bool> session_active;
  // Access token -> its claims, so a token's Ed25519 signature is checked once, not on every
  // request (it was half of an authenticated request's CPU). Entries die with the token.
  std::unordered_map<std::string, AccessClaims> verified;

  Impl(AuthStore& s, users::UserService& u, Bus& b, const Clock& c, AuthOptions o)
      : store(s),
        users(u),
        bus(b),
        clock(c),
        opts(o),
        hasher(PasswordParams{o.argon2_ops_limit, o.argon2_mem_limit_bytes}) {}

  // "Revoked" always wins: an "active" read from the store before a concurrent revocation
  // committed must not overwrite the revocation recorded since.
  void remember(const std::string& sid, bool active) {
    std::unique_lock lock(cache_mu);
    if (session_active.size() >= kMaxSessionCache) session_active.clear();
    if (active) {
      session_active.try_emplace(sid, true);
    } else {
      session_active[sid] = false;
    }
  }

  Result<AccessClaims> verify(const std::string& token, Millis now) {
    {
      std::shared_lock lock(cache_mu);
      auto it = verified.find(token);
      if (it != verified.end()) {
        if (it->second.expires_at <= now)
          return fail(Errc::unauthenticated, "invalid or expired token");
        return it->second;
      }
    }
    auto claims = signer->verify(token, now);
    if (!claims) return claims;
    std::unique_lock lock(cache_mu);
    if (verified.size() >= kMaxVerifiedTokens) verified.clear();
    verified.emplace(token, *claims);
    return claims;
  }

  void revoked(const std::string& sid) {
    remember(sid, false);
    bus.publish(kSessionRevokedTopic, sid);
  }

  Result<Authenticated> start_session(const users::User& u,
                                      const std::optional<std::string>& device) {
    Millis now = clock.now_ms();
    SessionRecord s{new_id(now), u.id, clean_device_name(device), now, now, std::nullopt};
    s.authenticated_at = now;
    std::string refresh = base64url_encode(random_bytes(32));
    auto r = store.create_session(s, sha256(refresh), now + opts.refresh_ttl_ms);
    if (!r) return fail(r.error());
    remember(s.id, true);
    return Authenticated{u, Tokens{access_for(u.id, s.id, now), refresh, ttl_seconds()}, s.id};
  }

  // A session for a sign-in whose credentials were checked and whose account was active then.
  Result<Authenticated> start_session_if_active(const users::User& u,
                                                const std::optional<std::string>& device) {
    auto started = start_session(u, device);
    if (!started) return started;
    // Deactivation stores the flag, then ends the sessions. Asking again after this session is
    // stored closes the gap: either that sweep saw this session, or this read sees the flag.
    if (auto now = users.get(u.id); now && now->deactivated_at) {
      (void)store.revoke_session(u.id, started->session_id, clock.now_ms());
      revoked(started->session_id);
      return fail(deactivated());
    }
    return started;
  }

  std::string access_for(const std::string& uid, const std::string& sid, Millis now) const {
    return signer->sign(AccessClaims{uid, sid, now, now + opts.access_ttl_ms});
  }

  int ttl_seconds() const { return static_cast<int>(opts.access_ttl_ms / 1000); }

  // A TOTP code (6 digits) or a recovery code; each accepted once only.
  Result<bool> second_factor_ok(const Credentials& c, const std::string& secret,
                                const std::string& code) {
    if (code.size() == 6 && code.find_first_not_of("0123456789") == std::string::npos) {
      auto step = totp_match(secret, code, clock.now_ms() / 1000);
      if (!step) return false;
      return store.consume_totp_step(c.user_id, static_cast<std::int64_t>(*step));
    }
    if (code.size() > 32) return false;
    return store.consume_recovery_code(c.user_id, recovery_hash(recovery_key, code));
  }

  // reauth_required unless the session checked a credential within the window.
  Result<void> recently_authenticated(const Principal& p) {
    auto session = store.session(p.session_id);
    if (!session) return fail(session.error());
    if (clock.now_ms() - session->authenticated_at > opts.reauth_window_ms)
      return fail(Errc::reauth_required,
                  "confirm your password or a two-factor code first (POST /api/v1/auth/reauth)");
    return ok();
  }

  void revoked_all(const std::vector<std::string>& ids) {
    for (const auto& id : ids) revoked(id);
  }
};

AuthService::AuthService(AuthStore& store, users::UserService& users, Bus& bus, const Clock& clock,
                         AuthOptions options)
    : impl_(std::make_unique<Impl>(store, users, bus, clock, options)) {}

AuthService::~AuthService() = default;

Result<void> AuthService::init() {
  auto& s = *impl_;
  auto key =
      s.store.signing_key({new_id(s.clock.now_ms()), AccessTokenSigner::generate_secret_key()});
  if (!key) return fail(key.error());
  s.signer = std::make_unique<AccessTokenSigner>(key->kid, key->secret);
  s.recovery_key = hmac_sha256(key->secret, "parley recovery codes v1");
  s.revocations = s.bus.subscribe(kSessionRevokedTopic, [this](std::string_view sid) {
    impl_->remember(std::string(sid), false);
  });
  // Revocations from other nodes may have been missed: ask the store again about every
  // session believed active (those known revoked stay revoked).
  s.gaps = s.bus.subscribe(std::string(kBusGapTopic), [this](std::string_view) {
    std::unique_lock lock(impl_->cache_mu);
    std::erase_if(impl_->session_active, [](const auto& kv) { return kv.second; });
  });
  return ok();
}

Result<Authenticated> AuthService::register_user(const RegisterRequest& r) {
  auto& s = *impl_;
  if (auto shape = check_password_shape(r.password); !shape) return fail(shape.error());
  auto hash = s.hasher.hash(r.password);
  if (!hash) return fail(hash.error());
  auto user = s.users.create({r.username, r.display_name, r.email});
  if (!user) return fail(user.error());
  if (auto c = s.store.create_credentials(user->id, *hash); !c) {
    (void)s.users.remove(user->id);  // no user without credentials
    return fail(c.error());
  }
  return s.start_session(*user, r.device_name);
}

Result<Authenticated> AuthService::login(const LoginRequest& r) {
  auto& s = *impl_;
  auto user = s.users.find_by_username(r.username);
  if (!user) {
    if (user.error().code != Errc::not_found) return fail(user.error());
    s.hasher.verify_dummy(r.password);
    return fail(unauthenticated());
  }
  auto creds = s.store.credentials(user->id);
  if (!creds) {
    s.hasher.verify_dummy(r.password);
    return fail(creds.error().code == Errc::not_found ? unauthenticated() : creds.error());
  }
  if (!s.hasher.verify(creds->password_hash, r.password)) return fail(unauthenticated());
  if (creds->totp_secret) {
    if (!r.totp_code || r.totp_code->empty())
      return fail(Errc::second_factor_required, "a TOTP or recovery code is required");
    auto good = s.second_factor_ok(*creds, *creds->totp_secret, *r.totp_code);
    if (!good) return fail(good.error());
    if (!*good) return fail(Errc::second_factor_required, "invalid or already used code");
  }
  if (user->deactivated_at) return fail(deactivated());
  if (s.hasher.needs_rehash(creds->password_hash)) {
    if (auto h = s.hasher.hash(r.password))
      if (auto w = s.store.set_password_hash(user->id, *h); !w)
        log::warn("password rehash not stored", {{"user_id", user->id}});
  }
  return s.start_session_if_active(*user, r.device_name);
}

Result<Authenticated> AuthService::sign_in_verified(const std::string& user_id,
                                                    const std::optional<std::string>& device_name) {
  auto& s = *impl_;
  auto user = s.users.get(user_id);
  if (!user) return fail(user.error());
  if (user->deactivated_at) return fail(deactivated());
  return s.start_session_if_active(*user, device_name);
}

Result<Tokens> AuthService::refresh(const std::string& refresh_token) {
  auto& s = *impl_;
  if (refresh_token.empty() || refresh_token.size() > 256)
    return fail(Errc::unauthenticated, "invalid refresh token");
  Millis now = s.clock.now_ms();
  std::string next = base64url_encode(random_bytes(32));
  auto r =
      s.store.rotate_refresh(sha256(refresh_token), sha256(next), now, now + s.opts.refresh_ttl_ms);
  if (!r) return fail(r.error());
  switch (r->outcome) {
    case RotateOutcome::unknown:
      return fail(Errc::unauthenticated, "invalid refresh token");
    case RotateOutcome::reused:
      log::warn("refresh token reused; session revoked", {{"session_id", r->session.id}});
      s.revoked(r->session.id);
      return fail(Errc::unauthenticated, "refresh token already used; session revoked");
    case RotateOutcome::rotated:
      break;
  }
  if (auto u = s.users.get(r->session.user_id); u && u->deactivated_at) {
    (void)s.store.revoke_session(r->session.user_id, r->session.id, now);
    s.revoked(r->session.id);
    return fail(deactivated());
  }
  return Tokens{s.access_for(r->session.user_id, r->session.id, now), next, s.ttl_seconds()};
}

Result<Principal> AuthService::authenticate(const std::string& access_token) {
  auto& s = *impl_;
  auto claims = s.verify(access_token, s.clock.now_ms());
  if (!claims) return fail(claims.error());
  {
    std::shared_lock lock(s.cache_mu);
    auto it = s.session_active.find(claims->session_id);
    if (it != s.session_active.end()) {
      if (!it->second) return fail(Errc::unauthenticated, "session ended");
      return Principal{claims->user_id, claims->session_id};
    }
  }
  auto session = s.store.session(claims->session_id);
  if (!session && session.error().code != Errc::not_found) return fail(session.error());
  bool active = session && !session->revoked_at;
  s.remember(claims->session_id, active);
  if (!active) return fail(Errc::unauthenticated, "session ended");
  return Principal{claims->user_id, claims->session_id};
}

Result<void> AuthService::logout(const Principal& p) {
  auto& s = *impl_;
  if (auto r = s.store.revoke_session(p.user_id, p.session_id, s.clock.now_ms()); !r) return r;
  s.revoked(p.session_id);
  return ok();
}

Result<void> AuthService::logout_all(const Principal& p) {
  auto& s = *impl_;
  auto ended = s.store.revoke_sessions(p.user_id, "", s.clock.now_ms());
  if (!ended) return fail(ended.error());
  s.revoked_all(*ended);
  return ok();
}

Result<void> AuthService::change_password(const Principal& p, const std::string& current_password,
                                          const std::string& new_password) {
  auto& s = *impl_;
  if (auto shape = check_password_shape(new_password); !shape) return fail(shape.error());
  auto creds = s.store.credentials(p.user_id);
  if (!creds) return fail(creds.error());
  if (!s.hasher.verify(creds->password_hash, current_password))
    return fail(Errc::invalid_argument, "the current password is wrong", "current_password");
  auto hash = s.hasher.hash(new_password);
  if (!hash) return fail(hash.error());
  if (auto w = s.store.set_password_hash(p.user_id, *hash); !w) return w;
  // Whoever else held a session may have known the old password: they all end.
  auto ended = s.store.revoke_sessions(p.user_id, p.session_id, s.clock.now_ms());
  if (!ended) return fail(ended.error());
  s.revoked_all(*ended);
  return s.store.mark_authenticated(p.session_id, s.clock.now_ms());
}

Result<void> AuthService::reauthenticate(const Principal& p,
                                         const std::optional<std::string>& password,
                                         const std::optional<std::string>& code) {
  auto& s = *impl_;
  if (!password && !code)
    return fail(Errc::invalid_argument, "give password or totp_code", "password");
  auto creds = s.store.credentials(p.user_id);
  if (!creds) return fail(creds.error());
  if (password) {
    if (!s.hasher.verify(creds->password_hash, *password))
      return fail(Errc::invalid_argument, "the password is wrong", "password");
  } else {
    if (!creds->totp_secret)
      return fail(Errc::invalid_argument, "two-factor is not enabled: give the password",
                  "totp_code");
    auto good = s.second_factor_ok(*creds, *creds->totp_secret, *code);
    if (!good) return fail(good.error());
    if (!*good) return fail(Errc::invalid_argument, "invalid or already used code", "totp_code");
  }
  return s.store.mark_authenticated(p.session_id, s.clock.now_ms());
}

Result<void> AuthService::require_recent_auth(const Principal& p) {
  return impl_->recently_authenticated(p);
}

Result<void> AuthService::check_new_password(const std::string& pw) {
  return check_password_shape(pw);
}

Result<void> AuthService::reset_password(const std::string& user_id,
                                         const std::string& new_password) {
  auto& s = *impl_;
  if (auto shape = check_password_shape(new_password); !shape) return fail(shape.error());
  auto hash = s.hasher.hash(new_password);
  if (!hash) return fail(hash.error());
  if (auto w = s.store.set_password_hash(user_id, *hash); !w) return w;
  // Whoever held a session may be who the owner is locking out: every session ends.
  auto ended = s.store.revoke_sessions(user_id, "", s.clock.now_ms());
  if (!ended) return fail(ended.error());
  s.revoked_all(*ended);
  return ok();
}

Result<Millis> AuthService::session_expiry(const std::string& session_id) {
  auto& s = *impl_;
  auto session = s.store.session(session_id);
  if (!session) {
    if (session.error().code != Errc::not_found) return fail(session.error());
    return fail(Errc::unauthenticated, "session ended");
  }
  if (session->revoked_at || session->expires_at <= s.clock.now_ms()) {
    s.remember(session_id, false);
    return fail(Errc::unauthenticated, "session ended");
  }
  return session->expires_at;
}

Result<std::vector<SessionInfo>> AuthService::sessions(const Principal& p) {
  auto list = impl_->store.active_sessions(p.user_id, impl_->clock.now_ms());
  if (!list) return fail(list.error());
  std::vector<SessionInfo> out;
  out.reserve(list->size());
  for (const auto& s : *list)
    out.push_back({s.id, s.device_name, s.created_at, s.last_seen_at, s.id == p.session_id});
  return out;
}

Result<void> AuthService::revoke_session(const Principal& p, const std::string& session_id) {
  auto& s = *impl_;
  if (!looks_like_id(session_id)) return fail(Errc::not_found, "no such session");
  if (session_id == p.session_id) return logout(p);
  if (auto fresh = s.recently_authenticated(p); !fresh) return fresh;
  auto r = s.store.revoke_session(p.user_id, session_id, s.clock.now_ms());
  if (!r) return r;
  s.revoked(session_id);
  return ok();
}

Result<std::vector<std::string>> AuthService::end_all_sessions(const std::string& user_id) {
  auto& s = *impl_;
  auto ended = s.store.revoke_sessions(user_id, "", s.clock.now_ms());
  if (!ended) return fail(ended.error());
  s.revoked_all(*ended);
  return ended;
}

Result<void> AuthService::reset_second_factor(const std::string& user_id) {
  auto& s = *impl_;
  auto creds = s.store.credentials(user_id);
  if (!creds)
    return fail(creds.error().code == Errc::not_found
                    ? Error{Errc::not_found, "no such user", {}, 0}
                    : creds.error());
  return s.store.disable_totp(user_id);
}

Result<bool> AuthService::second_factor_enabled(const std::string& user_id) {
  auto creds = impl_->store.credentials(user_id);
  if (!creds) {
    if (creds.error().code == Errc::not_found) return false;
    return fail(creds.error());
  }
  return creds->totp_secret.has_value();
}

Result<TotpSetup> AuthService::totp_setup(const Principal& p) {
  auto& s = *impl_;
  if (auto fresh = s.recently_authenticated(p); !fresh) return fail(fresh.error());
  auto creds = s.store.credentials(p.user_id);
  if (!creds) return fail(creds.error());
  if (creds->totp_secret) return fail(Errc::failed_precondition, "two-factor is already enabled");
  auto user = s.users.get(p.user_id);
  if (!user) return fail(user.error());
  std::string secret = random_bytes(20);  // 160 bits, as RFC 4226 recommends
  if (auto r = s.store.set_pending_totp(p.user_id, secret); !r) return fail(r.error());
  std::string b32 = base32_encode(secret);
  std::string uri = "otpauth://totp/" + s.opts.totp_issuer + ":" + user->username +
                    "?secret=" + b32 + "&issuer=" + s.opts.totp_issuer +
                    "&algorithm=SHA1&digits=6&period=30";
  return TotpSetup{b32, uri};
}

Result<std::vector<std::string>> AuthService::totp_enable(const Principal& p,
                                                          const std::string& code) {
  auto& s = *impl_;
  if (auto fresh = s.recently_authenticated(p); !fresh) return fail(fresh.error());
  auto creds = s.store.credentials(p.user_id);
  if (!creds) return fail(creds.error());
  if (creds->totp_secret) return fail(Errc::failed_precondition, "two-factor is already enabled");
  if (!creds->pending_totp_secret) return fail(Errc::failed_precondition, "call totp/setup first");
  auto step = totp_match(*creds->pending_totp_secret, code, s.clock.now_ms() / 1000);
  if (!step) return fail(Errc::invalid_argument, "code does not match", "code");
  auto fresh = s.store.consume_totp_step(p.user_id, static_cast<std::int64_t>(*step));
  if (!fresh) return fail(fresh.error());
  if (!*fresh) return fail(Errc::invalid_argument, "code already used", "code");
  std::vector<std::string> codes, hashes;
  for (int i = 0; i < kRecoveryCodes; ++i) {
    codes.push_back(new_recovery_code());
    hashes.push_back(recovery_hash(s.recovery_key, codes.back()));
  }
  if (auto r = s.store.enable_totp(p.user_id, hashes); !r) return fail(r.error());
  return codes;
}

Result<void> AuthService::totp_disable(const Principal& p, const std::string& code) {
  auto& s = *impl_;
  if (auto fresh = s.recently_authenticated(p); !fresh) return fresh;
  auto creds = s.store.credentials(p.user_id);
  if (!creds) return fail(creds.error());
  if (!creds->totp_secret) return fail(Errc::failed_precondition, "two-factor is not enabled");
  auto good = s.second_factor_ok(*creds, *creds->totp_secret, code);
  if (!good) return fail(good.error());
  if (!*good) return fail(Errc::invalid_argument, "invalid or already used code", "code");
  return s.store.disable_totp(p.user_id);
}

}  // namespace parley::auth
