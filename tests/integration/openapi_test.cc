// The OpenAPI document served at /api/v1/openapi.json describes exactly the routes the server
// has: every "METHOD /pattern" of `parley routes` is an operation of the document, and every
// operation of the document is a route. (Its validity as OpenAPI 3.1 is checked by
// tools/openapi-check in `make test`.)
#include <set>

#include "chat_support.h"

namespace parley::itest {
namespace {

using namespace chat;

class OpenApiTest : public SharedServerTest {};

std::set<std::string> document_operations(const object& doc) {
  std::set<std::string> ops;
  static const char* kMethods[] = {"get", "put", "post", "delete", "patch", "options", "head"};
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const char* m : kMethods) {
      if (!item.as_object().contains(m)) continue;
      std::string upper = m;
      for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      ops.insert(upper + " " + std::string(path));
    }
  }
  return ops;
}

TEST_F(OpenApiTest, TheDocumentListsExactlyTheRoutesTheServerHas) {
  auto api = this->api();
  auto r = api.get("/api/v1/openapi.json");
  ASSERT_EQ(r.status, 200) << r;
  ASSERT_TRUE(r.json.is_object()) << "not JSON";
  const auto& doc = r.obj();
  EXPECT_TRUE(str(doc, "openapi").starts_with("3.1")) << str(doc, "openapi");
  const auto documented = document_operations(doc);
  const auto served = parley_route_table();
  ASSERT_GT(served.size(), 20u);
  std::string missing, extra;
  for (const auto& op : served)
    if (!documented.count(op)) missing += "\n  " + op;
  for (const auto& op : documented)
    if (!served.count(op)) extra += "\n  " + op;
  EXPECT_TRUE(missing.empty()) << "routes the server has and src/api/openapi.json does not "
                                  "describe (add them there):"
                               << missing;
  EXPECT_TRUE(extra.empty()) << "operations src/api/openapi.json describes that the server does "
                                "not have (remove them, or register the route):"
                             << extra;
}

TEST_F(OpenApiTest, EveryOperationHasAnIdAndEveryPathParameterIsDeclared) {
  auto api = this->api();
  auto r = api.get("/api/v1/openapi.json");
  ASSERT_EQ(r.status, 200);
  std::set<std::string> ids;
  for (const auto& [path, item] : r.obj().at("paths").as_object()) {
    std::set<std::string> templated;
    std::string p(path);
    for (auto at = p.find('{'); at != std::string::npos; at = p.find('{', at + 1))
      templated.insert(p.substr(at + 1, p.find('}', at) - at - 1));
    for (const auto& [method, op] : item.as_object()) {
      if (method == "parameters" || method == "summary") continue;
      const auto& o = op.as_object();
      auto id = str(o, "operationId");
      EXPECT_FALSE(id.empty()) << method << " " << path << " has no operationId";
      EXPECT_TRUE(ids.insert(id).second) << "operationId " << id << " is used twice";
      std::set<std::string> declared;
      auto collect = [&](const value* params) {
        if (!params) return;
        for (const auto& prm : params->as_array())
          if (str(prm, "in") == "path") declared.insert(str(prm, "name"));
      };
      collect(item.as_object().if_contains("parameters"));
      collect(o.if_contains("parameters"));
      EXPECT_EQ(declared, templated) << method << " " << path;
    }
  }
}

}  // namespace
}  // namespace parley::itest
