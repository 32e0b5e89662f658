#include "app/storage_copy.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "adapters/s3/s3_blob_store.h"
#include "app/config.h"
#include "core/crypto.h"
#include "modules/files/blob_store.h"

namespace parley::app {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using files::kUploadPartBytes;

constexpr std::uint64_t kDefaultPartThreshold = 64ULL * 1024 * 1024;
// Objects up to the threshold are read whole into memory: keep that bounded.
constexpr std::uint64_t kMaxPartThreshold = 1ULL << 30;
// A key no Parley file has: its HEAD tells whether S3 is reachable and takes the keys.
constexpr const char* kProbeKey = "parley-storage-copy-probe";
constexpr int kAttempts = 3;  // per object, when S3 answers "unavailable"

int say_error(const std::string& line, int code) {
  std::fprintf(stderr, "parley: %s\n", line.c_str());
  std::fflush(stderr);
  return code;
}

std::string mib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
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

struct Object {
  std::string key;  // its path under objects/
  std::string path;
  std::uint64_t size = 0;
};

struct Walk {
  std::vector<Object> objects;
  std::vector<std::string> skipped;  // "PATH (why)": files that are not Parley objects
  std::uint64_t bytes = 0;
};

// Every regular file under objects_dir, by key.
Result<Walk> walk(const fs::path& objects_dir) {
  Walk w;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(objects_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    auto st = entry.symlink_status(ec);
    if (ec) break;
    if (fs::is_directory(st)) continue;
    std::string key = entry.path().lexically_relative(objects_dir).generic_string();
    if (!fs::is_regular_file(st)) {
      w.skipped.push_back(key + " (not a regular file)");
      continue;
    }
    if (!files::is_valid_key(key)) {
      w.skipped.push_back(key + " (not a valid key: Parley never made it)");
      continue;
    }
    auto size = entry.file_size(ec);
    if (ec) break;
    w.objects.push_back({std::move(key), entry.path().string(), size});
    w.bytes += size;
  }
  if (ec)
    return fail(Errc::unavailable, "cannot read " + objects_dir.string() + ": " + ec.message());
  std::sort(w.objects.begin(), w.objects.end(),
            [](const Object& a, const Object& b) { return a.key < b.key; });
  return w;
}

// Exactly n bytes of fd from offset (the object must not be shorter than when it was listed).
Result<std::string> read_exactly(int fd, std::uint64_t offset, std::size_t n,
                                 const std::string& path) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, out.data() + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return fail(Errc::unavailable, "cannot read " + path + ": " + std::strerror(errno));
    }
    if (r == 0) return fail(Errc::unavailable, path + " became shorter while it was copied");
    got += static_cast<std::size_t>(r);
  }
  return out;
}

// Why one object was not copied: a local problem (that object is skipped, the copy goes on) or
// an S3 one (the copy stops: the next objects would fail the same way).
struct CopyError {
  bool local = false;
  bool vanished = false;  // removed from disk (by a running server) since it was listed
  Error error;
};

using Progress = std::function<void(std::uint64_t bytes)>;

tl::expected<void, CopyError> copy_one(files::BlobStore& s3, const Object& o,
                                       std::uint64_t threshold, const Progress& progress) {
  auto local = [](Error e) { return tl::unexpected<CopyError>(CopyError{true, false, e}); };
  auto remote = [](Error e) { return tl::unexpected<CopyError>(CopyError{false, false, e}); };
  Fd f(::open(o.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0) {
    if (errno == ENOENT)
      return tl::unexpected<CopyError>(
          CopyError{true, true, Error{Errc::not_found, "removed from disk", {}, 0}});
    return local(
        Error{Errc::unavailable, "cannot open " + o.path + ": " + std::strerror(errno), {}, 0});
  }
  if (o.size <= threshold) {
    auto bytes = read_exactly(f.fd, 0, static_cast<std::size_t>(o.size), o.path);
    if (!bytes) return local(bytes.error());
    if (auto r = s3.put(o.key, *bytes, "application/octet-stream"); !r) return remote(r.error());
    progress(o.size);
  } else {
    const auto part_count = (o.size + kUploadPartBytes - 1) / kUploadPartBytes;
    std::printf("copying %s (%s) in %llu parts\n", o.key.c_str(), mib(o.size).c_str(),
                static_cast<unsigned long long>(part_count));
    std::fflush(stdout);
    auto handle = s3.begin_upload(o.key);
    if (!handle) return remote(handle.error());
    int parts = 0;
    for (std::uint64_t at = 0; at < o.size; at += kUploadPartBytes) {
      const auto n =
          static_cast<std::size_t>(std::min<std::uint64_t>(kUploadPartBytes, o.size - at));
      auto bytes = read_exactly(f.fd, at, n, o.path);
      if (!bytes) {
        (void)s3.abort_upload(o.key, *handle);
        return local(bytes.error());
      }
      if (auto r = s3.put_part(o.key, *handle, ++parts, *bytes); !r) {
        (void)s3.abort_upload(o.key, *handle);
        return remote(r.error());
      }
      progress(n);
    }
    if (auto r = s3.complete_upload(o.key, *handle, parts); !r) {
      (void)s3.abort_upload(o.key, *handle);
      return remote(r.error());
    }
  }
  // What S3 holds now is what the node will serve: check it before counting the object as done.
  auto size = s3.size(o.key);
  if (!size) return remote(size.error());
  if (*size != o.size)
    return remote(Error{Errc::internal,
                        "S3 holds " + std::to_string(*size) + " bytes under " + o.key +
                            " after the copy, not " + std::to_string(o.size),
                        {},
                        0});
  return {};
}

Result<std::uint64_t> parse_threshold(const std::string& v) {
  const std::string what = "--part-threshold-bytes";
  if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos)
    return fail(Errc::invalid_argument, what + ": expected a whole number, got \"" + v + "\"");
  auto n = std::stoull(v);
  if (n < 1 || n > kMaxPartThreshold)
    return fail(Errc::invalid_argument,
                what + ": from 1 to " + std::to_string(kMaxPartThreshold) + ", got " + v);
  return n;
}

std::size_t count_entries(const fs::path& dir) {
  std::error_code ec;
  std::size_t n = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n;
}

int copy_command(const std::vector<std::string>& args, char** envp) {
  std::string to;
  std::uint64_t threshold = kDefaultPartThreshold;
  std::vector<std::string> rest;  // for load_config: the server's own options
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::fputs(usage(), stdout);
      return 0;
    }
    std::string name = a, value;
    bool has_value = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    }
    if (name != "--to" && name != "--part-threshold-bytes") {
      rest.push_back(a);
      // A value is passed on with its flag, so that a value spelled like our flags is not ours.
      if (!has_value && a.rfind("--", 0) == 0 && i + 1 < args.size()) rest.push_back(args[++i]);
      continue;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) return say_error(name + " needs a value (see parley --help)", 2);
      value = args[++i];
    }
    if (name == "--to") {
      to = value;
    } else {
      auto n = parse_threshold(value);
      if (!n) return say_error(n.error().message, 2);
      threshold = *n;
    }
  }
  auto config = load_config(rest, envp);
  if (!config) return say_error(config.error().message, 2);
  const Config& cfg = *config;
  if (to.empty() && cfg.storage.rfind("s3://", 0) == 0) to = cfg.storage;
  if (to.empty())
    return say_error(
        "storage copy: where to? give --to s3://BUCKET?endpoint=URL&region=R (see parley --help)",
        2);
  if (to.rfind("s3://", 0) != 0)
    return say_error("--to: expected s3://BUCKET?endpoint=URL&region=R, got \"" + to + "\"", 2);
  if (cfg.s3_access_key.empty() || cfg.s3_secret_key.empty())
    return say_error(
        "storage copy: no S3 keys: set PARLEY_S3_ACCESS_KEY and PARLEY_S3_SECRET_KEY (or give "
        "--s3-access-key and --s3-secret-key)",
        2);
  auto target = s3::parse_s3_url(to, cfg.s3_access_key, cfg.s3_secret_key);
  if (!target) return say_error("--to: " + target.error().message, 2);
  auto store = s3::make_s3_blob_store(to, cfg.s3_access_key, cfg.s3_secret_key);
  if (!store) return say_error("--to: " + store.error().message, 2);
  files::BlobStore& s3 = **store;
  std::error_code ec;
  if (!fs::is_directory(cfg.data_dir, ec))
    return say_error("storage copy: no data directory " + cfg.data_dir + " (give --data-dir DIR)",
                     2);
  init_crypto();

  const std::string where = "S3 bucket '" + target->bucket + "' at " + target->endpoint;
  if (auto probe = s3.size(kProbeKey); !probe && probe.error().code != Errc::not_found)
    return say_error("cannot use " + where + ": " + probe.error().message +
                         (probe.error().code == Errc::permission_denied
                              ? " (check the key pair: PARLEY_S3_ACCESS_KEY, PARLEY_S3_SECRET_KEY)"
                              : ""),
                     1);

  const fs::path files_dir = fs::path(cfg.data_dir) / "files";
  const fs::path objects_dir = files_dir / "objects";
  Walk w;
  if (fs::is_directory(objects_dir, ec)) {
    auto listed = walk(objects_dir);
    if (!listed) return say_error(listed.error().message, 1);
    w = std::move(*listed);
  }
  const std::size_t total = w.objects.size();
  std::printf("copying %zu objects (%s) from %s to %s\n", total, mib(w.bytes).c_str(),
              objects_dir.c_str(), where.c_str());
  for (const auto& s : w.skipped) std::printf("skipped %s\n", s.c_str());
  std::fflush(stdout);

  std::size_t done = 0, copied = 0, present = 0, vanished = 0, failed = 0;
  std::uint64_t done_bytes = 0, copied_bytes = 0;
  auto last_line = Clock::now();
  auto report = [&](bool force) {
    auto now = Clock::now();
    if (!force && now - last_line < std::chrono::seconds(1)) return;
    last_line = now;
    std::printf("copied %zu of %zu objects, %s of %s\n", done, total, mib(done_bytes).c_str(),
                mib(w.bytes).c_str());
    std::fflush(stdout);
  };
  std::string stopped;  // the S3 error that stopped the copy
  for (const Object& o : w.objects) {
    auto there = s3.size(o.key);
    if (there && *there == o.size) {
      ++done;
      ++present;
      done_bytes += o.size;
      report(false);
      continue;
    }
    if (!there && there.error().code != Errc::not_found) {
      stopped = there.error().message;
      break;
    }
    tl::expected<void, CopyError> r;
    for (int attempt = 1;; ++attempt) {
      std::uint64_t sent = 0;
      r = copy_one(s3, o, threshold, [&](std::uint64_t n) {
        sent += n;
        done_bytes += n;
        report(false);
      });
      if (r || r.error().local || r.error().error.code != Errc::unavailable || attempt == kAttempts)
        break;
      done_bytes -= sent;  // sent again from the start
      std::this_thread::sleep_for(std::chrono::seconds(attempt));
    }
    if (r) {
      ++done;
      ++copied;
      copied_bytes += o.size;
      report(false);
      continue;
    }
    if (r.error().vanished) {
      ++vanished;
      std::printf("skipped %s (removed from disk since it was listed)\n", o.key.c_str());
      continue;
    }
    if (!r.error().local) {
      stopped = o.key + ": " + r.error().error.message;
      break;
    }
    ++failed;
    say_error("cannot copy " + o.key + ": " + r.error().error.message, 1);
  }
  report(true);

  const std::size_t staged = count_entries(files_dir / "staging");
  std::printf(
      "unfinished uploads are not copied (%zu in %s): once the node runs on S3 their clients "
      "upload those files again\n",
      staged, (files_dir / "staging").c_str());
  if (!stopped.empty() || failed > 0) {
    if (!stopped.empty()) say_error("stopped: " + stopped, 1);
    return say_error("storage copy incomplete: " + std::to_string(done) + " of " +
                         std::to_string(total - vanished) + " objects are in " + where +
                         "; fix the cause and run the same command again (what is there is "
                         "skipped)",
                     1);
  }
  std::printf(
      "done: all %zu objects are in %s (%zu copied, %s; %zu were there already). Local files are "
      "kept: start every node with --storage %s, then %s may be removed\n",
      done, where.c_str(), copied, mib(copied_bytes).c_str(), present, to.c_str(),
      objects_dir.c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int storage_command(const std::vector<std::string>& args, char** envp) {
  if (args.empty() || args[0] != "copy")
    return say_error(std::string("unknown storage command") +
                         (args.empty() ? "" : " \"" + args[0] + "\"") +
                         " (parley storage copy --to s3://...; see parley --help)",
                     2);
  return copy_command({args.begin() + 1, args.end()}, envp);
}

}  // namespace parley::app
