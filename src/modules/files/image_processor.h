// ImageProcessor: the port that reads uploaded images (libvips in adapters/vips). It gives their
// size as displayed, a copy without metadata (EXIF GPS, camera serials, comments) and a
// thumbnail, so the timeline knows an image's box before it loads and no location leaks.
//
// Blocking and CPU-heavy: call from worker threads only. Thread-safe. Errors: invalid_argument
// when the bytes are not an image the processor reads (or exceed its pixel limit); internal.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace parley::files {

struct ProcessedImage {
  int width = 0;  // as displayed: after the EXIF orientation is applied
  int height = 0;
  // The image to store instead of the upload: metadata stripped, orientation applied. Empty
  // when the upload carries no metadata to strip and may be stored as it came.
  std::string cleaned;
  std::string cleaned_type;  // its content type (it may differ: HEIC is stored as JPEG)
  // At most thumbnail_px on the longer side; empty when the image is already that small.
  std::string thumbnail;
  std::string thumbnail_type;
};

class ImageProcessor {
 public:
  virtual ~ImageProcessor() = default;
  // Whether process() reads this content type (image/jpeg, image/png, ...).
  virtual bool reads(std::string_view content_type) const = 0;
  virtual Result<ProcessedImage> process(std::string_view bytes, std::string_view content_type,
                                         int thumbnail_px) = 0;
};

}  // namespace parley::files
