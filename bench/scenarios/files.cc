// The file scenarios of parley_bench: tus uploads, downloads, thumbnails and one very large
// upload, each against a server of its own (local disk, and S3 through the throw-away s3rver of
// scripts/s3.sh where node is installed).
//
// The client is plain blocking POSIX sockets, one thread per client. Bodies are streamed from a
// generator a MiB at a time (deterministic bytes from a seed, so nothing is held whole and every
// file is distinct: identical uploads are stored once and would skip the work), and downloads
// are checked against the sum of what was sent. Only 127.0.0.1 is contacted; every socket call
// has a timeout.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vips/vips.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.h"

namespace parley::bench {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint64_t kPatchBytes = 8 * kMiB;      // tus PATCH size: the server's part size
constexpr std::size_t kIoBytes = kMiB;               // one client write or read
constexpr int kSocketTimeoutS = 120;                 // per send/recv call
constexpr std::uint64_t kMaxFileBytes = 4ull << 30;  // --max-file-bytes of the servers started

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i < in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// ---- bodies

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Where an upload's bytes come from: n bytes at offset `at` into out.
using BodyFn = std::function<void(std::uint64_t at, char* out, std::size_t n)>;

// Stream `seed`: word i is mix(seed << 40 ^ i). Offsets are multiples of 8 (every write is).
BodyFn generated(std::uint64_t seed) {
  return [seed](std::uint64_t at, char* out, std::size_t n) {
    std::uint64_t word = at / 8;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8, ++word) {
      std::uint64_t v = mix((seed << 40) ^ word);
      std::memcpy(out + i, &v, 8);
    }
    if (i < n) {
      std::uint64_t v = mix((seed << 40) ^ word);
      std::memcpy(out + i, &v, n - i);
    }
  };
}

BodyFn from_bytes(const std::string& bytes) {
  return [&bytes](std::uint64_t at, char* out, std::size_t n) {
    std::memcpy(out, bytes.data() + at, n);
  };
}

// A cheap order-sensitive check of a byte stream (fed in blocks whose sizes are multiples of 8,
// but for the last).
struct Checksum {
  std::uint64_t sum = 0, words = 0;
  void add(const char* p, std::size_t n) {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      std::uint64_t v;
      std::memcpy(&v, p + i, 8);
      sum += v * (2 * ++words + 1);
    }
    if (i < n) {
      std::uint64_t v = 0;
      std::memcpy(&v, p + i, n - i);
      sum += v * (2 * ++words + 1);
    }
  }
};

// ---- a blocking HTTP/1.1 connection

class Conn {
 public:
  explicit Conn(std::uint16_t port) : buf_(kIoBytes) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      error_ = std::string("socket: ") + std::strerror(errno);
      return;
    }
    timeval tv{kSocketTimeoutS, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      error_ = std::string("connect: ") + std::strerror(errno);
  }
  ~Conn() {
    if (fd_ >= 0) close(fd_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  const std::string& error() const { return error_; }

  bool send_all(const char* p, std::size_t n) {
    while (n > 0 && error_.empty()) {
      ssize_t w = send(fd_, p, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        error_ = std::string("send: ") + std::strerror(errno);
        break;
      }
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return error_.empty();
  }

  // Sends a request whose body (length bytes from body, starting at body offset `from`) is
  // written a MiB at a time; each block goes through `seen` too.
  bool send_request(const std::string& head, const BodyFn& body, std::uint64_t from,
                    std::uint64_t length, Checksum* seen) {
    if (!send_all(head.data(), head.size())) return false;
    for (std::uint64_t done = 0; done < length && error_.empty();) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kIoBytes, length - done));
      body(from + done, buf_.data(), n);
      if (seen) seen->add(buf_.data(), n);
      if (!send_all(buf_.data(), n)) return false;
      done += n;
    }
    return error_.empty();
  }

  // Reads a response's head into head_ (h describes it), then its body: handed to `sink` a block
  // at a time, or (no sink) kept in body() when small.
  bool read_response(HttpHead& h,
                     const std::function<void(const char*, std::size_t)>& sink = nullptr) {
    head_.clear();
    body_.clear();
    std::size_t end;
    while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
      if (pending_.size() > 65536) return fail("response head too large");
      if (!fill()) return false;
    }
    head_ = pending_.substr(0, end + 2);
    pending_.erase(0, end + 4);
    if (!parse_head(head_, h, 1ull << 40)) return fail("malformed response head");
    if (h.chunked) return fail("chunked response (unsupported by the bench)");
    std::uint64_t left = h.content_length;
    if (!sink && left > kMaxResponseBytes) return fail("unexpectedly large response");
    // Whole blocks of kIoBytes (multiples of 8) for the checksum, from pending_ and then recv.
    while (left > 0) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kIoBytes, left));
      std::size_t have = std::min(want, pending_.size());
      std::memcpy(buf_.data(), pending_.data(), have);
      pending_.erase(0, have);
      while (have < want) {
        ssize_t r = recv(fd_, buf_.data() + have, want - have, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
          return fail(r == 0 ? "connection closed mid-body"
                             : std::string("recv: ") + std::strerror(errno));
        have += static_cast<std::size_t>(r);
      }
      if (sink)
        sink(buf_.data(), have);
      else
        body_.append(buf_.data(), have);
      left -= have;
    }
    return true;
  }

  std::string_view header(std::string_view name) const { return header_value(head_, name); }
  const std::string& body() const { return body_; }

 private:
  bool fail(std::string why) {
    error_ = std::move(why);
    return false;
  }
  bool fill() {
    for (;;) {
      ssize_t r = recv(fd_, buf_.data(), buf_.size(), 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0)
        return fail(r == 0 ? "connection closed" : std::string("recv: ") + std::strerror(errno));
      pending_.append(buf_.data(), static_cast<std::size_t>(r));
      return true;
    }
  }

  int fd_ = -1;
  std::string error_;
  std::vector<char> buf_;
  std::string pending_, head_, body_;
};

std::string host(std::uint16_t port) { return "Host: 127.0.0.1:" + std::to_string(port) + "\r\n"; }

// ---- upload and download

struct Uploaded {
  std::string file_id;
  std::string error;
  std::uint64_t bytes = 0;
  Checksum sent;
  double seconds = 0;
  bool has_thumbnail = false;  // as the finished upload's file object says (asked after timing)
};

// A tus upload: POST (creation), then PATCHes of patch_bytes; the last one names the file.
// check: sum what is sent (for downloads to compare against); off where nothing reads it back.
Uploaded upload(std::uint16_t port, const std::string& token, const std::string& name,
                const BodyFn& body, std::uint64_t length, std::uint64_t patch_bytes,
                bool check = true) {
  Uploaded u;
  u.bytes = length;
  auto t0 = Clock::now();
  Conn c(port);
  if (!c.error().empty()) return u.error = c.error(), u;
  const std::string auth = "Authorization: Bearer " + token + "\r\nTus-Resumable: 1.0.0\r\n";
  std::string head = "POST /api/v1/uploads HTTP/1.1\r\n" + host(port) + auth +
                     "Upload-Length: " + std::to_string(length) + "\r\nUpload-Metadata: filename " +
                     base64(name) + "\r\nContent-Length: 0\r\n\r\n";
  HttpHead h;
  if (!c.send_all(head.data(), head.size()) || !c.read_response(h)) return u.error = c.error(), u;
  if (h.status != 201) return u.error = "create: " + status_error(h.status, c.body()), u;
  const std::string location(c.header("Location"));
  for (std::uint64_t offset = 0; offset < length;) {
    std::uint64_t n = std::min(patch_bytes, length - offset);
    head = "PATCH " + location + " HTTP/1.1\r\n" + host(port) + auth +
           "Content-Type: application/offset+octet-stream\r\nUpload-Offset: " +
           std::to_string(offset) + "\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n";
    if (!c.send_request(head, body, offset, n, check ? &u.sent : nullptr) || !c.read_response(h))
      return u.error = "PATCH at " + std::to_string(offset) + ": " + c.error(), u;
    if (h.status != 204)
      return u.error =
                 "PATCH at " + std::to_string(offset) + ": " + status_error(h.status, c.body()),
             u;
    offset += n;
    if (offset == length) u.file_id = std::string(c.header("Parley-File-Id"));
  }
  u.seconds = seconds_since(t0);
  if (u.file_id.empty()) u.error = "the last PATCH named no file (no Parley-File-Id)";
  return u;
}

struct Downloaded {
  std::string error;
  std::uint64_t bytes = 0;
  Checksum got;
};

Downloaded download(std::uint16_t port, const std::string& token, const std::string& file_id) {
  Downloaded d;
  Conn c(port);
  if (!c.error().empty()) return d.error = c.error(), d;
  std::string head = "GET /api/v1/files/" + file_id + " HTTP/1.1\r\n" + host(port) +
                     "Authorization: Bearer " + token + "\r\n\r\n";
  HttpHead h;
  bool ok =
      c.send_all(head.data(), head.size()) && c.read_response(h, [&](const char* p, std::size_t n) {
        d.got.add(p, n);
        d.bytes += n;
      });
  if (!ok) return d.error = c.error(), d;
  if (h.status != 200) return d.error = status_error(h.status, c.body()), d;
  return d;
}

// ---- the server under test

long proc_status_kb(pid_t pid, const char* key) {
  std::string s = read_file("/proc/" + std::to_string(pid) + "/status");
  auto p = s.find(key);
  if (p == std::string::npos) return -1;
  return std::strtol(s.c_str() + p + std::strlen(key) + 1, nullptr, 10);
}


// The throw-away s3rver of scripts/s3.sh, stopped and removed when this goes.
class S3Server {
 public:
  // Starts it in `dir`; on failure says why in reason() (node missing: exit status 3).
  explicit S3Server(std::string dir) : dir_(std::move(dir)) {
    const std::string script = sh_quote(std::string(PARLEY_SOURCE_DIR) + "/scripts/s3.sh");
    auto url = shell(script + " start " + sh_quote(dir_) + "; echo \" $?\"");
    // "URL status" or " status": the status is the last word.
    std::string out = url.value_or(" 1");
    auto sp = out.rfind(' ');
    int status = std::atoi(out.c_str() + sp + 1);
    url_ = trim(out.substr(0, sp));
    if (status == 3)
      reason_ = "node/npm are not installed (scripts/install-deps.sh installs them)";
    else if (status != 0 || url_.empty())
      reason_ = "scripts/s3.sh start failed (status " + std::to_string(status) + ")";
    else
      secret_ = trim(read_file(dir_ + "/secret"));
    started_ = true;
  }
  ~S3Server() {
    if (started_)
      shell(sh_quote(std::string(PARLEY_SOURCE_DIR) + "/scripts/s3.sh") + " stop " +
            sh_quote(dir_) + " >&2");
  }
  bool ok() const { return reason_.empty(); }
  const std::string& reason() const { return reason_; }
  const std::string& url() const { return url_; }
  pid_t pid() const { return std::atoi(read_file(dir_ + "/server.pid").c_str()); }
  std::vector<std::string> env() const {
    return {"PARLEY_S3_ACCESS_KEY=parley-test", "PARLEY_S3_SECRET_KEY=" + secret_};
  }

 private:
  std::string dir_, url_, secret_, reason_;
  bool started_ = false;
};

struct Storage {
  std::string name;   // "local", "s3": part of the server's folder name
  std::string label;  // "local disk", "S3 (s3rver on loopback)"
  std::string flag;   // --storage's value
  std::vector<std::string> env;
  pid_t s3_pid = -1;  // s3rver's, whose CPU is part of the cost
};

// A server with file limits lifted and `users` registered users (their tokens).
class FileServer {
 public:
  FileServer(const BenchContext& ctx, const std::string& name, const Storage& storage,
             unsigned users)
      : ctx_(ctx), dir_(ctx.tmp_dir + "/" + name) {
    std::vector<std::string> flags = {"--storage",          storage.flag,
                                      "--max-file-bytes",   std::to_string(kMaxFileBytes),
                                      "--user-quota-bytes", std::to_string(1ull << 44)};
    if (!server_.start(*ctx.opt, dir_, flags, storage.env)) {
      error_ = "the server did not report a port";
      for (const auto& l : server_.tail()) error_ += "\n    " + l;
      return;
    }
    tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), server_.port());
    tokens_.resize(users);
    std::mutex mu;
    run_parallel(std::min(users, 8u), [&](unsigned t) {
      for (unsigned i = t; i < users; i += std::min(users, 8u)) {
        char body[128];
        std::snprintf(body, sizeof body,
                      "{\"username\":\"files%05u\",\"password\":\"bench-password-%05u\"}", i, i);
        auto r = http_call(ep, "POST", "/api/v1/auth/register", "", body);
        std::lock_guard lock(mu);
        if (r.ok())
          tokens_[i] = json_at(r.body, {"access_token"});
        else if (error_.empty())
          error_ = "register: " + r.describe();
      }
    });
  }
  ~FileServer() {
    auto [count, lines] = server_.problems();
    std::string how = server_.stop();
    if (count > 0) {
      std::printf("  server %s; %d warn/error log line(s)\n", how.c_str(), count);
      for (const auto& l : lines) std::printf("    %s\n", l.c_str());
    }
    if (!ctx_.opt->keep_data) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  std::uint16_t port() const { return server_.port(); }
  pid_t pid() const { return server_.pid(); }
  const std::string& token(unsigned i) const { return tokens_.at(i); }

 private:
  const BenchContext& ctx_;
  std::string dir_;
  ServerProcess server_;
  std::vector<std::string> tokens_;
  std::string error_;
};

// ---- reporting


double mb_per_s(std::uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / 1e6 / seconds : 0;
}

// CPU seconds of the server (and s3rver) over a timed step, as a share of one core.
struct CpuMeter {
  CpuMeter(pid_t server, pid_t s3) : server_(server), s3_(s3) { reset(); }
  void reset() {
    t0_ = Clock::now();
    server0_ = process_cpu_s(server_);
    s30_ = s3_ > 0 ? process_cpu_s(s3_) : 0;
  }
  std::string line() const {
    double wall = seconds_since(t0_);
    std::string out = "server " + fmt("%.0f%%", 100 * (process_cpu_s(server_) - server0_) / wall);
    if (s3_ > 0) out += ", s3rver " + fmt("%.0f%%", 100 * (process_cpu_s(s3_) - s30_) / wall);
    return out + " of a core";
  }
  pid_t server_, s3_;
  Clock::time_point t0_;
  double server0_ = 0, s30_ = 0;
};

// The storages to run on: local disk always, S3 when s3rver can start (else a printed reason).
template <typename Fn>
void on_each_storage(const BenchContext& ctx, const std::string& scenario, Fn&& fn) {
  fn(Storage{"local", "local disk", "local", {}, -1});
  S3Server s3(ctx.tmp_dir + "/s3-" + scenario);
  if (!s3.ok()) {
    std::printf("  S3: skipped: %s\n", s3.reason().c_str());
    ctx.headlines->push_back(scenario + " on S3: skipped: " + s3.reason());
    return;
  }
  fn(Storage{"s3", "S3 (s3rver on loopback)", s3.url(), s3.env(), s3.pid()});
}

constexpr std::uint64_t kOneClientBytes = 256 * kMiB;
constexpr unsigned kClients = 32;
constexpr std::uint64_t kEachClientBytes = 16 * kMiB;
constexpr double kMinTimed = 2.0;  // seconds of downloading, at least
constexpr unsigned kMaxPasses = 8;

struct UploadFigures {
  Uploaded one;
  std::vector<Uploaded> many;
  double many_wall = 0;
  std::string one_cpu, many_cpu;
};

// The upload half: 1 client with 256 MiB, then 32 clients with 16 MiB each (each its own user).
UploadFigures upload_set(FileServer& srv, const Storage& st) {
  UploadFigures f;
  CpuMeter cpu(srv.pid(), st.s3_pid);
  f.one = upload(srv.port(), srv.token(0), "one-256MiB.bin", generated(1), kOneClientBytes,
                 kPatchBytes);
  f.one_cpu = cpu.line();
  f.many.resize(kClients);
  cpu.reset();
  f.many_wall = run_parallel(kClients, [&](unsigned i) {
    f.many[i] = upload(srv.port(), srv.token(i), "each-16MiB-" + std::to_string(i) + ".bin",
                       generated(100 + i), kEachClientBytes, kPatchBytes);
  });
  f.many_cpu = cpu.line();
  return f;
}

std::string first_error(const std::vector<Uploaded>& us) {
  for (const auto& u : us)
    if (!u.error.empty()) return u.error;
  return "";
}

void run_upload(const BenchContext& ctx) {
  on_each_storage(ctx, "upload", [&](const Storage& st) {
    FileServer srv(ctx, "upload-" + st.name, st, kClients);
    if (!srv.ok()) return fail(ctx, "upload on " + st.label, srv.error());
    auto f = upload_set(srv, st);
    if (!f.one.error.empty())
      fail(ctx, "upload 1 client on " + st.label, f.one.error);
    else
      report(ctx, "upload, " + st.label + ", 1 client, 256 MiB in 8 MiB PATCHes: " +
                      fmt("%.0f MB/s", mb_per_s(f.one.bytes, f.one.seconds)) + " (" +
                      fmt("%.1f s", f.one.seconds) + "; " + f.one_cpu + ")");
    if (auto e = first_error(f.many); !e.empty())
      fail(ctx, "upload 32 clients on " + st.label, e);
    else
      report(ctx, "upload, " + st.label + ", 32 clients x 16 MiB at once: " +
                      fmt("%.0f MB/s", mb_per_s(kClients * kEachClientBytes, f.many_wall)) +
                      " in all (" + fmt("%.1f s", f.many_wall) + "; " + f.many_cpu + ")");
  });
}

void run_download(const BenchContext& ctx) {
  on_each_storage(ctx, "download", [&](const Storage& st) {
    FileServer srv(ctx, "download-" + st.name, st, kClients);
    if (!srv.ok()) return fail(ctx, "download on " + st.label, srv.error());
    auto f = upload_set(srv, st);  // the files to read back (untimed here)
    if (!f.one.error.empty() || !first_error(f.many).empty())
      return fail(ctx, "download on " + st.label,
                  "uploading the files failed: " + f.one.error + first_error(f.many));
    // Passes over the same files until kMinTimed has gone by (at most kMaxPasses): one pass
    // from the page cache is over too soon to time well.
    CpuMeter cpu(srv.pid(), st.s3_pid);
    std::string err;
    std::uint64_t bytes = 0;
    unsigned passes = 0;
    auto t0 = Clock::now();
    while (err.empty() && passes < kMaxPasses && (passes == 0 || seconds_since(t0) < kMinTimed)) {
      auto one = download(srv.port(), srv.token(0), f.one.file_id);
      if (!one.error.empty())
        err = one.error;
      else if (one.bytes != f.one.bytes || one.got.sum != f.one.sent.sum)
        err = "the bytes differ from those uploaded";
      bytes += one.bytes;
      ++passes;
    }
    double wall = seconds_since(t0);
    if (!err.empty())
      fail(ctx, "download 1 client on " + st.label, err);
    else
      report(ctx, "download, " + st.label + ", 1 client, 256 MiB: " +
                      fmt("%.0f MB/s", mb_per_s(bytes, wall)) + " (" + std::to_string(passes) +
                      " pass(es) in " + fmt("%.1f s; ", wall) + cpu.line() + ")");
    cpu.reset();
    bytes = 0;
    passes = 0;
    t0 = Clock::now();
    while (err.empty() && passes < kMaxPasses && (passes == 0 || seconds_since(t0) < kMinTimed)) {
      std::vector<Downloaded> many(kClients);
      run_parallel(kClients, [&](unsigned i) {
        many[i] = download(srv.port(), srv.token(i), f.many[i].file_id);
      });
      for (unsigned i = 0; i < kClients && err.empty(); ++i) {
        if (!many[i].error.empty())
          err = many[i].error;
        else if (many[i].bytes != f.many[i].bytes || many[i].got.sum != f.many[i].sent.sum)
          err = "the bytes of client " + std::to_string(i) + " differ from those uploaded";
        bytes += many[i].bytes;
      }
      ++passes;
    }
    wall = seconds_since(t0);
    if (!err.empty())
      fail(ctx, "download 32 clients on " + st.label, err);
    else
      report(ctx, "download, " + st.label +
                      ", 32 clients x 16 MiB at once: " + fmt("%.0f MB/s", mb_per_s(bytes, wall)) +
                      " in all (" + std::to_string(passes) + " pass(es) in " +
                      fmt("%.1f s; ", wall) + cpu.line() + ")");
  });
}

// ---- thumbnails

// A 1600x1200 JPEG (quality 85) of a smooth picture that depends on `seed`, with mild noise so
// it compresses like a photograph rather than a flat gradient.
std::string make_jpeg(unsigned seed) {
  constexpr int kW = 1600, kH = 1200;
  std::vector<unsigned char> px(static_cast<std::size_t>(kW) * kH * 3);
  const double fx = 0.004 + (seed % 7) * 0.001, fy = 0.003 + (seed % 5) * 0.0013;
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x) {
      std::uint64_t noise = mix((static_cast<std::uint64_t>(seed) << 32) ^ (y * kW + x));
      unsigned char* p = &px[(static_cast<std::size_t>(y) * kW + x) * 3];
      p[0] = static_cast<unsigned char>(127 + 100 * std::sin(x * fx + seed) + (noise & 15));
      p[1] = static_cast<unsigned char>(127 + 100 * std::cos(y * fy + seed * 0.7) +
                                        ((noise >> 8) & 15));
      p[2] = static_cast<unsigned char>((x + y + seed * 13) / 12 % 256);
    }
  VipsImage* img = vips_image_new_from_memory(px.data(), px.size(), kW, kH, 3, VIPS_FORMAT_UCHAR);
  if (!img) return "";
  void* buf = nullptr;
  std::size_t len = 0;
  int rc = vips_jpegsave_buffer(img, &buf, &len, "Q", 85, nullptr);
  g_object_unref(img);
  if (rc != 0) return "";
  std::string out(static_cast<const char*>(buf), len);
  g_free(buf);
  return out;
}

bool has_thumbnail(std::uint16_t port, const std::string& token, const std::string& file_id) {
  tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), port);
  auto r = http_call(ep, "GET", "/api/v1/files/" + file_id + "/thumbnail", token, "");
  return r.ok() && !r.body.empty();
}

void run_thumbnails(const BenchContext& ctx) {
  static const bool vips_ready = vips_init("parley_bench") == 0;
  if (!vips_ready) return fail(ctx, "thumbnails", "libvips did not initialise");
  const unsigned n = ctx.opt->thumbnails;
  auto t0 = Clock::now();
  std::vector<std::string> jpegs(n);
  std::uint64_t total = 0;
  run_parallel(std::max(1u, ctx.cores), [&](unsigned t) {
    for (unsigned i = t; i < n; i += std::max(1u, ctx.cores)) jpegs[i] = make_jpeg(i);
  });
  for (const auto& j : jpegs) {
    if (j.empty()) return fail(ctx, "thumbnails", "libvips could not make a JPEG");
    total += j.size();
  }
  std::printf("  %u distinct 1600x1200 JPEGs made in %.1f s (%.0f KiB on average)\n", n,
              seconds_since(t0), static_cast<double>(total) / n / 1024);
  const unsigned kConcurrent = 8;
  for (unsigned clients : {1u, kConcurrent}) {
    FileServer srv(ctx, "thumbnails-" + std::to_string(clients),
                   Storage{"local", "local disk", "local", {}, -1}, clients);
    if (!srv.ok()) return fail(ctx, "thumbnails", srv.error());
    std::vector<Uploaded> ups(n);
    std::vector<unsigned> owner(n);  // a file is readable by its uploader
    CpuMeter cpu(srv.pid(), -1);
    std::atomic<unsigned> next{0};
    double wall = run_parallel(clients, [&](unsigned c) {
      for (unsigned i; (i = next++) < n;) {
        owner[i] = c;
        ups[i] = upload(srv.port(), srv.token(c), "photo-" + std::to_string(i) + ".jpg",
                        from_bytes(jpegs[i]), jpegs[i].size(), kPatchBytes);
      }
    });
    std::string cpu_line = cpu.line();
    std::string err = first_error(ups);
    for (unsigned i = 0; i < n && err.empty(); ++i)
      if (!has_thumbnail(srv.port(), srv.token(owner[i]), ups[i].file_id))
        err = "image " + std::to_string(i) + " has no thumbnail";
    if (!err.empty())
      fail(ctx, "thumbnails", err);
    else
      report(ctx, "thumbnails, " + std::to_string(clients) +
                      " client(s): " + fmt("%.1f images/s", n / wall) + " (" + std::to_string(n) +
                      " distinct 1600x1200 JPEGs uploaded, each finished with a thumbnail; " +
                      fmt("%.1f s; ", wall) + cpu_line + ")");
  }
}

// ---- one very large upload: memory stays flat

void run_bigupload(const BenchContext& ctx) {
  constexpr std::uint64_t kBytes = 2048 * kMiB;
  FileServer srv(ctx, "bigupload", Storage{"local", "local disk", "local", {}, -1}, 1);
  if (!srv.ok()) return fail(ctx, "bigupload", srv.error());
  long hwm_before = proc_status_kb(srv.pid(), "VmHWM:");
  long rss_before = proc_status_kb(srv.pid(), "VmRSS:");
  // VmHWM keeps the peak of the whole life (registration's Argon2id included); a sampler sees
  // what the upload itself holds.
  std::atomic<bool> done{false};
  long rss_peak = rss_before;
  std::thread sampler([&] {
    while (!done) {
      rss_peak = std::max(rss_peak, proc_status_kb(srv.pid(), "VmRSS:"));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  CpuMeter cpu(srv.pid(), -1);
  // One PATCH with the whole 2 GiB body: the harshest case for buffering.
  auto u = upload(srv.port(), srv.token(0), "big-2GiB.bin", generated(7), kBytes, kBytes,
                  /*check=*/false);
  std::string cpu_line = cpu.line();
  done = true;
  sampler.join();
  long hwm_after = proc_status_kb(srv.pid(), "VmHWM:");
  long rss_after = proc_status_kb(srv.pid(), "VmRSS:");
  if (!u.error.empty()) return fail(ctx, "bigupload", u.error);
  report(ctx, "bigupload, local disk, 2 GiB in one PATCH streamed from a generator: " +
                  fmt("%.0f MB/s", mb_per_s(kBytes, u.seconds)) + " (" + fmt("%.1f s", u.seconds) +
                  "; " + cpu_line + "); server peak RSS (VmHWM) " +
                  fmt("%.1f MiB", hwm_before / 1024.0) + " before, " +
                  fmt("%.1f MiB", hwm_after / 1024.0) + " after; VmRSS " +
                  fmt("%.1f MiB", rss_before / 1024.0) + " before, at most " +
                  fmt("%.1f MiB", rss_peak / 1024.0) + " during (sampled every 50 ms), " +
                  fmt("%.1f MiB", rss_after / 1024.0) + " after");
}

}  // namespace

const std::vector<Scenario>& file_scenarios() {
  static const std::vector<Scenario> kTable = {
      {"upload",
       "tus upload MB/s: 1 client with 256 MiB in 8 MiB PATCHes, 32 clients with 16 MiB each; "
       "local disk and S3",
       run_upload},
      {"download",
       "GET /api/v1/files/{id} MB/s of those files, 1 client and 32 at once; local disk and S3",
       run_download},
      {"thumbnails", "images/s: distinct 1600x1200 JPEGs uploaded, each finished with a thumbnail",
       run_thumbnails},
      {"bigupload", "a 2 GiB upload in one PATCH: MB/s and the server's peak RSS before and after",
       run_bigupload},
  };
  return kTable;
}

}  // namespace parley::bench
