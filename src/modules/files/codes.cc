// The small shared pieces of the ports: key rules (blob_store.h), status codes (store.h).
#include "modules/files/blob_store.h"
#include "modules/files/store.h"

namespace parley::files {

bool is_valid_key(std::string_view key) {
  if (key.empty() || key.size() > 200 || key.front() == '/' || key.back() == '/') return false;
  if (key.find("..") != std::string_view::npos || key.find("//") != std::string_view::npos)
    return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '.' ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

int status_code(FileStatus s) {
  switch (s) {
    case FileStatus::ready:
      return 0;
    case FileStatus::pending_scan:
      return 1;
    case FileStatus::quarantined:
      return 2;
  }
  return 1;
}

FileStatus status_of(std::int64_t code) {
  switch (code) {
    case 0:
      return FileStatus::ready;
    case 2:
      return FileStatus::quarantined;
    default:
      return FileStatus::pending_scan;
  }
}

}  // namespace parley::files
