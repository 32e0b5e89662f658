#include <gtest/gtest.h>

#include "modules/calls/calls.h"
#include "modules/calls/recording.h"
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

// What a forwarding node reads back from the node holding the call (§42) is the call it sent.
TEST(CallJson, RoundTripsThroughToJson) {
  Call c;
  c.id = "C1";
  c.conversation_id = "V1";
  c.conversation_type = "group";
  c.started_by = "U1";
  c.media = "video";
  c.state = "active";
  c.started_at = 10;
  c.answered_at = 20;
  c.version = 7;
  c.participants = {{"U1", "S1", 10, true, true, false, true},
                    {"U2", "S2", 20, false, false, true, false}};
  c.ringing = {"U3"};
  c.declined = {"U4"};
  c.busy = {"U5"};
  c.sfu = true;
  c.recording = true;
  c.sfu_join = SfuJoin{"http://127.0.0.1:8088/janus", "call-C1", "tok", "f1"};
  auto back = call_from_json(to_json(c));
  EXPECT_EQ(to_json(back), to_json(c));
  ASSERT_EQ(back.participants.size(), 2u);
  EXPECT_FALSE(back.participants[1].audio);
  EXPECT_TRUE(back.participants[1].screen);
  EXPECT_FALSE(back.participants[1].connected);
  ASSERT_TRUE(back.sfu_join);
  EXPECT_EQ(back.sfu_join->token, "tok");
  EXPECT_EQ(back.ended_at, 0);
  EXPECT_TRUE(back.reason.empty());

  c.state = "ended";
  c.ended_at = 30;
  c.reason = "hangup";
  c.sfu_join.reset();
  back = call_from_json(to_json(c));
  EXPECT_EQ(back.reason, "hangup");
  EXPECT_EQ(back.ended_at, 30);
  EXPECT_FALSE(back.sfu_join);
}

TEST(RecordingGrid, VideosAreLaidOutInTheSmallestSquareThatHoldsThem) {
  auto two = grid_filter(2);
  EXPECT_NE(two.find("xstack=inputs=2:layout=0_0|640_0:fill=black[v]"), std::string::npos) << two;
  EXPECT_NE(two.find("[1:v]scale=640:360:force_original_aspect_ratio=decrease"), std::string::npos);
  auto three = grid_filter(3);
  EXPECT_NE(three.find("layout=0_0|640_0|0_360:"), std::string::npos) << three;
  auto five = grid_filter(5);  // 3 columns
  EXPECT_NE(five.find("layout=0_0|640_0|1280_0|0_360|640_360:"), std::string::npos) << five;
  EXPECT_EQ(grid_filter(9).find("[9:v]"), std::string::npos);
}

}  // namespace
}  // namespace parley::calls
