// AI module: the features of "AI on the premises" over the gateway (gateway.h) and its engines:
// translating a message into the reader's language, detecting a text's language, smart replies
// for the latest message of a conversation, sentiment of a text and per-channel daily
// aggregates, and the assistant bot.
//
// AiService checks every call against the caller through the messaging module: a message or
// conversation the caller may not see is not_found, exactly as an unknown id. It listens to
// messaging events (never editing the send path): a new message's audio attachments are
// transcribed (speech-to-text through the gateway) and the transcripts set on the message
// (message.updated), new messages are scored for the analytics and
// teach smart replies; a message in a DM with the assistant, or one that @mentions it, is a
// command the assistant answers through MessagingService::send, reading only what the asking
// user may read. Reminders are stored and fired by a thread of its own.
//
// Blocking; call from worker threads. start() once after wiring, stop() before the stores stop.
// Errors: invalid_argument (field named; "to"/"language" with code unsupported_language when no
// engine serves a pair), not_found, resource_exhausted (quotas), unavailable (no engine, busy,
// time limit).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bus.h"
#include "core/clock.h"
#include "core/result.h"
#include "modules/ai/engines.h"
#include "modules/ai/gateway.h"
#include "modules/ai/replies.h"
#include "modules/ai/store.h"
#include "modules/messaging/messaging.h"
#include "modules/search/search.h"
#include "modules/users/users.h"

namespace parley::ai {

struct AiOptions {
  std::string assistant_username = "assistant";
  int max_text_chars = 16'000;
  // A learned reply is suggested only once it was used in this many distinct conversations, so
  // a suggestion never repeats what one private conversation said.
  int learn_min_conversations = 3;
  int learned_replies_max = 5'000;
  Millis learned_refresh_ms = 5 * 60'000;
  Millis reminder_poll_ms = 1'000;
  std::size_t summary_sentences = 5;
  int summary_max_messages = 200;
  // Voice messages: the bytes of an attached file as `reader` (its sender) may read them, set by
  // app/ over the files module; transcription is off while it is unset.
  std::function<Result<std::string>(const std::string& reader, const std::string& file_id)>
      read_file;
};

// Whether an attachment of this type is a recording to transcribe: audio/*, and the WebM/Ogg
// containers libmagic names video/ when they hold only sound (the web app records Opus/WebM).
bool is_voice_type(std::string_view content_type);

struct Capabilities {
  std::vector<std::string> translate_pairs;  // "en-es", sorted
  std::vector<std::string> transcribe_languages;
  bool smart_replies = false;
  bool sentiment = false;
  std::string assistant_user_id;
  std::vector<std::string> external_engines;  // capabilities served outside the machine
};

struct Translation {
  std::string text;
  std::string from;
  std::string to;
  std::string engine;
};

// Which engine serves each capability, for capabilities() and the docs; set by app/.
struct EngineChoice {
  bool external_chat = false, external_translate = false, external_replies = false;
};

class AiService {
 public:
  AiService(AiGateway& gateway, AiStore& store, messaging::MessagingService& messaging,
            search::SearchService& search, users::UserService& users, Bus& bus,
            const Clock& clock, OnPremReplies* learner, AiOptions options = {},
            EngineChoice choice = {});
  ~AiService();

  // Finds or creates the assistant's user, subscribes to messaging events, starts reminders.
  Result<void> start();
  void stop();

  Capabilities capabilities() const;
  const std::string& assistant_id() const;

  // The message in `to` (or the caller's language when to is empty; English when unset).
  Result<Translation> translate_message(const std::string& caller, const std::string& message_id,
                                        const std::string& to);
  Result<Translation> translate_text(const std::string& caller, const std::string& text,
                                     const std::string& to);
  Detection detect(const std::string& text) const;
  Result<std::vector<std::string>> smart_replies(const std::string& caller,
                                                 const std::string& conversation_id);
  Result<Sentiment> sentiment(const std::string& caller, const std::string& text);
  // Admin analytics (callers check the role): channels only, and only those the caller can see
  // (public ones, and private ones they are in); never DMs or groups. name: the channel's.
  struct ChannelSentiment {
    SentimentDay day;
    std::string name;
  };
  Result<std::vector<ChannelSentiment>> sentiment_days(const std::string& caller,
                                                       const std::string& from,
                                                       const std::string& to);

  Result<std::string> language(const std::string& user_id);
  // A supported ISO 639-1 code, or "" to clear; invalid_argument (field "language") otherwise.
  Result<void> set_language(const std::string& user_id, const std::string& language);
  Result<bool> auto_translate(const std::string& caller, const std::string& conversation_id);
  Result<void> set_auto_translate(const std::string& caller, const std::string& conversation_id,
                                  bool on);

  // The assistant's answer to a command from user in conversation_id, without posting it (the
  // event handler posts it). Exposed for tests and for the api's preview.
  Result<std::string> assistant_answer(const std::string& user_id,
                                       const std::string& conversation_id,
                                       const std::string& command);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::ai
