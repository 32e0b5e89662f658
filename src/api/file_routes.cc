// Files (API-EXTENSIONS.md "Files"): tus 1.0 uploads at /api/v1/uploads, downloads with Range
// and ETag, signed links for <img> tags. The tus wire (headers, status codes) lives here; the
// upload state and who may see what live in the files module.
#include <algorithm>
#include <charconv>
#include <ctime>

#include "context.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/text.h"

namespace parley::api {
namespace {

constexpr std::string_view kTusVersion = "1.0.0";
constexpr std::string_view kTusExtensions = "creation,creation-with-upload,termination,expiration";
constexpr std::string_view kOffsetOctetStream = "application/offset+octet-stream";
// A file response can never run script in Parley's origin, whatever the bytes are.
constexpr std::string_view kFileCsp =
    "sandbox; default-src 'none'; img-src 'self' data:; "
    "media-src 'self'; style-src 'unsafe-inline'";

std::string http_date(Millis ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

net::Response tus_response(int status) {
  net::Response r;
  r.status = status;
  r.content_type.clear();
  r.headers.push_back({"Tus-Resumable", std::string(kTusVersion)});
  return r;
}

net::Response tus_error(const Error& e) {
  auto r = error_response(e);
  r.headers.push_back({"Tus-Resumable", std::string(kTusVersion)});
  return r;
}

// tus answers 412 to a client that speaks another version.
std::optional<net::Response> refuse_other_tus(const net::Request& req) {
  if (req.header("Tus-Resumable") == kTusVersion) return std::nullopt;
  auto r = tus_error({Errc::failed_precondition, "Tus-Resumable: 1.0.0 is required", {}, 0});
  r.status = 412;
  r.headers.push_back({"Tus-Version", std::string(kTusVersion)});
  return r;
}

// Upload-Metadata: comma-separated "key base64value" pairs (the value may be absent).
Result<files::NewUpload> parse_creation(const net::Request& req) {
  files::NewUpload in;
  if (!req.header("Upload-Defer-Length").empty())
    return fail(Errc::malformed, "Upload-Defer-Length is not supported: send Upload-Length");
  auto length = parse_u64(req.header("Upload-Length"));
  if (!length) return fail(Errc::malformed, "Upload-Length must be a whole number of bytes");
  in.length = *length;
  std::string_view meta = req.header("Upload-Metadata");
  while (!meta.empty()) {
    auto comma = meta.find(',');
    std::string_view pair = meta.substr(0, comma);
    meta = comma == std::string_view::npos ? std::string_view() : meta.substr(comma + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    auto space = pair.find(' ');
    std::string_view key = pair.substr(0, space);
    std::string value;
    if (space != std::string_view::npos) {
      auto decoded = base64_decode(pair.substr(space + 1));
      if (!decoded) return fail(Errc::malformed, "Upload-Metadata values must be base64");
      value = std::move(*decoded);
    }
    if (key == "filename" || key == "name")
      in.name = std::move(value);
    else if (key == "filetype" || key == "type")
      in.claimed_type = std::move(value);
  }
  return in;
}

std::string location_of(const std::string& upload_id) { return "/api/v1/uploads/" + upload_id; }

// Headers that tell where an upload stands (HEAD, PATCH and creation answers).
void add_upload_headers(net::Response& r, const files::UploadState& s) {
  r.headers.push_back({"Upload-Offset", std::to_string(s.offset)});
  r.headers.push_back({"Upload-Length", std::to_string(s.length)});
  if (!s.file) r.headers.push_back({"Upload-Expires", http_date(s.expires_at)});
  if (s.file) r.headers.push_back({"Parley-File-Id", s.file->id});
}

boost::json::object upload_json(const files::UploadState& s) {
  boost::json::object o{
      {"id", s.id}, {"length", s.length}, {"offset", s.offset}, {"expires_at", s.expires_at}};
  o["file"] = s.file ? boost::json::value(messaging::to_json(*s.file)) : nullptr;
  return o;
}

// Takes a PATCH (or creation-with-upload POST) body into the upload and answers as tus asks.
class UploadSink final : public net::BodySink {
 public:
  UploadSink(std::unique_ptr<files::UploadWriter> writer, int status,
             std::optional<std::string> location)
      : writer_(std::move(writer)), status_(status), location_(std::move(location)) {}

  Result<void> write(std::string_view bytes) override { return writer_->write(bytes); }

  net::Response finish(Result<void> body) override {
    auto state = writer_->finish();
    writer_.reset();  // the upload is free for the next request before this one answers
    if (!state) return tus_error(state.error());
    if (!body && body.error().code != Errc::unavailable) return tus_error(body.error());
    auto r = tus_response(status_);
    if (location_) r.headers.push_back({"Location", *location_});
    add_upload_headers(r, *state);
    return r;
  }

 private:
  std::unique_ptr<files::UploadWriter> writer_;
  int status_;
  std::optional<std::string> location_;
};

net::StreamStart answer(net::Response r) { return {std::move(r), nullptr}; }

bool has_body(const net::Request& req) {
  auto cl = req.header("Content-Length");
  return (!cl.empty() && cl != "0") || !req.header("Transfer-Encoding").empty();
}

// A download's bytes, read from the blob store a piece at a time.
class BlobSource final : public net::BodySource {
 public:
  BlobSource(files::FileService& files, std::string key, std::uint64_t offset)
      : files_(files), key_(std::move(key)), offset_(offset) {}
  Result<std::string> next(std::size_t max) override {
    auto piece = files_.read(key_, offset_, max);
    if (piece) offset_ += piece->size();
    return piece;
  }

 private:
  files::FileService& files_;
  std::string key_;
  std::uint64_t offset_;
};

// RFC 6266 Content-Disposition with an ASCII fallback and the UTF-8 name.
std::string disposition(bool inline_ok, const std::string& name) {
  std::string ascii;
  for (unsigned char c : name)
    ascii += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? static_cast<char>(c) : '_';
  return std::string(inline_ok ? "inline" : "attachment") + "; filename=\"" + ascii +
         "\"; filename*=UTF-8''" + text::percent_encoded(name);
}

struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t length = 0;
};

// One "bytes=" range of RFC 9110 14.1.2. nullopt: no usable Range (the whole file is sent);
// a range past the end: unsatisfiable (416).
std::optional<Result<ByteRange>> parse_range(std::string_view h, std::uint64_t size) {
  if (h.empty() || !h.starts_with("bytes=")) return std::nullopt;
  h.remove_prefix(6);
  if (h.find(',') != std::string_view::npos) return std::nullopt;  // several: send it whole
  auto dash = h.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto first = parse_u64(h.substr(0, dash));
  auto last = parse_u64(h.substr(dash + 1));
  ByteRange r;
  if (!first) {
    if (!last || *last == 0) return std::nullopt;
    if (size == 0) return Result<ByteRange>(fail(Errc::invalid_argument, "range"));
    r.length = std::min(*last, size);
    r.first = size - r.length;
    return Result<ByteRange>(r);
  }
  if (last && *last < *first) return std::nullopt;
  if (*first >= size) return Result<ByteRange>(fail(Errc::invalid_argument, "range"));
  r.first = *first;
  r.length = (last ? std::min(*last, size - 1) : size - 1) - r.first + 1;
  return Result<ByteRange>(r);
}

}  // namespace

net::Response serve_content(Context& ctx, const net::Request& req, const files::Content& c,
                            bool thumbnail, std::string_view cache_control) {
  const std::string etag = "\"" + std::string(thumbnail ? "t-" : "") + c.file.sha256 + "\"";
  net::Response r;
  const bool inline_ok = thumbnail || files::is_inline_safe(c.content_type);
  r.content_type = c.content_type;
  r.headers.push_back({"ETag", etag});
  r.headers.push_back({"Accept-Ranges", "bytes"});
  r.headers.push_back({"Cache-Control", std::string(cache_control)});
  r.headers.push_back({"X-Content-Type-Options", "nosniff"});
  r.headers.push_back({"Content-Security-Policy", std::string(kFileCsp)});
  r.headers.push_back({"Cross-Origin-Resource-Policy", "same-origin"});
  r.headers.push_back({"Content-Disposition", disposition(inline_ok, c.file.name)});
  auto inm = req.header("If-None-Match");
  if (!inm.empty() && (inm == etag || inm == "*" || inm.find(etag) != std::string_view::npos)) {
    r.status = 304;
    r.content_type.clear();
    return r;
  }
  std::uint64_t first = 0;
  std::uint64_t length = c.size;
  if (auto range = parse_range(req.header("Range"), c.size)) {
    if (!*range) {
      auto refused = error_response({Errc::invalid_argument, "range not satisfiable", {}, 0});
      refused.status = 416;
      refused.headers.push_back({"Content-Range", "bytes */" + std::to_string(c.size)});
      return refused;
    }
    first = (*range)->first;
    length = (*range)->length;
    r.status = 206;
    r.headers.push_back({"Content-Range", "bytes " + std::to_string(first) + "-" +
                                              std::to_string(first + length - 1) + "/" +
                                              std::to_string(c.size)});
  }
  r.stream = std::make_shared<BlobSource>(ctx.s.files, c.blob_key, first);
  r.stream_length = length;
  return r;
}

namespace {

// GET of a file or its thumbnail: with the bearer token, or with a signed link's expires and
// sig (no token in the URL: the signature names one file and expires in minutes).
net::Handler download(Context& ctx, bool thumbnail) {
  return respond([&ctx, thumbnail](net::Request& req) -> Result<net::Response> {
    const std::string id(req.param("id"));
    auto sig = req.query("sig");
    if (!sig) return fail(sig.error());
    Result<files::Content> content = fail(Errc::not_found, "file not found");
    if (*sig && req.header("Authorization").empty()) {
      auto expires = query_int(req, "expires");
      if (!expires) return fail(expires.error());
      if (!*expires) return fail(Errc::malformed, "a signed link needs expires", "expires");
      content = ctx.s.files.content_by_link(id, thumbnail, **expires, **sig);
    } else {
      auto p = authorise(ctx, req);
      if (!p) return fail(p.error());
      content = ctx.s.files.content(p->user_id, id, thumbnail);
    }
    if (!content) return fail(content.error());
    return serve_content(ctx, req, *content, thumbnail);
  });
}

}  // namespace

void add_file_routes(net::Router& r, Context& ctx) {
  const std::uint64_t max_bytes = ctx.s.files.options().max_file_bytes;

  // Discovery needs no token (tus 1.0 "OPTIONS").
  r.add(net::Method::options, "/api/v1/uploads", [max_bytes](net::Request&) {
    auto resp = tus_response(204);
    resp.headers.push_back({"Tus-Version", std::string(kTusVersion)});
    resp.headers.push_back({"Tus-Extension", std::string(kTusExtensions)});
    resp.headers.push_back({"Tus-Max-Size", std::to_string(max_bytes)});
    return resp;
  });

  // Creation, with the first bytes in the same request when the client sends them.
  r.add_streaming(
      net::Method::post, "/api/v1/uploads",
      [&ctx](net::Request& req) -> net::StreamStart {
        if (auto refused = refuse_other_tus(req)) return answer(std::move(*refused));
        auto p = authorise(ctx, req);
        if (!p) return answer(tus_error(p.error()));
        auto in = parse_creation(req);
        if (!in) return answer(tus_error(in.error()));
        auto created = ctx.s.files.create_upload(p->user_id, *in);
        if (!created) return answer(tus_error(created.error()));
        const std::string location = location_of(created->id);
        if (has_body(req) && created->offset < created->length) {
          if (req.header("Content-Type") != kOffsetOctetStream)
            return answer(tus_error({Errc::malformed,
                                     "a body needs Content-Type: application/offset+octet-stream",
                                     {},
                                     0}));
          auto writer = ctx.s.files.write_upload(p->user_id, created->id, 0);
          if (!writer) return answer(tus_error(writer.error()));
          return {{}, std::make_unique<UploadSink>(std::move(*writer), 201, location)};
        }
        auto resp = tus_response(201);
        resp.headers.push_back({"Location", location});
        add_upload_headers(resp, *created);
        return answer(std::move(resp));
      },
      max_bytes);

  // HEAD (tus: where is it?) and GET (Parley: the file once finished), one route.
  r.add(net::Method::get, "/api/v1/uploads/{id}",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          if (req.method == net::Method::head) {
            if (auto refused = refuse_other_tus(req)) return *refused;
            auto s = ctx.s.files.upload(p.user_id, std::string(req.param("id")));
            if (!s) return tus_error(s.error());
            auto resp = tus_response(200);
            add_upload_headers(resp, *s);
            return resp;
          }
          auto s = ctx.s.files.upload(p.user_id, std::string(req.param("id")));
          if (!s) return fail(s.error());
          return json_response(200, upload_json(*s));
        }));

  r.add_streaming(
      net::Method::patch, "/api/v1/uploads/{id}",
      [&ctx](net::Request& req) -> net::StreamStart {
        if (auto refused = refuse_other_tus(req)) return answer(std::move(*refused));
        auto p = authorise(ctx, req);
        if (!p) return answer(tus_error(p.error()));
        if (req.header("Content-Type") != kOffsetOctetStream) {
          auto r = tus_error(
              {Errc::malformed, "Content-Type must be application/offset+octet-stream", {}, 0});
          r.status = 415;
          return answer(std::move(r));
        }
        auto offset = parse_u64(req.header("Upload-Offset"));
        if (!offset)
          return answer(
              tus_error({Errc::malformed, "Upload-Offset must be a whole number", {}, 0}));
        auto writer = ctx.s.files.write_upload(p->user_id, std::string(req.param("id")), *offset);
        if (!writer) return answer(tus_error(writer.error()));
        return {{}, std::make_unique<UploadSink>(std::move(*writer), 204, std::nullopt)};
      },
      max_bytes);

  r.add(net::Method::del, "/api/v1/uploads/{id}",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          if (auto refused = refuse_other_tus(req)) return *refused;
          if (auto t = ctx.s.files.terminate(p.user_id, std::string(req.param("id"))); !t)
            return tus_error(t.error());
          return tus_response(204);
        }));

  r.add(net::Method::get, "/api/v1/files/{id}", download(ctx, false));
  r.add(net::Method::get, "/api/v1/files/{id}/thumbnail", download(ctx, true));

  r.add(net::Method::get, "/api/v1/files/{id}/link",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto link = ctx.s.files.link(p.user_id, std::string(req.param("id")));
          if (!link) return fail(link.error());
          boost::json::object o{{"url", link->url}, {"expires_at", link->expires_at}};
          if (!link->thumbnail_url.empty()) o["thumbnail_url"] = link->thumbnail_url;
          return json_response(200, o);
        }));

  r.add(net::Method::get, "/api/v1/files/{id}/info",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto f = ctx.s.files.file(p.user_id, std::string(req.param("id")));
          if (!f) return fail(f.error());
          return json_response(200, {{"file", messaging::to_json(*f)}});
        }));
}

}  // namespace parley::api
