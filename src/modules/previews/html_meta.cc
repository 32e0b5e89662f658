// The HTML head reader and URL resolution for link previews. Pages are hostile input: every
// loop here moves forward, nothing recurses, and nothing looks past kMaxHtmlBytes.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>

#include "core/text.h"
#include "modules/previews/previews.h"

namespace parley::previews {
namespace {

constexpr std::size_t kMaxUrlBytes = 2048;
constexpr std::size_t kMaxAttributes = 64;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Case-insensitive search for an ASCII needle given in lower case.
std::size_t find_ci(std::string_view hay, std::string_view needle, std::size_t from) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (std::size_t i = from; i + needle.size() <= hay.size(); ++i) {
    std::size_t k = 0;
    while (k < needle.size() && lower(hay[i + k]) == needle[k]) ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

constexpr std::uint32_t kReplacement = 0xFFFD;

// The entities titles and descriptions use in practice; others stay as written. &nbsp; becomes
// a plain space, which is what a preview shows anyway.
std::uint32_t named_entity(std::string_view name) {
  static const std::map<std::string_view, std::uint32_t> table = {
      {"amp", '&'},       {"lt", '<'},       {"gt", '>'},       {"quot", '"'},
      {"apos", '\''},     {"nbsp", ' '},     {"ndash", 0x2013}, {"mdash", 0x2014},
      {"hellip", 0x2026}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C},
      {"rdquo", 0x201D},  {"laquo", 0x00AB}, {"raquo", 0x00BB}, {"middot", 0x00B7},
      {"bull", 0x2022},   {"copy", 0x00A9},  {"reg", 0x00AE},   {"trade", 0x2122},
      {"euro", 0x20AC},
  };
  auto it = table.find(name);
  return it == table.end() ? 0 : it->second;
}

std::string decode_entities(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] != '&') {
      out += s[i++];
      continue;
    }
    std::size_t j = i + 1;
    std::uint32_t cp = 0;
    bool numeric = j < s.size() && s[j] == '#';
    if (numeric) {
      ++j;
      bool hex = j < s.size() && (s[j] == 'x' || s[j] == 'X');
      if (hex) ++j;
      std::size_t start = j;
      bool overflow = false;
      while (j < s.size() && j - start < 10 &&
             (is_digit(s[j]) || (hex && std::isxdigit(static_cast<unsigned char>(s[j]))))) {
        std::uint32_t d = is_digit(s[j]) ? s[j] - '0' : (lower(s[j]) - 'a' + 10);
        if (cp > 0x10FFFF)
          overflow = true;
        else
          cp = cp * (hex ? 16 : 10) + d;
        ++j;
      }
      if (j == start) {  // "&#" with no digits: not an entity
        out += s[i++];
        continue;
      }
      if (overflow || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = kReplacement;
    } else {
      std::size_t start = j;
      while (j < s.size() && j - start < 8 && (is_alpha(s[j]) || is_digit(s[j]))) ++j;
      cp = named_entity(s.substr(start, j - start));
      if (cp == 0) {
        out += s[i++];
        continue;
      }
    }
    if (j < s.size() && s[j] == ';') ++j;
    append_utf8(out, cp);
    i = j;
  }
  return out;
}

// Valid UTF-8 with single spaces: invalid bytes become U+FFFD, control characters (C0, DEL,
// C1) and runs of whitespace become one space, and the ends are trimmed.
std::string clean_text(std::string_view raw) {
  std::string s = decode_entities(raw);
  std::string out;
  out.reserve(s.size());
  bool pending_space = false;
  auto emit = [&](std::string_view bytes) {
    if (pending_space && !out.empty()) out += ' ';
    pending_space = false;
    out.append(bytes);
  };
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c < 0x80) {
      if (c <= 0x20 || c == 0x7F)
        pending_space = true;
      else
        emit(s.substr(i, 1));
      ++i;
      continue;
    }
    std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (len != 0 && i + len <= n && text::is_valid_utf8(s.substr(i, len))) {
      // U+0080..U+009F (C1 controls) are C2 80..C2 9F.
      if (c == 0xC2 && p[i + 1] < 0xA0)
        pending_space = true;
      else
        emit(s.substr(i, len));
      i += len;
    } else {
      std::string r;
      append_utf8(r, kReplacement);
      emit(r);
      ++i;
    }
  }
  return out;
}

// The charset label of a Content-Type value ("text/html; charset=ISO-8859-1"), lower case.
std::string charset_of(std::string_view content_type) {
  auto at = find_ci(content_type, "charset=", 0);
  if (at == std::string_view::npos) return {};
  std::string label;
  for (char c : content_type.substr(at + 8)) {
    if (c == '"' || c == '\'') continue;
    if (c == ';' || is_space(c)) break;
    label += lower(c);
  }
  return label;
}

// WHATWG's Encoding standard reads all of these labels as windows-1252, as browsers do.
bool is_windows_1252(std::string_view label) {
  for (std::string_view l :
       {"windows-1252", "cp1252", "x-cp1252", "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1",
        "l1", "cp819", "ibm819", "us-ascii", "ascii", "ansi_x3.4-1968"})
    if (label == l) return true;
  return false;
}

std::string from_windows_1252(std::string_view s) {
  // 0x80..0x9F; the five unassigned bytes stay C1 controls (and become spaces later).
  static const std::uint16_t k80[32] = {
      0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x80)
      out += ch;
    else
      append_utf8(out, c < 0xA0 ? k80[c - 0x80] : c);
  }
  return out;
}

struct Tag {
  std::string name;                                             // lower case
  std::vector<std::pair<std::string, std::string>> attributes;  // names lower case, raw values
  std::string attribute(std::string_view key) const {
    for (const auto& [k, v] : attributes)
      if (k == key) return v;
    return {};
  }
};

// Reads the tag whose '<' is at doc[at]; on success `end` is just past its '>'. False for an
// unterminated tag (the document ends inside it).
bool read_tag(std::string_view doc, std::size_t at, Tag& tag, std::size_t& end) {
  std::size_t i = at + 1;
  while (i < doc.size() && (is_alpha(doc[i]) || is_digit(doc[i]) || doc[i] == '-'))
    tag.name += lower(doc[i++]);
  while (true) {
    while (i < doc.size() && (is_space(doc[i]) || doc[i] == '/')) ++i;
    if (i >= doc.size()) return false;
    if (doc[i] == '>') {
      end = i + 1;
      return true;
    }
    std::string name;
    while (i < doc.size() && !is_space(doc[i]) && doc[i] != '=' && doc[i] != '>' && doc[i] != '/')
      name += lower(doc[i++]);
    while (i < doc.size() && is_space(doc[i])) ++i;
    std::string value;
    if (i < doc.size() && doc[i] == '=') {
      ++i;
      while (i < doc.size() && is_space(doc[i])) ++i;
      if (i < doc.size() && (doc[i] == '"' || doc[i] == '\'')) {
        auto close = doc.find(doc[i], i + 1);
        if (close == std::string_view::npos) return false;
        value = doc.substr(i + 1, close - i - 1);
        i = close + 1;
      } else {
        std::size_t start = i;
        while (i < doc.size() && !is_space(doc[i]) && doc[i] != '>') ++i;
        value = doc.substr(start, i - start);
      }
    }
    if (!name.empty() && tag.attributes.size() < kMaxAttributes)
      tag.attributes.emplace_back(std::move(name), std::move(value));
  }
}

struct Url {
  std::string scheme;
  std::optional<std::string> authority;
  std::string path;
  std::optional<std::string> query, fragment;
};

// RFC 3986 appendix B: the split every URL reference has, valid or not.
Url split_url(std::string_view s) {
  Url u;
  std::size_t i = 0;
  auto colon = s.find(':');
  if (colon != std::string_view::npos && colon > 0 && is_alpha(s[0]) &&
      s.substr(0, colon).find_first_of("/?#") == std::string_view::npos) {
    bool ok = true;
    for (char c : s.substr(0, colon))
      if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') ok = false;
    if (ok) {
      for (char c : s.substr(0, colon)) u.scheme += lower(c);
      i = colon + 1;
    }
  }
  if (s.substr(i).starts_with("//")) {
    auto end = s.find_first_of("/?#", i + 2);
    if (end == std::string_view::npos) end = s.size();
    u.authority = std::string(s.substr(i + 2, end - i - 2));
    i = end;
  }
  auto path_end = s.find_first_of("?#", i);
  if (path_end == std::string_view::npos) path_end = s.size();
  u.path = s.substr(i, path_end - i);
  i = path_end;
  if (i < s.size() && s[i] == '?') {
    auto end = s.find('#', i);
    if (end == std::string_view::npos) end = s.size();
    u.query = std::string(s.substr(i + 1, end - i - 1));
    i = end;
  }
  if (i < s.size() && s[i] == '#') u.fragment = std::string(s.substr(i + 1));
  return u;
}

// RFC 3986 section 5.2.4.
std::string remove_dot_segments(std::string_view in) {
  std::string out;
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.remove_prefix(3);
    } else if (in.starts_with("./")) {
      in.remove_prefix(2);
    } else if (in.starts_with("/./")) {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.starts_with("/../") || in == "/..") {
      in = in.size() == 3 ? std::string_view("/") : in.substr(3);
      auto slash = out.rfind('/');
      out.erase(slash == std::string::npos ? 0 : slash);
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      auto next = in.find('/', in[0] == '/' ? 1 : 0);
      if (next == std::string_view::npos) next = in.size();
      out += in.substr(0, next);
      in.remove_prefix(next);
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> resolve_url(std::string_view base_text, std::string_view ref_text) {
  ref_text = text::trim(ref_text);
  if (ref_text.empty() || ref_text.size() > kMaxUrlBytes) return std::nullopt;
  // Browsers read a backslash as a slash and drop tabs and newlines: such a URL means different
  // things to different readers, so it gets no preview.
  for (char c : ref_text)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F || c == '\\') return std::nullopt;
  Url ref = split_url(ref_text);
  Url base = split_url(base_text);
  Url t;
  if (!ref.scheme.empty()) {
    t = ref;
    t.path = remove_dot_segments(ref.path);
  } else {
    t.scheme = base.scheme;
    if (ref.authority) {
      t.authority = ref.authority;
      t.path = remove_dot_segments(ref.path);
      t.query = ref.query;
    } else {
      t.authority = base.authority;
      if (ref.path.empty()) {
        t.path = base.path;
        t.query = ref.query ? ref.query : base.query;
      } else {
        if (ref.path[0] == '/') {
          t.path = remove_dot_segments(ref.path);
        } else {
          std::string merged;
          if (base.authority && base.path.empty()) {
            merged = "/" + ref.path;
          } else {
            auto slash = base.path.rfind('/');
            merged = (slash == std::string::npos ? "" : base.path.substr(0, slash + 1)) + ref.path;
          }
          t.path = remove_dot_segments(merged);
        }
        t.query = ref.query;
      }
    }
    t.fragment = ref.fragment;
  }
  if ((t.scheme != "http" && t.scheme != "https") || !t.authority || t.authority->empty() ||
      t.authority->find('@') != std::string::npos)
    return std::nullopt;
  std::string out = t.scheme + "://" + *t.authority + (t.path.empty() ? "/" : t.path);
  if (t.query) out += "?" + *t.query;
  if (t.fragment) out += "#" + *t.fragment;
  if (out.size() > kMaxUrlBytes) return std::nullopt;
  return out;
}

PageMeta parse_html_meta(std::string_view html, std::string_view page_url,
                         std::string_view content_type) {
  std::string_view doc = html.substr(0, std::min(html.size(), kMaxHtmlBytes));
  std::map<std::string, std::string> meta;  // first content per property/name, raw
  std::string title;                        // raw
  bool have_title = false;
  // The HTTP header's charset wins over the page's own, as in browsers.
  std::string charset = charset_of(content_type);
  std::string base(page_url);
  bool have_base = false;

  for (std::size_t i = doc.find('<'); i != std::string_view::npos; i = doc.find('<', i)) {
    std::string_view rest = doc.substr(i);
    if (rest.starts_with("<!--")) {
      auto end = doc.find("-->", i + 4);
      if (end == std::string_view::npos) break;
      i = end + 3;
      continue;
    }
    if (rest.size() > 1 && (rest[1] == '!' || rest[1] == '?')) {  // doctype, processing
      auto end = doc.find('>', i);
      if (end == std::string_view::npos) break;
      i = end + 1;
      continue;
    }
    if (rest.size() > 1 && rest[1] == '/') {
      if (find_ci(rest.substr(0, 6), "</head", 0) == 0 &&
          (rest.size() == 6 || !(is_alpha(rest[6]) || is_digit(rest[6]))))
        break;
      auto end = doc.find('>', i);
      if (end == std::string_view::npos) break;
      i = end + 1;
      continue;
    }
    if (rest.size() < 2 || !is_alpha(rest[1])) {
      ++i;
      continue;
    }
    Tag tag;
    std::size_t end = 0;
    if (!read_tag(doc, i, tag, end)) break;
    i = end;
    if (tag.name == "body") break;
    if (tag.name == "script" || tag.name == "style" || tag.name == "template" ||
        tag.name == "textarea" || tag.name == "title") {
      // Raw text up to the matching end tag; a <meta> inside a script is not the page's.
      auto close = find_ci(doc, "</" + tag.name, i);
      if (close == std::string_view::npos) break;
      if (tag.name == "title" && !have_title) {
        title = doc.substr(i, close - i);
        have_title = true;
      }
      i = close;
      continue;
    }
    if (tag.name == "base" && !have_base) {
      if (auto b = resolve_url(page_url, decode_entities(tag.attribute("href")))) base = *b;
      have_base = true;
    } else if (tag.name == "meta") {
      if (charset.empty()) charset = text::ascii_lower(tag.attribute("charset"));
      if (charset.empty() && text::ascii_lower(tag.attribute("http-equiv")) == "content-type")
        charset = charset_of(tag.attribute("content"));
      std::string key = tag.attribute("property");
      if (key.empty()) key = tag.attribute("name");
      for (auto& c : key) c = lower(c);
      key = std::string(text::trim(key));
      if (!key.empty() && !meta.contains(key)) meta.emplace(key, tag.attribute("content"));
    }
  }

  const bool cp1252 = is_windows_1252(charset);
  auto utf8 = [&](std::string_view raw) {
    return cp1252 ? from_windows_1252(raw) : std::string(raw);
  };
  auto first = [&](std::initializer_list<const char*> keys) -> std::string {
    for (const char* k : keys) {
      auto it = meta.find(k);
      if (it == meta.end()) continue;
      auto v = clean_text(utf8(it->second));
      if (!v.empty()) return v;
    }
    return {};
  };
  PageMeta out;
  out.title = first({"og:title", "twitter:title"});
  if (out.title.empty()) out.title = clean_text(utf8(title));
  out.description = first({"og:description", "twitter:description", "description"});
  out.site_name = first({"og:site_name"});
  for (const char* k :
       {"og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src"}) {
    auto it = meta.find(k);
    if (it == meta.end()) continue;
    if (auto u = resolve_url(base, decode_entities(utf8(it->second)))) {
      out.image_url = *u;
      break;
    }
  }
  return out;
}

}  // namespace parley::previews
