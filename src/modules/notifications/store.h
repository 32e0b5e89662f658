// NotificationStore: the notifications module's tables: each user's notification settings, their
// per-conversation overrides, and their Web Push subscriptions (one per browser/device).
// Implemented by adapters (SQLite, PostgreSQL), each passing store_contract.h. Blocking,
// thread-safe; call from worker threads. The service validates; the store keeps.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace parley::notifications {

// "22:00" to "07:00" in tz: a window that may wrap midnight.
struct QuietHours {
  std::string start;
  std::string end;
  std::string tz;
  bool operator==(const QuietHours&) const = default;
};

// Levels are "all", "mentions" or "none".
struct UserSettings {
  std::string push = "mentions";
  std::string email = "mentions";  // read by the email channel (mail.* job kinds)
  int email_delay_minutes = 15;    // email only for what is still unread this long after
  std::optional<QuietHours> quiet_hours;
  std::vector<std::string> keywords;  // lower case; a message containing one counts as a mention
  bool push_previews = true;          // false: pushes say "New message", not the text
  bool operator==(const UserSettings&) const = default;
};

// level: "default" (the user's), "all", "mentions" or "none".
struct ConversationSettings {
  std::string level = "default";
  std::optional<Millis> muted_until;
  bool operator==(const ConversationSettings&) const = default;
};

struct PushSubscription {
  std::string id;
  std::string user_id;
  std::string endpoint;
  std::string p256dh;  // base64url, as the browser gave it
  std::string auth;    // base64url
  std::string device_name;
  bool enabled = true;  // the device's push switch
  Millis created_at = 0;
};

class NotificationStore {
 public:
  virtual ~NotificationStore() = default;
  // The saved settings of each of these users; a user who never saved any is left out (the
  // service's defaults apply). A message's fan-out reads a page of members in one query.
  virtual Result<std::unordered_map<std::string, UserSettings>> settings_of(
      const std::vector<std::string>& user_ids) = 0;
  // nullopt when the user never saved settings.
  Result<std::optional<UserSettings>> settings(const std::string& user_id) {
    auto all = settings_of({user_id});
    if (!all) return fail(all.error());
    auto it = all->find(user_id);
    if (it == all->end()) return std::optional<UserSettings>();
    return std::optional<UserSettings>(std::move(it->second));
  }
  virtual Result<void> put_settings(const std::string& user_id, const UserSettings& s) = 0;
  // Each of these users' saved overrides for one conversation; users with none are left out.
  virtual Result<std::unordered_map<std::string, ConversationSettings>> conversation_settings_of(
      const std::string& conversation_id, const std::vector<std::string>& user_ids) = 0;
  // The default (level "default", not muted) when none was saved.
  Result<ConversationSettings> conversation_settings(const std::string& user_id,
                                                     const std::string& conversation_id) {
    auto all = conversation_settings_of(conversation_id, {user_id});
    if (!all) return fail(all.error());
    auto it = all->find(user_id);
    return it == all->end() ? ConversationSettings{} : std::move(it->second);
  }
  virtual Result<void> put_conversation_settings(const std::string& user_id,
                                                 const std::string& conversation_id,
                                                 const ConversationSettings& s) = 0;

  // Members of the conversation whom a message mentioning nobody could still concern: a saved
  // push or email level of "all", a keyword, or an override of "all" for this conversation
  // (the default level is "mentions"). Reads the messaging module's members table of the same
  // database; indexed so that the cost follows these users, not the conversation's size.
  virtual Result<std::vector<std::string>> eager_members(const std::string& conversation_id) = 0;

  // Endpoints are unique: subscribing an endpoint that exists replaces that row (keys, owner,
  // device name) and keeps its id. Returns the stored subscription.
  virtual Result<PushSubscription> add_subscription(const PushSubscription& s) = 0;
  // Oldest first.
  virtual Result<std::vector<PushSubscription>> subscriptions_of(const std::string& user_id) = 0;
  // nullopt when the user has no such subscription.
  virtual Result<std::optional<PushSubscription>> set_subscription_enabled(
      const std::string& user_id, const std::string& id, bool enabled) = 0;
  // False when the user has no such subscription.
  virtual Result<bool> remove_subscription(const std::string& user_id, const std::string& id) = 0;
  // The push service said the endpoint is gone (404/410).
  virtual Result<bool> remove_endpoint(const std::string& endpoint) = 0;

  // Email digests: per conversation, the highest seq a digest mail already covered for the user,
  // so a later notify.email job (on any node, after any restart) mails only what is new.
  virtual Result<std::map<std::string, std::int64_t>> digest_marks(const std::string& user_id) = 0;
  // Raises each mark to the seq given (a lower one leaves the stored mark as it is).
  virtual Result<void> raise_digest_marks(
      const std::string& user_id,
      const std::vector<std::pair<std::string, std::int64_t>>& marks) = 0;
};

}  // namespace parley::notifications
