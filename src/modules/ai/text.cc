#include "modules/ai/text.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace parley::ai {
namespace {

bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Characters of a URL; trailing punctuation is trimmed afterwards.
bool url_char(char c) { return !is_space(c) && c != '<' && c != '>' && c != '"'; }

std::string placeholder(std::size_t i) { return "XQ" + std::to_string(i) + "X"; }

// Length of a protected span starting at i, or 0.
std::size_t span_at(std::string_view t, std::size_t i) {
  const char c = t[i];
  const bool boundary = i == 0 || !is_word_byte(static_cast<unsigned char>(t[i - 1]));
  if (c == '`') {
    if (t.substr(i, 3) == "```") {
      auto end = t.find("```", i + 3);
      return end == std::string_view::npos ? t.size() - i : end + 3 - i;
    }
    auto end = t.find('`', i + 1);
    return end == std::string_view::npos ? 0 : end + 1 - i;
  }
  if (c == '[' || (c == '!' && i + 1 < t.size() && t[i + 1] == '[')) {
    // [text](url) or ![alt](url), on one line.
    auto close = t.find("](", i);
    auto nl = t.find('\n', i);
    if (close == std::string_view::npos || (nl != std::string_view::npos && nl < close)) return 0;
    auto end = t.find(')', close);
    if (end == std::string_view::npos || (nl != std::string_view::npos && nl < end)) return 0;
    return end + 1 - i;
  }
  if (boundary && (t.substr(i, 7) == "http://" || t.substr(i, 8) == "https://" ||
                   t.substr(i, 4) == "www.")) {
    std::size_t j = i;
    while (j < t.size() && url_char(t[j])) ++j;
    while (j > i && std::string_view(".,;:!?)'").find(t[j - 1]) != std::string_view::npos) --j;
    return j - i;
  }
  if ((c == '@' || c == '#') && boundary) {
    std::size_t j = i + 1;
    while (j < t.size() && (is_word_byte(static_cast<unsigned char>(t[j])) || t[j] == '.' ||
                            t[j] == '_' || t[j] == '-'))
      ++j;
    while (j > i + 1 && t[j - 1] == '.') --j;
    return j > i + 1 ? j - i : 0;
  }
  if (c == ':' && boundary) {
    std::size_t j = i + 1;
    while (j < t.size() && ((t[j] >= 'a' && t[j] <= 'z') || (t[j] >= '0' && t[j] <= '9') ||
                            t[j] == '_' || t[j] == '+' || t[j] == '-'))
      ++j;
    if (j < t.size() && t[j] == ':' && j > i + 1) return j + 1 - i;
    return 0;
  }
  if (boundary && is_word_byte(static_cast<unsigned char>(c))) {
    // An e-mail address: word chars, '@', a dotted domain.
    std::size_t j = i;
    while (j < t.size() && (is_word_byte(static_cast<unsigned char>(t[j])) || t[j] == '.' ||
                            t[j] == '_' || t[j] == '-' || t[j] == '+'))
      ++j;
    if (j < t.size() && t[j] == '@') {
      std::size_t k = j + 1;
      while (k < t.size() && (is_word_byte(static_cast<unsigned char>(t[k])) || t[k] == '.' ||
                              t[k] == '-'))
        ++k;
      while (k > j + 1 && t[k - 1] == '.') --k;
      if (t.substr(j + 1, k - j - 1).find('.') != std::string_view::npos) return k - i;
    }
  }
  return 0;
}

const std::unordered_set<std::string>& stopwords() {
  static const std::unordered_set<std::string> s = {
      "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "for", "with",
      "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "these", "those",
      "i", "you", "he", "she", "we", "they", "me", "him", "her", "us", "them", "my", "your",
      "our", "their", "do", "does", "did", "so", "as", "by", "from", "up", "about", "into",
      "not", "no", "yes", "just", "can", "will", "would", "should", "could", "have", "has",
      "had", "there", "here", "what", "which", "who", "when", "where", "how", "all", "any",
      "some", "also", "then", "than", "too", "very", "ok", "okay", "i'm", "it's", "let's"};
  return s;
}

}  // namespace

Protected protect(std::string_view text) {
  Protected out;
  out.text.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (auto n = span_at(text, i)) {
      out.text += placeholder(out.spans.size());
      out.spans.emplace_back(text.substr(i, n));
      i += n;
    } else if (is_word_byte(static_cast<unsigned char>(text[i]))) {
      // Whole words at once, so a word's middle is never taken for the start of a span.
      std::size_t j = i;
      while (j < text.size() && is_word_byte(static_cast<unsigned char>(text[j]))) ++j;
      out.text.append(text.substr(i, j - i));
      i = j;
    } else {
      out.text.push_back(text[i++]);
    }
  }
  return out;
}

std::string restore(std::string_view translated, const std::vector<std::string>& spans) {
  std::string out;
  std::vector<bool> used(spans.size(), false);
  for (std::size_t i = 0; i < translated.size();) {
    // "XQ<digits>X", matched case-insensitively (an engine may capitalise a sentence start).
    if ((translated[i] == 'X' || translated[i] == 'x') && i + 3 < translated.size() &&
        (translated[i + 1] == 'Q' || translated[i + 1] == 'q')) {
      std::size_t j = i + 2;
      std::size_t n = 0;
      while (j < translated.size() && translated[j] >= '0' && translated[j] <= '9' && j - i < 8)
        n = n * 10 + static_cast<std::size_t>(translated[j++] - '0');
      if (j > i + 2 && j < translated.size() && (translated[j] == 'X' || translated[j] == 'x') &&
          n < spans.size()) {
        if (!used[n]) out += spans[n];
        used[n] = true;
        i = j + 1;
        continue;
      }
    }
    out.push_back(translated[i++]);
  }
  for (std::size_t n = 0; n < spans.size(); ++n)
    if (!used[n]) {
      if (!out.empty() && !is_space(out.back())) out.push_back(' ');
      out += spans[n];
    }
  return out;
}

std::vector<std::string> split_sentences(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    std::size_t a = 0, b = cur.size();
    while (a < b && is_space(cur[a])) ++a;
    while (b > a && is_space(cur[b - 1])) --b;
    if (b > a) out.push_back(cur.substr(a, b - a));
    cur.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n') {
      flush();
      continue;
    }
    cur.push_back(c);
    if ((c == '.' || c == '!' || c == '?') &&
        (i + 1 == text.size() || is_space(text[i + 1]))) {
      while (i + 1 < text.size() && (text[i + 1] == '.' || text[i + 1] == '!' ||
                                     text[i + 1] == '?'))
        cur.push_back(text[++i]);
      flush();
    }
  }
  flush();
  return out;
}

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (std::size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (is_word_byte(c) || (c == '\'' && !cur.empty() && i + 1 < text.size() &&
                            is_word_byte(static_cast<unsigned char>(text[i + 1])))) {
      cur.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c));
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::vector<std::string> summarize(const std::vector<std::string>& texts,
                                   std::size_t max_sentences) {
  struct Sentence {
    std::string text;
    std::size_t order;
    std::set<std::string> terms;
    double score = 0;
  };
  std::vector<Sentence> sentences;
  std::unordered_map<std::string, int> df;  // in how many sentences a term appears
  for (const auto& t : texts)
    for (auto& s : split_sentences(t)) {
      Sentence sent{std::move(s), sentences.size(), {}, 0};
      for (auto& w : words(sent.text))
        if (w.size() > 2 && !stopwords().count(w)) sent.terms.insert(w);
      for (const auto& w : sent.terms) ++df[w];
      sentences.push_back(std::move(sent));
    }
  if (sentences.size() <= max_sentences) {
    std::vector<std::string> all;
    for (auto& s : sentences) all.push_back(s.text);
    return all;
  }
  // A sentence matters when it carries terms the conversation keeps coming back to (high
  // frequency, but not in nearly every sentence): sum of tf * idf-dampened weights, normalised
  // by length so long sentences do not win by size alone.
  const double n = static_cast<double>(sentences.size());
  for (auto& s : sentences) {
    double sum = 0;
    for (const auto& w : s.terms) {
      double f = df[w];
      if (f < 2) continue;  // said once: not a topic
      sum += std::log(1 + f) * std::log(1 + n / f);
    }
    s.score = s.terms.empty() ? 0 : sum / std::sqrt(static_cast<double>(s.terms.size()) + 1);
  }
  std::vector<std::size_t> idx(sentences.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
    return sentences[a].score > sentences[b].score;
  });
  std::vector<std::size_t> chosen;
  for (auto i : idx) {
    if (chosen.size() >= max_sentences) break;
    bool dup = false;
    for (auto c : chosen) {
      const auto& a = sentences[i].terms;
      const auto& b = sentences[c].terms;
      std::size_t common = 0;
      for (const auto& w : a) common += b.count(w);
      std::size_t uni = a.size() + b.size() - common;
      if (uni && static_cast<double>(common) / static_cast<double>(uni) > 0.6) dup = true;
    }
    if (!dup) chosen.push_back(i);
  }
  std::sort(chosen.begin(), chosen.end());
  std::vector<std::string> out;
  for (auto i : chosen) out.push_back(sentences[i].text);
  return out;
}

}  // namespace parley::ai
