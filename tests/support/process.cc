#include "support/process.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace parley::support {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// Only async-signal-safe calls between fork and exec: write(2), not stdio.
void child_say(const char* a, const char* b, const char* c) {
  for (const char* s : {a, b, c, "\n"}) {
    std::size_t n = 0;
    while (s[n]) ++n;
    [[maybe_unused]] ssize_t w = ::write(2, s, n);
  }
}

}  // namespace

std::optional<std::uint16_t> listening_port(std::string_view out) {
  auto at = std::min(out.find(" listening "), out.find("\"message\":\"listening\""));
  if (at == std::string_view::npos) return std::nullopt;
  auto eol = out.find('\n', at);
  if (eol == std::string_view::npos) return std::nullopt;  // not whole yet
  auto p = out.find(" port=", at);
  std::size_t skip = 6;
  if (p == std::string_view::npos || p > eol) {
    p = out.find("\"port\":", at);
    skip = 7;
  }
  if (p == std::string_view::npos || p > eol) return std::nullopt;
  p += skip;
  unsigned v = 0;
  std::size_t digits = 0;
  while (p < eol && out[p] >= '0' && out[p] <= '9' && digits < 6) {
    v = v * 10 + static_cast<unsigned>(out[p++] - '0');
    ++digits;
  }
  if (digits == 0 || v == 0 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

Process::~Process() {
  if (running()) {
    signal(SIGKILL);
    wait();
  }
  join_reader();
}

std::string Process::start(LaunchOptions o) {
  if (running()) return "already running";
  if (o.argv.empty()) return "no program to run";
  join_reader();  // a reader left from a start whose child was never waited for
  std::vector<char*> argv;
  for (auto& a : o.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; e && *e; ++e)
    if (!o.drop_test_env || std::string_view(*e).rfind("PARLEY_TEST_", 0) != 0) envp.push_back(*e);
  for (auto& e : o.env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const bool search_path = o.argv[0].find('/') == std::string::npos;
  const bool capture = o.out == Stream::capture || o.err == Stream::capture;

  int fds[2] = {-1, -1};
  if (capture && ::pipe2(fds, O_CLOEXEC) != 0) return std::string("pipe2: ") + std::strerror(errno);
  {
    std::lock_guard lock(mu_);
    port_ = 0;
    eof_ = !capture;
    keep_bytes_ = o.keep_bytes;
    on_line_ = std::move(o.on_line);
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    if (capture) {
      ::close(fds[0]);
      ::close(fds[1]);
    }
    std::lock_guard lock(mu_);
    eof_ = true;
    return std::string("fork: ") + std::strerror(e);
  }
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    if (o.death_signal != 0) {
      ::prctl(PR_SET_PDEATHSIG, o.death_signal);
      if (::getppid() != parent) ::_exit(126);  // the parent is already gone
    }
    if (o.raise_fd_limit) {
      rlimit rl{};
      if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
      }
    }
    int devnull = -1;
    if (o.stdin_null || o.out == Stream::null || o.err == Stream::null)
      devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (o.stdin_null && devnull >= 0) ::dup2(devnull, 0);
    // stderr first, so that a failed exec of a stdout-only capture still says why on our stderr.
    if (o.err == Stream::capture) ::dup2(fds[1], 2);
    if (o.err == Stream::null && devnull >= 0) ::dup2(devnull, 2);
    if (o.out == Stream::capture) ::dup2(fds[1], 1);
    if (o.out == Stream::null && devnull >= 0) ::dup2(devnull, 1);
    if (o.close_other_fds && ::syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
      for (int fd = 3; fd < 65536; ++fd) ::close(fd);
    if (search_path)
      ::execvpe(argv[0], argv.data(), envp.data());
    else
      ::execve(argv[0], argv.data(), envp.data());
    child_say("exec ", argv[0], " failed");
    ::_exit(127);
  }
  pid_ = pid;
  if (capture) {
    ::close(fds[1]);
    reader_ = std::thread([this, fd = fds[0]] { read_loop(fd); });
  }
  return {};
}

void Process::read_loop(int fd) {
  std::string pending;  // the line not yet ended
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::string_view got(buf, static_cast<std::size_t>(n));
    pending.append(got);
    std::size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      take_line(std::string_view(pending).substr(0, nl));
      pending.erase(0, nl + 1);
    }
    if (pending.size() > 65536) pending.clear();  // no newline in 64 KiB: not a log line
    std::lock_guard lock(mu_);
    output_.append(got);
    if (keep_bytes_ != 0 && output_.size() > keep_bytes_) {
      std::size_t drop = output_.size() - keep_bytes_;
      output_.erase(0, drop);
      dropped_ += drop;
    }
    cv_.notify_all();
  }
  if (!pending.empty()) take_line(pending);
  ::close(fd);
  std::lock_guard lock(mu_);
  eof_ = true;
  cv_.notify_all();
}

void Process::take_line(std::string_view line) {
  std::function<void(std::string_view)> on_line;
  {
    std::lock_guard lock(mu_);
    if (port_ == 0) {
      std::string whole(line);
      whole += '\n';
      if (auto p = listening_port(whole)) port_ = *p;
    }
    on_line = on_line_;
  }
  if (on_line) on_line(line);
}

void Process::signal(int sig) const {
  if (running()) ::kill(pid_, sig);
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  if (!running()) return std::nullopt;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      join_reader();
      return st;
    }
    if (r < 0 && errno != EINTR) {  // not our child any more: nothing to wait for
      pid_ = -1;
      join_reader();
      return std::nullopt;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

std::optional<int> Process::wait() {
  if (!running()) return std::nullopt;
  int st = 0;
  pid_t r;
  while ((r = ::waitpid(pid_, &st, 0)) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  join_reader();
  if (r < 0) return std::nullopt;
  return st;
}

std::optional<int> Process::stop(std::chrono::milliseconds grace, bool* killed) {
  if (killed) *killed = false;
  if (!running()) return std::nullopt;
  signal(SIGTERM);
  if (auto st = wait(grace)) return st;
  if (!running()) return std::nullopt;
  signal(SIGKILL);
  if (killed) *killed = true;
  return wait();
}

void Process::join_reader() {
  if (reader_.joinable()) reader_.join();
}

std::optional<std::uint16_t> Process::wait_for_port(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return port_ != 0 || eof_; });
  if (port_ == 0) return std::nullopt;
  return port_;
}

std::uint16_t Process::port() const {
  std::lock_guard lock(mu_);
  return port_;
}

std::string Process::output() const {
  std::lock_guard lock(mu_);
  return output_;
}

std::size_t Process::output_size() const {
  std::lock_guard lock(mu_);
  return dropped_ + output_.size();
}

bool Process::output_ended() const {
  std::lock_guard lock(mu_);
  return eof_;
}

std::string Process::output_since(std::size_t offset) const {
  std::lock_guard lock(mu_);
  if (offset <= dropped_) return output_;
  return output_.substr(std::min(offset - dropped_, output_.size()));
}

std::vector<std::string> Process::tail(std::size_t n) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> lines;
  std::size_t end = output_.size();
  if (end > 0 && output_[end - 1] == '\n') --end;
  while (lines.size() < n && end > 0) {
    auto nl = output_.rfind('\n', end - 1);
    std::size_t begin = nl == std::string::npos ? 0 : nl + 1;
    lines.emplace_back(output_, begin, end - begin);
    if (nl == std::string::npos) break;
    end = nl;
  }
  return {lines.rbegin(), lines.rend()};
}

bool Process::wait_for_output(std::string_view needle, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    return output_.find(needle) != std::string::npos || eof_;
  }) && output_.find(needle) != std::string::npos;
}

}  // namespace parley::support
