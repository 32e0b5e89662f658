// OpenAiEngine: an OpenAI-compatible chat-completions endpoint (OpenAI, or a self-hosted
// llama.cpp / vLLM / Ollama server) as an engine for chat completion, translation and smart
// replies. It POSTs {base_url}/v1/chat/completions with the model and the messages and reads
// choices[0].message.content.
//
// Every request goes through the outbound HttpFetcher (the SSRF-hardened client), so the
// endpoint's address must pass --outbound-allow when it is private or loopback. The engine
// exists only when the administrator configured it (--ai-openai-url); without it no message
// text ever leaves the machine. Thread-safe (holds only immutable options). Errors: unavailable
// (the endpoint failed, answered non-2xx, or answered something unreadable), invalid_argument
// (a language the engine was not told to serve).
#pragma once

#include <string>
#include <vector>

#include "modules/ai/engines.h"
#include "modules/outbound/outbound.h"

namespace parley::ai {

struct OpenAiOptions {
  std::string base_url;  // "https://api.openai.com" or "http://127.0.0.1:8080"
  std::string model;
  std::string api_key;  // sent as "Authorization: Bearer"; may be empty for local servers
  // Languages offered for translation (every pair between two of them).
  std::vector<std::string> languages = {"en", "es", "fr", "de", "it", "pt", "ca", "nl"};
  int max_tokens = 512;
};

class OpenAiEngine final : public Translator, public ReplySuggester, public ChatCompleter {
 public:
  OpenAiEngine(outbound::HttpFetcher& fetcher, OpenAiOptions options);
  std::string name() const override { return "openai"; }
  std::vector<LanguagePair> pairs() const override;
  Result<std::string> translate(const std::string& text, const LanguagePair& pair,
                                Deadline deadline) override;
  Result<std::vector<std::string>> suggest(const ReplyContext& context, int max,
                                           Deadline deadline) override;
  Result<std::string> complete(const std::vector<ChatTurn>& turns, Deadline deadline) override;

 private:
  outbound::HttpFetcher& fetcher_;
  OpenAiOptions opts_;
};

}  // namespace parley::ai
