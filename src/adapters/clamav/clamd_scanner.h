// ClamdScanner: the files Scanner port on ClamAV's clamd, over its Unix socket or TCP.
//
// Each scan opens its own connection and streams the object with clamd's INSTREAM command,
// reading it from the BlobStore a chunk at a time, so memory stays at one chunk per scan
// whatever the file's size. The object holds only its options: thread-safe, and scans from any
// number of worker threads run in parallel (clamd's MaxThreads bounds them on its side).
// Blocking: call from worker threads only.
//
// Errors:
// - unavailable: clamd cannot be reached, times out, closes early or answers ERROR, or the file
//   is over clamd's limits (StreamMaxLength: "INSTREAM size limit exceeded"; MaxFileSize or
//   MaxScanSize with AlertExceedsMax: "Heuristics.Limits.Exceeded"). The file was not scanned
//   in full, so it stays pending, never clean; clamd's limits must exceed the largest upload
//   (docs/decisions.md, 28).
// - whatever BlobStore::read returns; internal when the object is shorter than `size`.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "core/result.h"
#include "modules/files/scanner.h"

namespace parley::clamav {

struct ClamdOptions {
  // "/path/to/clamd.sock" (a Unix socket: anything starting with '/'), or "HOST:PORT" for TCP
  // with a numeric IPv4 address or a bracketed IPv6 one ("127.0.0.1:3310", "[::1]:3310").
  // Names are not resolved: a lookup would sit outside the timeouts.
  std::string address;
  // Bytes read from the BlobStore and sent per INSTREAM chunk. clamd refuses a chunk (and a
  // stream) over its StreamMaxLength, which is at least a few MiB in any sane configuration.
  std::size_t chunk_bytes = 1 << 20;
  std::chrono::milliseconds connect_timeout{2'000};
  // Longest wait for one send to drain or for clamd's answer once the whole stream is sent
  // (clamd scans after the last chunk; a 100 MiB archive may take a while).
  std::chrono::milliseconds io_timeout{120'000};
};

class ClamdScanner final : public files::Scanner {
 public:
  // Connects to nothing: a scanner may be built before clamd is up. invalid_argument for an
  // address of neither form, or a chunk size of 0 or over 64 MiB.
  static Result<ClamdScanner> create(ClamdOptions options);

  // Streams `size` bytes of key to clamd. infected with clamd's signature name (e.g.
  // "Win.Test.EICAR_HDB-1") when it reports one.
  Result<files::ScanVerdict> scan(files::BlobStore& blobs, const std::string& key,
                                  std::uint64_t size) override;

  // Readiness: clamd answers PING with PONG. unavailable otherwise.
  Result<void> ping();

 private:
  explicit ClamdScanner(ClamdOptions options) : options_(std::move(options)) {}
  ClamdOptions options_;
};

}  // namespace parley::clamav
