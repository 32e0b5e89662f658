// The WebSocket gateway of API.md: hello handshake, the send/typing/read/ping frames, and the
// registry of authenticated connections by session. Events reach connections through the Hub
// (hub.h); presence hears of each ready and closed socket. Closes the sockets of a revoked
// session (4001) when auth publishes the revocation. Private to api/.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "context.h"
#include "hub.h"
#include "net/websocket.h"

namespace parley::api {

class Gateway {
 public:
  explicit Gateway(Context& ctx);
  ~Gateway();
  net::WsFactory factory();
  Hub& hub() { return hub_; }

  // Registry, used by sessions on ready/close.
  void add(const std::string& session_id, const std::shared_ptr<net::WsConnection>& c);
  void remove(const std::string& session_id, std::uint64_t conn_id);

 private:
  void close_session(const std::string& session_id);

  Context& ctx_;
  Hub hub_;
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::weak_ptr<net::WsConnection>>> by_session_;
  // Sessions revoked while this node ran, so a hello that raced its session's revocation is
  // still closed. Bounded: an access token outlives its session by at most 15 minutes.
  static constexpr std::size_t kMaxRevokedRemembered = 100'000;
  std::unordered_set<std::string> revoked_;
  std::unique_ptr<Bus::Subscription> revocations_;
  std::unique_ptr<Bus::Subscription> gaps_;
};

}  // namespace parley::api
