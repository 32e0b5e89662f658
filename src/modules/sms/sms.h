// SMS: the SmsSender port (how the server sends a text message) and phone number checks.
//
// SmsSender::send blocks until the provider accepted (or refused) the message: call it from a
// worker thread, never from an I/O thread. Implementations are thread-safe. Errors:
// invalid_argument (the number or the text), unavailable (the provider could not be reached,
// timed out or answered with an error status).
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace parley::sms {

struct Sms {
  std::string to;    // E.164, from normalise_phone()
  std::string body;  // UTF-8, at most kMaxBody bytes
};

inline constexpr std::size_t kMaxBody = 1600;  // ten concatenated segments, as providers cap

// A number as a person types it ("+33 6 12-34-56-78", "+1 (415) 555 0100") in E.164 form
// ("+33612345678"): a '+', then 8 to 15 digits, the first not 0; spaces, dots, dashes and
// parentheses between digits are dropped. invalid_argument with field otherwise (a number
// without its country code is ambiguous, so it is refused rather than guessed).
Result<std::string> normalise_phone(std::string_view raw, const std::string& field = "phone");

class SmsSender {
 public:
  virtual ~SmsSender() = default;
  virtual Result<void> send(const Sms& m) = 0;
};

}  // namespace parley::sms
