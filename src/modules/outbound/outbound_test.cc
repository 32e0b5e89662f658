#include "modules/outbound/outbound.h"

#include <gtest/gtest.h>

namespace parley::outbound {
namespace {

AddressPolicy policy(std::vector<std::string> allow = {}) {
  auto p = AddressPolicy::parse(allow);
  EXPECT_TRUE(p) << p.error().message;
  return *p;
}

TEST(IpAddress, ParsesOnlyStrictSpellings) {
  EXPECT_TRUE(IpAddress::parse("127.0.0.1"));
  EXPECT_TRUE(IpAddress::parse("::1"));
  EXPECT_TRUE(IpAddress::parse("::ffff:127.0.0.1"));
  // What inet_aton and URL parsers read as 127.0.0.1 is not an address to the policy.
  for (const char* text : {"2130706433", "0177.0.0.1", "0x7f.1", "0x7f000001", "127.1", "127.0.1",
                           "017700000001", "127.0.0.1 ", " 127.0.0.1", "127.0.0.1.", "[::1]",
                           "fe80::1%eth0", "", "localhost", "1.2.3.4/8"})
    EXPECT_FALSE(IpAddress::parse(text)) << text;
  EXPECT_FALSE(IpAddress::parse(std::string_view("127.0.0.1\0.evil", 15)));
}

TEST(IpAddress, PrintsCanonically) {
  EXPECT_EQ(IpAddress::parse("2001:DB8:0:0:0:0:0:1")->to_string(), "2001:db8::1");
  EXPECT_EQ(IpAddress::v4({10, 1, 2, 3}).to_string(), "10.1.2.3");
}

TEST(AddressPolicy, RefusesEverySpecialPurposeAddressByDefault) {
  AddressPolicy p = policy();
  for (const char* ip : {
           "127.0.0.1",
           "127.255.255.254",
           "10.0.0.1",
           "10.255.255.255",
           "172.16.0.1",
           "172.31.255.255",
           "192.168.1.1",
           "169.254.169.254",
           "169.254.0.1",
           "100.64.0.1",
           "100.127.255.255",
           "0.0.0.0",
           "0.1.2.3",
           "255.255.255.255",
           "224.0.0.1",
           "239.255.255.250",
           "240.0.0.1",
           "192.0.0.8",
           "192.0.0.170",
           "192.0.2.1",
           "198.18.0.1",
           "198.19.255.255",
           "198.51.100.7",
           "203.0.113.9",
           "192.88.99.1",
           // IPv6
           "::",
           "::1",
           "fc00::1",
           "fd12:3456::1",
           "fe80::1",
           "febf::1",
           "fec0::1",
           "ff02::1",
           "ff0e::1",
           "2001:db8::1",
           "3fff::1",
           "100::1",
           "64:ff9b:1::1",
           "2001:2::1",
           "2001:10::1",
           "5f00::1",
           "4000::1",
           "::2",
           // IPv4 inside IPv6
           "::ffff:127.0.0.1",
           "::ffff:10.0.0.1",
           "::ffff:169.254.169.254",
           "::127.0.0.1",
           "::ffff:0:127.0.0.1",
           "::ffff:0:a00:1",
           "64:ff9b::127.0.0.1",
           "64:ff9b::a9fe:a9fe",
           "2002:7f00:1::",
           "2002:a00:1::1",
           "2002:c0a8:101::1",
           // Teredo: server 65.54.227.120 is public, the client 10.0.0.1 (bits flipped) is not
           "2001:0:4136:e378:8000:63bf:f5ff:fffe",
           // Teredo with a loopback server
           "2001:0:7f00:1::1",
       })
    EXPECT_FALSE(p.allows(ip)) << ip;
}

TEST(AddressPolicy, AllowsPublicAddresses) {
  AddressPolicy p = policy();
  for (const char* ip :
       {"93.184.216.34", "8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.1", "100.63.255.255",
        "100.128.0.1", "192.0.1.1", "198.20.0.1", "223.255.255.255", "2606:4700::1111",
        "2a00:1450:4001::200e", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
        "2001:0:4136:e378:8000:63bf:f7f7:f7f7"})
    EXPECT_TRUE(p.allows(ip)) << ip;
}

TEST(AddressPolicy, RefusesTextThatIsNotAStrictAddress) {
  // Even with loopback allowed: the policy judges resolved addresses, never spellings.
  AddressPolicy p = policy({"127.0.0.0/8"});
  EXPECT_TRUE(p.allows("127.0.0.1"));
  for (const char* text : {"2130706433", "0177.0.0.1", "0x7f.1", "localhost", ""})
    EXPECT_FALSE(p.allows(text)) << text;
}

TEST(AddressPolicy, TheAllowListOpensExactlyItsRanges) {
  AddressPolicy p = policy({"127.0.0.0/8", " 10.1.0.0/16", "fd00::/8", ""});
  EXPECT_TRUE(p.allows("127.0.0.1"));
  EXPECT_TRUE(p.allows("127.9.9.9"));
  EXPECT_TRUE(p.allows("::ffff:127.0.0.1"));  // the same IPv4 address on the wire
  EXPECT_TRUE(p.allows("64:ff9b::7f00:1"));   // NAT64 to an allowed IPv4 address
  EXPECT_TRUE(p.allows("10.1.200.3"));
  EXPECT_TRUE(p.allows("fd00::5"));
  EXPECT_FALSE(p.allows("10.2.0.1"));
  EXPECT_FALSE(p.allows("::1"));  // IPv6 loopback is not in 127.0.0.0/8
  EXPECT_FALSE(p.allows("fc00::1"));
  EXPECT_FALSE(p.allows("169.254.169.254"));

  EXPECT_TRUE(p.allow_listed(*IpAddress::parse("::ffff:10.1.0.1")));
  EXPECT_FALSE(p.allow_listed(*IpAddress::parse("8.8.8.8")));  // allowed, but not listed
  EXPECT_TRUE(p.allows("8.8.8.8"));

  AddressPolicy host = policy({"127.0.0.1/32"});
  EXPECT_TRUE(host.allows("127.0.0.1"));
  EXPECT_FALSE(host.allows("127.0.0.2"));

  AddressPolicy mapped = policy({"::ffff:192.168.1.0/120"});  // written as IPv6, judged as IPv4
  EXPECT_TRUE(mapped.allows("192.168.1.7"));
  EXPECT_FALSE(mapped.allows("192.168.2.7"));
}

TEST(AddressPolicy, ABadEntryIsNamed) {
  for (const char* bad : {"10.0.0.0/33", "nonsense", "10.0.0.0/", "::/129", "10.0.0.0/8x",
                          "0177.0.0.1/8", "10.0.0.0/-1"}) {
    auto p = AddressPolicy::parse({"127.0.0.0/8", bad});
    ASSERT_FALSE(p) << bad;
    EXPECT_EQ(p.error().code, Errc::invalid_argument);
    EXPECT_EQ(p.error().field, "outbound-allow");
    EXPECT_NE(p.error().message.find(bad), std::string::npos) << p.error().message;
  }
}

TEST(Cidr, MatchesByPrefixAndFamily) {
  auto c = Cidr::parse("172.16.0.0/12");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->contains(*IpAddress::parse("172.31.0.1")));
  EXPECT_FALSE(c->contains(*IpAddress::parse("172.32.0.1")));
  EXPECT_FALSE(c->contains(*IpAddress::parse("::ffff:172.16.0.1")));  // the policy maps, not Cidr
  auto all = Cidr::parse("0.0.0.0/0");
  EXPECT_TRUE(all->contains(*IpAddress::parse("8.8.8.8")));
  EXPECT_FALSE(all->contains(*IpAddress::parse("2001:4860::8888")));
  auto v6 = Cidr::parse("fe80::/10");
  EXPECT_TRUE(v6->contains(*IpAddress::parse("febf:ffff::1")));
  EXPECT_FALSE(v6->contains(*IpAddress::parse("fec0::1")));
}

}  // namespace
}  // namespace parley::outbound
