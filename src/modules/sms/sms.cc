#include "modules/sms/sms.h"

#include "core/text.h"

namespace parley::sms {

Result<std::string> normalise_phone(std::string_view raw, const std::string& field) {
  std::string_view t = text::trim(raw);
  auto bad = [&] {
    return fail(Errc::invalid_argument,
                "expected a phone number with its country code, such as +33612345678", field);
  };
  if (t.empty() || t.front() != '+' || t.size() > 32) return bad();
  std::string out = "+";
  for (char c : t.substr(1)) {
    if (c >= '0' && c <= '9')
      out += c;
    else if (c != ' ' && c != '.' && c != '-' && c != '(' && c != ')')
      return bad();
  }
  std::size_t digits = out.size() - 1;
  if (digits < 8 || digits > 15 || out[1] == '0') return bad();
  return out;
}

}  // namespace parley::sms
