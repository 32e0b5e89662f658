// WebSocket sessions, Beast-free. The server owns the socket; the api layer supplies a
// WsSession per connection through a WsFactory and talks back through WsConnection.
//
// Threads: on_text/on_close run on the connection's I/O thread, one at a time, and must not
// block (hand blocking work to the worker pool). WsConnection's methods are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http.h"

namespace parley::net {

class WsConnection {
 public:
  virtual ~WsConnection() = default;
  virtual std::uint64_t id() const = 0;
  virtual const std::string& peer_ip() const = 0;
  // Queues a text frame. Frames are shared so one serialised event serves every recipient.
  // When the connection's send queue is full it is closed with 4008.
  virtual void send(std::shared_ptr<const std::string> text) = 0;
  // Sends a close frame with this code after frames already written; queued frames are dropped.
  virtual void close(int code, std::string reason) = 0;
  // The client authenticated: cancels the hello deadline (close 4001 when it passes).
  virtual void mark_ready() = 0;
  // Runs fn on the connection's I/O thread (where its WsSession lives), if still open.
  virtual void post(std::function<void()> fn) = 0;
};

// Queues the same frame on many connections (any threads): one hand-off per I/O thread instead
// of one per connection. Same rules as WsConnection::send.
void send_to_all(const std::vector<std::shared_ptr<WsConnection>>& conns,
                 const std::shared_ptr<const std::string>& text);

class WsSession {
 public:
  virtual ~WsSession() = default;
  virtual void on_text(std::string_view text) = 0;
  virtual void on_close() = 0;
};

using WsFactory = std::function<std::unique_ptr<WsSession>(std::shared_ptr<WsConnection>,
                                                           const Request& upgrade)>;

// Asked about every upgrade request before the handshake (on the I/O thread; must not block):
// nullopt admits it, a Response refuses it with that answer (a foreign Origin, too many sockets).
using WsAdmission = std::function<std::optional<Response>(const Request& upgrade)>;

// Close codes used by Parley (RFC 6455 4000-4999 are application codes).
inline constexpr int kCloseGoingAway = 1001;
inline constexpr int kCloseUnsupportedData = 1003;
inline constexpr int kCloseTooBig = 1009;
// Service restart: the server is draining; reconnect (elsewhere) with backoff.
inline constexpr int kCloseServiceRestart = 1012;
inline constexpr int kCloseTryAgainLater = 1013;
inline constexpr int kCloseUnauthorized = 4001;
inline constexpr int kCloseSlowConsumer = 4008;
inline constexpr int kCloseTooManySockets = 4009;

}  // namespace parley::net
