// Request targets and addresses from the network: routing with path parameters, query
// decoding, and CIDR/IP parsing must never crash, and decoded parameters are never empty.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "net/address.h"
#include "net/http.h"
#include "net/router.h"

namespace {

const parley::net::Router& router() {
  static const parley::net::Router r = [] {
    parley::net::Router r;
    auto ok = [](parley::net::Request&) { return parley::net::Response{}; };
    r.add(parley::net::Method::get, "/api/v1/users/me", ok);
    r.add(parley::net::Method::get, "/api/v1/users/{id}", ok);
    r.add(parley::net::Method::put, "/api/v1/messages/{id}/reactions/{emoji}", ok);
    r.add(parley::net::Method::del, "/api/v1/auth/sessions/{id}", ok);
    return r;
  }();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  for (auto method : {parley::net::Method::get, parley::net::Method::put}) {
    parley::net::Request req;
    req.method = method;
    req.target = text;
    auto m = router().match(req);
    if (m.route)
      for (const auto& [name, value] : req.params)
        if (value.empty()) std::abort();
    for (const char* q : {"q", "limit", "cursor"}) (void)req.query(q);
  }
  (void)parley::net::url_decode(text, true);
  if (auto cidr = parley::net::Cidr::parse(text)) (void)cidr->contains(text);
  (void)parley::net::Cidr::parse("10.0.0.0/8")->contains(text);
  return 0;
}
