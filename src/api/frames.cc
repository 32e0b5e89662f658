#include "frames.h"

#include "core/json.h"

namespace parley::api {
namespace {

tl::unexpected<FrameError> frame_error(Error e, boost::json::value req = nullptr) {
  return tl::unexpected<FrameError>(FrameError{std::move(e), std::move(req)});
}

}  // namespace

Result<Send> parse_send(const boost::json::object& body, std::string conversation_id) {
  Send out;
  auto& in = out.request;
  in.conversation_id = std::move(conversation_id);
  if (auto it = body.find("attachments"); it != body.end() && !it->value().is_null()) {
    if (!it->value().is_array())
      return fail(Errc::malformed, "attachments must be an array of file ids", "attachments");
    const auto& ids = it->value().get_array();
    // Checked again by the messaging module; here so a huge array is not walked.
    if (ids.size() > kMaxAttachments)
      return fail(Errc::invalid_argument,
                  "at most " + std::to_string(kMaxAttachments) + " attachments", "attachments");
    for (const auto& id : ids) {
      if (!id.is_string())
        return fail(Errc::malformed, "attachments must be an array of file ids", "attachments");
      out.attachment_ids.emplace_back(id.get_string());
    }
  }
  if (out.attachment_ids.empty() || body.contains("text")) {
    auto text = json::required_string(body, "text");
    if (!text) return fail(text.error());
    in.text = std::move(*text);
  }
  auto cmid = json::required_string(body, "client_msg_id");
  if (!cmid) return fail(cmid.error());
  in.client_msg_id = std::move(*cmid);
  auto root = json::optional_string(body, "thread_root_id");
  if (!root) return fail(root.error());
  in.thread_root_id = std::move(*root);
  return out;
}

tl::expected<ClientFrame, FrameError> parse_client_frame(std::string_view text) {
  auto parsed = json::parse_object(text);
  if (!parsed) return frame_error(parsed.error());
  const auto& msg = *parsed;
  ClientFrame f;
  if (auto it = msg.find("req"); it != msg.end()) {
    const auto& r = it->value();
    bool fits = (r.is_string() && r.get_string().size() <= kMaxReqBytes) || r.is_int64() ||
                r.is_uint64();
    if (!fits)
      return frame_error({Errc::malformed,
                          "req must be a string of at most " + std::to_string(kMaxReqBytes) +
                              " bytes or an integer",
                          "req", 0});
    f.req = r;
  }
  auto type = json::required_string(msg, "type");
  if (!type) return frame_error(type.error(), f.req);
  if (*type == "hello") {
    f.type = ClientFrame::Type::hello;
    auto token = json::required_string(msg, "token");
    if (!token) return frame_error(token.error(), f.req);
    f.token = std::move(*token);
  } else if (*type == "ping") {
    f.type = ClientFrame::Type::ping;
  } else if (*type == "send") {
    f.type = ClientFrame::Type::send;
    auto cid = json::required_string(msg, "conversation_id");
    if (!cid) return frame_error(cid.error(), f.req);
    auto in = parse_send(msg, std::move(*cid));
    if (!in) return frame_error(in.error(), f.req);
    f.send = std::move(*in);
  } else if (*type == "typing" || *type == "read") {
    f.type = *type == "typing" ? ClientFrame::Type::typing : ClientFrame::Type::read;
    auto cid = json::required_string(msg, "conversation_id");
    if (!cid) return frame_error(cid.error(), f.req);
    f.conversation_id = std::move(*cid);
    if (f.type == ClientFrame::Type::read) {
      auto seq = json::required_int(msg, "seq");
      if (!seq) return frame_error(seq.error(), f.req);
      f.seq = *seq;
    }
  } else {
    // The type is echoed for the client's sake, but never more than a short prefix of it.
    std::string shown = type->size() > 64 ? type->substr(0, 64) + "..." : *type;
    return frame_error({Errc::malformed, "unknown frame type \"" + shown + "\"", {}, 0}, f.req);
  }
  return f;
}

}  // namespace parley::api
