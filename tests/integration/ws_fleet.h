// A fleet of WebSocket clients that stay subscribed to one conversation and keep a complete
// copy of its seqs, as real devices do: on every (re)connection they say hello and fetch what
// they missed with after_seq; a dropped one reconnects after a jittered exponential backoff
// (full jitter: U(0, min(cap, base * 2^n))). Used by the reconnect storm and the soak.
//
// The clients are split over driver threads; each thread owns its clients and reads them with
// poll() over the raw client of ws_wire.h, so thousands fit in a few threads. Only
// FleetClient::contiguous and ::fetched may be read while the drivers run.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "ws_wire.h"

namespace parley::itest {

// Raises the soft limit on open files to the hard one (a fleet is one fd per client here, and
// one per client in a server started afterwards, which inherits the limit); the new limit.
long raise_fd_limit();

inline constexpr auto kFleetBackoffBase = std::chrono::milliseconds(250);
inline constexpr auto kFleetBackoffCap = std::chrono::seconds(5);

// One simulated device.
struct FleetClient {
  int account = 0;  // index into the fleet's accounts
  std::unique_ptr<wire::WireSocket> ws;
  int attempts = 0;  // failed tries since the last success
  Clock::time_point next_attempt{};
  std::set<std::int64_t> seqs;              // every seq seen, live or fetched
  std::atomic<std::int64_t> contiguous{0};  // all of 1..contiguous seen
  std::atomic<int> fetched{0};              // seqs first seen in an after_seq fetch
  int readies = 0;  // ready frames: the first connection, then each reconnection

  void saw(std::int64_t seq);
};

class Fleet {
 public:
  // n clients over `accounts` (round robin), subscribed to conv, on the server at *port (read
  // at every connection, so a restarted server on another port is found).
  Fleet(int n, std::vector<Account> accounts, std::string conv, std::atomic<std::uint16_t>& port,
        int threads);
  ~Fleet();  // stops the drivers

  void start();
  // Stops and joins the drivers; the clients may be read freely afterwards.
  void stop();
  // Every `interval`, each driver drops one of its connections (round robin), as a flaky
  // network would; 0 (the default) never. Set before start().
  void set_churn(std::chrono::milliseconds interval) { churn_ = interval; }
  // Every driver resets all its connections at once (RST, no closing handshake), as a network
  // that went away would; they reconnect after their backoff.
  void drop_all() { ++drop_generation_; }

  // Waits until every client has all of 1..seq; false at the deadline.
  bool wait_all_have(std::int64_t seq, Clock::time_point deadline) const;
  long lagging(std::int64_t seq) const;

  // The accounts' current tokens (thread-safe): a long run refreshes them, as real clients do
  // before the access token expires, and later connections and fetches use the new ones.
  Account account(int i) const;
  void set_account(int i, Account a);

  std::vector<FleetClient>& clients() { return clients_; }
  int threads() const { return threads_; }
  // The first protocol problem any client saw ("" if none).
  std::string error() const;

 private:
  class Driver;
  std::vector<FleetClient> clients_;
  mutable std::mutex accounts_mu_;
  std::vector<Account> accounts_;
  std::string conv_;
  std::atomic<std::uint16_t>& port_;
  int threads_;
  std::chrono::milliseconds churn_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> drop_generation_{0};
  std::vector<std::unique_ptr<Driver>> drivers_;
  std::vector<std::thread> pool_;
};

}  // namespace parley::itest
