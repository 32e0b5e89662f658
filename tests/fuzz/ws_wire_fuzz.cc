// WebSocket frames as they come off the socket (net/ws_frame.h): the server's own RFC 6455
// reader sees every byte a client sends. Invariants: nothing crashes; the events are the same
// whether the bytes come at once or one at a time (a read may end anywhere); a text message is
// valid UTF-8 and within the limit; a control payload is at most 125 bytes; a failure carries a
// close code the server may send.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "core/text.h"
#include "ws_frame.h"

namespace {

using parley::net::ws::FrameReader;
using Kind = FrameReader::Event::Kind;
constexpr std::size_t kMaxMessage = 4096;

void check(bool ok) {
  if (!ok) std::abort();
}

std::vector<std::pair<Kind, std::string>> events(std::string bytes, std::size_t piece) {
  FrameReader reader(kMaxMessage);
  std::vector<std::pair<Kind, std::string>> out;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    char* p = bytes.data() + at;
    char* end = p + std::min(piece, bytes.size() - at);
    while (p < end) {
      auto e = reader.next(p, end);
      if (e.kind == Kind::need_more) break;
      switch (e.kind) {
        case Kind::text:
          check(e.data.size() <= kMaxMessage && parley::text::is_valid_utf8(e.data));
          break;
        case Kind::ping:
        case Kind::pong:
        case Kind::close:
          check(e.data.size() <= 125);
          break;
        case Kind::fail:
          check(e.code == 1002 || e.code == 1003 || e.code == 1007 || e.code == 1009);
          break;
        default:
          break;
      }
      out.emplace_back(e.kind, std::string(e.data));
      if (e.kind == Kind::fail || e.kind == Kind::close) return out;
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  auto whole = events(bytes, bytes.size() + 1);
  check(events(bytes, 1) == whole);
  check(events(bytes, 7) == whole);
  return 0;
}
