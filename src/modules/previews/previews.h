// Link previews: the http(s) URLs in a message's text, each fetched through the outbound
// HttpFetcher (so the SSRF policy applies) and read for OpenGraph, Twitter card and plain HTML
// metadata.
//
// extract_urls, parse_html_meta and resolve_url are pure functions (thread-safe).
// PreviewService blocks while it fetches, one URL after another (up to max_urls x
// fetch_timeout): call it from worker threads, never from an I/O thread. It is thread-safe and
// borrows the fetcher, which must outlive it. Its cache, bounded in entries, is shared by every
// caller of the service (make one per process), so a link posted 50 times, at once or not, is
// fetched once per TTL.
//
// Errors: none from these functions today. A URL that fails to fetch, is refused by the policy,
// is not HTML or has nothing to show is left out of the result, never an error; Result is there
// so a service that stops or sheds load can say so.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "modules/outbound/outbound.h"

namespace parley::previews {

struct LinkPreview {
  std::string url;  // as it appears in the message
  std::string title;
  std::string description;
  std::optional<std::string> image_url;  // absolute http(s)
  std::optional<std::string> site_name;
  bool operator==(const LinkPreview&) const = default;
};

// The distinct http:// and https:// URLs in text, in order of appearance, at most max. A URL
// starts at "http://" or "https://" (any case) not preceded by a letter or digit, ends at
// whitespace, a control character or one of <>"`, and loses trailing punctuation (.,:;!?'*)
// and closing brackets that have no opening partner inside it ("(see https://x.org/a_(b))."
// keeps the "(b)"). A URL without a host is not one.
std::vector<std::string> extract_urls(std::string_view text, std::size_t max = 3);

// What a page says about itself. Fields are decoded (entities), whitespace-collapsed, valid
// UTF-8 (invalid bytes become U+FFFD) and not yet length-capped; empty when absent.
struct PageMeta {
  std::string title;        // og:title, then twitter:title, then <title>
  std::string description;  // og:description, then twitter:description, then meta description
  std::string image_url;    // og:image (or :url, :secure_url), then twitter:image[:src];
                            // resolved against the page URL (or <base href>), http(s) only
  std::string site_name;    // og:site_name
};
// Reads the <head> of an HTML document (it stops at </head> or <body>, and never looks past
// kMaxHtmlBytes). Tolerant: attributes in any order, any case, quoted with " or ' or unquoted;
// comments, <script> and <style> are skipped. Bytes are read as UTF-8 unless content_type (the
// HTTP header) or else the page's <meta charset> names windows-1252 or a label browsers read as
// it (iso-8859-1, us-ascii); other charsets are read as UTF-8.
inline constexpr std::size_t kMaxHtmlBytes = 512 * 1024;
PageMeta parse_html_meta(std::string_view html, std::string_view page_url,
                         std::string_view content_type = {});

// ref resolved against the absolute base (RFC 3986 section 5), when the result is an http(s)
// URL with a host; nullopt otherwise (javascript:, data:, malformed, whitespace inside).
std::optional<std::string> resolve_url(std::string_view base, std::string_view ref);

struct PreviewOptions {
  std::size_t max_urls = 3;  // per message
  std::size_t max_title_chars = 300;
  std::size_t max_description_chars = 1000;
  std::chrono::milliseconds fetch_timeout{5000};
  std::string user_agent = "ParleyBot/1.0 (link preview)";
  std::chrono::milliseconds cache_ttl{std::chrono::hours(1)};
  // A failure is remembered for less long: the site may be back soon.
  std::chrono::milliseconds failure_ttl{std::chrono::minutes(5)};
  std::size_t max_cache_entries = 4096;
};

class PreviewService {
 public:
  // clock decides cache expiry (a FakeClock in tests); the default is the system clock.
  PreviewService(outbound::HttpFetcher& fetcher, PreviewOptions options,
                 const Clock* clock = nullptr);
  ~PreviewService();
  PreviewService(const PreviewService&) = delete;
  PreviewService& operator=(const PreviewService&) = delete;

  // One preview per URL of the text that gave one, in the text's order.
  Result<std::vector<LinkPreview>> previews_for(std::string_view text);

 private:
  struct Cache;
  // One URL through the cache: nullopt when it gives no preview.
  std::optional<LinkPreview> preview(const std::string& url);
  std::optional<LinkPreview> fetch_uncached(const std::string& url);

  outbound::HttpFetcher& fetcher_;
  const PreviewOptions options_;
  const Clock& clock_;
  std::unique_ptr<Cache> cache_;
};

}  // namespace parley::previews
