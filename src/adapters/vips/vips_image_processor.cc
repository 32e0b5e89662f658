#include "adapters/vips/vips_image_processor.h"

#include <vips/vips.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <memory>
#include <optional>

namespace parley::vips {
namespace {

struct Unref {
  void operator()(VipsImage* image) const { g_object_unref(image); }
};
using Image = std::unique_ptr<VipsImage, Unref>;

enum class Format { jpeg, png, webp, gif, heif };

// By signature, so a file renamed .png is still read as what it is, and anything else (SVG,
// PDF, TIFF, ...) never reaches a libvips loader.
std::optional<Format> sniff(std::string_view b) {
  if (b.size() >= 3 && b.substr(0, 3) == "\xFF\xD8\xFF") return Format::jpeg;
  if (b.size() >= 8 && b.substr(0, 8) == "\x89PNG\r\n\x1A\n") return Format::png;
  if (b.size() >= 6 && (b.substr(0, 6) == "GIF87a" || b.substr(0, 6) == "GIF89a"))
    return Format::gif;
  if (b.size() >= 12 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") return Format::webp;
  if (b.size() >= 12 && b.substr(4, 4) == "ftyp") {
    static constexpr std::array<std::string_view, 10> kBrands = {
        "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1", "avif", "avis"};
    if (std::find(kBrands.begin(), kBrands.end(), b.substr(8, 4)) != kBrands.end())
      return Format::heif;
  }
  return std::nullopt;
}

// libvips keeps one error buffer for the process; under concurrent failures a message may land
// in another call's error. That costs a confusing log line, never a wrong result.
std::string vips_error_text() {
  char* c = vips_error_buffer_copy();
  std::string s = c ? c : "";
  g_free(c);
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s.empty() ? "unknown libvips error" : s;
}

tl::unexpected<Error> unreadable(std::string_view what) {
  return fail(Errc::invalid_argument, "not a readable image: " + std::string(what), "file");
}

// Loads lazily: libvips reads the header here and decodes pixels only when something pulls
// them. FAIL_ON_ERROR turns truncation and corrupt data into errors (warnings, such as stray
// bytes before a JPEG marker, which many cameras write, still pass). Sequential access streams
// the image in strips; random access holds it decoded, for rotations. all_frames: every frame of
// an animation, stacked vertically (page-height says where one ends).
Image load(Format f, std::string_view bytes, VipsAccess access, bool all_frames) {
  void* buf = const_cast<char*>(bytes.data());  // libvips only reads it
  const std::size_t len = bytes.size();
  const int n = all_frames ? -1 : 1;
  VipsImage* out = nullptr;
  int r = -1;
  switch (f) {
    case Format::jpeg:
      r = vips_jpegload_buffer(buf, len, &out, "access", access, "fail_on", VIPS_FAIL_ON_ERROR,
                               nullptr);
      break;
    case Format::png:
      r = vips_pngload_buffer(buf, len, &out, "access", access, "fail_on", VIPS_FAIL_ON_ERROR,
                              nullptr);
      break;
    case Format::webp:
      r = vips_webpload_buffer(buf, len, &out, "access", access, "fail_on", VIPS_FAIL_ON_ERROR, "n",
                               n, nullptr);
      break;
    case Format::gif:
      r = vips_gifload_buffer(buf, len, &out, "access", access, "fail_on", VIPS_FAIL_ON_ERROR, "n",
                              n, nullptr);
      break;
    case Format::heif:
      r = vips_heifload_buffer(buf, len, &out, "access", access, "fail_on", VIPS_FAIL_ON_ERROR,
                               nullptr);
      break;
  }
  if (r != 0) {
    if (out) g_object_unref(out);
    return nullptr;
  }
  return Image(out);
}

// sRGB for everything that carries a profile or is CMYK, so the profile can be dropped with
// the rest of the metadata and colours still look right (wide-gamut images are clipped to sRGB).
Result<Image> to_srgb(Image in) {
  VipsImage* out = nullptr;
  if (vips_image_get_typeof(in.get(), VIPS_META_ICC_NAME)) {
    if (vips_icc_transform(in.get(), &out, "srgb", "embedded", TRUE, nullptr))
      return unreadable("colour profile: " + vips_error_text());
    return Image(out);
  }
  if (in->Type == VIPS_INTERPRETATION_CMYK) {
    if (vips_colourspace(in.get(), &out, VIPS_INTERPRETATION_sRGB, nullptr))
      return unreadable("CMYK: " + vips_error_text());
    return Image(out);
  }
  return in;
}

struct Encoded {
  std::string bytes;
  std::string type;
};

// The time one process() call may take. libvips reports progress on an image (and on every
// image computed from it) while a save pulls its pixels; past the deadline the image is killed
// and the save fails, so a pathological image (a progressive JPEG with thousands of scans) ties
// up a worker for a bounded time.
struct Deadline {
  std::chrono::steady_clock::time_point at;
  std::atomic<bool> expired{false};
};

void on_eval(VipsImage* image, VipsProgress*, void* user) {
  auto* d = static_cast<Deadline*>(user);
  if (std::chrono::steady_clock::now() >= d->at) {
    d->expired = true;
    vips_image_set_kill(image, TRUE);
  }
}

// A save is where pixels are decoded, so a failure here is usually the upload's fault
// (truncated, corrupt, over a libheif limit): invalid_argument.
Result<Encoded> save(VipsImage* image, Format f, int quality, Deadline& deadline) {
  vips_image_set_progress(image, TRUE);
  g_signal_connect(image, "eval", G_CALLBACK(on_eval), &deadline);
  void* buf = nullptr;
  std::size_t len = 0;
  int r = -1;
  const char* type = "";
  switch (f) {
    case Format::jpeg:
    case Format::heif: {
      // JPEG has no alpha: flatten on white rather than let the hidden pixels show.
      Image flat;
      if (vips_image_hasalpha(image)) {
        VipsImage* out = nullptr;
        VipsArrayDouble* white = vips_array_double_newv(1, 255.0);
        const int fr = vips_flatten(image, &out, "background", white, nullptr);
        vips_area_unref(VIPS_AREA(white));
        if (fr) return unreadable(vips_error_text());
        flat.reset(out);
        image = flat.get();
      }
      r = vips_jpegsave_buffer(image, &buf, &len, "Q", quality, "strip", TRUE, "optimize_coding",
                               TRUE, nullptr);
      type = "image/jpeg";
      break;
    }
    case Format::png:
      r = vips_pngsave_buffer(image, &buf, &len, "strip", TRUE, "compression", 6, nullptr);
      type = "image/png";
      break;
    case Format::webp:
      r = vips_webpsave_buffer(image, &buf, &len, "Q", quality, "strip", TRUE, nullptr);
      type = "image/webp";
      break;
    case Format::gif:
      r = vips_gifsave_buffer(image, &buf, &len, "strip", TRUE, nullptr);
      type = "image/gif";
      break;
  }
  if (r != 0 && deadline.expired)
    return fail(Errc::invalid_argument, "image took too long to process", "file");
  if (r != 0) return unreadable(vips_error_text());
  Encoded e{std::string(static_cast<const char*>(buf), len), type};
  g_free(buf);
  return e;
}

// libvips' own warnings are about uploads (a stray byte in a JPEG), not about the server.
void drop_log(const gchar*, GLogLevelFlags, const gchar*, gpointer) {}

Result<void> start_libvips() {
  // A function-local static: started once, and other threads wait until it is.
  static const std::string failure = []() -> std::string {
    if (VIPS_INIT("parley")) return vips_error_text();
    // One libvips thread per image: the callers' worker pool sets the parallelism.
    vips_concurrency_set(1);
    // The operation cache would keep recent images (and their decoded pixels) alive.
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    // Defence in depth: loaders libvips marks untrusted (ImageMagick, PDF, FITS, MAT, ...) are
    // never called by this adapter, and now cannot be.
    vips_block_untrusted_set(TRUE);
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING, drop_log, nullptr);
    return {};
  }();
  if (!failure.empty()) return fail(Errc::internal, "libvips failed to start: " + failure);
  return ok();
}

std::string_view media_type(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && content_type.back() == ' ') content_type.remove_suffix(1);
  return content_type;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

Result<VipsImageProcessor> VipsImageProcessor::create(VipsOptions options) {
  if (options.max_pixels == 0)
    return fail(Errc::invalid_argument, "max_pixels must be positive", "max_pixels");
  if (options.jpeg_quality < 1 || options.jpeg_quality > 100 || options.thumbnail_quality < 1 ||
      options.thumbnail_quality > 100)
    return fail(Errc::invalid_argument, "qualities are 1 to 100", "jpeg_quality");
  if (options.timeout.count() <= 0)
    return fail(Errc::invalid_argument, "timeout must be positive", "timeout");
  if (auto r = start_libvips(); !r) return fail(r.error());
  return VipsImageProcessor(options);
}

bool VipsImageProcessor::reads(std::string_view content_type) const {
  static constexpr std::array<std::string_view, 7> kTypes = {
      "image/jpeg", "image/png",  "image/webp", "image/gif",
      "image/heic", "image/heif", "image/avif"};
  const auto t = media_type(content_type);
  return std::any_of(kTypes.begin(), kTypes.end(), [&](auto k) { return iequals(t, k); });
}

Result<files::ProcessedImage> VipsImageProcessor::process(std::string_view bytes,
                                                          std::string_view content_type,
                                                          int thumbnail_px) {
  if (thumbnail_px < 1)
    return fail(Errc::invalid_argument, "thumbnail size must be positive", "thumbnail_px");
  if (!reads(content_type))
    return fail(Errc::invalid_argument, "not an image type read here", "content_type");
  const auto format = sniff(bytes);
  if (!format) return unreadable("unknown signature");
  const bool animated_kind = *format == Format::gif || *format == Format::webp;

  // The header only: the size check comes before a single pixel is decoded.
  Image image = load(*format, bytes, VIPS_ACCESS_SEQUENTIAL, animated_kind);
  if (!image) return unreadable(vips_error_text());
  const std::uint64_t pixels =
      static_cast<std::uint64_t>(image->Xsize) * static_cast<std::uint64_t>(image->Ysize);
  if (pixels > options_.max_pixels)
    return fail(Errc::invalid_argument,
                "image too large: " + std::to_string(image->Xsize) + "x" +
                    std::to_string(image->Ysize) + " pixels in all",
                "file");
  const int frames = std::max(1, vips_image_get_n_pages(image.get()));
  const int frame_height = frames > 1 ? vips_image_get_page_height(image.get()) : image->Ysize;

  files::ProcessedImage result;
  Deadline deadline{std::chrono::steady_clock::now() + options_.timeout};
  // Orientation means reading rows out of order: decode into memory first (random access).
  if (frames == 1 && vips_image_get_orientation(image.get()) != 1) {
    image = load(*format, bytes, VIPS_ACCESS_RANDOM, false);
    if (!image) return unreadable(vips_error_text());
    VipsImage* rotated = nullptr;
    if (vips_autorot(image.get(), &rotated, nullptr)) return unreadable(vips_error_text());
    image.reset(rotated);
  }
  result.width = image->Xsize;
  result.height = frames > 1 ? frame_height : image->Ysize;

  auto srgb = to_srgb(std::move(image));
  if (!srgb) return fail(srgb.error());
  auto cleaned = save(srgb->get(), *format, options_.jpeg_quality, deadline);
  if (!cleaned) return fail(cleaned.error());
  result.cleaned = std::move(cleaned->bytes);
  result.cleaned_type = std::move(cleaned->type);

  if (std::max(result.width, result.height) <= thumbnail_px) return result;
  // From the cleaned copy, our own output: it shows exactly what is stored (a HEIC's embedded
  // thumbnail, which libvips would otherwise use, may show an earlier, uncropped picture) and is
  // already turned, sRGB and a single frame first. libvips shrinks a JPEG while decoding it.
  VipsImage* thumb = nullptr;
  if (vips_thumbnail_buffer(result.cleaned.data(), result.cleaned.size(), &thumb, thumbnail_px,
                            "height", thumbnail_px, "size", VIPS_SIZE_DOWN, nullptr))
    return unreadable(vips_error_text());
  Image thumbnail(thumb);
  auto encoded =
      save(thumbnail.get(), vips_image_hasalpha(thumbnail.get()) ? Format::webp : Format::jpeg,
           options_.thumbnail_quality, deadline);
  if (!encoded) return fail(encoded.error());
  result.thumbnail = std::move(encoded->bytes);
  result.thumbnail_type = std::move(encoded->type);
  return result;
}

}  // namespace parley::vips
