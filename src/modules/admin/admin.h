// Admin module: what system administrators do (docs/administration.md). Users: deactivate and
// reactivate (a deactivated account's sessions end at once, on every node, through auth's
// revocations on the bus), reset two-factor, force sign-out, change the system role. Channels:
// archive, unarchive, change the owner. Server settings: the registration mode (open,
// invite-only, closed), invite links with an expiry and a use count, allowed email domains; and
// admit(), which registration asks before it creates an account.
//
// Every change is recorded through the audit Recorder, once, after it succeeded, with the actor
// and client address given. Who may call is the API's check (require_admin); this module trusts
// its caller. Blocking (stores): call from worker threads. Thread-safe.
// Errors: not_found (unknown user, channel or invite), invalid_argument (field named),
// failed_precondition (an admin acting on their own account, or leaving no active admin),
// permission_denied (admit: registration closed, invite missing or unusable, email domain not
// allowed; field "invite_token" or "email").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "modules/admin/store.h"
#include "modules/audit/audit.h"
#include "modules/auth/auth.h"
#include "modules/messaging/messaging.h"
#include "modules/users/users.h"

namespace parley::admin {

// Who acts: their user id ("" for the command line) and client address.
struct Actor {
  std::string user_id;
  std::string ip;
};

struct SettingsPatch {
  std::optional<std::string> registration;  // "open" | "invite_only" | "closed"
  std::optional<std::vector<std::string>> allowed_email_domains;
};

struct NewInvite {
  std::optional<Millis> expires_in_ms;  // none: never expires; else 1 minute to 365 days
  int max_uses = 1;                     // 0: unlimited; else 1 to 10,000
};

struct CreatedInvite {
  Invite invite;
  std::string token;  // shown once; registration takes it as invite_token
};

// What admit() let in: the invite it used (to release when the registration then fails).
struct Admission {
  std::optional<std::string> invite_id;
};

class AdminService {
 public:
  AdminService(AdminStore& store, users::UserService& users, auth::AuthService& auth,
               messaging::MessagingService& messaging, audit::Recorder& audit, const Clock& clock)
      : store_(store),
        users_(users),
        auth_(auth),
        messaging_(messaging),
        audit_(audit),
        clock_(clock) {}

  // Users.
  Result<users::User> deactivate(const Actor& by, const std::string& user_id);
  Result<users::User> reactivate(const Actor& by, const std::string& user_id);
  Result<void> reset_second_factor(const Actor& by, const std::string& user_id);
  // Ends every session of the user; how many.
  Result<int> sign_out(const Actor& by, const std::string& user_id);
  Result<users::User> set_role(const Actor& by, const std::string& user_id, users::Role role);

  // Channels.
  Result<messaging::Conversation> set_channel_archived(const Actor& by, const std::string& id,
                                                       bool archived);
  Result<messaging::Member> set_channel_owner(const Actor& by, const std::string& id,
                                              const std::string& user_id);

  // Settings and invites.
  Result<Settings> settings();
  Result<Settings> update_settings(const Actor& by, const SettingsPatch& patch);
  Result<CreatedInvite> create_invite(const Actor& by, const NewInvite& in);
  Result<std::vector<Invite>> invites();
  Result<Invite> revoke_invite(const Actor& by, const std::string& id);

  // Registration: whether an account with this email (and invite token) may be created now.
  // The very first account is always let in (the server needs its admin).
  Result<Admission> admit(const std::optional<std::string>& email,
                          const std::optional<std::string>& invite_token);
  // Undoes admit()'s use of an invite when the registration failed after it.
  void release(const Admission& a);

  static constexpr int kMaxDomains = 100;

 private:
  void record(const Actor& by, const char* action, std::string target);

  AdminStore& store_;
  users::UserService& users_;
  auth::AuthService& auth_;
  messaging::MessagingService& messaging_;
  audit::Recorder& audit_;
  const Clock& clock_;
};

}  // namespace parley::admin
