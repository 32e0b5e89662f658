// Blocking HTTP and WebSocket clients over loopback or a LAN, for tests, tools and benchmarks.
// Beast-free header. Each client owns one connection and is used from one thread at a time.
// Every call has a deadline; failures come back as Result errors (Errc::unavailable).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "net/http.h"

namespace parley::net {

struct ClientResponse {
  int status = 0;
  std::vector<Header> headers;
  std::string body;
  std::string_view header(std::string_view name) const;
};

class HttpClient {
 public:
  HttpClient(std::string host, std::uint16_t port,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpClient();
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;

  // One request on the kept-alive connection (reconnecting when the server closed it).
  Result<ClientResponse> request(std::string_view method, std::string_view target,
                                 std::string_view body = {},
                                 const std::vector<Header>& headers = {});
  // Writes raw bytes and reads whatever comes back until the server closes or the deadline.
  Result<std::string> raw_exchange(std::string_view bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class WsClient {
 public:
  ~WsClient();
  static Result<std::unique_ptr<WsClient>> connect(const std::string& host, std::uint16_t port,
                                                   const std::string& path = "/api/v1/ws");
  Result<void> send_text(std::string_view text);
  Result<void> send_binary(std::string_view data);
  // The next text frame; Errc::unavailable on timeout or when closed (see close_code()).
  Result<std::string> read_text(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // The close code the server sent, once the connection is closed.
  std::optional<int> close_code() const;
  void close(int code = 1000);

 private:
  WsClient();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::net
