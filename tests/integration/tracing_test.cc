// Tracing end to end: two real nodes on one PostgreSQL and one Redis export their spans with
// OTLP/HTTP JSON to a loopback receiver in this test, sampling everything. One message sent on
// node A to a member connected to node B is one trace: A's HTTP (or WebSocket) span, its storage
// commit and bus hop, and B's fan-out, whose parent chain leads back to A. An incoming sampled
// traceparent keeps its trace id.
//
// Needs PARLEY_TEST_POSTGRES_URL and PARLEY_TEST_REDIS_URL (`make test` starts both) and skips
// without them.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "chat_support.h"

namespace parley::itest {
namespace {

using namespace chat;

// A tiny OTLP/HTTP receiver: accepts POSTs on loopback, keeps their bodies, answers 200 {}.
class OtlpReceiver {
 public:
  OtlpReceiver() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~OtlpReceiver() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Every span received so far, flattened, with its resource's service.instance.id.
  struct Span {
    std::string trace_id, span_id, parent_id, name, instance;
  };
  std::vector<Span> spans() {
    std::lock_guard lock(mu_);
    std::vector<Span> out;
    for (const auto& [path, body] : posts_) {
      EXPECT_EQ(path, "/v1/traces");
      auto doc = boost::json::parse(body).as_object();
      for (const auto& rs : doc.at("resourceSpans").as_array()) {
        std::string instance;
        for (const auto& a : rs.at("resource").at("attributes").as_array())
          if (a.at("key") == "service.instance.id")
            instance = std::string(a.at("value").at("stringValue").as_string());
        for (const auto& ss : rs.at("scopeSpans").as_array())
          for (const auto& s : ss.at("spans").as_array()) {
            const auto& o = s.as_object();
            EXPECT_TRUE(o.at("startTimeUnixNano").is_string());  // OTLP JSON: nanos as strings
            Span sp{str(o, "traceId"), str(o, "spanId"), "", str(o, "name"), instance};
            if (o.contains("parentSpanId")) sp.parent_id = str(o, "parentSpanId");
            out.push_back(std::move(sp));
          }
      }
    }
    return out;
  }

 private:
  void run() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      serve(c);
      ::close(c);
    }
  }
  void serve(int c) {
    for (;;) {  // keep-alive: one request after another
      std::string in;
      char buf[8192];
      std::size_t head_end;
      while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
        auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return;
        in.append(buf, static_cast<std::size_t>(n));
      }
      std::string head = in.substr(0, head_end);
      std::size_t length = 0;
      for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (auto at = head.find("content-length:"); at != std::string::npos)
        length = std::strtoul(head.c_str() + at + 15, nullptr, 10);
      std::string body = in.substr(head_end + 4);
      while (body.size() < length) {
        auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return;
        body.append(buf, static_cast<std::size_t>(n));
      }
      std::string path = head.substr(head.find(' ') + 1);
      path = path.substr(0, path.find(' '));
      {
        std::lock_guard lock(mu_);
        posts_.emplace_back(path, body.substr(0, length));
      }
      const std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
      if (::send(c, out.data(), out.size(), MSG_NOSIGNAL) < 0) return;
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> posts_;
  std::thread thread_;
};

using Spans = std::vector<OtlpReceiver::Span>;

const OtlpReceiver::Span* find(const Spans& s, const std::string& trace, std::string_view name,
                               const std::string& parent = "") {
  for (const auto& x : s)
    if (x.trace_id == trace && x.name == name && (parent.empty() || x.parent_id == parent))
      return &x;
  return nullptr;
}

// Polls the receiver (nodes export about once a second) until pred holds or 15 s pass.
Spans wait_for(OtlpReceiver& rx, const std::function<bool(const Spans&)>& pred) {
  auto deadline = std::chrono::steady_clock::now() + 15s;
  Spans s;
  while (std::chrono::steady_clock::now() < deadline) {
    s = rx.spans();
    if (pred(s)) break;
    std::this_thread::sleep_for(100ms);
  }
  return s;
}

class Tracing : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* pg = std::getenv("PARLEY_TEST_POSTGRES_URL");
    const char* redis = std::getenv("PARLEY_TEST_REDIS_URL");
    if (!pg || !*pg || !redis || !*redis)
      GTEST_SKIP() << "these tests need PARLEY_TEST_POSTGRES_URL and PARLEY_TEST_REDIS_URL "
                      "(make test starts both)";
    for (int i = 0; i < 2; ++i) {
      nodes_.push_back(std::make_unique<ServerProcess>(std::vector<std::string>{
          "--database", pg, "--redis", redis, "--rate-limits", kGenerousLimits,
          "--otlp-endpoint", rx_.endpoint(), "--trace-sample-ratio", "1"}));
      auto err = nodes_.back()->start();
      ASSERT_TRUE(err.empty()) << "node " << i << ": " << err;
    }
  }
  OtlpReceiver rx_;
  std::vector<std::unique_ptr<ServerProcess>> nodes_;
};

TEST_F(Tracing, OneSendAcrossTwoNodesIsOneTrace) {
  Api on_a(nodes_[0]->port()), on_b(nodes_[1]->port());
  auto alice = register_account(on_a, "tra");
  auto bob = register_account(on_b, "trb");
  auto conv = make_group(on_a, alice, {bob.id});
  Live bob_b(nodes_[1]->port(), bob);

  // Sent over HTTP on A with the caller's sampled traceparent: the trace id is kept.
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736", caller = "00f067aa0ba902b7";
  auto r = on_a.call("POST", conv_path(conv) + "/messages",
                     boost::json::serialize(object{{"text", "traced"}, {"client_msg_id", fresh_cmid()}}),
                     alice.access, {{"traceparent", "00-" + trace + "-" + caller + "-01"}});
  ASSERT_EQ(r.status, 201) << r;
  EXPECT_EQ(r.header("traceparent").substr(0, 36), "00-" + trace + "-");
  EXPECT_EQ(r.header("traceparent").substr(52), "-01");
  bob_b.event("message.created", [](const object& m) { return str(m, "text") == "traced"; }, 10s);

  const std::string http_name = "POST /api/v1/conversations/{id}/messages";
  auto spans = wait_for(rx_, [&](const Spans& s) {
    auto* h = find(s, trace, http_name);
    if (!h) return false;
    for (const auto& x : s)
      if (x.trace_id == trace && x.name == "fanout message.created" && x.instance != h->instance)
        return true;
    return false;
  });
  auto* http = find(spans, trace, http_name, caller);
  ASSERT_TRUE(http) << "no HTTP server span, child of the caller's span, in trace " << trace;
  EXPECT_EQ(http->span_id, r.header("traceparent").substr(36, 16));
  auto* commit = find(spans, trace, "storage.commit", http->span_id);
  ASSERT_TRUE(commit) << "no storage.commit span under the HTTP span";
  auto* hop = find(spans, trace, "bus.publish message.created", commit->span_id);
  ASSERT_TRUE(hop) << "no bus.publish span under the commit span";
  EXPECT_EQ(hop->instance, http->instance);
  // Node B's fan-out: a child of A's bus hop, in the same trace, exported by the other node.
  const OtlpReceiver::Span* remote = nullptr;
  for (const auto& x : spans)
    if (x.trace_id == trace && x.name == "fanout message.created" && x.parent_id == hop->span_id &&
        x.instance != http->instance)
      remote = &x;
  ASSERT_TRUE(remote) << "no fan-out span on node B under node A's bus hop";
}

TEST_F(Tracing, WebSocketSendOnOneNodeFansOutInItsTraceOnTheOther) {
  Api on_a(nodes_[0]->port()), on_b(nodes_[1]->port());
  auto alice = register_account(on_a, "trwa");
  auto bob = register_account(on_b, "trwb");
  auto conv = make_group(on_a, alice, {bob.id});
  Live alice_a(nodes_[0]->port(), alice);
  Live bob_b(nodes_[1]->port(), bob);
  bob_b.send(object{{"type", "send"},
                    {"req", "t1"},
                    {"conversation_id", conv},
                    {"text", "over ws"},
                    {"client_msg_id", fresh_cmid()}});
  bob_b.reply("ack", "t1", 10s);
  alice_a.event("message.created", [](const object& m) { return str(m, "text") == "over ws"; }, 10s);

  // The frame's span on B is the root; A's fan-out leads back to it through commit and hop.
  auto chain_ok = [](const Spans& s) {
    for (const auto& ws : s) {
      if (ws.name != "ws send" || !ws.parent_id.empty()) continue;
      auto* commit = find(s, ws.trace_id, "storage.commit", ws.span_id);
      if (!commit) continue;
      auto* hop = find(s, ws.trace_id, "bus.publish message.created", commit->span_id);
      if (!hop) continue;
      for (const auto& f : s)
        if (f.trace_id == ws.trace_id && f.name == "fanout message.created" &&
            f.parent_id == hop->span_id && f.instance != ws.instance)
          return true;
    }
    return false;
  };
  EXPECT_TRUE(chain_ok(wait_for(rx_, chain_ok)))
      << "no trace with ws send -> storage.commit -> bus.publish -> fan-out on the other node";
}

}  // namespace
}  // namespace parley::itest
