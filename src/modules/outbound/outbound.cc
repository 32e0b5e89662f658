#include "modules/outbound/outbound.h"

#include <arpa/inet.h>

#include <cstring>

#include "core/text.h"

namespace parley::outbound {
namespace {

bool is_mapped(const IpAddress& ip) {
  static const std::uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return ip.is_v6() && std::memcmp(ip.bytes(), kPrefix, 12) == 0;
}

IpAddress v4_at(const IpAddress& ip, std::size_t offset, std::uint8_t flip = 0) {
  const std::uint8_t* b = ip.bytes() + offset;
  return IpAddress::v4({std::uint8_t(b[0] ^ flip), std::uint8_t(b[1] ^ flip),
                        std::uint8_t(b[2] ^ flip), std::uint8_t(b[3] ^ flip)});
}

// An IPv4-mapped address (::ffff:a.b.c.d) is an IPv4 address on the wire: a dual-stack socket
// connects to a.b.c.d. Judging it as IPv4 closes the "[::ffff:127.0.0.1]" spelling.
IpAddress canonical(const IpAddress& ip) { return is_mapped(ip) ? v4_at(ip, 12) : ip; }

std::vector<Cidr> parse_table(std::initializer_list<const char*> texts) {
  std::vector<Cidr> out;
  for (const char* t : texts) out.push_back(*Cidr::parse(t));
  return out;
}

// IANA's special-purpose registries (RFC 6890 and successors): everything that is not
// "globally reachable", plus ranges no public service lives in.
const std::vector<Cidr>& refused_v4() {
  static const std::vector<Cidr> table = parse_table({
      "0.0.0.0/8",        // "this network", 0.0.0.0 included
      "10.0.0.0/8",       // private
      "100.64.0.0/10",    // carrier-grade NAT
      "127.0.0.0/8",      // loopback
      "169.254.0.0/16",   // link-local, cloud metadata (169.254.169.254)
      "172.16.0.0/12",    // private
      "192.0.0.0/24",     // IETF protocol assignments
      "192.0.2.0/24",     // TEST-NET-1
      "192.88.99.0/24",   // deprecated 6to4 relay anycast
      "192.168.0.0/16",   // private
      "198.18.0.0/15",    // benchmarking
      "198.51.100.0/24",  // TEST-NET-2
      "203.0.113.0/24",   // TEST-NET-3
      "224.0.0.0/4",      // multicast
      "240.0.0.0/4",      // reserved, 255.255.255.255 (broadcast) included
  });
  return table;
}

const std::vector<Cidr>& refused_v6() {
  static const std::vector<Cidr> table = parse_table({
      "::/96",           // IPv4-compatible (deprecated); :: and ::1 included
      "64:ff9b:1::/48",  // local-use NAT64
      "100::/64",        // discard-only
      "2001:2::/48",     // benchmarking
      "2001:10::/28",    // ORCHID (deprecated)
      "2001:db8::/32",   // documentation
      "3fff::/20",       // documentation
      "5f00::/16",       // SRv6 segment identifiers
      "fc00::/7",        // unique local
      "fe80::/10",       // link-local
      "fec0::/10",       // site-local (deprecated)
      "ff00::/8",        // multicast
  });
  return table;
}

bool in_any(const std::vector<Cidr>& table, const IpAddress& ip) {
  for (const auto& c : table)
    if (c.contains(ip)) return true;
  return false;
}

// The IPv4 addresses that traffic to ip ends up at, for the forms that carry one: a NAT64
// gateway, a 6to4 relay or a Teredo server forwards to it, so such an address is only as
// reachable as the IPv4 addresses inside it.
std::vector<IpAddress> embedded_v4(const IpAddress& ip) {
  static const Cidr kNat64 = *Cidr::parse("64:ff9b::/96");
  static const Cidr kTranslated = *Cidr::parse("::ffff:0:0:0/96");
  static const Cidr k6to4 = *Cidr::parse("2002::/16");
  static const Cidr kTeredo = *Cidr::parse("2001::/32");
  if (kNat64.contains(ip) || kTranslated.contains(ip)) return {v4_at(ip, 12)};
  if (k6to4.contains(ip)) return {v4_at(ip, 2)};
  // Teredo: the server's address in plain, the client's with every bit flipped.
  if (kTeredo.contains(ip)) return {v4_at(ip, 4), v4_at(ip, 12, 0xff)};
  return {};
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton wants a terminated string; an embedded NUL must not cut the text short.
  if (text.empty() || text.size() > 45 || text.find('\0') != std::string_view::npos)
    return std::nullopt;
  std::string s(text);
  IpAddress ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes_.data()) == 1) return ip;
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes_.data()) == 1) {
    ip.v6_ = true;
    return ip;
  }
  return std::nullopt;
}

IpAddress IpAddress::v4(const std::array<std::uint8_t, 4>& bytes) {
  IpAddress ip;
  std::memcpy(ip.bytes_.data(), bytes.data(), 4);
  return ip;
}

IpAddress IpAddress::v6(const std::array<std::uint8_t, 16>& bytes) {
  IpAddress ip;
  ip.bytes_ = bytes;
  ip.v6_ = true;
  return ip;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6_ ? AF_INET6 : AF_INET, bytes_.data(), buf, sizeof buf);
  return buf;
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  int max = ip->is_v6() ? 128 : 32;
  int prefix = max;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    prefix = 0;
    for (char ch : digits) {
      if (ch < '0' || ch > '9') return std::nullopt;
      prefix = prefix * 10 + (ch - '0');
    }
    if (prefix > max) return std::nullopt;
  }
  Cidr c;
  // "::ffff:127.0.0.1/128" means what the policy sees: the IPv4 address.
  if (is_mapped(*ip) && prefix >= 96) {
    c.base_ = canonical(*ip);
    c.prefix_ = prefix - 96;
  } else {
    c.base_ = *ip;
    c.prefix_ = prefix;
  }
  return c;
}

bool Cidr::contains(const IpAddress& ip) const {
  if (ip.is_v6() != base_.is_v6()) return false;
  auto full = static_cast<std::size_t>(prefix_ / 8);
  int rest = prefix_ % 8;
  if (std::memcmp(ip.bytes(), base_.bytes(), full) != 0) return false;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
  return (ip.bytes()[full] & mask) == (base_.bytes()[full] & mask);
}

Result<AddressPolicy> AddressPolicy::parse(const std::vector<std::string>& entries) {
  std::vector<Cidr> allow;
  for (const auto& entry : entries) {
    auto t = text::trim(entry);
    if (t.empty()) continue;
    auto c = Cidr::parse(t);
    if (!c)
      return fail(Errc::invalid_argument,
                  "outbound-allow: '" + std::string(t) + "' is not an IP address or CIDR range",
                  "outbound-allow");
    allow.push_back(*c);
  }
  return AddressPolicy(std::move(allow));
}

bool AddressPolicy::allow_listed(const IpAddress& ip) const {
  return in_any(allow_, canonical(ip));
}

bool AddressPolicy::allows(const IpAddress& given) const {
  IpAddress ip = canonical(given);
  if (allow_listed(ip)) return true;
  if (!ip.is_v6()) return !in_any(refused_v4(), ip);
  if (in_any(refused_v6(), ip)) return false;
  auto inner = embedded_v4(ip);
  if (!inner.empty()) {
    for (const auto& v4 : inner)
      if (!allows(v4)) return false;
    return true;
  }
  // Only global unicast is routed on the public IPv6 internet; the rest is unassigned.
  static const Cidr kGlobalUnicast = *Cidr::parse("2000::/3");
  return kGlobalUnicast.contains(ip);
}

bool AddressPolicy::allows(std::string_view ip_text) const {
  auto ip = IpAddress::parse(ip_text);
  return ip && allows(*ip);
}

}  // namespace parley::outbound
