#include <time.h>

#include <algorithm>
#include <array>
#include <cstdio>

#include "core/crypto.h"
#include "core/text.h"
#include "modules/mail/mail.h"

namespace parley::mail {
namespace {

constexpr std::size_t kMaxHeaderValue = 998 - 80;  // RFC 5322's line limit, less the name

bool has_line_break(std::string_view s) {
  return s.find('\r') != std::string_view::npos || s.find('\n') != std::string_view::npos;
}

bool is_header_name(std::string_view n) {
  if (n.empty() || n.size() > 76) return false;
  for (char c : n)
    if (c <= 32 || c >= 127 || c == ':') return false;
  return true;
}

bool printable_ascii(std::string_view s) {
  for (char c : s)
    if (c < 32 || c > 126) return false;
  return true;
}

bool is_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

}  // namespace

std::string encode_header_text(std::string_view utf8) {
  if (printable_ascii(utf8)) return std::string(utf8);
  // 75 characters per encoded word: "=?UTF-8?B?" and "?=" leave 63, so 45 bytes (60 base64
  // characters), never splitting a UTF-8 sequence (RFC 2047 section 5).
  constexpr std::size_t kChunk = 45;
  std::string out;
  std::size_t i = 0;
  while (i < utf8.size()) {
    std::size_t end = std::min(utf8.size(), i + kChunk);
    while (end < utf8.size() && end > i && (static_cast<unsigned char>(utf8[end]) & 0xC0) == 0x80)
      --end;
    if (end == i) end = std::min(utf8.size(), i + kChunk);  // not UTF-8: cut anywhere
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64_encode(utf8.substr(i, end - i)) + "?=";
    i = end;
  }
  return out;
}

std::string quoted_printable(std::string_view utf8) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  std::size_t start = 0;
  bool first_line = true;
  while (start <= utf8.size()) {
    std::size_t nl = utf8.find('\n', start);
    bool last = nl == std::string_view::npos;
    std::string_view line = utf8.substr(start, (last ? utf8.size() : nl) - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (last && line.empty() && !first_line) {  // the text ended with a line break: keep it
      out += "\r\n";
      break;
    }
    if (!first_line) out += "\r\n";
    first_line = false;

    std::string encoded_line;
    std::size_t width = 0;  // characters on the current output line
    auto put = [&](std::string_view piece) {
      if (width + piece.size() > 75) {  // room for the soft break's '='
        encoded_line += "=\r\n";
        width = 0;
      }
      encoded_line += piece;
      width += piece.size();
    };
    for (std::size_t i = 0; i < line.size(); ++i) {
      unsigned char c = static_cast<unsigned char>(line[i]);
      bool at_end = i + 1 == line.size();
      bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_end);
      // A '.' alone at a line start ends an SMTP message body; "From " at a line start is
      // mangled by mbox; both are safer encoded (at the start of an output line, too).
      if (width == 0 && (c == '.' || (c == 'F' && line.substr(i, 5) == "From "))) literal = false;
      if (literal) {
        char ch = static_cast<char>(c);
        put(std::string_view(&ch, 1));
      } else {
        char triplet[3] = {'=', kHex[c >> 4], kHex[c & 15]};
        put(std::string_view(triplet, 3));
      }
    }
    out += encoded_line;
    if (last) break;
    start = nl + 1;
  }
  return out;
}

std::string rfc5322_date(Millis ms) {
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string new_message_id(std::string_view from) {
  auto at = from.rfind('@');
  std::string domain =
      at == std::string_view::npos ? "parley.invalid" : std::string(from.substr(at + 1));
  return "<" + hex_encode(random_bytes(16)) + "@" + domain + ">";
}

// "=_" can never occur in quoted-printable output ('=' is always followed by hex digits or a
// line break), so the boundary cannot collide with a part (RFC 2045 section 6.7, note 8).
std::string new_boundary() { return "=_parley_" + hex_encode(random_bytes(12)); }

Result<std::string> check_address(std::string_view raw, const std::string& field) {
  std::string_view a = text::trim(raw);
  auto bad = [&] { return fail(Errc::invalid_argument, "not a valid email address", field); };
  if (a.size() < 3 || a.size() > 254) return bad();
  auto at = a.rfind('@');
  if (at == std::string_view::npos || at == 0 || at > 64 || at + 1 >= a.size()) return bad();
  std::string_view local = a.substr(0, at), domain = a.substr(at + 1);
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
    return bad();
  for (char c : local) {
    if (c <= 32 || c >= 127) return bad();
    if (std::string_view("()<>[]\\,;:\"@").find(c) != std::string_view::npos) return bad();
  }
  if (domain.find('.') == std::string_view::npos) return bad();
  std::size_t label_start = 0;
  for (std::size_t i = 0; i <= domain.size(); ++i) {
    if (i == domain.size() || domain[i] == '.') {
      std::size_t len = i - label_start;
      if (len == 0 || len > 63 || domain[label_start] == '-' || domain[i - 1] == '-') return bad();
      label_start = i + 1;
    } else if (!is_label_char(domain[i])) {
      return bad();
    }
  }
  return std::string(a);
}

std::string address_key(std::string_view address) { return text::ascii_lower(address); }

Result<std::string> render(const Mail& m, const RenderOptions& o) {
  auto from = check_address(o.from, "from");
  if (!from) return fail(from.error());
  auto to = check_address(m.to, "to");
  if (!to) return fail(to.error());
  if (has_line_break(m.subject) || !text::is_valid_utf8(m.subject) ||
      m.subject.size() > kMaxHeaderValue)
    return fail(Errc::invalid_argument, "the subject must be one line of UTF-8", "subject");
  if (!text::is_valid_utf8(m.text) || !text::is_valid_utf8(m.html))
    return fail(Errc::invalid_argument, "the body must be UTF-8", "text");
  if (o.message_id.empty() || has_line_break(o.message_id) || o.boundary.empty() ||
      !printable_ascii(o.boundary) || o.boundary.size() > 70)
    return fail(Errc::invalid_argument, "bad Message-ID or boundary", "message_id");
  for (const auto& [name, value] : m.headers) {
    if (!is_header_name(name))
      return fail(Errc::invalid_argument, "bad header name \"" + name + "\"", "headers");
    if (has_line_break(value) || !printable_ascii(value) || value.size() > kMaxHeaderValue)
      return fail(Errc::invalid_argument, "the header " + name + " must be one line of ASCII",
                  "headers");
  }

  std::string out;
  out.reserve(m.text.size() * 2 + m.html.size() * 2 + 1024);
  auto header = [&out](std::string_view name, std::string_view value) {
    out.append(name).append(": ").append(value).append("\r\n");
  };
  header("From", *from);
  header("To", *to);
  header("Subject", encode_header_text(m.subject));
  header("Date", rfc5322_date(o.date_ms));
  header("Message-ID", o.message_id);
  header("MIME-Version", "1.0");
  header("Auto-Submitted", "auto-generated");
  for (const auto& [name, value] : m.headers) header(name, value);

  auto part_headers = [&](std::string_view type) {
    header("Content-Type", std::string(type) + "; charset=utf-8");
    header("Content-Transfer-Encoding", "quoted-printable");
    out += "\r\n";
  };
  if (m.html.empty()) {
    part_headers("text/plain");
    out += quoted_printable(m.text);
    out += "\r\n";
    return out;
  }
  header("Content-Type", "multipart/alternative; boundary=\"" + o.boundary + "\"");
  out += "\r\n";
  // Plain text first: a reader shows the last part it understands (RFC 2046 section 5.1.4).
  for (auto [type, body] : {std::pair<std::string_view, const std::string*>{"text/plain", &m.text},
                            {"text/html", &m.html}}) {
    out += "--" + o.boundary + "\r\n";
    part_headers(type);
    out += quoted_printable(*body);
    out += "\r\n";
  }
  out += "--" + o.boundary + "--\r\n";
  return out;
}

}  // namespace parley::mail
