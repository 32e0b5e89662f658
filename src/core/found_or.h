// found_or: a storage helper's Result<std::optional<T>> as the Result<T> a store answers.
//
// For a write that may find nothing and still commit: its not-found answer is the caller's,
// decided after the commit, not the write's own error (which would roll it back and could
// hide a failed commit). Header-only; no state.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "core/result.h"

namespace parley {

// r's value where the lookup found one, fail(code, message) where it found nothing, r's own
// error where it failed.
template <class T>
Result<T> found_or(Result<std::optional<T>> r, Errc code, std::string message) {
  if (!r) return tl::unexpected<Error>(std::move(r.error()));
  if (!*r) return fail(code, std::move(message));
  return std::move(**r);
}

}  // namespace parley
