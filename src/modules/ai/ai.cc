#include "modules/ai/ai.h"

#include <algorithm>
#include <boost/json.hpp>
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "assistant.h"
#include "core/crypto.h"
#include "core/id.h"
#include "core/log.h"
#include "modules/ai/text.h"
#include "modules/messaging/events.h"

namespace parley::ai {
namespace {

std::string utc_date(Millis ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::string str_field(const boost::json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

// The message of a message.created event's data (the API's message object).
std::optional<Incoming> parse_created(const std::string& data) {
  boost::system::error_code ec;
  auto v = boost::json::parse(data, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  Incoming m;
  m.id = str_field(o, "id");
  m.conversation_id = str_field(o, "conversation_id");
  m.sender_id = str_field(o, "sender_id");
  m.text = str_field(o, "text");
  m.thread_root_id = str_field(o, "thread_root_id");
  if (const auto* at = o.if_contains("created_at"); at && at->is_int64())
    m.created_at = at->as_int64();
  if (const auto* ms = o.if_contains("mentions"); ms && ms->is_array())
    for (const auto& x : ms->as_array())
      if (x.is_string()) m.mentions.emplace_back(x.as_string());
  return m;
}

// The audio attachments of a message.created event's data: (file id, content type).
struct VoiceFile {
  std::string id, content_type;
};
std::vector<VoiceFile> voice_files(const std::string& data) {
  std::vector<VoiceFile> out;
  if (data.find("\"attachments\"") == std::string::npos) return out;
  boost::system::error_code ec;
  auto v = boost::json::parse(data, ec);
  if (ec || !v.is_object()) return out;
  const auto* at = v.as_object().if_contains("attachments");
  if (!at || !at->is_array()) return out;
  for (const auto& f : at->as_array())
    if (f.is_object()) {
      auto type = str_field(f.as_object(), "content_type");
      if (is_voice_type(type)) out.push_back({str_field(f.as_object(), "id"), type});
    }
  return out;
}

constexpr std::size_t kMaxTracked = 10'000;
constexpr Millis kPairWindowMs = 10 * 60'000;

}  // namespace

struct AiService::Impl : AssistantHost {
  Impl(AiGateway& g, AiStore& st, messaging::MessagingService& m, search::SearchService& se,
       users::UserService& u, Bus& b, const Clock& c, OnPremReplies* l, AiOptions o,
       EngineChoice ch)
      : gateway(g),
        store(st),
        messaging(m),
        search(se),
        users(u),
        bus(b),
        clock(c),
        learner(l),
        opts(std::move(o)),
        choice(ch) {}

  AiGateway& gateway;
  AiStore& store;
  messaging::MessagingService& messaging;
  search::SearchService& search;
  users::UserService& users;
  Bus& bus;
  const Clock& clock;
  OnPremReplies* learner;
  AiOptions opts;
  EngineChoice choice;
  // The assistant's user: created once someone else exists (the first account on a server is
  // its administrator, which must be a person), then never changed. Read freely once
  // bot_ready is set.
  std::string bot_id;
  std::string bot_username;
  std::atomic<bool> bot_ready{false};
  std::mutex bot_mu;
  std::unique_ptr<Assistant> assistant;
  std::unique_ptr<Bus::Subscription> sub;

  std::mutex mu;
  std::unordered_set<std::string> bot_conversations;
  struct Last {
    std::string sender, text;
    Millis at = 0;
  };
  std::unordered_map<std::string, Last> last_by_conversation;

  std::mutex timer_mu;
  std::condition_variable timer_cv;
  bool stopping = false;
  std::thread timer;

  // ---- AssistantHost ----
  AiService::Impl& self() { return *this; }
  const std::string& assistant_id() override { return bot_id; }
  messaging::MessagingService& chat() override { return messaging; }
  search::SearchService& finder() override { return search; }
  AiGateway& ai() override { return gateway; }
  AiStore& state() override { return store; }
  const Clock& now() override { return clock; }
  bool external_chat() override { return choice.external_chat; }
  const AiOptions& options() override { return opts; }
  Result<Translation> translate(const std::string& caller, const std::string& text,
                                const std::string& to) override {
    return translate_text(caller, text, to);
  }

  std::vector<LanguagePair> pairs() const {
    return gateway.engines().translate ? gateway.engines().translate->pairs()
                                       : std::vector<LanguagePair>{};
  }

  std::set<std::string> languages() const {
    std::set<std::string> out{"en"};
    for (const auto& p : pairs()) {
      out.insert(p.from);
      out.insert(p.to);
    }
    return out;
  }

  Detection detect(const std::string& text) const {
    if (!gateway.engines().detect) return {"und", 0};
    return gateway.engines().detect->detect(protect(text).text);
  }

  // The pairs to go through: direct, or through one pivot language.
  std::optional<std::vector<LanguagePair>> route(const std::string& from, const std::string& to) {
    auto all = pairs();
    auto has = [&](const std::string& a, const std::string& b) {
      return std::find(all.begin(), all.end(), LanguagePair{a, b}) != all.end();
    };
    if (has(from, to)) return std::vector<LanguagePair>{{from, to}};
    for (const auto& pivot : languages())
      if (pivot != from && pivot != to && has(from, pivot) && has(pivot, to))
        return std::vector<LanguagePair>{{from, pivot}, {pivot, to}};
    return std::nullopt;
  }

  Result<Translation> translate_text(const std::string& caller, const std::string& text,
                                     std::string to) {
    if (to.empty()) {
      auto lang = store.user_language(caller);
      if (!lang) return fail(lang.error());
      to = lang->empty() ? "en" : *lang;
    }
    if (!languages().count(to))
      return fail(Errc::invalid_argument, "no engine translates into \"" + to + "\"", "to");
    auto guarded = protect(text);
    auto found = detect(text);
    Translation out{text, found.language, to, "none"};
    // Already in that language, or too short to tell ("ok", "lol"): given back as it is.
    if (found.language == to || found.language == "und") return out;
    auto hops = route(found.language, to);
    if (!hops) {
      std::string list;
      for (const auto& p : pairs()) list += (list.empty() ? "" : ", ") + p.code();
      return fail(Errc::invalid_argument,
                  "no installed engine translates " + found.language + " to " + to +
                      " (installed pairs: " + (list.empty() ? "none" : list) + ")",
                  "to");
    }
    std::string current = guarded.text;
    for (const auto& hop : *hops) {
      auto r = gateway.translate(caller, current, hop);
      if (!r) return fail(r.error());
      current = std::move(*r);
    }
    out.text = restore(current, guarded.spans);
    out.engine = gateway.engines().translate->name();
    return out;
  }

  // ---- events ----
  void on_event(std::string_view payload) {
    auto e = messaging::decode(payload);
    if (!e) return;
    if (e->name == "message.created" && opts.read_file && gateway.engines().transcribe)
      if (auto voices = voice_files(e->data); !voices.empty())
        if (auto m = parse_created(e->data); m && !m->id.empty())
          gateway.submit_background(
              [this, id = m->id, sender = m->sender_id, voices] { transcribe(id, sender, voices); });
    if (!bot_ready.load(std::memory_order_acquire)) {
      // Not made yet (a new server): make it off the bus's thread; nothing can be addressed to
      // it before it exists.
      if (e->name == "message.created") gateway.submit_background([this] { (void)ready_bot(); });
      if (e->name == "message.created")
        if (auto m = parse_created(e->data); m && !m->id.empty() && !m->text.empty())
          gateway.submit_background([this, m = *m] {
            score(m);
            learn(m);
          });
      return;
    }
    if (e->name == "member.joined" || e->name == "member.left" ||
        e->name == "conversation.created") {
      const bool joined = e->name != "member.left";
      bool mine = std::find(e->route.user_ids.begin(), e->route.user_ids.end(), bot_id) !=
                  e->route.user_ids.end();
      if (e->name == "conversation.created" && !mine) {
        // A DM with the assistant: its creation names the members in the data.
        boost::system::error_code ec;
        auto v = boost::json::parse(e->data, ec);
        if (!ec && v.is_object() && e->data.find(bot_id) != std::string::npos) mine = true;
      }
      if (mine && !e->route.conversation_ids.empty()) {
        std::lock_guard lock(mu);
        if (joined)
          bot_conversations.insert(e->route.conversation_ids[0]);
        else
          bot_conversations.erase(e->route.conversation_ids[0]);
      }
      return;
    }
    if (e->name != "message.created") return;
    auto parsed = parse_created(e->data);
    if (!parsed) return;
    Incoming m = std::move(*parsed);
    for (const auto& id : m.mentions)
      if (id == bot_id) m.mentions_assistant = true;
    // The messaging module resolves mentions of members only; the assistant answers an
    // @mention wherever it is written, and joins (asked by the sender) to answer.
    if (!m.mentions_assistant && m.text.find('@') != std::string::npos)
      for (const auto& u : messaging::find_mentions(m.text).usernames)
        if (u == bot_username) m.mentions_assistant = true;
    if (m.id.empty() || m.sender_id == bot_id || m.text.empty()) return;
    bool in_bot_conversation;
    {
      std::lock_guard lock(mu);
      in_bot_conversation = bot_conversations.count(m.conversation_id) > 0;
    }
    gateway.submit_background([this, m, in_bot_conversation] {
      score(m);
      learn(m);
      if (m.mentions_assistant || in_bot_conversation) assistant->on_message(m);
    });
  }

  // Speech-to-text of a voice message's recordings, read as its sender (who attached them),
  // run on the gateway's pool without a user's quota; the transcripts go onto the message.
  void transcribe(const std::string& message_id, const std::string& sender,
                  const std::vector<VoiceFile>& voices) {
    std::map<std::string, messaging::AttachmentTranscript> done;
    for (const auto& v : voices) {
      auto bytes = opts.read_file(sender, v.id);
      if (!bytes) {
        log::info("voice message not read", {{"message_id", message_id}, {"file_id", v.id},
                                             {"error", bytes.error().message}});
        continue;
      }
      auto t = gateway.transcribe("", *bytes, v.content_type);
      if (!t) {
        log::info("voice message not transcribed",
                  {{"message_id", message_id}, {"file_id", v.id}, {"error", t.error().message}});
        continue;
      }
      done[v.id] = {t->text, t->language, gateway.engines().transcribe->name()};
    }
    if (done.empty()) return;
    if (auto r = messaging.set_transcripts(message_id, done); !r)
      log::info("transcript not stored", {{"message_id", message_id}, {"error", r.error().message}});
  }

  void score(const Incoming& m) {
    auto* s = gateway.engines().sentiment;
    if (!s) return;
    auto r = s->score(m.text);
    if (auto w = store.record_sentiment(m.id, m.conversation_id, utc_date(m.created_at),
                                        r.compound);
        !w)
      log::info("sentiment not recorded", {{"message_id", m.id}, {"error", w.error().message}});
  }

  // A short answer from someone else soon after a message is a reply pair to learn from.
  void learn(const Incoming& m) {
    Last prev;
    {
      std::lock_guard lock(mu);
      auto it = last_by_conversation.find(m.conversation_id);
      if (it != last_by_conversation.end()) prev = it->second;
      if (last_by_conversation.size() >= kMaxTracked) last_by_conversation.clear();
      last_by_conversation[m.conversation_id] = {m.sender_id, m.text, m.created_at};
    }
    if (prev.sender.empty() || prev.sender == m.sender_id || prev.sender == bot_id) return;
    if (m.created_at - prev.at > kPairWindowMs || !learnable_reply(m.text)) return;
    auto prompt = normalise_prompt(prev.text);
    if (prompt.empty()) return;
    (void)store.add_reply_pair(prompt, m.text, m.conversation_id);
  }

  void refresh_learned() {
    if (!learner) return;
    auto got = store.learned_replies(opts.learn_min_conversations, opts.learned_replies_max);
    if (got) learner->set_learned(std::move(*got));
  }

  void timer_loop() {
    Millis next_learn = clock.now_ms() + opts.learned_refresh_ms;
    std::unique_lock lock(timer_mu);
    while (!stopping) {
      timer_cv.wait_for(lock, std::chrono::milliseconds(opts.reminder_poll_ms));
      if (stopping) break;
      lock.unlock();
      assistant->fire_due_reminders();
      if (clock.now_ms() >= next_learn) {
        refresh_learned();
        next_learn = clock.now_ms() + opts.learned_refresh_ms;
      }
      lock.lock();
    }
  }

  // True once the assistant's user exists (finding or making it when someone else exists).
  bool ready_bot() {
    if (bot_ready.load(std::memory_order_acquire)) return true;
    std::lock_guard lock(bot_mu);
    if (bot_ready.load(std::memory_order_relaxed)) return true;
    auto saved = store.setting("assistant_user_id");
    if (!saved) return false;
    if (!*saved) {
      auto anyone = users.search("", 1, std::nullopt);
      if (!anyone || anyone->users.empty()) return false;
    }
    if (auto r = ensure_bot(); !r) {
      log::error("assistant not created", {{"error", r.error().message}});
      return false;
    }
    auto convs = messaging.conversation_ids_of(bot_id);
    if (!convs) return false;
    {
      std::lock_guard l2(mu);
      bot_conversations.insert(convs->begin(), convs->end());
    }
    bot_ready.store(true, std::memory_order_release);
    return true;
  }

  Result<void> ensure_bot() {
    auto saved = store.setting("assistant_user_id");
    if (!saved) return fail(saved.error());
    if (*saved) {
      if (auto u = users.get(**saved); u) {
        bot_id = u->id;
        bot_username = u->username;
        return ok();
      }
    }
    // The name may be taken by a person who registered it first: then a longer one.
    const std::vector<std::string> names = {opts.assistant_username,
                                            opts.assistant_username + "-bot", "parley-assistant"};
    for (const auto& name : names) {
      auto u = users.create({name, std::string("Assistant"), std::nullopt});
      if (!u) {
        if (u.error().code == Errc::already_exists) continue;
        return fail(u.error());
      }
      bot_id = u->id;
      bot_username = u->username;
      return store.set_setting("assistant_user_id", bot_id);
    }
    return fail(Errc::internal, "no username left for the assistant");
  }
};

AiService::AiService(AiGateway& gateway, AiStore& store, messaging::MessagingService& messaging,
                     search::SearchService& search, users::UserService& users, Bus& bus,
                     const Clock& clock, OnPremReplies* learner, AiOptions options,
                     EngineChoice choice)
    : impl_(std::make_unique<Impl>(gateway, store, messaging, search, users, bus, clock, learner,
                                   std::move(options), choice)) {}

AiService::~AiService() { stop(); }

Result<void> AiService::start() {
  auto& i = *impl_;
  (void)i.ready_bot();  // on a new server: once the first person has registered
  i.assistant = std::make_unique<Assistant>(i);
  i.refresh_learned();
  i.sub = i.bus.subscribe(std::string(messaging::kEventsTopic),
                          [&i](std::string_view payload) { i.on_event(payload); });
  i.timer = std::thread([&i] { i.timer_loop(); });
  return ok();
}

void AiService::stop() {
  auto& i = *impl_;
  i.sub.reset();
  {
    std::lock_guard lock(i.timer_mu);
    i.stopping = true;
  }
  i.timer_cv.notify_all();
  if (i.timer.joinable()) i.timer.join();
}

const std::string& AiService::assistant_id() const {
  static const std::string none;
  return impl_->ready_bot() ? impl_->bot_id : none;
}

Capabilities AiService::capabilities() const {
  const auto& e = impl_->gateway.engines();
  Capabilities c;
  for (const auto& p : impl_->pairs()) c.translate_pairs.push_back(p.code());
  if (e.transcribe) c.transcribe_languages = e.transcribe->languages();
  c.smart_replies = e.replies != nullptr;
  c.sentiment = e.sentiment != nullptr;
  c.assistant_user_id = impl_->ready_bot() ? impl_->bot_id : "";
  if (impl_->choice.external_chat) c.external_engines.push_back("chat");
  if (impl_->choice.external_translate) c.external_engines.push_back("translate");
  if (impl_->choice.external_replies) c.external_engines.push_back("smart_replies");
  return c;
}

Result<Translation> AiService::translate_message(const std::string& caller,
                                                 const std::string& message_id,
                                                 const std::string& to) {
  auto m = impl_->messaging.get_message(caller, message_id);
  if (!m) return fail(m.error());
  if (m->deleted || m->text.empty())
    return fail(Errc::failed_precondition, "the message has no text to translate");
  return impl_->translate_text(caller, m->text, to);
}

Result<Translation> AiService::translate_text(const std::string& caller, const std::string& text,
                                              const std::string& to) {
  if (text.empty() || static_cast<int>(text.size()) > impl_->opts.max_text_chars * 4)
    return fail(Errc::invalid_argument, "text must be 1 to 16000 characters", "text");
  return impl_->translate_text(caller, text, to);
}

Detection AiService::detect(const std::string& text) const { return impl_->detect(text); }

Result<std::vector<std::string>> AiService::smart_replies(const std::string& caller,
                                                          const std::string& conversation_id) {
  messaging::HistoryQuery q;
  q.limit = 10;
  auto page = impl_->messaging.history(caller, conversation_id, q);
  if (!page) return fail(page.error());
  ReplyContext ctx;
  int last_other = -1;
  for (const auto& m : page->messages) {
    if (m.deleted || m.text.empty()) continue;
    ctx.recent.push_back({m.text, m.sender_id == caller});
    if (m.sender_id != caller) last_other = static_cast<int>(ctx.recent.size()) - 1;
  }
  if (last_other < 0) return std::vector<std::string>{};
  ctx.recent.resize(static_cast<std::size_t>(last_other) + 1);
  return impl_->gateway.suggest_replies(caller, ctx, 3);
}

Result<Sentiment> AiService::sentiment(const std::string& caller, const std::string& text) {
  if (text.empty() || static_cast<int>(text.size()) > impl_->opts.max_text_chars * 4)
    return fail(Errc::invalid_argument, "text must be 1 to 16000 characters", "text");
  auto* s = impl_->gateway.engines().sentiment;
  if (!s) return fail(Errc::unavailable, "no sentiment engine is configured");
  if (auto q = impl_->gateway.take_quota(caller); !q) return fail(q.error());
  return s->score(text);
}

Result<std::vector<AiService::ChannelSentiment>> AiService::sentiment_days(
    const std::string& caller, const std::string& from, const std::string& to) {
  auto days = impl_->store.sentiment_days(from, to);
  if (!days) return fail(days.error());
  std::vector<ChannelSentiment> out;
  std::unordered_map<std::string, std::optional<std::string>> names;  // id -> channel name
  for (auto& d : *days) {
    auto it = names.find(d.conversation_id);
    if (it == names.end()) {
      auto v = impl_->messaging.get(caller, d.conversation_id);
      std::optional<std::string> name;
      if (v && v->conversation.type == messaging::ConversationType::channel)
        name = v->conversation.name;
      it = names.emplace(d.conversation_id, name).first;
    }
    if (it->second) out.push_back({std::move(d), *it->second});
  }
  return out;
}

Result<std::string> AiService::language(const std::string& user_id) {
  return impl_->store.user_language(user_id);
}

Result<void> AiService::set_language(const std::string& user_id, const std::string& language) {
  if (!language.empty() && !impl_->languages().count(language))
    return fail(Errc::invalid_argument,
                "language must be one this server translates into (see /api/v1/ai/capabilities)",
                "language");
  return impl_->store.set_user_language(user_id, language);
}

Result<bool> AiService::auto_translate(const std::string& caller,
                                       const std::string& conversation_id) {
  auto m = impl_->messaging.is_member(conversation_id, caller);
  if (!m) return fail(m.error());
  if (!*m) return fail(Errc::not_found, "conversation not found");
  return impl_->store.auto_translate(caller, conversation_id);
}

Result<void> AiService::set_auto_translate(const std::string& caller,
                                           const std::string& conversation_id, bool on) {
  auto m = impl_->messaging.is_member(conversation_id, caller);
  if (!m) return fail(m.error());
  if (!*m) return fail(Errc::not_found, "conversation not found");
  return impl_->store.set_auto_translate(caller, conversation_id, on);
}

Result<std::string> AiService::assistant_answer(const std::string& user_id,
                                                const std::string& conversation_id,
                                                const std::string& command) {
  return impl_->assistant->answer(user_id, conversation_id, command, "");
}

bool is_voice_type(std::string_view t) {
  return t.starts_with("audio/") || t == "video/webm" || t == "video/ogg" ||
         t == "application/ogg";
}

}  // namespace parley::ai
