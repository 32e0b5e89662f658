#include "ws_conn.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>

#include "core/metrics.h"
#include "ws_frame.h"

namespace parley::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// The close codes the server sends on its own. Children are looked up once here; recording is
// one atomic add. Close codes are a fixed set (anything else counts as "other"), so the label
// stays bounded.
struct WsMetrics {
  static constexpr int kCodes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                   1011, 1012, 1013, 4001, 4008, 4009};
  std::array<prometheus::Counter*, std::size(kCodes) + 1> closes{};  // last: "other"

  prometheus::Counter& close_code(int code) {
    for (std::size_t i = 0; i < std::size(kCodes); ++i)
      if (kCodes[i] == code) return *closes[i];
    return *closes.back();
  }

  static WsMetrics& get() {
    static WsMetrics* m = [] {
      auto& closes = prometheus::BuildCounter()
                         .Name("parley_websocket_closes_total")
                         .Help("WebSocket connections closed by the server, by close code")
                         .Register(metrics::registry());
      auto* w = new WsMetrics{};
      for (std::size_t i = 0; i < std::size(kCodes); ++i)
        w->closes[i] = &closes.Add({{"code", std::to_string(kCodes[i])}});
      w->closes.back() = &closes.Add({{"code", "other"}});
      return w;
    }();
    return *m;
  }
};

// Frames per gathered write, and bytes: enough to empty a fan-out backlog in few calls, few
// enough that one connection does not hold its thread long.
constexpr std::size_t kFramesPerWrite = 64;
constexpr std::size_t kBytesPerWrite = 256 * 1024;
constexpr std::size_t kReadBufferBytes = 64 * 1024;
// Reads per readiness before the thread turns to its other sockets.
constexpr int kReadsPerTurn = 4;

}  // namespace

// One I/O thread's WebSocket counts: frames and bytes queued and not yet written, and frames
// and bytes received and sent. Written by that thread alone (a load and a store, no locked
// instruction: a shared counter's atomic add on every frame of a fan-out cost more), read when
// /metrics is scraped.
struct alignas(64) IoThreadCounts {
  struct Pair {
    std::atomic<std::int64_t> frames{0};
    std::atomic<std::int64_t> bytes{0};
    void add(std::int64_t f, std::int64_t b) {
      frames.store(frames.load(std::memory_order_relaxed) + f, std::memory_order_relaxed);
      bytes.store(bytes.load(std::memory_order_relaxed) + b, std::memory_order_relaxed);
    }
  };
  Pair queued, in, out;
};

class WsConn;

// What one I/O thread keeps for all its WebSockets. Touched only from that thread (counts are
// also read at scrapes).
struct WsThread {
  WsThread(WsHost& h, asio::io_context& c, std::size_t i)
      : host(h), ctx(c), index(i), sweep_timer(c) {}

  void schedule_flush(std::shared_ptr<WsConn> conn);
  void flush_all();
  void start_sweep();
  void sweep();

  WsHost& host;
  asio::io_context& ctx;
  const std::size_t index;
  IoThreadCounts counts;
  std::vector<WsConn*> conns;  // open on this thread; each knows its index here
  // Connections with frames queued since the last flush: written together once the handlers
  // already queued on this thread have run, so a burst of events leaves in one write each.
  std::vector<std::shared_ptr<WsConn>> to_flush;
  std::vector<std::shared_ptr<WsConn>> flushing;
  bool flush_posted = false;
  asio::steady_timer sweep_timer;
  bool sweeping = false;
  Clock::time_point now = Clock::now();  // as of the last sweep: timestamps need no more
  std::unique_ptr<char[]> read_buffer = std::make_unique<char[]>(kReadBufferBytes);
  std::array<iovec, 2 * kFramesPerWrite> iov{};
  std::array<std::array<std::uint8_t, ws::kMaxServerHeader>, kFramesPerWrite> headers{};
};

// One WebSocket connection. Lives on one I/O thread; every member is touched only from it.
class WsConn final : public WsConnection, public std::enable_shared_from_this<WsConn> {
 public:
  WsConn(WsThread& thread, tcp::socket socket, std::uint64_t id, std::string peer)
      : thread_(thread),
        socket_(std::move(socket)),
        id_(id),
        peer_(std::move(peer)),
        reader_(thread.host.opts_.ws_max_frame_bytes) {}

  std::uint64_t id() const override { return id_; }
  const std::string& peer_ip() const override { return peer_; }
  std::size_t thread_index() const { return thread_.index; }
  asio::io_context& context() const { return thread_.ctx; }

  void send(std::shared_ptr<const std::string> text) override {
    asio::post(thread_.ctx, [self = shared_from_this(), text = std::move(text)]() mutable {
      self->enqueue(std::move(text));
    });
  }
  void close(int code, std::string reason) override {
    asio::post(thread_.ctx,
               [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
                 self->request_close(code, reason);
               });
  }
  void mark_ready() override {
    asio::post(thread_.ctx, [self = shared_from_this()] { self->ready_ = true; });
  }
  void post(std::function<void()> fn) override {
    asio::post(thread_.ctx, [self = shared_from_this(), fn = std::move(fn)] {
      if (self->state_ != State::ended) fn();
    });
  }

  void start(const Request& upgrade, std::string early_bytes);
  // On the thread: queues a text frame, or closes with 4008 when the queue is full.
  void enqueue(std::shared_ptr<const std::string> text);
  // Writes what is queued, as much as the socket takes.
  void flush();
  // The thread's timer: hello deadline, heartbeat, closing handshake.
  void sweep(Clock::time_point now);
  // Closes with this code: frames not yet begun are dropped, the close frame follows.
  void request_close(int code, std::string_view reason);

  std::size_t list_index = 0;  // in thread_.conns
  bool in_flush_list = false;

 private:
  enum class State : std::uint8_t {
    open,     // frames both ways
    closing,  // our close frame is queued: nothing more is read into the session
    linger,   // our close frame is written and our side shut: reading until the peer closes
    ended,
  };
  struct Outgoing {
    std::shared_ptr<const std::string> payload;
    ws::Opcode op;
  };

  void wait_readable();
  void on_readable();
  // Handles the frames in [p, end); false when the connection ended (after a failure or a close
  // the rest is read and dropped, still true).
  bool consume(char* p, char* end);
  void queue_control(ws::Opcode op, std::string payload);
  void wait_writable();
  // Our close frame is written: shut our side and read until the peer closes or time is up.
  void begin_linger();
  void end();
  void drop_queue();

  WsThread& thread_;
  tcp::socket socket_;
  const std::uint64_t id_;
  const std::string peer_;
  ws::FrameReader reader_;
  std::unique_ptr<WsSession> session_;
  // Frames not yet written: queue_[queue_head_..]; the first may be written in part (written_
  // bytes of its header and payload). A vector, not a deque: an empty deque holds 512 bytes.
  std::vector<Outgoing> queue_;
  std::size_t queue_head_ = 0;
  std::size_t queued_bytes_ = 0;  // text payload bytes queued (the send queue's limit)
  std::size_t written_ = 0;
  Clock::time_point last_read_;
  Clock::time_point deadline_;  // hello (until ready) or the closing handshake's end
  State state_ = State::open;
  bool ready_ = false;
  bool ping_sent_ = false;
  bool reading_ = false;        // a readiness wait is pending
  bool write_waiting_ = false;  // a writability wait is pending: it flushes
  bool stop_reading_ = false;   // the reader failed: nothing more is parsed
};

// ---- the thread ----

void WsThread::schedule_flush(std::shared_ptr<WsConn> conn) {
  conn->in_flush_list = true;
  to_flush.push_back(std::move(conn));
  if (flush_posted) return;
  flush_posted = true;
  asio::post(ctx, [this] { flush_all(); });
}

void WsThread::flush_all() {
  flush_posted = false;
  flushing.swap(to_flush);
  for (auto& c : flushing) {
    c->in_flush_list = false;
    c->flush();
  }
  flushing.clear();
  if (flushing.capacity() > 4096) flushing.shrink_to_fit();  // a storm's room goes back
}

void WsThread::start_sweep() {
  if (sweeping) return;
  sweeping = true;
  // Often enough that a deadline is kept to within an eighth of the shortest one.
  const auto& o = host.opts_;
  auto interval = std::min(o.ws_hello_timeout, o.ws_heartbeat) / 8;
  interval = std::clamp(interval, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
  sweep_timer.expires_after(interval);
  sweep_timer.async_wait([this](const boost::system::error_code& ec) {
    sweeping = false;
    if (ec) return;
    sweep();
  });
}

void WsThread::sweep() {
  now = Clock::now();
  // Backwards: a connection that ends is swapped with the last, which was already seen.
  for (std::size_t i = conns.size(); i-- > 0;) {
    if (i >= conns.size()) continue;
    auto keep = conns[i]->shared_from_this();  // ending leaves the list, not the heap
    keep->sweep(now);
  }
  if (!conns.empty()) start_sweep();
}

// ---- the connection ----

void WsConn::start(const Request& upgrade, std::string early_bytes) {
  auto& host = thread_.host;
  boost::system::error_code ec;
  socket_.native_non_blocking(true, ec);
  if (ec) return;  // the socket is gone already: nothing to serve
  list_index = thread_.conns.size();
  thread_.conns.push_back(this);
  host.open_.fetch_add(1, std::memory_order_relaxed);
  host.open_gauge_.Increment();
  last_read_ = thread_.now = Clock::now();
  deadline_ = last_read_ + host.opts_.ws_hello_timeout;
  thread_.start_sweep();
  session_ = host.factory_(shared_from_this(), upgrade);
  if (host.draining_) request_close(kCloseServiceRestart, "server restarting: reconnect");
  if (!early_bytes.empty() && !consume(early_bytes.data(), early_bytes.data() + early_bytes.size()))
    return;
  wait_readable();
}

void WsConn::wait_readable() {
  if (reading_ || state_ == State::ended) return;
  reading_ = true;
  socket_.async_wait(tcp::socket::wait_read,
                     [self = shared_from_this()](const boost::system::error_code& ec) {
                       self->reading_ = false;
                       if (self->state_ == State::ended) return;
                       if (ec) return self->end();
                       self->on_readable();
                     });
}

void WsConn::on_readable() {
  char* buf = thread_.read_buffer.get();
  for (int turn = 0; turn < kReadsPerTurn; ++turn) {
    const ssize_t n = ::recv(socket_.native_handle(), buf, kReadBufferBytes, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) return end();  // the peer closed, or the connection broke
    last_read_ = thread_.now;
    ping_sent_ = false;
    if (!consume(buf, buf + n)) return;
    if (static_cast<std::size_t>(n) < kReadBufferBytes) break;  // nothing more waits, likely
  }
  wait_readable();
}

bool WsConn::consume(char* p, char* end) {
  using Kind = ws::FrameReader::Event::Kind;
  while (p < end) {
    if (state_ == State::ended) return false;
    if (state_ == State::linger || stop_reading_) return true;  // what comes now is dropped
    auto e = reader_.next(p, end);
    switch (e.kind) {
      case Kind::need_more:
        break;
      case Kind::text:
        if (state_ == State::open) {
          thread_.counts.in.add(1, static_cast<std::int64_t>(e.data.size()));
          session_->on_text(e.data);
        }
        break;
      case Kind::ping:
        if (state_ == State::open) queue_control(ws::Opcode::pong, std::string(e.data));
        break;
      case Kind::pong:
        break;
      case Kind::close:
        if (state_ == State::open) {
          // The peer closes: what is queued goes first, then our answer with its code (none
          // when it gave none), then we shut.
          queue_control(ws::Opcode::close,
                        e.code == 1005 ? std::string() : ws::close_payload(e.code, {}));
          state_ = State::closing;
          deadline_ = thread_.now + thread_.host.opts_.read_timeout;
        }
        stop_reading_ = true;
        return true;
      case Kind::fail:
        request_close(e.code, e.data);
        stop_reading_ = true;
        return true;
    }
  }
  if (state_ == State::ended) return false;
  if (!reader_.mid_frame()) reader_.release();
  return true;
}

void WsConn::enqueue(std::shared_ptr<const std::string> text) {
  if (state_ != State::open) return;
  const auto& o = thread_.host.opts_;
  if (queue_.size() - queue_head_ >= o.ws_send_queue_frames ||
      queued_bytes_ + text->size() > o.ws_send_queue_bytes) {
    request_close(kCloseSlowConsumer, "send queue full: reconnect and catch up");
    return;
  }
  queued_bytes_ += text->size();
  thread_.counts.queued.add(1, static_cast<std::int64_t>(text->size()));
  queue_.push_back({std::move(text), ws::Opcode::text});
  if (!in_flush_list && !write_waiting_) thread_.schedule_flush(shared_from_this());
}

void WsConn::queue_control(ws::Opcode op, std::string payload) {
  queue_.push_back({std::make_shared<const std::string>(std::move(payload)), op});
  if (!in_flush_list && !write_waiting_) thread_.schedule_flush(shared_from_this());
}

void WsConn::request_close(int code, std::string_view reason) {
  if (state_ != State::open) return;
  WsMetrics::get().close_code(code).Increment();
  drop_queue();
  queue_control(ws::Opcode::close, ws::close_payload(code, reason));
  state_ = State::closing;
  deadline_ = thread_.now + thread_.host.opts_.read_timeout;
}

void send_to_all(const std::vector<std::shared_ptr<WsConnection>>& conns,
                 const std::shared_ptr<const std::string>& text) {
  // One post per I/O thread rather than one per recipient: a 1,000-member fan-out costs a
  // handful of allocations, and each thread queues the frame on its own connections. Grouped
  // by the thread's index, not by comparing executors.
  std::vector<std::vector<std::shared_ptr<WsConnection>>> by_thread;
  for (const auto& c : conns) {
    auto* ws = dynamic_cast<WsConn*>(c.get());
    if (!ws) {
      c->send(text);
      continue;
    }
    const std::size_t i = ws->thread_index();
    if (by_thread.size() <= i) by_thread.resize(i + 1);
    if (by_thread[i].empty()) by_thread[i].reserve(conns.size());
    by_thread[i].push_back(c);
  }
  for (auto& members : by_thread) {
    if (members.empty()) continue;
    auto& ctx = static_cast<WsConn&>(*members.front()).context();
    asio::post(ctx, [members = std::move(members), text] {
      for (const auto& m : members) static_cast<WsConn&>(*m).enqueue(text);
    });
  }
}

void WsConn::flush() {
  while (state_ != State::ended && !write_waiting_ && queue_head_ < queue_.size()) {
    // Gather up to kFramesPerWrite frames: each a header (in the thread's scratch) and its
    // payload, the part of the first already written skipped.
    auto& iov = thread_.iov;
    std::size_t n_iov = 0, frames = 0, bytes = 0, skip = written_;
    for (std::size_t i = queue_head_; i < queue_.size() && frames < kFramesPerWrite &&
                                      bytes < kBytesPerWrite;
         ++i, ++frames) {
      const auto& f = queue_[i];
      auto* head = thread_.headers[frames].data();
      const std::size_t head_len = ws::write_header(f.op, f.payload->size(), head);
      const std::size_t cut = std::min(skip, head_len);
      if (cut < head_len) iov[n_iov++] = {head + cut, head_len - cut};
      skip -= cut;
      if (skip < f.payload->size())
        iov[n_iov++] = {const_cast<char*>(f.payload->data()) + skip, f.payload->size() - skip};
      bytes += head_len + f.payload->size() - (cut + skip);
      skip = 0;
    }
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = n_iov;
    ssize_t sent = ::sendmsg(socket_.native_handle(), &msg, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return wait_writable();
      return end();  // reset or broken: the read side sees it too
    }
    // Retire what went out whole; remember how far into the next it got.
    std::size_t left = static_cast<std::size_t>(sent) + written_;
    written_ = 0;
    bool close_sent = false;
    std::int64_t frames_out = 0, bytes_out = 0;
    while (queue_head_ < queue_.size()) {
      auto& f = queue_[queue_head_];
      std::uint8_t head[ws::kMaxServerHeader];
      const std::size_t wire = ws::write_header(f.op, f.payload->size(), head) + f.payload->size();
      if (left < wire) {
        written_ = left;
        break;
      }
      left -= wire;
      if (f.op == ws::Opcode::text) {
        queued_bytes_ -= f.payload->size();
        ++frames_out;
        bytes_out += static_cast<std::int64_t>(f.payload->size());
      }
      close_sent = close_sent || f.op == ws::Opcode::close;
      f.payload.reset();
      ++queue_head_;
    }
    thread_.counts.queued.add(-frames_out, -bytes_out);
    thread_.counts.out.add(frames_out, bytes_out);
    if (close_sent) return begin_linger();
    if (written_ > 0) return wait_writable();  // the socket took part: it is full
  }
  if (queue_head_ == queue_.size()) {
    queue_.clear();
    queue_head_ = 0;
    if (queue_.capacity() > 16) queue_.shrink_to_fit();  // a burst's room goes back
  }
}

void WsConn::wait_writable() {
  if (write_waiting_) return;
  write_waiting_ = true;
  socket_.async_wait(tcp::socket::wait_write,
                     [self = shared_from_this()](const boost::system::error_code& ec) {
                       self->write_waiting_ = false;
                       if (self->state_ == State::ended) return;
                       if (ec) return self->end();
                       self->flush();
                     });
}

void WsConn::begin_linger() {
  // Closing while the peer still sends would answer its data with a reset, which can destroy
  // our close frame before the peer reads it: shut our side, then read until the peer closes.
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  state_ = State::linger;
  deadline_ = thread_.now + thread_.host.opts_.read_timeout;
  drop_queue();
  wait_readable();
}

void WsConn::sweep(Clock::time_point now) {
  const auto& o = thread_.host.opts_;
  if (state_ == State::closing || state_ == State::linger) {
    if (now >= deadline_) end();  // the peer never read our close frame, or never closed
    return;
  }
  if (!ready_ && now >= deadline_)
    return request_close(kCloseUnauthorized, "hello with a valid token required");
  // Keep-alive: a ping after a heartbeat of silence; nothing heard for two, the peer is gone.
  const auto quiet = now - last_read_;
  if (quiet >= 2 * o.ws_heartbeat) return end();
  if (quiet >= o.ws_heartbeat && !ping_sent_) {
    ping_sent_ = true;
    queue_control(ws::Opcode::ping, {});
  }
}

void WsConn::drop_queue() {
  // A frame begun on the wire must be finished, or the stream would be corrupt.
  const std::size_t keep = written_ > 0 ? 1 : 0;
  std::int64_t frames = 0, bytes = 0;
  for (std::size_t i = queue_head_ + keep; i < queue_.size(); ++i) {
    if (queue_[i].op != ws::Opcode::text) continue;
    ++frames;
    bytes += static_cast<std::int64_t>(queue_[i].payload->size());
  }
  thread_.counts.queued.add(-frames, -bytes);
  queued_bytes_ -= static_cast<std::size_t>(bytes);
  queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(queue_head_ + keep), queue_.end());
}

void WsConn::end() {
  if (state_ == State::ended) return;
  written_ = 0;
  drop_queue();
  queue_.clear();
  queue_head_ = 0;
  state_ = State::ended;
  boost::system::error_code ec;
  socket_.close(ec);  // pending waits end with operation_aborted
  auto& host = thread_.host;
  auto& conns = thread_.conns;
  conns[list_index] = conns.back();
  conns[list_index]->list_index = list_index;
  conns.pop_back();
  if (session_) session_->on_close();
  session_.reset();
  host.open_.fetch_sub(1, std::memory_order_relaxed);
  host.open_gauge_.Decrement();
}

// ---- the host ----

WsHost::WsHost(const ServerOptions& opts, WsFactory factory, const std::atomic<bool>& draining,
               prometheus::Gauge& open_gauge,
               const std::vector<std::unique_ptr<asio::io_context>>& contexts)
    : opts_(opts), factory_(std::move(factory)), draining_(draining), open_gauge_(open_gauge) {
  WsMetrics::get();  // the WebSocket series exist (at 0) before the first socket
  for (std::size_t i = 0; i < contexts.size(); ++i)
    threads_.push_back(std::make_unique<WsThread>(*this, *contexts[i], i));
  counts_reading_ = metrics::read_at_scrape([this] {
    auto sum = [this](IoThreadCounts::Pair IoThreadCounts::*pair) {
      double frames = 0, bytes = 0;
      for (const auto& t : threads_) {
        frames += static_cast<double>((t->counts.*pair).frames.load(std::memory_order_relaxed));
        bytes += static_cast<double>((t->counts.*pair).bytes.load(std::memory_order_relaxed));
      }
      return std::pair{frames, bytes};
    };
    auto [qf, qb] = sum(&IoThreadCounts::queued);
    auto [in_f, in_b] = sum(&IoThreadCounts::in);
    auto [out_f, out_b] = sum(&IoThreadCounts::out);
    const char* frames_help = "WebSocket text frames by direction (in: from clients, out: sent)";
    const char* bytes_help = "WebSocket frame payload bytes by direction";
    return std::vector<metrics::Reading>{
        {"parley_websocket_send_queue_frames",
         "Frames queued on WebSocket connections and not yet written", false, {}, qf},
        {"parley_websocket_send_queue_bytes",
         "Bytes of frames queued on WebSocket connections and not yet written", false, {}, qb},
        {"parley_websocket_frames_total", frames_help, true, {{"direction", "in"}}, in_f},
        {"parley_websocket_frames_total", frames_help, true, {{"direction", "out"}}, out_f},
        {"parley_websocket_frame_bytes_total", bytes_help, true, {{"direction", "in"}}, in_b},
        {"parley_websocket_frame_bytes_total", bytes_help, true, {{"direction", "out"}}, out_b}};
  });
}

WsHost::~WsHost() = default;

void WsHost::adopt(std::size_t thread, tcp::socket socket, std::uint64_t id, std::string peer,
                   const Request& upgrade, std::string early_bytes) {
  auto conn = std::make_shared<WsConn>(*threads_[thread], std::move(socket), id, std::move(peer));
  conn->start(upgrade, std::move(early_bytes));
}

void WsHost::close_all(int code, const std::string& reason) {
  for (auto& t : threads_)
    asio::post(t->ctx, [t = t.get(), code, reason] {
      // By copy: a close may end a connection, which leaves the list.
      std::vector<std::shared_ptr<WsConn>> open;
      for (auto* c : t->conns) open.push_back(c->shared_from_this());
      for (auto& c : open) c->request_close(code, reason);
    });
}

}  // namespace parley::net
