#include "frames.h"

#include "core/json.h"

namespace parley::api {
namespace {

tl::unexpected<FrameError> frame_error(Error e, boost::json::value req = nullptr) {
  return tl::unexpected<FrameError>(FrameError{std::move(e), std::move(req)});
}

// The fields of a call.* frame (API-EXTENSIONS.md "Calls"); unknown call.* types are malformed.
Result<void> parse_call_frame(const boost::json::object& msg, const std::string& type,
                              ClientFrame& f) {
  using T = ClientFrame::Type;
  if (type == "call.start") {
    f.type = T::call_start;
    auto cid = json::required_string(msg, "conversation_id");
    if (!cid) return fail(cid.error());
    f.conversation_id = std::move(*cid);
    auto media = json::required_string(msg, "media");
    if (!media) return fail(media.error());
    f.media = std::move(*media);
    return ok();
  }
  if (type == "call.accept")
    f.type = T::call_accept;
  else if (type == "call.decline")
    f.type = T::call_decline;
  else if (type == "call.leave")
    f.type = T::call_leave;
  else if (type == "call.signal")
    f.type = T::call_signal;
  else if (type == "call.media")
    f.type = T::call_media;
  else if (type == "call.kick")
    f.type = T::call_kick;
  else if (type == "call.mute")
    f.type = T::call_mute;
  else if (type == "call.record")
    f.type = T::call_record;
  else
    return fail(Errc::malformed, "unknown frame type \"" + type.substr(0, 64) + "\"");
  auto id = json::required_string(msg, "call_id");
  if (!id) return fail(id.error());
  f.call_id = std::move(*id);
  if (f.type == T::call_signal) {
    auto to = json::required_string(msg, "to_user_id");
    if (!to) return fail(to.error());
    f.to_user_id = std::move(*to);
    auto session = json::optional_string(msg, "to_session_id");
    if (!session) return fail(session.error());
    f.to_session_id = session->value_or("");
    auto it = msg.find("data");
    if (it == msg.end() || it->value().is_null())
      return fail(Errc::malformed, "data is required", "data");
    f.data = json::serialize(it->value());
  }
  if (f.type == T::call_kick || f.type == T::call_mute) {
    auto who = json::required_string(msg, "user_id");
    if (!who) return fail(who.error());
    f.to_user_id = std::move(*who);
  }
  if (f.type == T::call_record) {
    auto it = msg.find("on");
    if (it == msg.end() || !it->value().is_bool())
      return fail(Errc::malformed, "on must be true or false", "on");
    f.on = it->value().get_bool();
  }
  if (f.type == T::call_media) {
    for (auto [key, slot] : {std::pair{"audio", &f.audio}, std::pair{"video", &f.video},
                             std::pair{"screen", &f.screen}}) {
      auto it = msg.find(key);
      if (it == msg.end() || it->value().is_null()) continue;
      if (!it->value().is_bool())
        return fail(Errc::malformed, std::string(key) + " must be true or false", key);
      *slot = it->value().get_bool();
    }
  }
  return ok();
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
  if (messaging::is_server_post(*cmid))
    return fail(Errc::invalid_argument,
                "client_msg_id may not start with \"call-\" or \"rec-\" (kept for the server)",
                "client_msg_id");
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
    bool fits =
        (r.is_string() && r.get_string().size() <= kMaxReqBytes) || r.is_int64() || r.is_uint64();
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
  } else if (type->rfind("call.", 0) == 0) {
    if (auto r = parse_call_frame(msg, *type, f); !r) return frame_error(r.error(), f.req);
  } else {
    // The type is echoed for the client's sake, but never more than a short prefix of it.
    std::string shown = type->size() > 64 ? type->substr(0, 64) + "..." : *type;
    return frame_error({Errc::malformed, "unknown frame type \"" + shown + "\"", {}, 0}, f.req);
  }
  return f;
}

}  // namespace parley::api
