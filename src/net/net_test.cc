#include <gtest/gtest.h>

#include "net/address.h"
#include "net/http.h"
#include "net/router.h"
#include "ws_frame.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <thread>

#include "core/worker_pool.h"
#include "net/server.h"
#include "net/websocket.h"

namespace parley::net {
namespace {

Request make(Method m, std::string target) {
  Request r;
  r.method = m;
  r.target = std::move(target);
  return r;
}

TEST(Router, MatchesLiteralsBeforeParamsInOrderAndDecodesParams) {
  Router router;
  int hit = 0;
  router.add(Method::get, "/api/v1/users/me", [&](Request&) {
    hit = 1;
    return Response{};
  });
  router.add(Method::get, "/api/v1/users/{id}", [&](Request&) {
    hit = 2;
    return Response{};
  });
  router.add(Method::put, "/api/v1/messages/{id}/reactions/{emoji}", [&](Request&) {
    hit = 3;
    return Response{};
  });

  auto me = make(Method::get, "/api/v1/users/me?x=1");
  auto m = router.match(me);
  ASSERT_TRUE(m.route);
  m.route->handler(me);
  EXPECT_EQ(hit, 1);

  auto byid = make(Method::get, "/api/v1/users/ABC");
  m = router.match(byid);
  ASSERT_TRUE(m.route);
  EXPECT_EQ(byid.param("id"), "ABC");

  auto emoji = make(Method::put, "/api/v1/messages/M1/reactions/%F0%9F%91%8D");
  m = router.match(emoji);
  ASSERT_TRUE(m.route);
  EXPECT_EQ(emoji.param("emoji"), "\xF0\x9F\x91\x8D");
  EXPECT_EQ(emoji.param("id"), "M1");
}

TEST(Router, DistinguishesUnknownPathFromWrongMethodAndBadEncoding) {
  Router router;
  router.add(Method::get, "/a/{id}", [](Request&) { return Response{}; });
  auto wrong = make(Method::post, "/a/1");
  auto m = router.match(wrong);
  EXPECT_FALSE(m.route);
  EXPECT_TRUE(m.path_known);
  EXPECT_EQ(m.allow, "GET, HEAD");
  auto head = make(Method::head, "/a/1");
  m = router.match(head);
  ASSERT_TRUE(m.route) << "HEAD matches a GET route";
  EXPECT_EQ(m.route->method, Method::get);
  auto unknown = make(Method::get, "/b/1");
  m = router.match(unknown);
  EXPECT_FALSE(m.route);
  EXPECT_FALSE(m.path_known);
  auto bad = make(Method::get, "/a/%zz");
  EXPECT_TRUE(router.match(bad).bad_encoding);
  auto deeper = make(Method::get, "/a/1/2");
  EXPECT_FALSE(router.match(deeper).route);
}

TEST(Request, QueryAndHeaders) {
  auto r = make(Method::get, "/x?q=hello+w%C3%B6rld&limit=5&empty=&bad=%G1");
  r.headers.push_back({"Authorization", "Bearer t"});
  EXPECT_EQ(**r.query("q"), "hello w\xC3\xB6rld");
  EXPECT_EQ(**r.query("limit"), "5");
  EXPECT_EQ(**r.query("empty"), "");
  EXPECT_EQ(r.query("bad").error().field, "bad");
  EXPECT_FALSE(r.query("missing")->has_value());
  EXPECT_EQ(r.header("authorization"), "Bearer t");
  EXPECT_EQ(r.header("x-missing"), "");
}

TEST(Http, ErrorEnvelope) {
  auto r = error_response(422, "validation_failed", "bad \"name\"", "name");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body,
            R"({"error":{"code":"validation_failed","message":"bad \"name\"","field":"name"}})");
}

TEST(Http, ErrorEnvelopeGetsTheRequestId) {
  auto r = error_response(404, "not_found", "no such route");
  add_request_id(r, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(
      r.body,
      R"({"error":{"code":"not_found","message":"no such route","request_id":"4bf92f3577b34da6a3ce929d0e0e4736"}})");
  Response ok;
  ok.body = R"({"error":"not an envelope"})";
  add_request_id(ok, "x");
  EXPECT_EQ(ok.body, R"({"error":"not an envelope"})");
  Response success;
  success.body = R"({"error":{"code":"x"}})";  // a 200 is never touched
  add_request_id(success, "x");
  EXPECT_EQ(success.body, R"({"error":{"code":"x"}})");
}

TEST(Http, TraceParent) {
  auto tp = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(tp);
  EXPECT_EQ(tp->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(tp->parent_id, "00f067aa0ba902b7");
  EXPECT_EQ(tp->flags, "01");
  // A later version may append fields; version 00 may not.
  EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz"));
  for (std::string_view bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz",
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
       })
    EXPECT_FALSE(parse_traceparent(bad)) << bad;
}

TEST(Http, UrlDecode) {
  EXPECT_EQ(*url_decode("a%20b+c", false), "a b+c");
  EXPECT_EQ(*url_decode("a%20b+c", true), "a b c");
  EXPECT_FALSE(url_decode("%", false));
  EXPECT_FALSE(url_decode("%4", false));
}

TEST(Cidr, ContainsV4V6AndMapped) {
  auto net = Cidr::parse("10.1.0.0/16");
  ASSERT_TRUE(net);
  EXPECT_TRUE(net->contains("10.1.200.3"));
  EXPECT_FALSE(net->contains("10.2.0.1"));
  EXPECT_TRUE(net->contains("::ffff:10.1.0.9"));
  auto host = Cidr::parse("127.0.0.1");
  EXPECT_TRUE(host->contains("127.0.0.1"));
  EXPECT_FALSE(host->contains("127.0.0.2"));
  auto v6 = Cidr::parse("fd00::/8");
  EXPECT_TRUE(v6->contains("fd12::1"));
  EXPECT_FALSE(v6->contains("10.1.0.1"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/33"));
  EXPECT_FALSE(Cidr::parse("nonsense"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/"));
  EXPECT_FALSE(net->contains("garbage"));
}

// ---- WebSocket framing (ws_frame.h) ----

// A client frame: FIN and opcode in b0, masked with a fixed key, the length in its shortest form.
std::string client_frame(std::uint8_t b0, std::string_view payload) {
  const std::uint8_t key[4] = {0x37, 0xFA, 0x21, 0x3D};
  std::string f(1, static_cast<char>(b0));
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(0x80 | payload.size()));
  } else if (payload.size() <= 0xFFFF) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xFF));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((payload.size() >> (8 * i)) & 0xFF));
  }
  f.append(reinterpret_cast<const char*>(key), 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    f.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  return f;
}

using Event = ws::FrameReader::Event;

// Every event the bytes make, fed in pieces of `piece` bytes (0: all at once), up to a failure.
std::vector<std::pair<Event::Kind, std::string>> read_all(std::string bytes, std::size_t piece,
                                                          std::size_t max = 64 * 1024,
                                                          int* fail_code = nullptr) {
  ws::FrameReader reader(max);
  std::vector<std::pair<Event::Kind, std::string>> out;
  std::size_t at = 0;
  while (at < bytes.size()) {
    const std::size_t n = piece == 0 ? bytes.size() - at : std::min(piece, bytes.size() - at);
    char* p = bytes.data() + at;
    char* end = p + n;
    while (p < end) {
      auto e = reader.next(p, end);
      if (e.kind == Event::Kind::need_more) break;
      out.emplace_back(e.kind, std::string(e.data));
      if (e.kind == Event::Kind::fail) {
        if (fail_code) *fail_code = e.code;
        return out;
      }
    }
    at += n;
  }
  return out;
}

TEST(WsFrame, ReadsTheSameMessagesHoweverTheBytesAreSplit) {
  // A text message in three fragments with a ping between them, a one-frame message of 300
  // bytes (16-bit length), an empty message and a close.
  std::string wire = client_frame(0x01, "Hel") + client_frame(0x89, "are you there") +
                     client_frame(0x00, "lo, w\xC3") + client_frame(0x80, "\xA9rld") +
                     client_frame(0x81, std::string(300, 'x')) + client_frame(0x81, "") +
                     client_frame(0x88, std::string("\x03\xE8" "bye", 5));
  const std::vector<std::pair<Event::Kind, std::string>> want = {
      {Event::Kind::ping, "are you there"},
      {Event::Kind::text, "Hello, w\xC3\xA9rld"},
      {Event::Kind::text, std::string(300, 'x')},
      {Event::Kind::text, ""},
      {Event::Kind::close, "bye"}};
  for (std::size_t piece : {0, 1, 2, 3, 5, 7, 64})
    EXPECT_EQ(read_all(wire, piece), want) << "in pieces of " << piece;
}

TEST(WsFrame, FailsWithTheCodeRfc6455AsksFor) {
  auto code_of = [](std::string wire, std::size_t max = 64 * 1024) {
    int code = 0;
    auto events = read_all(std::move(wire), 1, max, &code);
    return events.empty() || events.back().first != Event::Kind::fail ? 0 : code;
  };
  std::string unmasked = client_frame(0x81, "hi");
  unmasked[1] = static_cast<char>(unmasked[1] & 0x7F);
  EXPECT_EQ(code_of(unmasked), 1002);
  EXPECT_EQ(code_of(client_frame(0xC1, "hi")), 1002);                       // RSV1
  EXPECT_EQ(code_of(client_frame(0x83, "hi")), 1002);                       // reserved opcode
  EXPECT_EQ(code_of(client_frame(0x80, "hi")), 1002);                       // orphan continuation
  EXPECT_EQ(code_of(client_frame(0x01, "a") + client_frame(0x81, "b")), 1002);  // interrupted
  EXPECT_EQ(code_of(client_frame(0x09, "")), 1002);                         // fragmented ping
  EXPECT_EQ(code_of(client_frame(0x89, std::string(126, 'p'))), 1002);      // control too long
  EXPECT_EQ(code_of(client_frame(0x82, "bin")), 1003);                      // binary
  EXPECT_EQ(code_of(client_frame(0x81, std::string(101, 'x')), 100), 1009);
  EXPECT_EQ(code_of(client_frame(0x01, std::string(60, 'x')) +
                    client_frame(0x80, std::string(60, 'x')), 100),
            1009);  // the fragments together
  EXPECT_EQ(code_of(client_frame(0x81, "ok \xF4\x90\x80\x80")), 1007);
  EXPECT_EQ(code_of(client_frame(0x81, "cut \xC3")), 1007);
  EXPECT_EQ(code_of(client_frame(0x88, "\x03")), 1002);                     // 1-byte close
  EXPECT_EQ(code_of(client_frame(0x88, std::string("\x03\xED", 2))), 1002);  // code 1005
  EXPECT_EQ(code_of(client_frame(0x88, std::string("\x13\x88", 2))), 1002);  // code 5000
  EXPECT_EQ(code_of(client_frame(0x88, std::string("\x03\xE8\xFF", 3))), 1007);
  std::string long16 = client_frame(0x81, "hi");  // length 2 written in 16 bits
  long16.replace(1, 1, std::string("\xFE\x00\x02", 3));
  EXPECT_EQ(code_of(long16), 1002);
  // A 64-bit length with the top bit set, then the mask.
  std::string top_bit("\x81\xFF\x80\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04", 14);
  EXPECT_EQ(code_of(top_bit, 1u << 20), 1002);
}

TEST(WsFrame, FailsInvalidUtf8AsSoonAsItArrives) {
  // The first fragment ends on a byte no valid text could follow: the reader fails there,
  // without waiting for the message's end.
  std::string first = client_frame(0x01, "fine \xF4\x90");
  auto events = read_all(first + client_frame(0x80, "\x80\x80 more"), 0);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].first, Event::Kind::fail);
  int code = 0;
  read_all(first, 0, 64 * 1024, &code);
  EXPECT_EQ(code, 1007);
}

TEST(WsFrame, WritesHeadersAndClosePayloads) {
  std::uint8_t h[ws::kMaxServerHeader];
  EXPECT_EQ(ws::write_header(ws::Opcode::text, 125, h), 2u);
  EXPECT_EQ(h[0], 0x81);
  EXPECT_EQ(h[1], 125);
  EXPECT_EQ(ws::write_header(ws::Opcode::text, 126, h), 4u);
  EXPECT_EQ(h[1], 126);
  EXPECT_EQ((h[2] << 8) | h[3], 126);
  EXPECT_EQ(ws::write_header(ws::Opcode::close, 65535, h), 4u);
  EXPECT_EQ(h[0], 0x88);
  EXPECT_EQ(ws::write_header(ws::Opcode::text, 65536, h), 10u);
  EXPECT_EQ(h[1], 127);
  EXPECT_EQ(h[7], 1);  // 0x00 00 00 00 00 01 00 00
  EXPECT_EQ(h[9], 0);

  EXPECT_EQ(ws::close_payload(4008, "full"), std::string("\x0F\xA8" "full", 6));
  // Cut to the 125 bytes of a control frame, never inside a character.
  std::string reason;
  for (int i = 0; i < 100; ++i) reason += "\xC3\xA9";
  auto cut = ws::close_payload(1000, reason);
  EXPECT_LE(cut.size(), 125u);
  EXPECT_TRUE(text::is_valid_utf8(std::string_view(cut).substr(2)));
  EXPECT_TRUE(ws::is_valid_close_code(1014));
  EXPECT_TRUE(ws::is_valid_close_code(4999));
  EXPECT_FALSE(ws::is_valid_close_code(1006));
  EXPECT_FALSE(ws::is_valid_close_code(2999));
}

// ---- the server's WebSocket connections (ws_conn.cc), over a real socket ----

// A raw client: the upgrade by hand, then frames read as they come.
class RawClient {
 public:
  // receive_buffer: SO_RCVBUF (0: the system's), small to make the server's writes block.
  explicit RawClient(std::uint16_t port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer > 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    const std::string upgrade =
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if (connected_) connected_ = ::send(fd_, upgrade.data(), upgrade.size(), 0) > 0;
  }
  ~RawClient() { ::close(fd_); }

  // The 101's status line, once its header has come.
  std::string handshake() {
    while (buf_.find("\r\n\r\n") == std::string::npos)
      if (!fill(std::chrono::seconds(5))) return "";
    auto end = buf_.find("\r\n\r\n");
    std::string status = buf_.substr(0, buf_.find("\r\n"));
    buf_.erase(0, end + 4);
    return status;
  }

  struct Frame {
    std::uint8_t opcode = 0;
    std::string payload;
  };
  // The next frame; nullopt at EOF or when none came in time.
  std::optional<Frame> next(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (buf_.size() >= 2) {
        std::size_t len = static_cast<unsigned char>(buf_[1]) & 0x7F, at = 2;
        if (len == 127) return std::nullopt;  // 64-bit lengths: more than these tests send
        if (len == 126) {
          len = buf_.size() >= 4 ? (static_cast<unsigned char>(buf_[2]) << 8) |
                                       static_cast<unsigned char>(buf_[3])
                                 : SIZE_MAX - 4;
          at = 4;
        }
        if (buf_.size() >= at + len) {
          Frame f{static_cast<std::uint8_t>(buf_[0] & 0x0F), buf_.substr(at, len)};
          buf_.erase(0, at + len);
          return f;
        }
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !fill(left)) return std::nullopt;
    }
  }

  void send(std::uint8_t b0, std::string_view payload) {
    auto f = client_frame(b0, payload);
    ASSERT_EQ(::send(fd_, f.data(), f.size(), MSG_NOSIGNAL), static_cast<ssize_t>(f.size()));
  }
  bool eof() const { return eof_; }

 private:
  bool fill(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char tmp[4096];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buf_;
};

// Echoes text; says hello-ready to the connection at its first message.
class EchoSession final : public WsSession {
 public:
  explicit EchoSession(std::shared_ptr<WsConnection> c) : conn_(std::move(c)) {}
  void on_text(std::string_view text) override {
    conn_->mark_ready();
    conn_->send(std::make_shared<const std::string>(text));
  }
  void on_close() override { conn_.reset(); }

 private:
  std::shared_ptr<WsConnection> conn_;
};

class WsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.port = 0;
    o.io_threads = 2;
    o.websocket_path = "/ws";
    o.ws_hello_timeout = std::chrono::milliseconds(400);
    o.ws_heartbeat = std::chrono::milliseconds(300);
    o.ws_send_queue_bytes = 32 << 20;  // room to outgrow the kernel's socket buffers
    o.handle_signals = false;
    o.access_log = false;
    server_ = std::make_unique<Server>(
        o, router_, pool_, [](std::shared_ptr<WsConnection> c, const Request&) {
          return std::make_unique<EchoSession>(std::move(c));
        });
    ASSERT_TRUE(server_->start());
  }
  void TearDown() override { server_.reset(); }

  Router router_;
  WorkerPool pool_{"test", 1, 16};
  std::unique_ptr<Server> server_;
};

TEST_F(WsServerTest, EchoesBurstsInOrderAndAnswersPings) {
  RawClient c(server_->port());
  ASSERT_EQ(c.handshake(), "HTTP/1.1 101 Switching Protocols");
  for (int i = 0; i < 200; ++i) c.send(0x81, "m" + std::to_string(i));
  c.send(0x89, "still there?");
  for (int i = 0; i < 200; ++i) {
    auto f = c.next(std::chrono::seconds(5));
    ASSERT_TRUE(f) << i;
    if (f->opcode == 0xA) {  // the pong may come among the echoes
      EXPECT_EQ(f->payload, "still there?");
      --i;
      continue;
    }
    ASSERT_EQ(f->payload, "m" + std::to_string(i));
  }
}

// A reader that stops reading makes the server's gathered writes stop part-way through a
// frame; when it reads again, every frame arrives whole and in order (the part written and the
// rest joined exactly).
TEST_F(WsServerTest, AReaderThatFallsBehindGetsEveryFrameWholeWhenItReadsAgain) {
  RawClient c(server_->port(), 4096);
  ASSERT_EQ(c.handshake(), "HTTP/1.1 101 Switching Protocols");
  auto message = [](int i) {
    return "m" + std::to_string(i) + ":" + std::string(30'000, static_cast<char>('a' + i % 26));
  };
  // 9 MB: past what the kernel's buffers hold (their limit is 4 MB a side), within the queue.
  constexpr int kMessages = 300;
  for (int i = 0; i < kMessages; ++i) c.send(0x81, message(i));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the server's writes block
  for (int i = 0; i < kMessages; ++i) {
    auto f = c.next(std::chrono::seconds(5));
    ASSERT_TRUE(f) << i;
    EXPECT_EQ(f->opcode, 0x1);
    ASSERT_EQ(f->payload.size(), message(i).size()) << i;
    EXPECT_TRUE(f->payload == message(i)) << "frame " << i << " corrupt";
  }
}

TEST_F(WsServerTest, ASilentPeerIsPingedThenDropped) {
  RawClient c(server_->port());
  ASSERT_EQ(c.handshake(), "HTTP/1.1 101 Switching Protocols");
  c.send(0x81, "ready");
  ASSERT_EQ(c.next(std::chrono::seconds(2))->payload, "ready");
  // Never answered: a ping after a heartbeat of silence, then the connection ends.
  auto ping = c.next(std::chrono::seconds(2));
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->opcode, 0x9);
  auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(c.next(std::chrono::seconds(3)));
  EXPECT_TRUE(c.eof());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
}

TEST_F(WsServerTest, APeerThatAnswersPingsStaysOpen) {
  RawClient c(server_->port());
  ASSERT_EQ(c.handshake(), "HTTP/1.1 101 Switching Protocols");
  c.send(0x81, "ready");
  ASSERT_EQ(c.next(std::chrono::seconds(2))->payload, "ready");
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  int pings = 0;
  while (std::chrono::steady_clock::now() < until) {
    auto f = c.next(std::chrono::milliseconds(100));
    if (!f) {
      ASSERT_FALSE(c.eof()) << "closed although every ping was answered";
      continue;
    }
    if (f->opcode == 0x9) {
      ++pings;
      c.send(0x8A, f->payload);
    }
  }
  EXPECT_GE(pings, 2);
  c.send(0x81, "after");
  auto f = c.next(std::chrono::seconds(2));
  while (f && f->opcode == 0x9) f = c.next(std::chrono::seconds(2));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->payload, "after");
}

TEST_F(WsServerTest, NoFirstMessageInTimeClosesWith4001AndTheCloseIsAnswered) {
  RawClient c(server_->port());
  ASSERT_EQ(c.handshake(), "HTTP/1.1 101 Switching Protocols");
  auto f = c.next(std::chrono::seconds(3));
  while (f && f->opcode == 0x9) f = c.next(std::chrono::seconds(3));  // a heartbeat comes first
  ASSERT_TRUE(f);
  EXPECT_EQ(f->opcode, 0x8);
  ASSERT_GE(f->payload.size(), 2u);
  EXPECT_EQ((static_cast<unsigned char>(f->payload[0]) << 8) |
                static_cast<unsigned char>(f->payload[1]),
            kCloseUnauthorized);
  // The server shut its side after its close: the peer sees the end of the stream.
  EXPECT_FALSE(c.next(std::chrono::seconds(2)));
  EXPECT_TRUE(c.eof());
}

TEST_F(WsServerTest, APeersCloseIsEchoedWithItsCode) {
  RawClient c(server_->port());
  ASSERT_EQ(c.handshake(), "HTTP/1.1 101 Switching Protocols");
  c.send(0x88, std::string("\x0F\xA0" "bye", 5));  // 4000
  auto f = c.next(std::chrono::seconds(2));
  ASSERT_TRUE(f);
  EXPECT_EQ(f->opcode, 0x8);
  EXPECT_EQ(f->payload.substr(0, 2), std::string("\x0F\xA0", 2));
  EXPECT_FALSE(c.next(std::chrono::seconds(2)));
  EXPECT_TRUE(c.eof());
}

}  // namespace
}  // namespace parley::net
