// Private to adapters/redis: hiredis contexts and replies with owners, connecting (with AUTH
// and SELECT), and commands built from argument lists (binary-safe, no format strings).
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <condition_variable>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

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
Reply command(redisContext* c, const std::vector<std::string>& args);
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

// A few blocking connections shared by callers on many threads, opened on demand up to max.
// Each connection loads the given Lua scripts (SCRIPT LOAD) when it opens; run_script() runs one
// by its SHA and falls back to EVAL when Redis answers NOSCRIPT.
class Pool {
 public:
  struct Conn {
    Context ctx;
    std::vector<std::string> shas;  // of the scripts, in the order given
  };

  Pool(Endpoint endpoint, int max_connections, Millis connect_timeout_ms, Millis io_timeout_ms,
       std::vector<std::string_view> scripts);

  // An idle connection, a new one, or the first released within io_timeout_ms.
  // resource_exhausted when all max stayed busy, unavailable when a new one could not be opened.
  Result<Conn> acquire();
  // Back to the idle set, for a connection whose last command got an answer.
  void release(Conn c);
  // Forgets a connection that failed (its owner frees it), and the idle ones too: after a
  // failure they are most likely dead as well.
  void discard();

  // Runs scripts[index] with these keys and arguments.
  Reply run_script(Conn& c, std::size_t index, const std::vector<std::string>& keys,
                   const std::vector<std::string>& args) const;

  const Endpoint& endpoint() const { return endpoint_; }

 private:
  Result<Conn> open() const;

  const Endpoint endpoint_;
  const int max_;
  const Millis connect_timeout_ms_, io_timeout_ms_;
  const std::vector<std::string_view> scripts_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Conn> idle_;
  int open_ = 0;  // idle plus in use
};

}  // namespace parley::redis
