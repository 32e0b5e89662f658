// Client input shared by the HTTP routes and the WebSocket gateway, parsed and validated in one
// place: the body of a send (either transport) and the frames a client sends on the WebSocket
// (API.md "WebSocket"). Pure functions, no I/O; fuzzed by tests/fuzz/ws_frame_fuzz.cc.
// Private to api/.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "core/result.h"
#include "modules/messaging/messaging.h"

namespace parley::api {

// text, client_msg_id and thread_root_id? of a send; malformed (naming the field) when one is
// missing or of the wrong type. Values are checked by the messaging module.
Result<messaging::SendRequest> parse_send(const boost::json::object& body,
                                          std::string conversation_id);

// The longest req echoed in answers: a client cannot make the server queue copies of a large
// value.
inline constexpr std::size_t kMaxReqBytes = 128;

struct ClientFrame {
  enum class Type { hello, ping, send, typing, read };
  Type type = Type::ping;
  boost::json::value req;          // null when absent: a string of <= kMaxReqBytes or an integer
  std::string token;               // hello
  messaging::SendRequest send;     // send
  std::string conversation_id;     // typing, read
  std::int64_t seq = 0;            // read
};

struct FrameError {
  Error error;
  boost::json::value req;  // the frame's req when that much was valid, so the answer names it
};

tl::expected<ClientFrame, FrameError> parse_client_frame(std::string_view text);

}  // namespace parley::api
