// Content types from the bytes. libmagic (Debian's libmagic1, the `file` command's library)
// knows far more formats than a table of our own would; its handle is not thread-safe, so one
// handle per thread, loaded on first use.
#include <magic.h>

#include <memory>

#include "modules/files/files.h"

namespace parley::files {
namespace {

struct MagicCloser {
  void operator()(magic_set* m) const { magic_close(m); }
};

magic_t thread_magic() {
  thread_local std::unique_ptr<magic_set, MagicCloser> handle = [] {
    std::unique_ptr<magic_set, MagicCloser> m(magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR));
    if (m && magic_load(m.get(), nullptr) != 0) m.reset();
    return m;
  }();
  return handle.get();
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (std::size_t i = 0; i < suffix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i])
      return false;
  return true;
}

}  // namespace

std::string detect_content_type(std::string_view head, std::string_view name) {
  std::string type = "application/octet-stream";
  if (magic_t m = thread_magic()) {
    const char* found = magic_buffer(m, head.data(), head.size());
    if (found && *found) type = found;
  }
  // libmagic calls many text formats text/plain; the name may say which (never making a type
  // more dangerous than the bytes: only plain-text refinements).
  if (type == "text/plain") {
    if (ends_with_ci(name, ".md")) return "text/markdown";
    if (ends_with_ci(name, ".csv")) return "text/csv";
  }
  if (type == "image/svg") return "image/svg+xml";
  return type;
}

}  // namespace parley::files
