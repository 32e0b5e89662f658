#include <gtest/gtest.h>

#include "net/address.h"
#include "net/http.h"
#include "net/router.h"

namespace parley::net {
namespace {

Request make(Method m, std::string target) {
  Request r;
  r.method = m;
  r.target = std::move(target);
  return r;
}

TEST(Router, MatchesLiteralsBeforeParamsInOrderAndDecodesParams) {
  Router router;
  int hit = 0;
  router.add(Method::get, "/api/v1/users/me", [&](Request&) {
    hit = 1;
    return Response{};
  });
  router.add(Method::get, "/api/v1/users/{id}", [&](Request&) {
    hit = 2;
    return Response{};
  });
  router.add(Method::put, "/api/v1/messages/{id}/reactions/{emoji}", [&](Request&) {
    hit = 3;
    return Response{};
  });

  auto me = make(Method::get, "/api/v1/users/me?x=1");
  auto m = router.match(me);
  ASSERT_TRUE(m.route);
  m.route->handler(me);
  EXPECT_EQ(hit, 1);

  auto byid = make(Method::get, "/api/v1/users/ABC");
  m = router.match(byid);
  ASSERT_TRUE(m.route);
  EXPECT_EQ(byid.param("id"), "ABC");

  auto emoji = make(Method::put, "/api/v1/messages/M1/reactions/%F0%9F%91%8D");
  m = router.match(emoji);
  ASSERT_TRUE(m.route);
  EXPECT_EQ(emoji.param("emoji"), "\xF0\x9F\x91\x8D");
  EXPECT_EQ(emoji.param("id"), "M1");
}

TEST(Router, DistinguishesUnknownPathFromWrongMethodAndBadEncoding) {
  Router router;
  router.add(Method::get, "/a/{id}", [](Request&) { return Response{}; });
  auto wrong = make(Method::post, "/a/1");
  auto m = router.match(wrong);
  EXPECT_FALSE(m.route);
  EXPECT_TRUE(m.path_known);
  EXPECT_EQ(m.allow, "GET, HEAD");
  auto head = make(Method::head, "/a/1");
  m = router.match(head);
  ASSERT_TRUE(m.route) << "HEAD matches a GET route";
  EXPECT_EQ(m.route->method, Method::get);
  auto unknown = make(Method::get, "/b/1");
  m = router.match(unknown);
  EXPECT_FALSE(m.route);
  EXPECT_FALSE(m.path_known);
  auto bad = make(Method::get, "/a/%zz");
  EXPECT_TRUE(router.match(bad).bad_encoding);
  auto deeper = make(Method::get, "/a/1/2");
  EXPECT_FALSE(router.match(deeper).route);
}

TEST(Request, QueryAndHeaders) {
  auto r = make(Method::get, "/x?q=hello+w%C3%B6rld&limit=5&empty=&bad=%G1");
  r.headers.push_back({"Authorization", "Bearer t"});
  EXPECT_EQ(**r.query("q"), "hello w\xC3\xB6rld");
  EXPECT_EQ(**r.query("limit"), "5");
  EXPECT_EQ(**r.query("empty"), "");
  EXPECT_EQ(r.query("bad").error().field, "bad");
  EXPECT_FALSE(r.query("missing")->has_value());
  EXPECT_EQ(r.header("authorization"), "Bearer t");
  EXPECT_EQ(r.header("x-missing"), "");
}

TEST(Http, ErrorEnvelope) {
  auto r = error_response(422, "validation_failed", "bad \"name\"", "name");
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body,
            R"({"error":{"code":"validation_failed","message":"bad \"name\"","field":"name"}})");
}

TEST(Http, ErrorEnvelopeGetsTheRequestId) {
  auto r = error_response(404, "not_found", "no such route");
  add_request_id(r, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(
      r.body,
      R"({"error":{"code":"not_found","message":"no such route","request_id":"4bf92f3577b34da6a3ce929d0e0e4736"}})");
  Response ok;
  ok.body = R"({"error":"not an envelope"})";
  add_request_id(ok, "x");
  EXPECT_EQ(ok.body, R"({"error":"not an envelope"})");
  Response success;
  success.body = R"({"error":{"code":"x"}})";  // a 200 is never touched
  add_request_id(success, "x");
  EXPECT_EQ(success.body, R"({"error":{"code":"x"}})");
}

TEST(Http, TraceParent) {
  auto tp = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(tp);
  EXPECT_EQ(tp->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(tp->parent_id, "00f067aa0ba902b7");
  EXPECT_EQ(tp->flags, "01");
  // A later version may append fields; version 00 may not.
  EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz"));
  for (std::string_view bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz",
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
       })
    EXPECT_FALSE(parse_traceparent(bad)) << bad;
}

TEST(Http, UrlDecode) {
  EXPECT_EQ(*url_decode("a%20b+c", false), "a b+c");
  EXPECT_EQ(*url_decode("a%20b+c", true), "a b c");
  EXPECT_FALSE(url_decode("%", false));
  EXPECT_FALSE(url_decode("%4", false));
}

TEST(Cidr, ContainsV4V6AndMapped) {
  auto net = Cidr::parse("10.1.0.0/16");
  ASSERT_TRUE(net);
  EXPECT_TRUE(net->contains("10.1.200.3"));
  EXPECT_FALSE(net->contains("10.2.0.1"));
  EXPECT_TRUE(net->contains("::ffff:10.1.0.9"));
  auto host = Cidr::parse("127.0.0.1");
  EXPECT_TRUE(host->contains("127.0.0.1"));
  EXPECT_FALSE(host->contains("127.0.0.2"));
  auto v6 = Cidr::parse("fd00::/8");
  EXPECT_TRUE(v6->contains("fd12::1"));
  EXPECT_FALSE(v6->contains("10.1.0.1"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/33"));
  EXPECT_FALSE(Cidr::parse("nonsense"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/"));
  EXPECT_FALSE(net->contains("garbage"));
}

}  // namespace
}  // namespace parley::net
