#include "core/text.h"
#include "modules/ai/replies.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "modules/ai/sentiment.h"
#include "modules/ai/text.h"

namespace parley::ai {
namespace {

bool has_any(const std::vector<std::string>& ws, std::initializer_list<std::string_view> keys) {
  for (const auto& w : ws)
    for (auto k : keys)
      if (w == k) return true;
  return false;
}

bool has_phrase(std::string_view lower_text, std::initializer_list<std::string_view> phrases) {
  for (auto p : phrases)
    if (lower_text.find(p) != std::string_view::npos) return true;
  return false;
}

std::string lower(std::string_view s) { return text::ascii_lower(s); }

const std::map<std::string, std::vector<std::string>>& templates() {
  static const std::map<std::string, std::vector<std::string>> t = {
      {"greeting", {"Hi!", "Hello! How are you?", "Hey, good to hear from you."}},
      {"thanks", {"You're welcome!", "No problem!", "Happy to help."}},
      {"meeting", {"Sounds good, see you then.", "That time works for me.",
                   "Can we do a bit later?"}},
      {"yes_no_question", {"Yes, sure.", "Let me check.", "No, sorry."}},
      {"question", {"Let me check and get back to you.", "Good question, I'll find out.",
                    "I'm not sure yet."}},
      {"apology", {"No worries!", "It's okay.", "Don't worry about it."}},
      {"good_news", {"Great news!", "Congratulations!", "Well done!"}},
      {"bad_news", {"Oh no, sorry to hear that.", "That's a shame.", "Can I help?"}},
      {"farewell", {"Bye!", "See you!", "Have a good one!"}},
      {"statement", {"Got it.", "Thanks for letting me know.", "OK"}},
  };
  return t;
}

const std::unordered_set<std::string>& blocklist() {
  static const std::unordered_set<std::string> b = {
      "fuck", "fucking", "fucked", "fucker", "shit", "shitty", "bullshit", "crap", "damn",
      "dammit", "hell", "bitch", "bitches", "bastard", "asshole", "ass", "arse", "arsehole",
      "dick", "dickhead", "cock", "cunt", "piss", "pissed", "prick", "twat", "wanker",
      "slut", "whore", "retard", "retarded", "idiot", "idiots", "moron", "stupid", "dumb",
      "loser", "jerk", "suck", "sucks", "stfu", "wtf", "kill", "die", "hate", "ugly", "fat",
      "shut", "screw", "nazi", "porn", "sex", "sexy"};
  return b;
}

// Sparse TF-IDF vectors of normalised prompts.
using Vec = std::unordered_map<std::string, double>;

double norm(const Vec& v) {
  double s = 0;
  for (const auto& [_, x] : v) s += x * x;
  return std::sqrt(s);
}

}  // namespace

std::string classify_intent(std::string_view text) {
  const auto ws = words(text);
  const std::string l = lower(text);
  const bool asks = l.find('?') != std::string::npos;
  if (has_any(ws, {"meet", "meeting", "meetings", "call", "sync", "schedule", "calendar",
                   "standup", "lunch", "coffee", "appointment", "available", "reschedule"}) ||
      has_phrase(l, {"free at", "free on", "tomorrow at", "today at", "works for you",
                     "does that time", "what time"}))
    return "meeting";
  if (has_any(ws, {"thanks", "thank", "thx", "ty", "cheers", "appreciate", "appreciated"}))
    return "thanks";
  if (has_any(ws, {"sorry", "apologies", "apologise", "apologize", "oops"})) return "apology";
  if (has_any(ws, {"bye", "goodbye", "cya", "later"}) ||
      has_phrase(l, {"see you", "good night", "talk soon", "have a good"}))
    return "farewell";
  if (!ws.empty() && ws.size() <= 4 &&
      has_any(ws, {"hi", "hello", "hey", "morning", "evening", "afternoon", "yo", "hiya"}))
    return "greeting";
  if (asks) {
    static const std::unordered_set<std::string> aux = {
        "can", "could", "will", "would", "do", "does", "did", "is", "are", "was", "were",
        "should", "shall", "have", "has", "may", "might", "am", "any", "anyone"};
    if (!ws.empty() && aux.count(ws.front())) return "yes_no_question";
    return "question";
  }
  if (has_any(ws, {"congrats", "congratulations", "shipped", "launched", "promoted", "won",
                   "released", "passed", "finished", "merged"}))
    return "good_news";
  static const VaderScorer vader;
  const double c = vader.score(std::string(text)).compound;
  if (c <= -0.3) return "bad_news";
  if (c >= 0.5) return "good_news";
  return "statement";
}

bool is_offensive(std::string_view text) {
  for (const auto& w : words(text))
    if (blocklist().count(w)) return true;
  static const VaderScorer vader;
  return vader.score(std::string(text)).compound <= -0.5;
}

bool learnable_reply(std::string_view text) {
  if (text.empty() || text.size() > 60) return false;
  for (char c : text)
    if (c == '@' || c == '`' || c == '\n' || c == '#' || c == '/' || c == '[' ||
        (c >= '0' && c <= '9'))
      return false;
  auto ws = words(text);
  return !ws.empty() && ws.size() <= 8 && !is_offensive(text);
}

std::string normalise_prompt(std::string_view text) {
  std::string out;
  int n = 0;
  for (auto& w : words(text)) {
    if (++n > 30) break;
    if (!out.empty()) out.push_back(' ');
    out += w;
  }
  return out;
}

struct OnPremReplies::Index {
  struct Entry {
    Vec v;
    double n = 0;
    std::string reply;
    double weight = 0;  // log(1 + conversations)
  };
  std::vector<Entry> entries;
  std::unordered_map<std::string, double> idf;
};

void OnPremReplies::set_learned(std::vector<LearnedReply> learned) {
  auto idx = std::make_shared<Index>();
  std::unordered_map<std::string, int> df;
  for (const auto& l : learned) {
    std::unordered_set<std::string> seen;
    for (auto& w : words(l.prompt)) seen.insert(w);
    for (const auto& w : seen) ++df[w];
  }
  const double n = static_cast<double>(learned.size()) + 1;
  for (const auto& [w, f] : df) idx->idf[w] = std::log(n / f) + 1;
  for (auto& l : learned) {
    if (is_offensive(l.reply)) continue;
    Index::Entry e;
    for (auto& w : words(l.prompt)) e.v[w] += idx->idf[w];
    e.n = norm(e.v);
    if (e.n == 0) continue;
    e.reply = std::move(l.reply);
    e.weight = std::log(1 + static_cast<double>(l.conversations));
    idx->entries.push_back(std::move(e));
  }
  std::lock_guard lock(mu_);
  index_ = std::move(idx);
}

Result<std::vector<std::string>> OnPremReplies::suggest(const ReplyContext& context, int max,
                                                        Deadline) {
  std::vector<std::string> out;
  if (context.recent.empty() || max <= 0) return out;
  const std::string& last = context.recent.back().text;
  auto add = [&](const std::string& r) {
    if (static_cast<int>(out.size()) >= max || is_offensive(r)) return;
    for (const auto& o : out)
      if (lower(o) == lower(r)) return;
    out.push_back(r);
  };
  const std::string intent = classify_intent(last);
  const auto& tpl = templates().at(intent);

  // Learned replies whose prompts resemble this message (cosine >= 0.5), ranked by similarity
  // times how widely they are used.
  std::vector<std::pair<double, std::string>> learned;
  std::shared_ptr<const Index> idx;
  {
    std::lock_guard lock(mu_);
    idx = index_;
  }
  if (idx) {
    Vec q;
    for (auto& w : words(last)) {
      auto it = idx->idf.find(w);
      if (it != idx->idf.end()) q[w] += it->second;
    }
    const double qn = norm(q);
    if (qn > 0)
      for (const auto& e : idx->entries) {
        double dot = 0;
        for (const auto& [w, x] : q)
          if (auto it = e.v.find(w); it != e.v.end()) dot += x * it->second;
        const double cos = dot / (qn * e.n);
        if (cos >= 0.5) learned.emplace_back(cos * e.weight, e.reply);
      }
    std::stable_sort(learned.begin(), learned.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
  }
  // The intent's best template first (it is always on topic), then what the server's own
  // people answer to such messages, then the other templates.
  add(tpl.front());
  for (const auto& [_, r] : learned) add(r);
  for (const auto& r : tpl) add(r);
  return out;
}

}  // namespace parley::ai
