// The storage encoding of attachments and previews (store.h). Short keys: the column is
// written once per message and read on every history page.
#include <boost/json.hpp>

#include "core/json.h"
#include "modules/messaging/store.h"

namespace parley::messaging {
namespace {

namespace bj = boost::json;

std::string str(const bj::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().get_string())
                                                  : std::string();
}

std::int64_t num(const bj::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_int64() ? it->value().get_int64() : 0;
}

// The array's objects, or none when text is empty or not such an array.
std::vector<bj::object> objects(std::string_view text) {
  std::vector<bj::object> out;
  if (text.empty()) return out;
  bj::error_code ec;
  bj::value v = bj::parse(text, ec);
  if (ec || !v.is_array()) return out;
  for (auto& e : v.get_array())
    if (e.is_object()) out.push_back(std::move(e.get_object()));
  return out;
}

}  // namespace

std::string encode_attachments(const std::vector<Attachment>& list) {
  if (list.empty()) return {};
  bj::array a;
  for (const auto& f : list) {
    bj::object o{{"i", f.id},
                 {"n", f.name},
                 {"s", f.size},
                 {"t", f.content_type},
                 {"h", f.sha256},
                 {"w", f.width},
                 {"v", f.height},
                 {"p", f.has_thumbnail ? 1 : 0},
                 {"b", f.created_by},
                 {"c", f.created_at}};
    if (f.transcript)
      o["x"] = bj::object{
          {"t", f.transcript->text}, {"l", f.transcript->language}, {"e", f.transcript->engine}};
    a.push_back(std::move(o));
  }
  return json::serialize(a);
}

std::vector<Attachment> decode_attachments(std::string_view text) {
  std::vector<Attachment> out;
  for (const auto& o : objects(text)) {
    Attachment f;
    f.id = str(o, "i");
    f.name = str(o, "n");
    f.size = num(o, "s");
    f.content_type = str(o, "t");
    f.sha256 = str(o, "h");
    f.width = static_cast<int>(num(o, "w"));
    f.height = static_cast<int>(num(o, "v"));
    f.has_thumbnail = num(o, "p") != 0;
    f.created_by = str(o, "b");
    f.created_at = num(o, "c");
    if (auto it = o.find("x"); it != o.end() && it->value().is_object()) {
      const auto& x = it->value().get_object();
      f.transcript = AttachmentTranscript{str(x, "t"), str(x, "l"), str(x, "e")};
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::string encode_previews(const std::vector<LinkPreview>& list) {
  if (list.empty()) return {};
  bj::array a;
  for (const auto& p : list)
    a.push_back(bj::object{{"u", p.url},
                           {"t", p.title},
                           {"d", p.description},
                           {"i", p.image_url},
                           {"s", p.site_name}});
  return json::serialize(a);
}

std::vector<LinkPreview> decode_previews(std::string_view text) {
  std::vector<LinkPreview> out;
  for (const auto& o : objects(text))
    out.push_back({str(o, "u"), str(o, "t"), str(o, "d"), str(o, "i"), str(o, "s")});
  return out;
}

}  // namespace parley::messaging

namespace parley::messaging {

std::string encode_mention_ids(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) {
    if (!out.empty()) out += ',';
    out += id;
  }
  return out;
}

std::vector<std::string> decode_mention_ids(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto comma = text.find(',');
    if (comma != 0) out.emplace_back(text.substr(0, comma));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace parley::messaging
