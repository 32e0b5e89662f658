// Messages, threads, reactions, read state, pins and search (API.md "Messages").
#include "core/trace.h"
#include "context.h"
#include "core/json.h"
#include "core/log.h"
#include "frames.h"
#include "modules/messaging/events.h"

namespace parley::api {
namespace {

net::Response page_response(const messaging::MessagePage& page) {
  boost::json::array arr;
  for (const auto& m : page.messages) arr.push_back(messaging::to_json(m));
  return json_response(200, {{"messages", std::move(arr)}, {"has_more", page.has_more}});
}

std::string id_param(const net::Request& req, std::string_view name = "id") {
  return std::string(req.param(name));
}

boost::json::object read_state_json(const std::string& conversation_id,
                                    const messaging::ReadState& st) {
  return {{"conversation_id", conversation_id},
          {"last_read_seq", st.last_read_seq},
          {"unread_count", st.unread_count},
          {"mention_count", st.mention_count}};
}

}  // namespace

namespace {

constexpr std::size_t kMaxPreviewImageBytes = 5 * 1024 * 1024;

// A preview's image, fetched through the SSRF-hardened client and kept as a file posted in the
// conversation: members load it from Parley, and the site never learns who looked. "" when
// there is none or it is not an image.
std::string own_copy_of_image(Context& ctx, const messaging::Message& m, const std::string& url) {
  outbound::FetchRequest req;
  req.url = url;
  req.limits.max_body_bytes = kMaxPreviewImageBytes;
  req.user_agent = "ParleyBot/1.0 (link preview)";
  auto got = ctx.s.fetcher->fetch(req);
  if (!got || got->status != 200 || !got->content_type.starts_with("image/")) return {};
  auto file = ctx.s.files.import(m.sender_id, m.conversation_id, "preview", got->body);
  if (!file || file->width == 0) return {};  // not an image the server could read
  return "/api/v1/files/" + file->id + (file->has_thumbnail ? "/thumbnail" : "");
}

// Asks the command's URL on the integration pool (a slow URL never holds a request worker) and
// shows its answer: to the caller's sessions only, or posted through the one send path.
void run_command(Context& ctx, const std::string& user_id, Send in, integrations::CommandLine line,
                 CommandDone done) {
  auto task = [&ctx, user_id, in = std::move(in), line = std::move(line), done]() mutable {
    auto answer = ctx.s.integrations->run_command(user_id, in.request.conversation_id, line);
    if (!answer) return done(fail(answer.error()));
    if (!answer->in_channel) {
      CommandOutcome outcome{std::move(*answer), std::nullopt};
      boost::json::object data = command_json(outcome)["command"].as_object();
      data["conversation_id"] = in.request.conversation_id;
      if (in.request.thread_root_id) data["thread_root_id"] = *in.request.thread_root_id;
      messaging::Event ev;
      ev.route.kind = messaging::Route::Kind::user;
      ev.route.user_ids = {user_id};
      ev.name = "command.response";
      ev.data = json::serialize(data);
      ctx.s.bus.publish(messaging::kEventsTopic, messaging::encode(ev));
      return done(std::move(outcome));
    }
    Send post;
    post.request = in.request;  // the conversation, thread and client_msg_id of the command
    post.request.text = answer->text;
    post.request.attachments.clear();
    auto posted = [answer = std::move(*answer), done](Result<messaging::Appended> sent) {
      if (!sent) return done(fail(sent.error()));
      done(CommandOutcome{answer, sent->message});
    };
    send_message(ctx, user_id, std::move(post), posted);
  };
  if (!ctx.s.integration_pool->try_submit(task))
    done(fail(Errc::unavailable, "server busy, retry"));
}

}  // namespace

boost::json::object command_json(const CommandOutcome& c) {
  boost::json::object out{{"command",
                           {{"trigger", "/" + c.answer.trigger},
                            {"text", c.answer.text},
                            {"visibility", c.answer.in_channel ? "in_channel" : "ephemeral"}}}};
  if (c.message) out["message"] = messaging::to_json(*c.message);
  return out;
}

// Best effort, in the background: a full pool or a site that does not answer leaves the
// message without previews.
void preview_links(Context& ctx, const messaging::Message& m) {
  if (!ctx.s.previews || !ctx.s.preview_pool || m.text.find("http") == std::string::npos) return;
  ctx.s.preview_pool->try_submit([&ctx, m] {
    auto found = ctx.s.previews->previews_for(m.text);
    if (!found || found->empty()) return;
    std::vector<messaging::LinkPreview> previews;
    for (auto& p : *found) {
      std::string image;
      if (p.image_url && ctx.s.fetcher) image = own_copy_of_image(ctx, m, *p.image_url);
      previews.push_back({std::move(p.url), std::move(p.title), std::move(p.description),
                          std::move(image), p.site_name.value_or("")});
    }
    if (auto set = ctx.s.messaging.set_previews(m.id, previews); !set)
      log::info("previews not set", {{"message_id", m.id}, {"error", set.error().message}});
  });
}

void send_message(Context& ctx, const std::string& user_id, Send in,
                  messaging::MessagingService::SendDone done, CommandDone on_command) {
  if (auto rl = rate_limit(ctx.s.limiter,
                           {{"messages:user:" + user_id, ctx.opts.limits.messages_per_user}});
      !rl)
    return done(fail(rl.error()));
  // A message with files is a message, whatever its text.
  if (on_command && ctx.s.integrations && ctx.s.integration_pool && in.attachment_ids.empty()) {
    auto& text = in.request.text;
    if (text.starts_with("//")) {
      text.erase(0, 1);
    } else if (auto line = integrations::parse_command_line(text)) {
      return run_command(ctx, user_id, std::move(in), std::move(*line), std::move(on_command));
    }
  }
  if (!in.attachment_ids.empty()) {
    auto files = ctx.s.files.attach(user_id, in.request.conversation_id, in.attachment_ids);
    if (!files) return done(fail(files.error()));
    in.request.attachments = std::move(*files);
  }
  ctx.s.messaging.send_async(user_id, in.request,
                             [&ctx, done = std::move(done)](Result<messaging::Appended> sent) {
                               if (sent && sent->created) {
                                 preview_links(ctx, sent->message);
                                 if (ctx.s.integrations)
                                   ctx.s.integrations->message_created(sent->message);
                               }
                               done(std::move(sent));
                             });
}

void add_message_routes(net::Router& r, Context& ctx) {
  // Answered once the message is durable, without a thread waiting for the commit.
  r.add_async(net::Method::post, "/api/v1/conversations/{id}/messages",
              authed_async(ctx, [&ctx](net::Request& req, const auth::Principal& p,
                                       AsyncDone done) {
                auto body = parse_body(req);
                if (!body) return done(fail(body.error()));
                auto in = parse_send(*body, id_param(req));
                if (!in) return done(fail(in.error()));
                auto on_command = [done](Result<CommandOutcome> c) {
                  if (!c) return done(fail(c.error()));
                  done(json_response(200, command_json(*c)));
                };
                // The commit, bus hop and fan-outs join this request's trace when it is sampled.
                std::optional<trace::Context> tc;
                if (req.trace_flags == "01")
                  tc = trace::Context::parse("00-" + req.trace_id + "-" + req.span_id + "-01");
                trace::Scope scope(tc.value_or(trace::Context{}));
                send_message(
                    ctx, p.user_id, std::move(*in),
                    [done](Result<messaging::Appended> sent) {
                      if (!sent) return done(fail(sent.error()));
                      done(json_response(sent->created ? 201 : 200,
                                         messaging::to_json(sent->message)));
                    },
                    on_command);
              }));

  r.add(net::Method::get, "/api/v1/conversations/{id}/messages",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto limit = page_limit(req);
          if (!limit) return fail(limit.error());
          auto before = query_int(req, "before_seq");
          if (!before) return fail(before.error());
          auto after = query_int(req, "after_seq");
          if (!after) return fail(after.error());
          auto page =
              ctx.s.messaging.history(p.user_id, id_param(req), {*before, *after, *limit});
          if (!page) return fail(page.error());
          return page_response(*page);
        }));

  r.add(net::Method::get, "/api/v1/messages/{id}",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto m = ctx.s.messaging.get_message(p.user_id, id_param(req));
          if (!m) return fail(m.error());
          return json_response(200, messaging::to_json(*m));
        }));

  r.add(net::Method::patch, "/api/v1/messages/{id}",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto text = json::required_string(*body, "text");
          if (!text) return fail(text.error());
          auto m = ctx.s.messaging.edit(p.user_id, id_param(req), *text);
          if (!m) return fail(m.error());
          preview_links(ctx, *m);
          return json_response(200, messaging::to_json(*m));
        }));

  r.add(net::Method::del, "/api/v1/messages/{id}",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          if (auto d = ctx.s.messaging.remove_message(p.user_id, id_param(req)); !d)
            return fail(d.error());
          return no_content();
        }));

  r.add(net::Method::get, "/api/v1/messages/{id}/replies",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto limit = page_limit(req);
          if (!limit) return fail(limit.error());
          auto after = query_int(req, "after_seq");
          if (!after) return fail(after.error());
          auto page = ctx.s.messaging.replies(p.user_id, id_param(req), after->value_or(0), *limit);
          if (!page) return fail(page.error());
          return page_response(*page);
        }));

  for (bool add : {true, false}) {
    r.add(add ? net::Method::put : net::Method::del, "/api/v1/messages/{id}/reactions/{emoji}",
          authed(ctx,
                 [&ctx, add](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
                   auto done = ctx.s.messaging.react(p.user_id, id_param(req),
                                                     id_param(req, "emoji"), add);
                   if (!done) return fail(done.error());
                   return no_content();
                 }));
    r.add(add ? net::Method::put : net::Method::del,
          "/api/v1/conversations/{id}/pins/{message_id}",
          authed(ctx,
                 [&ctx, add](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
                   auto done = ctx.s.messaging.pin(p.user_id, id_param(req),
                                                   id_param(req, "message_id"), add);
                   if (!done) return fail(done.error());
                   return no_content();
                 }));
  }

  r.add(net::Method::get, "/api/v1/conversations/{id}/pins",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto pins = ctx.s.messaging.pins(p.user_id, id_param(req));
          if (!pins) return fail(pins.error());
          return page_response({std::move(*pins), false});
        }));

  r.add(net::Method::post, "/api/v1/conversations/{id}/read",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto seq = json::required_int(*body, "seq");
          if (!seq) return fail(seq.error());
          auto id = id_param(req);
          auto st = ctx.s.messaging.mark_read(p.user_id, p.session_id, id, *seq);
          if (!st) return fail(st.error());
          return json_response(200, read_state_json(id, *st));
        }));

  // "Mark as unread": message seq and those after it become unread again.
  r.add(net::Method::post, "/api/v1/conversations/{id}/unread",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto seq = json::required_int(*body, "seq");
          if (!seq) return fail(seq.error());
          auto id = id_param(req);
          auto st = ctx.s.messaging.mark_unread(p.user_id, id, *seq);
          if (!st) return fail(st.error());
          return json_response(200, read_state_json(id, *st));
        }));

  for (bool on : {true, false})
    r.add(on ? net::Method::put : net::Method::del, "/api/v1/messages/{id}/saved",
          authed(ctx,
                 [&ctx, on](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
                   if (auto d = ctx.s.messaging.set_saved(p.user_id, id_param(req), on); !d)
                     return fail(d.error());
                   return no_content();
                 }));

  r.add(net::Method::get, "/api/v1/users/me/saved",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto limit = page_limit(req);
          if (!limit) return fail(limit.error());
          auto cursor = req.query("cursor");
          if (!cursor) return fail(cursor.error());
          auto page = ctx.s.messaging.saved(p.user_id, *limit, *cursor);
          if (!page) return fail(page.error());
          boost::json::array arr;
          for (const auto& m : page->messages) arr.push_back(messaging::to_json(m));
          boost::json::object out{{"messages", std::move(arr)}};
          if (page->next_cursor) out["next_cursor"] = *page->next_cursor;
          return json_response(200, out);
        }));

  r.add(net::Method::get, "/api/v1/search/messages",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          if (auto rl = rate_limit(ctx.s.limiter,
                                   {{"search:user:" + p.user_id, ctx.opts.limits.search_per_user}});
              !rl)
            return fail(rl.error());
          search::SearchRequest in;
          auto limit = page_limit(req);
          if (!limit) return fail(limit.error());
          in.limit = *limit;
          auto q = req.query("q");
          if (!q) return fail(q.error());
          in.q = q->value_or("");
          for (auto [name, field] : {std::pair{"conversation_id", &in.conversation_id},
                                     std::pair{"sender_id", &in.sender_id},
                                     std::pair{"cursor", &in.cursor}}) {
            auto v = req.query(name);
            if (!v) return fail(v.error());
            *field = *v;
          }
          auto before = query_int(req, "before");
          if (!before) return fail(before.error());
          in.before = *before;
          auto after = query_int(req, "after");
          if (!after) return fail(after.error());
          in.after = *after;
          auto page = ctx.s.search.search(p.user_id, in);
          if (!page) return fail(page.error());
          boost::json::array arr;
          for (const auto& h : page->results)
            arr.push_back({{"message", messaging::to_json(h.message)}, {"highlight", h.highlight}});
          boost::json::object out{{"results", std::move(arr)}};
          if (page->next_cursor) out["next_cursor"] = *page->next_cursor;
          return json_response(200, out);
        }));
}

}  // namespace parley::api
