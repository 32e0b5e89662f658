// UTC offsets of IANA time zones, read from the system's compiled zone files
// (/usr/share/zoneinfo, Debian's tzdata). GCC 12's <chrono> has no time zone database, and
// TZ/localtime_r would change process-wide state. Thread-safe; files are read once and cached.
#pragma once

#include <optional>
#include <string>

#include "core/clock.h"

namespace parley::notifications {

// Whether name is a zone the system knows ("Europe/Paris", "UTC"); never a path outside the
// zone folder.
bool known_time_zone(const std::string& name);
// The offset from UTC, in seconds, of zone name at utc_ms; nullopt for an unknown zone.
std::optional<int> utc_offset_s(const std::string& name, Millis utc_ms);

}  // namespace parley::notifications
