#include "net/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

std::string_view ClientResponse::header(std::string_view name) const {
  return find_header(headers, name);
}

namespace {

// Runs one async operation on ioc with a deadline; returns its error code. On timeout the
// socket is closed through cancel() and the operation is run to completion, so no handler
// outlives this frame.
template <class Start, class Cancel>
boost::system::error_code run_with_deadline(asio::io_context& ioc, std::chrono::milliseconds d,
                                            Start start, Cancel cancel) {
  boost::system::error_code result = asio::error::would_block;
  bool done = false;
  start([&](boost::system::error_code ec, auto&&...) {
    result = ec;
    done = true;
  });
  // Run until this operation is done, not until the context is idle: a WebSocket read left
  // pending by an earlier timeout would otherwise hold a write here for the whole deadline.
  ioc.restart();
  const auto deadline = std::chrono::steady_clock::now() + d;
  while (!done && ioc.run_one_until(deadline)) {
  }
  if (!done) {
    cancel();
    ioc.restart();
    while (!done && ioc.run_one()) {
    }
    result = asio::error::timed_out;
  }
  return result;
}

}  // namespace

struct HttpClient::Impl {
  std::string host;
  std::uint16_t port;
  std::chrono::milliseconds timeout;
  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  boost::system::error_code connect() {
    stream.emplace(ioc);
    buffer.clear();
    tcp::endpoint ep(asio::ip::make_address(host), port);
    return run_with_deadline(
        ioc, timeout, [&](auto h) { stream->async_connect(ep, h); }, [&] { stream->close(); });
  }
};

HttpClient::HttpClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->timeout = timeout;
}
HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

Result<ClientResponse> HttpClient::request(std::string_view method, std::string_view target,
                                           std::string_view body,
                                           const std::vector<Header>& headers) {
  auto& s = *impl_;
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool fresh = false;
    if (!s.stream || !s.stream->socket().is_open()) {
      if (auto ec = s.connect()) return fail(Errc::unavailable, "connect: " + ec.message());
      fresh = true;
    }
    bhttp::request<bhttp::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(bhttp::field::host, s.host);
    for (const auto& h : headers) req.set(h.name, h.value);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      req.body() = std::string(body);
      if (req[bhttp::field::content_type].empty())
        req.set(bhttp::field::content_type, "application/json");
    }
    req.prepare_payload();
    auto cancel = [&] { s.stream->close(); };
    auto ec = run_with_deadline(
        s.ioc, s.timeout, [&](auto h) { bhttp::async_write(*s.stream, req, h); }, cancel);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.skip(method == "HEAD");  // its Content-Length describes a body that never comes
    if (!ec)
      ec = run_with_deadline(
          s.ioc, s.timeout, [&](auto h) { bhttp::async_read(*s.stream, s.buffer, parser, h); },
          cancel);
    if (ec) {
      s.stream.reset();
      // A kept-alive connection the server already closed: retry once on a fresh one.
      if (!fresh && (ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset ||
                     ec == asio::error::broken_pipe || ec == asio::error::eof))
        continue;
      return fail(Errc::unavailable, "http: " + ec.message());
    }
    auto res = parser.release();
    ClientResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res)
      out.headers.push_back({std::string(f.name_string()), std::string(f.value())});
    out.body = std::move(res.body());
    if (!res.keep_alive()) s.stream.reset();
    return out;
  }
  return fail(Errc::unavailable, "http: connection closed");
}

Result<std::string> HttpClient::raw_exchange(std::string_view bytes) {
  auto& s = *impl_;
  if (auto ec = s.connect()) return fail(Errc::unavailable, "connect: " + ec.message());
  auto cancel = [&] { s.stream->close(); };
  auto ec = run_with_deadline(
      s.ioc, s.timeout,
      [&](auto h) {
        asio::async_write(s.stream->socket(), asio::buffer(bytes.data(), bytes.size()), h);
      },
      cancel);
  if (ec) return fail(Errc::unavailable, "write: " + ec.message());
  std::string out;
  std::array<char, 4096> chunk;
  for (;;) {
    std::size_t got = 0;
    ec = run_with_deadline(
        s.ioc, s.timeout,
        [&](auto h) {
          s.stream->socket().async_read_some(
              asio::buffer(chunk), [&, h](boost::system::error_code e, std::size_t n) mutable {
                got = n;
                h(e);
              });
        },
        cancel);
    out.append(chunk.data(), got);
    if (ec) break;
  }
  s.stream.reset();
  return out;
}

struct WsClient::Impl {
  asio::io_context ioc;
  std::optional<websocket::stream<beast::tcp_stream>> ws;
  beast::flat_buffer buffer;
  std::optional<int> close_code;
  // A read survives a read_text() timeout and is picked up by the next call.
  bool read_pending = false;
  bool read_done = false;
  boost::system::error_code read_ec;

  void drop() { beast::get_lowest_layer(*ws).close(); }

  Result<void> write(std::string_view data, bool text) {
    if (close_code) return fail(Errc::unavailable, "closed");
    ws->text(text);
    auto ec = run_with_deadline(
        ioc, std::chrono::seconds(10),
        [&](auto h) { ws->async_write(asio::buffer(data.data(), data.size()), h); },
        [&] { drop(); });
    if (ec) return fail(Errc::unavailable, "websocket write: " + ec.message());
    return ok();
  }
};

WsClient::WsClient() : impl_(std::make_unique<Impl>()) {}
WsClient::~WsClient() {
  auto& s = *impl_;
  if (s.ws && s.read_pending) {
    s.drop();
    s.ioc.restart();
    while (!s.read_done && s.ioc.run_one()) {
    }
  }
}

Result<std::unique_ptr<WsClient>> WsClient::connect(const std::string& host, std::uint16_t port,
                                                    const std::string& path) {
  std::unique_ptr<WsClient> c(new WsClient());
  auto& s = *c->impl_;
  s.ws.emplace(s.ioc);
  s.ws->read_message_max(16 * 1024 * 1024);
  tcp::endpoint ep(asio::ip::make_address(host), port);
  auto timeout = std::chrono::milliseconds(10'000);
  auto cancel = [&] { s.drop(); };
  auto ec = run_with_deadline(
      s.ioc, timeout, [&](auto h) { beast::get_lowest_layer(*s.ws).async_connect(ep, h); }, cancel);
  if (!ec)
    ec = run_with_deadline(
        s.ioc, timeout,
        [&](auto h) { s.ws->async_handshake(host + ":" + std::to_string(port), path, h); }, cancel);
  if (ec) return fail(Errc::unavailable, "websocket connect: " + ec.message());
  return c;
}

Result<void> WsClient::send_text(std::string_view text) { return impl_->write(text, true); }

Result<void> WsClient::send_binary(std::string_view data) { return impl_->write(data, false); }

Result<std::string> WsClient::read_text(std::chrono::milliseconds timeout) {
  auto& s = *impl_;
  if (s.close_code) return fail(Errc::unavailable, "closed");
  if (!s.read_pending) {
    s.read_pending = true;
    s.read_done = false;
    s.ws->async_read(s.buffer, [&s](boost::system::error_code ec, std::size_t) {
      s.read_ec = ec;
      s.read_done = true;
    });
  }
  s.ioc.restart();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!s.read_done && std::chrono::steady_clock::now() < deadline) s.ioc.run_one_until(deadline);
  if (!s.read_done) return fail(Errc::unavailable, "timeout");
  s.read_pending = false;
  if (s.read_ec) {
    int code = s.ws->reason().code;
    s.close_code = code ? code : 1006;
    return fail(Errc::unavailable, "closed: " + s.read_ec.message());
  }
  std::string out = beast::buffers_to_string(s.buffer.data());
  s.buffer.consume(s.buffer.size());
  return out;
}

std::optional<int> WsClient::close_code() const { return impl_->close_code; }

void WsClient::close(int code) {
  auto& s = *impl_;
  if (s.close_code) return;
  s.close_code = code;
  run_with_deadline(
      s.ioc, std::chrono::seconds(2),
      [&](auto h) {
        websocket::close_reason cr;
        cr.code = static_cast<std::uint16_t>(code);
        s.ws->async_close(cr, h);
      },
      [&] { s.drop(); });
}

}  // namespace parley::net
