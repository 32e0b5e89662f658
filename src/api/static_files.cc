#include "static_files.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace parley::api {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxFiles = 4096;
constexpr std::uintmax_t kMaxBytes = 256ull << 20;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string etag_of(const std::string& body) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a, 64 bit: a change detector, not a MAC
  for (unsigned char c : body) {
    h ^= c;
    h *= 1099511628211ull;
  }
  static const char* hex = "0123456789abcdef";
  std::string out = "\"";
  for (int i = 60; i >= 0; i -= 4) out += hex[(h >> i) & 0xf];
  out += "-" + std::to_string(body.size()) + "\"";
  return out;
}

}  // namespace

std::string content_type_for(std::string_view path) {
  struct Type {
    std::string_view ext, type;
  };
  static constexpr Type types[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".webp", "image/webp"},
      {".gif", "image/gif"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".woff", "font/woff"},
      {".txt", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"},
  };
  for (const auto& t : types)
    if (ends_with(path, t.ext)) return std::string(t.type);
  return "application/octet-stream";
}

Result<std::shared_ptr<const StaticFiles>> StaticFiles::load(
    const std::string& root, const std::vector<std::string>& connect_src) {
  std::error_code ec;
  fs::path base = fs::weakly_canonical(fs::path(root), ec);
  if (ec || !fs::is_regular_file(base / "index.html", ec))
    return fail(Errc::invalid_argument, "web_root: no index.html in " + root);
  auto out = std::make_shared<StaticFiles>();
  for (const auto& origin : connect_src) {
    // Only scheme://host[:port]: nothing that could end the directive or add another.
    if (origin.find_first_of("; ,'\"\r\n") != std::string::npos)
      return fail(Errc::invalid_argument, "connect-src origin \"" + origin + "\" is not an origin");
    auto at = out->csp_.find("connect-src 'self'");
    out->csp_.insert(at + std::string_view("connect-src 'self'").size(), " " + origin);
  }
  std::uintmax_t total = 0;
  for (fs::recursive_directory_iterator it(base, fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    const auto& entry = *it;
    if (entry.is_symlink(ec)) {  // never follow a link out of the root
      if (entry.is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (!entry.is_regular_file(ec)) continue;
    std::string rel = fs::relative(entry.path(), base, ec).generic_string();
    if (ec || rel.empty() || starts_with(rel, "..")) continue;
    if (out->files_.size() >= kMaxFiles)
      return fail(Errc::invalid_argument, "web_root: more than 4096 files in " + root);
    total += entry.file_size(ec);
    if (total > kMaxBytes) return fail(Errc::invalid_argument, "web_root: over 256 MiB in " + root);
    std::ifstream in(entry.path(), std::ios::binary);
    if (!in) continue;
    File f;
    f.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    std::string key = "/" + rel;
    f.content_type = content_type_for(key);
    f.html = ends_with(key, ".html");
    f.etag = etag_of(f.body);
    f.cache_control = starts_with(key, "/assets/") ? "public, max-age=31536000, immutable" : "no-cache";
    out->files_.emplace(std::move(key), std::move(f));
  }
  if (ec) return fail(Errc::invalid_argument, "web_root: cannot read " + root + ": " + ec.message());
  return std::shared_ptr<const StaticFiles>(std::move(out));
}

net::Response StaticFiles::file_response(const File& f, const net::Request& req) const {
  net::Response r;
  r.content_type = f.content_type;
  r.headers.push_back({"Cache-Control", f.cache_control});
  r.headers.push_back({"ETag", f.etag});
  r.headers.push_back({"X-Content-Type-Options", "nosniff"});
  if (f.html) {
    r.headers.push_back({"Content-Security-Policy", csp_});
    r.headers.push_back({"Referrer-Policy", "no-referrer"});
    r.headers.push_back({"X-Frame-Options", "DENY"});
  }
  std::string_view inm = req.header("If-None-Match");
  if (!inm.empty() && (inm == f.etag || inm.find(f.etag) != std::string_view::npos)) {
    r.status = 304;
    r.content_type.clear();
    return r;
  }
  r.body = f.body;
  return r;
}

net::Response StaticFiles::serve(const net::Request& req) const {
  std::string_view path = req.path();
  if (path == "/api" || starts_with(path, "/api/"))
    return net::error_response(404, "not_found", "no such route");
  if (auto it = files_.find(std::string(path)); it != files_.end() && path != "/")
    return file_response(it->second, req);
  if (auto decoded = net::url_decode(path, false); decoded && *decoded != path) {
    if (auto it = files_.find(*decoded); it != files_.end()) return file_response(it->second, req);
  }
  if (starts_with(path, "/assets/")) {
    net::Response r;
    r.status = 404;
    r.content_type = "text/plain; charset=utf-8";
    r.headers.push_back({"Cache-Control", "no-store"});
    r.headers.push_back({"X-Content-Type-Options", "nosniff"});
    r.body = "not found\n";
    return r;
  }
  return file_response(files_.at("/index.html"), req);
}

Result<std::size_t> add_static_routes(net::Router& router, const std::string& web_root,
                                      const std::vector<std::string>& connect_src) {
  if (web_root.empty()) return std::size_t{0};
  auto files = StaticFiles::load(web_root, connect_src);
  if (!files) return fail(files.error());
  std::size_t n = (*files)->file_count();
  router.set_get_fallback(
      "web", [files = *files](net::Request& req) { return files->serve(req); }, true);
  return n;
}

}  // namespace parley::api
