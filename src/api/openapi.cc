// GET /api/v1/openapi.json: the OpenAPI 3.1 description of the HTTP API. The document is kept by
// hand in src/api/openapi.json and compiled in (cmake/EmbedText.cmake); an integration test holds
// its paths and methods to the router's table, and `make test` runs an OpenAPI validator on it.
#include <string_view>

#include "context.h"

namespace parley::api {

extern const std::string_view kOpenApiDocument;

void add_openapi_route(net::Router& r) {
  r.add(
      net::Method::get, "/api/v1/openapi.json",
      [](net::Request&) {
        net::Response resp;
        resp.body = std::string(kOpenApiDocument);
        // Public and the same for everyone until the server is upgraded.
        resp.headers.push_back({"Cache-Control", "public, max-age=300"});
        return resp;
      },
      true);
}

}  // namespace parley::api
