// LocalBlobStore: files::BlobStore on the local file system, the embedded default (objects live
// under DATA_DIR/files). Every write is atomic and durable before it returns: bytes go to a file
// in staging/, are fsynced, and are renamed into objects/ (and the directory fsynced), so a
// crash leaves either the whole object or none of it.
//
// Layout under root: objects/<key> (a key's slashes are directories), staging/<handle> for
// uploads in progress and temporary files. Thread-safe; blocking.
#pragma once

#include <memory>
#include <string>

#include "core/result.h"
#include "modules/files/blob_store.h"

namespace parley::local {

class LocalBlobStore final : public files::BlobStore {
 public:
  // Creates root and its folders when missing; unavailable when it cannot.
  static Result<std::unique_ptr<LocalBlobStore>> open(const std::string& root);

  Result<std::string> begin_upload(const std::string& key) override;
  Result<void> put_part(const std::string& key, const std::string& handle, int number,
                        std::string_view bytes) override;
  Result<void> complete_upload(const std::string& key, const std::string& handle,
                               int parts) override;
  Result<void> abort_upload(const std::string& key, const std::string& handle) override;
  Result<void> put(const std::string& key, std::string_view bytes,
                   std::string_view content_type) override;
  Result<std::string> read(const std::string& key, std::uint64_t offset,
                           std::size_t length) override;
  Result<std::uint64_t> size(const std::string& key) override;
  Result<void> remove(const std::string& key) override;
  const char* kind() const override { return "local"; }

 private:
  explicit LocalBlobStore(std::string root) : root_(std::move(root)) {}
  std::string object_path(const std::string& key) const;
  std::string staging_path(const std::string& handle) const;
  // Moves a finished staging file to key's place, durably.
  Result<void> publish(const std::string& staged, const std::string& key);
  std::string root_;
};

}  // namespace parley::local
