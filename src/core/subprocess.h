// Running a helper program (apertium, ffmpeg) as a child process: posix_spawnp, no shell (the
// arguments are passed as they are), `input` written to its stdin while its stdout is read,
// stderr to /dev/null, in a process group of its own so a timeout kills every stage of a
// pipeline the program runs. Blocks up to the deadline: call it from a worker pool, never from
// an I/O thread.
//
// Errors: unavailable ("<program> could not be started", "<program> took too long" (the
// deadline passed, or more than max_output bytes came out), "<program> failed" (a non-zero
// exit)).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "core/result.h"

namespace parley::process {

struct RunOptions {
  std::chrono::steady_clock::time_point deadline;
  std::size_t max_output = 1 << 20;
};

// args[0] is looked up in PATH. Returns everything the program wrote to stdout.
Result<std::string> run(const std::vector<std::string>& args, const std::string& input,
                        const RunOptions& options);

}  // namespace parley::process
