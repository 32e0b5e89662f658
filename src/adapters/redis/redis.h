// Redis adapters: what the nodes of a scaled-out deployment share through Redis.
//
// - RedisBus (a core Bus): events between nodes over Redis pub/sub. Local subscribers get a
//   node's own events synchronously, on the publishing thread, exactly as with the in-process
//   bus; other nodes get them through Redis, on the bus's subscriber thread. Each published frame
//   carries a random token of this bus instance, and a node drops the echoes of its own frames
//   (docs/decisions.md, "Redis"). Events from one publisher reach every node in publish order.
// - A RateLimiter whose token buckets live in Redis (a Lua script, one key per bucket, with a
//   TTL), so every node draws from the same buckets.
// - A PresenceStore: who has sockets open on any node, chosen and shown status.
//
// Redis carries notifications and counters, never the only copy of anything: messages are
// acknowledged after the database commit, and clients catch up from history after a missed
// event. So neither adapter lets a Redis outage block or fail its callers: the bus queues a
// bounded number of frames and drops beyond that (counted, logged), reconnects with backoff and
// resubscribes by itself; the rate limiter falls back to per-node in-memory buckets while Redis
// is unreachable and goes back to Redis when it answers again.
//
// URLs: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (port 6379 and db 0 by default; HOST may be
// an IPv6 address in brackets). Pub/sub ignores DB, so nodes of different deployments sharing
// one Redis must use different prefixes (RedisBusOptions::channel_prefix).
//
// The factories connect once to check the URL (an unreachable Redis at start-up is a start-up
// error, `unavailable`; a bad URL or node id is `invalid_argument`). Everything here is
// thread-safe. Destroy every Subscription before its bus.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/bus.h"
#include "core/clock.h"
#include "core/result.h"
#include "modules/presence/store.h"
#include "modules/ratelimit/rate_limiter.h"

namespace parley::redis {

struct Endpoint {
  std::string host;
  int port = 6379;
  std::string user;      // Redis 6 ACL user; empty: the default user
  std::string password;  // empty: no AUTH
  int db = 0;
};

// invalid_argument for anything but the form above.
Result<Endpoint> parse_url(std::string_view url);
// The endpoint for logs and errors: redis://HOST:PORT/DB, never the password.
std::string describe(const Endpoint& e);

// Connects (with AUTH and SELECT) and sends PING, each step bounded by timeout_ms: ok when
// Redis answers PONG. For readiness checks; blocks; unavailable with the cause otherwise.
Result<void> ping(const std::string& url, Millis timeout_ms);

struct BusOptions {
  std::string channel_prefix = "parley:bus:";  // Redis channel = prefix + topic
  std::size_t max_queued = 10'000;             // frames waiting for Redis; beyond: dropped
  std::size_t max_queued_bytes = 64u << 20;
  Millis max_queue_age_ms = 10'000;  // frames older than this when Redis is back are dropped
  Millis connect_timeout_ms = 1'000;
  Millis io_timeout_ms = 2'000;      // a command or PING unanswered this long: reconnect
  Millis ping_interval_ms = 10'000;  // subscriber connection checked when silent this long
  Millis backoff_initial_ms = 100;   // reconnect delays double up to backoff_max_ms
  Millis backoff_max_ms = 5'000;
  Millis subscribe_wait_ms = 2'000;  // subscribe() waits this long at most for Redis's ack
};

// After its subscriber connection was lost and made again, a RedisBus delivers an empty event
// on kBusGapTopic (core/bus.h) to its local subscribers, never to other nodes.

class RedisBus : public Bus {
 public:
  struct Stats {
    std::uint64_t published = 0;   // frames Redis accepted
    std::uint64_t dropped = 0;     // frames given up (queue full, too old, connection lost)
    std::uint64_t received = 0;    // frames from other nodes handed to subscribers
    std::uint64_t echoes = 0;      // own frames coming back, ignored
    std::uint64_t reconnects = 0;  // successful connections after the first, both links
    bool subscriber_connected = false;
    bool publisher_connected = false;
  };

  // Every Subscription this bus handed out must be destroyed before the bus. A Subscription's
  // destructor waits for a remote delivery to its handler that is under way (unless called from
  // that handler), so do not destroy one while holding a lock the handler takes.
  //
  // subscribe() waits up to BusOptions::subscribe_wait_ms for Redis to confirm the subscription
  // when connected, so events other nodes publish after it returns are received.
  virtual Stats stats() const = 0;
  // Sends what is queued if Redis is connected (bounded by io_timeout_ms), then ends both
  // threads. Idempotent; the destructor calls it. Publishing afterwards delivers locally only.
  // Not from a handler (it joins the thread handlers run on).
  virtual void stop() = 0;
};

// node_id names this node in logs: 1 to 255 printable ASCII characters without spaces (a host
// name, host:port). Frames carry a random token per bus instance instead, so two nodes given the
// same name still hear each other.
Result<std::unique_ptr<RedisBus>> make_redis_bus(const std::string& url, std::string node_id,
                                                 BusOptions options = {});

struct RateLimiterOptions {
  std::string key_prefix = "parley:rl:";  // Redis key = prefix + bucket key
  int max_connections = 4;                // opened on demand; callers beyond wait for one
  Millis connect_timeout_ms = 250;
  Millis io_timeout_ms = 250;       // a check slower than this falls back to local buckets
  Millis backoff_initial_ms = 500;  // after a failure, Redis is retried after this, doubling
  Millis backoff_max_ms = 10'000;
  std::size_t fallback_max_keys = 100'000;  // the in-memory buckets used while Redis is down
};

// Token buckets in Redis, shared by every node; times come from clock (nodes should keep their
// clocks in sync with NTP: a bucket never goes back in time, so a node whose clock is behind
// only refills late). While Redis is unreachable, decisions come from per-node in-memory
// buckets (the limits then hold per node rather than per deployment): a warning is logged when
// that starts, an info line when Redis answers again.
Result<std::unique_ptr<ratelimit::RateLimiter>> make_redis_rate_limiter(
    const std::string& url, const Clock& clock, RateLimiterOptions options = {});

struct PresenceStoreOptions {
  std::string key_prefix = "parley:presence:";
  Millis heartbeat_ms = 5'000;                  // how often a node says it is alive
  Millis node_ttl_ms = 20'000;                  // a node silent this long stops counting (it died)
  Millis idle_ttl_ms = 7LL * 24 * 3600 * 1000;  // a user without sockets is forgotten after this
  int max_connections = 4;
  Millis connect_timeout_ms = 250;
  Millis io_timeout_ms = 500;
};

// presence::PresenceStore in Redis, shared by every node: each node's socket counts per user
// (summed over the nodes whose heartbeat is alive, so a dead node's sockets stop counting after
// node_ttl_ms), the chosen and last shown status, last activity and the grace deadline. While
// Redis is unreachable calls fail with `unavailable`; each node keeps its own counts and writes
// them again when Redis is back (also after a Redis restart). Needs Redis 6.2 or later, not
// Redis Cluster.
Result<std::unique_ptr<presence::PresenceStore>> make_redis_presence_store(
    const std::string& url, std::string node_id, PresenceStoreOptions options = {});

}  // namespace parley::redis
