// The AI text tools read message text anyone writes: Markdown protection must give back exactly
// what it was given when nothing is translated, restore must never lose a protected span, and
// the sentiment scorer, the summariser, the intent classifier and the reply filter must never
// crash and keep their outputs in range.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "modules/ai/replies.h"
#include "modules/ai/sentiment.h"
#include "modules/ai/text.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  auto p = parley::ai::protect(input);
  require(parley::ai::restore(p.text, p.spans) == input);
  // An engine that drops every placeholder: every span still comes back.
  auto lost = parley::ai::restore("", p.spans);
  for (const auto& s : p.spans) require(lost.find(s) != std::string::npos);

  auto s = parley::ai::VaderScorer().score(input);
  require(std::isfinite(s.compound) && s.compound >= -1 && s.compound <= 1);
  require(std::fabs(s.pos + s.neu + s.neg - 1) < 1e-9);

  auto summary = parley::ai::summarize({input, input.substr(0, size / 2)}, 5);
  require(summary.size() <= 5);
  for (const auto& sentence : summary) require(input.find(sentence) != std::string::npos);

  (void)parley::ai::classify_intent(input);
  (void)parley::ai::learnable_reply(input);
  return 0;
}
