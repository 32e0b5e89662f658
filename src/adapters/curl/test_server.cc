#include "test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <stdexcept>

namespace parley::curl::testing {
namespace {

// Polls in short slices so that a stopping server is never stuck waiting for a peer.
constexpr int kSliceMs = 20;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

}  // namespace

bool TestRequest::has_header(const std::string& lower_name) const {
  for (const auto& [n, v] : headers)
    if (n == lower_name) return true;
  return false;
}

std::string TestRequest::header(const std::string& lower_name) const {
  for (const auto& [n, v] : headers)
    if (n == lower_name) return v;
  return "";
}

std::string http_response(int status, const std::string& content_type, const std::string& body,
                          const std::string& extra_headers) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " X\r\nConnection: close\r\n";
  if (!content_type.empty()) r += "Content-Type: " + content_type + "\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n";
  return r + body;
}

std::string redirect_to(int status, const std::string& location, const std::string& extra_headers) {
  return http_response(status, "", "", "Location: " + location + "\r\n" + extra_headers);
}

TestHttpServer::TestHttpServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("socket failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(listen_fd_, 64) != 0)
    throw std::runtime_error("bind/listen failed");
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { run(); });
}

TestHttpServer::~TestHttpServer() {
  stop_ = true;
  thread_.join();
  close(listen_fd_);
}

std::vector<TestRequest> TestHttpServer::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

void TestHttpServer::run() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, kSliceMs) <= 0) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    serve(fd);
    close(fd);
  }
}

void TestHttpServer::serve(int fd) {
  std::string in;
  char buf[4096];
  std::size_t head_end = std::string::npos, need = 0;
  while (!stop_) {
    if (head_end != std::string::npos && in.size() >= head_end + 4 + need) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, kSliceMs) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    in.append(buf, static_cast<std::size_t>(n));
    if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
      auto cl = lower(in.substr(0, head_end)).find("\r\ncontent-length:");
      if (cl != std::string::npos) need = std::stoul(in.substr(cl + 17));
    }
  }
  if (stop_) return;

  TestRequest req;
  std::size_t pos = in.find("\r\n");
  std::string line = in.substr(0, pos);
  auto sp1 = line.find(' '), sp2 = line.rfind(' ');
  req.method = line.substr(0, sp1);
  req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  while (pos < head_end) {
    auto next = in.find("\r\n", pos + 2);
    std::string h = in.substr(pos + 2, next - pos - 2);
    auto colon = h.find(':');
    if (colon != std::string::npos)
      req.headers.emplace_back(lower(h.substr(0, colon)), trim(h.substr(colon + 1)));
    pos = next;
  }
  req.body = in.substr(head_end + 4, need);
  {
    std::lock_guard lock(mutex_);
    requests_.push_back(req);
  }

  std::string out = handler_(req);
  if (out.empty()) {
    while (!stop_) poll(nullptr, 0, kSliceMs);
    return;
  }
  for (std::size_t sent = 0; sent < out.size() && !stop_;) {
    ssize_t n = send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<std::size_t>(n);
  }
}

}  // namespace parley::curl::testing
