#include "net/router.h"

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

}  // namespace

void Router::add(Method method, std::string pattern, Handler handler, bool on_io_thread) {
  Route r{method, pattern, {}, std::move(handler), on_io_thread};
  for (auto s : split_path(pattern)) r.segments.emplace_back(s);
  routes_.push_back(std::move(r));
}

void Router::add_async(Method method, std::string pattern, AsyncHandler handler) {
  Route r{method, pattern, {}, {}, false, std::move(handler)};
  for (auto s : split_path(pattern)) r.segments.emplace_back(s);
  routes_.push_back(std::move(r));
}

void Router::set_get_fallback(std::string pattern, Handler handler, bool on_io_thread) {
  fallback_ = Route{Method::get, std::move(pattern), {}, std::move(handler), on_io_thread};
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
