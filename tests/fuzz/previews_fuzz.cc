// Link previews read pages and message text that anyone controls: the HTML head reader, URL
// resolution and URL extraction must never crash, and what they return must be safe to show
// (valid UTF-8 without control characters, image URLs that are http(s) only).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/text.h"
#include "modules/previews/previews.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

bool clean(const std::string& s) {
  return parley::text::is_valid_utf8(s) && !parley::text::has_control_chars(s, false);
}

bool http_url(std::string_view u) { return u.starts_with("http://") || u.starts_with("https://"); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  for (const char* content_type : {"", "text/html; charset=windows-1252"}) {
    auto meta =
        parley::previews::parse_html_meta(input, "https://page.example/a/b?q", content_type);
    require(clean(meta.title) && clean(meta.description) && clean(meta.site_name));
    require(meta.image_url.empty() || http_url(meta.image_url));
  }

  // The first line as a base URL, the rest as a reference.
  auto nl = input.find('\n');
  if (nl != std::string_view::npos)
    if (auto u = parley::previews::resolve_url(input.substr(0, nl), input.substr(nl + 1)))
      require(http_url(*u));

  auto urls = parley::previews::extract_urls(input, 3);
  require(urls.size() <= 3);
  for (const auto& u : urls) require(!u.empty() && input.find(u) != std::string_view::npos);
  return 0;
}
