// S3BlobStore: the BlobStore port over the S3 REST API, for clusters whose nodes share one bucket
// (AWS S3, MinIO, Ceph RGW, Garage, ...). Requests are signed with AWS Signature Version 4
// (payload hashes included) and sent with libcurl to endpoint/bucket/key (path-style
// addressing), one request per call, each with a connect and a total deadline. Staged uploads
// are S3 multipart uploads: the handle is the UploadId, so an upload survives a restart of the
// node that began it; complete_upload takes the parts' ETags from ListParts.
//
// Thread-safe and blocking: call from worker threads. Idle curl handles are pooled, so calls
// reuse connections. Errors, beyond the port's: unavailable (the endpoint is unreachable, times
// out, or answers 5xx), permission_denied (S3 refused the key pair or the signature; the message
// names the access key id and S3's error code, never the secret), failed_precondition (the
// bucket does not exist). Bytes that the store answered with when it ignored a Range are cut to
// what was asked for.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"
#include "modules/files/blob_store.h"

namespace parley::s3 {

struct S3Config {
  std::string endpoint;  // scheme://host[:port], e.g. "http://127.0.0.1:9000"
  std::string region = "us-east-1";
  std::string bucket;
  std::string access_key;
  std::string secret_key;
  std::chrono::milliseconds connect_timeout{5'000};
  // For a whole request, a part of kUploadPartBytes included.
  std::chrono::milliseconds request_timeout{120'000};
};

// Reads "s3://BUCKET?endpoint=URL&region=REGION[&connect_timeout_ms=N][&timeout_ms=N]" (values
// may be percent-encoded; region defaults to us-east-1). The keys come from elsewhere (the app
// reads PARLEY_S3_ACCESS_KEY and PARLEY_S3_SECRET_KEY). invalid_argument, naming what is wrong,
// for anything else.
Result<S3Config> parse_s3_url(std::string_view url, std::string access_key, std::string secret_key);

class S3BlobStore final : public files::BlobStore {
 public:
  explicit S3BlobStore(S3Config config);
  ~S3BlobStore() override;
  S3BlobStore(const S3BlobStore&) = delete;
  S3BlobStore& operator=(const S3BlobStore&) = delete;

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

  const char* kind() const override { return "s3"; }

 private:
  class Client;  // signing, the curl handle pool, requests: in s3_blob_store.cc
  std::unique_ptr<Client> client_;
};

// parse_s3_url, then an S3BlobStore. Sends nothing: a wrong endpoint or key shows on first use.
Result<std::unique_ptr<S3BlobStore>> make_s3_blob_store(std::string_view url,
                                                        std::string access_key,
                                                        std::string secret_key);

}  // namespace parley::s3
