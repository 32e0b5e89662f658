// FileStore: the port through which the files module keeps its metadata (uploads in progress,
// file objects, where files were posted, the link-signing key) in the main database. The bytes
// themselves live behind BlobStore. Implemented by adapters (SQLite, PostgreSQL); every
// implementation passes store_contract.h. Blocking; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace parley::files {

enum class FileStatus { ready, pending_scan, quarantined };

// How every adapter stores a status: fixed codes (0 ready, 1 pending_scan, 2 quarantined), so
// the enum's order may change and the rows may not. An unknown code reads as pending_scan:
// never served.
int status_code(FileStatus s);
FileStatus status_of(std::int64_t code);

struct FileRecord {
  std::string id;
  std::string owner_id;
  std::string name;
  std::int64_t size = 0;
  std::string content_type;
  std::string sha256;         // of the stored bytes (what a download returns)
  std::string upload_sha256;  // of the bytes uploaded: identical uploads share one blob
  std::string blob_key;
  std::string thumbnail_key;  // "" when there is no thumbnail
  int width = 0;
  int height = 0;
  FileStatus status = FileStatus::ready;
  Millis created_at = 0;
};

struct UploadRecord {
  std::string id;
  std::string owner_id;
  std::string name;
  std::string claimed_type;  // the client's filetype; the stored type is detected from bytes
  std::int64_t length = 0;   // Upload-Length
  std::int64_t offset = 0;   // bytes received and durable
  int parts = 0;             // full parts in the blob store's staging area
  std::string blob_key;
  std::string blob_handle;
  std::string hash_state;  // the running SHA-256 over bytes [0, offset), hex
  Millis created_at = 0;
  Millis expires_at = 0;
  std::optional<std::string> file_id;  // set once finished
};

class FileStore {
 public:
  virtual ~FileStore() = default;

  virtual Result<void> create_upload(const UploadRecord& u) = 0;
  virtual Result<UploadRecord> get_upload(const std::string& id) = 0;
  // Moves an unfinished upload on from from_offset; failed_precondition when its offset is no
  // longer from_offset (another request moved it first) or it finished.
  virtual Result<void> advance_upload(const std::string& id, std::int64_t from_offset,
                                      const UploadRecord& now) = 0;
  // In one transaction: inserts the file and marks the upload finished with it.
  virtual Result<void> finish_upload(const std::string& upload_id, const FileRecord& f) = 0;
  virtual Result<void> remove_upload(const std::string& id) = 0;
  // Uploads (finished or not) whose expires_at is before now, oldest first.
  virtual Result<std::vector<UploadRecord>> expired_uploads(Millis now, int limit) = 0;
  // What owner holds: the sizes of their files plus the lengths of their unfinished uploads.
  virtual Result<std::int64_t> used_bytes(const std::string& owner_id) = 0;

  virtual Result<FileRecord> get_file(const std::string& id) = 0;
  // A ready file whose upload had these bytes; nullopt when there is none.
  virtual Result<std::optional<FileRecord>> find_by_upload_sha256(const std::string& hash) = 0;
  virtual Result<void> set_status(const std::string& file_id, FileStatus status) = 0;
  virtual Result<std::vector<FileRecord>> with_status(FileStatus status, int limit) = 0;

  // Records that files were posted in a conversation (idempotent), which lets its members read
  // them.
  virtual Result<void> add_posts(const std::string& conversation_id,
                                 const std::vector<std::string>& file_ids) = 0;
  // The conversations a file was posted in (at most limit).
  virtual Result<std::vector<std::string>> posted_in(const std::string& file_id, int limit) = 0;

  // The key that signs download links, shared by every node: the stored one, or candidate when
  // none is stored yet (then stored).
  virtual Result<std::string> link_key(const std::string& candidate) = 0;
};

}  // namespace parley::files
