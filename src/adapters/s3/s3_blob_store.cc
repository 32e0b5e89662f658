#include "adapters/s3/s3_blob_store.h"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "sigv4.h"

namespace parley::s3 {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

// The text of the first <tag>...</tag> in an S3 XML answer; S3's documents are small and flat
// enough that this needs no XML parser.
std::optional<std::string> xml_value(std::string_view xml, std::string_view tag,
                                     std::size_t from = 0, std::size_t* end = nullptr) {
  std::string open = "<" + std::string(tag) + ">";
  std::string close = "</" + std::string(tag) + ">";
  auto a = xml.find(open, from);
  if (a == std::string_view::npos) return std::nullopt;
  a += open.size();
  auto b = xml.find(close, a);
  if (b == std::string_view::npos) return std::nullopt;
  if (end) *end = b + close.size();
  return std::string(xml.substr(a, b - a));
}

bool parse_uint(std::string_view s, std::uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec == std::errc() && p == s.data() + i + 3) {
        out += static_cast<char>(v);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// S3's rules for bucket names that work with path-style addressing.
bool valid_bucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(b.front()) || !alnum(b.back())) return false;
  return std::all_of(b.begin(), b.end(), [&](char c) { return alnum(c) || c == '-' || c == '.'; });
}

Error as_error(Errc code, std::string message) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  return e;
}

Result<void> check_key(const std::string& key) {
  if (!files::is_valid_key(key))
    return fail(Errc::invalid_argument, "not a valid blob key: '" + key + "'", "key");
  return ok();
}

void global_init() {
  // curl_global_init is not thread-safe on every platform; the first store makes it, once.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

Result<S3Config> parse_s3_url(std::string_view url, std::string access_key,
                              std::string secret_key) {
  constexpr std::string_view kScheme = "s3://";
  auto bad = [&](const std::string& why) {
    return fail(Errc::invalid_argument, "S3 URL '" + std::string(url) + "': " + why, "url");
  };
  if (url.substr(0, kScheme.size()) != kScheme)
    return bad("must start with s3:// (s3://BUCKET?endpoint=http://HOST:PORT&region=REGION)");
  std::string_view rest = url.substr(kScheme.size());
  auto q = rest.find('?');
  S3Config c;
  c.bucket = std::string(rest.substr(0, q));
  if (!valid_bucket(c.bucket))
    return bad("'" + c.bucket + "' is not a bucket name (3 to 63 of a-z 0-9 . -)");
  std::string_view query = q == std::string_view::npos ? "" : rest.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
    auto eq = pair.find('=');
    std::string name(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
    if (name == "endpoint") {
      c.endpoint = value;
    } else if (name == "region") {
      c.region = value;
    } else if (name == "connect_timeout_ms" || name == "timeout_ms") {
      std::uint64_t ms = 0;
      if (!parse_uint(value, ms) || ms == 0 || ms > 3'600'000)
        return bad(name + " must be a number of milliseconds from 1 to 3600000");
      (name == "timeout_ms" ? c.request_timeout : c.connect_timeout) =
          std::chrono::milliseconds(ms);
    } else {
      return bad("unknown parameter '" + name +
                 "' (known: endpoint, region, connect_timeout_ms, timeout_ms)");
    }
  }
  while (!c.endpoint.empty() && c.endpoint.back() == '/') c.endpoint.pop_back();
  auto sep = c.endpoint.find("://");
  std::string scheme = c.endpoint.substr(0, sep);
  if (sep == std::string::npos || (scheme != "http" && scheme != "https") ||
      c.endpoint.size() == sep + 3 ||
      c.endpoint.find_first_of("/?#@", sep + 3) != std::string::npos)
    return bad("endpoint must be http(s)://HOST[:PORT] with no path, e.g. http://127.0.0.1:9000");
  if (c.region.empty() || c.region.find_first_of("/ ") != std::string::npos)
    return bad("region must be a name such as us-east-1");
  if (access_key.empty() || secret_key.empty())
    return fail(Errc::invalid_argument,
                "S3 access key and secret key must both be set (PARLEY_S3_ACCESS_KEY, "
                "PARLEY_S3_SECRET_KEY)",
                "access_key");
  c.access_key = std::move(access_key);
  c.secret_key = std::move(secret_key);
  return c;
}

Result<std::unique_ptr<S3BlobStore>> make_s3_blob_store(std::string_view url,
                                                        std::string access_key,
                                                        std::string secret_key) {
  auto config = parse_s3_url(url, std::move(access_key), std::move(secret_key));
  if (!config) return fail(config.error());
  return std::make_unique<S3BlobStore>(std::move(*config));
}

// One S3 request and what came back of it.
struct Call {
  const char* method = "GET";
  std::string key;  // the object; empty for the bucket itself
  Params query;
  std::string_view body;
  Params headers;  // beyond host, x-amz-date and x-amz-content-sha256; all are signed
};

struct Reply {
  long status = 0;
  std::string body;
  std::optional<std::uint64_t> content_length;  // when the answer said it (HEAD: the object's)
};

class S3BlobStore::Client {
 public:
  explicit Client(S3Config config)
      : config_(std::move(config)),
        host_(config_.endpoint.substr(config_.endpoint.find("://") + 3)),
        credentials_{config_.access_key, config_.secret_key, config_.region} {
    global_init();
  }

  ~Client() {
    for (CURL* h : idle_) curl_easy_cleanup(h);
  }

  // Sends call; a Reply for any HTTP answer, unavailable when none came (or too late).
  Result<Reply> send(const Call& call) {
    std::string path = "/" + config_.bucket;
    if (!call.key.empty()) path += "/" + sigv4::uri_encode(call.key, true);
    std::string payload_hash = sigv4::sha256_hex(call.body);
    sigv4::Request req{call.method, path, call.query, call.headers, payload_hash};
    std::string date = sigv4::amz_date(std::chrono::system_clock::now());
    req.headers.emplace_back("host", host_);
    req.headers.emplace_back("x-amz-date", date);
    req.headers.emplace_back("x-amz-content-sha256", payload_hash);
    std::string authorization = sigv4::authorization(req, credentials_, date);

    std::string url = config_.endpoint + path;
    if (!call.query.empty()) url += "?" + sigv4::canonical_query(call.query);

    curl_slist* list = nullptr;
    for (const auto& [name, value] : req.headers)
      list = curl_slist_append(list, (name + ": " + value).c_str());
    list = curl_slist_append(list, ("Authorization: " + authorization).c_str());
    // With a body, curl would add "Expect: 100-continue" (a round trip of waiting) and a form
    // Content-Type; empty values keep both out.
    list = curl_slist_append(list, "Expect:");
    if (std::none_of(call.headers.begin(), call.headers.end(),
                     [](const auto& h) { return h.first == "content-type"; }))
      list = curl_slist_append(list, "Content-Type:");

    CURL* h = take();
    if (!h) {
      curl_slist_free_all(list);
      return fail(Errc::unavailable, "S3: no curl handle (out of memory)");
    }
    Reply reply;
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // signals cannot be used from worker threads
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(config_.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.request_timeout.count()));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Client::on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply.body);
    std::string_view method = call.method;
    if (method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (method == "PUT" || method == "POST") {
      // POSTFIELDS sends the caller's bytes as they are, without a copy; the method is set below.
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.body.size()));
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, call.body.data() ? call.body.data() : "");
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, call.method);
    } else if (method != "GET") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, call.method);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(list);
    if (rc != CURLE_OK) {
      give(h, false);
      std::string why = error[0] ? error : curl_easy_strerror(rc);
      return fail(Errc::unavailable, "S3 at " + config_.endpoint + ": " + why);
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
    curl_off_t length = -1;
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK &&
        length >= 0)
      reply.content_length = static_cast<std::uint64_t>(length);
    give(h, true);
    return reply;
  }

  // An S3 error answer as a Result error: what the caller should do next.
  Error error(const Reply& r, const std::string& what) const {
    std::string code = xml_value(r.body, "Code").value_or("");
    std::string message = xml_value(r.body, "Message").value_or("");
    std::string detail = "S3 " + what + ": HTTP " + std::to_string(r.status) +
                         (code.empty() ? "" : " " + code) +
                         (message.empty() ? "" : " (" + message + ")");
    if (code == "NoSuchBucket")
      return as_error(Errc::failed_precondition,
                      "S3 bucket '" + config_.bucket + "' does not exist at " + config_.endpoint);
    if (code == "RequestTimeTooSkewed")
      return as_error(Errc::unavailable, detail + ": this node's clock is off by over 15 minutes");
    if (r.status == 401 || r.status == 403)
      return as_error(Errc::permission_denied, detail + " with access key '" + config_.access_key +
                                                   "' at " + config_.endpoint);
    if (r.status == 404) return as_error(Errc::not_found, detail);
    if (r.status >= 500 || r.status == 429) return as_error(Errc::unavailable, detail);
    if (code == "InvalidPart" || code == "InvalidPartOrder" || code == "EntityTooSmall")
      return as_error(Errc::invalid_argument, detail);
    return as_error(Errc::internal, detail);
  }

 private:
  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
  }

  CURL* take() {
    {
      std::lock_guard lock(mu_);
      if (!idle_.empty()) {
        CURL* h = idle_.back();
        idle_.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }

  // Back to the pool (reset, keeping its connection) unless the request failed in transport: a
  // handle whose connection broke is closed rather than tried again.
  void give(CURL* h, bool reusable) {
    if (!reusable) {
      curl_easy_cleanup(h);
      return;
    }
    curl_easy_reset(h);
    std::lock_guard lock(mu_);
    if (idle_.size() < kMaxIdle) {
      idle_.push_back(h);
      return;
    }
    curl_easy_cleanup(h);
  }

  // Enough for the worker pool's threads; beyond it, handles (and connections) are not kept.
  static constexpr std::size_t kMaxIdle = 16;

  S3Config config_;
  std::string host_;
  sigv4::Credentials credentials_;
  std::mutex mu_;
  std::vector<CURL*> idle_;
};

S3BlobStore::S3BlobStore(S3Config config) : client_(std::make_unique<Client>(std::move(config))) {}

S3BlobStore::~S3BlobStore() = default;

Result<std::string> S3BlobStore::begin_upload(const std::string& key) {
  if (auto k = check_key(key); !k) return fail(k.error());
  auto r = client_->send({"POST", key, {{"uploads", ""}}, {}, {}});
  if (!r) return fail(r.error());
  if (r->status != 200) return fail(client_->error(*r, "begin upload of " + key));
  auto id = xml_value(r->body, "UploadId");
  if (!id || id->empty())
    return fail(Errc::unavailable, "S3 begin upload of " + key + ": no UploadId in the answer");
  return *id;
}

Result<void> S3BlobStore::put_part(const std::string& key, const std::string& handle, int number,
                                   std::string_view bytes) {
  if (auto k = check_key(key); !k) return k;
  // S3 numbers parts 1 to 10,000.
  if (number < 1 || number > 10'000)
    return fail(Errc::invalid_argument, "part number must be 1 to 10000", "number");
  if (bytes.size() > files::kUploadPartBytes)
    return fail(Errc::invalid_argument, "a part holds at most kUploadPartBytes", "bytes");
  if (handle.empty()) return fail(Errc::not_found, "no upload handle");
  auto r = client_->send(
      {"PUT", key, {{"partNumber", std::to_string(number)}, {"uploadId", handle}}, bytes, {}});
  if (!r) return fail(r.error());
  if (r->status != 200)
    return fail(client_->error(*r, "part " + std::to_string(number) + " of " + key));
  return ok();
}

Result<void> S3BlobStore::complete_upload(const std::string& key, const std::string& handle,
                                          int parts) {
  if (auto k = check_key(key); !k) return k;
  if (parts < 1 || parts > 10'000)
    return fail(Errc::invalid_argument, "an upload has 1 to 10000 parts", "parts");
  if (handle.empty()) return fail(Errc::not_found, "no upload handle");
  // The parts' ETags, from S3 itself (ListParts pages through 1,000 at a time): nothing about an
  // upload is kept on this node, which may not be the one that stored its parts.
  std::map<int, std::pair<std::string, std::uint64_t>> listed;  // number -> ETag, size
  std::string marker = "0";
  for (;;) {
    auto r =
        client_->send({"GET", key, {{"uploadId", handle}, {"part-number-marker", marker}}, {}, {}});
    if (!r) return fail(r.error());
    if (r->status != 200) return fail(client_->error(*r, "list parts of " + key));
    std::size_t at = 0, end = 0;
    while (auto part = xml_value(r->body, "Part", at, &end)) {
      at = end;
      std::uint64_t number = 0, size = 0;
      auto etag = xml_value(*part, "ETag");
      if (!parse_uint(xml_value(*part, "PartNumber").value_or(""), number) ||
          !parse_uint(xml_value(*part, "Size").value_or(""), size) || !etag || number > 10'000)
        return fail(Errc::unavailable, "S3 list parts of " + key +
                                           ": a part without number, "
                                           "size or ETag in the answer");
      // S3 sends the quotes around an ETag XML-escaped; some stores do not read them back so.
      for (auto q = etag->find("&quot;"); q != std::string::npos; q = etag->find("&quot;", q))
        etag->replace(q, 6, "\"");
      listed[static_cast<int>(number)] = {*etag, size};
    }
    if (xml_value(r->body, "IsTruncated").value_or("false") != "true") break;
    auto next = xml_value(r->body, "NextPartNumberMarker");
    if (!next || *next == marker) break;
    marker = *next;
  }
  std::string xml = "<CompleteMultipartUpload>";
  for (int n = 1; n <= parts; ++n) {
    auto it = listed.find(n);
    if (it == listed.end())
      return fail(Errc::invalid_argument,
                  "upload of " + key + ": part " + std::to_string(n) + " was never put", "parts");
    // The port's promise, checked here because S3 only wants 5 MiB and cannot tell the last.
    if (n < parts && it->second.second != files::kUploadPartBytes)
      return fail(Errc::invalid_argument,
                  "upload of " + key + ": part " + std::to_string(n) +
                      " is not kUploadPartBytes long and is not the last",
                  "parts");
    xml += "<Part><PartNumber>" + std::to_string(n) + "</PartNumber><ETag>" + it->second.first +
           "</ETag></Part>";
  }
  xml += "</CompleteMultipartUpload>";
  auto r = client_->send(
      {"POST", key, {{"uploadId", handle}}, xml, {{"content-type", "application/xml"}}});
  if (!r) return fail(r.error());
  // S3 may answer 200 and then report a failure in the body (it sends the status before it has
  // finished joining the parts).
  if (r->status != 200 || r->body.find("<Error>") != std::string::npos) {
    if (r->status == 200) r->status = 500;
    return fail(client_->error(*r, "complete upload of " + key));
  }
  return ok();
}

Result<void> S3BlobStore::abort_upload(const std::string& key, const std::string& handle) {
  if (auto k = check_key(key); !k) return k;
  if (handle.empty()) return ok();
  auto r = client_->send({"DELETE", key, {{"uploadId", handle}}, {}, {}});
  if (!r) return fail(r.error());
  if (r->status == 204 || r->status == 200) return ok();
  auto e = client_->error(*r, "abort upload of " + key);
  if (e.code == Errc::not_found) return ok();  // aborted or completed before: nothing to free
  return fail(std::move(e));
}

Result<void> S3BlobStore::put(const std::string& key, std::string_view bytes,
                              std::string_view content_type) {
  if (auto k = check_key(key); !k) return k;
  Params headers;
  if (!content_type.empty()) headers.emplace_back("content-type", std::string(content_type));
  auto r = client_->send({"PUT", key, {}, bytes, std::move(headers)});
  if (!r) return fail(r.error());
  if (r->status != 200) return fail(client_->error(*r, "put " + key));
  return ok();
}

Result<std::string> S3BlobStore::read(const std::string& key, std::uint64_t offset,
                                      std::size_t length) {
  if (auto k = check_key(key); !k) return fail(k.error());
  // A Range cannot ask for nothing; the key must still exist.
  if (length == 0) {
    auto s = size(key);
    if (!s) return fail(s.error());
    return std::string();
  }
  std::uint64_t last = offset + std::min<std::uint64_t>(
                                    length - 1, std::numeric_limits<std::uint64_t>::max() - offset);
  auto r =
      client_->send({"GET",
                     key,
                     {},
                     {},
                     {{"range", "bytes=" + std::to_string(offset) + "-" + std::to_string(last)}}});
  if (!r) return fail(r.error());
  if (r->status == 416) return std::string();  // the object ends at or before offset
  if (r->status == 200) {
    // The whole object: the store ignored the Range.
    if (offset >= r->body.size()) return std::string();
    return r->body.substr(offset, length);
  }
  if (r->status != 206) return fail(client_->error(*r, "read " + key));
  // Some stores (s3rver) read "bytes=0-0" as "bytes=0-" and send more than asked for.
  if (r->body.size() > length) r->body.resize(length);
  return std::move(r->body);
}

Result<std::uint64_t> S3BlobStore::size(const std::string& key) {
  if (auto k = check_key(key); !k) return fail(k.error());
  auto r = client_->send({"HEAD", key, {}, {}, {}});
  if (!r) return fail(r.error());
  if (r->status != 200) return fail(client_->error(*r, "size of " + key));
  if (!r->content_length)
    return fail(Errc::unavailable, "S3 size of " + key + ": no Content-Length in the answer");
  return *r->content_length;
}

Result<void> S3BlobStore::remove(const std::string& key) {
  if (auto k = check_key(key); !k) return k;
  auto r = client_->send({"DELETE", key, {}, {}, {}});
  if (!r) return fail(r.error());
  if (r->status == 204 || r->status == 200) return ok();
  auto e = client_->error(*r, "remove " + key);
  if (e.code == Errc::not_found) return ok();
  return fail(std::move(e));
}

}  // namespace parley::s3
