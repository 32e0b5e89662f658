// The assistant bot (private to the ai module): commands from a DM with it or an @mention of
// it, answered through the messaging service as the bot user. It reads conversations only as
// the asking user (every read goes through MessagingService/SearchService with the asker as
// caller), and outside its DM with the asker it reads only the conversation it was asked in,
// so an answer never shows a conversation's content to people who cannot read it.
#pragma once

#include <string>
#include <vector>

#include "modules/ai/ai.h"

namespace parley::ai {

struct Incoming {
  std::string id, conversation_id, sender_id, text, thread_root_id;
  Millis created_at = 0;
  std::vector<std::string> mentions;  // user ids the messaging module resolved
  bool mentions_assistant = false;
};

// What the assistant needs from the service that owns it.
class AssistantHost {
 public:
  virtual ~AssistantHost() = default;
  virtual const std::string& assistant_id() = 0;
  virtual messaging::MessagingService& chat() = 0;
  virtual search::SearchService& finder() = 0;
  virtual AiGateway& ai() = 0;
  virtual AiStore& state() = 0;
  virtual const Clock& now() = 0;
  virtual bool external_chat() = 0;
  virtual const AiOptions& options() = 0;
  virtual Result<Translation> translate(const std::string& caller, const std::string& text,
                                        const std::string& to) = 0;
};

class Assistant {
 public:
  explicit Assistant(AssistantHost& host) : host_(host) {}
  // On the gateway's event pool: answers a command message (posts the answer).
  void on_message(const Incoming& m);
  // The answer text for a command (without the @mention); message_id: the command's own id
  // ("" when there is none), whose message is skipped when summarising.
  Result<std::string> answer(const std::string& user_id, const std::string& conversation_id,
                             const std::string& command, const std::string& message_id);
  void fire_due_reminders();

 private:
  Result<std::string> summarize(const std::string& user_id, const std::string& here,
                                const std::string& target, bool in_dm,
                                const std::string& message_id);
  Result<std::string> remind(const std::string& user_id, const std::string& here,
                             const std::string& rest);
  Result<std::string> find(const std::string& user_id, const std::string& here, bool in_dm,
                           const std::string& words);
  Result<std::string> translate(const std::string& user_id, const std::string& here,
                                const std::string& rest, const std::string& message_id);
  // Posts text into conversation_id as the assistant (joining first when the asker may add it;
  // otherwise into its DM with the asker).
  void post(const std::string& asker, const std::string& conversation_id,
            const std::string& thread_root_id, const std::string& text,
            const std::string& client_msg_id);
  bool is_dm_with_bot(const std::string& conversation_id);
  std::vector<std::string> summarize_texts(const std::vector<std::string>& texts);

  AssistantHost& host_;
};

}  // namespace parley::ai
