#include "core/result.h"

namespace parley {

const char* errc_name(Errc code) {
  switch (code) {
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::malformed:
      return "malformed";
    case Errc::unauthenticated:
      return "unauthenticated";
    case Errc::second_factor_required:
      return "second_factor_required";
    case Errc::permission_denied:
      return "permission_denied";
    case Errc::reauth_required:
      return "reauth_required";
    case Errc::not_found:
      return "not_found";
    case Errc::already_exists:
      return "already_exists";
    case Errc::failed_precondition:
      return "failed_precondition";
    case Errc::too_large:
      return "too_large";
    case Errc::resource_exhausted:
      return "resource_exhausted";
    case Errc::unavailable:
      return "unavailable";
    case Errc::internal:
      return "internal";
  }
  return "internal";
}

}  // namespace parley
