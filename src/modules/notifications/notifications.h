// Notifications module: who is told about a message, on which channel, and Web Push delivery.
//
// Pipeline (docs/notifications.md): every new message writes one `notify.message` job in the
// same transaction as the message (append_hook(), the transactional outbox of modules/jobs).
// Its handler, on a job worker, reads the conversation's members and, for each member the
// message may concern (a DM, an @mention, @channel, @here for members online, a keyword, or
// everything with level "all"), enqueues one `notify.push` job per enabled push subscription
// (idempotency key push:<message>:<subscription>) and, when a handler for it is registered, one
// `notify.email` job per user due email_delay_minutes later (key email:<message>:<user>; the
// email channel is another module's: it re-checks unread state at its own delivery). A
// `notify.push` job checks again at delivery time (read on any device, muted, level, quiet
// hours in the user's time zone, presence dnd) and sends the RFC 8291 encrypted payload
// {conversation_id, message_id, title, body} with a VAPID (RFC 8292) header through the
// outbound HttpFetcher; 404/410 remove the subscription.
//
// Settings calls block on the store: call them from worker threads. Job handlers run on job
// workers. Thread-safe. Errors: invalid_argument (field named), not_found (a conversation the
// caller is not a member of, a subscription that is not theirs), resource_exhausted (too many
// subscriptions).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "modules/jobs/new_job.h"
#include "modules/messaging/messaging.h"
#include "modules/notifications/store.h"
#include "modules/outbound/outbound.h"
#include "modules/presence/presence.h"
#include "modules/users/users.h"

namespace parley::jobs {
class JobQueue;
}
namespace parley::contact {
class ContactService;
}

namespace parley::notifications {

// The job kinds this module enqueues. kEmailJob's handler belongs to the email channel; its
// payload is {"user_id","conversation_id","message_id","seq"}.
inline constexpr const char* kMessageJob = "notify.message";
inline constexpr const char* kPushJob = "notify.push";
inline constexpr const char* kEmailJob = "notify.email";
inline constexpr const char* kSmsJob = "notify.sms";

struct SettingsPatch {
  std::optional<std::string> push;
  std::optional<std::string> email;
  std::optional<int> email_delay_minutes;
  std::optional<std::optional<QuietHours>> quiet_hours;  // set to nullopt: no quiet hours
  std::optional<std::vector<std::string>> keywords;
  std::optional<bool> push_previews;
};

struct NewSubscription {
  std::string endpoint;
  std::string p256dh;  // base64url
  std::string auth;    // base64url
  std::string device_name;
};

struct NotificationOptions {
  std::string vapid_key_path;  // PEM; created on first start
  std::string vapid_subject = "mailto:parley@localhost";
  outbound::AddressPolicy policy;  // which hosts may take plain http:// endpoints
  int max_subscriptions_per_user = 20;
  int max_keywords = 20;
  int max_keyword_chars = 50;
  int preview_chars = 140;
  int push_ttl_s = 24 * 3600;
  // Pushes wait this long after the message, so one read meanwhile on another device (the
  // desktop the user is looking at) spares the phone the notification.
  Millis push_delay_ms = 0;
  // One minute of a user's email_delay_minutes (tests make it shorter).
  Millis email_delay_unit_ms = 60'000;
};

// What one member is told about one message: decided from values, no I/O (unit-tested).
struct Recipient {
  bool is_dm = false;
  bool mentioned = false;  // by name, @channel, @here while online, or a keyword
  UserSettings settings;
  ConversationSettings conversation;
  std::string presence_status;  // "online", "away", "dnd", "offline"
};
// The level that applies to push (or email): the conversation's unless "default".
std::string effective_level(const std::string& user_level, const ConversationSettings& c);
// Whether the message should reach the member on a channel with user_level at now (ms).
bool notifiable(const Recipient& r, const std::string& user_level, Millis now);
// Whether now falls in the daily window (start inclusive, end exclusive; may wrap midnight) in
// q.tz. False for an unknown zone or malformed times.
bool in_quiet_hours(const QuietHours& q, Millis now);
// Whether text contains a keyword as a whole word (case-insensitive; keywords are lower case).
bool mentions_keyword(std::string_view text, const std::vector<std::string>& keywords);
// Whether a message's mention_all came from @here only (not @channel / @everyone).
bool here_only(std::string_view text);

class NotificationService {
 public:
  NotificationService(NotificationStore& store, messaging::MessagingService& messaging,
                      presence::PresenceService& presence, users::UserService& users,
                      jobs::JobQueue& queue, outbound::HttpFetcher& fetcher, const Clock& clock,
                      NotificationOptions options);
  ~NotificationService();

  // Loads (or creates) the VAPID key and registers the job handlers: before the queue starts.
  Result<void> init();
  // The outbox producer to add to the messaging store (MessagingStore::add_append_hook).
  messaging::AppendHook append_hook();
  // The contact channels, before the queue starts (contact outlives this service):
  // - notify.email (when contact can send mail): one digest mail of the user's unread
  //   notifiable messages through contact.send_digest; several jobs of one burst send one
  //   mail. A settings change turning email on calls contact.resubscribe().
  // - notify.sms (when an SMS provider is set): for DMs and mentions, to users with
  //   contact.notification_phone(); a short text through contact.queue_sms().
  void enable_contact(contact::ContactService& contact);

  Result<UserSettings> settings(const std::string& user_id);
  Result<UserSettings> update_settings(const std::string& user_id, const SettingsPatch& patch);
  Result<ConversationSettings> conversation_settings(const std::string& user_id,
                                                     const std::string& conversation_id);
  Result<ConversationSettings> set_conversation_settings(const std::string& user_id,
                                                         const std::string& conversation_id,
                                                         const ConversationSettings& s);

  // base64url of the VAPID public key (65-byte point), for PushManager.subscribe.
  std::string vapid_public_key() const;
  Result<PushSubscription> subscribe(const std::string& user_id, const NewSubscription& in);
  Result<std::vector<PushSubscription>> subscriptions(const std::string& user_id);
  Result<PushSubscription> set_subscription_enabled(const std::string& user_id,
                                                    const std::string& id, bool enabled);
  Result<void> unsubscribe(const std::string& user_id, const std::string& id);

  struct Stats {
    std::uint64_t pushes_sent = 0;
    std::uint64_t pushes_skipped = 0;  // read meanwhile, muted, quiet hours, dnd
    std::uint64_t subscriptions_expired = 0;
    std::uint64_t digests_sent = 0;
    std::uint64_t texts_sent = 0;
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::notifications
