// Helpers for the file tests (files_test.cc, the authorization matrix): tus uploads as a
// client makes them, downloads, and test images made with libvips.
#pragma once

#include <openssl/sha.h>
#include <vips/vips.h>

#include <cstring>
#include <mutex>
#include <random>

#include "chat_support.h"

namespace parley::itest::files {

using namespace chat;

inline constexpr std::size_t kMiB = 1024 * 1024;
inline const std::string kUploads = "/api/v1/uploads";

inline std::string random_bytes_of(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    std::uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  return out;
}

inline std::string sha256_hex(std::string_view data) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

inline std::string b64(std::string_view s) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(s[i]) << 16) |
                 (static_cast<unsigned char>(s[i + 1]) << 8) | static_cast<unsigned char>(s[i + 2]);
    for (int k = 3; k >= 0; --k) out += kAlphabet[(v >> (6 * k)) & 63];
  }
  if (i < s.size()) {
    unsigned v = static_cast<unsigned char>(s[i]) << 16;
    if (i + 1 < s.size()) v |= static_cast<unsigned char>(s[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < s.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

inline std::vector<net::Header> tus(std::vector<net::Header> more = {}) {
  more.push_back({"Tus-Resumable", "1.0.0"});
  return more;
}

inline Reply create_upload(Api& api, const Account& who, std::uint64_t length,
                    const std::string& name = "file.bin", const std::string& type = "") {
  std::string meta = "filename " + b64(name);
  if (!type.empty()) meta += ",filetype " + b64(type);
  return api.call("POST", kUploads, {}, who.access,
                  tus({{"Upload-Length", std::to_string(length)}, {"Upload-Metadata", meta}}));
}

inline Reply patch_upload(Api& api, const Account& who, const std::string& location,
                   std::uint64_t offset, std::string_view bytes) {
  return api.call("PATCH", location, bytes, who.access,
                  tus({{"Upload-Offset", std::to_string(offset)},
                       {"Content-Type", "application/offset+octet-stream"}}));
}

// Uploads bytes in one PATCH; returns the file object (throws unless it finished).
inline object upload(Api& api, const Account& who, const std::string& bytes,
              const std::string& name = "file.bin", const std::string& type = "") {
  auto c = create_upload(api, who, bytes.size(), name, type);
  if (c.status != 201) fail_reply("create upload", c);
  auto location = c.header("Location");
  if (!bytes.empty()) {
    auto p = patch_upload(api, who, location, 0, bytes);
    if (p.status != 204 || p.header("Parley-File-Id").empty()) fail_reply("patch upload", p);
  }
  auto done = api.get(location, who.access);
  if (done.status != 200 || !field(done.json, "file") || !field(done.json, "file")->is_object())
    fail_reply("finished upload", done);
  return field(done.json, "file")->as_object();
}

inline Reply download(Api& api, const Account& who, const std::string& file_id,
               std::vector<net::Header> headers = {}, const std::string& suffix = "") {
  return api.call("GET", "/api/v1/files/" + file_id + suffix, {}, who.access, std::move(headers));
}

// A JPEG as a phone takes it (larger than a thumbnail): EXIF with a GPS position and the
// owner's name.
inline std::string jpeg_with_gps(int width = 1200, int height = 900) {
  static std::once_flag init;
  std::call_once(init, [] { VIPS_INIT("files_test"); });
  VipsImage* black = nullptr;
  EXPECT_EQ(vips_black(&black, width, height, "bands", 3, nullptr), 0);
  VipsImage* grey = nullptr;
  EXPECT_EQ(vips_linear1(black, &grey, 1.0, 128.0, nullptr), 0);
  g_object_unref(black);
  VipsImage* img = nullptr;
  EXPECT_EQ(vips_cast_uchar(grey, &img, nullptr), 0);
  g_object_unref(grey);
  vips_image_set_string(img, "exif-ifd3-GPSLatitudeRef", "N");
  vips_image_set_string(img, "exif-ifd3-GPSLatitude", "48/1 51/1 24/1");
  vips_image_set_string(img, "exif-ifd3-GPSMapDatum", "WGS-84");
  vips_image_set_string(img, "exif-ifd0-Artist", "Jane Secretowner");
  void* buf = nullptr;
  std::size_t len = 0;
  EXPECT_EQ(vips_jpegsave_buffer(img, &buf, &len, nullptr), 0);
  g_object_unref(img);
  std::string out(static_cast<const char*>(buf), len);
  g_free(buf);
  return out;
}

// A PNG with an alpha channel (a logo on transparency), larger than a thumbnail.
inline std::string png_with_alpha(int width = 1200, int height = 900) {
  jpeg_with_gps(8, 8);  // initialises libvips once
  VipsImage* black = nullptr;
  EXPECT_EQ(vips_black(&black, width, height, "bands", 4, nullptr), 0);
  VipsImage* img = nullptr;
  EXPECT_EQ(vips_cast_uchar(black, &img, nullptr), 0);
  g_object_unref(black);
  void* buf = nullptr;
  std::size_t len = 0;
  EXPECT_EQ(vips_pngsave_buffer(img, &buf, &len, nullptr), 0);
  g_object_unref(img);
  std::string out(static_cast<const char*>(buf), len);
  g_free(buf);
  return out;
}

}  // namespace parley::itest::files
