// HTTP values shared by the server, the router and the api layer. Beast-free on purpose: api/
// and modules compile without Asio/Beast headers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace parley::net {

enum class Method { get, head, post, put, patch, del, options, other };

struct Header {
  std::string name;
  std::string value;
};

struct Request {
  Method method = Method::other;
  std::string target;  // as received: path plus query
  std::string body;
  std::vector<Header> headers;
  std::string peer_ip;  // the TCP peer; api/ decides whether to trust X-Forwarded-For
  // W3C Trace Context, set by the server before routing: the trace this request belongs to (an
  // incoming valid traceparent's, or a new one), 32 lowercase hex digits. It is the request's id
  // everywhere: X-Request-Id, "request_id" in error envelopes, trace.id in the logs.
  std::string trace_id;
  std::string span_id;             // the server's span, 16 hex digits
  std::string trace_flags = "00";  // 2 hex digits, continued from the caller
  std::vector<std::pair<std::string, std::string>> params;  // decoded path parameters

  std::string_view path() const;
  std::string_view header(std::string_view name) const;  // case-insensitive; "" when absent
  std::string_view param(std::string_view name) const;   // "" when absent
  // Decoded query parameter: nullopt when absent; Errc::malformed (naming it) when its
  // percent-encoding is broken.
  Result<std::optional<std::string>> query(std::string_view name) const;
};

// A response body produced piece by piece (a file download), so it is never held whole in
// memory. The server calls next() on a worker thread, one call at a time, until it has written
// Response::stream_length bytes; it may stop early (the client went away, a HEAD request).
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Up to max of the next bytes. An error, or fewer bytes in all than promised, ends the
  // connection mid-body: the status line has gone out already.
  virtual Result<std::string> next(std::size_t max) = 0;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<Header> headers;
  std::string body;
  // When set, the body comes from stream (stream_length bytes, sent as Content-Length) and
  // body is ignored.
  std::shared_ptr<BodySource> stream;
  std::uint64_t stream_length = 0;
};

// The receiving end of a request body that is streamed rather than buffered (uploads). Calls
// come from worker threads, one at a time, in body order.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // The next piece of the body. An error stops the reading; finish() then gets it.
  virtual Result<void> write(std::string_view bytes) = 0;
  // Called once at the end: with ok when the whole body arrived, with write()'s error, or with
  // Errc::unavailable when the client broke off (timeout, reset, a short body). What was
  // written before stays written (a tus upload resumes from it). Returns the answer, which is
  // sent when the client is still there.
  virtual Response finish(Result<void> body) = 0;
};

// Case-insensitive lookup of a header's first value; "" when absent.
std::string_view find_header(const std::vector<Header>& headers, std::string_view name);

// The error envelope of API.md: {"error": {"code", "message"[, "field"]}}.
Response error_response(int status, std::string_view code, std::string_view message,
                        std::string_view field = {});

// Parses a W3C traceparent header (version 00): trace id, parent id and flags; nullopt when
// malformed (wrong lengths, upper-case or non-hex digits, all-zero ids, version ff).
struct TraceParent {
  std::string trace_id, parent_id, flags;
};
std::optional<TraceParent> parse_traceparent(std::string_view value);

// Adds "request_id" to an error envelope's "error" object; other bodies are left as they are.
void add_request_id(Response& r, std::string_view request_id);

// Percent-decoding of a URL component ('+' is a space when form_encoding); nullopt when broken.
std::optional<std::string> url_decode(std::string_view s, bool form_encoding);

const char* method_name(Method m);

}  // namespace parley::net
