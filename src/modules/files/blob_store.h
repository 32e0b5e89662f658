// BlobStore: the port where file bytes live (local disk by default, S3-compatible storage for
// clusters). Implemented by adapters; every implementation passes blob_store_contract.h.
//
// Keys are chosen by the files service: ASCII [a-z0-9/._-], at most 200 bytes, never starting
// with '/' or containing "..". A written object never changes; an upload grows part by part in
// a staging area and becomes a readable object only when completed, so a reader never sees half
// a file.
//
// Blocking (disk or network I/O) and thread-safe: call from worker threads, never from an I/O
// thread. Errors: not_found (no such key or upload), unavailable (the backend is unreachable or
// failing: retry later), invalid_argument (a part out of order or of the wrong size), internal.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace parley::files {

// Every part of a staged upload but the last has exactly this many bytes (S3 wants at least
// 5 MiB). The files service buffers this much per upload in progress, no more.
inline constexpr std::size_t kUploadPartBytes = 8 * 1024 * 1024;

// Whether key has the shape above. Adapters refuse other keys (invalid_argument): on local disk
// a key is a path, and ".." or a leading '/' must never reach the file system.
bool is_valid_key(std::string_view key);

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // Staged uploads. begin_upload returns an opaque handle (S3's UploadId) for the other calls.
  // Parts are numbered from 1 and put in order; a part put again with the same number replaces
  // it. complete_upload makes key readable with the parts' bytes in order and frees the staging
  // area; abort_upload frees it without making anything readable (idempotent).
  virtual Result<std::string> begin_upload(const std::string& key) = 0;
  virtual Result<void> put_part(const std::string& key, const std::string& handle, int number,
                                std::string_view bytes) = 0;
  virtual Result<void> complete_upload(const std::string& key, const std::string& handle,
                                       int parts) = 0;
  virtual Result<void> abort_upload(const std::string& key, const std::string& handle) = 0;

  // A whole object in one call (thumbnails, cleaned images, an upload's unfinished tail):
  // atomic (all or nothing under key) and durable when it returns. Replaces an existing key.
  virtual Result<void> put(const std::string& key, std::string_view bytes,
                           std::string_view content_type) = 0;
  // Up to length bytes from offset (fewer at the end, none past it); not_found when absent.
  virtual Result<std::string> read(const std::string& key, std::uint64_t offset,
                                   std::size_t length) = 0;
  virtual Result<std::uint64_t> size(const std::string& key) = 0;
  // Idempotent: removing an absent key succeeds.
  virtual Result<void> remove(const std::string& key) = 0;

  // "local" or "s3": for logs, metrics and the readiness check.
  virtual const char* kind() const = 0;
};

}  // namespace parley::files
