// RFC 6455 conformance of /api/v1/ws, case for case after the Autobahn TestSuite's groups
// 1 (framing), 2 (ping/pong), 3 (reserved bits), 4 (opcodes), 5 (fragmentation), 6 (UTF-8),
// 7 (close handling) and 10 (limits and fragmented large messages), with the raw client of
// ws_wire.h so that invalid frames can be sent at all.
//
// Parley has no echo endpoint, so a case checks what Parley defines instead of an echo: a text
// message is a JSON frame, and `{"type":"ping","req":X}` answers `{"type":"pong","req":X}`, so
// a message that made it through framing, reassembly and UTF-8 validation intact comes back as
// its req. Binary messages close with 1003 (docs/api.md), messages over 64 KiB with 1009.
// Every failing of the connection must send the right close code AND end the TCP connection.
//
// A case passes strictly, passes NON-STRICT (allowed behaviour that is not the best one, as
// Autobahn grades it), or fails. Each NON-STRICT case must be named, with the reason, in
// non_strict.txt; a name there that matches no case fails, so the list cannot outlive a case.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "harness.h"
#include "ws_wire.h"

#ifndef PARLEY_NON_STRICT_FILE
#error "PARLEY_NON_STRICT_FILE must name tests/conformance/non_strict.txt"
#endif

namespace parley::itest {
namespace {

using namespace wire;

constexpr auto kWait = 5s;
constexpr int kProtocolError = 1002;
constexpr int kUnsupportedData = 1003;
constexpr int kInvalidPayload = 1007;
constexpr int kTooBig = 1009;
constexpr std::size_t kMaxMessage = 64 * 1024;

// What one case found: failures, and deviations that RFC 6455 allows but are not the best
// behaviour (NON-STRICT).
struct Verdict {
  std::vector<std::string> failures;
  std::vector<std::string> non_strict;
  void fail(std::string why) { failures.push_back(std::move(why)); }
};

// One open connection of a case, with the checks the cases share.
class Probe {
 public:
  Probe(std::uint16_t port, std::string token, Verdict& v)
      : port_(port), token_(std::move(token)), v_(v) {}

  // A connection that has said hello and got ready. False (recorded) when that fails.
  bool open() {
    std::string error;
    ws_ = WireSocket::connect(port_, kWait, &error);
    if (!ws_) return v_.fail("connect: " + error), false;
    if (auto e = ws_->handshake(kWait); !e.empty()) return v_.fail("handshake: " + e), false;
    ws_->send_text(
        boost::json::serialize(boost::json::object{{"type", "hello"}, {"token", token_}}));
    auto ready = next_json();
    if (!ready || ready->as_object().if_contains("type") == nullptr ||
        ready->as_object().at("type") != "ready")
      return v_.fail("no ready after hello"), false;
    return true;
  }

  WireSocket& ws() { return *ws_; }
  bool write(const OutFrame& f, std::size_t chunk = 0) {
    if (ws_->write(f, chunk)) return true;
    // The server may already have failed the connection; what it sent decides the case.
    return false;
  }

  // The next data frame as JSON, answering nothing; control frames other than close are
  // skipped, a close ends the search.
  std::optional<boost::json::value> next_json(std::chrono::milliseconds timeout = kWait) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) return std::nullopt;
      auto f = ws_->read_frame(left);
      if (!f) return std::nullopt;
      if (f->opcode == kClose) {
        pending_close_ = f;
        return std::nullopt;
      }
      if (f->opcode != kText) continue;
      boost::system::error_code ec;
      auto v = boost::json::parse(f->payload, ec);
      if (ec) return v_.fail("server sent a text frame that is not JSON"), std::nullopt;
      return v;
    }
  }

  // The JSON text `{"type":"ping","req":<req>}` padded with spaces to `size` bytes (at least
  // its natural size): a message of a chosen length whose answer proves it arrived whole.
  static std::string ping_json(std::string_view req_bytes, std::size_t size = 0) {
    std::string out = R"({"type":"ping","req":")";
    out += req_bytes;
    out += "\"}";
    if (out.size() < size) out.insert(out.size() - 1, size - out.size(), ' ');
    return out;
  }

  // Expects the pong that answers req (its bytes as the JSON string value).
  void expect_pong(std::string_view req, const std::string& what) {
    auto v = next_json();
    if (!v) return v_.fail(what + ": no pong" + close_note());
    const auto& o = v->as_object();
    if (o.if_contains("type") == nullptr || o.at("type") != "pong")
      return v_.fail(what + ": expected a pong, got " + boost::json::serialize(*v));
    if (o.if_contains("req") == nullptr || o.at("req") != boost::json::value(std::string(req)))
      v_.fail(what + ": the pong's req differs from what was sent");
  }
  // A valid message written right before an invalid frame: its answer should come before the
  // close. Autobahn grades an answer lost with the failed connection as NON-STRICT: Beast
  // fails the connection (and writes its close) as soon as it reads the bad frame, while the
  // answer may still wait in Parley's send queue.
  void expect_pong_unless_failed(std::string_view req, const std::string& what) {
    auto v = next_json();
    if (!v && pending_close_) {
      v_.non_strict.push_back(what + ": its answer was dropped when the connection failed");
      return;
    }
    if (!v) return v_.fail(what + ": no pong and no close");
    const auto& o = v->as_object();
    if (o.if_contains("type") == nullptr || o.at("type") != "pong" ||
        o.if_contains("req") == nullptr || o.at("req") != boost::json::value(std::string(req)))
      v_.fail(what + ": expected its pong, got " + boost::json::serialize(*v));
  }
  // Expects an error frame with this code (the connection stays open).
  void expect_error(const std::string& code, const std::string& what) {
    auto v = next_json();
    if (!v) return v_.fail(what + ": no error frame" + close_note());
    auto s = boost::json::serialize(*v);
    const auto& o = v->as_object();
    if (o.if_contains("type") == nullptr || o.at("type") != "error")
      return v_.fail(what + ": expected an error frame, got " + s);
    auto* e = o.if_contains("error");
    if (!e || !e->is_object() || e->as_object().if_contains("code") == nullptr ||
        e->as_object().at("code") != boost::json::value(code))
      v_.fail(what + ": expected error code " + code + ", got " + s);
  }
  // A round trip through the JSON layer: the connection is open and serving.
  void expect_alive(const std::string& what) {
    std::string req = "alive-" + std::to_string(++counter_);
    if (!ws_->send_text(ping_json(req))) return v_.fail(what + ": write failed, connection gone");
    expect_pong(req, what);
  }
  // Expects a control pong with this payload.
  void expect_control_pong(std::string_view payload, const std::string& what) {
    for (;;) {
      auto f = ws_->read_frame(kWait);
      if (!f) return v_.fail(what + ": no pong frame" + violation_note());
      if (f->opcode == kClose) {
        pending_close_ = f;
        return v_.fail(what + ": closed instead of pong" + close_note());
      }
      if (f->opcode != kPong) continue;
      if (f->payload != payload) v_.fail(what + ": pong payload differs from the ping's");
      return;
    }
  }

  // Expects the server to close with one of `codes` (nullopt in the set: a close frame without
  // a code) and then to end the TCP connection. The client answers the close, as RFC 6455
  // 5.5.1 asks, before waiting for the end. Frames before the close are dropped, unless
  // `nothing_else` (then any data frame is a failure: the server acted on input after the
  // point where it had to fail or close).
  void expect_close(const std::set<std::optional<int>>& codes, const std::string& what,
                    bool nothing_else = false) {
    std::optional<InFrame> close = pending_close_;
    pending_close_.reset();
    while (!close) {
      auto f = ws_->read_frame(kWait);
      if (!f) {
        if (!ws_->violation().empty()) return v_.fail(what + ": " + ws_->violation());
        return v_.fail(what + (ws_->eof() ? ": TCP closed without a close frame"
                                          : ": no close frame within 5 s"));
      }
      if (f->opcode == kClose) {
        close = f;
      } else if (nothing_else && f->opcode == kText) {
        v_.fail(what + ": answered a message sent after the connection had to fail: " +
                f->payload.substr(0, 120));
      }
    }
    auto cp = parse_close(close->payload);
    last_close_code_ = cp.code;
    if (!codes.count(cp.code)) {
      std::string want;
      for (auto& c : codes) want += (want.empty() ? "" : "/") + (c ? std::to_string(*c) : "none");
      v_.fail(what + ": close code " + (cp.code ? std::to_string(*cp.code) : "none") +
              ", expected " + want);
    }
    ws_->write({kClose, close_payload(cp.code.value_or(1000))});
    if (!ws_->wait_eof(kWait)) v_.fail(what + ": TCP connection still open 5 s after the close");
  }
  std::optional<int> last_close_code() const { return last_close_code_; }
  void expect_close(int code, const std::string& what, bool nothing_else = false) {
    expect_close(std::set<std::optional<int>>{code}, what, nothing_else);
  }

 private:
  std::string close_note() {
    if (!pending_close_) return violation_note();
    auto cp = parse_close(pending_close_->payload);
    return " (closed with " + (cp.code ? std::to_string(*cp.code) : std::string("no code")) + ")";
  }
  std::string violation_note() {
    return ws_->violation().empty() ? std::string() : " (" + ws_->violation() + ")";
  }

  std::uint16_t port_;
  std::string token_;
  Verdict& v_;
  std::unique_ptr<WireSocket> ws_;
  std::optional<InFrame> pending_close_;
  std::optional<int> last_close_code_;
  int counter_ = 0;
};

struct Case {
  std::string id;  // Autobahn's numbering where the case is Autobahn's; Parley's own below it
  std::string description;
  std::function<void(Probe&, Verdict&)> run;
};

std::string repeat(char c, std::size_t n) { return std::string(n, c); }
std::string bytes(std::initializer_list<int> list) {
  std::string out;
  for (int b : list) out += static_cast<char>(b);
  return out;
}

// ---- group 1: framing ----

void add_framing(std::vector<Case>& cases) {
  const std::vector<std::pair<std::size_t, std::size_t>> sizes = {
      {0, 0},   {125, 0},   {126, 0},   {127, 0},
      {128, 0}, {65535, 0}, {65536, 0}, {65536, 997}};  // (length, write chunk)
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    auto [len, chunk] = sizes[i];
    std::string n = std::to_string(i + 1);
    cases.push_back({"1.1." + n,
                     "text message of " + std::to_string(len) + " bytes" +
                         (chunk ? ", written in chunks of " + std::to_string(chunk) : ""),
                     [len, chunk, n](Probe& p, Verdict&) {
                       if (len == 0) {  // not JSON: Parley's answer is an error frame
                         p.write({kText, ""});
                         p.expect_error("bad_request", "empty text");
                         return p.expect_alive("after an empty text");
                       }
                       std::string req = "1.1." + n;
                       p.write({kText, Probe::ping_json(req, len)}, chunk);
                       p.expect_pong(req, "padded ping");
                     }});
    cases.push_back({"1.2." + n,
                     "binary message of " + std::to_string(len) + " bytes: closed with 1003",
                     [len, chunk](Probe& p, Verdict&) {
                       p.write({kBinary, repeat('\xfe', len)}, chunk);
                       p.expect_close(kUnsupportedData, "binary message");
                     }});
  }
  cases.push_back(
      {"1.3.1", "unmasked text frame from the client (RFC 6455 5.1)", [](Probe& p, Verdict&) {
         OutFrame f{kText, Probe::ping_json("unmasked")};
         f.masked = false;
         p.write(f);
         p.expect_close(kProtocolError, "unmasked frame", true);
       }});
  cases.push_back({"1.3.2", "unmasked ping from the client", [](Probe& p, Verdict&) {
                     OutFrame f{kPing, "x"};
                     f.masked = false;
                     p.write(f);
                     p.expect_close(kProtocolError, "unmasked ping");
                   }});
  cases.push_back(
      {"1.3.3", "text frame with a 16-bit length for a 5-byte payload", [](Probe& p, Verdict& v) {
         // RFC 6455 5.2 asks for the minimal length encoding; a receiver may
         // refuse a longer one (strict) or read it (allowed).
         std::string payload = Probe::ping_json("long-length");
         std::string frame = encode({kText, payload});
         std::string wide;
         wide += frame[0];
         wide += static_cast<char>(0x80 | 126);
         wide += static_cast<char>(payload.size() >> 8);
         wide += static_cast<char>(payload.size() & 0xFF);
         wide += frame.substr(2);
         p.ws().write_bytes(wide);
         auto f = p.ws().read_frame(kWait);
         if (f && f->opcode == kText) {
           v.non_strict.push_back("a non-minimal length encoding was accepted");
           return;
         }
         if (!f || f->opcode != kClose) return v.fail("neither answer nor close");
         auto cp = parse_close(f->payload);
         if (cp.code != kProtocolError) v.fail("closed, but not with 1002");
       }});
}

// ---- group 2: ping/pong ----

void add_ping_pong(std::vector<Case>& cases) {
  auto ping_case = [&](std::string id, std::string desc, std::string payload, std::size_t chunk) {
    cases.push_back({id, desc, [payload, chunk](Probe& p, Verdict&) {
                       p.write({kPing, payload}, chunk);
                       p.expect_control_pong(payload, "ping");
                       p.expect_alive("after the ping");
                     }});
  };
  ping_case("2.1", "ping without payload", "", 0);
  ping_case("2.2", "ping with a small text payload", "Hello, world!", 0);
  ping_case("2.3", "ping with a small binary payload",
            bytes({0, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff}), 0);
  ping_case("2.4", "ping with a 125-byte binary payload", repeat('\xfe', 125), 0);
  cases.push_back({"2.5", "ping with a 126-byte payload (over the control frame limit)",
                   [](Probe& p, Verdict&) {
                     p.write({kPing, repeat('\xfe', 126)});
                     p.expect_close(kProtocolError, "oversized ping");
                   }});
  ping_case("2.6", "ping with a 125-byte payload written one byte at a time", repeat('\xfe', 125),
            1);
  cases.push_back({"2.7", "unsolicited pong without payload: ignored", [](Probe& p, Verdict&) {
                     p.write({kPong, ""});
                     p.expect_alive("after an unsolicited pong");
                   }});
  cases.push_back({"2.8", "unsolicited pong with payload: ignored", [](Probe& p, Verdict&) {
                     p.write({kPong, "unsolicited pong payload"});
                     p.expect_alive("after an unsolicited pong");
                   }});
  cases.push_back(
      {"2.9", "unsolicited pong, then a ping: the pong answers the ping", [](Probe& p, Verdict&) {
         p.write({kPong, "unsolicited pong payload"});
         p.write({kPing, "ping payload"});
         p.expect_control_pong("ping payload", "ping after pong");
       }});
  for (std::size_t chunk : {0, 1}) {
    cases.push_back({chunk ? "2.11" : "2.10",
                     std::string("10 pings in a row, each answered in order") +
                         (chunk ? ", written one byte at a time" : ""),
                     [chunk](Probe& p, Verdict&) {
                       for (int i = 0; i < 10; ++i)
                         p.write({kPing, "payload-" + std::to_string(i)}, chunk);
                       for (int i = 0; i < 10; ++i)
                         p.expect_control_pong("payload-" + std::to_string(i),
                                               "ping " + std::to_string(i));
                     }});
  }
}

// ---- group 3: reserved bits ----

void add_reserved_bits(std::vector<Case>& cases) {
  for (std::uint8_t rsv = 1; rsv <= 7; ++rsv) {
    // Autobahn's variants: after a valid message, and with a ping behind it that must not be
    // answered; 3.4 writes octet by octet.
    std::uint8_t opcode = rsv == 5 ? kBinary : rsv == 6 ? kPing : rsv == 7 ? kClose : kText;
    std::string id = "3." + std::to_string(rsv);
    cases.push_back(
        {id, "frame (opcode " + std::to_string(opcode) + ") with RSV = " + std::to_string(rsv),
         [rsv, opcode, id](Probe& p, Verdict&) {
           bool valid_first = rsv >= 2;
           std::size_t chunk = rsv == 4 ? 1 : 0;
           if (valid_first) p.write({kText, Probe::ping_json(id)}, chunk);
           OutFrame bad{opcode, opcode == kClose  ? close_payload(1000)
                                : opcode == kText ? Probe::ping_json("rsv")
                                                  : std::string("reserved")};
           bad.rsv = rsv;
           p.write(bad, chunk);
           p.write({kPing, "must not be answered"}, chunk);
           if (valid_first) p.expect_pong_unless_failed(id, "the valid message before");
           p.expect_close(kProtocolError, "reserved bits", true);
         }});
  }
}

// ---- group 4: opcodes ----

void add_opcodes(std::vector<Case>& cases) {
  const int data_opcodes[] = {3, 4, 5, 6, 7}, control_opcodes[] = {11, 12, 13, 14, 15};
  for (int g = 1; g <= 2; ++g) {
    for (int i = 0; i < 5; ++i) {
      int opcode = g == 1 ? data_opcodes[i] : control_opcodes[i];
      std::string id = "4." + std::to_string(g) + "." + std::to_string(i + 1);
      cases.push_back(
          {id, "reserved opcode " + std::to_string(opcode), [opcode, i, id](Probe& p, Verdict&) {
             bool valid_first = i >= 2;
             if (valid_first) p.write({kText, Probe::ping_json(id)});
             p.write({static_cast<std::uint8_t>(opcode), i % 2 ? "reserved" : ""}, i == 4 ? 1 : 0);
             p.write({kPing, "must not be answered"});
             if (valid_first) p.expect_pong_unless_failed(id, "the valid message before");
             p.expect_close(kProtocolError, "reserved opcode", true);
           }});
    }
  }
}

// ---- group 5: fragmentation ----

// A message in fragments: the first with `first_opcode`, then continuations.
std::vector<OutFrame> fragments(std::string_view message, std::size_t parts,
                                std::uint8_t first_opcode = kText) {
  std::vector<OutFrame> out;
  std::size_t step = (message.size() + parts - 1) / parts;
  for (std::size_t at = 0; at < message.size() || out.empty(); at += step) {
    OutFrame f{out.empty() ? first_opcode : std::uint8_t{kContinuation},
               std::string(message.substr(at, step))};
    f.fin = at + step >= message.size();
    out.push_back(std::move(f));
  }
  return out;
}

void add_fragmentation(std::vector<Case>& cases) {
  for (auto [id, opcode] : {std::pair{"5.1", kPing}, std::pair{"5.2", kPong}}) {
    cases.push_back({id, std::string("fragmented ") + (opcode == kPing ? "ping" : "pong"),
                     [opcode](Probe& p, Verdict&) {
                       OutFrame first{opcode, "fragment1"};
                       first.fin = false;
                       p.write(first);
                       p.write({kContinuation, "fragment2"});
                       p.expect_close(kProtocolError, "fragmented control frame");
                     }});
  }
  const std::pair<const char*, std::size_t> whole[] = {{"5.3", 0}, {"5.4", 1}, {"5.5", 7}};
  for (auto [id, chunk] : whole) {
    cases.push_back({id,
                     "text message in 2 fragments, written in chunks of " + std::to_string(chunk),
                     [id, chunk](Probe& p, Verdict&) {
                       for (auto& f : fragments(Probe::ping_json(id), 2)) p.write(f, chunk);
                       p.expect_pong(id, "reassembled message");
                     }});
  }
  const std::pair<const char*, std::size_t> with_ping[] = {{"5.6", 0}, {"5.7", 1}, {"5.8", 0}};
  for (auto [id, chunk] : with_ping) {
    bool read_pong_between = std::string(id) == "5.8";
    cases.push_back({id, "text in 2 fragments with a ping between them",
                     [id, chunk, read_pong_between](Probe& p, Verdict&) {
                       auto frags = fragments(Probe::ping_json(id), 2);
                       p.write(frags[0], chunk);
                       p.write({kPing, "between"}, chunk);
                       // 5.8: the control frame is answered while the message is incomplete.
                       if (read_pong_between) p.expect_control_pong("between", "mid-message ping");
                       p.write(frags[1], chunk);
                       if (!read_pong_between) p.expect_control_pong("between", "mid-message ping");
                       p.expect_pong(id, "reassembled message");
                     }});
  }
  // 5.9-5.14: a continuation with no message started (final or not), then a valid message
  // that must not be answered.
  for (int i = 0; i < 6; ++i) {
    bool fin = i < 3;
    std::size_t chunk = i % 3 == 1 ? 1 : 0;
    std::string id = "5." + std::to_string(9 + i);
    cases.push_back(
        {id,
         std::string("continuation (fin=") + (fin ? "1" : "0") + ") without a message to continue",
         [fin, chunk](Probe& p, Verdict&) {
           OutFrame f{kContinuation, "fragment"};
           f.fin = fin;
           p.write(f, chunk);
           p.write({kText, Probe::ping_json("after")}, chunk);
           p.expect_close(kProtocolError, "orphan continuation", true);
         }});
  }
  cases.push_back({"5.15", "a message, then a continuation sequence that starts with continuation",
                   [](Probe& p, Verdict&) {
                     for (auto& f : fragments(Probe::ping_json("5.15"), 2)) p.write(f);
                     OutFrame c{kContinuation, "fragment3"};
                     c.fin = false;
                     p.write(c);
                     p.write({kText, Probe::ping_json("after")});
                     p.expect_pong_unless_failed("5.15", "the valid message");
                     p.expect_close(kProtocolError, "orphan continuation", true);
                   }});
  for (int i = 0; i < 2; ++i) {
    std::string id = "5." + std::to_string(16 + i);
    bool fin_first = i == 1;
    cases.push_back({id, "continuation, text start, continuation end (repeated)",
                     [fin_first](Probe& p, Verdict&) {
                       for (int round = 0; round < 2; ++round) {
                         OutFrame c1{kContinuation, "fragment1"};
                         c1.fin = fin_first;
                         OutFrame t{kText, R"({"type":"ping")"};
                         t.fin = false;
                         OutFrame c2{kContinuation, "}"};
                         p.write(c1);
                         p.write(t);
                         p.write(c2);
                       }
                       p.expect_close(kProtocolError, "orphan continuation", true);
                     }});
  }
  cases.push_back({"5.18", "a new text message inside a fragmented one", [](Probe& p, Verdict&) {
                     OutFrame a{kText, R"({"type":"ping",)"};
                     a.fin = false;
                     p.write(a);
                     p.write({kText, R"({"type":"ping"})"});
                     p.expect_close(kProtocolError, "interleaved data frame", true);
                   }});
  for (int i = 0; i < 2; ++i) {
    std::string id = "5." + std::to_string(19 + i);
    std::size_t chunk = i;
    cases.push_back({id, "text in 5 fragments with 2 pings between, each pong read in between",
                     [id, chunk](Probe& p, Verdict&) {
                       auto frags = fragments(Probe::ping_json(id), 5);
                       for (std::size_t k = 0; k < frags.size(); ++k) {
                         p.write(frags[k], chunk);
                         if (k == 1 || k == 3) {
                           std::string payload = "pongme " + std::to_string(k);
                           p.write({kPing, payload}, chunk);
                           p.expect_control_pong(payload, "mid-message ping");
                         }
                       }
                       p.expect_pong(id, "reassembled message");
                     }});
  }
}

// ---- group 6: UTF-8 ----

struct Utf8Sample {
  std::string id;
  std::string bytes;
  bool valid;
};

// Markus Kuhn's UTF-8 decoder stress test, as Autobahn uses it (6.5-6.23, a representative
// sample of each section).
std::vector<Utf8Sample> utf8_samples() {
  std::vector<Utf8Sample> s;
  auto add = [&](std::string id, std::initializer_list<int> b, bool valid) {
    s.push_back({std::move(id), bytes(b), valid});
  };
  const std::initializer_list<int> kosme = {0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf,
                                            0x83, 0xce, 0xbc, 0xce, 0xb5};
  s.push_back({"6.5.1", bytes(kosme), true});
  add("6.5.2", {0xf0, 0x9d, 0x84, 0x9e}, true);  // U+1D11E, outside the BMP
  // First and last possible sequences of each length.
  add("6.7.1", {0x00}, true);
  add("6.7.2", {0xc2, 0x80}, true);
  add("6.7.3", {0xe0, 0xa0, 0x80}, true);
  add("6.7.4", {0xf0, 0x90, 0x80, 0x80}, true);
  add("6.8.1", {0xf8, 0x88, 0x80, 0x80, 0x80}, false);
  add("6.8.2", {0xfc, 0x84, 0x80, 0x80, 0x80, 0x80}, false);
  add("6.9.1", {0x7f}, true);
  add("6.9.2", {0xdf, 0xbf}, true);
  add("6.9.3", {0xef, 0xbf, 0xbf}, true);
  add("6.9.4", {0xf4, 0x8f, 0xbf, 0xbf}, true);
  add("6.10.1", {0xf7, 0xbf, 0xbf, 0xbf}, false);
  add("6.10.2", {0xfb, 0xbf, 0xbf, 0xbf, 0xbf}, false);
  add("6.10.3", {0xfd, 0xbf, 0xbf, 0xbf, 0xbf, 0xbf}, false);
  // Other boundaries.
  add("6.11.1", {0xed, 0x9f, 0xbf}, true);
  add("6.11.2", {0xee, 0x80, 0x80}, true);
  add("6.11.3", {0xef, 0xbf, 0xbd}, true);
  add("6.11.4", {0xf4, 0x8f, 0xbf, 0xbf}, true);
  add("6.11.5", {0xf4, 0x90, 0x80, 0x80}, false);
  // Unexpected continuation bytes.
  add("6.12.1", {0x80}, false);
  add("6.12.2", {0xbf}, false);
  add("6.12.3", {0x80, 0xbf}, false);
  add("6.12.4", {0x80, 0xbf, 0x80}, false);
  add("6.12.5", {0x80, 0xbf, 0x80, 0xbf}, false);
  add("6.12.6", {0x80, 0xbf, 0x80, 0xbf, 0x80}, false);
  add("6.12.7", {0x80, 0xbf, 0x80, 0xbf, 0x80, 0xbf}, false);
  {
    std::string all;  // every continuation byte
    for (int b = 0x80; b <= 0xbf; ++b) all += static_cast<char>(b);
    s.push_back({"6.12.8", all, false});
  }
  // Lonely start characters, each followed by a space.
  for (auto [id, from, to] : {std::tuple{"6.13.1", 0xc0, 0xdf}, std::tuple{"6.13.2", 0xe0, 0xef},
                              std::tuple{"6.13.3", 0xf0, 0xf7}, std::tuple{"6.13.4", 0xf8, 0xfb},
                              std::tuple{"6.13.5", 0xfc, 0xfd}}) {
    std::string b;
    for (int c = from; c <= to; ++c) (b += static_cast<char>(c)) += ' ';
    s.push_back({id, b, false});
  }
  // Sequences with the last continuation byte missing.
  add("6.14.1", {0xc0}, false);
  add("6.14.2", {0xe0, 0x80}, false);
  add("6.14.3", {0xf0, 0x80, 0x80}, false);
  add("6.14.4", {0xf8, 0x80, 0x80, 0x80}, false);
  add("6.14.5", {0xfc, 0x80, 0x80, 0x80, 0x80}, false);
  add("6.14.6", {0xdf}, false);
  add("6.14.7", {0xef, 0xbf}, false);
  add("6.14.8", {0xf7, 0xbf, 0xbf}, false);
  add("6.14.9", {0xfb, 0xbf, 0xbf, 0xbf}, false);
  add("6.14.10", {0xfd, 0xbf, 0xbf, 0xbf, 0xbf}, false);
  add("6.15.1",
      {0xc0, 0xe0, 0x80, 0xf0, 0x80, 0x80, 0xf8, 0x80, 0x80, 0x80, 0xfc, 0x80, 0x80, 0x80, 0x80,
       0xdf, 0xef, 0xbf, 0xf7, 0xbf, 0xbf, 0xfb, 0xbf, 0xbf, 0xbf, 0xfd, 0xbf, 0xbf, 0xbf, 0xbf},
      false);
  // Impossible bytes.
  add("6.16.1", {0xfe}, false);
  add("6.16.2", {0xff}, false);
  add("6.16.3", {0xfe, 0xfe, 0xff, 0xff}, false);
  // Overlong forms.
  add("6.17.1", {0xc0, 0xaf}, false);
  add("6.17.2", {0xe0, 0x80, 0xaf}, false);
  add("6.17.3", {0xf0, 0x80, 0x80, 0xaf}, false);
  add("6.17.4", {0xf8, 0x80, 0x80, 0x80, 0xaf}, false);
  add("6.17.5", {0xfc, 0x80, 0x80, 0x80, 0x80, 0xaf}, false);
  add("6.18.1", {0xc1, 0xbf}, false);
  add("6.18.2", {0xe0, 0x9f, 0xbf}, false);
  add("6.18.3", {0xf0, 0x8f, 0xbf, 0xbf}, false);
  add("6.18.4", {0xf8, 0x87, 0xbf, 0xbf, 0xbf}, false);
  add("6.18.5", {0xfc, 0x83, 0xbf, 0xbf, 0xbf, 0xbf}, false);
  add("6.19.1", {0xc0, 0x80}, false);
  add("6.19.2", {0xe0, 0x80, 0x80}, false);
  add("6.19.3", {0xf0, 0x80, 0x80, 0x80}, false);
  add("6.19.4", {0xf8, 0x80, 0x80, 0x80, 0x80}, false);
  add("6.19.5", {0xfc, 0x80, 0x80, 0x80, 0x80, 0x80}, false);
  // UTF-16 surrogates, single and paired.
  add("6.20.1", {0xed, 0xa0, 0x80}, false);
  add("6.20.2", {0xed, 0xad, 0xbf}, false);
  add("6.20.3", {0xed, 0xae, 0x80}, false);
  add("6.20.4", {0xed, 0xaf, 0xbf}, false);
  add("6.20.5", {0xed, 0xb0, 0x80}, false);
  add("6.20.6", {0xed, 0xbe, 0x80}, false);
  add("6.20.7", {0xed, 0xbf, 0xbf}, false);
  add("6.21.1", {0xed, 0xa0, 0x80, 0xed, 0xb0, 0x80}, false);
  add("6.21.2", {0xed, 0xa0, 0x80, 0xed, 0xbf, 0xbf}, false);
  add("6.21.3", {0xed, 0xad, 0xbf, 0xed, 0xb0, 0x80}, false);
  add("6.21.4", {0xed, 0xad, 0xbf, 0xed, 0xbf, 0xbf}, false);
  add("6.21.5", {0xed, 0xae, 0x80, 0xed, 0xb0, 0x80}, false);
  add("6.21.6", {0xed, 0xae, 0x80, 0xed, 0xbf, 0xbf}, false);
  add("6.21.7", {0xed, 0xaf, 0xbf, 0xed, 0xb0, 0x80}, false);
  add("6.21.8", {0xed, 0xaf, 0xbf, 0xed, 0xbf, 0xbf}, false);
  // Noncharacters are valid UTF-8 and must pass.
  add("6.22.1", {0xef, 0xbf, 0xbe}, true);
  add("6.22.2", {0xef, 0xbf, 0xbf}, true);
  add("6.22.3", {0xf0, 0x9f, 0xbf, 0xbe}, true);
  add("6.22.4", {0xf0, 0x9f, 0xbf, 0xbf}, true);
  add("6.22.5", {0xf4, 0x8f, 0xbf, 0xbe}, true);
  add("6.22.6", {0xef, 0xb7, 0x90}, true);
  add("6.22.7", {0xef, 0xb7, 0xaf}, true);
  add("6.23.1", {0xef, 0xbf, 0xbd}, true);
  {  // 6.3: a valid prefix, a surrogate, a valid suffix
    std::string b = bytes(kosme) + bytes({0xed, 0xa0, 0x80}) + "edited";
    s.push_back({"6.3.1", b, false});
  }
  return s;
}

void add_utf8(std::vector<Case>& cases) {
  cases.push_back(
      {"6.1.1", "empty text frame: not JSON, answered with an error frame", [](Probe& p, Verdict&) {
         p.write({kText, ""});
         p.expect_error("bad_request", "empty text");
       }});
  cases.push_back({"6.1.2", "empty text message in 3 empty fragments", [](Probe& p, Verdict&) {
                     for (int i = 0; i < 3; ++i) {
                       OutFrame f{i ? kContinuation : kText, ""};
                       f.fin = i == 2;
                       p.write(f);
                     }
                     p.expect_error("bad_request", "empty text");
                   }});
  cases.push_back(
      {"6.1.3", "empty fragments around a non-empty one", [](Probe& p, Verdict&) {
         OutFrame a{kText, ""}, b{kContinuation, Probe::ping_json("6.1.3")}, c{kContinuation, ""};
         a.fin = b.fin = false;
         p.write(a);
         p.write(b);
         p.write(c);
         p.expect_pong("6.1.3", "message with empty fragments");
       }});
  const std::string hello =
      "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!";
  cases.push_back({"6.2.1", "valid UTF-8 in one frame", [hello](Probe& p, Verdict&) {
                     p.write({kText, Probe::ping_json(hello)});
                     p.expect_pong(hello, "valid UTF-8");
                   }});
  cases.push_back(
      {"6.2.2", "valid UTF-8 in 2 fragments split inside a character", [hello](Probe& p, Verdict&) {
         std::string m = Probe::ping_json(hello);
         auto at = m.find('\xc2') + 1;  // between the 2 bytes of U+00B5
         OutFrame a{kText, m.substr(0, at)};
         a.fin = false;
         p.write(a);
         p.write({kContinuation, m.substr(at)});
         p.expect_pong(hello, "valid UTF-8 split");
       }});
  cases.push_back({"6.2.3", "valid UTF-8, one frame per byte", [hello](Probe& p, Verdict&) {
                     std::string m = Probe::ping_json(hello);
                     for (auto& f : fragments(m, m.size())) p.write(f);
                     p.expect_pong(hello, "valid UTF-8 per byte");
                   }});
  cases.push_back(
      {"6.2.4", "a 4-byte character, written one byte at a time", [](Probe& p, Verdict&) {
         std::string ch = bytes({0xf0, 0x9d, 0x84, 0x9e});
         p.write({kText, Probe::ping_json(ch + ch)}, 1);
         p.expect_pong(ch + ch, "4-byte characters");
       }});
  // 6.4: fail fast. The invalid bytes must close the connection with 1007 before the rest
  // of the message is sent. Closing only at the message's end is allowed (NON-STRICT).
  struct FailFast {
    const char* id;
    std::string first, second, third;
    bool one_frame;  // the parts are chunks of one frame rather than fragments
  };
  const std::string kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
  const FailFast fail_fast[] = {
      {"6.4.1", kosme, "\xf4\x90\x80\x80", "edited", false},
      {"6.4.2", kosme + "\xf4", "\x90\x80\x80", "edited", false},
      {"6.4.3", kosme, "\xf4\x90\x80\x80", "edited", true},
      {"6.4.4", kosme + "\xf4", "\x90\x80\x80", "edited", true},
  };
  for (const auto& ff : fail_fast) {
    cases.push_back({ff.id, "fail fast on invalid UTF-8 in the middle of a message",
                     [ff](Probe& p, Verdict& v) {
                       std::string prefix = R"({"type":"ping","req":")";
                       std::string first = prefix + ff.first, third = ff.third + "\"}";
                       std::string rest;  // what completes the message once the server waited
                       if (ff.one_frame) {
                         std::string body = first + ff.second + third;
                         std::string frame = encode({kText, body});
                         std::size_t valid_end = frame.size() - body.size() + first.size();
                         p.ws().write_bytes(frame.substr(0, valid_end));
                         p.ws().write_bytes(frame.substr(valid_end, ff.second.size()));
                         rest = frame.substr(valid_end + ff.second.size());
                       } else {
                         OutFrame a{kText, first}, b{kContinuation, ff.second};
                         a.fin = b.fin = false;
                         p.write(a);
                         p.write(b);
                         rest = encode({kContinuation, third});
                       }
                       auto f = p.ws().read_frame(kWait);
                       if (!f) {
                         v.non_strict.push_back("no close before the message was complete");
                         p.ws().write_bytes(rest);
                         return p.expect_close(kInvalidPayload, "invalid UTF-8");
                       }
                       if (f->opcode != kClose) return v.fail("a frame other than close");
                       auto cp = parse_close(f->payload);
                       if (cp.code != kInvalidPayload) v.fail("close code is not 1007");
                       p.ws().write({kClose, close_payload(kInvalidPayload)});
                       if (!p.ws().wait_eof(kWait)) v.fail("TCP still open after the close");
                     }});
  }
  for (const auto& sample : utf8_samples()) {
    for (bool per_byte : {false, true}) {
      std::string id = sample.id + (per_byte ? ".fragmented" : "");
      cases.push_back({id,
                       std::string(sample.valid ? "valid" : "invalid") + " UTF-8 sequence" +
                           (per_byte ? ", one fragment per byte" : ""),
                       [sample, per_byte](Probe& p, Verdict&) {
                         std::string m = Probe::ping_json(sample.bytes);
                         if (per_byte)
                           for (auto& f : fragments(m, m.size())) p.write(f);
                         else
                           p.write({kText, m});
                         if (!sample.valid)
                           return p.expect_close(kInvalidPayload, "invalid UTF-8", true);
                         bool control = std::any_of(
                             sample.bytes.begin(), sample.bytes.end(),
                             [](char c) { return static_cast<unsigned char>(c) < 0x20; });
                         // Valid UTF-8 but a raw control character in a JSON string: a JSON error.
                         if (control)
                           return p.expect_error("bad_request", "control character in JSON");
                         p.expect_pong(sample.bytes, "valid UTF-8");
                       }});
    }
  }
}

// ---- group 7: close handling ----

void add_close(std::vector<Case>& cases) {
  cases.push_back({"7.1.1", "a message, then a clean close", [](Probe& p, Verdict&) {
                     p.expect_alive("before close");
                     p.write({kClose, close_payload(1000)});
                     p.expect_close(1000, "clean close");
                   }});
  cases.push_back({"7.1.2", "two closes in a row", [](Probe& p, Verdict&) {
                     p.write({kClose, close_payload(1000)});
                     p.write({kClose, close_payload(1000)});
                     p.expect_close(1000, "double close");
                   }});
  cases.push_back({"7.1.3", "a ping after the close is not answered", [](Probe& p, Verdict& v) {
                     p.write({kClose, close_payload(1000)});
                     p.write({kPing, "after close"});
                     auto f = p.ws().read_frame(kWait);
                     while (f && f->opcode != kClose) {
                       if (f->opcode == kPong) v.fail("answered a ping sent after the close");
                       f = p.ws().read_frame(kWait);
                     }
                     if (!f) return v.fail("no close frame");
                     if (parse_close(f->payload).code != 1000) v.fail("close code is not 1000");
                     if (!p.ws().wait_eof(kWait)) v.fail("TCP still open after the close");
                   }});
  cases.push_back({"7.1.4", "a message after the close is not answered", [](Probe& p, Verdict&) {
                     p.write({kClose, close_payload(1000)});
                     p.write({kText, Probe::ping_json("after close")});
                     p.expect_close(1000, "close", true);
                   }});
  cases.push_back(
      {"7.1.5", "a close in the middle of a fragmented message", [](Probe& p, Verdict&) {
         OutFrame a{kText, R"({"type":)"};
         a.fin = false;
         p.write(a);
         p.write({kClose, close_payload(1000)});
         p.write({kContinuation, R"("ping"})"});
         p.expect_close(1000, "close mid-message", true);
       }});
  cases.push_back(
      {"7.1.6", "a large message, a ping and a close written at once", [](Probe& p, Verdict&) {
         std::string all = encode({kText, Probe::ping_json("big", 60'000)}) +
                           encode({kPing, "ping"}) + encode({kClose, close_payload(1000)});
         p.ws().write_bytes(all);
         // Whether the message and ping are answered before the close is the
         // server's choice; the close must come, with 1000.
         p.expect_close(1000, "close after a large message");
       }});
  cases.push_back({"7.3.1", "close without payload", [](Probe& p, Verdict&) {
                     p.write({kClose, ""});
                     p.expect_close({std::nullopt, 1000}, "empty close");
                   }});
  cases.push_back({"7.3.2", "close with a 1-byte payload", [](Probe& p, Verdict&) {
                     p.write({kClose, "a"});
                     p.expect_close(kProtocolError, "1-byte close");
                   }});
  cases.push_back({"7.3.3", "close with a code only", [](Probe& p, Verdict&) {
                     p.write({kClose, close_payload(1000)});
                     p.expect_close(1000, "close code only");
                   }});
  cases.push_back({"7.3.4", "close with a code and a reason", [](Probe& p, Verdict&) {
                     p.write({kClose, close_payload(1000, "Hello World!")});
                     p.expect_close(1000, "close with reason");
                   }});
  cases.push_back(
      {"7.3.5", "close with a 123-byte reason (the largest allowed)", [](Probe& p, Verdict&) {
         p.write({kClose, close_payload(1000, repeat('*', 123))});
         p.expect_close(1000, "close with a long reason");
       }});
  cases.push_back(
      {"7.3.6", "close with a 124-byte reason (the frame is over 125)", [](Probe& p, Verdict&) {
         p.write({kClose, close_payload(1000, repeat('*', 124))});
         p.expect_close(kProtocolError, "oversized close");
       }});
  cases.push_back({"7.5.1", "close reason that is not valid UTF-8", [](Probe& p, Verdict&) {
                     std::string reason =
                         "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
                         "edited";
                     p.write({kClose, close_payload(1000, reason)});
                     // Autobahn accepts either code for this case.
                     p.expect_close({kProtocolError, kInvalidPayload}, "invalid close reason");
                   }});
  // Codes that may be sent (RFC 6455 7.4.1, the IANA registry, 3000-4999): echoed or 1000.
  const int valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                       1011, 3000, 3999, 4000, 4999, 1012, 1013, 1014};
  for (std::size_t i = 0; i < std::size(valid); ++i) {
    int code = valid[i];
    cases.push_back({"7.7." + std::to_string(i + 1),
                     "close with valid code " + std::to_string(code), [code](Probe& p, Verdict& v) {
                       p.write({kClose, close_payload(code)});
                       if (code < 1012) return p.expect_close({1000, code}, "valid close code");
                       // Registered with IANA after RFC 6455; a receiver that predates them
                       // refuses them as a protocol error.
                       p.expect_close({1000, code, kProtocolError}, "registered close code");
                       if (p.last_close_code() == kProtocolError)
                         v.non_strict.push_back("refused a code registered after RFC 6455");
                     }});
  }
  // Codes that must not appear on the wire: reserved, unassigned, out of range.
  const int invalid[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
  for (std::size_t i = 0; i < std::size(invalid); ++i) {
    int code = invalid[i];
    std::string id =
        code >= 5000 ? "7.13." + std::to_string(i - 9) : "7.9." + std::to_string(i + 1);
    cases.push_back(
        {id, "close with invalid code " + std::to_string(code), [code](Probe& p, Verdict& v) {
           p.write({kClose, close_payload(code)});
           if (code < 5000) return p.expect_close(kProtocolError, "invalid close code");
           // RFC 6455 7.4.2 defines nothing at or above 5000; Autobahn grades the
           // answer to these (7.13) as informational.
           p.expect_close({kProtocolError, code}, "undefined close code");
           if (p.last_close_code() == code)
             v.non_strict.push_back("echoed an undefined code instead of failing");
         }});
  }
}

// ---- group 10: limits and fragmented large messages ----

void add_limits(std::vector<Case>& cases) {
  cases.push_back({"10.1.1", "a 64 KiB message in fragments of 1300 bytes", [](Probe& p, Verdict&) {
                     std::string m = Probe::ping_json("10.1.1", kMaxMessage);
                     for (auto& f : fragments(m, (m.size() + 1299) / 1300)) p.write(f);
                     p.expect_pong("10.1.1", "64 KiB message");
                   }});
  cases.push_back(
      {"10.2.1", "one frame of 64 KiB + 1 byte: closed with 1009", [](Probe& p, Verdict&) {
         p.write({kText, Probe::ping_json("x", kMaxMessage + 1)});
         p.expect_close(kTooBig, "message over the limit", true);
       }});
  cases.push_back({"10.2.2", "fragments of 1300 bytes adding up to 64 KiB + 1: closed with 1009",
                   [](Probe& p, Verdict&) {
                     std::string m = Probe::ping_json("x", kMaxMessage + 1);
                     for (auto& f : fragments(m, (m.size() + 1299) / 1300))
                       if (!p.write(f)) break;
                     p.expect_close(kTooBig, "fragmented message over the limit", true);
                   }});
  cases.push_back(
      {"10.2.3", "a header that declares 4 GiB: closed at once with 1009", [](Probe& p, Verdict&) {
         OutFrame f{kText, "{"};
         f.declared_length = 1ull << 32;
         p.write(f);
         p.expect_close(kTooBig, "declared length over the limit");
       }});
  cases.push_back({"10.2.4", "a 64-bit length with the top bit set (RFC 6455 5.2 forbids it)",
                   [](Probe& p, Verdict& v) {
                     OutFrame f{kText, "{"};
                     f.declared_length = 1ull << 63;
                     p.write(f);
                     auto c = p.ws().read_until(kClose, kWait);
                     if (!c) return v.fail("no close frame");
                     auto code = parse_close(c->payload).code;
                     if (code == kTooBig)
                       v.non_strict.push_back(
                           "refused as too big (1009) rather than as a protocol error");
                     else if (code != kProtocolError)
                       v.fail("close code " + std::to_string(code.value_or(0)));
                     p.ws().write({kClose, close_payload(code.value_or(1000))});
                     if (!p.ws().wait_eof(kWait)) v.fail("TCP still open after the close");
                   }});
  cases.push_back({"10.3.1", "a message in 2,000 one-byte-or-so fragments", [](Probe& p, Verdict&) {
                     std::string m = Probe::ping_json("10.3.1", 2000);
                     std::string all;
                     for (auto& f : fragments(m, m.size())) all += encode(f);
                     p.ws().write_bytes(all);
                     p.expect_pong("10.3.1", "many fragments");
                   }});
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  add_framing(cases);
  add_ping_pong(cases);
  add_reserved_bits(cases);
  add_opcodes(cases);
  add_fragmentation(cases);
  add_utf8(cases);
  add_close(cases);
  add_limits(cases);
  return cases;
}

// non_strict.txt: "<case id> <reason>" lines; '#' starts a comment.
std::map<std::string, std::string> load_non_strict() {
  std::map<std::string, std::string> out;
  std::ifstream in(PARLEY_NON_STRICT_FILE);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.find(' ');
    out[line.substr(0, sp)] = sp == std::string::npos ? "" : line.substr(sp + 1);
  }
  return out;
}

class WebSocketConformance : public SharedServerTest {
 protected:
  static void SetUpTestSuite() {
    start_shared(kGenerousSocketCaps);
    try {
      Api api(port());
      token_ = register_account(api, "conform").access;
    } catch (const std::exception& e) {
      token_.clear();
      std::cerr << "registration failed: " << e.what() << "\n";
    }
  }
  static std::string token_;
};
std::string WebSocketConformance::token_;

TEST_F(WebSocketConformance, AutobahnGroups1To7And10) {
  ASSERT_FALSE(token_.empty());
  const auto allow = load_non_strict();
  ASSERT_TRUE(std::ifstream(PARLEY_NON_STRICT_FILE).good()) << "no " << PARLEY_NON_STRICT_FILE;
  const auto cases = all_cases();
  std::set<std::string> ids;
  int strict = 0, non_strict = 0, failed = 0;
  std::map<std::string, int> per_group;
  const auto started = Clock::now();
  for (const auto& c : cases) {
    ASSERT_TRUE(ids.insert(c.id).second) << "case id used twice: " << c.id;
    per_group[c.id.substr(0, c.id.find('.'))]++;
    Verdict v;
    Probe p(port(), token_, v);
    if (p.open()) c.run(p, v);
    const bool listed = allow.count(c.id) > 0;
    if (!v.failures.empty()) {
      ++failed;
      std::string all;
      for (auto& f : v.failures) all += "\n  " + f;
      ADD_FAILURE() << "case " << c.id << " (" << c.description << ") FAILED:" << all;
    } else if (!v.non_strict.empty()) {
      ++non_strict;
      EXPECT_TRUE(listed) << "case " << c.id << " (" << c.description
                          << ") is NON-STRICT and not in non_strict.txt: " << v.non_strict[0];
    } else {
      ++strict;
      // Some listed cases race (an answer either beats the failure close or not), so a
      // listed case that passed strictly this run is reported, not failed.
      if (listed) std::cout << "note: allowlisted case " << c.id << " passed strictly this run\n";
    }
  }
  for (const auto& [id, reason] : allow)
    EXPECT_TRUE(ids.count(id)) << "non_strict.txt names an unknown case " << id;
  double secs = std::chrono::duration<double>(Clock::now() - started).count();
  std::cout << "websocket conformance: " << cases.size() << " cases (by group:";
  for (auto& [g, n] : per_group) std::cout << " " << g << "=" << n;
  std::cout << "), " << strict << " strict, " << non_strict << " non-strict (allowlisted), "
            << failed << " failed, in " << secs << " s\n";
  // The server lived through all of it.
  EXPECT_FALSE(server().wait_exit(0ms).has_value()) << server().logs();
}

}  // namespace
}  // namespace parley::itest
