#include "modules/contact/contact.h"

#include <algorithm>

#include "core/crypto.h"
#include "core/log.h"
#include "core/text.h"

namespace parley::contact {
namespace {

constexpr std::size_t kTokenBytes = 32;
constexpr std::size_t kMaxTokenText = 128;

std::string new_token() { return base64url_encode(random_bytes(kTokenBytes)); }

Error bad_link() { return Error{Errc::not_found, "invalid or expired link", "token", 0}; }

// Six digits, uniform (rejection sampling: no modulo bias).
std::string new_code() {
  std::uint64_t v;
  do v = random_u64();
  while (v >= (UINT64_MAX / 1'000'000) * 1'000'000);
  std::string s = std::to_string(v % 1'000'000);
  return std::string(6 - s.size(), '0') + s;
}

// A short mail with one button: text and HTML parts saying the same.
mail::Mail link_mail(const std::string& to, const std::string& subject, const std::string& intro,
                     const std::string& button, const std::string& link, const std::string& outro) {
  mail::Mail m;
  m.to = to;
  m.subject = subject;
  m.text = intro + "\n\n" + link + "\n\n" + outro + "\n";
  m.html =
      "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">"
      "<p>" +
      text::html_escaped(intro) +
      "</p>"
      "<p><a href=\"" +
      text::html_escaped(link) +
      "\" style=\"display:inline-block;padding:8px 16px;"
      "background:#2563eb;color:#fff;border-radius:6px;text-decoration:none\">" +
      text::html_escaped(button) +
      "</a></p>"
      "<p style=\"color:#555;font-size:90%\">" +
      text::html_escaped(outro) +
      "</p>"
      "<p style=\"color:#555;font-size:90%\">" +
      text::html_escaped(link) + "</p></body></html>";
  return m;
}

std::string preview(std::string_view text, std::size_t max_chars) {
  std::string out;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80 && ++chars > max_chars) return out + "…";
    out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : text[i];
  }
  return out;
}

constexpr const char* kUnsubscribe = "unsubscribe-mail";

}  // namespace

mail::Mail digest_mail(const std::string& to, const std::string& display_name,
                       const std::vector<DigestMessage>& messages, const std::string& public_url,
                       const std::string& unsubscribe_url, const std::string& product) {
  mail::Mail m;
  m.to = to;
  std::size_t n = messages.size();
  m.subject = std::to_string(n) + (n == 1 ? " new message" : " new messages") + " in " + product;
  // Conversations in the order first seen, each with its messages.
  std::vector<std::pair<std::string, std::vector<const DigestMessage*>>> groups;
  for (const auto& msg : messages) {
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.first == msg.conversation_id; });
    if (it == groups.end()) {
      groups.push_back({msg.conversation_id, {}});
      it = std::prev(groups.end());
    }
    it->second.push_back(&msg);
  }
  std::string text = "Hello " + display_name + ", you have " + std::to_string(n) +
                     (n == 1 ? " message" : " messages") + " you have not read yet.\n";
  std::string html =
      "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\"><p>Hello " +
      text::html_escaped(display_name) + ", you have " + std::to_string(n) +
      (n == 1 ? " message" : " messages") + " you have not read yet.</p>";
  for (const auto& [id, list] : groups) {
    std::string link = public_url + "/c/" + id;
    const std::string& name = list.front()->conversation_name;
    text += "\n" + name + " (" + link + ")\n";
    html += "<h3 style=\"margin-bottom:4px\"><a href=\"" + text::html_escaped(link) + "\">" +
            text::html_escaped(name) + "</a></h3><ul style=\"margin-top:0\">";
    for (const auto* msg : list) {
      std::string p = preview(msg->text, 300);
      text += "  " + msg->sender_name + ": " + p + "\n";
      html += "<li><b>" + text::html_escaped(msg->sender_name) + "</b>: " + text::html_escaped(p) +
              "</li>";
    }
    html += "</ul>";
  }
  text += "\nTo stop these mails: " + unsubscribe_url + "\n";
  html +=
      "<p style=\"color:#555;font-size:90%\">You get this mail because you were away. <a "
      "href=\"" +
      text::html_escaped(unsubscribe_url) + "\">Stop these mails</a>.</p></body></html>";
  m.text = std::move(text);
  m.html = std::move(html);
  m.headers = {{"List-Unsubscribe", "<" + unsubscribe_url + ">"},
               {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}};
  return m;
}

struct ContactService::Impl {
  ContactStore& store;
  users::UserService& users;
  auth::AuthService& auth;
  Senders senders;
  const Clock& clock;
  ContactOptions opts;
  std::string key;  // HMAC key for SMS codes and signed links

  Impl(ContactStore& s, users::UserService& u, auth::AuthService& a, Senders se, const Clock& c,
       ContactOptions o)
      : store(s), users(u), auth(a), senders(se), clock(c), opts(std::move(o)) {
    while (!opts.public_url.empty() && opts.public_url.back() == '/') opts.public_url.pop_back();
  }

  std::string code_hash(const std::string& user_id, const std::string& code) const {
    return hmac_sha256(key, "sms-code\n" + user_id + "\n" + code);
  }

  Result<void> need_mail() const {
    if (!senders.mailer || !senders.pool)
      return fail(Errc::failed_precondition, "email is not configured on this server (--smtp)");
    return ok();
  }
  Result<void> need_sms() const {
    if (!senders.sms || !senders.pool)
      return fail(Errc::failed_precondition, "SMS is not configured on this server (--sms-url)");
    return ok();
  }

  Result<EmailState> email_state(const std::string& user_id) {
    auto r = store.email(user_id);
    if (!r) return fail(r.error());
    return EmailState{r->email, r->pending_email};
  }
  Result<PhoneState> phone_state(const std::string& user_id) {
    auto r = store.phone(user_id);
    if (!r) return fail(r.error());
    return PhoneState{r->phone, r->pending_phone, r->sms_notifications};
  }
};

ContactService::ContactService(ContactStore& store, users::UserService& users,
                               auth::AuthService& auth, Senders senders, const Clock& clock,
                               ContactOptions options)
    : impl_(std::make_unique<Impl>(store, users, auth, senders, clock, std::move(options))) {}

ContactService::~ContactService() = default;

Result<void> ContactService::init() {
  auto key = impl_->store.secret_key(random_bytes(32));
  if (!key) return fail(key.error());
  impl_->key = *key;
  return ok();
}

bool ContactService::mail_enabled() const { return impl_->need_mail().has_value(); }
bool ContactService::sms_enabled() const { return impl_->need_sms().has_value(); }
const ContactOptions& ContactService::options() const { return impl_->opts; }

bool ContactService::queue_mail(mail::Mail m) {
  auto& s = *impl_;
  if (!s.need_mail()) return false;
  auto* mailer = s.senders.mailer;
  auto task = [mailer, m = std::move(m)] {
    if (auto r = mailer->send(m); !r) log::warn("mail not sent", {{"error", r.error().message}});
  };
  if (!s.senders.pool->try_submit(std::move(task))) {
    log::warn("mail dropped: the send queue is full", {});
    return false;
  }
  return true;
}

bool ContactService::queue_sms(sms::Sms m) {
  auto& s = *impl_;
  if (!s.need_sms()) return false;
  auto* sender = s.senders.sms;
  auto task = [sender, m = std::move(m)] {
    if (auto r = sender->send(m); !r) log::warn("sms not sent", {{"error", r.error().message}});
  };
  if (!s.senders.pool->try_submit(std::move(task))) {
    log::warn("sms dropped: the send queue is full", {});
    return false;
  }
  return true;
}

Result<EmailState> ContactService::email(const std::string& user_id) {
  return impl_->email_state(user_id);
}

Result<EmailState> ContactService::change_email(const auth::Principal& p,
                                                const std::string& raw_email) {
  auto& s = *impl_;
  auto address = mail::check_address(raw_email);
  if (!address) return fail(address.error());
  if (auto m = s.need_mail(); !m) return fail(m.error());
  if (auto fresh = s.auth.require_recent_auth(p); !fresh) return fail(fresh.error());
  auto current = s.store.email(p.user_id);
  if (!current) return fail(current.error());
  if (current->email && mail::address_key(*current->email) == mail::address_key(*address))
    return fail(Errc::failed_precondition, "this address is already verified", "email");
  if (auto r = s.store.set_pending_email(p.user_id, *address); !r) return fail(r.error());
  if (auto r = s.store.drop_tokens(p.user_id, TokenPurpose::verify_email); !r)
    return fail(r.error());
  Millis now = s.clock.now_ms();
  std::string token = new_token();
  if (auto r = s.store.put_token({sha256(token), TokenPurpose::verify_email, p.user_id, *address,
                                  now, now + s.opts.verify_ttl_ms},
                                 now);
      !r)
    return fail(r.error());
  auto user = s.users.get(p.user_id);
  std::string name = user ? user->display_name : std::string("there");
  queue_mail(link_mail(*address, "Confirm your email address for " + s.opts.product,
                       "Hello " + name + ", please confirm that this is your email address for " +
                           s.opts.product + ".",
                       "Confirm this address", s.opts.public_url + "/#verify-email=" + token,
                       "The link works once, for 24 hours. If you did not ask for it, ignore "
                       "this mail: nothing changes."));
  return s.email_state(p.user_id);
}

Result<void> ContactService::verify_email(const std::string& token) {
  auto& s = *impl_;
  if (token.empty() || token.size() > kMaxTokenText) return fail(bad_link());
  Millis now = s.clock.now_ms();
  auto r = s.store.redeem_token(sha256(token), TokenPurpose::verify_email, now);
  if (!r) return fail(r.error().code == Errc::not_found ? bad_link() : r.error());
  return s.store.set_verified_email(r->user_id, r->email, now);
}

Result<void> ContactService::forgot_password(const std::string& raw_email) {
  auto& s = *impl_;
  auto address = mail::check_address(raw_email);
  if (!address) return fail(address.error());
  if (auto m = s.need_mail(); !m) return fail(m.error());
  // The same steps whoever the address belongs to: a lookup, a token, one row written (without
  // a user when nobody verified the address; such a row can never be redeemed). Only the mail
  // differs, and it is queued, never waited for.
  auto user = s.store.user_by_email(*address);
  if (!user) return fail(user.error());
  Millis now = s.clock.now_ms();
  std::string token = new_token();
  if (auto r = s.store.put_token({sha256(token), TokenPurpose::reset_password, user->value_or(""),
                                  *address, now, now + s.opts.reset_ttl_ms},
                                 now);
      !r)
    return fail(r.error());
  if (!*user) return ok();
  // The mail goes to the address as verified (the one typed may differ in case), looked up on
  // the send pool so that this request does no more work than one for an unknown address.
  mail::Mail m = link_mail(
      "", "Reset your " + s.opts.product + " password",
      "Someone (hopefully you) asked to reset the password of your " + s.opts.product + " account.",
      "Choose a new password", s.opts.public_url + "/#reset=" + token,
      "The link works once, for 30 minutes. If you did not ask for it, ignore "
      "this mail: your password stays as it is.");
  auto* store = &s.store;
  auto* mailer = s.senders.mailer;
  auto task = [store, mailer, uid = **user, m = std::move(m)]() mutable {
    auto e = store->email(uid);
    if (!e || !e->email) return;
    m.to = *e->email;
    if (auto r = mailer->send(m); !r) log::warn("mail not sent", {{"error", r.error().message}});
  };
  if (!s.senders.pool->try_submit(std::move(task)))
    log::warn("mail dropped: the send queue is full", {});
  return ok();
}

Result<void> ContactService::reset_password(const std::string& token,
                                            const std::string& new_password) {
  auto& s = *impl_;
  // A bad password must not spend the token.
  if (auto shape = auth::AuthService::check_new_password(new_password); !shape) {
    Error e = shape.error();
    e.field = "new_password";
    return fail(e);
  }
  if (token.empty() || token.size() > kMaxTokenText) return fail(bad_link());
  auto r = s.store.redeem_token(sha256(token), TokenPurpose::reset_password, s.clock.now_ms());
  if (!r) return fail(r.error().code == Errc::not_found ? bad_link() : r.error());
  if (auto done = s.auth.reset_password(r->user_id, new_password); !done) return done;
  // Other reset links mailed before this one die with it.
  if (auto d = s.store.drop_tokens(r->user_id, TokenPurpose::reset_password); !d)
    log::warn("reset tokens not dropped", {{"user_id", r->user_id}});
  log::info("password reset by email", {{"user_id", r->user_id}});
  return ok();
}

Result<PhoneState> ContactService::phone(const std::string& user_id) {
  return impl_->phone_state(user_id);
}

Result<PhoneState> ContactService::change_phone(const auth::Principal& p,
                                                const std::string& raw_phone) {
  auto& s = *impl_;
  auto number = sms::normalise_phone(raw_phone);
  if (!number) return fail(number.error());
  if (auto m = s.need_sms(); !m) return fail(m.error());
  std::string code = new_code();
  if (auto r = s.store.set_pending_phone(p.user_id, *number, s.code_hash(p.user_id, code),
                                         s.clock.now_ms() + s.opts.code_ttl_ms);
      !r)
    return fail(r.error());
  queue_sms({*number, code + " is your " + s.opts.product +
                          " verification code. It expires in 10 minutes."});
  return s.phone_state(p.user_id);
}

Result<PhoneState> ContactService::verify_phone(const std::string& user_id,
                                                const std::string& code) {
  auto& s = *impl_;
  if (code.size() != 6 || code.find_first_not_of("0123456789") != std::string::npos)
    return fail(Errc::invalid_argument, "the code is 6 digits", "code");
  auto attempt = s.store.attempt_phone_code(user_id, s.clock.now_ms(), s.opts.max_code_attempts);
  if (!attempt) {
    if (attempt.error().code == Errc::failed_precondition)
      return fail(Errc::failed_precondition,
                  "no code to check: it expired or was tried too often; ask for a new one", "code");
    return fail(attempt.error());
  }
  if (!constant_time_equal(attempt->code_hash, s.code_hash(user_id, code)))
    return fail(Errc::invalid_argument, "the code does not match", "code");
  if (auto r = s.store.confirm_phone(user_id, attempt->code_hash, s.clock.now_ms()); !r)
    return fail(r.error());
  return s.phone_state(user_id);
}

Result<PhoneState> ContactService::set_sms_notifications(const std::string& user_id, bool on) {
  auto& s = *impl_;
  if (auto r = s.store.set_sms_notifications(user_id, on); !r) {
    if (r.error().code == Errc::failed_precondition)
      return fail(Errc::failed_precondition, "verify a phone number first", "sms_notifications");
    return fail(r.error());
  }
  return s.phone_state(user_id);
}

Result<void> ContactService::remove_phone(const std::string& user_id) {
  return impl_->store.remove_phone(user_id);
}

Result<std::optional<std::string>> ContactService::notification_email(const std::string& user_id) {
  auto r = impl_->store.email(user_id);
  if (!r) return fail(r.error());
  if (r->mail_opt_out) return std::optional<std::string>{};
  return r->email;
}

Result<bool> ContactService::send_digest(const std::string& user_id,
                                         const std::vector<DigestMessage>& messages) {
  auto& s = *impl_;
  if (messages.empty()) return false;
  auto to = notification_email(user_id);
  if (!to) return fail(to.error());
  if (!*to) return false;
  auto user = s.users.get(user_id);
  if (!user) return fail(user.error());
  // The query holds the signed token: the one place a token rides in a URL, because RFC 8058
  // makes the URL itself the one-click action. It can only unsubscribe this user from mail.
  std::string unsubscribe_url =
      s.opts.public_url + "/api/v1/mail/unsubscribe?token=" + sign(kUnsubscribe, user_id);
  return queue_mail(digest_mail(**to, user->display_name, messages, s.opts.public_url,
                                unsubscribe_url, s.opts.product));
}

Result<std::string> ContactService::unsubscribe(const std::string& token) {
  auto user_id = check_signed(kUnsubscribe, token);
  if (!user_id) return user_id;
  if (auto r = impl_->store.set_mail_opt_out(*user_id, true); !r) return fail(r.error());
  log::info("unsubscribed from notification mail", {{"user_id", *user_id}});
  return user_id;
}

Result<void> ContactService::resubscribe(const std::string& user_id) {
  return impl_->store.set_mail_opt_out(user_id, false);
}

Result<std::optional<std::string>> ContactService::notification_phone(const std::string& user_id) {
  auto r = impl_->store.phone(user_id);
  if (!r) return fail(r.error());
  if (!r->sms_notifications) return std::optional<std::string>{};
  return r->phone;
}

std::string ContactService::sign(const std::string& purpose, const std::string& user_id) const {
  return user_id + "." + base64url_encode(hmac_sha256(impl_->key, purpose + "\n" + user_id));
}

Result<std::string> ContactService::check_signed(const std::string& purpose,
                                                 const std::string& token) const {
  auto dot = token.find('.');
  if (dot == std::string::npos || token.size() > kMaxTokenText) return fail(bad_link());
  std::string user_id = token.substr(0, dot);
  auto mac = base64url_decode(std::string_view(token).substr(dot + 1));
  if (!mac || !constant_time_equal(*mac, hmac_sha256(impl_->key, purpose + "\n" + user_id)))
    return fail(bad_link());
  return user_id;
}

}  // namespace parley::contact
