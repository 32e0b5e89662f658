// VipsImageProcessor: the files ImageProcessor port on libvips 8.14.
//
// Reads JPEG, PNG, WebP, GIF and HEIC/HEIF/AVIF, chosen by the bytes' signature (never by the
// declared type alone, and never through libvips' catch-all loaders such as ImageMagick). Every
// image is decoded in full and re-encoded, so `cleaned` is never empty: only re-encoding proves
// that nothing rides along (EXIF with GPS, XMP, IPTC, comments, unknown chunks and segments,
// bytes after the end of the image). EXIF orientation is applied, colour is converted to sRGB
// and every metadata field, the ICC profile included, is left out. JPEG stays JPEG (quality 85),
// PNG stays PNG, WebP stays WebP, GIF stays GIF (all frames of an animation); HEIC/HEIF/AVIF are
// stored as JPEG, which every browser shows. Thumbnails are JPEG, or WebP when the image has an
// alpha channel; an animation's thumbnail is its first frame.
//
// Untrusted input: the header is read first and an image over max_pixels (all frames together)
// is refused before any pixel is decoded; truncated or corrupt images are errors, not half
// images; each call has a deadline. libvips' operation cache is off (it would keep decoded images
// alive).
//
// Thread-safe: any number of worker threads may call process() at once; each call works on
// its own images. libvips' own threads per image are capped at one (process-wide, set at the
// first construction), so a worker pool's size bounds the CPU used. Blocking and CPU-heavy:
// call from worker threads only. Memory: an image that EXIF rotates by 90 degrees is held
// decoded (about 3 to 8 bytes a pixel) while it is re-encoded; others stream in strips.
//
// Errors: invalid_argument when the type or bytes are not an image read here, the image is
// truncated or corrupt, over max_pixels, or slower to process than VipsOptions::timeout. Pixels are
// decoded while the copy is encoded, so libvips cannot tell a bad upload from its own failure
// there: both are invalid_argument. internal only when libvips cannot start.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"
#include "modules/files/image_processor.h"

namespace parley::vips {

struct VipsOptions {
  // Width x height x frames above this is refused before decoding. 100 Mpx covers any phone
  // camera; a decoded RGBA image that size is 400 MB.
  std::uint64_t max_pixels = 100'000'000;
  int jpeg_quality = 85;       // cleaned JPEGs (and HEIC stored as JPEG)
  int thumbnail_quality = 80;  // JPEG and WebP thumbnails
  // The longest one process() call may spend decoding and encoding; past it the image is
  // refused (invalid_argument). A 100 Mpx JPEG takes a few seconds on one core.
  std::chrono::milliseconds timeout{30'000};
};

class VipsImageProcessor final : public files::ImageProcessor {
 public:
  // Starts libvips on first use in the process (thread-safe, once); internal when it cannot.
  static Result<VipsImageProcessor> create(VipsOptions options = {});

  // image/jpeg, image/png, image/webp, image/gif, image/heic, image/heif, image/avif.
  bool reads(std::string_view content_type) const override;

  // invalid_argument when thumbnail_px < 1, or see above.
  Result<files::ProcessedImage> process(std::string_view bytes, std::string_view content_type,
                                        int thumbnail_px) override;

 private:
  explicit VipsImageProcessor(VipsOptions options) : options_(options) {}
  VipsOptions options_;
};

}  // namespace parley::vips
