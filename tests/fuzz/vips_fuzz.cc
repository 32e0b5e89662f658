// Uploaded images: whatever the bytes, VipsImageProcessor::process() answers with an image or
// with invalid_argument, never a crash, a hang or another code; and what it answers holds
// together (a size, a cleaned copy, a thumbnail only for an image larger than the box). The
// seeds (corpus/vips) are tiny images of every format read, one with EXIF orientation and GPS.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "adapters/vips/vips_image_processor.h"

namespace {

parley::vips::VipsImageProcessor& processor() {
  static parley::vips::VipsImageProcessor p = [] {
    // Small limits keep each input fast: a mutated header claiming a huge image is refused
    // from the header, which is the path under test.
    parley::vips::VipsOptions o;
    o.max_pixels = 1'000'000;
    o.timeout = std::chrono::milliseconds(2'000);
    auto created = parley::vips::VipsImageProcessor::create(o);
    if (!created) std::abort();
    return std::move(*created);
  }();
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr int kThumbnailPx = 8;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // The bytes choose the decoder, so one declared type reaches every one of them.
  auto r = processor().process(bytes, "image/jpeg", kThumbnailPx);
  if (!r) {
    if (r.error().code != parley::Errc::invalid_argument) std::abort();
    return 0;
  }
  if (r->width <= 0 || r->height <= 0 || r->cleaned.empty() || r->cleaned_type.empty())
    std::abort();
  const bool larger = r->width > kThumbnailPx || r->height > kThumbnailPx;
  if (larger == r->thumbnail.empty()) std::abort();
  return 0;
}
