// A reader for TZif files (RFC 8536): the transition times and local time types of the version 1
// (32-bit) or, when present, version 2+ (64-bit) block. Times after the last transition take the
// last transition's type: Debian's "fat" files list transitions to 2037, which is enough for
// quiet hours.
#include "tz.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <vector>

namespace parley::notifications {
namespace {

struct Zone {
  std::vector<std::int64_t> times;  // transition instants, seconds since the epoch, ascending
  std::vector<std::uint8_t> types;  // the local time type each transition starts
  std::vector<int> offsets;         // utoff of each local time type
};

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         p[3];
}
std::int64_t be64(const unsigned char* p) {
  return static_cast<std::int64_t>((std::uint64_t(be32(p)) << 32) | be32(p + 4));
}

std::optional<Zone> parse(const std::string& data) {
  auto* d = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  auto block = [&](std::size_t at, int time_size, std::size_t* end) -> std::optional<Zone> {
    if (n < at + 44 || data.compare(at, 4, "TZif") != 0) return std::nullopt;
    const unsigned char* h = d + at + 20;
    std::uint32_t isutcnt = be32(h), isstdcnt = be32(h + 4), leapcnt = be32(h + 8),
                  timecnt = be32(h + 12), typecnt = be32(h + 16), charcnt = be32(h + 20);
    std::size_t p = at + 44;
    std::size_t need = timecnt * time_size + timecnt + typecnt * 6 + charcnt +
                       leapcnt * (time_size + 4) + isstdcnt + isutcnt;
    if (n < p + need || typecnt == 0) return std::nullopt;
    Zone z;
    for (std::uint32_t i = 0; i < timecnt; ++i)
      z.times.push_back(time_size == 8 ? be64(d + p + i * 8)
                                       : static_cast<std::int32_t>(be32(d + p + i * 4)));
    p += timecnt * time_size;
    for (std::uint32_t i = 0; i < timecnt; ++i) z.types.push_back(d[p + i]);
    p += timecnt;
    for (std::uint32_t i = 0; i < typecnt; ++i)
      z.offsets.push_back(static_cast<std::int32_t>(be32(d + p + i * 6)));
    for (auto t : z.types)
      if (t >= typecnt) return std::nullopt;
    if (end) *end = p + typecnt * 6 + charcnt + leapcnt * (time_size + 4) + isstdcnt + isutcnt;
    return z;
  };
  std::size_t end = 0;
  auto v1 = block(0, 4, &end);
  if (!v1) return std::nullopt;
  if (data[4] >= '2') {
    auto v2 = block(end, 8, nullptr);
    if (v2) return v2;
  }
  return v1;
}

std::mutex mu;
std::map<std::string, std::shared_ptr<const Zone>> cache;

std::shared_ptr<const Zone> load(const std::string& name) {
  if (name.empty() || name.size() > 64 || name.front() == '/' ||
      name.find("..") != std::string::npos)
    return nullptr;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' ||
          c == '+'))
      return nullptr;
  std::lock_guard lock(mu);
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  std::ifstream in("/usr/share/zoneinfo/" + name, std::ios::binary);
  std::shared_ptr<const Zone> z;
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    if (auto parsed = parse(ss.str())) z = std::make_shared<const Zone>(std::move(*parsed));
  }
  if (cache.size() < 1000) cache[name] = z;
  return z;
}

}  // namespace

bool known_time_zone(const std::string& name) { return load(name) != nullptr; }

std::optional<int> utc_offset_s(const std::string& name, Millis utc_ms) {
  auto z = load(name);
  if (!z) return std::nullopt;
  std::int64_t t = utc_ms / 1000;
  auto it = std::upper_bound(z->times.begin(), z->times.end(), t);
  if (it == z->times.begin()) {
    // Before the first transition: the first standard type (type 0 by convention).
    return z->offsets[0];
  }
  return z->offsets[z->types[static_cast<std::size_t>(it - z->times.begin() - 1)]];
}

}  // namespace parley::notifications
