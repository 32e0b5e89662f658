// Language identification with CLD2 (Debian's libcld2): the ai module's
// LanguageDetector. Thread-safe (CLD2 keeps no state between calls). Input must be valid UTF-8
// (the API validates every text before it gets here).
#pragma once

#include <memory>

#include "modules/ai/engines.h"

namespace parley::cld2 {

std::unique_ptr<ai::LanguageDetector> make_cld2_detector();

}  // namespace parley::cld2
