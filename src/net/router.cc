#include "net/router.h"

#include <algorithm>

namespace parley::net {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 1;  // paths begin with '/'
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

bool is_param(const std::string& seg) {
  return seg.size() > 2 && seg.front() == '{' && seg.back() == '}';
}

Route make_route(Method method, std::string pattern) {
  Route r;
  r.method = method;
  for (auto s : split_path(pattern)) r.segments.emplace_back(s);
  r.pattern = std::move(pattern);
  return r;
}

}  // namespace

void Router::add(Method method, std::string pattern, Handler handler, bool on_io_thread) {
  Route r = make_route(method, std::move(pattern));
  r.handler = std::move(handler);
  r.on_io_thread = on_io_thread;
  routes_.push_back(std::move(r));
}

void Router::add_async(Method method, std::string pattern, AsyncHandler handler) {
  Route r = make_route(method, std::move(pattern));
  r.async_handler = std::move(handler);
  routes_.push_back(std::move(r));
}

void Router::add_streaming(Method method, std::string pattern, StreamHandler handler,
                           std::uint64_t max_body_bytes) {
  Route r = make_route(method, std::move(pattern));
  r.stream_handler = std::move(handler);
  r.max_body_bytes = max_body_bytes;
  routes_.push_back(std::move(r));
}

std::uint64_t Router::max_streaming_body_bytes() const {
  std::uint64_t most = 0;
  for (const auto& r : routes_)
    if (r.stream_handler) most = std::max(most, r.max_body_bytes);
  return most;
}

void Router::set_get_fallback(std::string pattern, Handler handler, bool on_io_thread) {
  fallback_ = Route{};
  fallback_.method = Method::get;
  fallback_.pattern = std::move(pattern);
  fallback_.handler = std::move(handler);
  fallback_.on_io_thread = on_io_thread;
}

Router::Match Router::match(Request& req) const {
  Match m;
  std::string_view path = req.path();
  if (path.empty() || path.front() != '/') return m;
  auto segs = split_path(path);
  // HEAD is GET without the body (RFC 9110 9.3.2): the server drops the body when it writes.
  const Method as = req.method == Method::head ? Method::get : req.method;
  for (const auto& route : routes_) {
    if (route.segments.size() != segs.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < segs.size() && same; ++i)
      same = is_param(route.segments[i]) || route.segments[i] == segs[i];
    if (!same) continue;
    if (route.method != as) {
      m.path_known = true;
      if (!m.allow.empty()) m.allow += ", ";
      m.allow += method_name(route.method);
      if (route.method == Method::get) m.allow += ", HEAD";
      continue;
    }
    req.params.clear();
    for (std::size_t i = 0; i < segs.size(); ++i) {
      if (!is_param(route.segments[i])) continue;
      auto decoded = url_decode(segs[i], false);
      if (!decoded || decoded->empty()) {
        m.bad_encoding = true;
        return m;
      }
      const auto& s = route.segments[i];
      req.params.emplace_back(s.substr(1, s.size() - 2), std::move(*decoded));
    }
    m.route = &route;
    return m;
  }
  if (!m.path_known && as == Method::get && fallback_.handler) {
    req.params.clear();
    m.route = &fallback_;
  }
  return m;
}

}  // namespace parley::net
