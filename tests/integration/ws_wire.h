// A raw RFC 6455 client for tests that must send what a well-behaved client never would:
// frames with reserved bits or opcodes, unmasked frames, fragmented control frames, invalid
// UTF-8, lying lengths, frames split across many TCP writes. net::WsClient (Beast) refuses to
// produce those, so this one writes every byte itself over a plain non-blocking POSIX socket.
//
// One WireSocket is one TCP connection, used from one thread. Blocking calls take a deadline;
// the non-blocking pair pump()/pop_frame() lets one thread drive thousands of sockets with
// poll() (the reconnect storm). Server frames are checked as RFC 6455 requires of a client:
// a masked server frame or one with reserved bits set is reported as a protocol violation.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace parley::itest::wire {

enum Opcode : std::uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Reserved bits as they sit in the first header byte, shifted down: RSV1 = 4, RSV2 = 2, RSV3 = 1.
inline constexpr std::uint8_t kRsv1 = 4, kRsv2 = 2, kRsv3 = 1;

// A frame to write, valid or not.
struct OutFrame {
  OutFrame(std::uint8_t op, std::string data = {}) : opcode(op), payload(std::move(data)) {}

  std::uint8_t opcode;
  std::string payload;
  bool fin = true;
  std::uint8_t rsv = 0;
  bool masked = true;
  // Written instead of payload.size() in the header (a frame that claims more than it carries).
  std::optional<std::uint64_t> declared_length;
};

// The bytes of a frame on the wire, masked with mask_key when f.masked.
std::string encode(const OutFrame& f, std::uint32_t mask_key = 0x37fa213d);

// A frame the server sent.
struct InFrame {
  std::uint8_t opcode = 0;
  bool fin = true;
  std::string payload;
};

// A close frame's payload: the code (absent when the payload is empty) and the reason.
struct ClosePayload {
  std::optional<int> code;
  std::string reason;
};
ClosePayload parse_close(std::string_view payload);
// The payload of a close frame with this code and reason (the reason is not checked).
std::string close_payload(int code, std::string_view reason = {});

class WireSocket {
 public:
  ~WireSocket();
  WireSocket(const WireSocket&) = delete;
  WireSocket& operator=(const WireSocket&) = delete;

  // A TCP connection to 127.0.0.1:port; nullptr (why in *error) when it fails.
  static std::unique_ptr<WireSocket> connect(std::uint16_t port, std::chrono::milliseconds timeout,
                                             std::string* error = nullptr);
  // The upgrade request for path, then the 101 answer with the right Sec-WebSocket-Accept.
  // "" on success, otherwise what went wrong (with the status line when there was one).
  std::string handshake(std::chrono::milliseconds timeout, const std::string& path = "/api/v1/ws");

  // Writes bytes whole, or in writes of `chunk` bytes each (0: one write). False on error.
  bool write_bytes(std::string_view bytes, std::size_t chunk = 0);
  bool write(const OutFrame& f, std::size_t chunk = 0) { return write_bytes(encode(f), chunk); }
  bool send_text(std::string_view text) { return write({kText, std::string(text)}); }

  // The next frame; nullopt on timeout, end of stream, or a protocol violation by the server
  // (see violation()).
  std::optional<InFrame> read_frame(std::chrono::milliseconds timeout);
  // Reads frames until one has this opcode (others dropped); nullopt as for read_frame.
  std::optional<InFrame> read_until(std::uint8_t opcode, std::chrono::milliseconds timeout);
  // True when the server has closed the TCP connection by the deadline (frames still unread
  // are dropped).
  bool wait_eof(std::chrono::milliseconds timeout);

  // Non-blocking: reads whatever has arrived. False once the stream has ended or failed.
  bool pump();
  // A complete frame from what pump() read, if any.
  std::optional<InFrame> pop_frame();

  int fd() const { return fd_; }
  bool eof() const { return eof_; }
  const std::string& violation() const { return violation_; }
  // Closes the TCP connection at once (an RST: the server sees a reset, as from a dropped
  // network), without a closing handshake.
  void abort();

 private:
  explicit WireSocket(int fd) : fd_(fd) {}
  bool wait_readable(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string in_;
  bool eof_ = false;
  std::string violation_;
};

}  // namespace parley::itest::wire
