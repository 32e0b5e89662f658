// AI on the premises (API-EXTENSIONS.md "AI"): capabilities, translation, language detection,
// smart replies, sentiment, the per-user language and auto-translate settings, and the admin
// sentiment analytics.
#include <regex>

#include "context.h"
#include "core/json.h"

namespace parley::api {
namespace {

// A pair no engine serves is 422 unsupported_language (not validation_failed): the client shows
// "not available" rather than a form error.
net::Response ai_error(const Error& e) {
  if (e.code == Errc::invalid_argument && (e.field == "to" || e.field == "language"))
    return json_response(422, {{"error",
                                {{"code", "unsupported_language"},
                                 {"message", e.message},
                                 {"field", e.field}}}});
  return error_response(e);
}

bool is_date(const std::string& s) {
  static const std::regex re("^[0-9]{4}-[0-9]{2}-[0-9]{2}$");
  return std::regex_match(s, re);
}

Result<bool> required_bool(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return fail(Errc::malformed, std::string(key) + " is required", std::string(key));
  if (!v->is_bool()) return fail(Errc::malformed, std::string(key) + " must be a boolean",
                                 std::string(key));
  return v->as_bool();
}

}  // namespace

void add_ai_routes(net::Router& r, Context& ctx) {
  if (!ctx.s.ai) return;
  auto& ai = *ctx.s.ai;

  r.add(net::Method::get, "/api/v1/ai/capabilities",
        authed(ctx, [&ai](net::Request&, const auth::Principal&) -> Result<net::Response> {
          auto c = ai.capabilities();
          boost::json::array pairs, langs, external;
          for (const auto& p : c.translate_pairs) pairs.emplace_back(p);
          for (const auto& l : c.transcribe_languages) langs.emplace_back(l);
          for (const auto& e : c.external_engines) external.emplace_back(e);
          return json_response(
              200, {{"translate", {{"pairs", std::move(pairs)}}},
                    {"transcribe", {{"languages", std::move(langs)}}},
                    {"smart_replies", c.smart_replies},
                    {"sentiment", c.sentiment},
                    {"assistant", {{"user_id", c.assistant_user_id}}},
                    {"external_engines", std::move(external)}});
        }));

  r.add(net::Method::post, "/api/v1/messages/{id}/translate",
        respond([&ctx, &ai](net::Request& req) -> Result<net::Response> {
          auto p = authorise(ctx, req);
          if (!p) return fail(p.error());
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto to = json::optional_string(*body, "to");
          if (!to) return fail(to.error());
          auto t = ai.translate_message(p->user_id, std::string(req.param("id")),
                                        to->value_or(""));
          if (!t) return ai_error(t.error());
          return json_response(
              200, {{"text", t->text}, {"from", t->from}, {"to", t->to}, {"engine", t->engine}});
        }));

  r.add(net::Method::post, "/api/v1/ai/detect-language",
        authed(ctx, [&ai](net::Request& req, const auth::Principal&) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto text = json::required_string(*body, "text");
          if (!text) return fail(text.error());
          if (text->empty() || text->size() > 64'000)
            return fail(Errc::invalid_argument, "text must be 1 to 16000 characters", "text");
          auto d = ai.detect(*text);
          return json_response(200, {{"language", d.language}, {"confidence", d.confidence}});
        }));

  r.add(net::Method::get, "/api/v1/conversations/{id}/smart-replies",
        authed(ctx, [&ai](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto got = ai.smart_replies(p.user_id, std::string(req.param("id")));
          if (!got) return fail(got.error());
          boost::json::array arr;
          for (const auto& s : *got) arr.emplace_back(s);
          return json_response(200, {{"replies", std::move(arr)}});
        }));

  r.add(net::Method::post, "/api/v1/ai/sentiment",
        authed(ctx, [&ai](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto text = json::required_string(*body, "text");
          if (!text) return fail(text.error());
          auto s = ai.sentiment(p.user_id, *text);
          if (!s) return fail(s.error());
          return json_response(
              200, {{"compound", s->compound}, {"pos", s->pos}, {"neu", s->neu}, {"neg", s->neg}});
        }));

  r.add(net::Method::get, "/api/v1/conversations/{id}/auto-translate",
        authed(ctx, [&ai](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          const std::string id(req.param("id"));
          auto on = ai.auto_translate(p.user_id, id);
          if (!on) return fail(on.error());
          return json_response(200, {{"conversation_id", id}, {"enabled", *on}});
        }));

  r.add(net::Method::put, "/api/v1/conversations/{id}/auto-translate",
        authed(ctx, [&ai](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          const std::string id(req.param("id"));
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto enabled = required_bool(*body, "enabled");
          if (!enabled) return fail(enabled.error());
          if (auto s = ai.set_auto_translate(p.user_id, id, *enabled); !s) return fail(s.error());
          return json_response(200, {{"conversation_id", id}, {"enabled", *enabled}});
        }));

  // Admin analytics: per-conversation daily sentiment. Never per message, never per person.
  r.add(net::Method::get, "/api/v1/admin/analytics/sentiment",
        admin_authed(ctx, [&ai](net::Request& req,
                                const auth::Principal& p) -> Result<net::Response> {
          auto from = req.query("from");
          if (!from) return fail(from.error());
          auto to = req.query("to");
          if (!to) return fail(to.error());
          if (!*from || !is_date(**from))
            return fail(Errc::invalid_argument, "from must be YYYY-MM-DD", "from");
          if (!*to || !is_date(**to))
            return fail(Errc::invalid_argument, "to must be YYYY-MM-DD", "to");
          auto days = ai.sentiment_days(p.user_id, **from, **to);
          if (!days) return fail(days.error());
          boost::json::array arr;
          for (const auto& d : *days)
            arr.push_back({{"date", d.day.date},
                           {"conversation_id", d.day.conversation_id},
                           {"name", d.name},
                           {"messages", d.day.messages},
                           {"sentiment", d.day.compound},
                           {"positive", d.day.positive},
                           {"negative", d.day.negative}});
          return json_response(200, {{"days", std::move(arr)}});
        }));
}

}  // namespace parley::api
