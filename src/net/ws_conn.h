// The server's WebSocket connections after the handshake: Parley's own framing (ws_frame.h) on
// a bare socket. Private to net: server.cc does the HTTP upgrade and hands the socket over.
//
// Each I/O thread owns its connections and keeps for them what they would otherwise each keep:
// one read buffer, the scratch of a gathered write, and one timer that checks hello deadlines,
// heartbeats and closing handshakes for all of them. An idle connection is a socket with one
// pending readiness wait and a small struct.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/server.h"
#include "net/websocket.h"

namespace prometheus {
class Gauge;
}

namespace parley::net {

struct WsThread;

class WsHost {
 public:
  // One WsThread per context, in the same order (a connection's thread is its context's index).
  WsHost(const ServerOptions& opts, WsFactory factory, const std::atomic<bool>& draining,
         prometheus::Gauge& open_gauge,
         const std::vector<std::unique_ptr<boost::asio::io_context>>& contexts);
  ~WsHost();
  WsHost(const WsHost&) = delete;
  WsHost& operator=(const WsHost&) = delete;

  // Takes over a socket whose upgrade was answered with 101, on the thread of the context it
  // belongs to (context `thread`). early_bytes: frames that came before the 101 went out.
  void adopt(std::size_t thread, boost::asio::ip::tcp::socket socket, std::uint64_t id,
             std::string peer, const Request& upgrade, std::string early_bytes);
  // From any thread: every open WebSocket is closed with this code (the drain).
  void close_all(int code, const std::string& reason);
  // Open WebSockets, all threads.
  int open() const { return open_.load(std::memory_order_relaxed); }

 private:
  friend class WsConn;
  friend struct WsThread;
  const ServerOptions& opts_;
  WsFactory factory_;
  const std::atomic<bool>& draining_;
  prometheus::Gauge& open_gauge_;
  std::atomic<int> open_{0};
  std::vector<std::unique_ptr<WsThread>> threads_;
  std::shared_ptr<void> counts_reading_;  // reads threads_' counts at /metrics scrapes
};

}  // namespace parley::net
