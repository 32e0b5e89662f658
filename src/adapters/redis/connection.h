// Private to adapters/redis: hiredis contexts and replies with owners, connecting (with AUTH
// and SELECT), and commands built from argument lists (binary-safe, no format strings).
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "adapters/redis/redis.h"

namespace parley::redis {

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// Blocking connect bounded by connect_timeout_ms; reads and writes then time out after
// io_timeout_ms. unavailable with the endpoint and the cause on failure.
Result<Context> connect(const Endpoint& e, Millis connect_timeout_ms, Millis io_timeout_ms);

// Runs one command and waits for its reply. Null when the connection failed (c->errstr says
// why; the context is then unusable).
Reply command(redisContext* c, std::initializer_list<std::string_view> args);
// Queues a command in the context's output buffer; false when out of memory.
bool append(redisContext* c, std::initializer_list<std::string_view> args);

// "ERR ..." text of an error reply, or the context's error.
std::string error_text(redisContext* c, const redisReply* r);

// Reconnect delays: initial, doubling up to max, with up to 25% random jitter so that nodes
// that lost Redis together do not return in lockstep.
class Backoff {
 public:
  Backoff(Millis initial_ms, Millis max_ms)
      : initial_(initial_ms), max_(max_ms), next_(initial_ms) {}
  std::chrono::milliseconds next();
  void reset() { next_ = initial_; }

 private:
  Millis initial_, max_, next_;
};

}  // namespace parley::redis
