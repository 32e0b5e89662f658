// The Mailer port over SMTP, on libcurl's SMTP client.
//
// smtp://HOST:PORT upgrades with STARTTLS whenever the server offers it, and insists on it when
// credentials are set (a password never crosses the network in clear); smtps://HOST:PORT is
// TLS from the first byte. TLS peers are verified against the system's CAs, or ca_file. The
// server is one the administrator configured (--smtp), so it may be private or loopback: this
// is not the outbound client for users' URLs (decision 29).
//
// Thread-safe: each send uses its own libcurl handle, so several workers may send at once.
// send() blocks for up to timeout: call it from worker threads only. Errors: see
// modules/mail/mail.h.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "modules/mail/mail.h"

namespace parley::smtp {

struct SmtpOptions {
  std::string url{};   // smtp://HOST:PORT or smtps://HOST:PORT
  std::string from{};  // --mail-from
  std::string user{};  // PARLEY_SMTP_USER; "" = no AUTH
  std::string password{};
  std::string ca_file{};  // "" = the system's CAs
  std::chrono::milliseconds timeout{30'000};
};

// invalid_argument (field "smtp" or "mail_from") when the URL or the address is unusable.
Result<std::unique_ptr<mail::Mailer>> make_smtp_mailer(SmtpOptions options, const Clock& clock);

}  // namespace parley::smtp
