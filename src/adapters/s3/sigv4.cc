#include "sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <ctime>

#include "core/text.h"

namespace parley::s3::sigv4 {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string hex(const unsigned char* p, std::size_t n) {
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 0xf];
  }
  return out;
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// A header value in canonical form: no leading or trailing blanks, runs of blanks as one space.
std::string trim_all(std::string_view v) {
  std::string out;
  bool blank = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      blank = !out.empty();
      continue;
    }
    if (blank) out += ' ';
    blank = false;
    out += c;
  }
  return out;
}

// Headers lowercased and sorted by name: canonical and signed headers list them in this order.
std::vector<std::pair<std::string, std::string>> sorted_headers(const Request& r) {
  std::vector<std::pair<std::string, std::string>> hs;
  hs.reserve(r.headers.size());
  for (const auto& [name, value] : r.headers) hs.emplace_back(lower(name), trim_all(value));
  std::sort(hs.begin(), hs.end());
  return hs;
}

std::string signed_headers(const std::vector<std::pair<std::string, std::string>>& hs) {
  std::string out;
  for (const auto& h : hs) {
    if (!out.empty()) out += ';';
    out += h.first;
  }
  return out;
}

std::string scope(std::string_view region, std::string_view amz_date) {
  std::string s(amz_date.substr(0, 8));
  s += '/';
  s += region;
  s += "/s3/aws4_request";
  return s;
}

}  // namespace

std::string uri_encode(std::string_view s, bool keep_slash) {
  return text::percent_encoded(s, keep_slash ? "/" : "");
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return hex(digest, sizeof digest);
}

std::string amz_date(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[17];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> q;
  q.reserve(query.size());
  for (const auto& [name, value] : query)
    q.emplace_back(uri_encode(name, false), uri_encode(value, false));
  std::sort(q.begin(), q.end());
  std::string out;
  for (const auto& [name, value] : q) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

std::string canonical_request(const Request& r) {
  auto hs = sorted_headers(r);
  std::string out = r.method + '\n' + r.path + '\n' + canonical_query(r.query) + '\n';
  for (const auto& [name, value] : hs) out += name + ':' + value + '\n';
  out += '\n';
  out += signed_headers(hs);
  out += '\n';
  out += r.payload_sha256;
  return out;
}

std::string string_to_sign(const Request& request, std::string_view region,
                           std::string_view amz_date) {
  std::string out = "AWS4-HMAC-SHA256\n";
  out += amz_date;
  out += '\n';
  out += scope(region, amz_date);
  out += '\n';
  out += sha256_hex(canonical_request(request));
  return out;
}

std::string authorization(const Request& request, const Credentials& credentials,
                          std::string_view amz_date) {
  std::string key = hmac("AWS4" + credentials.secret_key, amz_date.substr(0, 8));
  key = hmac(key, credentials.region);
  key = hmac(key, "s3");
  key = hmac(key, "aws4_request");
  std::string mac = hmac(key, string_to_sign(request, credentials.region, amz_date));
  return "AWS4-HMAC-SHA256 Credential=" + credentials.access_key + '/' +
         scope(credentials.region, amz_date) +
         ",SignedHeaders=" + signed_headers(sorted_headers(request)) +
         ",Signature=" + hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
}

}  // namespace parley::s3::sigv4
