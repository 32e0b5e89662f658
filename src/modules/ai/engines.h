// AI engines: one port per capability (translate, detect language, transcribe, suggest replies,
// score sentiment, complete a chat). The gateway (gateway.h) chooses one engine per capability
// from configuration and runs it; features (ai.h) never name an engine.
//
// Engines are called on the AI gateway's pool, never on an I/O thread; they may block up to the
// deadline they are given. Implementations are thread-safe. Errors: invalid_argument (field
// "to"/"from": a language pair the engine does not serve, answered 422 unsupported_language by
// the api layer), unavailable (the engine failed, timed out or is not installed), internal.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace parley::ai {

using Deadline = std::chrono::steady_clock::time_point;

// A language pair as "from-to" with ISO 639-1 codes: "en-es".
struct LanguagePair {
  std::string from, to;
  std::string code() const { return from + "-" + to; }
  bool operator==(const LanguagePair&) const = default;
};

class Translator {
 public:
  virtual ~Translator() = default;
  virtual std::string name() const = 0;  // "apertium", "openai"
  // The pairs this engine serves, sorted.
  virtual std::vector<LanguagePair> pairs() const = 0;
  // Plain text in, plain text out; the caller has already taken Markdown, mentions, code and
  // links out of it (protect.h) and put placeholders in their place, which must come back.
  virtual Result<std::string> translate(const std::string& text, const LanguagePair& pair,
                                        Deadline deadline) = 0;
};

struct Detection {
  std::string language;  // ISO 639-1 ("en"), "und" when unknown
  double confidence = 0;  // 0..1
};

class LanguageDetector {
 public:
  virtual ~LanguageDetector() = default;
  virtual std::string name() const = 0;
  virtual Detection detect(const std::string& text) const = 0;
};

// Speech-to-text (PocketSphinx: adapters/pocketsphinx). Errors: invalid_argument (field
// "audio": not decodable audio, too long), unavailable.
struct Transcript {
  std::string text;
  std::string language;
};
class Transcriber {
 public:
  virtual ~Transcriber() = default;
  virtual std::string name() const = 0;
  virtual std::vector<std::string> languages() const = 0;
  // audio: the file's bytes as uploaded; content_type as the files module recorded it.
  virtual Result<Transcript> transcribe(const std::string& audio, const std::string& content_type,
                                        Deadline deadline) = 0;
};

struct ChatTurn {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
};

// What a smart-reply engine sees: the latest message from someone else, and before it the
// conversation's recent turns (oldest first), each marked as the asking user's own or not.
struct ReplyContext {
  struct Line {
    std::string text;
    bool mine = false;
  };
  std::vector<Line> recent;  // the last one is the message to answer
};

class ReplySuggester {
 public:
  virtual ~ReplySuggester() = default;
  virtual std::string name() const = 0;
  // At most max replies, best first, each short; may be empty.
  virtual Result<std::vector<std::string>> suggest(const ReplyContext& context, int max,
                                                   Deadline deadline) = 0;
};

struct Sentiment {
  double compound = 0;  // -1..1
  double pos = 0, neu = 0, neg = 0;  // proportions, summing to 1 (0,1,0 for empty text)
};

class SentimentScorer {
 public:
  virtual ~SentimentScorer() = default;
  virtual std::string name() const = 0;
  virtual Sentiment score(const std::string& text) const = 0;
};

class ChatCompleter {
 public:
  virtual ~ChatCompleter() = default;
  virtual std::string name() const = 0;
  virtual Result<std::string> complete(const std::vector<ChatTurn>& turns, Deadline deadline) = 0;
};

}  // namespace parley::ai
