// IP address ranges (CIDR) for trusted-proxy and allow lists. IPv4 and IPv6; a bare address is
// a /32 or /128. Immutable after parsing; thread-safe.
#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace parley::net {

class Cidr {
 public:
  static std::optional<Cidr> parse(std::string_view text);
  bool contains(std::string_view ip) const;

 private:
  std::array<unsigned char, 16> bytes_{};
  bool v6_ = false;
  int prefix_ = 0;
};

}  // namespace parley::net
