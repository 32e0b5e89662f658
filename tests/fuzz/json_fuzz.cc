// Request bodies: strict JSON parsing and typed field access must never crash, and whatever
// parses must serialise and parse back to the same value.
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
  auto again = parley::json::parse_object(parley::json::serialize(*obj));
  if (!again || *again != *obj) std::abort();
  return 0;
}
