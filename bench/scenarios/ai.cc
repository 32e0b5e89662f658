// The AI scenarios of parley_bench: translations per second (Apertium through the real server),
// sentiment scores per second (the VADER scorer in process, and through the API), and the
// latency of smart replies (GET /conversations/{id}/smart-replies), and speech-to-text's
// real-time factor (PocketSphinx in process on espeak-ng speech, ffmpeg's decode included). Each starts a server of its
// own with the AI quotas lifted; distinct texts defeat the gateway's cache, so every
// translation runs Apertium.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "adapters/pocketsphinx/pocketsphinx_transcriber.h"
#include "core/subprocess.h"
#include "modules/ai/sentiment.h"

namespace parley::bench {
namespace {

constexpr const char* kLiftedQuotas = "user=1000000/1ms,server=1000000/1ms";

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// A server of its own with two users, a channel between them, and their tokens.
struct AiServer {
  ServerProcess server;
  tcp::endpoint ep;
  std::string a, b, conv;
  std::string error;

  explicit AiServer(const BenchContext& ctx, const std::string& name) {
    const std::string dir = ctx.tmp_dir + "/ai-" + name;
    if (!server.start(*ctx.opt, dir, {"--ai-quotas", kLiftedQuotas})) {
      error = "server did not start";
      return;
    }
    ep = tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port());
    for (auto* token : {&a, &b}) {
      static std::atomic<int> n{0};
      auto r = http_call(ep, "POST", "/api/v1/auth/register", "",
                         R"({"username":"aibench)" + std::to_string(n++) +
                             R"(","password":"correct horse battery"})");
      if (!r.ok()) {
        error = "register: " + r.describe();
        return;
      }
      *token = json_at(r.body, {"access_token"});
    }
    auto c = http_call(ep, "POST", "/api/v1/conversations", a,
                       R"({"type":"channel","name":"bench-ai","visibility":"public"})");
    if (!c.ok()) {
      error = "channel: " + c.describe();
      return;
    }
    conv = json_at(c.body, {"id"});
    if (auto j = http_call(ep, "POST", "/api/v1/conversations/" + conv + "/join", b, "{}"); !j.ok())
      error = "join: " + j.describe();
  }

  Reply send(const std::string& token, const std::string& text) {
    static std::atomic<int> n{0};
    return http_call(ep, "POST", "/api/v1/conversations/" + conv + "/messages", token,
                     "{\"text\":" + json_string(text) + ",\"client_msg_id\":\"bench-" +
                         std::to_string(n++) + "\"}");
  }
};

const char* kSentences[] = {
    "The meeting is moved to Thursday afternoon because the report is not ready.",
    "Please send me the new version of the document before lunch.",
    "I think we should deploy the release tonight after the tests pass.",
    "Thanks everyone for the great work this week, the customers are happy.",
    "The database migration failed again and the build is broken.",
    "Can we talk about the budget for next year tomorrow morning?",
};

void run_translate(const BenchContext& ctx) {
  AiServer s(ctx, "translate");
  if (!s.error.empty()) return fail(ctx, "translate", s.error);
  // Distinct messages (a number in each), so the cache never answers.
  const unsigned clients = std::max(2u, ctx.cores);
  const unsigned per_client = 8;
  std::vector<std::string> ids;
  for (unsigned i = 0; i < clients * per_client; ++i) {
    auto r = s.send(s.a, std::string(kSentences[i % 6]) + " Ticket " + std::to_string(i) + ".");
    if (!r.ok()) return fail(ctx, "translate", "send: " + r.describe());
    ids.push_back(json_at(r.body, {"id"}));
  }
  std::atomic<unsigned> done{0}, failed{0};
  std::string first_error;
  std::mutex mu;
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (unsigned c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      for (unsigned i = 0; i < per_client; ++i) {
        auto r = http_call(s.ep, "POST", "/api/v1/messages/" + ids[c * per_client + i] + "/translate",
                           s.b, R"({"to":"es"})");
        if (r.ok()) {
          ++done;
        } else {
          ++failed;
          std::lock_guard lock(mu);
          if (first_error.empty()) first_error = r.describe();
        }
      }
    });
  for (auto& t : threads) t.join();
  const double secs = seconds_since(t0);
  if (failed) return fail(ctx, "translate", std::to_string(failed.load()) + " failed: " + first_error);
  report(ctx, "translations/s (Apertium en-es through POST /messages/{id}/translate, " +
                  std::to_string(clients) + " clients, " + std::to_string(done.load()) +
                  " distinct short messages): " + fmt("%.1f", done / secs) + " (mean " +
                  fmt("%.0f ms", 1000 * secs * clients / std::max(1u, done.load())) +
                  " per translation)");
}

void run_sentiment(const BenchContext& ctx) {
  // The scorer itself, one thread.
  ai::VaderScorer vader;
  const int n = 200'000;
  double sink = 0;
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) sink += vader.score(kSentences[i % 6]).compound;
  const double secs = seconds_since(t0);
  report(ctx, "sentiment scores/s (VADER scorer in process, one thread, 11-14 word messages): " +
                  fmt("%.0f", n / secs) + (sink == 0 ? " (?)" : ""));
  // Through the API: the HTTP round trip, authentication and the quota check included.
  AiServer s(ctx, "sentiment");
  if (!s.error.empty()) return fail(ctx, "sentiment", s.error);
  const int m = 500;
  t0 = Clock::now();
  for (int i = 0; i < m; ++i) {
    auto r = http_call(s.ep, "POST", "/api/v1/ai/sentiment", s.a,
                       std::string("{\"text\":") + json_string(kSentences[i % 6]) + "}");
    if (!r.ok()) return fail(ctx, "sentiment", r.describe());
  }
  report(ctx, "sentiment scores/s through POST /api/v1/ai/sentiment (one client, a connection per "
              "request): " + fmt("%.0f", m / seconds_since(t0)));
}

void run_smart_replies(const BenchContext& ctx) {
  AiServer s(ctx, "replies");
  if (!s.error.empty()) return fail(ctx, "smartreplies", s.error);
  std::vector<double> ms;
  const char* prompts[] = {"Can we meet tomorrow at 3pm?", "Thanks a lot for the help!",
                           "Where is the design doc?", "Is the build green?"};
  for (int i = 0; i < 200; ++i) {
    // A new message each time: the answer is computed, not cached.
    if (auto r = s.send(s.a, std::string(prompts[i % 4]) + " (" + std::to_string(i) + ")"); !r.ok())
      return fail(ctx, "smartreplies", "send: " + r.describe());
    auto t0 = Clock::now();
    auto r = http_call(s.ep, "GET", "/api/v1/conversations/" + s.conv + "/smart-replies", s.b, "");
    ms.push_back(1000 * seconds_since(t0));
    if (!r.ok()) return fail(ctx, "smartreplies", r.describe());
  }
  std::sort(ms.begin(), ms.end());
  report(ctx, "smart-reply latency (GET /conversations/{id}/smart-replies after each new message, "
              "200 requests): p50 " + fmt("%.2f ms", ms[ms.size() / 2]) + ", p99 " +
                  fmt("%.2f ms", ms[ms.size() * 99 / 100]) + ", max " + fmt("%.2f ms", ms.back()));
}

void run_transcribe(const BenchContext& ctx) {
  if (!pocketsphinx::model_installed())
    return fail(ctx, "transcribe", "the pocketsphinx-en-us model is not installed");
  const std::vector<std::string> sentences = {
      "please send the report to the team before the meeting tomorrow",
      "the meeting is moved to friday afternoon",
      "thank you for the update",
      "can you call me back later today",
  };
  auto engine = pocketsphinx::make_pocketsphinx_transcriber();
  const auto deadline = [] { return Clock::now() + std::chrono::minutes(5); };
  std::vector<std::string> wavs;
  for (const auto& s : sentences) {
    auto wav = process::run({"espeak-ng", "-v", "en-us+f2", "-s", "150", "--stdout", s}, "",
                            {deadline(), 64 << 20});
    if (!wav) return fail(ctx, "transcribe", "espeak-ng: " + wav.error().message);
    wavs.push_back(std::move(*wav));
  }
  // The first call loads the model; reported apart.
  auto t0 = Clock::now();
  if (auto r = engine->transcribe(wavs[0], "audio/wav", deadline()); !r)
    return fail(ctx, "transcribe", r.error().message);
  const double first = seconds_since(t0);
  double audio_s = 0, busy_s = 0, wer = 0;
  for (int round = 0; round < 2; ++round)
    for (std::size_t i = 0; i < wavs.size(); ++i) {
      // espeak-ng's WAV: 22050 Hz mono 16-bit after a 44-byte header.
      audio_s += static_cast<double>(wavs[i].size() - 44) / (22'050 * 2);
      t0 = Clock::now();
      auto r = engine->transcribe(wavs[i], "audio/wav", deadline());
      busy_s += seconds_since(t0);
      if (!r) return fail(ctx, "transcribe", r.error().message);
      if (round == 0) wer += pocketsphinx::word_error_rate(sentences[i], r->text);
    }
  report(ctx, "speech-to-text real-time factor (PocketSphinx en-us, one thread, ffmpeg decode "
              "included, " + fmt("%.1f s", audio_s) + " of espeak-ng speech): " +
                  fmt("%.3f", busy_s / audio_s) + " (first call with the model load " +
                  fmt("%.1f s", first) + "; mean WER " +
                  fmt("%.2f", wer / static_cast<double>(sentences.size())) + ")");
}

}  // namespace

const std::vector<Scenario>& ai_scenarios() {
  static const std::vector<Scenario> kTable = {
      {"translate", "translations/s: Apertium en-es through the API, distinct messages",
       run_translate},
      {"sentiment", "sentiment scores/s: the VADER scorer in process and through the API",
       run_sentiment},
      {"smartreplies", "smart-reply latency: p50/p99 of GET /conversations/{id}/smart-replies",
       run_smart_replies},
      {"transcribe", "speech-to-text real-time factor: PocketSphinx on espeak-ng speech",
       run_transcribe},
  };
  return kTable;
}

}  // namespace parley::bench
