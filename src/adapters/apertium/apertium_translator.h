// Translation with Apertium (Debian's apertium and its language-pair packages): the ai
// module's Translator. The installed pairs are the mode files of the modes folder
// (/usr/share/apertium/modes: eng-spa.mode, es-pt.mode, ...), read once at creation; variant
// modes (eng-cat_valencia) are left out. A translation runs `apertium -u <mode>` as a child
// process (posix_spawn, no shell, text on stdin), killed when the deadline passes.
//
// Thread-safe: each call has its own child process. Blocks up to the deadline: call it from the
// AI gateway's pool. Errors: invalid_argument (field "to": a pair not installed), unavailable
// (apertium missing, failed, or too slow).
#pragma once

#include <memory>
#include <string>

#include "modules/ai/engines.h"

namespace parley::apertium {

struct ApertiumOptions {
  std::string modes_dir = "/usr/share/apertium/modes";
  std::string program = "apertium";  // looked up in PATH
};

std::unique_ptr<ai::Translator> make_apertium_translator(ApertiumOptions options = {});

}  // namespace parley::apertium
