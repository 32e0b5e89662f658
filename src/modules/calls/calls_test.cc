#include <gtest/gtest.h>

#include "modules/calls/calls.h"
#include "modules/calls/turn.h"

namespace parley::calls {
namespace {

TEST(TurnCredential, IsBase64OfHmacSha1) {
  // RFC 2104 style vector: HMAC-SHA1("key", "The quick brown fox jumps over the lazy dog") is
  // de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9.
  EXPECT_EQ(turn_credential("key", "The quick brown fox jumps over the lazy dog"),
            "3nybhbi3iqa8ino29wqQcBydtNk=");
}

TEST(IceServers, TurnEntryUsesExpiringUsername) {
  TurnOptions o{"s3cret", {"stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp"}, 600};
  ASSERT_TRUE(validate(o));
  auto ice = ice_servers(o, "U1", 1'700'000'000'123);
  ASSERT_EQ(ice.servers.size(), 2u);
  EXPECT_EQ(ice.ttl_s, 600);
  EXPECT_TRUE(ice.servers[0].username.empty());
  EXPECT_EQ(ice.servers[1].username, "1700000600:U1");
  EXPECT_EQ(ice.servers[1].credential, turn_credential("s3cret", "1700000600:U1"));
}

TEST(IceServers, TurnWithoutSecretOrBadSchemeIsRefused) {
  EXPECT_FALSE(validate({"", {"turn:127.0.0.1:3478"}, 600}));
  EXPECT_FALSE(validate({"s", {"http://example.com"}, 600}));
  EXPECT_TRUE(validate({"", {"stun:127.0.0.1:3478"}, 600}));
}

TEST(CallMessage, SaysMissedOrDuration) {
  Call c;
  c.media = "video";
  EXPECT_EQ(call_message_text(c), "📞 Missed video call");
  c.answered_at = 1'000;
  c.ended_at = 66'500;
  EXPECT_EQ(call_message_text(c), "📞 Video call · 1:05");
  c.media = "audio";
  c.ended_at = 1'000 + 3'725'000;
  EXPECT_EQ(call_message_text(c), "📞 Audio call · 1:02:05");
}

}  // namespace
}  // namespace parley::calls
