#include "adapters/pocketsphinx/pocketsphinx_transcriber.h"

#include <pocketsphinx.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <vector>

#include "core/subprocess.h"

namespace parley::pocketsphinx {
namespace {

constexpr int kRate = 16'000;

struct DecoderFree {
  void operator()(ps_decoder_t* d) const { ps_free(d); }
};
using Decoder = std::unique_ptr<ps_decoder_t, DecoderFree>;

class PocketSphinxTranscriber final : public ai::Transcriber {
 public:
  explicit PocketSphinxTranscriber(PocketSphinxOptions o) : opts_(std::move(o)) {}

  std::string name() const override { return "pocketsphinx"; }
  std::vector<std::string> languages() const override { return {"en"}; }

  Result<ai::Transcript> transcribe(const std::string& audio, const std::string& content_type,
                                    ai::Deadline deadline) override {
    (void)content_type;  // ffmpeg tells the container from the bytes
    if (audio.empty()) return fail(Errc::invalid_argument, "the audio is empty", "audio");
    const std::size_t max_bytes = static_cast<std::size_t>(opts_.max_seconds) * kRate * 2;
    auto pcm = process::run({opts_.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
                             "-i", "pipe:0", "-vn", "-ac", "1", "-ar", std::to_string(kRate),
                             "-f", "s16le", "-acodec", "pcm_s16le", "pipe:1"},
                            audio, {deadline, max_bytes + 1});
    if (!pcm) {
      if (pcm.error().message.find("failed") != std::string::npos)
        return fail(Errc::invalid_argument, "the file is not audio ffmpeg can decode", "audio");
      if (pcm.error().message.find("took too long") != std::string::npos &&
          std::chrono::steady_clock::now() < deadline)
        return fail(Errc::invalid_argument,
                    "the recording is longer than " + std::to_string(opts_.max_seconds) + " s",
                    "audio");
      return fail(pcm.error());
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return fail(Errc::unavailable, "speech-to-text took too long");
    auto decoder = take();
    if (!decoder) return fail(decoder.error());
    ps_decoder_t* ps = decoder->get();
    std::string text;
    if (ps_start_utt(ps) < 0) return fail(Errc::unavailable, "pocketsphinx could not start");
    const auto* samples = reinterpret_cast<const int16*>(pcm->data());
    const std::size_t count = pcm->size() / 2;
    // The whole recording in one call as a full utterance: cepstral mean normalisation is then
    // computed over all of it, rather than adapted live from the first frames (which a codec's
    // start, such as Opus's pre-skip, throws off). The recording is bounded by max_seconds.
    ps_process_raw(ps, samples, count, FALSE, TRUE);
    const bool late = std::chrono::steady_clock::now() >= deadline;
    ps_end_utt(ps);
    if (!late) {
      int32 score = 0;
      if (const char* hyp = ps_get_hyp(ps, &score)) text = hyp;
    }
    give_back(std::move(*decoder));
    if (late) return fail(Errc::unavailable, "speech-to-text took too long");
    return ai::Transcript{text, "en"};
  }

 private:
  Result<Decoder> take() {
    {
      std::lock_guard lock(mu_);
      if (!free_.empty()) {
        Decoder d = std::move(free_.back());
        free_.pop_back();
        return d;
      }
    }
    if (!model_installed(opts_))
      return fail(Errc::unavailable, "the PocketSphinx en-us model is not installed");
    const std::string hmm = opts_.model_dir + "/en-us";
    const std::string lm = opts_.model_dir + "/en-us.lm.bin";
    const std::string dict = opts_.model_dir + "/cmudict-en-us.dict";
    cmd_ln_t* config =
        cmd_ln_init(nullptr, ps_args(), TRUE, "-hmm", hmm.c_str(), "-lm", lm.c_str(), "-dict",
                    dict.c_str(), "-logfn", "/dev/null", "-samprate", "16000", nullptr);
    if (!config) return fail(Errc::unavailable, "pocketsphinx rejected its configuration");
    ps_decoder_t* ps = ps_init(config);
    cmd_ln_free_r(config);  // the decoder holds its own reference
    if (!ps) return fail(Errc::unavailable, "pocketsphinx could not load its model");
    return Decoder(ps);
  }

  void give_back(Decoder d) {
    std::lock_guard lock(mu_);
    if (free_.size() < kMaxIdle) free_.push_back(std::move(d));
  }

  static constexpr std::size_t kMaxIdle = 4;
  PocketSphinxOptions opts_;
  std::mutex mu_;
  std::vector<Decoder> free_;
};

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::string w;
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '\'') {
      w += static_cast<char>(std::tolower(c));
    } else if (!w.empty()) {
      out.push_back(std::move(w));
      w.clear();
    }
  }
  if (!w.empty()) out.push_back(std::move(w));
  return out;
}

}  // namespace

bool model_installed(const PocketSphinxOptions& o) {
  std::error_code ec;
  return std::filesystem::exists(o.model_dir + "/en-us/mdef", ec) &&
         std::filesystem::exists(o.model_dir + "/en-us.lm.bin", ec) &&
         std::filesystem::exists(o.model_dir + "/cmudict-en-us.dict", ec);
}

std::unique_ptr<ai::Transcriber> make_pocketsphinx_transcriber(PocketSphinxOptions options) {
  return std::make_unique<PocketSphinxTranscriber>(std::move(options));
}

double word_error_rate(const std::string& reference, const std::string& hypothesis) {
  auto r = words(reference), h = words(hypothesis);
  if (r.empty()) return h.empty() ? 0.0 : 1.0;
  std::vector<std::size_t> prev(h.size() + 1), cur(h.size() + 1);
  for (std::size_t j = 0; j <= h.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= r.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= h.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r[i - 1] == h[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return static_cast<double>(prev[h.size()]) / static_cast<double>(r.size());
}

}  // namespace parley::pocketsphinx
