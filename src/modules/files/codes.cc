#include "modules/files/blob_store.h"

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

}  // namespace parley::files
