// One launcher for the child processes of the integration tests and the benchmarks: the real
// `parley serve` (port 0, a throw-away data folder, parent-death signal), and the helpers the
// tests start besides it (redis-server, perf, scripts through sh). The itest harness's and the
// bench's ServerProcess are thin wrappers that add their flags and their way of reporting.
//
// A Process starts a program with an argv and an environment (this process's, PARLEY_TEST_*
// left out unless asked), reads what it writes to a pipe on a reader thread, finds the port of
// the server's "listening" log line, signals the child and waits for it.
//
// Threads: start(), signal(), wait() and stop() belong to the thread that owns the Process; the
// output accessors (output(), tail(), port(), wait_for_*) may be called from any thread, also
// while the reader appends. PR_SET_PDEATHSIG fires when the *thread* that forked the child ends,
// not the process: start servers from a thread that outlives them.
//
// Ownership: the Process owns the child; destroying it SIGKILLs and reaps a child still running.
// The output is kept across starts (a restarted server's log follows the first one's).
//
// Errors are values: start() returns why it could not fork; a program that cannot be executed
// exits with status 127 after writing why to its stderr. Nothing here throws.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace parley::support {

// Where one of the child's standard streams goes.
enum class Stream {
  capture,  // into the pipe this Process reads (output(), the port, on_line)
  null,     // /dev/null
  inherit,  // this process's own
};

struct LaunchOptions {
  // argv[0] is the program: a path, or a name looked up on PATH when it holds no '/'.
  std::vector<std::string> argv;
  // NAME=VALUE entries added after this process's environment.
  std::vector<std::string> env;
  // Leave PARLEY_TEST_* out of the child's environment: `make test` exports them for the tests
  // themselves, and the server refuses unknown PARLEY_* variables.
  bool drop_test_env = true;
  // Sent to the child when the thread that started it ends (PR_SET_PDEATHSIG); 0: none.
  int death_signal = SIGKILL;
  Stream out = Stream::capture;
  Stream err = Stream::capture;
  bool stdin_null = false;  // otherwise inherited
  // Raise the child's soft RLIMIT_NOFILE to its hard limit (the bench's many sockets).
  bool raise_fd_limit = false;
  // Close every descriptor above 2 in the child: a daemon a script starts would otherwise hold
  // this process's sockets (asio's are not close-on-exec) open for its whole life.
  bool close_other_fds = false;
  // Called on the reader thread with each complete line of captured output (no newline).
  std::function<void(std::string_view line)> on_line;
  // Keep at most this many bytes of output (the newest); 0: all of it.
  std::size_t keep_bytes = 0;
};

// The port of the first "listening" log line in text, in text form ("... listening
// address=... port=N ...") or as a JSON line ("message":"listening",..."port":N); nullopt when
// there is none, or its line is not whole yet.
std::optional<std::uint16_t> listening_port(std::string_view text);

class Process {
 public:
  Process() = default;
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Starts the program; "" on success, otherwise why not (pipe or fork failed, already running).
  std::string start(LaunchOptions options);

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  void signal(int sig) const;
  // Waits up to `timeout` (one look when it is 0) for the child to exit, reaps it and the reader
  // thread; its wait status, or nullopt while it still runs or when none was running.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // Waits as long as it takes.
  std::optional<int> wait();
  // SIGTERM, then SIGKILL after `grace`; the wait status, or nullopt when none was running.
  // *killed tells whether it took the SIGKILL.
  std::optional<int> stop(std::chrono::milliseconds grace, bool* killed = nullptr);

  // The port of this start's "listening" line once it has come; waits up to `timeout` and
  // gives up early when the child closes its output (exited).
  std::optional<std::uint16_t> wait_for_port(std::chrono::milliseconds timeout) const;
  std::uint16_t port() const;  // 0 until then
  // Everything captured so far across starts (the newest keep_bytes when set), and its size.
  std::string output() const;
  std::size_t output_size() const;
  // Whether the child has closed its end of the pipe (it exited, or is about to).
  bool output_ended() const;
  // The captured output from `offset` (an earlier output_size()) on.
  std::string output_since(std::size_t offset) const;
  // The last n lines of the captured output.
  std::vector<std::string> tail(std::size_t n) const;
  // Waits until the output contains needle; false at the timeout or once the output ends.
  bool wait_for_output(std::string_view needle, std::chrono::milliseconds timeout) const;

 private:
  void read_loop(int fd);
  void take_line(std::string_view line);
  void join_reader();

  pid_t pid_ = -1;
  std::thread reader_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::string output_;
  std::size_t dropped_ = 0;  // bytes of output no longer kept (keep_bytes)
  std::size_t keep_bytes_ = 0;
  std::function<void(std::string_view)> on_line_;
  std::uint16_t port_ = 0;
  bool eof_ = true;
};

}  // namespace parley::support
