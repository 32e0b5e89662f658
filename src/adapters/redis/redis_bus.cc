// RedisBus: two threads, two connections.
//
// The publisher thread owns one connection and sends queued frames in pipelined batches
// (PUBLISH per frame, all replies read after the batch), so one round trip carries many events
// and frames leave in the order publish() queued them. publish() itself only delivers locally
// and appends to a bounded queue: a dead or slow Redis never blocks a caller, it costs dropped
// notifications, which clients recover from history.
//
// The subscriber thread owns the other connection, in subscribe mode (SUBSCRIBE per topic). It
// waits in poll() on the socket and on an eventfd that subscribe/unsubscribe/stop ring, so it
// needs no read timeouts (a hiredis blocking read that times out leaves the context unusable).
// A silent connection is checked with PING; a lost one is replaced with backoff, and every
// current topic is subscribed again on the new one.
//
// A frame is "<instance token>\n<payload>", the token random per bus instance. Local subscribers
// get their own node's events synchronously in publish() (the in-process bus's behaviour, and
// independent of Redis), so the subscriber thread drops frames carrying this instance's token.
#include <poll.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "adapters/redis/redis.h"
#include "connection.h"
#include "core/id.h"
#include "core/log.h"
#include "core/metrics.h"

namespace parley::redis {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t kBatch = 256;  // frames per pipelined round trip

// Printable ASCII without spaces: it goes into log lines as it is.
bool valid_node_id(std::string_view id) {
  if (id.empty() || id.size() > 255) return false;
  for (char c : id)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

struct BusMetrics {
  prometheus::Counter& published;
  prometheus::Counter& dropped;
  prometheus::Counter& received;
  prometheus::Counter& reconnects;
  prometheus::Counter& gaps;

  static BusMetrics& get() {
    static BusMetrics* m = [] {
      auto& events = prometheus::BuildCounter()
                         .Name("parley_redis_bus_events_total")
                         .Help("Bus frames by outcome: published to Redis, dropped, received")
                         .Register(metrics::registry());
      auto& reconnects = prometheus::BuildCounter()
                             .Name("parley_redis_bus_reconnects_total")
                             .Help("Connections to Redis re-established by the bus")
                             .Register(metrics::registry());
      auto& gaps = prometheus::BuildCounter()
                       .Name("parley_redis_bus_gaps_total")
                       .Help(
                           "Times the bus resubscribed after losing Redis: frames other nodes "
                           "published meanwhile were missed (clients are told to catch up)")
                       .Register(metrics::registry());
      return new BusMetrics{events.Add({{"result", "published"}}),
                            events.Add({{"result", "dropped"}}),
                            events.Add({{"result", "received"}}), reconnects.Add({}), gaps.Add({})};
    }();
    return *m;
  }
};

class RedisBusImpl final : public RedisBus {
  struct Box {
    Handler fn;
    std::atomic<bool> live{true};
  };
  using Boxes = std::vector<std::shared_ptr<Box>>;

  struct Frame {
    std::string channel;
    std::string bytes;
    SteadyClock::time_point queued;
  };

  class Sub final : public Subscription {
   public:
    Sub(RedisBusImpl* bus, std::string topic, std::shared_ptr<Box> box)
        : bus_(bus), topic_(std::move(topic)), box_(std::move(box)) {}
    ~Sub() override { bus_->unsubscribe(topic_, box_); }

   private:
    RedisBusImpl* bus_;
    std::string topic_;
    std::shared_ptr<Box> box_;
  };

 public:
  RedisBusImpl(Endpoint endpoint, std::string node_id, BusOptions options, Context first)
      : first_connection_(std::move(first)),
        endpoint_(std::move(endpoint)),
        node_id_(std::move(node_id)),
        token_(new_id(SystemClock().now_ms())),
        instance_(node_id_ + "/" + token_),
        opt_(std::move(options)),
        metrics_(BusMetrics::get()) {
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  }

  ~RedisBusImpl() override {
    stop();
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  Result<void> start() {
    if (wake_fd_ < 0) return fail(Errc::internal, "redis bus: eventfd failed");
    publisher_ = std::thread([this] { publisher_loop(); });
    subscriber_ = std::thread([this] { subscriber_loop(); });
    subscriber_id_ = subscriber_.get_id();
    {
      // Give the subscriber its first connection before callers subscribe, so their first
      // subscribe() waits for Redis's acknowledgement rather than returning at once.
      std::unique_lock lock(mu_);
      confirmed_cv_.wait_for(lock, std::chrono::milliseconds(opt_.connect_timeout_ms + 500),
                             [&] { return first_attempt_done_; });
    }
    log::info("redis bus started", {{"redis", describe(endpoint_)}, {"instance", instance_}});
    return ok();
  }

  void publish(std::string_view topic, std::string payload) override {
    // Queue for the other nodes first: if a local handler publishes in turn, its event then
    // also follows this one on the wire, as it does locally.
    enqueue(topic, payload);
    deliver(topic, payload);
  }

  std::unique_ptr<Subscription> subscribe(std::string topic, Handler handler) override {
    auto box = std::make_shared<Box>();
    box->fn = std::move(handler);
    bool first;
    {
      std::unique_lock lock(mu_);
      auto& boxes = topics_[topic];
      first = boxes.empty();
      boxes.push_back(box);
    }
    if (first) wake();
    if (std::this_thread::get_id() != subscriber_id_) {
      // Wait for Redis to confirm, so that what other nodes publish from now on arrives. Not
      // when disconnected: the subscription is made when Redis is back.
      std::unique_lock lock(mu_);
      confirmed_cv_.wait_for(lock, std::chrono::milliseconds(opt_.subscribe_wait_ms), [&] {
        return stopping_ || !subscriber_connected_ || confirmed_.contains(topic);
      });
    }
    return std::make_unique<Sub>(this, std::move(topic), std::move(box));
  }

  Stats stats() const override {
    Stats s;
    s.published = published_.load();
    s.dropped = dropped_.load();
    s.received = received_.load();
    s.echoes = echoes_.load();
    s.reconnects = reconnects_.load();
    s.publisher_connected = publisher_connected_.load();
    std::shared_lock lock(mu_);
    s.subscriber_connected = subscriber_connected_;
    return s;
  }

  void stop() override {
    {
      std::lock_guard lock(queue_mu_);
      std::unique_lock lock2(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    queue_cv_.notify_all();
    confirmed_cv_.notify_all();
    wake();
    if (publisher_.joinable()) publisher_.join();
    if (subscriber_.joinable()) subscriber_.join();
    log::info("redis bus stopped", {{"instance", instance_},
                                    {"published", static_cast<std::int64_t>(published_.load())},
                                    {"dropped", static_cast<std::int64_t>(dropped_.load())}});
  }

 private:
  // ---- local side ----

  void deliver(std::string_view topic, std::string_view payload) {
    Boxes boxes;
    {
      std::shared_lock lock(mu_);
      auto it = topics_.find(topic);
      if (it == topics_.end()) return;
      boxes = it->second;
    }
    for (const auto& b : boxes) {
      if (!b->live.load()) continue;
      try {
        b->fn(payload);
      } catch (const std::exception& e) {
        log::error("bus handler threw", {{"topic", topic}, {"what", e.what()}});
      } catch (...) {
        log::error("bus handler threw", {{"topic", topic}});
      }
    }
  }

  void unsubscribe(const std::string& topic, const std::shared_ptr<Box>& box) {
    bool last = false;
    {
      std::unique_lock lock(mu_);
      box->live = false;
      auto it = topics_.find(topic);
      if (it != topics_.end()) {
        std::erase(it->second, box);
        if (it->second.empty()) {
          topics_.erase(it);
          last = true;
        }
      }
    }
    if (last) wake();
    // A remote delivery may be running this handler right now; wait for it to end, so the
    // handler's owner can go once the Subscription is gone. Not from inside a handler.
    if (std::this_thread::get_id() != subscriber_id_) {
      std::lock_guard wait(dispatch_mu_);
    }
  }

  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = write(wake_fd_, &one, sizeof one);
  }

  // ---- publisher ----

  void enqueue(std::string_view topic, std::string_view payload) {
    Frame f{opt_.channel_prefix + std::string(topic), {}, SteadyClock::now()};
    f.bytes.reserve(token_.size() + 1 + payload.size());
    f.bytes.append(token_).append(1, '\n').append(payload);
    bool warn = false;
    std::uint64_t dropped_now = 0;
    {
      std::lock_guard lock(queue_mu_);
      if (stopping_) return;
      if (queue_.size() < opt_.max_queued &&
          queued_bytes_ + f.bytes.size() <= opt_.max_queued_bytes) {
        queued_bytes_ += f.bytes.size();
        queue_.push_back(std::move(f));
      } else {
        count_dropped(1);
        warn = should_warn_locked();
        dropped_now = dropped_.load();
      }
    }
    if (warn)
      log::warn("redis bus queue full; dropping events for other nodes",
                {{"redis", describe(endpoint_)},
                 {"dropped_total", static_cast<std::int64_t>(dropped_now)},
                 {"queued", opt_.max_queued}});
    else
      queue_cv_.notify_one();
  }

  void count_dropped(std::uint64_t n) {
    dropped_ += n;
    metrics_.dropped.Increment(static_cast<double>(n));
  }

  // At most one drop warning per 10 s; the counter and the metric carry the rest.
  bool should_warn_locked() {
    auto now = SteadyClock::now();
    if (now - last_drop_warn_ < std::chrono::seconds(10)) return false;
    last_drop_warn_ = now;
    return true;
  }

  // Drops frames that waited too long (Redis was down); the caller holds queue_mu_.
  std::size_t drop_stale_locked() {
    auto cutoff = SteadyClock::now() - std::chrono::milliseconds(opt_.max_queue_age_ms);
    std::size_t n = 0;
    while (!queue_.empty() && queue_.front().queued < cutoff) {
      queued_bytes_ -= queue_.front().bytes.size();
      queue_.pop_front();
      ++n;
    }
    if (n) count_dropped(n);
    return n;
  }

  void publisher_loop() {
    Context c = std::move(first_connection_);  // the factory's, so stop() can always flush
    publisher_connected_ = c != nullptr;
    Backoff backoff(opt_.backoff_initial_ms, opt_.backoff_max_ms);
    bool ever_connected = c != nullptr, outage_logged = false;
    auto next_attempt = SteadyClock::now();
    std::vector<Frame> batch;
    batch.reserve(kBatch);

    for (;;) {
      {
        std::unique_lock lock(queue_mu_);
        queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_ && (!c || queue_.empty())) break;  // flush only over a live link
        if (!c) {
          if (queue_cv_.wait_until(lock, next_attempt, [&] { return stopping_; })) continue;
          drop_stale_locked();
          if (queue_.empty()) continue;
        }
      }
      if (!c) {
        auto r = connect(endpoint_, opt_.connect_timeout_ms, opt_.io_timeout_ms);
        if (!r) {
          next_attempt = SteadyClock::now() + backoff.next();
          if (!outage_logged)
            log::warn("redis bus cannot publish; retrying",
                      {{"error", r.error().message}, {"instance", instance_}});
          outage_logged = true;
          continue;
        }
        c = std::move(*r);
        backoff.reset();
        publisher_connected_ = true;
        if (ever_connected) {
          ++reconnects_;
          metrics_.reconnects.Increment();
          log::info("redis bus publisher reconnected",
                    {{"redis", describe(endpoint_)}, {"instance", instance_}});
        }
        ever_connected = true;
        outage_logged = false;
      }

      {
        std::lock_guard lock(queue_mu_);
        drop_stale_locked();
        while (!queue_.empty() && batch.size() < kBatch) {
          queued_bytes_ -= queue_.front().bytes.size();
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      if (batch.empty()) continue;

      std::size_t sent = 0;
      bool broken = false;
      for (const auto& f : batch)
        if (!append(c.get(), {"PUBLISH", f.channel, f.bytes})) broken = true;
      for (std::size_t i = 0; i < batch.size() && !broken; ++i) {
        void* raw = nullptr;
        if (redisGetReply(c.get(), &raw) != REDIS_OK) {
          broken = true;
          break;
        }
        Reply r(static_cast<redisReply*>(raw));
        if (r->type == REDIS_REPLY_ERROR) {
          count_dropped(1);
          log::warn("redis bus publish refused", {{"error", error_text(c.get(), r.get())}});
        } else {
          ++sent;
        }
      }
      published_ += sent;
      metrics_.published.Increment(static_cast<double>(sent));
      if (broken) {
        // Unknown whether Redis got the rest of the batch; notifications, so count them lost
        // rather than risk sending them twice.
        std::size_t lost = batch.size() - sent;
        count_dropped(lost);
        log::warn("redis bus publisher lost its connection; reconnecting",
                  {{"error", error_text(c.get(), nullptr)},
                   {"instance", instance_},
                   {"dropped", static_cast<std::int64_t>(lost)}});
        c.reset();
        publisher_connected_ = false;
        outage_logged = true;
        next_attempt = SteadyClock::now();  // retry at once; backoff applies from the 2nd try
      }
      batch.clear();
    }
    publisher_connected_ = false;
    std::lock_guard lock(queue_mu_);
    if (!queue_.empty()) count_dropped(queue_.size());  // stopped while Redis was away
  }

  // ---- subscriber ----

  void subscriber_loop() {
    Backoff backoff(opt_.backoff_initial_ms, opt_.backoff_max_ms);
    bool ever_connected = false, outage_logged = false, had_session = false;
    while (!stopping()) {
      auto r = connect(endpoint_, opt_.connect_timeout_ms, opt_.io_timeout_ms);
      if (!r) {
        first_attempt_done();
        if (!outage_logged)
          log::warn("redis bus cannot subscribe; retrying",
                    {{"error", r.error().message}, {"instance", instance_}});
        outage_logged = true;
        sleep_or_wake(backoff.next());
        continue;
      }
      backoff.reset();
      if (ever_connected) {
        ++reconnects_;
        metrics_.reconnects.Increment();
        log::info("redis bus subscriber reconnected; resubscribing",
                  {{"redis", describe(endpoint_)}, {"instance", instance_}});
      }
      ever_connected = true;
      outage_logged = false;
      std::string why = session(r->get(), had_session);
      had_session = true;
      {
        std::unique_lock lock(mu_);
        subscriber_connected_ = false;
        confirmed_.clear();
      }
      confirmed_cv_.notify_all();
      if (!stopping()) {
        log::warn("redis bus subscriber lost its connection; reconnecting",
                  {{"error", why}, {"instance", instance_}});
        outage_logged = true;
      }
    }
  }

  void first_attempt_done() {
    {
      std::unique_lock lock(mu_);
      if (first_attempt_done_) return;
      first_attempt_done_ = true;
    }
    confirmed_cv_.notify_all();
  }

  bool stopping() const {
    std::shared_lock lock(mu_);
    return stopping_;
  }

  void sleep_or_wake(std::chrono::milliseconds d) {
    pollfd p{wake_fd_, POLLIN, 0};
    poll(&p, 1, static_cast<int>(d.count()));
    drain_wake();
  }

  void drain_wake() {
    std::uint64_t n;
    while (read(wake_fd_, &n, sizeof n) > 0) {
    }
  }

  // Brings Redis's subscriptions on this connection in line with topics_. False when the
  // connection failed.
  bool sync_subscriptions(redisContext* c, std::set<std::string>& sent) {
    std::vector<std::string> add, remove;
    {
      std::unique_lock lock(mu_);
      for (const auto& [topic, boxes] : topics_)
        if (!sent.contains(topic)) add.push_back(topic);
      for (const auto& topic : sent)
        if (!topics_.contains(topic)) {
          remove.push_back(topic);
          confirmed_.erase(topic);
        }
    }
    for (const auto& t : add) {
      if (!append(c, {"SUBSCRIBE", opt_.channel_prefix + t})) return false;
      sent.insert(t);
    }
    for (const auto& t : remove) {
      if (!append(c, {"UNSUBSCRIBE", opt_.channel_prefix + t})) return false;
      sent.erase(t);
    }
    return flush(c);
  }

  static bool flush(redisContext* c) {
    int done = 0;
    while (!done)
      if (redisBufferWrite(c, &done) != REDIS_OK) return false;
    return true;
  }

  // One connection's life in subscribe mode; returns why it ended.
  std::string session(redisContext* c, bool gap) {
    std::set<std::string> sent;  // topics this connection was asked to subscribe
    {
      std::unique_lock lock(mu_);
      subscriber_connected_ = true;
    }
    first_attempt_done();
    if (!sync_subscriptions(c, sent)) return error_text(c, nullptr);
    if (gap) {
      // Resubscribed; whatever other nodes published while we were away was missed.
      metrics_.gaps.Increment();
      std::lock_guard lock(dispatch_mu_);
      deliver(kBusGapTopic, "");
    }
    const auto ping_every = std::chrono::milliseconds(opt_.ping_interval_ms);
    const auto answer_within = std::chrono::milliseconds(opt_.io_timeout_ms);
    auto last_heard = SteadyClock::now();
    bool ping_outstanding = false;
    SteadyClock::time_point ping_sent{};

    for (;;) {
      auto now = SteadyClock::now();
      auto deadline = ping_outstanding ? ping_sent + answer_within : last_heard + ping_every;
      auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
      pollfd fds[2] = {{c->fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      int n = poll(fds, 2, static_cast<int>(std::max<std::int64_t>(0, wait_ms)));
      if (stopping()) return "stopping";
      if (n < 0 && errno != EINTR) return "poll failed";
      if (fds[1].revents & POLLIN) {
        drain_wake();
        if (!sync_subscriptions(c, sent)) return error_text(c, nullptr);
      }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        if (redisBufferRead(c) != REDIS_OK) return error_text(c, nullptr);
        last_heard = SteadyClock::now();
        ping_outstanding = false;
        for (;;) {
          void* raw = nullptr;
          if (redisGetReplyFromReader(c, &raw) != REDIS_OK) return error_text(c, nullptr);
          if (!raw) break;
          Reply r(static_cast<redisReply*>(raw));
          on_reply(r.get());
        }
        continue;
      }
      now = SteadyClock::now();
      if (ping_outstanding && now >= ping_sent + answer_within) return "no answer to PING";
      if (!ping_outstanding && now >= last_heard + ping_every) {
        if (!append(c, {"PING"}) || !flush(c)) return error_text(c, nullptr);
        ping_outstanding = true;
        ping_sent = now;
      }
    }
  }

  void on_reply(const redisReply* r) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2) return;  // PING's answer, and so on
    auto str = [&](std::size_t i) -> std::string_view {
      const redisReply* e = r->element[i];
      if (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_STATUS) return {};
      return {e->str, e->len};
    };
    std::string_view kind = str(0), channel = str(1);
    if (channel.substr(0, opt_.channel_prefix.size()) != opt_.channel_prefix) return;
    std::string_view topic = channel.substr(opt_.channel_prefix.size());
    if (kind == "subscribe") {
      {
        std::unique_lock lock(mu_);
        if (topics_.contains(topic)) confirmed_.insert(std::string(topic));
      }
      confirmed_cv_.notify_all();
      return;
    }
    if (kind != "message" || r->elements < 3) return;
    std::string_view frame = str(2);
    auto nl = frame.find('\n');
    if (nl == std::string_view::npos) return;  // not ours
    if (frame.substr(0, nl) == token_) {
      ++echoes_;
      return;
    }
    ++received_;
    metrics_.received.Increment();
    std::lock_guard lock(dispatch_mu_);
    deliver(topic, frame.substr(nl + 1));
  }

  Context first_connection_;  // handed to the publisher thread
  const Endpoint endpoint_;
  const std::string node_id_;
  const std::string token_;     // random, per instance: starts every frame we publish
  const std::string instance_;  // node id and token, for logs
  const BusOptions opt_;
  BusMetrics& metrics_;
  int wake_fd_ = -1;

  // Subscriptions. confirmed_ holds the topics Redis has acknowledged on the live connection.
  mutable std::shared_mutex mu_;
  std::map<std::string, Boxes, std::less<>> topics_;
  std::set<std::string, std::less<>> confirmed_;
  std::condition_variable_any confirmed_cv_;
  bool subscriber_connected_ = false;
  bool first_attempt_done_ = false;
  bool stopping_ = false;   // written under queue_mu_ and mu_; read under either
  std::mutex dispatch_mu_;  // held while the subscriber thread runs handlers

  // Outgoing frames.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Frame> queue_;
  std::size_t queued_bytes_ = 0;
  SteadyClock::time_point last_drop_warn_{};

  std::atomic<std::uint64_t> published_{0}, dropped_{0}, received_{0}, echoes_{0}, reconnects_{0};
  std::atomic<bool> publisher_connected_{false};

  std::thread publisher_, subscriber_;
  std::thread::id subscriber_id_;
};

}  // namespace

Result<std::unique_ptr<RedisBus>> make_redis_bus(const std::string& url, std::string node_id,
                                                 BusOptions options) {
  auto endpoint = parse_url(url);
  if (!endpoint) return fail(endpoint.error());
  if (!valid_node_id(node_id))
    return fail(Errc::invalid_argument,
                "redis bus: node id must be 1 to 255 printable characters without spaces");
  // Connect now, so a wrong address or password is a start-up error, not a warning; the
  // connection becomes the publisher's.
  auto c = connect(*endpoint, options.connect_timeout_ms, options.io_timeout_ms);
  if (!c) return fail(c.error());
  Reply r = command(c->get(), {"PING"});
  if (!r || r->type == REDIS_REPLY_ERROR)
    return fail(Errc::unavailable,
                describe(*endpoint) + ": PING: " + error_text(c->get(), r.get()));
  auto bus = std::make_unique<RedisBusImpl>(std::move(*endpoint), std::move(node_id),
                                            std::move(options), std::move(*c));
  if (auto s = bus->start(); !s) return fail(s.error());
  return std::unique_ptr<RedisBus>(std::move(bus));
}

}  // namespace parley::redis
