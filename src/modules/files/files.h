// Files module: resumable uploads (the tus protocol's state, not its wire), file objects,
// who may read them, and attaching them to messages.
//
// FileService checks every call against the caller: an upload or file the caller may not see
// is not_found, exactly as an unknown id. A file is readable by its uploader and by members of
// a conversation it was posted in. Bytes are streamed: an upload is buffered one part
// (kUploadPartBytes) at a time, never whole. Finishing an upload detects the content type from
// the bytes, strips image metadata and makes a thumbnail (ImageProcessor), scans it (Scanner)
// and stores identical content once. Blocking; thread-safe; call from worker threads.
//
// Errors: invalid_argument (field named), not_found, too_large (over max_file_bytes; the
// message says so), resource_exhausted with field "quota" (over the user's quota),
// failed_precondition (offset mismatch, upload busy or finished, file not yet scanned),
// permission_denied (a quarantined file), unavailable (storage down).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "modules/files/blob_store.h"
#include "modules/files/image_processor.h"
#include "modules/files/scanner.h"
#include "modules/files/store.h"
#include "modules/messaging/messaging.h"

namespace parley::files {

struct FilesOptions {
  std::uint64_t max_file_bytes = 100ull * 1024 * 1024;
  std::uint64_t user_quota_bytes = 10ull * 1024 * 1024 * 1024;
  // An upload not finished this long after its last byte arrived is removed.
  Millis upload_ttl_ms = 24 * 3600 * 1000;
  int thumbnail_px = 480;
  // Larger images are stored as they came, without a thumbnail.
  std::uint64_t max_image_bytes = 50ull * 1024 * 1024;
  Millis link_ttl_ms = 10 * 60 * 1000;
  // How often the background sweep removes expired uploads and retries pending scans; 0: never
  // (tests call sweep()).
  Millis sweep_interval_ms = 60'000;
};

struct NewUpload {
  std::uint64_t length = 0;
  std::string name;
  std::string claimed_type;
};

struct UploadState {
  std::string id;
  std::uint64_t length = 0;
  std::uint64_t offset = 0;
  Millis expires_at = 0;
  std::optional<messaging::Attachment> file;  // once finished
};

// Takes one request's bytes of an upload, in order. Not thread-safe: one request's.
class UploadWriter {
 public:
  virtual ~UploadWriter() = default;
  // too_large when the bytes go past the upload's length.
  virtual Result<void> write(std::string_view bytes) = 0;
  // Makes what was written durable (all of it, even when the request broke off) and, when the
  // last byte is in, finishes the file. Returns the state after this request.
  virtual Result<UploadState> finish() = 0;
};

// Where a readable file's bytes are, for a download.
struct Content {
  messaging::Attachment file;
  std::string blob_key;
  std::uint64_t size = 0;
  std::string content_type;
};

struct SignedLink {
  std::string url;
  std::string thumbnail_url;  // "" without a thumbnail
  Millis expires_at = 0;
};

class FileService {
 public:
  // images and scanner may be null (no image processing, no scanning).
  FileService(FileStore& store, BlobStore& blobs, messaging::MessagingService& messaging,
              const Clock& clock, FilesOptions options, ImageProcessor* images = nullptr,
              Scanner* scanner = nullptr);
  ~FileService();

  Result<UploadState> create_upload(const std::string& caller, const NewUpload& in);
  Result<UploadState> upload(const std::string& caller, const std::string& upload_id);
  // The writer for a request that starts at offset (failed_precondition when the upload is
  // elsewhere, finished, or has a request in progress already).
  Result<std::unique_ptr<UploadWriter>> write_upload(const std::string& caller,
                                                     const std::string& upload_id,
                                                     std::uint64_t offset);
  Result<void> terminate(const std::string& caller, const std::string& upload_id);

  Result<messaging::Attachment> file(const std::string& caller, const std::string& file_id);
  Result<Content> content(const std::string& caller, const std::string& file_id, bool thumbnail);
  // For a signed link: no caller, the signature stands for the permission.
  Result<Content> content_by_link(const std::string& file_id, bool thumbnail,
                                  std::int64_t expires_s, const std::string& signature);
  // For a file its owner has made public (today: a user's avatar): no caller and no access
  // check. The caller must have established that the file is public first (the API layer asks
  // the users module whether file_id is someone's avatar); every other read goes through
  // content(). not_found for an unknown file or a missing thumbnail; as content() for a file
  // not ready.
  Result<Content> public_content(const std::string& file_id, bool thumbnail);
  Result<std::string> read(const std::string& blob_key, std::uint64_t offset, std::size_t length);
  Result<SignedLink> link(const std::string& caller, const std::string& file_id);

  // The files a message of the caller's in conversation_id may carry: each the caller's own
  // upload or already visible to them, ready (scanned clean). Records the posting, so the
  // conversation's members can read them.
  Result<std::vector<messaging::Attachment>> attach(const std::string& caller,
                                                    const std::string& conversation_id,
                                                    const std::vector<std::string>& file_ids);

  // Stores bytes the server fetched itself (a link preview's image) as a file of owner's,
  // posted in conversation_id: readable, like an attachment, by its members alone. Processed
  // like an upload (type from the bytes, metadata stripped, thumbnail, scan); not counted in
  // owner's quota. too_large past max_file_bytes.
  Result<messaging::Attachment> import(const std::string& owner,
                                       const std::string& conversation_id, const std::string& name,
                                       std::string_view bytes);

  // Removes expired uploads and rescans files whose scan could not run; the background thread
  // calls it every sweep_interval_ms. Returns how many uploads it removed.
  int sweep();
  // Ends the background thread; later calls still work.
  void stop();

  const FilesOptions& options() const;

 private:
  friend class UploadRequestWriter;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The type from the bytes (libmagic), never from the client; "application/octet-stream" when
// nothing is recognised.
std::string detect_content_type(std::string_view head, std::string_view name);
// Types a browser may show inline from a file response: raster images, audio, video. Anything
// else (HTML, SVG, PDF, ...) is sent as an attachment.
bool is_inline_safe(std::string_view content_type);

}  // namespace parley::files
