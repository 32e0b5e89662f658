// A tiny blocking HTTP/1.1 server on loopback for the outbound tests: one connection at a time,
// one request per connection, answers written by the test. It exists so the tests can do what a
// real server does not (never answer, send a body without end, record the request's headers).
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace parley::curl::testing {

struct TestRequest {
  std::string method, target, body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  bool has_header(const std::string& lower_name) const;
  std::string header(const std::string& lower_name) const;
};

// The raw bytes to answer with; an empty string holds the connection open, unanswered, until
// the server stops.
using Handler = std::function<std::string(const TestRequest&)>;

std::string http_response(int status, const std::string& content_type, const std::string& body,
                          const std::string& extra_headers = "");
std::string redirect_to(int status, const std::string& location,
                        const std::string& extra_headers = "");

class TestHttpServer {
 public:
  // Listens on a free port of 127.0.0.1.
  explicit TestHttpServer(Handler handler);
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  int port() const { return port_; }
  std::vector<TestRequest> requests() const;

 private:
  void run();
  void serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<TestRequest> requests_;
  std::thread thread_;
};

}  // namespace parley::curl::testing
