#include "adapters/apertium/apertium_translator.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <map>

extern char** environ;

namespace parley::apertium {
namespace {

// Apertium names languages by ISO 639-3 in newer pairs (eng-spa) and 639-1 in older ones.
std::string iso1(const std::string& code) {
  static const std::map<std::string, std::string> three = {
      {"eng", "en"}, {"spa", "es"}, {"cat", "ca"}, {"fra", "fr"}, {"por", "pt"},
      {"glg", "gl"}, {"ita", "it"}, {"deu", "de"}, {"oci", "oc"}, {"eus", "eu"},
      {"nld", "nl"}, {"ron", "ro"}, {"arg", "an"}, {"ast", "ast"}, {"epo", "eo"}};
  if (code.size() == 2) return code;
  auto it = three.find(code);
  return it == three.end() ? "" : it->second;
}

constexpr std::size_t kMaxOutput = 1 << 20;

class ApertiumTranslator final : public ai::Translator {
 public:
  explicit ApertiumTranslator(ApertiumOptions o) : opts_(std::move(o)) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(opts_.modes_dir, ec)) {
      const auto file = entry.path().filename().string();
      if (entry.path().extension() != ".mode") continue;
      const auto mode = file.substr(0, file.size() - 5);
      if (mode.find('_') != std::string::npos) continue;  // a variant (eng-cat_valencia)
      auto dash = mode.find('-');
      if (dash == std::string::npos || mode.find('-', dash + 1) != std::string::npos) continue;
      auto from = iso1(mode.substr(0, dash));
      auto to = iso1(mode.substr(dash + 1));
      if (from.empty() || to.empty()) continue;
      ai::LanguagePair p{from, to};
      if (!modes_.count(p.code())) {
        modes_[p.code()] = mode;
        pairs_.push_back(p);
      }
    }
    std::sort(pairs_.begin(), pairs_.end(),
              [](const auto& a, const auto& b) { return a.code() < b.code(); });
  }

  std::string name() const override { return "apertium"; }
  std::vector<ai::LanguagePair> pairs() const override { return pairs_; }

  Result<std::string> translate(const std::string& text, const ai::LanguagePair& pair,
                                ai::Deadline deadline) override {
    auto it = modes_.find(pair.code());
    if (it == modes_.end())
      return fail(Errc::invalid_argument, "the pair " + pair.code() + " is not installed", "to");
    return run({opts_.program, "-u", it->second}, text, deadline);
  }

 private:
  // Runs argv with input on stdin; its stdout, or unavailable. No shell: the arguments are ours.
  static Result<std::string> run(const std::vector<std::string>& args, const std::string& input,
                                 ai::Deadline deadline) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return fail(Errc::unavailable, "pipe failed");
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      return fail(Errc::unavailable, "pipe failed");
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    // Its own process group: `apertium` is a script running a pipeline, and a timeout must
    // kill every stage of it.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(in[0]);
    ::close(out[1]);
    if (rc != 0) {
      ::close(in[1]);
      ::close(out[0]);
      return fail(Errc::unavailable, "apertium could not be started");
    }
    ::fcntl(in[1], F_SETFL, O_NONBLOCK);
    ::fcntl(out[0], F_SETFL, O_NONBLOCK);
    std::string result;
    std::size_t written = 0;
    int to_child = in[1];
    if (input.empty()) {
      ::close(to_child);
      to_child = -1;
    }
    bool timed_out = false, eof = false;
    while (!eof) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      pollfd fds[2] = {{out[0], POLLIN, 0}, {to_child, POLLOUT, 0}};
      int n = ::poll(fds, to_child >= 0 ? 2 : 1, static_cast<int>(std::min<long long>(left, 1000)));
      if (n < 0 && errno != EINTR) break;
      if (to_child >= 0 && (fds[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
        ssize_t w = ::write(to_child, input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if (w < 0 && errno != EAGAIN) written = input.size();
        if (written >= input.size()) {
          ::close(to_child);
          to_child = -1;
        }
      }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[8192];
        ssize_t r = ::read(out[0], buf, sizeof buf);
        if (r > 0) {
          result.append(buf, static_cast<std::size_t>(r));
          if (result.size() > kMaxOutput) {
            timed_out = true;  // runaway output: treated like a hang
            break;
          }
        } else if (r == 0 || errno != EAGAIN) {
          eof = true;
        }
      }
    }
    if (to_child >= 0) ::close(to_child);
    ::close(out[0]);
    if (timed_out) ::kill(-pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) return fail(Errc::unavailable, "apertium took too long");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return fail(Errc::unavailable, "apertium failed");
    // Apertium ends its output with the input's final newline, or adds none; keep the input's.
    while (!result.empty() && result.back() == '\n' && (input.empty() || input.back() != '\n'))
      result.pop_back();
    return result;
  }

  ApertiumOptions opts_;
  std::map<std::string, std::string> modes_;  // "en-es" -> "eng-spa"
  std::vector<ai::LanguagePair> pairs_;
};

}  // namespace

std::unique_ptr<ai::Translator> make_apertium_translator(ApertiumOptions options) {
  return std::make_unique<ApertiumTranslator>(std::move(options));
}

}  // namespace parley::apertium
