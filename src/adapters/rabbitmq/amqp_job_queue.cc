// RabbitMQ job queue. librabbitmq connections are not thread-safe, so each thread owns its own:
// the relay one, and each consumer one for consuming and one (in confirm mode) for
// republishing retries and dead letters. Topology, declared by every connection (idempotent):
//   exchange <prefix> (direct, durable) --"work"--> queue <prefix> (durable)
//   queue <prefix>.retry.N (durable, x-message-ttl = backoff(N), dead-lettered to <prefix>/"work")
//   queue <prefix>.dead (durable)
// A queue per delay rather than a per-message TTL: RabbitMQ expires messages only at a queue's
// head, so mixed delays in one queue would hold short ones behind long ones.
#include "adapters/rabbitmq/amqp_job_queue.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "core/log.h"

namespace parley::rabbitmq {
namespace {

using jobs::Job;

amqp_bytes_t bytes(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}
std::string str(amqp_bytes_t b) { return std::string(static_cast<const char*>(b.bytes), b.len); }

bool rpc_ok(amqp_connection_state_t c) {
  return amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL;
}

struct Url {
  std::string host, user, password, vhost;
  int port = 5672;
};

Result<Url> parse_url(const std::string& text) {
  std::string copy = text;
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(copy.data(), &info) != AMQP_STATUS_OK)
    return fail(Errc::invalid_argument, "amqp: expected amqp://USER:PASS@HOST:PORT/VHOST");
  if (info.ssl) return fail(Errc::invalid_argument, "amqp: amqps:// is not supported");
  return Url{info.host, info.user, info.password, info.vhost, info.port};
}

// One connection with channel 1 open; closed on destruction.
class Conn {
 public:
  ~Conn() { close(); }
  Result<void> open(const Url& u, bool confirms) {
    close();
    c_ = amqp_new_connection();
    auto* sock = amqp_tcp_socket_new(c_);
    timeval tv{5, 0};
    if (!sock || amqp_socket_open_noblock(sock, u.host.c_str(), u.port, &tv) != AMQP_STATUS_OK)
      return broken("cannot connect to " + u.host + ":" + std::to_string(u.port));
    if (amqp_login(c_, u.vhost.c_str(), 0, 131072, 30, AMQP_SASL_METHOD_PLAIN, u.user.c_str(),
                   u.password.c_str())
            .reply_type != AMQP_RESPONSE_NORMAL)
      return broken("login refused");
    // Every later RPC (channel, confirm.select, declares, basic.consume) gives up after 10 s
    // rather than waiting for ever on a broker that accepted the connection while stopping.
    timeval rpc{10, 0};
    amqp_set_rpc_timeout(c_, &rpc);
    amqp_channel_open(c_, 1);
    if (!rpc_ok(c_)) return broken("channel refused");
    if (confirms) {
      amqp_confirm_select(c_, 1);
      if (!rpc_ok(c_)) return broken("confirm.select refused");
    }
    next_tag_ = 1;
    return ok();
  }
  void close() {
    // A reopened channel numbers its publishes from 1 again: a confirm count kept from the
    // last one would let wait_confirms return before the broker confirmed anything.
    confirmed_ = 0;
    if (!c_) return;
    amqp_channel_close(c_, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(c_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c_);
    c_ = nullptr;
  }
  bool up() const { return c_ != nullptr; }
  amqp_connection_state_t raw() { return c_; }

  // Publishes and waits (up to 10 s) for the broker's confirm of this message.
  Result<void> publish_confirmed(const std::string& exchange, const std::string& key,
                                 const amqp_basic_properties_t& props, const std::string& body) {
    auto r = publish(exchange, key, props, body);
    if (!r) return r;
    return wait_confirms(next_tag_ - 1);
  }
  Result<void> publish(const std::string& exchange, const std::string& key,
                       const amqp_basic_properties_t& props, const std::string& body) {
    if (amqp_basic_publish(c_, 1, bytes(exchange), bytes(key), 0, 0, &props, bytes(body)) !=
        AMQP_STATUS_OK)
      return broken("publish failed");
    ++next_tag_;
    return ok();
  }
  // Waits for confirms up to delivery tag `last` (inclusive); unavailable on a nack or a broken
  // connection, so the caller publishes again.
  Result<void> wait_confirms(std::uint64_t last) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (confirmed_ < last) {
      if (std::chrono::steady_clock::now() > deadline) return broken("no publisher confirm");
      amqp_frame_t f;
      timeval tv{1, 0};
      int st = amqp_simple_wait_frame_noblock(c_, &f, &tv);
      if (st == AMQP_STATUS_TIMEOUT) continue;
      if (st != AMQP_STATUS_OK) return broken("connection lost waiting for confirms");
      if (f.frame_type != AMQP_FRAME_METHOD) continue;
      if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
        auto* a = static_cast<amqp_basic_ack_t*>(f.payload.method.decoded);
        if (a->multiple || a->delivery_tag > confirmed_) confirmed_ = a->delivery_tag;
      } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
        return broken("broker nacked a publish");
      } else if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
                 f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
        return broken("broker closed the channel");
      }
    }
    return ok();
  }
  std::uint64_t last_tag() const { return next_tag_ - 1; }

  Result<void> broken(const std::string& why) {
    if (c_) {
      amqp_destroy_connection(c_);
      c_ = nullptr;
    }
    confirmed_ = 0;
    return fail(Errc::unavailable, "amqp: " + why);
  }

 private:
  amqp_connection_state_t c_ = nullptr;
  std::uint64_t next_tag_ = 1;
  std::uint64_t confirmed_ = 0;
};

class AmqpJobQueue final : public jobs::JobQueue {
 public:
  AmqpJobQueue(AmqpOptions o, Url url, jobs::JobStore& outbox, const Clock& clock)
      : o_(std::move(o)), url_(std::move(url)), outbox_(outbox), clock_(clock) {}
  ~AmqpJobQueue() override { stop(); }

  Result<void> declare(Conn& c) {
    auto ch = c.raw();
    amqp_exchange_declare(ch, 1, bytes(o_.prefix), amqp_cstring_bytes("direct"), 0, 1, 0, 0,
                          amqp_empty_table);
    if (!rpc_ok(ch)) return c.broken("exchange declare failed");
    amqp_queue_declare(ch, 1, bytes(o_.prefix), 0, 1, 0, 0, amqp_empty_table);
    if (!rpc_ok(ch)) return c.broken("queue declare failed");
    amqp_queue_bind(ch, 1, bytes(o_.prefix), bytes(o_.prefix), amqp_cstring_bytes("work"),
                    amqp_empty_table);
    if (!rpc_ok(ch)) return c.broken("queue bind failed");
    amqp_queue_declare(ch, 1, bytes(dead_queue()), 0, 1, 0, 0, amqp_empty_table);
    if (!rpc_ok(ch)) return c.broken("dead-letter queue declare failed");
    for (int n = 1; n < o_.max_attempts; ++n) {
      amqp_table_entry_t e[3];
      e[0].key = amqp_cstring_bytes("x-message-ttl");
      e[0].value.kind = AMQP_FIELD_KIND_I64;
      e[0].value.value.i64 = backoff(n);
      e[1].key = amqp_cstring_bytes("x-dead-letter-exchange");
      e[1].value.kind = AMQP_FIELD_KIND_UTF8;
      e[1].value.value.bytes = bytes(o_.prefix);
      e[2].key = amqp_cstring_bytes("x-dead-letter-routing-key");
      e[2].value.kind = AMQP_FIELD_KIND_UTF8;
      e[2].value.value.bytes = amqp_cstring_bytes("work");
      amqp_table_t args{3, e};
      std::string q = retry_queue(n);
      amqp_queue_declare(ch, 1, bytes(q), 0, 1, 0, 0, args);
      if (!rpc_ok(ch)) return c.broken("retry queue declare failed (" + q + ")");
    }
    return ok();
  }

  Result<void> enqueue(const std::vector<jobs::NewJob>& jobs) override {
    auto r = outbox_.insert(jobs, clock_.now_ms());
    if (r) wake();
    return r;
  }
  void handle(const std::string& kind, jobs::Handler h) override { handlers_[kind] = std::move(h); }
  bool handles(const std::string& kind) const override { return handlers_.count(kind) != 0; }

  void start() override {
    std::lock_guard lock(mu_);
    if (running_ || stopped_) return;
    running_ = true;
    if (o_.exclusive_store) (void)outbox_.release_leases();
    threads_.emplace_back([this] { relay(); });
    for (int i = 0; i < std::max(1, o_.consumers); ++i)
      threads_.emplace_back([this] { consume(); });
  }

  void wake() override {
    {
      std::lock_guard lock(mu_);
      ++wakes_;
    }
    cv_.notify_all();
  }

  void stop() override {
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  jobs::QueueStats stats() const override {
    return {succeeded_.load(), retried_.load(), dead_.load(), duplicates_.load()};
  }

  // The dead-letter queue's messages, read without taking them: fetched unacked on a
  // connection of its own, which then closes, so RabbitMQ puts them back.
  Result<std::vector<Job>> dead_letters(int limit) override {
    Conn c;
    if (auto r = c.open(url_, false); !r) return fail(r.error());
    std::vector<Job> out;
    while (static_cast<int>(out.size()) < limit) {
      auto reply = amqp_basic_get(c.raw(), 1, bytes(dead_queue()), 0);
      if (reply.reply_type != AMQP_RESPONSE_NORMAL)
        return fail(Errc::unavailable, "amqp: basic.get failed");
      if (reply.reply.id != AMQP_BASIC_GET_OK_METHOD) break;  // empty
      amqp_message_t msg;
      if (amqp_read_message(c.raw(), 1, &msg, 0).reply_type != AMQP_RESPONSE_NORMAL)
        return fail(Errc::unavailable, "amqp: reading a dead letter failed");
      out.push_back(to_job(msg.properties, msg.body));
      amqp_destroy_message(&msg);
    }
    return out;
  }

 private:
  std::string dead_queue() const { return o_.prefix + ".dead"; }
  std::string retry_queue(int n) const { return o_.prefix + ".retry." + std::to_string(n); }
  Millis backoff(int attempts) const {
    jobs::OutboxOptions b;
    b.backoff_base_ms = o_.backoff_base_ms;
    b.backoff_max_ms = o_.backoff_max_ms;
    return jobs::backoff_ms(b, attempts);
  }
  std::uint64_t wakes() {
    std::lock_guard lock(mu_);
    return wakes_;
  }
  bool stopping() {
    std::lock_guard lock(mu_);
    return stopped_;
  }
  // Sleeps up to ms, or until stop()/wake().
  void nap(Millis ms, std::uint64_t seen) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopped_ || wakes_ != seen; });
  }

  // The message properties of a job: kind as the type, the key as the message id, the attempt
  // count and the last error in headers; persistent.
  struct Props {
    amqp_basic_properties_t p{};
    amqp_table_entry_t h[3];
    std::string kind, key, error;
    Props(const std::string& k, const std::string& idem, int attempts, int max_attempts,
          const std::string& err)
        : kind(k), key(idem), error(err) {
      p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_HEADERS_FLAG |
                 AMQP_BASIC_CONTENT_TYPE_FLAG;
      p.delivery_mode = 2;
      p.type = bytes(kind);
      p.content_type = amqp_cstring_bytes("application/json");
      if (!key.empty()) {
        p._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
        p.message_id = bytes(key);
      }
      h[0].key = amqp_cstring_bytes("x-parley-attempts");
      h[0].value.kind = AMQP_FIELD_KIND_I32;
      h[0].value.value.i32 = attempts;
      h[1].key = amqp_cstring_bytes("x-parley-max-attempts");
      h[1].value.kind = AMQP_FIELD_KIND_I32;
      h[1].value.value.i32 = max_attempts;
      h[2].key = amqp_cstring_bytes("x-parley-error");
      h[2].value.kind = AMQP_FIELD_KIND_UTF8;
      h[2].value.value.bytes = bytes(error);
      p.headers = amqp_table_t{3, h};
    }
  };

  static Job to_job(const amqp_basic_properties_t& p, amqp_bytes_t body) {
    Job j;
    j.payload = str(body);
    if (p._flags & AMQP_BASIC_TYPE_FLAG) j.kind = str(p.type);
    if (p._flags & AMQP_BASIC_MESSAGE_ID_FLAG) j.idempotency_key = str(p.message_id);
    if (p._flags & AMQP_BASIC_HEADERS_FLAG)
      for (int i = 0; i < p.headers.num_entries; ++i) {
        const auto& e = p.headers.entries[i];
        std::string k = str(e.key);
        if (k == "x-parley-attempts" && e.value.kind == AMQP_FIELD_KIND_I32)
          j.attempts = e.value.value.i32;
        else if (k == "x-parley-max-attempts" && e.value.kind == AMQP_FIELD_KIND_I32)
          j.max_attempts = e.value.value.i32;
        else if (k == "x-parley-error" &&
                 (e.value.kind == AMQP_FIELD_KIND_UTF8 || e.value.kind == AMQP_FIELD_KIND_BYTES))
          j.last_error = str(e.value.value.bytes);
      }
    return j;
  }

  // Outbox -> RabbitMQ, confirmed before the rows are marked done.
  void relay() {
    Conn c;
    Millis retry_ms = 200;
    while (!stopping()) {
      std::uint64_t seen;
      {
        std::lock_guard lock(mu_);
        seen = wakes_;
      }
      if (!c.up()) {
        auto r = c.open(url_, true);
        if (r) r = declare(c);
        if (!r) {
          log::warn("amqp relay: broker unavailable", {{"error", r.error().message}});
          nap(retry_ms, seen);
          retry_ms = std::min<Millis>(retry_ms * 2, 5'000);
          continue;
        }
        retry_ms = 200;
      }
      auto rows = outbox_.claim(clock_.now_ms(), o_.relay_batch, 30'000);
      if (!rows || rows->empty()) {
        nap(o_.relay_poll_ms, seen);
        continue;
      }
      Result<void> sent = ok();
      for (const Job& j : *rows) {
        Props props(j.kind, j.idempotency_key, 1, j.max_attempts ? j.max_attempts : o_.max_attempts,
                    "");
        sent = c.publish(o_.prefix, "work", props.p, j.payload);
        if (!sent) break;
      }
      if (sent) sent = c.wait_confirms(c.last_tag());
      const Millis now = clock_.now_ms();
      if (sent) {
        std::vector<std::int64_t> ids;
        for (const Job& j : *rows) ids.push_back(j.id);
        if (auto r = outbox_.complete(ids, now); !r)
          log::warn("amqp relay: outbox update failed", {{"error", r.error().message}});
      } else {
        for (const Job& j : *rows)  // unconfirmed rows become due again at once
          if (auto r = outbox_.retry(j.id, now, "relay failed"); !r)
            log::warn("amqp relay: outbox update failed", {{"error", r.error().message}});
      }
      if (!sent) log::warn("amqp relay: publish failed", {{"error", sent.error().message}});
    }
  }

  void consume() {
    Conn in, out;
    Millis retry_ms = 200;
    while (!stopping()) {
      if (!in.up() || !out.up()) {
        in.close();
        out.close();
        auto r = in.open(url_, false);
        if (r) r = declare(in);
        if (r) r = out.open(url_, true);
        if (r) {
          amqp_basic_qos(in.raw(), 1, 0, static_cast<std::uint16_t>(o_.prefetch), 0);
          amqp_basic_consume(in.raw(), 1, bytes(o_.prefix), amqp_empty_bytes, 0, 0, 0,
                             amqp_empty_table);
          if (!rpc_ok(in.raw())) r = in.broken("basic.consume refused");
        }
        if (!r) {
          nap(retry_ms, wakes());
          retry_ms = std::min<Millis>(retry_ms * 2, 5'000);
          continue;
        }
        retry_ms = 200;
      }
      amqp_envelope_t env;
      amqp_maybe_release_buffers(in.raw());
      timeval tv{0, 200'000};
      auto reply = amqp_consume_message(in.raw(), &env, &tv, 0);
      if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
          reply.library_error == AMQP_STATUS_TIMEOUT)
        continue;
      if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
        (void)in.broken("connection lost while consuming");
        continue;
      }
      Job j = to_job(env.message.properties, env.message.body);
      if (j.attempts < 1) j.attempts = 1;
      bool settled = settle(j, out);
      if (settled)
        amqp_basic_ack(in.raw(), 1, env.delivery_tag, 0);
      else
        // Not republished: give it back, it comes again (to this or another consumer).
        amqp_basic_reject(in.raw(), 1, env.delivery_tag, 1);
      amqp_destroy_envelope(&env);
    }
  }

  // Runs the job and decides its fate; false when the fate could not be recorded (the message
  // must then be redelivered).
  bool settle(const Job& j, Conn& out) {
    if (!j.idempotency_key.empty()) {
      auto done = outbox_.was_done(j.idempotency_key);
      if (done && *done) {
        ++duplicates_;
        return true;
      }
    }
    auto h = handlers_.find(j.kind);
    Result<void> r = h == handlers_.end()
                         ? fail(Errc::unavailable, "no handler for job kind " + j.kind)
                         : run(h->second, j);
    if (r) {
      if (!j.idempotency_key.empty())
        (void)outbox_.remember_done(j.idempotency_key, clock_.now_ms());
      ++succeeded_;
      return true;
    }
    const int max_attempts = j.max_attempts > 0 ? j.max_attempts : o_.max_attempts;
    const bool dead = jobs::is_poison(r.error()) || j.attempts >= max_attempts;
    Props props(j.kind, j.idempotency_key, j.attempts + (dead ? 0 : 1), max_attempts,
                r.error().message);
    auto sent =
        dead ? out.publish_confirmed("", dead_queue(), props.p, j.payload)
             : out.publish_confirmed("", retry_queue(std::min(j.attempts, o_.max_attempts - 1)),
                                     props.p, j.payload);
    if (!sent) return false;
    if (dead) {
      log::warn("jobs: dead letter",
                {{"kind", j.kind}, {"attempts", j.attempts}, {"error", r.error().message}});
      ++dead_;
    } else {
      ++retried_;
    }
    return true;
  }

  static Result<void> run(const jobs::Handler& h, const Job& j) {
    try {
      return h(j);
    } catch (const std::exception& e) {
      return fail(Errc::internal, std::string("handler threw: ") + e.what());
    }
  }

  AmqpOptions o_;
  Url url_;
  jobs::JobStore& outbox_;
  const Clock& clock_;
  std::map<std::string, jobs::Handler> handlers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t wakes_ = 0;
  bool running_ = false;
  bool stopped_ = false;
  std::vector<std::thread> threads_;
  std::atomic<std::uint64_t> succeeded_{0}, retried_{0}, dead_{0}, duplicates_{0};
};

}  // namespace

Result<std::unique_ptr<jobs::JobQueue>> make_amqp_job_queue(const AmqpOptions& options,
                                                            jobs::JobStore& outbox,
                                                            const Clock& clock) {
  auto url = parse_url(options.url);
  if (!url) return fail(url.error());
  if (options.max_attempts < 1) return fail(Errc::invalid_argument, "amqp: max_attempts < 1");
  auto q = std::make_unique<AmqpJobQueue>(options, *url, outbox, clock);
  Conn c;
  if (auto r = c.open(*url, false); !r) return fail(r.error());
  if (auto r = q->declare(c); !r) return fail(r.error());
  return std::unique_ptr<jobs::JobQueue>(std::move(q));
}

}  // namespace parley::rabbitmq
