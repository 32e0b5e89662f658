#include "assistant.h"

#include <algorithm>

#include "core/id.h"
#include "core/log.h"
#include "core/text.h"
#include "modules/ai/text.h"

namespace parley::ai {
namespace {

std::string lower(std::string_view s) { return text::ascii_lower(s); }

std::string trim(std::string_view s) {
  std::size_t a = 0, b = s.size();
  while (a < b && (s[a] == ' ' || s[a] == '\t' || s[a] == '\n' || s[a] == ',' || s[a] == ':'))
    ++a;
  while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\n')) --b;
  return std::string(s.substr(a, b - a));
}

// The command with @mentions of anyone taken out (the assistant is addressed by one).
std::string strip_mentions(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '@' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\n')) {
      while (i < text.size() && text[i] != ' ' && text[i] != '\n') ++i;
      continue;
    }
    out.push_back(text[i++]);
  }
  return trim(out);
}

std::pair<std::string, std::string> first_word(const std::string& s) {
  auto t = trim(s);
  auto sp = t.find_first_of(" \n\t");
  if (sp == std::string::npos) return {lower(t), ""};
  return {lower(t.substr(0, sp)), trim(t.substr(sp + 1))};
}

constexpr const char* kHelp =
    "I can help with:\n"
    "- `summarize` (or `summarize #channel` in our DM): the unread messages, in at most five "
    "sentences taken from them\n"
    "- `translate <language> [text]`: the text, or the message before this one\n"
    "- `remind me in <number> <minutes|hours|days> <what>` (or `remind me tomorrow <what>`)\n"
    "- `search <words>`: messages you can read";

constexpr const char* kNoSuchChannel =
    "I can't find that conversation among the ones you can read.";

// "in 10 minutes", "in 2h", "tomorrow": the delay in ms and the rest of the text.
std::optional<std::pair<Millis, std::string>> parse_when(const std::string& rest) {
  auto [w, after] = first_word(rest);
  if (w == "tomorrow") return std::make_pair(Millis{24 * 3'600'000LL}, after);
  if (w != "in") return std::nullopt;
  auto [num, tail] = first_word(after);
  std::size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(num, &used);
  } catch (...) {
    return std::nullopt;
  }
  std::string unit;
  if (used < num.size()) {
    unit = num.substr(used);
  } else {
    auto [u, t2] = first_word(tail);
    unit = u;
    tail = t2;
  }
  Millis scale = 0;
  if (unit == "s" || unit == "sec" || unit == "secs" || unit == "second" || unit == "seconds")
    scale = 1'000;
  else if (unit == "m" || unit == "min" || unit == "mins" || unit == "minute" ||
           unit == "minutes")
    scale = 60'000;
  else if (unit == "h" || unit == "hr" || unit == "hrs" || unit == "hour" || unit == "hours")
    scale = 3'600'000;
  else if (unit == "d" || unit == "day" || unit == "days")
    scale = 86'400'000;
  if (!scale || n <= 0 || n > 366 * 86'400'000LL / scale) return std::nullopt;
  return std::make_pair(Millis{n * scale}, tail);
}

std::string describe(Millis ms) {
  if (ms % 86'400'000 == 0) return std::to_string(ms / 86'400'000) + " day(s)";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + " hour(s)";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + " minute(s)";
  return std::to_string(ms / 1'000) + " second(s)";
}

}  // namespace

bool Assistant::is_dm_with_bot(const std::string& conversation_id) {
  auto v = host_.chat().get(host_.assistant_id(), conversation_id);
  return v && v->conversation.type == messaging::ConversationType::dm;
}

void Assistant::on_message(const Incoming& m) {
  const bool in_dm = is_dm_with_bot(m.conversation_id);
  if (!in_dm && !m.mentions_assistant) return;  // a channel it is in, not addressed to it
  auto text = answer(m.sender_id, m.conversation_id, strip_mentions(m.text), m.id);
  std::string reply = text ? *text : std::string(text.error().code == Errc::not_found
                                                     ? kNoSuchChannel
                                                     : "Sorry, I couldn't do that: ") +
                                         (text.error().code == Errc::not_found
                                              ? ""
                                              : text.error().message);
  post(m.sender_id, m.conversation_id, m.thread_root_id, reply, "assistant:" + m.id);
}

Result<std::string> Assistant::answer(const std::string& user_id,
                                      const std::string& conversation_id,
                                      const std::string& command, const std::string& message_id) {
  const bool in_dm = is_dm_with_bot(conversation_id);
  auto [verb, rest] = first_word(command);
  if (verb == "summarize" || verb == "summarise" || verb == "summary" || verb == "tldr")
    return summarize(user_id, conversation_id, rest, in_dm, message_id);
  if (verb == "translate") return translate(user_id, conversation_id, rest, message_id);
  if (verb == "remind") {
    auto [me, when] = first_word(rest);
    if (me != "me") return std::string(kHelp);
    return remind(user_id, conversation_id, when);
  }
  if (verb == "search" || verb == "find") return find(user_id, conversation_id, in_dm, rest);
  if (verb == "help" || verb.empty() || !host_.external_chat()) return std::string(kHelp);
  // Anything else goes to the chat engine, which the administrator enabled.
  auto got = host_.ai().complete(
      user_id, {{"system", "You are Parley's assistant. Answer briefly."}, {"user", command}});
  if (!got) return fail(got.error());
  return *got;
}

Result<std::string> Assistant::summarize(const std::string& user_id, const std::string& here,
                                         const std::string& target, bool in_dm,
                                         const std::string& message_id) {
  std::string conv = here;
  auto& chat = host_.chat();
  if (!target.empty()) {
    // Elsewhere than the DM, only the conversation asked in: an answer there is read by its
    // members, who may not be able to read another one.
    if (!in_dm) return fail(Errc::not_found, "not here");
    std::string name = lower(target[0] == '#' ? target.substr(1) : target);
    conv.clear();
    std::optional<std::string> cursor;
    for (int pages = 0; pages < 10 && conv.empty(); ++pages) {
      auto page = chat.list(user_id, 200, cursor);
      if (!page) return fail(page.error());
      for (const auto& v : page->conversations)
        if (v.conversation.id == target || lower(v.conversation.name) == name)
          conv = v.conversation.id;
      if (!page->next_cursor) break;
      cursor = page->next_cursor;
    }
    if (conv.empty()) {
      auto pub = chat.browse(user_id, name, 50, std::nullopt);
      if (pub)
        for (const auto& c : pub->channels)
          if (lower(c.name) == name) conv = c.id;
    }
    if (conv.empty()) return fail(Errc::not_found, "no such conversation");
  }
  auto view = chat.get(user_id, conv);  // not_found for what the user may not read
  if (!view) return fail(view.error());
  const auto last_seq = view->conversation.last_seq;
  std::int64_t from = view->me ? view->me->last_read_seq : std::max<std::int64_t>(0, last_seq - 50);
  // Asked in the conversation itself: the unread ones before the question.
  std::vector<std::string> texts;
  std::int64_t after = from;
  const int cap = host_.options().summary_max_messages;
  int seen = 0;
  while (seen < cap) {
    messaging::HistoryQuery q;
    q.after_seq = after;
    q.limit = 100;
    auto page = chat.history(user_id, conv, q);
    if (!page) return fail(page.error());
    for (const auto& m : page->messages) {
      after = m.seq;
      ++seen;
      if (m.deleted || m.text.empty() || m.sender_id == host_.assistant_id() ||
          m.id == message_id)
        continue;
      texts.push_back(m.text);
    }
    if (!page->has_more || page->messages.empty()) break;
  }
  const std::string where =
      view->conversation.type == messaging::ConversationType::channel
          ? "#" + view->conversation.name
          : "this conversation";
  if (texts.empty()) return "Nothing unread in " + where + ".";
  if (host_.external_chat()) {
    std::string all;
    for (const auto& t : texts) all += "- " + t + "\n";
    auto got = host_.ai().complete(
        user_id, {{"system", "Summarise these chat messages in at most five sentences."},
                  {"user", all}});
    if (got) return "Summary of " + std::to_string(texts.size()) + " unread messages in " +
                    where + ":\n" + *got;
  }
  auto picked = summarize_texts(texts);
  std::string out = "Summary of " + std::to_string(texts.size()) + " unread messages in " +
                    where + ":";
  for (const auto& s : picked) out += "\n- " + s;
  return out;
}

std::vector<std::string> Assistant::summarize_texts(const std::vector<std::string>& texts) {
  return ai::summarize(texts, host_.options().summary_sentences);
}

Result<std::string> Assistant::translate(const std::string& user_id, const std::string& here,
                                         const std::string& rest, const std::string& message_id) {
  auto [lang, text] = first_word(rest);
  if (lang.empty()) return std::string("Tell me the language: `translate es Hello!`");
  if (text.empty()) {
    // The latest message before the command.
    messaging::HistoryQuery q;
    q.limit = 10;
    auto page = host_.chat().history(user_id, here, q);
    if (!page) return fail(page.error());
    for (auto it = page->messages.rbegin(); it != page->messages.rend(); ++it)
      if (it->id != message_id && it->sender_id != host_.assistant_id() && !it->deleted &&
          !it->text.empty()) {
        text = it->text;
        break;
      }
    if (text.empty()) return std::string("There is no message here to translate.");
  }
  auto t = host_.translate(user_id, text, lang);
  if (!t) {
    if (t.error().code == Errc::invalid_argument) return t.error().message;
    return fail(t.error());
  }
  return t->text;
}

Result<std::string> Assistant::remind(const std::string& user_id, const std::string& here,
                                      const std::string& rest) {
  auto when = parse_when(rest);
  if (!when || trim(when->second).empty())
    return std::string(
        "Tell me when and what: `remind me in 10 minutes to call Sam` or `remind me tomorrow "
        "to send the report`.");
  Reminder r;
  r.id = new_id(host_.now().now_ms());
  r.user_id = user_id;
  r.conversation_id = here;
  r.text = trim(when->second);
  r.created_at = host_.now().now_ms();
  r.due_at = r.created_at + when->first;
  if (auto w = host_.state().add_reminder(r); !w) return fail(w.error());
  return "OK, I'll remind you in " + describe(when->first) + ": " + r.text;
}

Result<std::string> Assistant::find(const std::string& user_id, const std::string& here,
                                    bool in_dm, const std::string& words) {
  if (trim(words).empty()) return std::string("What should I search for? `search <words>`");
  search::SearchRequest q;
  q.q = words;
  q.limit = 5;
  if (!in_dm) q.conversation_id = here;  // elsewhere only this conversation: see summarize
  auto got = host_.finder().search(user_id, q);
  if (!got) return fail(got.error());
  if (got->results.empty()) return "No messages found for \"" + words + "\".";
  std::string out = "Found " + std::to_string(got->results.size()) + ":";
  for (const auto& h : got->results) {
    std::string t = h.message.text;
    if (t.size() > 140) t = t.substr(0, 140) + "...";
    for (auto& c : t)
      if (c == '\n') c = ' ';
    out += "\n- " + t;
  }
  return out;
}

void Assistant::post(const std::string& asker, const std::string& conversation_id,
                     const std::string& thread_root_id, const std::string& text,
                     const std::string& client_msg_id) {
  auto& chat = host_.chat();
  const auto& bot = host_.assistant_id();
  messaging::SendRequest req;
  req.conversation_id = conversation_id;
  req.text = text.size() > 15'000 ? text.substr(0, 15'000) : text;
  req.client_msg_id = client_msg_id;
  if (!thread_root_id.empty()) req.thread_root_id = thread_root_id;
  auto sent = chat.send(bot, req);
  if (!sent && sent.error().code != Errc::invalid_argument) {
    // Not a member: the asker brings it in where they may add members; otherwise the answer
    // goes to their DM with the assistant.
    if (chat.add_members(asker, conversation_id, {bot})) {
      sent = chat.send(bot, req);
    } else {
      auto dm = chat.create(bot, {"dm", {asker}, std::nullopt, std::nullopt, std::nullopt});
      if (dm) {
        req.conversation_id = dm->view.conversation.id;
        req.thread_root_id.reset();
        sent = chat.send(bot, req);
      }
    }
  }
  if (!sent)
    log::info("assistant answer not posted",
              {{"conversation_id", conversation_id}, {"error", sent.error().message}});
}

void Assistant::fire_due_reminders() {
  auto& st = host_.state();
  auto due = st.due_reminders(host_.now().now_ms(), 50);
  if (!due) return;
  for (const auto& r : *due) {
    auto claimed = st.claim_reminder(r.id, host_.now().now_ms());
    if (!claimed || !*claimed) continue;
    post(r.user_id, r.conversation_id, "", "Reminder: " + r.text, "reminder:" + r.id);
  }
}

}  // namespace parley::ai
