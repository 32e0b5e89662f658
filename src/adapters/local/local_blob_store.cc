#include "adapters/local/local_blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/crypto.h"

namespace parley::local {
namespace fs = std::filesystem;
using files::kUploadPartBytes;

namespace {

Error io_error(const std::string& what) {
  return Error{Errc::unavailable, what + ": " + std::strerror(errno), {}, 0};
}

// A file descriptor closed on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

Result<void> write_all(int fd, std::string_view bytes, off_t at) {
  while (!bytes.empty()) {
    ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), at);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(io_error("write"));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
    at += n;
  }
  return ok();
}

Result<void> sync_dir(const std::string& dir) {
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.fd < 0 || ::fsync(d.fd) != 0) return fail(io_error("sync " + dir));
  return ok();
}

Result<void> check_key(const std::string& key) {
  if (!files::is_valid_key(key)) return fail(Errc::invalid_argument, "invalid blob key", "key");
  return ok();
}

Result<void> check_handle(const std::string& handle) {
  // Handles are ours (hex), but they come back from the database: never let one be a path.
  if (handle.size() != 32 || handle.find_first_not_of("0123456789abcdef") != std::string::npos)
    return fail(Errc::not_found, "no such upload");
  return ok();
}

}  // namespace

Result<std::unique_ptr<LocalBlobStore>> LocalBlobStore::open(const std::string& root) {
  std::error_code ec;
  fs::create_directories(fs::path(root) / "objects", ec);
  if (!ec) fs::create_directories(fs::path(root) / "staging", ec);
  if (ec)
    return fail(Errc::unavailable, "cannot create file storage in " + root + ": " + ec.message());
  return std::unique_ptr<LocalBlobStore>(new LocalBlobStore(root));
}

std::string LocalBlobStore::object_path(const std::string& key) const {
  return root_ + "/objects/" + key;
}

std::string LocalBlobStore::staging_path(const std::string& handle) const {
  return root_ + "/staging/" + handle;
}

Result<void> LocalBlobStore::publish(const std::string& staged, const std::string& key) {
  const std::string target = object_path(key);
  const std::string dir = fs::path(target).parent_path().string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(Errc::unavailable, "cannot create " + dir + ": " + ec.message());
  if (::rename(staged.c_str(), target.c_str()) != 0) return fail(io_error("rename"));
  return sync_dir(dir);
}

Result<std::string> LocalBlobStore::begin_upload(const std::string& key) {
  if (auto k = check_key(key); !k) return fail(k.error());
  std::string handle = hex_encode(random_bytes(16));
  Fd f(::open(staging_path(handle).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (f.fd < 0) return fail(io_error("create upload"));
  return handle;
}

Result<void> LocalBlobStore::put_part(const std::string& key, const std::string& handle, int number,
                                      std::string_view bytes) {
  if (auto k = check_key(key); !k) return k;
  if (auto h = check_handle(handle); !h) return h;
  if (number < 1) return fail(Errc::invalid_argument, "part numbers start at 1", "number");
  if (bytes.size() > kUploadPartBytes)
    return fail(Errc::invalid_argument, "a part is at most kUploadPartBytes long", "bytes");
  Fd f(::open(staging_path(handle).c_str(), O_WRONLY | O_CLOEXEC));
  if (f.fd < 0) {
    if (errno == ENOENT) return fail(Errc::not_found, "no such upload");
    return fail(io_error("open upload"));
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return fail(io_error("stat upload"));
  const off_t at = static_cast<off_t>(number - 1) * static_cast<off_t>(kUploadPartBytes);
  if (st.st_size < at) return fail(Errc::invalid_argument, "parts must come in order", "number");
  if (auto w = write_all(f.fd, bytes, at); !w) return w;
  // A part put again replaces it and whatever followed (parts come in order).
  if (::ftruncate(f.fd, at + static_cast<off_t>(bytes.size())) != 0 || ::fsync(f.fd) != 0)
    return fail(io_error("sync upload"));
  return ok();
}

Result<void> LocalBlobStore::complete_upload(const std::string& key, const std::string& handle,
                                             int parts) {
  if (auto k = check_key(key); !k) return k;
  if (auto h = check_handle(handle); !h) return h;
  const std::string staged = staging_path(handle);
  struct stat st {};
  if (::stat(staged.c_str(), &st) != 0) return fail(Errc::not_found, "no such upload");
  if (parts < 1) return fail(Errc::invalid_argument, "an upload has at least one part", "parts");
  // parts - 1 full parts and a last one of 1..kUploadPartBytes bytes (only a lone part may be
  // empty): anything else means parts went missing or the count is wrong.
  const auto full = static_cast<off_t>(parts - 1) * static_cast<off_t>(kUploadPartBytes);
  if (st.st_size < full || (parts > 1 && st.st_size == full) ||
      st.st_size > full + static_cast<off_t>(kUploadPartBytes))
    return fail(Errc::invalid_argument, "the upload does not hold that many parts", "parts");
  return publish(staged, key);
}

Result<void> LocalBlobStore::abort_upload(const std::string& key, const std::string& handle) {
  if (auto k = check_key(key); !k) return k;
  // A handle that is not ours names no upload: nothing to free.
  if (auto h = check_handle(handle); !h) return ok();
  if (::unlink(staging_path(handle).c_str()) != 0 && errno != ENOENT)
    return fail(io_error("remove upload"));
  return ok();
}

Result<void> LocalBlobStore::put(const std::string& key, std::string_view bytes,
                                 std::string_view content_type) {
  if (auto k = check_key(key); !k) return k;
  const std::string staged = staging_path("put-" + hex_encode(random_bytes(8)));
  {
    Fd f(::open(staged.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (f.fd < 0) return fail(io_error("create"));
    auto w = write_all(f.fd, bytes, 0);
    if (w && ::fsync(f.fd) != 0) w = fail(io_error("sync"));
    if (!w) {
      ::unlink(staged.c_str());
      return w;
    }
  }
  auto published = publish(staged, key);
  if (!published) ::unlink(staged.c_str());
  return published;
}

Result<std::string> LocalBlobStore::read(const std::string& key, std::uint64_t offset,
                                         std::size_t length) {
  if (auto k = check_key(key); !k) return fail(k.error());
  Fd f(::open(object_path(key).c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return fail(Errc::not_found, "no such object");
    return fail(io_error("open"));
  }
  // A directory (the folder of longer keys) is no object; and length may be far more than the
  // object holds, so the buffer is sized by what is there.
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return fail(io_error("stat"));
  if (!S_ISREG(st.st_mode)) return fail(Errc::not_found, "no such object");
  const auto total = static_cast<std::uint64_t>(st.st_size);
  if (offset >= total) return std::string();
  length = static_cast<std::size_t>(std::min<std::uint64_t>(length, total - offset));
  std::string out(length, '\0');
  std::size_t got = 0;
  while (got < length) {
    ssize_t n = ::pread(f.fd, out.data() + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(io_error("read"));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

Result<std::uint64_t> LocalBlobStore::size(const std::string& key) {
  if (auto k = check_key(key); !k) return fail(k.error());
  struct stat st {};
  if (::stat(object_path(key).c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return fail(Errc::not_found, "no such object");
    return fail(io_error("stat"));
  }
  if (!S_ISREG(st.st_mode)) return fail(Errc::not_found, "no such object");
  return static_cast<std::uint64_t>(st.st_size);
}

Result<void> LocalBlobStore::remove(const std::string& key) {
  if (auto k = check_key(key); !k) return k;
  // A directory is the folder of longer keys, not an object: removing it is removing nothing.
  if (::unlink(object_path(key).c_str()) != 0 && errno != ENOENT && errno != ENOTDIR &&
      errno != EISDIR)
    return fail(io_error("remove"));
  return ok();
}

}  // namespace parley::local
