// Retention policies, data exports and usage analytics (modules/governance) over HTTP.
#include <boost/json/array.hpp>

#include "context.h"
#include "core/json.h"

namespace parley::api {
namespace {

using governance::ExportRecord;

// The "days" member of a body: a positive integer, or null for "keep forever". Required.
Result<std::optional<int>> days_of(const boost::json::object& body) {
  const auto* v = body.if_contains("days");
  if (!v) return fail(Errc::malformed, "days is required (a number of days, or null)", "days");
  if (v->is_null()) return std::optional<int>();
  if (!v->is_int64() && !v->is_uint64())
    return fail(Errc::malformed, "days must be an integer or null", "days");
  const auto n = v->is_int64() ? v->as_int64() : static_cast<std::int64_t>(v->as_uint64());
  if (n < 1 || n > 1'000'000) return fail(Errc::invalid_argument, "days must be at least 1", "days");
  return std::optional<int>(static_cast<int>(n));
}

boost::json::value days_json(std::optional<int> d) {
  return d ? boost::json::value(*d) : boost::json::value(nullptr);
}

boost::json::object retention_json(const governance::RetentionView& v) {
  return {{"days", days_json(v.days)},
          {"global_days", days_json(v.global_days)},
          {"effective_days", days_json(v.effective_days)}};
}

boost::json::object export_json(const ExportRecord& r) {
  boost::json::object o{{"id", r.id},
                        {"kind", r.kind},
                        {"target", r.target},
                        {"status", governance::to_string(r.status)},
                        {"created_at", r.created_at}};
  if (r.finished_at) o["finished_at"] = r.finished_at;
  if (r.expires_at) o["expires_at"] = r.expires_at;
  if (r.status == governance::ExportStatus::ready) {
    o["size"] = r.size;
    o["download_url"] = "/api/v1/exports/" + r.id + "/download";
  }
  return o;
}

net::Response accepted(const ExportRecord& r) {
  auto resp = json_response(202, boost::json::object{{"export", export_json(r)}});
  resp.headers.push_back({"Location", "/api/v1/exports/" + r.id});
  return resp;
}

// The archive, from the blob store, piece by piece.
class ExportSource final : public net::BodySource {
 public:
  ExportSource(governance::ExportService& exports, ExportRecord r)
      : exports_(exports), r_(std::move(r)) {}
  Result<std::string> next(std::size_t max) override {
    auto piece = exports_.read(r_, offset_, max);
    if (piece) offset_ += piece->size();
    return piece;
  }

 private:
  governance::ExportService& exports_;
  ExportRecord r_;
  std::uint64_t offset_ = 0;
};

// One CSV cell (RFC 4180): quoted when it holds a comma, quote or line break. A text cell that
// a spreadsheet would run as a formula gets a leading apostrophe.
std::string csv_cell(std::string_view v, bool text) {
  std::string s(v);
  if (text && !s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@'))
    s = "'" + s;
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

net::Response csv_response(std::string body, std::string_view name) {
  net::Response r;
  r.content_type = "text/csv; charset=utf-8";
  r.headers.push_back({"Content-Disposition", "attachment; filename=\"" + std::string(name) + "\""});
  r.body = std::move(body);
  return r;
}

struct Range {
  std::string from, to;
  bool csv = false;
};

Result<Range> range_of(const net::Request& req) {
  Range r;
  auto from = req.query("from");
  if (!from) return fail(from.error());
  auto to = req.query("to");
  if (!to) return fail(to.error());
  auto format = req.query("format");
  if (!format) return fail(format.error());
  if (!*from) return fail(Errc::malformed, "from is required (YYYY-MM-DD)", "from");
  if (!*to) return fail(Errc::malformed, "to is required (YYYY-MM-DD)", "to");
  if (*format && **format != "csv" && **format != "json")
    return fail(Errc::malformed, "format must be csv or json", "format");
  r.from = **from;
  r.to = **to;
  r.csv = *format && **format == "csv";
  return r;
}

// Dates the client got wrong are a bad request (400), not merely unacceptable values.
Error as_bad_request(Error e) {
  if (e.code == Errc::invalid_argument) e.code = Errc::malformed;
  return e;
}

}  // namespace

void add_data_routes(net::Router& r, Context& ctx) {
  if (!ctx.s.retention || !ctx.s.exports || !ctx.s.analytics) return;
  auto& retention = *ctx.s.retention;
  auto& exports = *ctx.s.exports;
  auto& analytics = *ctx.s.analytics;

  // ---- retention ----
  r.add(net::Method::get, "/api/v1/admin/retention",
        authed(ctx, [&ctx, &retention](net::Request&,
                                       const auth::Principal& p) -> Result<net::Response> {
          if (auto a = require_admin(ctx, p); !a) return fail(a.error());
          auto d = retention.global_days();
          if (!d) return fail(d.error());
          return json_response(200, boost::json::object{{"days", days_json(*d)}});
        }));
  r.add(net::Method::put, "/api/v1/admin/retention",
        authed(ctx, [&ctx, &retention](net::Request& req,
                                       const auth::Principal& p) -> Result<net::Response> {
          if (auto a = require_admin(ctx, p); !a) return fail(a.error());
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto days = days_of(*body);
          if (!days) return fail(days.error());
          auto d = retention.set_global_days(*days);
          if (!d) return fail(d.error());
          audit(ctx, req, p.user_id, audit::actions::kRetentionChanged, "retention:global");
          return json_response(200, boost::json::object{{"days", days_json(*d)}});
        }));
  r.add(net::Method::get, "/api/v1/conversations/{id}/retention",
        authed(ctx, [&retention](net::Request& req,
                                 const auth::Principal& p) -> Result<net::Response> {
          auto v = retention.conversation(p.user_id, std::string(req.param("id")));
          if (!v) return fail(v.error());
          return json_response(200, retention_json(*v));
        }));
  r.add(net::Method::put, "/api/v1/conversations/{id}/retention",
        authed(ctx, [&ctx, &retention](net::Request& req,
                                       const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto days = days_of(*body);
          if (!days) return fail(days.error());
          const std::string id(req.param("id"));
          auto v = retention.set_conversation(p.user_id, id, *days);
          if (!v) return fail(v.error());
          audit(ctx, req, p.user_id, audit::actions::kRetentionChanged, audit::target("conversation", id));
          return json_response(200, retention_json(*v));
        }));

  // ---- export ----
  r.add(net::Method::post, "/api/v1/users/me/export",
        authed(ctx, [&ctx, &exports](net::Request& req,
                                     const auth::Principal& p) -> Result<net::Response> {
          auto e = exports.request_user_export(p.user_id);
          if (!e) return fail(e.error());
          audit(ctx, req, p.user_id, audit::actions::kDataExported, audit::target("user", p.user_id));
          return accepted(*e);
        }));
  r.add(net::Method::post, "/api/v1/admin/conversations/{id}/export",
        authed(ctx, [&ctx, &exports](net::Request& req,
                                     const auth::Principal& p) -> Result<net::Response> {
          if (auto a = require_admin(ctx, p); !a) return fail(a.error());
          const std::string id(req.param("id"));
          auto e = exports.request_conversation_export(p.user_id, true, id);
          if (!e) return fail(e.error());
          audit(ctx, req, p.user_id, audit::actions::kDataExported, audit::target("conversation", id));
          return accepted(*e);
        }));
  r.add(net::Method::get, "/api/v1/exports/{id}",
        authed(ctx, [&exports](net::Request& req,
                               const auth::Principal& p) -> Result<net::Response> {
          auto e = exports.get(p.user_id, std::string(req.param("id")));
          if (!e) return fail(e.error());
          return json_response(200, boost::json::object{{"export", export_json(*e)}});
        }));
  r.add(net::Method::get, "/api/v1/exports/{id}/download",
        authed(ctx, [&exports](net::Request& req,
                               const auth::Principal& p) -> Result<net::Response> {
          auto e = exports.get(p.user_id, std::string(req.param("id")));
          if (!e) return fail(e.error());
          if (e->status != governance::ExportStatus::ready)
            return fail(Errc::failed_precondition, "the export is not ready");
          net::Response resp;
          resp.content_type = "application/zip";
          resp.headers.push_back({"Content-Disposition",
                                  "attachment; filename=\"parley-export-" + e->id + ".zip\""});
          resp.headers.push_back({"Cache-Control", "private, no-store"});
          resp.headers.push_back({"X-Content-Type-Options", "nosniff"});
          resp.stream_length = static_cast<std::uint64_t>(e->size);
          resp.stream = std::make_shared<ExportSource>(exports, std::move(*e));
          return resp;
        }));

  // ---- analytics ----
  r.add(net::Method::get, "/api/v1/admin/analytics/summary",
        authed(ctx, [&ctx, &analytics](net::Request& req,
                                       const auth::Principal& p) -> Result<net::Response> {
          if (auto a = require_admin(ctx, p); !a) return fail(a.error());
          auto range = range_of(req);
          if (!range) return fail(range.error());
          auto s = analytics.summary(range->from, range->to);
          if (!s) return fail(as_bad_request(s.error()));
          auto median = [](const std::optional<Millis>& ms) -> boost::json::value {
            if (!ms) return nullptr;
            return *ms;
          };
          if (range->csv) {
            std::string out =
                "date,active_users,messages,new_users,dm_messages,group_messages,"
                "channel_messages,dm_responses,dm_first_response_median_ms,calls,call_seconds,"
                "files\r\n";
            for (const auto& d : s->days) {
              out += d.date;
              for (auto n : {d.active_users, d.messages, d.new_users, d.dm_messages,
                             d.group_messages, d.channel_messages, d.dm_responses})
                out += "," + std::to_string(n);
              // An empty cell: no first response that day.
              out += "," + (d.dm_first_response_median_ms
                                ? std::to_string(*d.dm_first_response_median_ms)
                                : std::string());
              for (auto n : {d.calls, d.call_seconds, d.files}) out += "," + std::to_string(n);
              out += "\r\n";
            }
            return csv_response(std::move(out), "parley-summary.csv");
          }
          boost::json::array days;
          for (const auto& d : s->days)
            days.push_back(boost::json::object{
                {"date", d.date},
                {"active_users", d.active_users},
                {"messages", d.messages},
                {"new_users", d.new_users},
                {"dm_messages", d.dm_messages},
                {"group_messages", d.group_messages},
                {"channel_messages", d.channel_messages},
                {"dm_responses", d.dm_responses},
                {"dm_first_response_median_ms", median(d.dm_first_response_median_ms)},
                {"calls", d.calls},
                {"call_seconds", d.call_seconds},
                {"files", d.files}});
          return json_response(
              200, boost::json::object{
                       {"days", std::move(days)},
                       {"dau", s->dau},
                       {"wau", s->wau},
                       {"mau", s->mau},
                       {"dm_responses", s->dm_responses},
                       {"dm_first_response_median_ms", median(s->dm_first_response_median_ms)}});
        }));
  r.add(net::Method::get, "/api/v1/admin/analytics/channels",
        authed(ctx, [&ctx, &analytics](net::Request& req,
                                       const auth::Principal& p) -> Result<net::Response> {
          if (auto a = require_admin(ctx, p); !a) return fail(a.error());
          auto range = range_of(req);
          if (!range) return fail(range.error());
          auto limit = page_limit(req);
          if (!limit) return fail(limit.error());
          auto list = analytics.channels(range->from, range->to, *limit);
          if (!list) return fail(as_bad_request(list.error()));
          if (range->csv) {
            std::string out = "conversation_id,name,messages,active_users\r\n";
            for (const auto& c : *list)
              out += csv_cell(c.conversation_id, false) + "," + csv_cell(c.name, true) + "," +
                     std::to_string(c.messages) + "," + std::to_string(c.active_users) + "\r\n";
            return csv_response(std::move(out), "parley-channels.csv");
          }
          boost::json::array arr;
          for (const auto& c : *list)
            arr.push_back(boost::json::object{{"conversation_id", c.conversation_id},
                                              {"name", c.name},
                                              {"messages", c.messages},
                                              {"active_users", c.active_users}});
          return json_response(200, boost::json::object{{"channels", std::move(arr)}});
        }));
}

}  // namespace parley::api
