// Hub: this node's map of who is connected and which conversations they follow, and the fan-out
// of messaging events (modules/messaging/events.h) from the bus to WebSocket connections.
//
// Each event is wrapped into its client frame once and the same immutable buffer is queued on
// every recipient connection (WsConnection::send); a connection whose queue overflows is closed
// by net/ with 4008, never allowed to grow. Membership routes update the map under the same lock
// that fan-out reads, so a removed member gets member.left and nothing after it. Events of one
// conversation arrive in order from the bus (the messaging sequencer publishes them one at a
// time) and are queued before the next one is looked at, which keeps them in seq order per
// connection. With several nodes, message.created events of one conversation reach a node from
// each sender's node separately; the hub puts them back in seq order, holding one that arrives
// early for at most kHoldMs while the missing ones come (a gap that never fills, from a node
// that died between commit and publish, is skipped then: clients catch up from history).
// presence.changed is batched per connection for one sweep tick (kPresenceBatchMs): when many
// members of a channel connect at once, each connection gets one frame per tick (a
// presence.batch when it holds several users' changes) rather than one per member, and a user
// who changes twice in a tick is sent once, with the latest state.
// Private to api/. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/bus.h"
#include "modules/messaging/events.h"
#include "modules/messaging/messaging.h"
#include "net/websocket.h"

namespace parley::api {

class Hub {
 public:
  Hub(Bus& bus, messaging::MessagingService& messaging);
  ~Hub();

  // Registers an authenticated connection, which receives nothing until activate(). On the
  // user's first connection here, loads the conversations they follow (blocking: call from a
  // worker thread).
  void attach(const std::string& user_id, const std::string& session_id,
              std::shared_ptr<net::WsConnection> conn);
  // Starts delivering to the connection; call right after queueing its ready frame, so no event
  // precedes ready. What was published in between is history the client fetches after ready.
  void activate(std::uint64_t conn_id);
  // Removes the connection; its user, or nullopt when it was not attached (or already removed).
  std::optional<std::string> detach(std::uint64_t conn_id);

  std::size_t connection_count() const;

  // Reloads the conversations each connected user follows: after a bus gap, membership events
  // from other nodes may have been missed. Blocking (a read per user): call on a worker.
  void resync();

  static constexpr int kHoldMs = 200;
  static constexpr int kPresenceBatchMs = kHoldMs / 4;  // the sweep tick

 private:
  using Instant = std::chrono::steady_clock::time_point;
  // Per conversation: the highest seq handed out and what arrived ahead of a gap.
  struct Order {
    std::mutex mu;
    std::int64_t last = 0;
    std::map<std::int64_t, std::pair<messaging::Event, Instant>> held;
    Instant touched;
  };
  struct Link {
    std::shared_ptr<net::WsConnection> conn;
    std::string session_id;
    bool active = false;
  };
  struct UserEntry {
    std::vector<Link> links;
    std::unordered_set<std::string> conversations;
    bool loading = false;
    std::uint64_t load_id = 0;  // which load is running: only that one finishes it
    // Membership changes that arrived while the conversation list was loading.
    std::vector<std::pair<bool, std::string>> pending;  // (joined, conversation id)
  };

  void deliver(std::string_view payload);
  // message.created: in seq order per conversation (see above), then fan_out.
  void deliver_in_order(messaging::Event e);
  void fan_out(const messaging::Event& e);
  void sweep_loop();
  // Queues a presence.changed for its recipients until the next sweep tick.
  void hold_presence(const messaging::Event& e,
                     std::vector<std::shared_ptr<net::WsConnection>>& recipients);
  // Sends the held presence: one frame per connection, shared by the connections whose
  // updates are the same.
  void flush_presence();
  // Marks the user's conversation list as loading; returns the load's id.
  std::uint64_t begin_load(UserEntry& u);
  // Applies a freshly read list (with replace, follows not in it are dropped), then the
  // membership events that arrived while it was read, unless another load took over.
  void finish_load(const std::string& user_id, std::uint64_t load_id,
                   const Result<std::vector<std::string>>& ids, bool replace);
  void follow(const std::string& user_id, UserEntry& u, const std::string& conversation_id);
  void unfollow(const std::string& user_id, UserEntry& u, const std::string& conversation_id);
  void collect_conversation(const std::string& conversation_id, const std::string& except_user,
                            std::vector<std::shared_ptr<net::WsConnection>>& out) const;

  messaging::MessagingService& messaging_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, UserEntry> users_;
  std::unordered_map<std::string, std::unordered_set<std::string>> followers_;  // conv -> users
  std::unordered_map<std::uint64_t, std::string> user_of_conn_;
  std::uint64_t next_load_id_ = 0;
  std::mutex order_mu_;  // guards order_ (each Order has its own lock)
  std::unordered_map<std::string, std::shared_ptr<Order>> order_;
  // Presence held for the next tick: the updates (subject user, data), and per connection the
  // indexes of the updates it is to get, in the order they came.
  struct PresenceHeld {
    std::shared_ptr<net::WsConnection> conn;
    std::vector<std::uint32_t> updates;
  };
  std::mutex presence_mu_;
  std::vector<std::pair<std::string, std::string>> presence_updates_;
  std::unordered_map<std::uint64_t, PresenceHeld> presence_held_;
  std::mutex sweep_mu_;
  std::condition_variable sweep_cv_;
  bool stopping_ = false;
  std::thread sweeper_;
  std::shared_ptr<void> users_reading_;  // parley_connected_users at scrape
  std::unique_ptr<Bus::Subscription> subscription_;  // last: unsubscribed first
};

}  // namespace parley::api
