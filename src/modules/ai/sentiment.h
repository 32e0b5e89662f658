// VaderScorer: sentiment of a short text the VADER way (Hutto & Gilbert, 2014): a valence
// lexicon (words, emoticons and emoji rated -4..+4), adjusted by rules for negation ("not
// good"), intensifiers ("very good", "kind of good"), a contrast after "but", capitals ("GOOD"
// in a mixed-case text) and exclamation/question marks, summed and normalised into a compound
// score in [-1, 1] with the proportions of positive, neutral and negative words.
//
// The lexicon is Parley's own, compact (sentiment_lexicon.cc: common chat English, a few
// hundred entries, valences on VADER's scale), so it ships under the project's licence. Pure
// and thread-safe.
#pragma once

#include <string>

#include "modules/ai/engines.h"

namespace parley::ai {

class VaderScorer final : public SentimentScorer {
 public:
  std::string name() const override { return "vader"; }
  Sentiment score(const std::string& text) const override;
};

// The lexicon's valence for a lower-case word, emoticon or emoji; 0 when absent.
double lexicon_valence(std::string_view token);
std::size_t lexicon_size();

}  // namespace parley::ai
