// Text tools of the AI features that need no engine: keeping Markdown, mentions, code and links
// out of a translation (protect/restore), an extractive summariser, and sentence splitting.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace parley::ai {

// A text with every span a translation must not touch replaced by a placeholder word
// ("XQ0X", "XQ1X", ...): fenced code blocks, inline code, Markdown links and images, bare URLs,
// @mentions, #channel references, :emoji: shortcodes and e-mail addresses.
struct Protected {
  std::string text;
  std::vector<std::string> spans;  // spans[i] is what placeholder i stands for
};
Protected protect(std::string_view text);
// Puts the spans back. A placeholder the engine lost is appended at the end (after a space), so
// nothing protected ever disappears; one it duplicated is restored once.
std::string restore(std::string_view translated, const std::vector<std::string>& spans);

// Sentences of a text (split after . ! ? and at line breaks), trimmed, empty ones dropped.
std::vector<std::string> split_sentences(std::string_view text);

// Extractive summary: at most max_sentences sentences taken verbatim from the texts, chosen by
// a TF-IDF-weighted centrality score (sentences that share the texts' frequent content words),
// with near-duplicates skipped, given back in their original order.
std::vector<std::string> summarize(const std::vector<std::string>& texts, std::size_t max_sentences);

// Lower-case ASCII word tokens (letters and digits, apostrophes kept inside words).
std::vector<std::string> words(std::string_view text);

}  // namespace parley::ai
