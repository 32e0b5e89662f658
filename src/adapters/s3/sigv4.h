// AWS Signature Version 4 for S3 requests sent with an Authorization header (private to the S3
// adapter). Pure functions over strings: no I/O, no clock, safe from any thread. Tested against
// the examples of AWS's "Signature Calculations for the Authorization Header" page.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parley::s3::sigv4 {

// The payload hash of a request without a body.
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Credentials {
  std::string access_key;
  std::string secret_key;
  std::string region;
};

struct Request {
  std::string method;
  // The request path as sent (each segment already URI-encoded, see uri_encode).
  std::string path;
  // Query parameters, not encoded; an empty value is a bare name ("?uploads").
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign, any case. Must hold host, x-amz-date and x-amz-content-sha256.
  std::vector<std::pair<std::string, std::string>> headers;
  // Hex SHA-256 of the body (or "UNSIGNED-PAYLOAD"); the x-amz-content-sha256 header's value.
  std::string payload_sha256;
};

// RFC 3986 percent-encoding as AWS wants it: everything but A-Z a-z 0-9 - . _ ~ is encoded, and
// '/' too unless keep_slash.
std::string uri_encode(std::string_view s, bool keep_slash);

std::string sha256_hex(std::string_view data);

// "20130524T000000Z", the x-amz-date value for t.
std::string amz_date(std::chrono::system_clock::time_point t);

std::string canonical_request(const Request& request);

// The string the signature is the HMAC of; amz_date is "YYYYMMDDTHHMMSSZ".
std::string string_to_sign(const Request& request, std::string_view region,
                           std::string_view amz_date);

// The Authorization header's value for request at amz_date.
std::string authorization(const Request& request, const Credentials& credentials,
                          std::string_view amz_date);

// The query string of the request line, encoded and in the canonical (sorted) order.
std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query);

}  // namespace parley::s3::sigv4
