// Contact module: a user's email address and phone number, each verified before use, and
// password reset by email.
//
// - Email: change_email() records a pending address and mails a link with a single-use token
//   (24 h); verify_email() redeems it, and the address becomes the verified one (one verified
//   owner per address). Only a verified address receives password resets and digests.
// - Password reset: forgot_password() does the same work whatever the address (a lookup, a
//   token, one stored row) and mails the link only when a user verified that address; the
//   answer is the same either way. reset_password() redeems the token (single use, 30 minutes),
//   sets the password through auth and ends every session of the user.
// - Phone: change_phone() records a pending number and texts a 6-digit code (10 minutes, five
//   tries, stored as a keyed hash); verify_phone() checks it in constant time. SMS
//   notifications need a verified number and the user's opt-in.
//
// Mails and texts are sent on send_pool (never on the caller's thread, so no answer waits for
// SMTP or the SMS provider, and no answer's timing tells whether a mail went out); a full pool
// drops the message with a warning. Links point at options.public_url, with the token in the
// URL fragment (#reset=..., #verify-email=...), which browsers never send to a server, so it
// stays out of access logs.
//
// Blocking (stores): call from worker threads. Thread-safe after init(). Errors:
// invalid_argument (field), failed_precondition (mail or SMS not configured; no code to check),
// not_found (a token unknown, used or expired: "invalid or expired link"), already_exists (an
// address another user verified), reauth_required (from auth, for an address change).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "core/worker_pool.h"
#include "modules/auth/auth.h"
#include "modules/contact/store.h"
#include "modules/mail/mail.h"
#include "modules/sms/sms.h"
#include "modules/users/users.h"

namespace parley::contact {

struct ContactOptions {
  std::string public_url;  // "https://chat.example.com": links in mail
  std::string product = "Parley";
  Millis reset_ttl_ms = 30 * 60 * 1000;
  Millis verify_ttl_ms = 24 * 3600 * 1000;
  Millis code_ttl_ms = 10 * 60 * 1000;
  int max_code_attempts = 5;
};

struct EmailState {
  std::optional<std::string> email;  // verified
  std::optional<std::string> pending_email;
};

struct PhoneState {
  std::optional<std::string> phone;  // verified
  std::optional<std::string> pending_phone;
  bool sms_notifications = false;
};

// One message of a missed-messages digest, as the notification pipeline found it (unread,
// notifiable for this user).
struct DigestMessage {
  std::string conversation_id;
  std::string conversation_name;  // "#general", or the other person's name for a DM
  std::string sender_name;
  std::string text;  // cut to a preview here
};

// The digest mail: one message for all of them, grouped by conversation in the order given,
// each conversation with a link to it (public_url/c/<id>); plain text and HTML; RFC 8058
// one-click unsubscribe (List-Unsubscribe with unsubscribe_url, List-Unsubscribe-Post).
mail::Mail digest_mail(const std::string& to, const std::string& display_name,
                       const std::vector<DigestMessage>& messages, const std::string& public_url,
                       const std::string& unsubscribe_url, const std::string& product = "Parley");

// The ports, each optional: without a mailer the email routes answer failed_precondition;
// without an SMS sender, the phone ones.
struct Senders {
  mail::Mailer* mailer = nullptr;
  sms::SmsSender* sms = nullptr;
  WorkerPool* pool = nullptr;  // where sends run; required when either is set
};

class ContactService {
 public:
  ContactService(ContactStore& store, users::UserService& users, auth::AuthService& auth,
                 Senders senders, const Clock& clock, ContactOptions options);
  ~ContactService();

  // Loads (or creates) the module's secret key.
  Result<void> init();

  bool mail_enabled() const;
  bool sms_enabled() const;

  Result<EmailState> email(const std::string& user_id);
  // Needs a recent credential check (auth's reauth window): a stolen session must not be able
  // to move the account's recovery address.
  Result<EmailState> change_email(const auth::Principal& p, const std::string& raw_email);
  Result<void> verify_email(const std::string& token);

  // ok for any well-formed address (invalid_argument only for a malformed one).
  Result<void> forgot_password(const std::string& raw_email);
  Result<void> reset_password(const std::string& token, const std::string& new_password);

  Result<PhoneState> phone(const std::string& user_id);
  Result<PhoneState> change_phone(const auth::Principal& p, const std::string& raw_phone);
  Result<PhoneState> verify_phone(const std::string& user_id, const std::string& code);
  Result<PhoneState> set_sms_notifications(const std::string& user_id, bool on);
  Result<void> remove_phone(const std::string& user_id);

  // Queues one digest mail for the user; false (and nothing sent) when the user has no
  // verified address or unsubscribed, or there is nothing to send.
  Result<bool> send_digest(const std::string& user_id, const std::vector<DigestMessage>& messages);
  // RFC 8058 one-click unsubscribe with the token of a digest's List-Unsubscribe URL: no more
  // notification mail for that user (notification_email() answers none) until they turn it
  // on again (resubscribe). The user's id; not_found for a bad token.
  Result<std::string> unsubscribe(const std::string& token);
  Result<void> resubscribe(const std::string& user_id);

  // For notifications: where this user may be reached, if anywhere (email: verified and not
  // unsubscribed; SMS: verified and opted in).
  Result<std::optional<std::string>> notification_email(const std::string& user_id);
  Result<std::optional<std::string>> notification_phone(const std::string& user_id);

  // Queues a mail / text on the send pool (false when it is full or not configured).
  bool queue_mail(mail::Mail m);
  bool queue_sms(sms::Sms m);

  // A signed token naming the user, for one-click unsubscribe links (RFC 8058): no expiry, as
  // a mail's List-Unsubscribe must keep working; check_signed() gives the user id back, or
  // not_found when the signature or purpose does not match.
  std::string sign(const std::string& purpose, const std::string& user_id) const;
  Result<std::string> check_signed(const std::string& purpose, const std::string& token) const;

  const ContactOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::contact
