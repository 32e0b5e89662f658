#include "ws_wire.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

namespace parley::itest::wire {

using Deadline = std::chrono::steady_clock::time_point;

namespace {

int ms_left(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

std::string base64(const unsigned char* data, int n) {
  std::string out(static_cast<std::size_t>(4 * ((n + 2) / 3)), '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, n);
  out.resize(static_cast<std::size_t>(len));
  return out;
}

// RFC 6455 4.2.2: base64(SHA-1(key + the protocol's GUID)).
std::string expected_accept(const std::string& key) {
  std::string in = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(in.data(), in.size(), digest, &n, EVP_sha1(), nullptr);
  return base64(digest, static_cast<int>(n));
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string encode(const OutFrame& f, std::uint32_t mask_key) {
  std::string out;
  out += static_cast<char>((f.fin ? 0x80 : 0) | ((f.rsv & 7) << 4) | (f.opcode & 0x0F));
  const std::uint64_t len = f.declared_length.value_or(f.payload.size());
  const std::uint8_t mask_bit = f.masked ? 0x80 : 0;
  if (len < 126) {
    out += static_cast<char>(mask_bit | len);
  } else if (len <= 0xFFFF) {
    out += static_cast<char>(mask_bit | 126);
    out += static_cast<char>(len >> 8);
    out += static_cast<char>(len & 0xFF);
  } else {
    out += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((len >> shift) & 0xFF);
  }
  if (!f.masked) return out + f.payload;
  const unsigned char key[4] = {
      static_cast<unsigned char>(mask_key >> 24), static_cast<unsigned char>(mask_key >> 16),
      static_cast<unsigned char>(mask_key >> 8), static_cast<unsigned char>(mask_key)};
  out.append(reinterpret_cast<const char*>(key), 4);
  for (std::size_t i = 0; i < f.payload.size(); ++i)
    out += static_cast<char>(static_cast<unsigned char>(f.payload[i]) ^ key[i % 4]);
  return out;
}

ClosePayload parse_close(std::string_view payload) {
  ClosePayload out;
  if (payload.size() >= 2) {
    out.code =
        (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
    out.reason = std::string(payload.substr(2));
  }
  return out;
}

std::string close_payload(int code, std::string_view reason) {
  std::string out;
  out += static_cast<char>((code >> 8) & 0xFF);
  out += static_cast<char>(code & 0xFF);
  out += reason;
  return out;
}

WireSocket::~WireSocket() {
  if (fd_ >= 0) ::close(fd_);
}

std::unique_ptr<WireSocket> WireSocket::connect(std::uint16_t port,
                                                std::chrono::milliseconds timeout,
                                                std::string* error) {
  auto fail = [&](const std::string& why) -> std::unique_ptr<WireSocket> {
    if (error) *error = why + ": " + std::strerror(errno);
    return nullptr;
  };
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket");
  std::unique_ptr<WireSocket> s(new WireSocket(fd));
  int one = 1;
  // Each write goes out as its own segment, so "chunked" frames really arrive in pieces.
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) return fail("connect");
    pollfd p{fd, POLLOUT, 0};
    int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n <= 0) {
      errno = n == 0 ? ETIMEDOUT : errno;
      return fail("connect");
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      errno = err;
      return fail("connect");
    }
  }
  return s;
}

std::string WireSocket::handshake(std::chrono::milliseconds timeout, const std::string& path) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  unsigned char nonce[16];
  for (auto& b : nonce) b = static_cast<unsigned char>(rng());
  const std::string key = base64(nonce, 16);
  const std::string request = "GET " + path +
                              " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: " +
                              key + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (!write_bytes(request)) return "writing the upgrade request failed";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t end;
  while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
    if (!wait_readable(deadline))
      return "no upgrade answer (" + std::string(eof_ ? "closed" : "timed out") + ")";
    if (!pump() && in_.find("\r\n\r\n") == std::string::npos) return "closed during the upgrade";
  }
  const std::string head = in_.substr(0, end + 4);
  in_.erase(0, end + 4);  // frames that came with the 101 stay for read_frame
  const std::string status_line = head.substr(0, head.find("\r\n"));
  if (status_line.rfind("HTTP/1.1 101", 0) != 0) return "upgrade refused: " + status_line;
  const std::string lowered = lower(head);
  auto at = lowered.find("\r\nsec-websocket-accept:");
  if (at == std::string::npos) return "101 without Sec-WebSocket-Accept";
  auto value_start = head.find_first_not_of(' ', at + 23);
  auto value = head.substr(value_start, head.find("\r\n", value_start) - value_start);
  while (!value.empty() && value.back() == ' ') value.pop_back();
  if (value != expected_accept(key)) return "wrong Sec-WebSocket-Accept: " + value;
  return {};
}

bool WireSocket::write_bytes(std::string_view bytes, std::size_t chunk) {
  if (chunk == 0) chunk = bytes.size();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!bytes.empty()) {
    auto piece = bytes.substr(0, chunk);
    while (!piece.empty()) {
      ssize_t n = ::send(fd_, piece.data(), piece.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, ms_left(deadline)) <= 0) return false;
        continue;
      }
      if (n <= 0) return false;
      piece.remove_prefix(static_cast<std::size_t>(n));
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  return true;
}

bool WireSocket::wait_readable(Deadline deadline) {
  if (eof_) return false;
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int n = ::poll(&p, 1, ms_left(deadline));
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

bool WireSocket::pump() {
  if (eof_) return false;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      in_.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    eof_ = true;  // 0: orderly end; < 0: reset or other failure
    return false;
  }
}

std::optional<InFrame> WireSocket::pop_frame() {
  if (!violation_.empty() || in_.size() < 2) return std::nullopt;
  const auto b0 = static_cast<unsigned char>(in_[0]);
  const auto b1 = static_cast<unsigned char>(in_[1]);
  if (b0 & 0x70) {
    violation_ = "server frame with reserved bits set";
    return std::nullopt;
  }
  if (b1 & 0x80) {
    violation_ = "masked server frame";
    return std::nullopt;
  }
  std::size_t header = 2;
  std::uint64_t len = b1 & 0x7F;
  if (len == 126) {
    if (in_.size() < 4) return std::nullopt;
    len = (static_cast<unsigned char>(in_[2]) << 8) | static_cast<unsigned char>(in_[3]);
    header = 4;
  } else if (len == 127) {
    if (in_.size() < 10) return std::nullopt;
    len = 0;
    for (int i = 2; i < 10; ++i) len = (len << 8) | static_cast<unsigned char>(in_[i]);
    header = 10;
  }
  if (in_.size() < header + len) return std::nullopt;
  InFrame f;
  f.fin = (b0 & 0x80) != 0;
  f.opcode = b0 & 0x0F;
  f.payload = in_.substr(header, len);
  in_.erase(0, header + len);
  return f;
}

std::optional<InFrame> WireSocket::read_frame(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto f = pop_frame()) return f;
    if (!violation_.empty() || !wait_readable(deadline)) return std::nullopt;
    pump();
  }
}

std::optional<InFrame> WireSocket::read_until(std::uint8_t opcode,
                                              std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto f = read_frame(std::chrono::milliseconds(ms_left(deadline)));
    if (!f || f->opcode == opcode) return f;
  }
}

bool WireSocket::wait_eof(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!eof_) {
    if (!wait_readable(deadline)) return eof_;
    pump();
    in_.clear();
  }
  return true;
}

void WireSocket::abort() {
  if (fd_ < 0) return;
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd_);
  fd_ = -1;
  eof_ = true;
}

}  // namespace parley::itest::wire
