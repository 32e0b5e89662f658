// WebSocket frames as a client sends them (api/frames.h): the gateway parses every text frame
// with parse_client_frame before anything else. Invariants: nothing crashes or throws; the req
// that an answer would echo, on success or failure, is null, an integer, or a string of at most
// kMaxReqBytes; a parsed frame carries the fields its type needs.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "frames.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_req(const boost::json::value& req) {
  check(req.is_null() || req.is_int64() || req.is_uint64() ||
        (req.is_string() && req.get_string().size() <= parley::api::kMaxReqBytes));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using parley::api::ClientFrame;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto f = parley::api::parse_client_frame(in);
  if (!f) {
    check_req(f.error().req);
    check(!f.error().error.message.empty());
    check(f.error().error.message.size() < 256);  // never the whole input echoed back
    return 0;
  }
  check_req(f->req);
  switch (f->type) {
    case ClientFrame::Type::send:
      check(f->send.request.conversation_id == f->conversation_id || f->conversation_id.empty());
      check(f->send.attachment_ids.size() <= parley::api::kMaxAttachments);
      break;
    case ClientFrame::Type::hello:
    case ClientFrame::Type::ping:
    case ClientFrame::Type::typing:
    case ClientFrame::Type::read:
      check(f->send.request.text.empty() && f->send.request.client_msg_id.empty());
      break;
    case ClientFrame::Type::call_start:
      check(f->call_id.empty() && f->data.empty());
      break;
    case ClientFrame::Type::call_signal:
      // The opaque data, re-serialised: JSON, never empty (a missing data is an error).
      check(!f->data.empty());
      break;
    case ClientFrame::Type::call_accept:
    case ClientFrame::Type::call_decline:
    case ClientFrame::Type::call_leave:
    case ClientFrame::Type::call_media:
      check(f->data.empty() && f->conversation_id.empty());
      break;
    case ClientFrame::Type::call_kick:
    case ClientFrame::Type::call_mute:
    case ClientFrame::Type::call_record:
      check(f->data.empty() && f->conversation_id.empty());
      break;
  }
  return 0;
}
