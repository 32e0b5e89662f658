#include "net/server.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "core/log.h"
#include "core/trace.h"
#include "core/metrics.h"
#include "ws_conn.h"

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// How long, and how much, a connection answered before its request was read whole keeps
// reading (and dropping) before it closes: see the lingering close in serve_http.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerMaxBytes = 16 * 1024 * 1024;

namespace {

Method to_method(bhttp::verb v) {
  switch (v) {
    case bhttp::verb::get:
      return Method::get;
    case bhttp::verb::head:
      return Method::head;
    case bhttp::verb::post:
      return Method::post;
    case bhttp::verb::put:
      return Method::put;
    case bhttp::verb::patch:
      return Method::patch;
    case bhttp::verb::delete_:
      return Method::del;
    case bhttp::verb::options:
      return Method::options;
    default:
      return Method::other;
  }
}

// Runs f on the worker pool and resumes the calling coroutine on its own executor with f's
// result; nullopt when the pool refused the work (overload or shutdown).
template <class F>
asio::awaitable<std::optional<std::invoke_result_t<F&>>> on_pool(WorkerPool& pool, F f) {
  using T = std::invoke_result_t<F&>;
  auto ex = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::optional<T>)>(
      [&pool, ex](auto handler, F work) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        bool queued = pool.try_submit([h, work = std::move(work), ex]() mutable {
          std::optional<T> r(work());
          asio::post(ex, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
        });
        if (!queued) asio::post(ex, [h]() mutable { (*h)(std::optional<T>{}); });
      },
      asio::use_awaitable, std::move(f));
}

// Answers "Expect: 100-continue" (curl sends it before large bodies) so the client sends the
// body now rather than after its own timeout.
asio::awaitable<void> continue_if_expected(beast::tcp_stream& stream,
                                           const bhttp::request_parser<bhttp::string_body>& p) {
  if (!beast::iequals(p.get()[bhttp::field::expect], "100-continue")) co_return;
  bhttp::response<bhttp::empty_body> go_on{bhttp::status::continue_, 11};
  co_await bhttp::async_write(stream, go_on, kTuple);
}

// Streamed bodies move in pieces of this size: big enough that the worker pool hop per piece
// costs little, small enough that a connection holds little.
constexpr std::size_t kStreamPieceBytes = 256 * 1024;
constexpr std::size_t kStreamReadBytes = 64 * 1024;

// Starts an asynchronous route's handler on the worker pool and waits, without blocking a
// thread, until it replies; nullopt when the pool refused the work. The reply may come from any
// thread: it is handed to this coroutine's own thread, which alone touches the waiting state.
asio::awaitable<std::optional<Response>> on_pool_async(WorkerPool& pool, const Route* route,
                                                       std::shared_ptr<Request> req) {
  struct Waiting {
    explicit Waiting(const asio::any_io_executor& ex) : wake(ex) {}
    asio::steady_timer wake;
    std::optional<Response> response;
    std::atomic<bool> replied{false};
  };
  auto waiting = std::make_shared<Waiting>(co_await asio::this_coro::executor);
  waiting->wake.expires_at(asio::steady_timer::time_point::max());
  Reply reply = [waiting](Response r) {
    if (waiting->replied.exchange(true)) return;
    asio::post(waiting->wake.get_executor(), [waiting, r = std::move(r)]() mutable {
      waiting->response = std::move(r);
      waiting->wake.cancel();
    });
  };
  bool queued = pool.try_submit([route, req, reply] {
    try {
      route->async_handler(*req, reply);
    } catch (const std::exception& e) {
      log::error("handler threw",
                 {{"route", route->pattern},
                  {"what", e.what()},
                  {log::format() == log::Format::json ? "trace.id" : "request_id", req->trace_id}});
      reply(error_response(500, "internal", "internal error"));
    }
  });
  if (!queued) co_return std::nullopt;
  while (!waiting->response) co_await waiting->wake.async_wait(kTuple);
  co_return std::move(waiting->response);
}

// W3C Trace Context: continue a valid incoming traceparent, otherwise start a trace. A malformed
// header is ignored, never an error. The server's span gets its own id either way.
// Returns the server span's context and the caller's span id (zero when none): the span is
// recorded when the caller's sampled flag says so, or, for a new trace, by ratio.
std::pair<trace::Context, std::array<std::uint8_t, 8>> start_trace(Request& req) {
  trace::Context c;
  std::array<std::uint8_t, 8> parent{};
  if (auto tp = trace::Context::parse(req.header("traceparent"))) {
    c = *tp;
    parent = tp->span_id;
  } else {
    c = trace::Context::fresh();  // sampled by ratio (never when tracing is off)
  }
  c.span_id = trace::Context::fresh_span_id();
  req.trace_id = c.trace_hex();
  req.span_id = c.span_hex();
  req.trace_flags = c.sampled ? "01" : "00";
  return {c, parent};
}
}  // namespace

struct Server::Impl {
  Impl(ServerOptions o, const Router& r, WorkerPool& p, WsFactory f, WsAdmission a)
      : opts(std::move(o)),
        router(r),
        pool(p),
        ws_admission(std::move(a)),
        header_body_limit(
            std::max<std::uint64_t>(opts.max_body_bytes, router.max_streaming_body_bytes())),
        requests(prometheus::BuildCounter()
                     .Name("parley_http_requests_total")
                     .Help("HTTP requests by route, method and status")
                     .Register(metrics::registry())),
        latency(
            prometheus::BuildHistogram()
                .Name("parley_http_request_duration_seconds")
                .Help("HTTP request latency by route, from request header read to response written")
                .Register(metrics::registry())),
        connections(prometheus::BuildGauge()
                        .Name("parley_open_connections")
                        .Help("Open client connections by kind")
                        .Register(metrics::registry())),
        http_open(connections.Add({{"kind", "http"}})),
        ws_open(connections.Add({{"kind", "websocket"}})),
        refused_connections(prometheus::BuildCounter()
                                .Name("parley_refused_connections_total")
                                .Help("Connections closed at accept: max_connections were open")
                                .Register(metrics::registry())
                                .Add({})) {
    for (unsigned i = 0; i < std::max(1u, opts.io_threads); ++i) {
      contexts.push_back(std::make_unique<asio::io_context>(1));
      guards.emplace_back(contexts.back()->get_executor());
    }
    ws = std::make_unique<WsHost>(opts, std::move(f), draining, ws_open, contexts);
  }

  std::size_t context_index(const asio::any_io_executor& ex) const {
    auto& ctx = asio::query(ex, asio::execution::context);
    for (std::size_t i = 0; i < contexts.size(); ++i)
      if (contexts[i].get() == &ctx) return i;
    return 0;  // not reached: every connection lives on one of the contexts
  }

  asio::io_context& next_context() {
    return *contexts[next_ctx.fetch_add(1, std::memory_order_relaxed) % contexts.size()];
  }

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve_http(tcp::socket socket);
  asio::awaitable<Response> dispatch(std::shared_ptr<Request> req, const Router::Match& m);
  // A streaming route: starts it, then feeds its sink the body piece by piece.
  asio::awaitable<Response> receive_streamed(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                             bhttp::request_parser<bhttp::string_body>& header,
                                             std::shared_ptr<Request> req, const Route* route,
                                             bool& request_unread);
  // Writes a response whose body comes from a BodySource; returns the body bytes written.
  asio::awaitable<std::uint64_t> send_streamed(beast::tcp_stream& stream,
                                               bhttp::response<bhttp::string_body>& head,
                                               const Response& resp, bool head_only,
                                               boost::system::error_code& wec);
  Response too_large(std::uint64_t limit) const {
    return error_response(413, "payload_too_large",
                          "body over " + std::to_string(limit) + " bytes");
  }
  void record(const char* route, Method m, int status, double seconds);
  void begin_drain();
  void begin_shutdown();

  ServerOptions opts;
  const Router& router;
  WorkerPool& pool;
  WsAdmission ws_admission;
  // The body limit headers are parsed with: the largest of any route's (see serve_http).
  std::uint64_t header_body_limit = 0;
  std::atomic<std::uint64_t> conn_counter{0};

  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  std::atomic<std::size_t> next_ctx{0};
  std::unique_ptr<tcp::acceptor> acceptor;
  std::uint16_t bound_port = 0;

  asio::io_context control;           // the main thread's: signals and the stop request
  std::atomic<bool> draining{false};  // set first: answers close their connections
  std::atomic<bool> stopping{false};  // then: no new requests, the listener is closed

  // Live keep-alive connections, so shutdown can close the idle ones.
  std::mutex live_mu;
  std::unordered_map<std::uint64_t, std::weak_ptr<beast::tcp_stream>> idle_http;
  std::atomic<int> open_http{0};

  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& latency;
  prometheus::Family<prometheus::Gauge>& connections;
  prometheus::Gauge& http_open;
  prometheus::Gauge& ws_open;
  prometheus::Counter& refused_connections;
  // WebSockets after their handshake; declared after contexts, ended before them.
  std::unique_ptr<WsHost> ws;
};

// ---- HTTP ----

void Server::Impl::record(const char* route, Method m, int status, double seconds) {
  requests.Add({{"route", route}, {"method", method_name(m)}, {"status", std::to_string(status)}})
      .Increment();
  latency
      .Add({{"route", route}},
           prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1, 0.25, 0.5, 1, 2.5})
      .Observe(seconds);
}

asio::awaitable<Response> Server::Impl::dispatch(std::shared_ptr<Request> req,
                                                 const Router::Match& m) {
  if (m.bad_encoding) co_return error_response(400, "bad_request", "malformed path encoding");
  if (!m.route) {
    if (m.path_known) {
      auto r = error_response(405, "method_not_allowed", "method not allowed");
      r.headers.push_back({"Allow", m.allow});
      co_return r;
    }
    co_return error_response(404, "not_found", "no such route");
  }
  const Route* route = m.route;
  if (route->async_handler) {
    auto r = co_await on_pool_async(pool, route, req);
    if (!r) co_return error_response(503, "unavailable", "server busy, retry shortly");
    co_return std::move(*r);
  }
  auto guarded = [route, req]() -> Response {
    try {
      return route->handler(*req);
    } catch (const std::exception& e) {
      log::error("handler threw",
                 {{"route", route->pattern},
                  {"what", e.what()},
                  {log::format() == log::Format::json ? "trace.id" : "request_id", req->trace_id}});
      return error_response(500, "internal", "internal error");
    }
  };
  if (route->on_io_thread) co_return guarded();
  auto r = co_await on_pool(pool, std::move(guarded));
  if (!r) co_return error_response(503, "unavailable", "server busy, retry shortly");
  co_return std::move(*r);
}

asio::awaitable<Response> Server::Impl::receive_streamed(
    beast::tcp_stream& stream, beast::flat_buffer& buffer,
    bhttp::request_parser<bhttp::string_body>& header, std::shared_ptr<Request> req,
    const Route* route, bool& request_unread) {
  if (header.content_length().value_or(0) > route->max_body_bytes) {
    request_unread = true;
    co_return too_large(route->max_body_bytes);
  }
  auto start = [route, req]() -> StreamStart {
    try {
      return route->stream_handler(*req);
    } catch (const std::exception& e) {
      log::error("handler threw",
                 {{"route", route->pattern},
                  {"what", e.what()},
                  {log::format() == log::Format::json ? "trace.id" : "request_id", req->trace_id}});
      return {error_response(500, "internal", "internal error"), nullptr};
    }
  };
  auto started = co_await on_pool(pool, std::move(start));
  if (!started) {
    request_unread = !header.is_done();
    co_return error_response(503, "unavailable", "server busy, retry shortly");
  }
  if (!started->sink) {
    request_unread = !header.is_done();
    co_return std::move(started->response);
  }
  std::shared_ptr<BodySink> sink = std::move(started->sink);
  co_await continue_if_expected(stream, header);
  // Converting the parser keeps what it read of the header; only the body type changes.
  bhttp::request_parser<bhttp::buffer_body> body{std::move(header)};
  body.body_limit(route->max_body_bytes);
  auto piece = std::make_unique<char[]>(kStreamPieceBytes);
  // Beast sizes each socket read by the buffer's spare room; left as it is after the header, that
  // is a few hundred bytes, and a large upload costs a million reads. Given back afterwards, so a
  // kept-alive connection holds little.
  buffer.reserve(kStreamReadBytes);
  Result<void> outcome = ok();
  while (outcome && !body.is_done()) {
    body.get().body().data = piece.get();
    body.get().body().size = kStreamPieceBytes;
    stream.expires_after(opts.read_timeout);  // per piece: a large upload may take hours
    auto [ec, n] = co_await bhttp::async_read(stream, buffer, body, kTuple);
    if (ec == bhttp::error::need_buffer) ec = {};
    std::size_t got = kStreamPieceBytes - body.get().body().size;
    if (got > 0) {
      std::string_view bytes(piece.get(), got);  // the coroutine, and so piece, waits below
      auto write_piece = [sink, bytes] { return sink->write(bytes); };
      auto written = co_await on_pool(pool, std::move(write_piece));
      if (!written) {
        outcome = fail(Errc::unavailable, "server busy, retry shortly");
      } else if (!*written) {
        outcome = std::move(*written);
      }
      if (!outcome) request_unread = !body.is_done();
    }
    if (ec && outcome) {
      if (ec == bhttp::error::body_limit) {
        outcome =
            fail(Errc::too_large, "body over " + std::to_string(route->max_body_bytes) + " bytes");
        request_unread = true;
      } else {
        outcome = fail(Errc::unavailable, "the request body broke off");
      }
    }
  }
  buffer.shrink_to_fit();
  auto finish = [sink, outcome] { return sink->finish(outcome); };
  auto answer = co_await on_pool(pool, finish);
  // At shutdown the pool may refuse: finish here rather than lose what the client sent.
  co_return answer ? std::move(*answer) : finish();
}

asio::awaitable<std::uint64_t> Server::Impl::send_streamed(
    beast::tcp_stream& stream, bhttp::response<bhttp::string_body>& head, const Response& resp,
    bool head_only, boost::system::error_code& wec) {
  bhttp::response<bhttp::empty_body> out{head.result(), 11};
  for (const auto& f : head) out.set(f.name_string(), f.value());
  out.keep_alive(head.keep_alive());
  out.content_length(resp.stream_length);
  bhttp::response_serializer<bhttp::empty_body> serializer{out};
  std::tie(wec, std::ignore) = co_await bhttp::async_write_header(stream, serializer, kTuple);
  std::uint64_t sent = 0;
  if (wec || head_only) co_return sent;
  auto source = resp.stream;
  while (sent < resp.stream_length) {
    std::size_t want = static_cast<std::size_t>(
        std::min<std::uint64_t>(kStreamPieceBytes, resp.stream_length - sent));
    // Named, not a temporary in the co_await: GCC 12 mishandles such temporaries' captures.
    auto read_piece = [source, want] { return source->next(want); };
    auto piece = co_await on_pool(pool, std::move(read_piece));
    if (!piece || !*piece || (*piece)->empty()) {
      // The status line is out: the only honest signal left is a connection cut short.
      if (piece && !*piece)
        log::warn("streamed body failed", {{"error", (*piece).error().message}});
      wec = asio::error::broken_pipe;
      co_return sent;
    }
    std::string& bytes = **piece;
    if (bytes.size() > resp.stream_length - sent) bytes.resize(resp.stream_length - sent);
    stream.expires_after(opts.read_timeout);
    std::tie(wec, std::ignore) = co_await asio::async_write(stream, asio::buffer(bytes), kTuple);
    if (wec) co_return sent;
    sent += bytes.size();
  }
  co_return sent;
}

asio::awaitable<void> Server::Impl::serve_http(tcp::socket socket) {
  const std::uint64_t conn_id = ++conn_counter;
  boost::system::error_code ep_ec;
  auto ep = socket.remote_endpoint(ep_ec);
  std::string peer = ep_ec ? std::string() : ep.address().to_string();
  auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
  ++open_http;
  http_open.Increment();
  struct Close {
    Impl* s;
    std::uint64_t id;
    bool counted = true;
    void uncount() {
      if (!counted) return;
      counted = false;
      --s->open_http;
      s->http_open.Decrement();
    }
    ~Close() {
      {
        std::lock_guard lock(s->live_mu);
        s->idle_http.erase(id);
      }
      uncount();
    }
  } on_exit{this, conn_id};

  beast::flat_buffer buffer;
  bool first = true;
  // Set when an answer goes out before the request was read whole (413, 431, a malformed
  // request): the client may still be sending.
  bool request_unread = false;
  for (;;) {
    {
      std::lock_guard lock(live_mu);
      if (stopping) break;
      idle_http[conn_id] = stream;
    }
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(opts.max_header_bytes));
    // The largest any route takes: a route's own limit is applied once it is known.
    parser.body_limit(header_body_limit);
    stream->expires_after(first ? opts.read_timeout : opts.idle_timeout);
    first = false;
    auto [hec, hn] = co_await bhttp::async_read_header(*stream, buffer, parser, kTuple);
    {
      std::lock_guard lock(live_mu);
      idle_http.erase(conn_id);
    }
    auto started = std::chrono::steady_clock::now();

    Response resp;
    bool keep_alive = false;
    bool early_error = true;
    if (hec == bhttp::error::body_limit) {
      // Beast checks Content-Length against body_limit while parsing the header: the body is
      // refused before a byte of it is read.
      resp = too_large(header_body_limit);
    } else if (hec == bhttp::error::header_limit) {
      resp = error_response(431, "payload_too_large", "request headers too large");
    } else if (hec) {
      // Timeouts, resets and EOF end quietly; a garbled request gets a 400 before closing.
      if (hec == bhttp::error::end_of_stream || hec == beast::error::timeout ||
          hec == asio::error::connection_reset || hec == asio::error::eof ||
          hec == asio::error::operation_aborted)
        break;
      resp = error_response(400, "bad_request", "malformed HTTP request");
    } else {
      early_error = false;
    }
    request_unread = early_error;

    if (!early_error && websocket::is_upgrade(parser.get())) {
      if (parser.get().target() != opts.websocket_path) {
        resp = error_response(404, "not_found", "no WebSocket endpoint here");
        early_error = true;
      } else {
        stream->expires_after(opts.read_timeout);
        auto [ec, n] = co_await bhttp::async_read(*stream, buffer, parser, kTuple);
        if (ec) break;
        auto upgrade = parser.release();
        Request req;
        req.method = Method::get;
        req.target = std::string(upgrade.target());
        req.peer_ip = peer;
        for (const auto& f : upgrade)
          req.headers.push_back({std::string(f.name_string()), std::string(f.value())});
        if (auto refused = ws_admission ? ws_admission(req) : std::nullopt) {
          resp = std::move(*refused);
          early_error = true;
        } else {
          on_exit.uncount();  // from here on it is counted as a WebSocket
          std::string early = beast::buffers_to_string(buffer.data());
          const std::size_t thread = context_index(stream->get_executor());
          // Beast checks the upgrade and answers it (101, or 400/426 for a bad one); Parley's
          // own framing takes the socket from there (ws_conn.h), and this coroutine ends.
          websocket::stream<tcp::socket> handshake(stream->release_socket());
          websocket::stream_base::timeout t;
          t.handshake_timeout = opts.read_timeout;
          t.idle_timeout = websocket::stream_base::none();
          t.keep_alive_pings = false;
          handshake.set_option(t);
          auto [aec] = co_await handshake.async_accept(upgrade, kTuple);
          if (aec) co_return;
          ws->adopt(thread, std::move(handshake.next_layer()), conn_id, std::move(peer), req,
                    std::move(early));
          co_return;
        }
      }
    }

    auto req = std::make_shared<Request>();
    const char* route_name = "unmatched";
    trace::Span span;  // the server span; records only when this request's trace is sampled
    if (!early_error) {
      const auto& head = parser.get();
      keep_alive = head.keep_alive();
      req->method = to_method(head.method());
      req->target = std::string(head.target());
      req->peer_ip = peer;
      req->headers.reserve(8);
      for (const auto& f : head)
        req->headers.push_back({std::string(f.name_string()), std::string(f.value())});
      auto [self, parent] = start_trace(*req);
      span = trace::Span::adopt("HTTP", trace::Kind::server, self, parent);
      auto match = router.match(*req);
      if (match.route) route_name = match.route->pattern.c_str();
      if (match.route && match.route->stream_handler && !match.bad_encoding) {
        resp = co_await receive_streamed(*stream, buffer, parser, req, match.route, request_unread);
      } else if (parser.content_length().value_or(0) > opts.max_body_bytes) {
        resp = too_large(opts.max_body_bytes);
        request_unread = true;
      } else {
        parser.body_limit(opts.max_body_bytes);
        co_await continue_if_expected(*stream, parser);
        stream->expires_after(opts.read_timeout);
        auto [bec, bn] = co_await bhttp::async_read(*stream, buffer, parser, kTuple);
        if (bec == bhttp::error::body_limit) {  // a chunked body that grew past the limit
          resp = too_large(opts.max_body_bytes);
          request_unread = true;
        } else if (bec &&
                   bec.category() == bhttp::make_error_code(bhttp::error::bad_chunk).category() &&
                   bec != bhttp::error::end_of_stream && bec != bhttp::error::partial_message) {
          // A body that does not parse (a bad chunk size, say) gets its 400 like a bad header,
          // rather than a connection closed without an answer.
          resp = error_response(400, "bad_request", "malformed HTTP request body");
          request_unread = true;
        } else if (bec) {
          break;
        } else {
          req->body = std::move(parser.get().body());
          resp = co_await dispatch(req, match);
        }
      }
    }
    if (request_unread) keep_alive = false;
    if (req->trace_id.empty()) start_trace(*req);  // a request refused before it was read
    add_request_id(resp, req->trace_id);
    if (draining) keep_alive = false;

    bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(resp.status), 11};
    if (!resp.content_type.empty()) out.set(bhttp::field::content_type, resp.content_type);
    out.set("X-Request-Id", req->trace_id);
    out.set("traceparent", "00-" + req->trace_id + "-" + req->span_id + "-" + req->trace_flags);
    for (const auto& h : resp.headers) out.set(h.name, h.value);
    for (const auto& h : opts.default_headers)
      if (out.find(h.name) == out.end()) out.set(h.name, h.value);
    out.keep_alive(keep_alive);
    stream->expires_after(opts.read_timeout);
    boost::system::error_code wec;
    std::uint64_t body_bytes = 0;
    if (resp.stream) {
      body_bytes = co_await send_streamed(*stream, out, resp, req->method == Method::head, wec);
    } else {
      out.body() = std::move(resp.body);
      out.prepare_payload();
      if (req->method == Method::head) {  // the GET answer's header, Content-Length included
        bhttp::response_serializer<bhttp::string_body> head_only{out};
        std::tie(wec, std::ignore) = co_await bhttp::async_write_header(*stream, head_only, kTuple);
      } else {
        std::tie(wec, std::ignore) = co_await bhttp::async_write(*stream, out, kTuple);
        body_bytes = out.body().size();
      }
    }

    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    record(route_name, req->method, resp.status, secs);
    if (span.recording()) {
      span.rename(std::string(method_name(req->method)) + " " + route_name);
      span.set("http.request.method", method_name(req->method));
      span.set("http.route", route_name);
      span.set("http.response.status_code", std::int64_t{resp.status});
      if (resp.status >= 500) span.fail("HTTP " + std::to_string(resp.status));
      span.end();
    }
    if (opts.access_log) {
      if (log::format() == log::Format::json) {
        // Elastic Common Schema names; url.path is the route's pattern, never the raw target
        // (ids, signed links' query strings). client.ip is the real client behind trusted proxies.
        std::string client = opts.client_ip && !early_error ? opts.client_ip(*req) : peer;
        log::info("http", {{"trace.id", req->trace_id},
                           {"span.id", req->span_id},
                           {"http.request.method", method_name(req->method)},
                           {"url.path", route_name},
                           {"http.response.status_code", resp.status},
                           {"http.response.body.bytes", body_bytes},
                           {"event.duration", static_cast<std::int64_t>(secs * 1e9)},
                           {"client.ip", client}});
      } else {
        log::info("http", {{"request_id", req->trace_id},
                           {"method", method_name(req->method)},
                           {"route", route_name},
                           {"status", resp.status},
                           {"ms", secs * 1000.0},
                           {"bytes", body_bytes},
                           {"peer", peer}});
      }
    }
    if (wec || !keep_alive) break;
  }
  boost::system::error_code ignored;
  stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
  if (request_unread) {
    // Lingering close (RFC 9112 9.6): closing while the client is still sending makes the kernel
    // answer its data with a reset, which can destroy the error answer before the client reads
    // it (an oversize upload then sees "connection reset" rather than 413). Drop what still
    // comes, for a bounded time and amount, until the client closes.
    stream->expires_after(kLingerTime);
    std::size_t dropped = 0;
    // On the heap, only here: an array local to the coroutine would sit in every connection's
    // frame for its whole life.
    auto scratch = std::make_unique<char[]>(16384);
    for (;;) {
      auto [lec, n] = co_await stream->async_read_some(asio::buffer(scratch.get(), 16384), kTuple);
      dropped += n;
      if (lec || dropped > kLingerMaxBytes) break;
    }
  }
}

asio::awaitable<void> Server::Impl::accept_loop() {
  for (;;) {
    auto& ctx = next_context();
    auto [ec, socket] = co_await acceptor->async_accept(ctx, kTuple);
    if (ec) {
      if (stopping || ec == asio::error::operation_aborted) co_return;
      // Out of fds or similar: back off briefly instead of spinning.
      log::warn("accept failed", {{"error", ec.message()}});
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
      co_await t.async_wait(kTuple);
      continue;
    }
    if (static_cast<std::size_t>(open_http + ws->open()) >= opts.max_connections) {
      // Refused before any byte is read: a flood cannot make the server allocate for it.
      refused_connections.Increment();
      socket.close(ec);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(ctx, serve_http(std::move(socket)), asio::detached);
  }
}

void Server::Impl::begin_drain() {
  if (draining.exchange(true)) return;
  if (opts.on_drain) opts.on_drain();
  ws->close_all(kCloseServiceRestart, "server restarting: reconnect");
}

void Server::Impl::begin_shutdown() {
  begin_drain();
  if (stopping.exchange(true)) return;
  asio::post(contexts[0]->get_executor(), [this] {
    boost::system::error_code ec;
    acceptor->close(ec);
  });
  std::lock_guard lock(live_mu);
  for (auto& [id, weak] : idle_http) {
    if (auto s = weak.lock())
      asio::post(s->get_executor(), [s] {
        boost::system::error_code ec;
        s->socket().close(ec);
      });
  }
}

// ---- Server ----

Server::Server(ServerOptions options, const Router& router, WorkerPool& pool, WsFactory f,
               WsAdmission a)
    : impl_(std::make_unique<Impl>(std::move(options), router, pool, std::move(f), std::move(a))) {}

Server::~Server() {
  stop();
  for (auto& g : impl_->guards) g.reset();
  for (auto& c : impl_->contexts) c->stop();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
}

Result<void> Server::start() {
  auto& s = *impl_;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(s.opts.host, ec);
  if (ec) return fail(Errc::invalid_argument, "invalid listen host \"" + s.opts.host + "\"");
  tcp::endpoint ep(addr, s.opts.port);
  s.acceptor = std::make_unique<tcp::acceptor>(*s.contexts[0]);
  s.acceptor->open(ep.protocol(), ec);
  if (!ec) s.acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(ep, ec);
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return fail(Errc::unavailable, "cannot listen on " + s.opts.host + ":" +
                                       std::to_string(s.opts.port) + ": " + ec.message());
  s.bound_port = s.acceptor->local_endpoint().port();
  asio::co_spawn(*s.contexts[0], s.accept_loop(), asio::detached);
  for (std::size_t i = 0; i < s.contexts.size(); ++i) {
    s.threads.emplace_back([ctx = s.contexts[i].get()] { ctx->run(); });
    pthread_setname_np(s.threads.back().native_handle(), ("io-" + std::to_string(i)).c_str());
  }
  return ok();
}

std::uint16_t Server::port() const { return impl_->bound_port; }

void Server::run() {
  auto& s = *impl_;
  std::optional<asio::signal_set> signals;
  if (s.opts.handle_signals) {
    signals.emplace(s.control, SIGINT, SIGTERM);
    signals->async_wait([&](const boost::system::error_code& ec, int sig) {
      if (!ec) log::info("signal received, draining", {{"signal", sig}});
      s.control.stop();
    });
  }
  auto guard = asio::make_work_guard(s.control);
  s.control.run();
  s.begin_drain();
  // The listener stays open a while so a load balancer polling readiness sees 503 and moves
  // traffic away before connections are refused.
  if (s.opts.drain_delay.count() > 0) std::this_thread::sleep_for(s.opts.drain_delay);
  s.begin_shutdown();
  // In-flight requests finish and WebSockets complete their closing handshake, within grace.
  auto deadline = std::chrono::steady_clock::now() + s.opts.shutdown_grace;
  while ((s.open_http > 0 || s.ws->open() > 0) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  for (auto& g : s.guards) g.reset();
  for (auto& c : s.contexts) c->stop();
  for (auto& t : s.threads)
    if (t.joinable()) t.join();
  s.threads.clear();
}

void Server::stop() { impl_->control.stop(); }

}  // namespace parley::net
