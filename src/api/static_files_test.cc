#include "static_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace parley::api {
namespace {
namespace fs = std::filesystem;

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root = fs::temp_directory_path() / ("parley-static-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root);
    fs::create_directories(root / "assets");
    fs::create_directories(root / "icons");
    write("index.html", "<!doctype html><title>Parley</title>");
    write("sw.js", "self.x=1");
    write("assets/index-abc123.js", "console.log(1)");
    write("assets/index-abc123.css", "body{}");
    write("icons/icon.svg", "<svg/>");
    write("manifest.webmanifest", "{}");
    // A secret beside the root, and a link to it inside: never served.
    outside = root.parent_path() / (root.filename().string() + "-secret.txt");
    std::ofstream(outside) << "secret";
    fs::create_symlink(outside, root / "link.txt");
  }
  void TearDown() override {
    fs::remove_all(root);
    fs::remove(outside);
  }
  void write(const std::string& rel, const std::string& body) { std::ofstream(root / rel) << body; }
  net::Response get(const StaticFiles& s, std::string target, std::string inm = {}) {
    net::Request req;
    req.method = net::Method::get;
    req.target = std::move(target);
    if (!inm.empty()) req.headers.push_back({"If-None-Match", inm});
    return s.serve(req);
  }
  static std::string header(const net::Response& r, std::string_view name) {
    return std::string(net::find_header(r.headers, name));
  }
  fs::path root, outside;
};

TEST_F(StaticFilesTest, ServesFilesWithTypesAndCaching) {
  auto s = StaticFiles::load(root.string());
  ASSERT_TRUE(s) << s.error().message;
  auto js = get(**s, "/assets/index-abc123.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.body, "console.log(1)");
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(header(js, "Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(header(js, "Content-Security-Policy"), "");
  EXPECT_EQ(get(**s, "/assets/index-abc123.css").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(get(**s, "/icons/icon.svg").content_type, "image/svg+xml");
  EXPECT_EQ(get(**s, "/manifest.webmanifest").content_type, "application/manifest+json");
  auto sw = get(**s, "/sw.js");
  EXPECT_EQ(header(sw, "Cache-Control"), "no-cache");
}

TEST_F(StaticFilesTest, IndexForRootAndClientRoutesWithCsp) {
  auto s = StaticFiles::load(root.string());
  ASSERT_TRUE(s);
  for (const char* path : {"/", "/c/01JDA5XYZ", "/settings", "/index.html", "/c/x?y=1"}) {
    auto r = get(**s, path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8") << path;
    EXPECT_EQ(r.body, "<!doctype html><title>Parley</title>") << path;
    EXPECT_EQ(header(r, "Cache-Control"), "no-cache") << path;
    EXPECT_EQ(header(r, "Content-Security-Policy"), kWebCsp) << path;
    EXPECT_NE(header(r, "Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  }
}

TEST_F(StaticFilesTest, ApiAndMissingAssetsAre404) {
  auto s = StaticFiles::load(root.string());
  ASSERT_TRUE(s);
  auto api = get(**s, "/api/v1/nope");
  EXPECT_EQ(api.status, 404);
  EXPECT_EQ(api.content_type, "application/json");
  EXPECT_NE(api.body.find("\"not_found\""), std::string::npos);
  EXPECT_EQ(get(**s, "/api").status, 404);
  auto stale = get(**s, "/assets/index-old.js");
  EXPECT_EQ(stale.status, 404);
  EXPECT_EQ(stale.content_type.find("text/html"), std::string::npos);
}

TEST_F(StaticFilesTest, NeverOutsideTheRoot) {
  auto s = StaticFiles::load(root.string());
  ASSERT_TRUE(s);
  for (const char* path : {"/link.txt", "/../" , "/%2e%2e/secret.txt", "/assets/../../etc/passwd"}) {
    auto r = get(**s, path);
    EXPECT_EQ(r.body.find("secret"), std::string::npos) << path;
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << path;
  }
  EXPECT_EQ(get(**s, "/link.txt").content_type, "text/html; charset=utf-8");  // the app, not the link
}

TEST_F(StaticFilesTest, ETagRevalidation) {
  auto s = StaticFiles::load(root.string());
  ASSERT_TRUE(s);
  auto first = get(**s, "/");
  std::string etag = header(first, "ETag");
  ASSERT_FALSE(etag.empty());
  auto again = get(**s, "/", etag);
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(get(**s, "/", "\"other\"").status, 200);
}

TEST_F(StaticFilesTest, RootWithoutIndexFails) {
  fs::remove(root / "index.html");
  auto s = StaticFiles::load(root.string());
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("index.html"), std::string::npos);
  EXPECT_FALSE(StaticFiles::load((root / "nope").string()));
}

TEST_F(StaticFilesTest, RouterFallbackOnlyForUnmatchedGets) {
  net::Router router;
  router.add(net::Method::get, "/api/v1/health", [](net::Request&) { return net::Response{}; });
  router.add(net::Method::post, "/api/v1/things", [](net::Request&) { return net::Response{}; });
  auto n = add_static_routes(router, root.string());
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 6u);
  net::Request req;
  req.method = net::Method::get;
  req.target = "/c/abc";
  auto m = router.match(req);
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "web");
  req.method = net::Method::head;  // HEAD too: the server writes the GET answer's header only
  ASSERT_NE(router.match(req).route, nullptr);
  EXPECT_EQ(router.match(req).route->pattern, "web");
  req.method = net::Method::get;
  req.target = "/api/v1/health";
  EXPECT_EQ(router.match(req).route->pattern, "/api/v1/health");
  req.target = "/api/v1/things";  // known path, other method: still a 405, not the app
  m = router.match(req);
  EXPECT_EQ(m.route, nullptr);
  EXPECT_TRUE(m.path_known);
  req.method = net::Method::post;
  req.target = "/c/abc";
  EXPECT_EQ(router.match(req).route, nullptr);
  EXPECT_TRUE(add_static_routes(router, ""));
  EXPECT_EQ(*add_static_routes(router, ""), 0u);
}

}  // namespace
}  // namespace parley::api
