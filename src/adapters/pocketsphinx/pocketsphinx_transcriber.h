// Speech-to-text on the premises: the ai module's Transcriber with PocketSphinx (Debian's
// libpocketsphinx3 and the pocketsphinx-en-us model). The audio as uploaded (Opus/WebM, Ogg,
// WAV, MP3...) is decoded to 16 kHz mono signed 16-bit PCM by an `ffmpeg` child process
// (posix_spawnp, no shell, the bytes on stdin, killed at the deadline), then decoded by the
// library as one utterance.
//
// A PocketSphinx decoder is not thread-safe and loading the model takes a while, so the engine
// keeps decoders in a small free list: a call takes one (creating it when none is free) and
// puts it back. Blocks up to the deadline: call it from the AI gateway's pool.
//
// Errors: invalid_argument (field "audio": not audio ffmpeg can read, or longer than
// max_seconds), unavailable (ffmpeg missing or too slow, the model not installed).
#pragma once

#include <memory>
#include <string>

#include "modules/ai/engines.h"

namespace parley::pocketsphinx {

struct PocketSphinxOptions {
  std::string model_dir = "/usr/share/pocketsphinx/model/en-us";  // en-us/, en-us.lm.bin, dict
  std::string ffmpeg = "ffmpeg";  // looked up in PATH
  int max_seconds = 300;          // longer recordings are refused
};

// Whether the model is installed (capabilities then list "en").
bool model_installed(const PocketSphinxOptions& options = {});

std::unique_ptr<ai::Transcriber> make_pocketsphinx_transcriber(PocketSphinxOptions options = {});

// Word error rate of hypothesis against reference: (substitutions + deletions + insertions) /
// reference words, over lower-case words with punctuation removed (Levenshtein over words).
double word_error_rate(const std::string& reference, const std::string& hypothesis);

}  // namespace parley::pocketsphinx
