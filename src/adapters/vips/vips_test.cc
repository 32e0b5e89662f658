// VipsImageProcessor on images libvips itself makes at test time (no binary fixtures): what a
// photo from a phone carries (EXIF GPS, an orientation, XMP, a colour profile) is gone from the
// stored copy, sizes are as displayed, thumbnails fit, and hostile bytes are refused.
#include <gtest/gtest.h>
#include <vips/vips.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "adapters/vips/vips_image_processor.h"

namespace parley::vips {
namespace {

struct Unref {
  void operator()(VipsImage* image) const { g_object_unref(image); }
};
using Image = std::unique_ptr<VipsImage, Unref>;

// An 8-bit image from a function of (x, y, band).
template <class Fn>
Image make(int w, int h, int bands, Fn pixel) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(w) * h * bands);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int b = 0; b < bands; ++b)
        px[(static_cast<std::size_t>(y) * w + x) * bands + b] = pixel(x, y, b);
  return Image(
      vips_image_new_from_memory_copy(px.data(), px.size(), w, h, bands, VIPS_FORMAT_UCHAR));
}

Image gradient(int w, int h, int bands = 3) {
  return make(w, h, bands, [](int x, int y, int b) { return (x * 7 + y * 3 + b * 50) & 0xFF; });
}

std::string to_string(void* buf, std::size_t len) {
  std::string s(static_cast<const char*>(buf), len);
  g_free(buf);
  return s;
}

std::string jpeg(VipsImage* image) {
  void* buf = nullptr;
  std::size_t len = 0;
  EXPECT_EQ(vips_jpegsave_buffer(image, &buf, &len, "Q", 90, nullptr), 0) << vips_error_buffer();
  return to_string(buf, len);
}

std::string png(VipsImage* image) {
  void* buf = nullptr;
  std::size_t len = 0;
  EXPECT_EQ(vips_pngsave_buffer(image, &buf, &len, nullptr), 0) << vips_error_buffer();
  return to_string(buf, len);
}

Image load(const std::string& bytes, const char* options = "") {
  return Image(vips_image_new_from_buffer(bytes.data(), bytes.size(), options, nullptr));
}

bool has_field(VipsImage* image, const char* prefix) {
  char** fields = vips_image_get_fields(image);
  bool found = false;
  for (char** f = fields; *f; ++f) found = found || std::string_view(*f).starts_with(prefix);
  g_strfreev(fields);
  return found;
}

double mean(VipsImage* image) {
  double m = 0;
  EXPECT_EQ(vips_avg(image, &m, nullptr), 0);
  return m;
}

Image crop(VipsImage* image, int left, int top, int w, int h) {
  VipsImage* out = nullptr;
  EXPECT_EQ(vips_crop(image, &out, left, top, w, h, nullptr), 0);
  return Image(out);
}

// A phone photo: 80x40 as stored, left half white and right half black, EXIF orientation 6
// (shown turned 90 degrees clockwise: 40x80, white on top), GPS position, camera owner, XMP
// and a Display P3 colour profile.
std::string phone_photo() {
  Image raw = make(80, 40, 3, [](int x, int, int) { return x < 40 ? 255 : 0; });
  VipsImage* p3 = nullptr;
  EXPECT_EQ(vips_icc_transform(raw.get(), &p3, "p3", "input_profile", "srgb", nullptr), 0)
      << vips_error_buffer();
  Image image(p3);
  vips_image_set_int(image.get(), "orientation", 6);
  vips_image_set_string(image.get(), "exif-ifd3-GPSLatitudeRef", "N");
  vips_image_set_string(image.get(), "exif-ifd3-GPSLatitude", "48/1 51/1 24/1");
  vips_image_set_string(image.get(), "exif-ifd3-GPSMapDatum", "WGS-84");
  vips_image_set_string(image.get(), "exif-ifd0-Artist", "Jane Secretowner");
  const std::string xmp = "<x:xmpmeta xmlns:x='adobe:ns:meta/'>SecretPlace</x:xmpmeta>";
  vips_image_set_blob_copy(image.get(), "xmp-data", xmp.data(), xmp.size());
  return jpeg(image.get());
}

class VipsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = VipsImageProcessor::create();
    ASSERT_TRUE(p) << p.error().message;
    processor_ = std::make_unique<VipsImageProcessor>(std::move(*p));
  }
  Result<files::ProcessedImage> process(const std::string& bytes, const char* type, int px = 64) {
    return processor_->process(bytes, type, px);
  }
  std::unique_ptr<VipsImageProcessor> processor_;
};

TEST_F(VipsTest, ReadsImageTypesOnly) {
  for (const char* t : {"image/jpeg", "image/png", "image/webp", "image/gif", "image/heic",
                        "image/heif", "image/avif", "IMAGE/JPEG", "image/png; q=1"})
    EXPECT_TRUE(processor_->reads(t)) << t;
  for (const char* t :
       {"image/svg+xml", "image/tiff", "application/pdf", "text/plain", "", "image"})
    EXPECT_FALSE(processor_->reads(t)) << t;
}

TEST_F(VipsTest, PhonePhotoIsTurnedAsDisplayedAndLosesAllMetadata) {
  const std::string photo = phone_photo();
  // The fixture really carries what must go.
  Image original = load(photo);
  ASSERT_TRUE(original);
  ASSERT_EQ(vips_image_get_orientation(original.get()), 6);
  ASSERT_TRUE(has_field(original.get(), "exif-ifd3-GPSLatitude"));
  ASSERT_NE(photo.find("WGS-84"), std::string::npos);  // the GPS IFD's one text field
  ASSERT_NE(photo.find("Secretowner"), std::string::npos);
  ASSERT_NE(photo.find("SecretPlace"), std::string::npos);
  ASSERT_TRUE(vips_image_get_typeof(original.get(), VIPS_META_ICC_NAME));

  auto r = process(photo, "image/jpeg", 1000);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->width, 40);
  EXPECT_EQ(r->height, 80);
  EXPECT_EQ(r->cleaned_type, "image/jpeg");
  EXPECT_TRUE(r->thumbnail.empty());  // already within 1000 px

  for (const char* secret :
       {"WGS-84", "Exif", "Secretowner", "SecretPlace", "xmpmeta", "ICC_PROFILE"})
    EXPECT_EQ(r->cleaned.find(secret), std::string::npos) << secret;
  Image cleaned = load(r->cleaned);
  ASSERT_TRUE(cleaned);
  EXPECT_EQ(cleaned->Xsize, 40);
  EXPECT_EQ(cleaned->Ysize, 80);
  EXPECT_FALSE(vips_image_get_typeof(cleaned.get(), VIPS_META_EXIF_NAME));
  EXPECT_FALSE(vips_image_get_typeof(cleaned.get(), VIPS_META_XMP_NAME));
  EXPECT_FALSE(vips_image_get_typeof(cleaned.get(), VIPS_META_ICC_NAME));
  EXPECT_FALSE(has_field(cleaned.get(), "exif-"));
  EXPECT_EQ(vips_image_get_orientation(cleaned.get()), 1);
  // Turned, not just relabelled: the white half is now on top.
  EXPECT_GT(mean(crop(cleaned.get(), 0, 0, 40, 40).get()), 200);
  EXPECT_LT(mean(crop(cleaned.get(), 0, 40, 40, 40).get()), 55);
}

TEST_F(VipsTest, ThumbnailFitsTheLongSideAndKeepsTheShape) {
  auto r = process(jpeg(gradient(400, 300).get()), "image/jpeg", 100);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->width, 400);
  EXPECT_EQ(r->height, 300);
  EXPECT_EQ(r->thumbnail_type, "image/jpeg");
  Image thumb = load(r->thumbnail);
  ASSERT_TRUE(thumb);
  EXPECT_EQ(thumb->Xsize, 100);
  EXPECT_EQ(thumb->Ysize, 75);
  EXPECT_FALSE(has_field(thumb.get(), "exif-"));
}

TEST_F(VipsTest, ThumbnailOfATurnedPhotoIsTurnedToo) {
  auto r = process(phone_photo(), "image/jpeg", 20);
  ASSERT_TRUE(r) << r.error().message;
  Image thumb = load(r->thumbnail);
  ASSERT_TRUE(thumb);
  EXPECT_EQ(thumb->Xsize, 10);
  EXPECT_EQ(thumb->Ysize, 20);
  EXPECT_EQ(r->thumbnail.find("WGS-84"), std::string::npos);
  EXPECT_EQ(r->thumbnail.find("Exif"), std::string::npos);
}

TEST_F(VipsTest, ImageNoLargerThanTheThumbnailHasNone) {
  auto r = process(jpeg(gradient(64, 10).get()), "image/jpeg", 64);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->thumbnail.empty());
  EXPECT_TRUE(r->thumbnail_type.empty());
  EXPECT_FALSE(r->cleaned.empty());  // always re-encoded
}

TEST_F(VipsTest, TransparentPngKeepsItsAlphaInBothCopies) {
  // Opaque left half, transparent right half.
  Image rgba = make(300, 200, 4, [](int x, int y, int b) {
    return b == 3 ? (x < 150 ? 255 : 0) : (x + y + b) & 0xFF;
  });
  vips_image_set_string(rgba.get(), "png-comment-0-Comment", "made at SecretPlace");
  const std::string bytes = png(rgba.get());
  ASSERT_NE(bytes.find("zTXtComment"), std::string::npos);  // libvips compresses comments

  auto r = process(bytes, "image/png", 150);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->cleaned_type, "image/png");
  for (const char* chunk : {"zTXt", "tEXt", "iTXt", "eXIf"})
    EXPECT_EQ(r->cleaned.find(chunk), std::string::npos) << chunk;
  Image cleaned = load(r->cleaned);
  ASSERT_TRUE(cleaned);
  EXPECT_TRUE(vips_image_hasalpha(cleaned.get()));
  EXPECT_FALSE(has_field(cleaned.get(), "png-comment"));

  EXPECT_EQ(r->thumbnail_type, "image/webp");
  Image thumb = load(r->thumbnail);
  ASSERT_TRUE(thumb);
  EXPECT_EQ(thumb->Xsize, 150);
  EXPECT_EQ(thumb->Ysize, 100);
  ASSERT_TRUE(vips_image_hasalpha(thumb.get()));
  VipsImage* alpha = nullptr;
  ASSERT_EQ(vips_extract_band(thumb.get(), &alpha, 3, nullptr), 0);
  Image a(alpha);
  EXPECT_GT(mean(crop(a.get(), 0, 0, 60, 100).get()), 250);
  EXPECT_LT(mean(crop(a.get(), 90, 0, 60, 100).get()), 5);
}

TEST_F(VipsTest, AnimatedGifKeepsItsFramesAndItsThumbnailIsTheFirst) {
  // Three 120x60 frames stacked: white, black, black.
  Image strip = make(120, 180, 3, [](int, int y, int) { return y < 60 ? 255 : 0; });
  vips_image_set_int(strip.get(), "page-height", 60);
  void* buf = nullptr;
  std::size_t len = 0;
  ASSERT_EQ(vips_gifsave_buffer(strip.get(), &buf, &len, nullptr), 0) << vips_error_buffer();
  const std::string gif = to_string(buf, len);

  auto r = process(gif, "image/gif", 30);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->width, 120);
  EXPECT_EQ(r->height, 60);
  EXPECT_EQ(r->cleaned_type, "image/gif");
  Image cleaned = load(r->cleaned, "n=-1");
  ASSERT_TRUE(cleaned);
  EXPECT_EQ(vips_image_get_n_pages(cleaned.get()), 3);
  Image thumb = load(r->thumbnail);
  ASSERT_TRUE(thumb);
  EXPECT_EQ(thumb->Xsize, 30);
  EXPECT_EQ(thumb->Ysize, 15);
  EXPECT_GT(mean(thumb.get()), 200);  // the white first frame
}

TEST_F(VipsTest, WebpStaysWebp) {
  void* buf = nullptr;
  std::size_t len = 0;
  ASSERT_EQ(vips_webpsave_buffer(gradient(200, 100).get(), &buf, &len, nullptr), 0);
  auto r = process(to_string(buf, len), "image/webp", 50);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->width, 200);
  EXPECT_EQ(r->height, 100);
  EXPECT_EQ(r->cleaned_type, "image/webp");
  Image thumb = load(r->thumbnail);
  ASSERT_TRUE(thumb);
  EXPECT_EQ(thumb->Xsize, 50);
}

TEST_F(VipsTest, AnimatedWebpKeepsItsFrames) {
  Image strip = gradient(64, 96);
  vips_image_set_int(strip.get(), "page-height", 32);
  void* buf = nullptr;
  std::size_t len = 0;
  ASSERT_EQ(vips_webpsave_buffer(strip.get(), &buf, &len, nullptr), 0) << vips_error_buffer();
  auto r = process(to_string(buf, len), "image/webp", 16);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->width, 64);
  EXPECT_EQ(r->height, 32);
  Image cleaned = load(r->cleaned, "n=-1");
  ASSERT_TRUE(cleaned);
  EXPECT_EQ(vips_image_get_n_pages(cleaned.get()), 3);
}

// Print shops and old scanners write CMYK JPEGs; browsers show them badly or not at all.
TEST_F(VipsTest, CmykJpegIsStoredAsSrgb) {
  Image cmyk = gradient(40, 30, 4);
  cmyk->Type = VIPS_INTERPRETATION_CMYK;
  const std::string bytes = jpeg(cmyk.get());
  Image check = load(bytes);
  ASSERT_TRUE(check);
  ASSERT_EQ(check->Bands, 4);
  auto r = process(bytes, "image/jpeg");
  ASSERT_TRUE(r) << r.error().message;
  Image cleaned = load(r->cleaned);
  ASSERT_TRUE(cleaned);
  EXPECT_EQ(cleaned->Bands, 3);
  EXPECT_EQ(cleaned->Type, VIPS_INTERPRETATION_sRGB);
}

// HEIC (iPhone photos) and AVIF, both read through libheif, are stored as JPEG.
TEST_F(VipsTest, HeicAndAvifAreStoredAsJpeg) {
  for (const auto& [compression, type] :
       std::vector<std::pair<VipsForeignHeifCompression, const char*>>{
           {VIPS_FOREIGN_HEIF_COMPRESSION_HEVC, "image/heic"},
           {VIPS_FOREIGN_HEIF_COMPRESSION_AV1, "image/avif"}}) {
    SCOPED_TRACE(type);
    Image image = gradient(96, 64);
    vips_image_set_string(image.get(), "exif-ifd0-Artist", "Jane Secretowner");
    void* buf = nullptr;
    std::size_t len = 0;
    if (vips_heifsave_buffer(image.get(), &buf, &len, "compression", compression, nullptr))
      GTEST_SKIP() << "this libvips cannot write " << type << ": " << vips_error_buffer();
    const std::string bytes = to_string(buf, len);
    ASSERT_NE(bytes.find("Secretowner"), std::string::npos);
    auto r = process(bytes, type, 32);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->width, 96);
    EXPECT_EQ(r->height, 64);
    EXPECT_EQ(r->cleaned_type, "image/jpeg");
    EXPECT_EQ(r->cleaned.find("Secretowner"), std::string::npos);
    Image cleaned = load(r->cleaned);
    ASSERT_TRUE(cleaned);
    EXPECT_EQ(cleaned->Xsize, 96);
    Image thumb = load(r->thumbnail);
    ASSERT_TRUE(thumb);
    EXPECT_EQ(thumb->Xsize, 32);
  }
}

// JPEG has no alpha: a transparent HEIC's hidden pixels must not show through.
TEST_F(VipsTest, TransparentHeicIsFlattenedOnWhite) {
  Image rgba = make(64, 32, 4, [](int x, int, int b) { return b == 3 ? (x < 32 ? 255 : 0) : 0; });
  void* buf = nullptr;
  std::size_t len = 0;
  if (vips_heifsave_buffer(rgba.get(), &buf, &len, "lossless", TRUE, nullptr))
    GTEST_SKIP() << "this libvips cannot write HEIC: " << vips_error_buffer();
  auto r = process(to_string(buf, len), "image/heic");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->cleaned_type, "image/jpeg");
  Image cleaned = load(r->cleaned);
  ASSERT_TRUE(cleaned);
  EXPECT_EQ(cleaned->Bands, 3);
  EXPECT_LT(mean(crop(cleaned.get(), 0, 0, 28, 32).get()), 30);    // opaque black
  EXPECT_GT(mean(crop(cleaned.get(), 36, 0, 28, 32).get()), 225);  // transparent: white
}

// The bytes decide, not the declared type: a JPEG sent as image/png is read and stored as JPEG.
TEST_F(VipsTest, DeclaredTypeDoesNotChooseTheDecoder) {
  auto r = process(jpeg(gradient(30, 20).get()), "image/png");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->cleaned_type, "image/jpeg");
  EXPECT_EQ(r->width, 30);
}

TEST_F(VipsTest, TruncatedImagesAreInvalid) {
  const std::string full_jpeg = jpeg(gradient(256, 256).get());
  const std::string full_png = png(gradient(256, 256).get());
  for (const auto& [bytes, type] : std::vector<std::pair<std::string, const char*>>{
           {full_jpeg.substr(0, full_jpeg.size() / 2), "image/jpeg"},
           {full_png.substr(0, full_png.size() / 2), "image/png"},
           {full_jpeg.substr(0, 200), "image/jpeg"}}) {
    auto r = process(bytes, type);
    ASSERT_FALSE(r) << type;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << r.error().message;
  }
}

TEST_F(VipsTest, NonImagesAreInvalid) {
  const std::string svg = "<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>";
  for (const auto& [bytes, type] :
       std::vector<std::pair<std::string, const char*>>{{"hello, world", "image/jpeg"},
                                                        {"", "image/png"},
                                                        {"%PDF-1.4\n%...", "image/png"},
                                                        {svg, "image/png"},
                                                        {"\xFF\xD8\xFF", "image/jpeg"},
                                                        {"\x89PNG\r\n\x1A\n", "image/png"},
                                                        {"GIF89a", "image/gif"},
                                                        {"RIFF\0\0\0\0WEBPVP8 ", "image/webp"},
                                                        {std::string("\0\0\0\x18"
                                                                     "ftypheic\0\0\0\0",
                                                                     16),
                                                         "image/heic"}}) {
    auto r = process(bytes, type);
    ASSERT_FALSE(r) << type;
    EXPECT_EQ(r.error().code, Errc::invalid_argument) << r.error().message;
  }
  auto r = process(jpeg(gradient(8, 8).get()), "application/pdf");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  r = process(jpeg(gradient(8, 8).get()), "image/jpeg", 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

std::uint32_t crc32(std::string_view bytes) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

std::string be32(std::uint32_t n) {
  return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
          static_cast<char>(n)};
}

std::string png_chunk(const std::string& type, const std::string& data) {
  return be32(static_cast<std::uint32_t>(data.size())) + type + data + be32(crc32(type + data));
}

// 50000x50000 RGB (7.5 GB decoded) in under a hundred bytes: a header that lies.
std::string png_bomb() {
  std::string ihdr = be32(50'000) + be32(50'000) + std::string("\x08\x02\x00\x00\x00", 5);
  return std::string("\x89PNG\r\n\x1A\n", 8) + png_chunk("IHDR", ihdr) +
         png_chunk("IDAT", std::string("\x78\x9C\x03\x00\x00\x00\x00\x01", 8)) +
         png_chunk("IEND", "");
}

// A real JPEG whose frame header is patched to claim 60000x60000.
std::string jpeg_bomb() {
  std::string bytes = jpeg(gradient(16, 16).get());
  const auto sof = bytes.find("\xFF\xC0");
  EXPECT_NE(sof, std::string::npos);
  // FFC0, length (2), precision (1), height (2), width (2).
  for (std::size_t at : {sof + 5, sof + 7}) {
    bytes[at] = static_cast<char>(60'000 >> 8);
    bytes[at + 1] = static_cast<char>(60'000 & 0xFF);
  }
  return bytes;
}

TEST_F(VipsTest, PixelBombsAreRefusedFromTheHeader) {
  for (const auto& [bytes, type] : std::vector<std::pair<std::string, const char*>>{
           {png_bomb(), "image/png"}, {jpeg_bomb(), "image/jpeg"}}) {
    const auto start = std::chrono::steady_clock::now();
    auto r = process(bytes, type);
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(r) << type;
    EXPECT_EQ(r.error().code, Errc::invalid_argument);
    EXPECT_NE(r.error().message.find("too large"), std::string::npos) << r.error().message;
    EXPECT_LT(took, std::chrono::milliseconds(500)) << type;
  }
}

TEST_F(VipsTest, PixelLimitCountsEveryFrame) {
  VipsOptions o;
  o.max_pixels = 120 * 60 * 2;  // two frames' worth
  auto small = VipsImageProcessor::create(o);
  ASSERT_TRUE(small);
  Image strip = gradient(120, 180);
  vips_image_set_int(strip.get(), "page-height", 60);
  void* buf = nullptr;
  std::size_t len = 0;
  ASSERT_EQ(vips_gifsave_buffer(strip.get(), &buf, &len, nullptr), 0);
  auto r = small->process(to_string(buf, len), "image/gif", 32);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
}

TEST_F(VipsTest, ImageSlowerThanTheDeadlineIsRefused) {
  VipsOptions o;
  o.timeout = std::chrono::milliseconds(1);
  auto hasty = VipsImageProcessor::create(o);
  ASSERT_TRUE(hasty);
  auto r = hasty->process(jpeg(gradient(2000, 2000).get()), "image/jpeg", 64);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_NE(r.error().message.find("too long"), std::string::npos) << r.error().message;
}

TEST_F(VipsTest, ManyThreadsAtOnce) {
  const std::string photo = phone_photo();
  const std::string plain = jpeg(gradient(300, 200).get());
  std::atomic<int> right{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 4; ++i) {
        auto r = processor_->process(t % 2 ? photo : plain, "image/jpeg", 50);
        if (r && r->width == (t % 2 ? 40 : 300)) ++right;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(right.load(), 16);
}

TEST(VipsCreate, RefusesNonsenseOptions) {
  VipsOptions o;
  o.max_pixels = 0;
  EXPECT_FALSE(VipsImageProcessor::create(o));
  o = {};
  o.jpeg_quality = 101;
  EXPECT_FALSE(VipsImageProcessor::create(o));
  o = {};
  o.timeout = std::chrono::milliseconds(0);
  EXPECT_FALSE(VipsImageProcessor::create(o));
}

}  // namespace
}  // namespace parley::vips
