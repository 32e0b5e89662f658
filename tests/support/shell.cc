#include "support/shell.h"

#include <sys/wait.h>

namespace parley::support {

std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string ShellRun::line_starting(std::string_view prefix) const {
  std::string found;
  std::size_t at = 0;
  while (at < out.size()) {
    auto eol = out.find('\n', at);
    if (eol == std::string::npos) eol = out.size();
    std::string_view line(out.data() + at, eol - at);
    if (line.substr(0, prefix.size()) == prefix) found = std::string(line);
    at = eol + 1;
  }
  while (!found.empty() && (found.back() == '\r' || found.back() == ' ')) found.pop_back();
  return found;
}

ShellRun run_shell(const std::string& cmd, Stream err) {
  ShellRun r;
  Process sh;
  LaunchOptions o;
  o.argv = {"/bin/sh", "-c", cmd};
  o.drop_test_env = false;  // scripts and psql see what the caller sees
  o.death_signal = 0;       // a script's daemons outlive it by design
  o.err = err;
  o.close_other_fds = true;
  if (!sh.start(std::move(o)).empty()) return r;
  auto st = sh.wait();
  r.out = sh.output();
  if (st && WIFEXITED(*st)) r.status = WEXITSTATUS(*st);
  return r;
}

}  // namespace parley::support
