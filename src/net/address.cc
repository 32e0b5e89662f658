#include "net/address.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

namespace parley::net {
namespace {

// Parses ip into 16 bytes (IPv4 in the first 4); v6 tells which. IPv4-mapped IPv6 becomes IPv4.
bool parse_ip(std::string_view ip, std::array<unsigned char, 16>& out, bool& v6) {
  std::string s(ip);
  out.fill(0);
  if (inet_pton(AF_INET, s.c_str(), out.data()) == 1) {
    v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.data()) == 1) {
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(out.data(), kMapped, 12) == 0) {
      std::memmove(out.data(), out.data() + 12, 4);
      std::memset(out.data() + 4, 0, 12);
      v6 = false;
    } else {
      v6 = true;
    }
    return true;
  }
  return false;
}

}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text) {
  Cidr c;
  auto slash = text.find('/');
  if (!parse_ip(text.substr(0, slash), c.bytes_, c.v6_)) return std::nullopt;
  int max = c.v6_ ? 128 : 32;
  c.prefix_ = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    int p = 0;
    for (char ch : digits) {
      if (ch < '0' || ch > '9') return std::nullopt;
      p = p * 10 + (ch - '0');
    }
    if (p > max) return std::nullopt;
    c.prefix_ = p;
  }
  return c;
}

bool Cidr::contains(std::string_view ip) const {
  std::array<unsigned char, 16> b;
  bool v6 = false;
  if (!parse_ip(ip, b, v6) || v6 != v6_) return false;
  int full = prefix_ / 8, rest = prefix_ % 8;
  if (std::memcmp(b.data(), bytes_.data(), static_cast<std::size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  auto mask = static_cast<unsigned char>(0xFF << (8 - rest));
  return (b[static_cast<std::size_t>(full)] & mask) ==
         (bytes_[static_cast<std::size_t>(full)] & mask);
}

}  // namespace parley::net
