#include "ws_frame.h"

#include <cstring>

namespace parley::net::ws {

namespace {
constexpr std::size_t kMaxControlPayload = 125;
}

std::size_t write_header(Opcode op, std::uint64_t payload, std::uint8_t* out) {
  out[0] = static_cast<std::uint8_t>(0x80 | static_cast<std::uint8_t>(op));  // FIN, no RSV
  if (payload < 126) {
    out[1] = static_cast<std::uint8_t>(payload);
    return 2;
  }
  if (payload <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<std::uint8_t>(payload >> 8);
    out[3] = static_cast<std::uint8_t>(payload);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<std::uint8_t>(payload >> (56 - 8 * i));
  return 10;
}

std::string close_payload(int code, std::string_view reason) {
  std::string out;
  out.push_back(static_cast<char>((code >> 8) & 0xFF));
  out.push_back(static_cast<char>(code & 0xFF));
  if (reason.size() > kMaxControlPayload - 2) {
    reason = reason.substr(0, kMaxControlPayload - 2);
    // Never end inside a character: drop continuation bytes and their lead.
    while (!reason.empty() && (static_cast<unsigned char>(reason.back()) & 0xC0) == 0x80)
      reason.remove_suffix(1);
    if (!reason.empty() && static_cast<unsigned char>(reason.back()) >= 0xC0)
      reason.remove_suffix(1);
  }
  out.append(reason);
  return out;
}

bool is_valid_close_code(int code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

void FrameReader::unmask(char* p, std::size_t n) {
  // Eight bytes at a time with the key turned to the current position, then the rest.
  std::uint8_t key[8];
  for (int i = 0; i < 8; ++i) key[i] = mask_[(mask_pos_ + i) & 3];
  std::uint64_t word_key;
  std::memcpy(&word_key, key, 8);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    w ^= word_key;
    std::memcpy(p + i, &w, 8);
  }
  for (; i < n; ++i) p[i] = static_cast<char>(p[i] ^ key[i & 7]);
  mask_pos_ = static_cast<std::uint8_t>((mask_pos_ + n) & 3);
}

FrameReader::Event FrameReader::begin_frame() {
  const std::uint8_t b1 = header_[1];
  const std::uint8_t len7 = b1 & 0x7F;
  std::uint64_t len = len7;
  std::size_t at = 2;
  if (len7 == 126) {
    len = (std::uint64_t{header_[2]} << 8) | header_[3];
    at = 4;
    if (len < 126) return fail(1002, "length not in its shortest form");
  } else if (len7 == 127) {
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | header_[2 + i];
    at = 10;
    if (len >> 63) return fail(1002, "frame length with the top bit set");
    if (len <= 0xFFFF) return fail(1002, "length not in its shortest form");
  }
  if (opcode_ < 0x8 && len > max_message_ - message_.size())
    return fail(1009, "message too big");
  std::memcpy(mask_, header_ + at, 4);
  mask_pos_ = 0;
  remaining_ = len;
  in_payload_ = true;
  header_len_ = 0;
  if (opcode_ == static_cast<std::uint8_t>(Opcode::text)) message_op_ = opcode_;
  return {};
}

FrameReader::Event FrameReader::frame_done(std::string_view payload) {
  switch (static_cast<Opcode>(opcode_)) {
    case Opcode::ping:
      return {Event::Kind::ping, payload};
    case Opcode::pong:
      return {Event::Kind::pong, payload};
    case Opcode::close: {
      if (payload.empty()) return {Event::Kind::close, {}, 1005};
      if (payload.size() == 1) return fail(1002, "close frame with a one-byte payload");
      const int code = (static_cast<unsigned char>(payload[0]) << 8) |
                       static_cast<unsigned char>(payload[1]);
      if (!is_valid_close_code(code)) return fail(1002, "invalid close code");
      payload.remove_prefix(2);
      if (!text::is_valid_utf8(payload)) return fail(1007, "close reason is not UTF-8");
      return {Event::Kind::close, payload, code};
    }
    default:  // the last fragment of a text message
      message_op_ = 0;
      if (!utf8_.complete()) return fail(1007, "text message is not valid UTF-8");
      utf8_ = {};
      return {Event::Kind::text, payload};
  }
}

FrameReader::Event FrameReader::next(char*& in, char* end) {
  // What the last event pointed into is finished with now.
  if (!control_.empty() && !in_payload_) control_.clear();
  if (message_op_ == 0 && !message_.empty()) message_.clear();
  for (;;) {
    if (!in_payload_) {
      // The header: 2 bytes, checked at once, then its extended length and mask.
      auto header_size = [this]() -> std::size_t {
        if (header_len_ < 2) return 2;
        const std::uint8_t len7 = header_[1] & 0x7F;
        return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
      };
      while (in < end && header_len_ < header_size()) {
        header_[header_len_++] = static_cast<std::uint8_t>(*in++);
        if (header_len_ != 2) continue;
        const std::uint8_t b0 = header_[0], b1 = header_[1];
        if (b0 & 0x70) return fail(1002, "reserved bits set");
        opcode_ = b0 & 0x0F;
        fin_ = (b0 & 0x80) != 0;
        if (!(b1 & 0x80)) return fail(1002, "client frames must be masked");
        switch (static_cast<Opcode>(opcode_)) {
          case Opcode::continuation:
            if (message_op_ == 0) return fail(1002, "continuation frame with no message");
            break;
          case Opcode::text:
            if (message_op_ != 0) return fail(1002, "new message before the last one ended");
            break;
          case Opcode::binary:
            return fail(1003, "text frames only");
          case Opcode::close:
          case Opcode::ping:
          case Opcode::pong:
            if (!fin_) return fail(1002, "fragmented control frame");
            if ((b1 & 0x7F) > kMaxControlPayload) return fail(1002, "control frame too long");
            break;
          default:
            return fail(1002, "reserved opcode");
        }
      }
      if (header_len_ < header_size()) return {};
      if (auto e = begin_frame(); e.kind == Event::Kind::fail) return e;
    }

    const bool control = opcode_ >= 0x8;
    const std::size_t avail = static_cast<std::size_t>(end - in);
    const std::size_t n = remaining_ < avail ? static_cast<std::size_t>(remaining_) : avail;
    if (n == 0 && remaining_ > 0) return {};
    char* p = in;
    in += n;
    remaining_ -= n;
    unmask(p, n);
    if (!control && message_op_ == static_cast<std::uint8_t>(Opcode::text) &&
        !utf8_.feed(std::string_view(p, n)))
      return fail(1007, "text message is not valid UTF-8");
    if (remaining_ > 0) {  // the rest comes in a later read
      (control ? control_ : message_).append(p, n);
      return {};
    }
    in_payload_ = false;
    if (control) {
      if (control_.empty()) return frame_done(std::string_view(p, n));
      control_.append(p, n);
      return frame_done(control_);
    }
    if (!fin_) {  // a fragment: the message goes on in the next frame
      message_.append(p, n);
      continue;
    }
    // A message in one frame, all in this read: handled where it lies, never copied.
    if (message_.empty()) return frame_done(std::string_view(p, n));
    message_.append(p, n);
    return frame_done(message_);
  }
}

}  // namespace parley::net::ws
