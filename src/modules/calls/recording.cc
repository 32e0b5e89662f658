#include "modules/calls/recording.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <thread>
#include <vector>

extern char** environ;

namespace parley::calls {
namespace {

namespace fs = std::filesystem;

// Runs argv[0] (looked up in PATH) with argv, output discarded; its exit status, or -1 when it
// could not start or ran past the deadline (then it is killed).
int run(const std::vector<std::string>& args, std::chrono::seconds deadline) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    int status = 0;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (w < 0) return -1;
    if (std::chrono::steady_clock::now() > until) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

std::string grid_filter(std::size_t videos) {
  std::size_t cols = 1;
  while (cols * cols < videos) ++cols;
  std::string f, stack, layout;
  for (std::size_t i = 0; i < videos; ++i) {
    const std::string in = std::to_string(i);
    f += "[" + in + ":v]scale=" + std::to_string(kTileWidth) + ":" + std::to_string(kTileHeight) +
         ":force_original_aspect_ratio=decrease,pad=" + std::to_string(kTileWidth) + ":" +
         std::to_string(kTileHeight) + ":(ow-iw)/2:(oh-ih)/2,setsar=1[t" + in + "];";
    stack += "[t" + in + "]";
    if (i) layout += "|";
    layout += std::to_string((i % cols) * kTileWidth) + "_" + std::to_string((i / cols) * kTileHeight);
  }
  return f + stack + "xstack=inputs=" + std::to_string(videos) + ":layout=" + layout +
         ":fill=black[v]";
}

Result<std::string> render_recording(const std::string& dir, std::chrono::seconds settle) {
  std::error_code ec;
  // Janus writes NAME.mjr.tmp and renames it to NAME.mjr when the stream's recorder closes.
  std::vector<fs::path> audio, video;
  auto until = std::chrono::steady_clock::now() + settle;
  for (;;) {
    audio.clear();
    video.clear();
    bool writing = false;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      auto name = e.path().filename().string();
      if (name.ends_with(".tmp")) writing = true;
      if (!name.ends_with(".mjr")) continue;
      if (name.find("-audio-") != std::string::npos) audio.push_back(e.path());
      if (name.find("-video-") != std::string::npos) video.push_back(e.path());
    }
    if (ec) return fail(Errc::not_found, "no recordings in " + dir);
    if (!writing && (!audio.empty() || !video.empty())) break;
    if (std::chrono::steady_clock::now() > until)
      return fail(Errc::not_found, writing ? "Janus is still writing the recordings"
                                           : "no recordings in " + dir);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::sort(audio.begin(), audio.end());
  std::sort(video.begin(), video.end());
  // Each stream into a container ffmpeg reads: Opus audio, VP8/VP9 video in WebM.
  std::vector<std::string> inputs;
  auto convert = [&](const fs::path& mjr, const char* ext) -> Result<void> {
    std::string out = (mjr.parent_path() / mjr.stem()).string() + ext;
    if (run({"janus-pp-rec", mjr.string(), out}, std::chrono::seconds(120)) != 0 ||
        !fs::exists(out, ec))
      return fail(Errc::unavailable, "janus-pp-rec could not convert " + mjr.filename().string());
    inputs.push_back(out);
    return ok();
  };
  // At most a 3 x 3 grid: the first nine video streams (a call holds at most 16 publishers).
  if (video.size() > kMaxTiles) video.resize(kMaxTiles);
  for (const auto& v : video)
    if (auto r = convert(v, ".webm"); !r) return fail(r.error());
  const std::size_t videos = inputs.size();
  const std::size_t first_audio = inputs.size();
  for (const auto& a : audio)
    if (auto r = convert(a, ".opus"); !r) return fail(r.error());
  const std::size_t audios = inputs.size() - first_audio;
  std::string out = (fs::path(dir) / "call.webm").string();
  std::vector<std::string> args = {"ffmpeg", "-nostdin", "-y", "-loglevel", "error"};
  for (const auto& in : inputs) {
    args.push_back("-i");
    args.push_back(in);
  }
  std::string filters;
  if (audios > 1) {
    for (std::size_t i = 0; i < audios; ++i)
      filters += "[" + std::to_string(first_audio + i) + ":a]";
    filters += "amix=inputs=" + std::to_string(audios) + ":duration=longest[a]";
  }
  if (videos > 1) {
    if (!filters.empty()) filters += ";";
    filters += grid_filter(videos);
  }
  if (!filters.empty()) args.insert(args.end(), {"-filter_complex", filters});
  if (audios > 1)
    args.insert(args.end(), {"-map", "[a]"});
  else if (audios == 1)
    args.insert(args.end(), {"-map", std::to_string(first_audio) + ":a"});
  if (videos > 1)  // re-encoded: fast settings, the grid is for watching back, not archiving
    args.insert(args.end(), {"-map", "[v]", "-c:v", "libvpx", "-deadline", "realtime",
                             "-cpu-used", "8", "-b:v", "1500k"});
  else if (videos == 1)
    args.insert(args.end(), {"-map", "0:v", "-c:v", "copy"});
  if (audios) args.insert(args.end(), {"-c:a", "libopus"});
  args.push_back(out);
  if (run(args, std::chrono::seconds(300)) != 0 || !fs::exists(out, ec))
    return fail(Errc::unavailable, "ffmpeg could not mix the recording");
  // Rendered: a later recording of the same call (the same room folder) starts afresh. The raw
  // streams stay, renamed, for the operator; the intermediate files go.
  for (const auto* list : {&audio, &video})
    for (const auto& mjr : *list) fs::rename(mjr, fs::path(mjr.string() + ".done"), ec);
  for (const auto& in : inputs) fs::remove(in, ec);
  return out;
}

}  // namespace parley::calls
