#include "adapters/clamav/clamd_scanner.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

namespace parley::clamav {
namespace {

using Clock = std::chrono::steady_clock;

// clamd's answers are one short line; anything longer is not clamd.
constexpr std::size_t kMaxReplyBytes = 4096;
constexpr std::size_t kMaxChunkBytes = 64u << 20;
constexpr std::chrono::milliseconds kLateReplyWait{1'000};

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

Result<Address> parse_address(const std::string& text) {
  Address a;
  if (!text.empty() && text.front() == '/') {
    sockaddr_un un{};
    if (text.size() >= sizeof(un.sun_path))
      return fail(Errc::invalid_argument, "clamd socket path too long: " + text, "address");
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, text.data(), text.size());
    std::memcpy(&a.storage, &un, sizeof(un));
    a.length = sizeof(un);
    return a;
  }
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size())
    return fail(Errc::invalid_argument,
                "clamd address is neither /path/to/socket nor HOST:PORT: " + text, "address");
  std::string host = text.substr(0, colon);
  const std::string port_text = text.substr(colon + 1);
  int port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9' || port > 65535) {
      port = -1;
      break;
    }
    port = port * 10 + (c - '0');
  }
  if (port <= 0 || port > 65535)
    return fail(Errc::invalid_argument, "bad clamd port: " + text, "address");
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &in6.sin6_addr) == 1) {
      std::memcpy(&a.storage, &in6, sizeof(in6));
      a.length = sizeof(in6);
      return a;
    }
  } else {
    sockaddr_in in4{};
    in4.sin_family = AF_INET;
    in4.sin_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &in4.sin_addr) == 1) {
      std::memcpy(&a.storage, &in4, sizeof(in4));
      a.length = sizeof(in4);
      return a;
    }
  }
  return fail(Errc::invalid_argument, "clamd host must be a numeric address: " + text, "address");
}

tl::unexpected<Error> unavailable(const std::string& address, const std::string& what) {
  return fail(Errc::unavailable, "clamd at " + address + ": " + what);
}

std::string errno_text(int e) { return std::strerror(e); }

// One INSTREAM or PING exchange: a non-blocking socket whose every wait has a deadline.
class Connection {
 public:
  explicit Connection(const ClamdOptions& options) : options_(options) {}
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Result<void> open() {
    auto addr = parse_address(options_.address);
    if (!addr) return fail(addr.error());
    fd_ = ::socket(addr->storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return unavailable(options_.address, "socket: " + errno_text(errno));
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr->storage), addr->length) == 0)
      return ok();
    // A Unix socket whose backlog is full answers EAGAIN at once: clamd is overloaded.
    if (errno != EINPROGRESS) return unavailable(options_.address, "connect: " + errno_text(errno));
    if (!wait(POLLOUT, Clock::now() + options_.connect_timeout))
      return unavailable(options_.address, "connect timed out");
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return unavailable(options_.address, "connect: " + errno_text(err));
    return ok();
  }

  // False when clamd stopped reading: it closed the connection (it does so after answering an
  // error such as the size limit) or the deadline passed.
  bool send_all(std::string_view bytes) {
    const auto deadline = Clock::now() + options_.io_timeout;
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait(POLLOUT, deadline)) return false;
      } else {
        return false;
      }
    }
    return true;
  }

  // clamd's answer to a z-command: text up to its NUL. Empty when it closed or timed out
  // without answering.
  std::string read_reply(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::string reply;
    char buf[512];
    while (reply.size() < kMaxReplyBytes) {
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n > 0) {
        reply.append(buf, static_cast<std::size_t>(n));
        if (auto nul = reply.find('\0'); nul != std::string::npos) {
          reply.resize(nul);
          break;
        }
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait(POLLIN, deadline)) break;
      } else {
        break;  // closed (or reset): what arrived is the answer
      }
    }
    while (!reply.empty() && (reply.back() == '\n' || reply.back() == ' ')) reply.pop_back();
    return reply;
  }

 private:
  bool wait(short events, Clock::time_point deadline) {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd p{fd_, events, 0};
      const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60'000)));
      if (r > 0) return true;  // ready, or an error the next send/recv reports
      if (r < 0 && errno != EINTR) return false;
    }
  }

  const ClamdOptions& options_;
  int fd_ = -1;
};

std::string be32(std::uint32_t n) {
  const char b[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8), static_cast<char>(n)};
  return std::string(b, 4);
}

Result<files::ScanVerdict> parse_verdict(const std::string& address, const std::string& reply) {
  constexpr std::string_view kPrefix = "stream: ";
  constexpr std::string_view kFound = " FOUND";
  std::string_view r = reply;
  if (r.starts_with(kPrefix)) r.remove_prefix(kPrefix.size());
  if (r == "OK") return files::ScanVerdict{};
  if (r.ends_with(kFound) && r.size() > kFound.size()) {
    std::string name(r.substr(0, r.size() - kFound.size()));
    // With AlertExceedsMax clamd reports a file over its scan limits as a detection: the file
    // was not scanned in full, which is neither clean nor infected.
    if (name.starts_with("Heuristics.Limits.Exceeded"))
      return unavailable(address, "file over clamd's scan limits (" + name + ")");
    return files::ScanVerdict{true, std::move(name)};
  }
  if (reply.empty()) return unavailable(address, "no answer (closed, or timed out)");
  return unavailable(address, "answered \"" + reply + "\"");
}

}  // namespace

Result<ClamdScanner> ClamdScanner::create(ClamdOptions options) {
  if (auto a = parse_address(options.address); !a) return fail(a.error());
  if (options.chunk_bytes == 0 || options.chunk_bytes > kMaxChunkBytes)
    return fail(Errc::invalid_argument, "clamd chunk size must be 1 byte to 64 MiB", "chunk_bytes");
  return ClamdScanner(std::move(options));
}

Result<files::ScanVerdict> ClamdScanner::scan(files::BlobStore& blobs, const std::string& key,
                                              std::uint64_t size) {
  Connection conn(options_);
  if (auto r = conn.open(); !r) return fail(r.error());
  // If clamd stops reading mid-stream it has usually said why (the size limit) before closing,
  // so the answer is already here; a stalled clamd gets no second full timeout.
  auto broken = [&]() -> tl::unexpected<Error> {
    const std::string reply = conn.read_reply(kLateReplyWait);
    return unavailable(options_.address,
                       reply.empty() ? "closed the stream" : "answered \"" + reply + "\"");
  };
  if (!conn.send_all(std::string_view("zINSTREAM\0", 10))) return broken();
  std::uint64_t offset = 0;
  while (offset < size) {
    const auto want =
        static_cast<std::size_t>(std::min<std::uint64_t>(options_.chunk_bytes, size - offset));
    auto chunk = blobs.read(key, offset, want);
    if (!chunk) return fail(chunk.error());
    if (chunk->empty() || chunk->size() > want)
      return fail(Errc::internal,
                  "blob " + key + " is not " + std::to_string(size) + " bytes long as recorded");
    if (!conn.send_all(be32(static_cast<std::uint32_t>(chunk->size()))) || !conn.send_all(*chunk))
      return broken();
    offset += chunk->size();
  }
  if (!conn.send_all(be32(0))) return broken();
  return parse_verdict(options_.address, conn.read_reply(options_.io_timeout));
}

Result<void> ClamdScanner::ping() {
  Connection conn(options_);
  if (auto r = conn.open(); !r) return r;
  if (!conn.send_all(std::string_view("zPING\0", 6)))
    return unavailable(options_.address, "closed on PING");
  const std::string reply = conn.read_reply(options_.io_timeout);
  if (reply != "PONG") return unavailable(options_.address, "answered PING with \"" + reply + "\"");
  return ok();
}

}  // namespace parley::clamav
