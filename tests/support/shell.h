// Shell commands for the integration tests and the benchmarks (the scripts/*.sh that start
// PostgreSQL, Redis and nginx, psql, perf): run through /bin/sh on a support::Process, waited
// for, their output captured. Blocking; callable from any thread. Nothing throws.
#pragma once

#include <string>
#include <string_view>

#include "support/process.h"

namespace parley::support {

// s in single quotes, for a shell command line.
std::string sh_quote(const std::string& s);

struct ShellRun {
  int status = -1;  // exit status; -1 when it did not exit normally (or could not start)
  std::string out;  // what it wrote to stdout (and stderr, unless that was passed through)
  // The last line of the output that starts with prefix ("" when none), trailing CR and
  // spaces taken off.
  std::string line_starting(std::string_view prefix) const;
};

// Runs `sh -c cmd` with this process's whole environment and waits for it. `err`: capture
// mixes stderr into out; inherit lets it reach this process's stderr. The child keeps none of
// this process's other descriptors: a daemon the script starts (redis-server) would otherwise
// hold this process's sockets open for its whole life.
ShellRun run_shell(const std::string& cmd, Stream err = Stream::capture);

}  // namespace parley::support
