// RFC 6455 framing for the server side, without I/O: the reader of client frames and the
// header of server frames. Private to net (ws_conn.cc drives it; net_test.cc tests it).
//
// Parley frames WebSocket messages itself rather than through Beast's websocket::stream so that
// a connection can write many queued frames in one sendmsg and keep almost no state while idle
// (see docs/decisions.md, "Own WebSocket framing").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/text.h"

namespace parley::net::ws {

enum class Opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

// The longest header a server frame has: 2 bytes, then an extended 64-bit length.
inline constexpr std::size_t kMaxServerHeader = 10;

// Writes the header of a final, unmasked frame carrying payload bytes; returns its length.
std::size_t write_header(Opcode op, std::uint64_t payload, std::uint8_t* out);

// A close frame's payload: the code, big-endian, then the reason (cut to the 123 bytes a control
// frame leaves, at a character boundary).
std::string close_payload(int code, std::string_view reason);

// Close codes a peer may send (RFC 6455 7.4 and IANA's registry): 1000-1003, 1007-1014 and the
// 3000-4999 ranges for libraries and applications.
bool is_valid_close_code(int code);

// Reads client frames from the bytes as they arrive. A message may come in fragments, between
// which control frames may come; each frame may be split anywhere across reads. Unmasks in
// place, checks UTF-8 as the text arrives, and fails the connection at the first violation
// with the close code RFC 6455 asks for.
class FrameReader {
 public:
  struct Event {
    enum class Kind { need_more, text, ping, pong, close, fail };
    Kind kind = Kind::need_more;
    // text: the whole message; ping/pong: their payload; close: the reason; fail: why.
    // Valid until the next call to next().
    std::string_view data;
    int code = 0;  // close: the peer's code (1005 when it sent none); fail: the code to send
  };

  // max_message: the longest message (all its fragments) accepted; longer fails with 1009.
  // Binary messages fail with 1003: Parley's protocol is JSON text.
  explicit FrameReader(std::size_t max_message) : max_message_(max_message) {}

  // Consumes bytes from the front of `in` (which it may modify: payloads are unmasked where
  // they lie) until an event completes or `in` is used up (need_more). After fail it must not
  // be called again.
  Event next(char*& in, char* end);

  // True while a message has begun and not ended, or a frame is part-read: the connection
  // holds state beyond its idle minimum.
  bool mid_frame() const { return header_len_ > 0 || in_payload_ || message_op_ != 0; }

  // Gives back memory a long message left (after it was handled).
  void release() {
    if (message_.capacity() > 256) std::string().swap(message_);
  }

 private:
  Event fail(int code, const char* why) { return {Event::Kind::fail, why, code}; }
  // The frame header is whole in header_: checks it and starts the payload. Returns a failure
  // or need_more.
  Event begin_frame();
  void unmask(char* p, std::size_t n);
  Event frame_done(std::string_view payload);

  std::size_t max_message_;
  // The header as it arrives (at most 14 bytes: 2, an extended length of 8, a mask of 4).
  std::uint8_t header_[14] = {};
  std::uint8_t header_len_ = 0;
  // The frame whose payload is being read.
  bool in_payload_ = false;
  bool fin_ = false;
  std::uint8_t opcode_ = 0;
  std::uint8_t mask_[4] = {};
  std::uint8_t mask_pos_ = 0;
  std::uint64_t remaining_ = 0;
  // The message being reassembled (fragments, or a frame split across reads) and its opcode
  // (0: none); a control frame split across reads is collected in control_.
  std::uint8_t message_op_ = 0;
  std::string message_;
  std::string control_;
  text::Utf8Validator utf8_;
};

}  // namespace parley::net::ws
