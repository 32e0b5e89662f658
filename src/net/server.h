// Server: HTTP/1.1 and WebSocket on Asio + Beast with C++20 coroutines.
//
// One io_context per I/O thread; a connection lives on one thread for its life. Handlers that
// may block run on the WorkerPool and the connection resumes on its own thread afterwards.
// Limits: header bytes (431), body bytes (413, from Content-Length before the body is read),
// read and idle timeouts, open connections (new ones are closed at once past max_connections),
// WebSocket frame size (close 1009) and send queue in frames and bytes (close 4008).
// Graceful shutdown (SIGTERM/SIGINT or stop()) in two steps. Drain: on_drain runs (the API then
// answers readiness with 503), open WebSockets are closed with 1012 (service restart: reconnect
// elsewhere), and for drain_delay the listener still accepts, so a load balancer can see the
// node go unready, while every answer carries Connection: close. Then stop: the listener closes,
// idle keep-alives close, in-flight requests finish within shutdown_grace.
// Several servers may run in one process (the metrics listener); only one handles signals.
//
// start() and run() are called from the main thread; stop() from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/worker_pool.h"
#include "net/router.h"
#include "net/websocket.h"

namespace parley::net {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  unsigned io_threads = 1;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 1024 * 1024;
  std::chrono::milliseconds read_timeout{10'000};  // a request must arrive whole within this
  std::chrono::milliseconds idle_timeout{60'000};  // keep-alive connection with no request
  std::string websocket_path = "/api/v1/ws";
  std::size_t ws_max_frame_bytes = 64 * 1024;
  std::chrono::milliseconds ws_hello_timeout{10'000};
  std::chrono::milliseconds ws_heartbeat{30'000};
  std::size_t ws_send_queue_frames = 1024;
  // Bytes queued and not yet written: one slow reader cannot pin more than this.
  std::size_t ws_send_queue_bytes = 1024 * 1024;
  // HTTP and WebSocket connections open at once; past it a new connection is closed unanswered.
  std::size_t max_connections = 50'000;
  // Set on every response that does not set the header itself (nosniff, no-store).
  std::vector<Header> default_headers;
  std::chrono::milliseconds shutdown_grace{10'000};
  // How long the listener stays open after the drain starts (see above); 0: closes at once.
  std::chrono::milliseconds drain_delay{0};
  // Called once, on the thread that called run(), when the drain starts.
  std::function<void()> on_drain;
  // Whether run() returns on SIGTERM/SIGINT. One server per process should; others are
  // stopped by their owner (stop() or destruction).
  bool handle_signals = true;
  bool access_log = true;
  // The real client address for the access log (the api layer's view, through trusted
  // proxies); unset: the TCP peer.
  std::function<std::string(const Request&)> client_ip;
};

class Server {
 public:
  Server(ServerOptions options, const Router& router, WorkerPool& pool, WsFactory ws_factory,
         WsAdmission ws_admission = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens; the I/O threads start serving. Fails with a clear message.
  Result<void> start();
  std::uint16_t port() const;
  // Blocks until SIGTERM/SIGINT (when handle_signals) or stop(), then drains and shuts down
  // gracefully before returning.
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::net
