// Time-ordered ids: 48 bits of milliseconds then 80 random bits, written as 26 characters of
// Crockford base32 (the ULID layout). Sorting ids as strings sorts them by creation time, which
// keeps B-tree inserts local. Ids are opaque to clients (API.md). Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/clock.h"

namespace parley {

std::string new_id(Millis now_ms);

// True when text has the shape of an id; lets handlers answer 404 without a store lookup.
bool looks_like_id(std::string_view text);

}  // namespace parley
