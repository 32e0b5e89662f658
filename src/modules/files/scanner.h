// Scanner: the malware-scanning port (ClamAV's clamd in adapters/clamav), off by default. The
// files service scans every finished upload before it can be attached or downloaded; a flagged
// file is quarantined and never served.
//
// Blocking (it streams the object to the scanner): call from worker threads. Thread-safe.
// Errors: unavailable (scanner unreachable or timing out: the file stays pending, not clean),
// and whatever the BlobStore returns while reading.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.h"
#include "modules/files/blob_store.h"

namespace parley::files {

struct ScanVerdict {
  bool infected = false;
  std::string signature;  // what the scanner found, when infected
};

class Scanner {
 public:
  virtual ~Scanner() = default;
  virtual Result<ScanVerdict> scan(BlobStore& blobs, const std::string& key,
                                   std::uint64_t size) = 0;
};

}  // namespace parley::files
