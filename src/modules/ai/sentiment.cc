#include "core/text.h"
#include "modules/ai/sentiment.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace parley::ai {
namespace {

// VADER's empirically derived constants.
constexpr double kBoostIncrement = 0.293;
constexpr double kCapsIncrement = 0.733;
constexpr double kNegationScalar = -0.74;
constexpr double kNormAlpha = 15;

const std::unordered_map<std::string_view, double>& boosters() {
  static const std::unordered_map<std::string_view, double> b = {
      {"absolutely", kBoostIncrement}, {"amazingly", kBoostIncrement},
      {"awfully", kBoostIncrement},    {"completely", kBoostIncrement},
      {"considerably", kBoostIncrement}, {"decidedly", kBoostIncrement},
      {"deeply", kBoostIncrement},     {"enormously", kBoostIncrement},
      {"entirely", kBoostIncrement},   {"especially", kBoostIncrement},
      {"exceptionally", kBoostIncrement}, {"extremely", kBoostIncrement},
      {"fully", kBoostIncrement},      {"greatly", kBoostIncrement},
      {"highly", kBoostIncrement},     {"hugely", kBoostIncrement},
      {"incredibly", kBoostIncrement}, {"intensely", kBoostIncrement},
      {"majorly", kBoostIncrement},    {"more", kBoostIncrement},
      {"most", kBoostIncrement},       {"particularly", kBoostIncrement},
      {"purely", kBoostIncrement},     {"quite", kBoostIncrement},
      {"really", kBoostIncrement},     {"remarkably", kBoostIncrement},
      {"so", kBoostIncrement},         {"substantially", kBoostIncrement},
      {"super", kBoostIncrement},      {"thoroughly", kBoostIncrement},
      {"totally", kBoostIncrement},    {"tremendously", kBoostIncrement},
      {"truly", kBoostIncrement},      {"uber", kBoostIncrement},
      {"unbelievably", kBoostIncrement}, {"utterly", kBoostIncrement},
      {"very", kBoostIncrement},       {"almost", -kBoostIncrement},
      {"barely", -kBoostIncrement},    {"hardly", -kBoostIncrement},
      {"kinda", -kBoostIncrement},     {"less", -kBoostIncrement},
      {"little", -kBoostIncrement},    {"marginally", -kBoostIncrement},
      {"occasionally", -kBoostIncrement}, {"partly", -kBoostIncrement},
      {"scarcely", -kBoostIncrement},  {"slightly", -kBoostIncrement},
      {"somewhat", -kBoostIncrement},  {"sorta", -kBoostIncrement},
  };
  return b;
}

bool is_negation(std::string_view w) {
  static const std::unordered_set<std::string_view> n = {
      "not", "no", "never", "none", "nope", "nor", "nothing", "nowhere", "neither", "without",
      "cannot", "cant", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "wont",
      "wouldnt", "shouldnt", "couldnt", "hasnt", "havent", "hadnt", "aint", "rarely", "seldom",
      "despite"};
  if (n.count(w)) return true;
  return w.size() > 3 && w.substr(w.size() - 3) == "n't";
}

struct Token {
  std::string raw;    // as written (for capitals)
  std::string lower;  // lower case, for the lexicon
};

bool is_punct(char c) {
  return std::string_view("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~").find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) { return text::ascii_lower(s); }

void push_word(std::vector<Token>& out, std::string_view w) {
  if (w.empty()) return;
  std::string lw = lower(w);
  if (lexicon_valence(lw) != 0) {  // an emoticon such as ":)" or ":D" keeps its punctuation
    out.push_back({std::string(w), lw});
    return;
  }
  std::size_t a = 0, b = w.size();
  while (a < b && is_punct(w[a])) ++a;
  while (b > a && is_punct(w[b - 1])) --b;
  if (b - a == 0) return;
  auto core = w.substr(a, b - a);
  out.push_back({std::string(core), lower(core)});
}

// Splits at white space; emoji become tokens of their own even when written against a word.
std::vector<Token> tokenize(std::string_view text) {
  std::vector<Token> out;
  std::string word;
  auto flush = [&] {
    push_word(out, word);
    word.clear();
  };
  for (std::size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      flush();
      ++i;
    } else if (c >= 0xF0 && i + 4 <= text.size()) {
      flush();
      std::string e(text.substr(i, 4));
      out.push_back({e, e});
      i += 4;
    } else if (c == 0xE2 && i + 3 <= text.size() &&
               lexicon_valence(text.substr(i, 3)) != 0) {
      flush();
      std::string e(text.substr(i, 3));
      out.push_back({e, e});
      i += 3;
    } else if (c == 0xEF && i + 3 <= text.size() && text.substr(i, 3) == "\xEF\xB8\x8F") {
      i += 3;  // variation selector-16 after an emoji
    } else {
      word.push_back(static_cast<char>(c));
      ++i;
    }
  }
  flush();
  return out;
}

bool all_caps(std::string_view w) {
  bool letter = false;
  for (char c : w) {
    if (c >= 'a' && c <= 'z') return false;
    if (c >= 'A' && c <= 'Z') letter = true;
  }
  return letter && w.size() > 1;
}

double sign(double v) { return v < 0 ? -1 : 1; }

}  // namespace

Sentiment VaderScorer::score(const std::string& text) const {
  Sentiment out;
  out.neu = 1;
  auto tokens = tokenize(text);
  if (tokens.empty()) return out;
  // Capitals emphasise only in a text that is not shouted throughout.
  std::size_t caps = 0;
  for (const auto& t : tokens) caps += all_caps(t.raw);
  const bool mixed = caps > 0 && caps < tokens.size();

  std::vector<double> valence(tokens.size(), 0);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const auto& w = tokens[i].lower;
    if (boosters().count(w)) continue;
    if (w == "kind" && i + 1 < tokens.size() && tokens[i + 1].lower == "of") continue;
    double v = lexicon_valence(w);
    // "no" directly before a rated word negates it instead of counting by itself.
    if (w == "no" && i + 1 < tokens.size() && lexicon_valence(tokens[i + 1].lower) != 0) v = 0;
    if (v == 0) continue;
    if (mixed && all_caps(tokens[i].raw)) v += sign(v) * kCapsIncrement;
    for (std::size_t j = 1; j <= 3 && j <= i; ++j) {
      const auto& prev = tokens[i - j];
      if (lexicon_valence(prev.lower) != 0 && !is_negation(prev.lower)) continue;
      double boost = 0;
      if (auto it = boosters().find(prev.lower); it != boosters().end()) boost = it->second;
      // "kind of good", "sort of good": less good.
      if ((prev.lower == "of") && j + 1 <= i &&
          (tokens[i - j - 1].lower == "kind" || tokens[i - j - 1].lower == "sort"))
        boost = -kBoostIncrement;
      if (boost != 0) {
        if (mixed && all_caps(prev.raw)) boost += sign(boost) * kCapsIncrement;
        if (v < 0) boost = -boost;
        v += boost * (j == 1 ? 1.0 : j == 2 ? 0.95 : 0.9);
      }
    }
    bool negated = false;
    for (std::size_t j = 1; j <= 3 && j <= i; ++j)
      if (is_negation(tokens[i - j].lower)) negated = true;
    // "at least" is not a negation; "least good" is.
    if (i >= 1 && tokens[i - 1].lower == "least" &&
        !(i >= 2 && tokens[i - 2].lower == "at"))
      negated = true;
    if (negated) v *= kNegationScalar;
    valence[i] = v;
  }
  // A contrast: what comes after "but" outweighs what came before it.
  for (std::size_t b = 0; b < tokens.size(); ++b)
    if (tokens[b].lower == "but") {
      for (std::size_t i = 0; i < tokens.size(); ++i)
        valence[i] *= i < b ? 0.5 : i > b ? 1.5 : 1.0;
      break;
    }

  double sum = 0;
  for (double v : valence) sum += v;
  const auto bangs = std::min<std::size_t>(std::count(text.begin(), text.end(), '!'), 4);
  const auto questions = static_cast<std::size_t>(std::count(text.begin(), text.end(), '?'));
  double punct = static_cast<double>(bangs) * 0.292;
  if (questions > 1) punct += questions <= 3 ? static_cast<double>(questions) * 0.18 : 0.96;
  if (sum > 0)
    sum += punct;
  else if (sum < 0)
    sum -= punct;
  out.compound = std::clamp(sum / std::sqrt(sum * sum + kNormAlpha), -1.0, 1.0);

  double pos = 0, neg = 0, neu = 0;
  for (double v : valence) {
    if (v > 0)
      pos += v + 1;
    else if (v < 0)
      neg += v - 1;
    else
      neu += 1;
  }
  if (pos > std::fabs(neg))
    pos += punct;
  else if (pos < std::fabs(neg))
    neg -= punct;
  const double total = pos + std::fabs(neg) + neu;
  if (total > 0) {
    out.pos = pos / total;
    out.neg = std::fabs(neg) / total;
    out.neu = neu / total;
  }
  return out;
}

}  // namespace parley::ai
