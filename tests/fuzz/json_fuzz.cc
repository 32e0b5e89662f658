// Request bodies: strict JSON parsing and typed field access must never crash, and whatever
// parses must serialise to text that parses back.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto obj = parley::json::parse_object(text);
  if (!obj) return 0;
  for (const char* key : {"username", "password", "type", "req", "token", "seq"}) {
    (void)parley::json::required_string(*obj, key);
    (void)parley::json::optional_string(*obj, key);
    (void)parley::json::required_int(*obj, key);
  }
  // What we serialise parses back, and serialising is stable from then on. (Doubles need not
  // round-trip exactly through Boost 1.81's serializer; the API only takes integers.)
  auto once = parley::json::serialize(*obj);
  auto again = parley::json::parse_object(once);
  if (!again) std::abort();
  auto twice = parley::json::serialize(*again);
  auto thrice = parley::json::parse_object(twice);
  if (!thrice || parley::json::serialize(*thrice) != twice) std::abort();
  return 0;
}
