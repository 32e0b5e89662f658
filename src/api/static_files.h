// The web app (web/dist) served from memory: every file under the web root is read once at
// start with its content type, so a request never touches the file system (and so can never
// reach outside the root). GET paths no API route matched land here:
//   - a file of the root                    -> the file
//   - /api/... (or /api)                    -> 404 JSON envelope, like any unknown API route
//   - /assets/... that is not a file        -> 404 (a stale hashed name: never HTML for a script)
//   - anything else (/, /c/{id}, ...)       -> index.html, for client-side routing
// Caching: /assets/* (hashed names) `public, max-age=31536000, immutable`; everything else
// `no-cache` with an ETag (If-None-Match answers 304). HTML responses carry a strict
// Content-Security-Policy.
#pragma once

#include <memory>
#include <string>
#include <vector>
#include <unordered_map>

#include "core/result.h"
#include "net/http.h"
#include "net/router.h"

namespace parley::api {

inline constexpr const char* kWebCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; worker-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'";

class StaticFiles {
 public:
  struct File {
    std::string content_type;
    std::string body;
    std::string etag;
    std::string cache_control;
    bool html = false;
  };

  // Reads the regular files under root (symbolic links are not followed; at most 4096 files and
  // 256 MiB). Fails with invalid_argument when root has no index.html or is too large.
  // connect_src: origins the page may connect to besides its own (the SFU's API when browsers
  // reach it on another origin), added to the CSP's connect-src.
  static Result<std::shared_ptr<const StaticFiles>> load(
      const std::string& root, const std::vector<std::string>& connect_src = {});

  net::Response serve(const net::Request& req) const;
  std::size_t file_count() const { return files_.size(); }

 private:
  net::Response file_response(const File& f, const net::Request& req) const;
  std::unordered_map<std::string, File> files_;  // "/index.html", "/assets/index-abc.js", ...
  std::string csp_ = kWebCsp;
};

std::string content_type_for(std::string_view path);

// Registers the web app as the router's GET fallback when web_root is not empty. Returns
// the number of files served (0 when disabled); fails when web_root is set but unusable.
Result<std::size_t> add_static_routes(net::Router& router, const std::string& web_root,
                                      const std::vector<std::string>& connect_src = {});

}  // namespace parley::api
