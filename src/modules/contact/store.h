// ContactStore: the port through which the contact module keeps users' email addresses and
// phone numbers with their verification state, the single-use tokens mailed for address
// verification and password reset (stored as SHA-256 hashes), the SMS codes (stored as keyed
// hashes) and the module's secret key. Implemented by adapters; every implementation passes
// store_contract.h. Blocking; thread-safe. Operations documented as atomic must be one
// transaction: they decide races between concurrent requests.
#pragma once

#include <optional>
#include <string>

#include "core/clock.h"
#include "core/result.h"

namespace parley::contact {

enum class TokenPurpose { verify_email, reset_password };

struct EmailRecord {
  std::optional<std::string> email;          // the verified address
  std::optional<std::string> pending_email;  // asked for, not yet verified
  Millis verified_at = 0;
  bool mail_opt_out = false;  // one-click unsubscribed from notification mail (RFC 8058)
};

struct TokenRecord {
  std::string token_hash;  // SHA-256 of the token, raw bytes
  TokenPurpose purpose = TokenPurpose::verify_email;
  // Empty for a password reset asked for an address nobody verified: the row is written all
  // the same (the same work whoever asks) and can never be redeemed.
  std::string user_id;
  std::string email;
  Millis created_at = 0;
  Millis expires_at = 0;
};

struct Redeemed {
  std::string user_id;
  std::string email;
};

struct PhoneRecord {
  std::optional<std::string> phone;          // the verified number
  std::optional<std::string> pending_phone;  // a code was sent to it
  Millis verified_at = 0;
  bool sms_notifications = false;
};

// What a code check found, counted as an attempt (attempt_phone_code).
struct CodeAttempt {
  std::string code_hash;
  std::string pending_phone;
};

class ContactStore {
 public:
  virtual ~ContactStore() = default;

  // The user's addresses; an empty record when there are none.
  virtual Result<EmailRecord> email(const std::string& user_id) = 0;
  // pending_email = email (the verified address, if any, stays until the new one is verified).
  virtual Result<void> set_pending_email(const std::string& user_id, const std::string& email) = 0;
  // Atomic: email becomes the user's verified address (pending_email cleared when it was this
  // address). already_exists when another user verified the same address (compared
  // case-insensitively, ASCII).
  virtual Result<void> set_verified_email(const std::string& user_id, const std::string& email,
                                          Millis now) = 0;
  // Records (or clears) the user's opt-out from notification mail.
  virtual Result<void> set_mail_opt_out(const std::string& user_id, bool out) = 0;
  // The user who verified this address (compared case-insensitively, ASCII); nullopt if none.
  virtual Result<std::optional<std::string>> user_by_email(const std::string& email) = 0;

  // Stores a token; tokens expired more than a day before `now` are deleted on the way.
  virtual Result<void> put_token(const TokenRecord& t, Millis now) = 0;
  // Atomic: a token of that purpose, with a user, unused and not expired at now, is marked used
  // and its user and address come back; not_found for anything else (unknown, used, expired,
  // another purpose, no user).
  virtual Result<Redeemed> redeem_token(const std::string& token_hash, TokenPurpose purpose,
                                        Millis now) = 0;
  // Deletes the user's unused tokens of that purpose (a newer one replaces them; a reset ends
  // the others).
  virtual Result<void> drop_tokens(const std::string& user_id, TokenPurpose purpose) = 0;

  virtual Result<PhoneRecord> phone(const std::string& user_id) = 0;
  // pending_phone = phone with a fresh code (hash, expiry, zero attempts); the verified number,
  // if any, stays until the new one is verified.
  virtual Result<void> set_pending_phone(const std::string& user_id, const std::string& phone,
                                         const std::string& code_hash, Millis expires_at) = 0;
  // Atomic: when the user has a pending number whose code is unexpired at now and was tried
  // fewer than max_attempts times, counts one more attempt and returns the code's hash and the
  // number; failed_precondition otherwise (no code, expired, or too many attempts).
  virtual Result<CodeAttempt> attempt_phone_code(const std::string& user_id, Millis now,
                                                 int max_attempts) = 0;
  // Atomic: when the pending code is still code_hash, the pending number becomes the verified
  // one and the code is spent; failed_precondition when it changed meanwhile.
  virtual Result<void> confirm_phone(const std::string& user_id, const std::string& code_hash,
                                     Millis now) = 0;
  // failed_precondition unless the user has a verified number.
  virtual Result<void> set_sms_notifications(const std::string& user_id, bool on) = 0;
  // Forgets the number (verified and pending); not_found when there was none.
  virtual Result<void> remove_phone(const std::string& user_id) = 0;

  // The module's secret key: the stored one, or candidate stored and returned when none exists.
  virtual Result<std::string> secret_key(const std::string& candidate) = 0;
};

}  // namespace parley::contact
