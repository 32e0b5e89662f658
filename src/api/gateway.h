// The WebSocket gateway of API.md: admission of upgrades (Origin, sockets per address), the hello
// handshake, the send/typing/read/ping frames, and the registry of authenticated connections by
// session and by user. Events reach connections through the Hub (hub.h); presence hears of each
// ready and closed socket. Closes the sockets of a revoked session (4001) when auth publishes the
// revocation, and of a session whose refresh token lapsed (4001) when it lapses; a user's oldest
// socket past the per-user cap is closed with 4009. Private to api/.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <thread>
#include <string>
#include <atomic>
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
  net::WsAdmission admission();
  Hub& hub() { return hub_; }

  // Registry, used by sessions on ready/close. expires_at: when the session lapses.
  void add(const auth::Principal& p, Millis expires_at,
           const std::shared_ptr<net::WsConnection>& c);
  void remove(const auth::Principal& p, std::uint64_t conn_id);
  // Sockets per client address: counted from the upgrade to the close.
  void address_opened(const std::string& address);
  void address_closed(const std::string& address);
  // Hellos being checked: false when pending_hellos are already in flight.
  bool begin_hello();
  void end_hello();

 private:
  std::optional<net::Response> admit(const net::Request& upgrade);
  bool origin_allowed(const net::Request& upgrade) const;
  void close_session(const std::string& session_id, const char* why);
  // Every socket of the user here (auth::kUserDisconnectTopic).
  void close_user(const std::string& user_id, const char* why);
  void watch_expiries();
  // The call message of a finished call (calls::kFinishedTopic), through the one send path.
  void post_call_message(std::string_view payload);
  // A finished recording (calls::kRecordedTopic): rendered, stored and posted, on recordings_.
  void post_recording(std::string_view payload);

  Context& ctx_;
  Hub hub_;
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<std::weak_ptr<net::WsConnection>>> by_session_;
  // Per user, oldest first, for the per-user cap.
  std::unordered_map<std::string, std::deque<std::weak_ptr<net::WsConnection>>> by_user_;
  std::unordered_map<std::string, int> by_address_;
  std::atomic<int> pending_hellos_{0};
  // Sessions with sockets here, soonest lapse first; rechecked with auth when due (a refresh
  // moves the lapse on). Entries of sessions without sockets are dropped when due.
  using Expiry = std::pair<Millis, std::string>;
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<>> expiries_;
  std::condition_variable expiry_cv_;
  bool stopping_ = false;
  std::thread expiry_watcher_;
  // Sessions revoked while this node ran, so a hello that raced its session's revocation is
  // still closed. Bounded: an access token outlives its session by at most 15 minutes.
  static constexpr std::size_t kMaxRevokedRemembered = 100'000;
  std::unordered_set<std::string> revoked_;
  std::unique_ptr<Bus::Subscription> revocations_;
  std::unique_ptr<Bus::Subscription> disconnects_;
  std::unique_ptr<Bus::Subscription> gaps_;
  std::unique_ptr<Bus::Subscription> finished_calls_;
  WorkerPool recordings_{"recordings", 1, 64};
  std::unique_ptr<Bus::Subscription> recordings_sub_;  // after recordings_: unsubscribed first
};

}  // namespace parley::api
