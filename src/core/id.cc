#include "core/id.h"

#include "core/crypto.h"

namespace parley {
namespace {
constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
}

std::string new_id(Millis now_ms) {
  std::string out(26, '0');
  auto t = static_cast<std::uint64_t>(now_ms);
  for (int i = 9; i >= 0; --i) {  // 10 chars hold the 48-bit time (50 bits, top 2 zero)
    out[i] = kCrockford[t & 31];
    t >>= 5;
  }
  const std::string rnd = random_bytes(10);  // 80 bits -> 16 chars
  std::uint64_t hi = 0, lo = 0;
  for (int i = 0; i < 5; ++i) hi = (hi << 8) | static_cast<unsigned char>(rnd[i]);
  for (int i = 5; i < 10; ++i) lo = (lo << 8) | static_cast<unsigned char>(rnd[i]);
  for (int i = 17; i >= 10; --i) {
    out[i] = kCrockford[hi & 31];
    hi >>= 5;
  }
  for (int i = 25; i >= 18; --i) {
    out[i] = kCrockford[lo & 31];
    lo >>= 5;
  }
  return out;
}

bool looks_like_id(std::string_view text) {
  if (text.size() != 26) return false;
  for (char c : text) {
    bool digit = c >= '0' && c <= '9';
    bool upper = c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U';
    if (!digit && !upper) return false;
  }
  return true;
}

}  // namespace parley
