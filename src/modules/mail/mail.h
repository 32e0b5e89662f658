// Mail: the Mailer port (how the server sends an email) and the message format it sends.
//
// A Mail is a value: one recipient, a subject, a plain-text body and, optionally, an HTML body
// (then the message is multipart/alternative, text first), plus extra header fields
// (List-Unsubscribe...). render() turns it into RFC 5322 / MIME bytes: CRLF line ends only,
// RFC 2047 encoded words for a non-ASCII subject, quoted-printable UTF-8 bodies, Date,
// Message-ID, MIME-Version and Auto-Submitted (RFC 3834: no auto-replies to notifications).
// Header values may not hold CR or LF (header injection): invalid_argument.
//
// Mailer::send blocks until the mail server accepted (or refused) the message: call it from a
// worker thread (modules use a pool of their own for it), never from an I/O thread.
// Implementations are thread-safe. Errors: invalid_argument (the mail itself: a bad address or
// header), unavailable (the mail server could not be reached, refused the login, the sender or
// the recipient, or timed out).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace parley::mail {

struct Mail {
  std::string to;       // one address ("a@example.com"), checked with check_address()
  std::string subject;  // UTF-8, one line
  std::string text;     // UTF-8; "\n" or "\r\n" line ends
  std::string html;     // UTF-8; "" = a text/plain message
  // Extra header fields, in order (name without ':', value on one line).
  std::vector<std::pair<std::string, std::string>> headers;
};

// What the sending side adds to a message.
struct RenderOptions {
  std::string from;        // the envelope and From: address (--mail-from)
  Millis date_ms = 0;      // Date:
  std::string message_id;  // "<unique@domain>"
  std::string boundary;    // multipart boundary; must not occur in the encoded parts
};

Result<std::string> render(const Mail& m, const RenderOptions& o);

// A fresh Message-ID and boundary, random (the Message-ID's domain is the sender's).
std::string new_message_id(std::string_view from);
std::string new_boundary();

// An address as a person types it, trimmed: local@domain in printable ASCII (a UTF-8 address
// would need the SMTPUTF8 extension), no spaces, quotes, parentheses, angle or square brackets,
// commas, colons, semicolons or backslashes, at most 254 bytes (64 before the '@'); the domain
// has a dot and labels of letters, digits and '-'. The trimmed address, or invalid_argument with
// field (default "email").
Result<std::string> check_address(std::string_view raw, const std::string& field = "email");
// The form addresses are compared in: the whole address lower-cased (ASCII), so that
// Alice@Example.com and alice@example.com are one address for lookups.
std::string address_key(std::string_view address);

// Encodings, exposed for tests and other senders.
// RFC 2047 "B" encoded words (UTF-8) when text is not printable ASCII, else text unchanged;
// each encoded word at most 75 characters, words split on UTF-8 character boundaries and
// joined with CRLF SP (folding).
std::string encode_header_text(std::string_view utf8);
// RFC 2045 quoted-printable: CRLF line ends, lines at most 76 characters (soft breaks "="),
// '=', non-ASCII, control characters, a space or tab before a line end, and a '.' or "From "
// at a line start encoded.
std::string quoted_printable(std::string_view utf8);
// RFC 5322 date-time in UTC: "Sun, 06 Dec 2026 10:00:00 +0000".
std::string rfc5322_date(Millis ms);

class Mailer {
 public:
  virtual ~Mailer() = default;
  virtual Result<void> send(const Mail& m) = 0;
};

}  // namespace parley::mail
