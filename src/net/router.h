// Router: maps (method, path) to a handler, with {name} path parameters ("/api/v1/users/{id}").
// Routes are added at start, before the server runs; match() is then read-only and thread-safe.
//
// A handler runs on the worker pool unless the route is marked on_io_thread (for handlers that
// never block: health, metrics). Handlers return a Response (or, added with add_async, pass it
// to their reply later); they do not throw for client errors.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/http.h"

namespace parley::net {

using Handler = std::function<Response(Request&)>;
// A handler that answers later: it starts on the worker pool and calls reply exactly once,
// from any thread (after a commit completes, say), so no thread waits in between.
using Reply = std::function<void(Response)>;
using AsyncHandler = std::function<void(Request&, Reply)>;
// A route whose body is streamed (uploads): started on the worker pool once the header is in,
// with req.body empty, it either answers at once (the sink left null: a refusal, or a request
// without a body) or returns the sink that takes the body, piece by piece.
struct StreamStart {
  Response response;
  std::unique_ptr<BodySink> sink;
};
using StreamHandler = std::function<StreamStart(Request&)>;

struct Route {
  Method method = Method::get;
  std::string pattern;  // also the metrics label: bounded cardinality, never raw paths
  std::vector<std::string> segments;
  Handler handler;
  bool on_io_thread = false;
  AsyncHandler async_handler;  // set instead of handler by add_async
  StreamHandler stream_handler;  // set instead of handler by add_streaming
  std::uint64_t max_body_bytes = 0;  // add_streaming's limit; 0: ServerOptions::max_body_bytes
};

class Router {
 public:
  void add(Method method, std::string pattern, Handler handler, bool on_io_thread = false);
  void add_async(Method method, std::string pattern, AsyncHandler handler);
  // Bodies up to max_body_bytes (413 past it, from Content-Length before reading), streamed.
  void add_streaming(Method method, std::string pattern, StreamHandler handler,
                     std::uint64_t max_body_bytes);
  // The largest body any route takes: the server parses headers with this limit.
  std::uint64_t max_streaming_body_bytes() const;
  // A handler for GET requests that match no route (no path of any method): the web app's
  // static files and client-side routes. Its pattern names it in metrics. HEAD requests match
  // GET routes and this fallback alike.
  void set_get_fallback(std::string pattern, Handler handler, bool on_io_thread = false);

  struct Match {
    const Route* route = nullptr;
    bool path_known = false;  // some route has this path under another method (405)
    std::string allow;        // those methods, for the Allow header
    bool bad_encoding = false;
  };
  // On a match, fills req.params with the decoded path parameters.
  Match match(Request& req) const;
  // Every route added, in order (not the GET fallback): for `parley routes` and the tests that
  // must cover the whole table.
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
  Route fallback_;
};

}  // namespace parley::net
