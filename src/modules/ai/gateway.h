// AiGateway: the one way features reach an AI engine. It holds the engine chosen for each
// capability (engines.h), and runs every job on its own bounded pool, never on an I/O thread
// nor for longer than the time limit; it takes a token from the asking user's quota and from the
// server's before a job runs (resource_exhausted with retry_after_s when either is empty); it
// caches results by a hash of (capability, engine, parameters, text); and it records
// parley_ai_jobs_total{capability,engine,outcome} and parley_ai_job_duration_seconds{capability}.
//
// Blocking calls (translate, transcribe, suggest_replies, complete) wait on the calling thread: call them
// from worker threads. Thread-safe. stop() lets queued jobs finish and joins the pool.
//
// Errors: resource_exhausted (a quota), unavailable (no engine for the capability, the pool's
// queue is full, the time limit passed, the engine failed), invalid_argument from engines.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "modules/ai/engines.h"
#include "modules/ratelimit/rate_limiter.h"

namespace parley::ai {

// The engines behind the ports; null where a capability has none. Not owned.
struct EngineSet {
  Translator* translate = nullptr;
  LanguageDetector* detect = nullptr;
  Transcriber* transcribe = nullptr;
  ReplySuggester* replies = nullptr;
  SentimentScorer* sentiment = nullptr;
  ChatCompleter* chat = nullptr;
};

struct GatewayOptions {
  std::size_t threads = 2;
  std::size_t max_queued = 256;
  std::chrono::milliseconds timeout{15'000};
  // Speech-to-text decodes whole recordings (PocketSphinx runs at a fraction of real time).
  std::chrono::milliseconds transcribe_timeout{120'000};
  ratelimit::Policy per_user{20, 3'000};   // 20 at once, then one every 3 s
  ratelimit::Policy per_server{200, 100};  // 200 at once, then ten a second
  std::size_t cache_entries = 4096;
};

class AiGateway {
 public:
  AiGateway(EngineSet engines, ratelimit::RateLimiter& limiter, GatewayOptions options = {});
  ~AiGateway();
  AiGateway(const AiGateway&) = delete;
  AiGateway& operator=(const AiGateway&) = delete;

  const EngineSet& engines() const { return engines_; }

  // Takes one token from the user's and the server's AI quotas (for work that does not go
  // through a job, such as scoring a text the caller sent).
  Result<void> take_quota(const std::string& user_id);

  Result<std::string> translate(const std::string& user_id, const std::string& text,
                                const LanguagePair& pair);
  // Speech-to-text of a recording (the file's bytes); user_id "" for the server's own work (no
  // quota).
  Result<Transcript> transcribe(const std::string& user_id, const std::string& audio,
                                const std::string& content_type);
  Result<std::vector<std::string>> suggest_replies(const std::string& user_id,
                                                   const ReplyContext& context, int max);
  Result<std::string> complete(const std::string& user_id, const std::vector<ChatTurn>& turns);

  // Work the server does by itself (scoring new messages, the assistant's answers): queued on
  // a small pool of its own (such work may wait on jobs), without a quota; false when its
  // queue is full (the work is dropped).
  bool submit_background(std::function<void()> task);

  void stop();

 private:
  struct Impl;
  EngineSet engines_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::ai
