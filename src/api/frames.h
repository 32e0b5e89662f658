// Client input shared by the HTTP routes and the WebSocket gateway, parsed and validated in one
// place: the body of a send (either transport) and the frames a client sends on the WebSocket
// (API.md "WebSocket"). Pure functions, no I/O; fuzzed by tests/fuzz/ws_frame_fuzz.cc.
// Private to api/.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <tl/expected.hpp>

#include "core/result.h"
#include "modules/messaging/messaging.h"

namespace parley::api {

// A send as a client wrote it: the attachments are file ids, which the files module resolves.
struct Send {
  messaging::SendRequest request;
  std::vector<std::string> attachment_ids;
};

// text, client_msg_id, thread_root_id? and attachments? of a send; malformed (naming the field)
// when one is missing or of the wrong type. text may be left out when there are attachments.
// Values are checked by the messaging and files modules.
Result<Send> parse_send(const boost::json::object& body, std::string conversation_id);

inline constexpr std::size_t kMaxAttachments = 10;

// The longest req echoed in answers: a client cannot make the server queue copies of a large
// value.
inline constexpr std::size_t kMaxReqBytes = 128;

struct ClientFrame {
  enum class Type {
    hello,
    ping,
    send,
    typing,
    read,
    call_start,
    call_accept,
    call_decline,
    call_leave,
    call_signal,
    call_media,
    call_kick,
    call_mute,
    call_record
  };
  Type type = Type::ping;
  boost::json::value req;          // null when absent: a string of <= kMaxReqBytes or an integer
  std::string token;               // hello
  Send send;                       // send
  std::string conversation_id;     // typing, read
  std::int64_t seq = 0;            // read
  std::string media;               // call.start: "audio" | "video" (checked by the calls module)
  std::string call_id;             // call.* but call.start
  std::string to_user_id;          // call.signal; call.kick and call.mute: user_id
  std::string to_session_id;       // call.signal, optional
  std::string data;                // call.signal: the opaque data, serialised JSON
  std::optional<bool> audio, video, screen;  // call.media
  bool on = false;                           // call.record
};

struct FrameError {
  Error error;
  boost::json::value req;  // the frame's req when that much was valid, so the answer names it
};

tl::expected<ClientFrame, FrameError> parse_client_frame(std::string_view text);

}  // namespace parley::api
