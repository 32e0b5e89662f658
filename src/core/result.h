// Result<T> and Error: how every expected failure travels in Parley.
//
// Modules, stores and the bus return Result<T>; exceptions never cross those boundaries.
// Error::code says what the caller should do next; api/ maps codes to HTTP statuses and
// WebSocket error frames in one table. Messages are for humans and never carry secrets.
#pragma once

#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace parley {

enum class Errc {
  invalid_argument,        // well-formed but invalid values (422); Error::field names the field
  malformed,               // not parseable or wrong types (400)
  unauthenticated,         // no or bad credentials (401)
  second_factor_required,  // password fine, TOTP code missing or wrong (401 totp_required)
  permission_denied,       // known caller, not allowed (403)
  reauth_required,         // allowed after a fresh sign-in of this session (403 reauth_required)
  not_found,               // unknown, or not visible to the caller (404)
  already_exists,          // unique constraint (409)
  failed_precondition,     // state does not allow it (409)
  too_large,               // payload over a limit (413)
  resource_exhausted,      // rate limited (429); Error::retry_after_s says when to retry
  unavailable,             // overloaded or shutting down (503)
  internal,                // a bug or a broken invariant (500)
};

struct Error {
  Errc code = Errc::internal;
  std::string message;
  std::string field;      // for invalid_argument: which input field
  int retry_after_s = 0;  // for resource_exhausted
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(Errc code, std::string message, std::string field = {}) {
  return tl::unexpected<Error>(Error{code, std::move(message), std::move(field), 0});
}

inline tl::unexpected<Error> fail(Error e) { return tl::unexpected<Error>(std::move(e)); }

// Result<void> success, spelled once.
inline Result<void> ok() { return {}; }

const char* errc_name(Errc code);

}  // namespace parley
