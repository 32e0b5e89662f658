// The profile beyond names: a time zone (an IANA name checked against the server's tzdata) and
// an avatar image (the caller's own processed upload, served without a token at a URL that
// changes with the avatar), and the user.updated events that carry both.
#include "file_support.h"

namespace parley::itest {
namespace {

using namespace chat;
using namespace files;

class ProfileTest : public SharedServerTest {};

const std::string kMe = "/api/v1/users/me";
const std::string kAvatar = "/api/v1/users/me/avatar";

Reply put_avatar(Api& api, const Account& who, const std::string& file_id) {
  return api.call("PUT", kAvatar, boost::json::serialize(object{{"file_id", file_id}}), who.access,
                  {{"Content-Type", "application/json"}});
}

Reply patch_timezone(Api& api, const Account& who, const std::string& tz) {
  return api.patch(kMe, object{{"timezone", tz}}, who.access);
}

TEST_F(ProfileTest, TimezoneIsSetReadAndCleared) {
  auto api = this->api();
  auto a = register_account(api, "tzok");
  auto me = api.get(kMe, a.access);
  ASSERT_EQ(me.status, 200) << me;
  ASSERT_TRUE(me.obj().contains("timezone")) << me;
  EXPECT_EQ(me.str("timezone"), "");

  for (const std::string& tz :
       std::vector<std::string>{"Europe/Paris", "America/Argentina/Buenos_Aires", "UTC"}) {
    auto r = patch_timezone(api, a, tz);
    ASSERT_EQ(r.status, 200) << tz << ": " << r;
    EXPECT_EQ(r.str("timezone"), tz);
    EXPECT_EQ(api.get(kMe, a.access).str("timezone"), tz);
    EXPECT_EQ(api.get("/api/v1/users/" + a.id, a.access).str("timezone"), tz);
  }
  // Other fields leave it alone; with them in one PATCH, all land.
  ASSERT_EQ(api.patch(kMe, object{{"status_text", "away"}}, a.access).status, 200);
  EXPECT_EQ(api.get(kMe, a.access).str("timezone"), "UTC");
  auto both = api.patch(kMe, object{{"status_text", "back"}, {"timezone", "Asia/Tokyo"}}, a.access);
  ASSERT_EQ(both.status, 200) << both;
  EXPECT_EQ(both.str("status_text"), "back");
  EXPECT_EQ(both.str("timezone"), "Asia/Tokyo");

  auto cleared = patch_timezone(api, a, "");
  ASSERT_EQ(cleared.status, 200) << cleared;
  EXPECT_EQ(cleared.str("timezone"), "");
}

TEST_F(ProfileTest, InvalidTimezonesAndPathTricksAre422OnTimezone) {
  auto api = this->api();
  auto a = register_account(api, "tzbad");
  ASSERT_EQ(patch_timezone(api, a, "Europe/Berlin").status, 200);
  for (const std::string& bad : std::vector<std::string>{
           "Mars/Olympus_Mons", "Paris", "utc", "../../../../etc/passwd", "/etc/localtime",
           "Europe/../../../etc/passwd", "Europe/./Paris", "Europe//Paris", "Europe/Paris/",
           "Europe\\Paris", "Europe/Paris ", "posix/Europe/Paris", "Europe", "zone.tab",
           "Europe/Paris%00", std::string(100, 'A') + "/B"}) {
    auto r = patch_timezone(api, a, bad);
    EXPECT_EQ(r.status, 422) << bad << ": " << r;
    EXPECT_EQ(r.error_code(), "validation_failed") << bad;
    EXPECT_EQ(r.error_field(), "timezone") << bad;
  }
  auto wrong_type = api.patch(kMe, object{{"timezone", 5}}, a.access);
  EXPECT_EQ(wrong_type.status, 400) << wrong_type;
  EXPECT_EQ(api.get(kMe, a.access).str("timezone"), "Europe/Berlin") << "nothing changed";
}

TEST_F(ProfileTest, AnUploadedJpegBecomesAnAvatarServedWithoutAToken) {
  auto api = this->api();
  auto a = register_account(api, "ava");
  auto file = upload(api, a, jpeg_with_gps(), "me.jpg", "image/jpeg");
  const std::string id = str(file, "id");
  ASSERT_GT(num(file, "width"), 0) << dump(file);

  auto set = put_avatar(api, a, id);
  ASSERT_EQ(set.status, 200) << set;
  const std::string url = "/api/v1/avatars/" + id;
  EXPECT_EQ(set.str("avatar_url"), url);
  EXPECT_EQ(set.str("id"), a.id);
  EXPECT_EQ(api.get(kMe, a.access).str("avatar_url"), url);
  auto other = register_account(api, "avb");
  EXPECT_EQ(api.get("/api/v1/users/" + a.id, other.access).str("avatar_url"), url);

  auto img = api.get(url);  // no token
  ASSERT_EQ(img.status, 200) << img;
  EXPECT_EQ(img.header("Content-Type"), "image/jpeg");
  EXPECT_EQ(img.body.substr(0, 3), std::string("\xFF\xD8\xFF", 3)) << "a JPEG";
  EXPECT_LT(img.body.size(), jpeg_with_gps().size()) << "the thumbnail, not the full image";
  EXPECT_EQ(img.body.find("Secretowner"), std::string::npos) << "metadata was stripped";
  EXPECT_EQ(img.header("Cache-Control"), "public, max-age=86400");
  EXPECT_EQ(img.header("X-Content-Type-Options"), "nosniff");
  EXPECT_NE(img.header("Content-Security-Policy").find("sandbox"), std::string::npos);
  EXPECT_EQ(img.header("Accept-Ranges"), "bytes");
  const std::string etag = img.header("ETag");
  ASSERT_FALSE(etag.empty());

  // The download machinery is the files routes': conditional requests and ranges.
  auto again = api.call("GET", url, {}, {}, {{"If-None-Match", etag}});
  EXPECT_EQ(again.status, 304) << again;
  auto part = api.call("GET", url, {}, {}, {{"Range", "bytes=0-9"}});
  EXPECT_EQ(part.status, 206) << part;
  EXPECT_EQ(part.body, img.body.substr(0, 10));

  // A token changes nothing about the answer.
  EXPECT_EQ(api.get(url, other.access).status, 200);
}

TEST_F(ProfileTest, AvatarMustBeTheCallersOwnReadyImage) {
  auto api = this->api();
  auto a = register_account(api, "avown");
  auto b = register_account(api, "avoth");
  auto expect_refused = [&](const std::string& file_id, const std::string& why) {
    auto r = put_avatar(api, a, file_id);
    EXPECT_EQ(r.status, 422) << why << ": " << r;
    EXPECT_EQ(r.error_code(), "validation_failed") << why;
    EXPECT_EQ(r.error_field(), "file_id") << why;
  };
  auto bs = upload(api, b, jpeg_with_gps(640, 480), "b.jpg");
  expect_refused(str(bs, "id"), "another user's image, never shared");
  // Shared with a, so a may read it: still not a's to make an avatar of.
  auto conv = make_group(api, b, {a.id});
  auto sent = api.post(conv_path(conv) + "/messages",
                       object{{"text", ""},
                              {"client_msg_id", fresh_cmid()},
                              {"attachments", array{value(str(bs, "id"))}}},
                       b.access);
  ASSERT_EQ(sent.status, 201) << sent;
  ASSERT_EQ(download(api, a, str(bs, "id")).status, 200);
  expect_refused(str(bs, "id"), "another user's image a can read");

  auto pdf = upload(api, a, "%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "cv.pdf");
  expect_refused(str(pdf, "id"), "a PDF");
  auto text = upload(api, a, "just some words", "notes.txt");
  expect_refused(str(text, "id"), "not an image");
  auto fake = upload(api, a, "\x89PNG\r\n\x1a\nnot really", "fake.png", "image/png");
  expect_refused(str(fake, "id"), "a PNG the server could not read");
  expect_refused(kUnknownId, "an unknown id");
  expect_refused("../../etc/passwd", "not an id");

  auto missing = api.call("PUT", kAvatar, "{}", a.access, {{"Content-Type", "application/json"}});
  EXPECT_EQ(missing.status, 400) << missing;
  auto wrong_type = api.call("PUT", kAvatar, R"({"file_id": 7})", a.access,
                             {{"Content-Type", "application/json"}});
  EXPECT_EQ(wrong_type.status, 400) << wrong_type;
  auto no_token =
      api.call("PUT", kAvatar, R"({"file_id": "x"})", {}, {{"Content-Type", "application/json"}});
  EXPECT_EQ(no_token.status, 401) << no_token;
  EXPECT_EQ(api.del(kAvatar, "").status, 401);

  EXPECT_EQ(api.get(kMe, a.access).str("avatar_url"), "") << "nothing was set";
}

TEST_F(ProfileTest, OnlyCurrentAvatarsAreServedAndEverythingElseIs404) {
  auto api = this->api();
  auto a = register_account(api, "avold");
  auto first = str(upload(api, a, jpeg_with_gps(800, 600), "1.jpg"), "id");
  auto second = str(upload(api, a, jpeg_with_gps(600, 800), "2.jpg"), "id");
  auto never = str(upload(api, a, jpeg_with_gps(300, 200), "3.jpg"), "id");

  auto expect_404 = [&](const std::string& id, const std::string& why) {
    auto r = api.get("/api/v1/avatars/" + id);
    EXPECT_EQ(r.status, 404) << why << ": " << r;
    EXPECT_EQ(r.error_code(), "not_found") << why;
    EXPECT_EQ(r.header("Cache-Control").find("public"), std::string::npos) << why;
  };
  expect_404(never, "an image that is nobody's avatar");
  expect_404(kUnknownId, "an unknown id");
  expect_404("not-an-id", "garbage");

  ASSERT_EQ(put_avatar(api, a, first).status, 200);
  EXPECT_EQ(api.get("/api/v1/avatars/" + first).status, 200);
  auto replaced = put_avatar(api, a, second);
  ASSERT_EQ(replaced.status, 200) << replaced;
  EXPECT_EQ(replaced.str("avatar_url"), "/api/v1/avatars/" + second);
  expect_404(first, "the replaced avatar");
  EXPECT_EQ(api.get("/api/v1/avatars/" + second).status, 200);
  // The replaced image is still the uploader's file.
  EXPECT_EQ(download(api, a, first).status, 200);

  auto cleared = api.del(kAvatar, a.access);
  ASSERT_EQ(cleared.status, 200) << cleared;
  EXPECT_EQ(cleared.str("avatar_url"), "");
  EXPECT_EQ(cleared.str("id"), a.id);
  expect_404(second, "a cleared avatar");
  EXPECT_EQ(api.del(kAvatar, a.access).status, 200) << "clearing twice is fine";
}

TEST_F(ProfileTest, ContactsReceiveTimezoneAndAvatarInUserUpdated) {
  auto api = this->api();
  auto a = register_account(api, "evta");
  auto b = register_account(api, "evtb");
  make_dm(api, a, b.id);
  Live b_ws(port(), b);
  const auto from_a = [&](auto check) {
    return [&, check](const object& d) { return str(d, "id") == a.id && check(d); };
  };

  ASSERT_EQ(patch_timezone(api, a, "Europe/Paris").status, 200);
  b_ws.event("user.updated",
             from_a([](const object& d) { return str(d, "timezone") == "Europe/Paris"; }));

  auto id = str(upload(api, a, jpeg_with_gps(640, 480), "evt.jpg"), "id");
  ASSERT_EQ(put_avatar(api, a, id).status, 200);
  auto d = b_ws.event("user.updated", from_a([&](const object& d) {
                        return str(d, "avatar_url") == "/api/v1/avatars/" + id;
                      }));
  EXPECT_EQ(str(d, "timezone"), "Europe/Paris") << dump(d);

  ASSERT_EQ(api.del(kAvatar, a.access).status, 200);
  b_ws.event("user.updated", from_a([](const object& d) {
               return d.contains("avatar_url") && str(d, "avatar_url").empty();
             }));
}

}  // namespace
}  // namespace parley::itest
