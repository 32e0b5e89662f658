// Smart replies on the premises: intent templates (questions, thanks, greetings, scheduling,
// apologies, good and bad news, goodbyes) plus replies learned from the server's own message
// pairs, ranked by a small retrieval model (TF-IDF cosine similarity between the message to
// answer and the messages those replies answered, weighted by how widely each reply is used).
// Nothing offensive is ever suggested: every candidate passes is_offensive() first.
//
// Thread-safe: set_learned() swaps the learned set under a lock; suggest() reads a snapshot.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "modules/ai/engines.h"
#include "modules/ai/store.h"

namespace parley::ai {

// "greeting", "thanks", "meeting", "question", "yes_no_question", "apology", "good_news",
// "bad_news", "farewell" or "statement".
std::string classify_intent(std::string_view text);

// A word of the blocklist (insults, profanity, slurs' common stems), or a strongly negative
// text: never suggested.
bool is_offensive(std::string_view text);

// A reply short and plain enough to learn: 1..8 words, no mention, link, code, digits or
// line breaks, and not offensive.
bool learnable_reply(std::string_view text);
// The form a prompt is learned and looked up in: lower-case words, at most 30.
std::string normalise_prompt(std::string_view text);

class OnPremReplies final : public ReplySuggester {
 public:
  std::string name() const override { return "onprem"; }
  Result<std::vector<std::string>> suggest(const ReplyContext& context, int max,
                                           Deadline deadline) override;
  void set_learned(std::vector<LearnedReply> learned);

 private:
  struct Index;
  std::mutex mu_;
  std::shared_ptr<const Index> index_;
};

}  // namespace parley::ai
