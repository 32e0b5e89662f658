#include "modules/previews/previews.h"

#include <algorithm>
#include <future>
#include <limits>
#include <list>
#include <mutex>
#include <unordered_map>

#include "core/log.h"
#include "core/text.h"

namespace parley::previews {
namespace {

bool is_url_end(char c) {
  auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7F || c == '<' || c == '>' || c == '"' || c == '`';
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool starts_with_ci(std::string_view s, std::string_view lower_prefix) {
  if (s.size() < lower_prefix.size()) return false;
  for (std::size_t i = 0; i < lower_prefix.size(); ++i)
    if ((s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]) != lower_prefix[i]) return false;
  return true;
}

// Drops what ends a sentence rather than a URL: "(see https://x.org/a)." ends at "a".
std::string_view trim_url_end(std::string_view url) {
  while (!url.empty()) {
    char c = url.back();
    if (std::string_view(".,:;!?'*").find(c) != std::string_view::npos) {
      url.remove_suffix(1);
      continue;
    }
    char open = c == ')' ? '(' : c == ']' ? '[' : c == '}' ? '{' : 0;
    if (open != 0 &&
        std::count(url.begin(), url.end(), open) < std::count(url.begin(), url.end(), c)) {
      url.remove_suffix(1);
      continue;
    }
    break;
  }
  return url;
}

// The first n code points of valid UTF-8 s, trailing whitespace dropped.
std::string cap_chars(std::string s, std::size_t n) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (chars++ == n) {
      s.resize(i);
      return std::string(text::trim(s));
    }
  }
  return s;
}

bool is_html(std::string_view content_type) {
  auto type = text::ascii_lower(text::trim(content_type.substr(0, content_type.find(';'))));
  return type == "text/html" || type == "application/xhtml+xml";
}

const Clock& system_clock() {
  static const SystemClock clock;
  return clock;
}

}  // namespace

std::vector<std::string> extract_urls(std::string_view text, std::size_t max) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (out.size() < max && i < text.size()) {
    std::string_view rest = text.substr(i);
    std::size_t scheme = starts_with_ci(rest, "https://")  ? 8
                         : starts_with_ci(rest, "http://") ? 7
                                                           : 0;
    if (scheme == 0 || (i > 0 && is_alnum(text[i - 1]))) {
      ++i;
      continue;
    }
    std::size_t end = scheme;
    while (end < rest.size() && !is_url_end(rest[end])) ++end;
    std::string_view url = trim_url_end(rest.substr(0, end));
    auto host_end = url.find_first_of("/?#", scheme);
    if (url.substr(scheme, host_end == std::string_view::npos ? url.npos : host_end - scheme)
            .empty()) {
      i += scheme;
      continue;
    }
    if (std::find(out.begin(), out.end(), url) == out.end()) out.emplace_back(url);
    i += end;
  }
  return out;
}

// Per URL: the preview (or its absence), shared by everyone who asks while the entry lives. A
// fetch in progress is an entry too, so concurrent askers wait for it instead of fetching again.
struct PreviewService::Cache {
  struct Entry {
    std::shared_future<std::optional<LinkPreview>> value;
    Millis expires_ms = 0;
    std::uint64_t generation = 0;
    std::list<std::string>::iterator age;
  };
  std::mutex mutex;
  std::unordered_map<std::string, Entry> entries;
  std::list<std::string> by_age;  // oldest first: evicted first when full
  std::uint64_t next_generation = 0;

  void erase(std::unordered_map<std::string, Entry>::iterator it) {
    by_age.erase(it->second.age);
    entries.erase(it);
  }
};

PreviewService::PreviewService(outbound::HttpFetcher& fetcher, PreviewOptions options,
                               const Clock* clock)
    : fetcher_(fetcher),
      options_(std::move(options)),
      clock_(clock ? *clock : system_clock()),
      cache_(std::make_unique<Cache>()) {}

PreviewService::~PreviewService() = default;

Result<std::vector<LinkPreview>> PreviewService::previews_for(std::string_view text) {
  std::vector<LinkPreview> out;
  for (const auto& url : extract_urls(text, options_.max_urls))
    if (auto p = preview(url)) out.push_back(std::move(*p));
  return out;
}

std::optional<LinkPreview> PreviewService::preview(const std::string& url) {
  std::promise<std::optional<LinkPreview>> promise;
  std::uint64_t generation = 0;
  {
    std::unique_lock lock(cache_->mutex);
    auto it = cache_->entries.find(url);
    if (it != cache_->entries.end()) {
      if (it->second.expires_ms > clock_.now_ms()) {
        auto value = it->second.value;
        lock.unlock();  // someone else's fetch may still run: wait for it outside the lock
        return value.get();
      }
      cache_->erase(it);
    }
    while (!cache_->by_age.empty() && cache_->entries.size() >= options_.max_cache_entries)
      cache_->erase(cache_->entries.find(cache_->by_age.front()));
    generation = ++cache_->next_generation;
    cache_->by_age.push_back(url);
    // Until the fetch ends the entry never expires: askers meanwhile wait for this fetch.
    cache_->entries.emplace(
        url, Cache::Entry{promise.get_future().share(), std::numeric_limits<Millis>::max(),
                          generation, std::prev(cache_->by_age.end())});
  }

  std::optional<LinkPreview> result;
  try {
    result = fetch_uncached(url);
  } catch (const std::exception& e) {
    // Out of memory on a hostile page, say: no preview, and the waiters must not hang.
    log::warn("link preview failed", {{"error", e.what()}});
  }
  {
    std::lock_guard lock(cache_->mutex);
    auto it = cache_->entries.find(url);
    if (it != cache_->entries.end() && it->second.generation == generation)
      it->second.expires_ms =
          clock_.now_ms() + (result ? options_.cache_ttl : options_.failure_ttl).count();
  }
  promise.set_value(result);
  return result;
}

std::optional<LinkPreview> PreviewService::fetch_uncached(const std::string& url) {
  outbound::FetchRequest req;
  req.url = url;
  req.headers = {{"Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"}};
  req.limits.timeout = options_.fetch_timeout;
  req.limits.max_body_bytes = kMaxHtmlBytes;
  req.limits.overflow = outbound::FetchLimits::Overflow::truncate;
  req.user_agent = options_.user_agent;
  auto r = fetcher_.fetch(req);
  if (!r) {
    // No URL in the line: it is user content, and the code says enough to operators.
    log::debug("link preview not fetched", {{"code", errc_name(r.error().code)}});
    return std::nullopt;
  }
  if (r->status < 200 || r->status > 299 || !is_html(r->content_type)) return std::nullopt;
  PageMeta meta = parse_html_meta(r->body, r->final_url, r->content_type);
  if (meta.title.empty() && meta.description.empty()) return std::nullopt;
  LinkPreview p;
  p.url = url;
  p.title = cap_chars(std::move(meta.title), options_.max_title_chars);
  p.description = cap_chars(std::move(meta.description), options_.max_description_chars);
  if (!meta.image_url.empty()) p.image_url = std::move(meta.image_url);
  if (!meta.site_name.empty())
    p.site_name = cap_chars(std::move(meta.site_name), options_.max_title_chars);
  return p;
}

}  // namespace parley::previews
