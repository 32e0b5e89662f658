#include "modules/integrations/integrations.h"

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>

#include "core/crypto.h"
#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "core/text.h"
#include "modules/auth/auth.h"
#include "modules/jobs/jobs.h"

namespace parley::integrations {

std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    auto end = text.find(' ', at);
    if (end == std::string::npos) end = text.size();
    if (end > at) out.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

const std::vector<std::string>& all_scopes() {
  static const std::vector<std::string> v{std::string(kMessagesRead), std::string(kMessagesWrite),
                                          std::string(kConversationsRead),
                                          std::string(kConversationsWrite)};
  return v;
}

const std::vector<std::string>& default_scopes() {
  static const std::vector<std::string> v{std::string(kMessagesRead), std::string(kMessagesWrite),
                                          std::string(kConversationsRead)};
  return v;
}

std::string signature(std::string_view secret, std::string_view body) {
  return "sha256=" + hex_encode(hmac_sha256(secret, body));
}

std::optional<CommandLine> parse_command_line(std::string_view text) {
  text = text::trim(text);
  if (text.size() < 2 || text[0] != '/') return std::nullopt;
  std::size_t end = 1;
  while (end < text.size() && end <= 33) {
    char c = text[end];
    bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-';
    if (!word) break;
    ++end;
  }
  if (end == 1 || end > 33) return std::nullopt;
  if (end < text.size() && text[end] != ' ' && text[end] != '\t' && text[end] != '\n' &&
      text[end] != '\r')
    return std::nullopt;
  return CommandLine{text::ascii_lower(text.substr(1, end - 1)),
                     std::string(text::trim(text.substr(end)))};
}

namespace {

constexpr int kMaxName = 80;
constexpr std::size_t kMaxUrl = 2048;
constexpr std::size_t kMaxRendered = 16'000;

Error not_found(const char* what) {
  return {Errc::not_found, std::string(what) + " not found", {}, 0};
}

std::string hash_hex(std::string_view secret) { return hex_encode(sha256(secret)); }

// 32 random bytes as base64url: 256 bits, nothing to guess.
std::string new_secret() { return base64url_encode(random_bytes(32)); }

Result<std::vector<std::string>> check_scopes(const std::vector<std::string>& scopes) {
  std::vector<std::string> out;
  for (const auto& s : scopes) {
    if (std::find(all_scopes().begin(), all_scopes().end(), s) == all_scopes().end())
      return fail(Errc::invalid_argument, "unknown scope \"" + s.substr(0, 40) + "\"", "scopes");
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  if (out.empty())
    return fail(Errc::invalid_argument, "a token needs at least one scope", "scopes");
  return out;
}

TokenInfo info_of(const TokenRecord& t) { return {t.id, t.scopes, t.created_at, t.revoked_at}; }

// An absolute http(s) URL without userinfo, of sane length; its host as written.
Result<std::string> check_url(const std::string& url, const char* field) {
  if (url.empty() || url.size() > kMaxUrl || !text::is_valid_utf8(url) ||
      text::has_control_chars(url, false) || url.find(' ') != std::string::npos)
    return fail(Errc::invalid_argument, "url must be an absolute http or https URL", field);
  std::string lower = text::ascii_lower(url);
  std::size_t rest = lower.starts_with("http://") ? 7 : lower.starts_with("https://") ? 8 : 0;
  if (rest == 0)
    return fail(Errc::invalid_argument, "url must be an absolute http or https URL", field);
  auto end = url.find_first_of("/?#", rest);
  std::string authority =
      url.substr(rest, end == std::string::npos ? std::string::npos : end - rest);
  if (authority.empty() || authority.find('@') != std::string::npos)
    return fail(Errc::invalid_argument, "url must name a host and no user", field);
  std::string host = authority;
  if (host.front() == '[') {
    auto close = host.find(']');
    if (close == std::string::npos)
      return fail(Errc::invalid_argument, "url has a bad host", field);
    host = host.substr(1, close - 1);
  } else if (auto colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  return host;
}

std::string render_field_text(const boost::json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_uint64()) return std::to_string(v.as_uint64());
  if (v.is_double()) return json::serialize(v);
  if (v.is_bool()) return v.as_bool() ? "true" : "false";
  return {};
}

}  // namespace

Result<std::string> render_slack_payload(std::string_view raw) {
  auto parsed = json::parse_object(raw);
  if (!parsed) return fail(parsed.error());
  const auto& o = *parsed;
  auto str = [&](const boost::json::object& obj, std::string_view key,
                 std::string_view field) -> Result<std::string> {
    auto it = obj.find(key);
    if (it == obj.end() || it->value().is_null()) return std::string();
    if (!it->value().is_string())
      return fail(Errc::malformed, std::string(field) + " must be a string", std::string(field));
    return std::string(it->value().as_string());
  };
  auto text = str(o, "text", "text");
  if (!text) return fail(text.error());
  auto username = str(o, "username", "username");
  if (!username) return fail(username.error());
  if (auto icon = str(o, "icon_url", "icon_url"); !icon) return fail(icon.error());

  std::string out;
  std::string name(text::trim(*username));
  if (!name.empty()) out += "**" + name + "**\n";
  out += *text;

  auto atts = o.find("attachments");
  if (atts != o.end() && !atts->value().is_null()) {
    if (!atts->value().is_array())
      return fail(Errc::malformed, "attachments must be an array", "attachments");
    for (const auto& a : atts->value().as_array()) {
      if (!a.is_object())
        return fail(Errc::malformed, "each attachment must be an object", "attachments");
      const auto& att = a.as_object();
      std::string part;
      auto add = [&](const std::string& s) {
        if (s.empty()) return;
        if (!part.empty()) part += "\n";
        part += s;
      };
      Result<std::string> fields[6] = {
          str(att, "pretext", "attachments.pretext"),       str(att, "title", "attachments.title"),
          str(att, "title_link", "attachments.title_link"), str(att, "text", "attachments.text"),
          str(att, "fallback", "attachments.fallback"),     str(att, "color", "attachments.color")};
      for (auto& f : fields)
        if (!f) return fail(f.error());
      const auto& [pretext, title, link, atext, fallback, color] = fields;
      add(*pretext);
      if (!title->empty()) {
        std::string lk = text::ascii_lower(*link);
        if (!link->empty() && (lk.starts_with("https://") || lk.starts_with("http://")))
          add("**[" + *title + "](" + *link + ")**");
        else
          add("**" + *title + "**");
      }
      add(*atext);
      auto fl = att.find("fields");
      if (fl != att.end() && !fl->value().is_null()) {
        if (!fl->value().is_array())
          return fail(Errc::malformed, "attachments.fields must be an array", "attachments.fields");
        for (const auto& f : fl->value().as_array()) {
          if (!f.is_object())
            return fail(Errc::malformed, "each field must be an object", "attachments.fields");
          auto ft = str(f.as_object(), "title", "attachments.fields.title");
          if (!ft) return fail(ft.error());
          auto fv = f.as_object().find("value");
          std::string value = fv == f.as_object().end() ? "" : render_field_text(fv->value());
          if (ft->empty() && value.empty()) continue;
          add(ft->empty() ? value : "**" + *ft + "**: " + value);
        }
      }
      if (part.empty()) add(*fallback);
      if (part.empty()) continue;
      // A colour bar has no markdown; a quote block keeps the attachment apart from the text.
      std::string quoted;
      std::size_t at = 0;
      while (at <= part.size()) {
        auto nl = part.find('\n', at);
        if (nl == std::string::npos) nl = part.size();
        quoted += "> " + part.substr(at, nl - at) + "\n";
        at = nl + 1;
      }
      quoted.pop_back();
      if (!out.empty()) out += "\n";
      out += quoted;
      (void)color;
    }
  }
  std::string trimmed(text::trim(out));
  if (trimmed.empty() || (!name.empty() && trimmed == "**" + name + "**"))
    return fail(Errc::invalid_argument, "the payload has nothing to post: give text or attachments",
                "text");
  if (text::char_count(trimmed) > kMaxRendered)
    return fail(Errc::invalid_argument, "the payload renders to more than 16000 characters",
                "text");
  return trimmed;
}

// ---- outgoing deliveries ----

namespace {

struct Delivery {
  std::string hook_id;
  std::string url;
  std::string secret;
  std::string event;
  std::string event_id;
  std::string body;
  int attempt = 0;  // attempts made so far
};

bool retryable(int status) { return status == 408 || status == 429 || status >= 500; }

}  // namespace

struct IntegrationService::Impl {
  IntegrationStore& store;
  users::UserService& users;
  messaging::MessagingService& messaging;
  Bus& bus;
  const Clock& clock;
  outbound::HttpFetcher* fetcher;
  WorkerPool* deliveries;
  IntegrationOptions opts;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::multimap<Millis, Delivery> due;  // by the time of their next attempt
  std::uint64_t delivered = 0, abandoned = 0, in_flight = 0;
  std::thread timer;
  jobs::JobQueue* queue = nullptr;  // use_job_queue(): deliveries are webhook.deliver jobs

  // The outgoing hooks of recently active conversations, so a send costs no query: a hook made
  // or deleted on this node applies at once, on another node within kHookCacheMs.
  static constexpr Millis kHookCacheMs = 5'000;
  static constexpr std::size_t kHookCacheMax = 10'000;
  std::mutex cache_mu;
  std::unordered_map<std::string, std::pair<Millis, std::vector<OutgoingRecord>>> hook_cache;

  Result<std::vector<OutgoingRecord>> hooks_of(const std::string& conversation_id) {
    Millis now = clock.now_ms();
    {
      std::lock_guard lock(cache_mu);
      auto it = hook_cache.find(conversation_id);
      if (it != hook_cache.end() && now - it->second.first < kHookCacheMs) return it->second.second;
    }
    auto rows = store.outgoing_of(conversation_id);
    if (!rows) return rows;
    std::lock_guard lock(cache_mu);
    if (hook_cache.size() >= kHookCacheMax) hook_cache.clear();
    hook_cache[conversation_id] = {now, *rows};
    return rows;
  }
  void forget_hooks(const std::string& conversation_id) {
    none_anywhere_until = 0;
    std::lock_guard lock(cache_mu);
    hook_cache.erase(conversation_id);
  }
  // Until when this node knows no conversation has an outgoing webhook (most servers have
  // none): new messages then write no webhook.message job at all. Read on the storage thread.
  std::atomic<Millis> none_anywhere_until{0};
  std::atomic<bool> noting{false};  // one reader at a time
  void note_whether_any_hooks() {
    if (noting.exchange(true)) return;
    auto any = store.any_outgoing();
    if (any && !*any) none_anywhere_until = clock.now_ms() + kHookCacheMs;
    noting = false;
  }

  // Whether this node knows, freshly, that the conversation has no outgoing webhooks. No I/O.
  bool known_without_hooks(const std::string& conversation_id) {
    Millis now = clock.now_ms();
    if (now < none_anywhere_until.load(std::memory_order_relaxed)) return true;
    std::lock_guard lock(cache_mu);
    auto it = hook_cache.find(conversation_id);
    return it != hook_cache.end() && now - it->second.first < kHookCacheMs &&
           it->second.second.empty();
  }

  // The event as a hook receives it: named, with its data as the WebSocket event carries it.
  static std::string event_body(const std::string& event_id, std::string_view event,
                                Millis created_at, const std::string& hook_id,
                                const std::string& conversation_id, const std::string& data) {
    return "{\"id\":\"" + event_id + "\",\"event\":\"" + std::string(event) +
           "\",\"created_at\":" + std::to_string(created_at) + ",\"hook_id\":\"" + hook_id +
           "\",\"conversation_id\":\"" + conversation_id + "\",\"data\":" + data + "}";
  }
  jobs::NewJob delivery_job(const std::string& hook_id, const std::string& conversation_id,
                            std::string_view event, const std::string& event_id,
                            std::string body) const {
    return {kDeliverJob,
            json::serialize(boost::json::object{{"hook_id", hook_id},
                                                {"conversation_id", conversation_id},
                                                {"event", event},
                                                {"event_id", event_id},
                                                {"body", std::move(body)}}),
            "webhook:" + event_id + ":" + hook_id, 0, opts.delivery_attempts};
  }

  // A job payload's string field; "" when absent or not a string.
  static std::string text_field(const boost::json::object& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->value().is_string() ? std::string(it->value().as_string())
                                                    : std::string();
  }

  // webhook.message: a committed message -> a delivery per hook subscribed to message.created.
  // Its event id comes from the message, so a second run queues nothing new (idempotency keys).
  Result<void> message_job(const jobs::Job& job) {
    auto p = json::parse_object(job.payload);
    if (!p) return fail(Errc::invalid_argument, "webhook.message payload is not JSON");
    auto field = [&](const char* k) { return text_field(*p, k); };
    const std::string conv = field("conversation_id");
    auto hooks = hooks_of(conv);
    if (!hooks) return fail(hooks.error());
    if (hooks->empty()) {
      note_whether_any_hooks();
      return ok();
    }
    auto m = messaging.get_message(field("sender_id"), field("message_id"));
    // The sender left or the message is gone: nothing to tell.
    if (!m) return m.error().code == Errc::not_found ? ok() : fail(m.error());
    if (m->deleted) return ok();
    const std::string event_id = "msg_" + m->id;
    const std::string data = json::serialize(messaging::to_json(*m));
    std::vector<jobs::NewJob> out;
    for (const auto& h : *hooks)
      if (std::find(h.events.begin(), h.events.end(), kMessageCreated) != h.events.end())
        out.push_back(delivery_job(h.id, conv, kMessageCreated, event_id,
                                   event_body(event_id, kMessageCreated, m->created_at, h.id, conv,
                                              data)));
    if (out.empty()) return ok();
    return queue->enqueue(out);
  }
  bool messages_by_hook = false;  // append_hook() taken: publish() skips message.created

  Impl(IntegrationStore& s, users::UserService& u, messaging::MessagingService& m, Bus& b,
       const Clock& c, outbound::HttpFetcher* f, WorkerPool* d, IntegrationOptions o)
      : store(s),
        users(u),
        messaging(m),
        bus(b),
        clock(c),
        fetcher(f),
        deliveries(d),
        opts(std::move(o)) {
    if (fetcher && deliveries) timer = std::thread([this] { run_timer(); });
  }

  // Owner or admin of the conversation; not_found when the caller may not see it (or is not a
  // member: hooks are the members' business), invalid_argument for a DM (it has no owner),
  // permission_denied for a plain member.
  Result<messaging::ConversationView> require_manager(const std::string& caller,
                                                      const std::string& conversation_id) {
    auto v = messaging.get(caller, conversation_id);
    if (!v) return fail(v.error());
    if (!v->me) return fail(not_found("conversation"));
    if (v->conversation.type == messaging::ConversationType::dm)
      return fail(Errc::invalid_argument, "a direct conversation has no integrations",
                  "conversation_id");
    if (v->me->role == messaging::Role::member)
      return fail(Errc::permission_denied,
                  "only the conversation's owners and admins manage its integrations");
    return v;
  }

  // A conversation's hooks of one kind, for its managers.
  template <class Record, class View>
  Result<std::vector<View>> list_hooks(
      const std::string& caller, const std::string& conversation_id,
      Result<std::vector<Record>> (IntegrationStore::*rows_of)(const std::string&),
      View (*view)(const Record&)) {
    if (auto v = require_manager(caller, conversation_id); !v) return fail(v.error());
    auto rows = (store.*rows_of)(conversation_id);
    if (!rows) return fail(rows.error());
    std::vector<View> out;
    for (const auto& r : *rows) out.push_back(view(r));
    return out;
  }

  // One hook of the conversation, for its managers: not_found for any other id.
  template <class Record>
  Result<Record> managed_hook(const std::string& caller, const std::string& conversation_id,
                              const std::string& id,
                              Result<Record> (IntegrationStore::*find)(const std::string&)) {
    if (auto v = require_manager(caller, conversation_id); !v) return fail(v.error());
    if (!looks_like_id(id)) return fail(not_found("webhook"));
    auto r = (store.*find)(id);
    if (!r) return fail(r.error());
    if (r->conversation_id != conversation_id) return fail(not_found("webhook"));
    return r;
  }

  Result<BotRecord> owned_bot(const std::string& owner, const std::string& bot_id) {
    if (!looks_like_id(bot_id)) return fail(not_found("bot"));
    auto b = store.find_bot(bot_id);
    if (!b) return fail(b.error());
    if (b->owner_id != owner) return fail(not_found("bot"));
    return b;
  }

  Result<Bot> bot_view(const BotRecord& r) {
    auto u = users.get(r.id);
    if (!u) return fail(u.error());
    auto tokens = store.tokens_of(r.id);
    if (!tokens) return fail(tokens.error());
    Bot b{r.id, u->username, u->display_name, r.owner_id, r.created_at, {}};
    for (const auto& t : *tokens) b.tokens.push_back(info_of(t));
    return b;
  }

  Result<IssuedToken> issue(const std::string& bot_id, std::vector<std::string> scopes) {
    TokenRecord t;
    t.created_at = clock.now_ms();
    t.id = new_id(t.created_at);
    t.bot_id = bot_id;
    t.scopes = std::move(scopes);
    std::string secret = new_secret();
    t.secret_hash = hash_hex(secret);
    if (auto r = store.insert_token(t); !r) return fail(r.error());
    return IssuedToken{info_of(t), std::string(kBotTokenPrefix) + t.id + "." + secret};
  }

  void revoked(const std::string& token_id) {
    bus.publish(auth::kSessionRevokedTopic, std::string(kBotSessionPrefix) + token_id);
  }

  // ---- deliveries ----

  void enqueue(Delivery d, Millis at) {
    std::lock_guard lock(mu);
    if (stopping) return;
    due.emplace(at, std::move(d));
    cv.notify_all();
  }

  void run_timer() {
    std::unique_lock lock(mu);
    while (!stopping) {
      if (due.empty()) {
        cv.wait(lock);
        continue;
      }
      Millis now = clock.now_ms();
      auto first = due.begin();
      if (first->first > now) {
        cv.wait_for(lock, std::chrono::milliseconds(std::min<Millis>(first->first - now, 1'000)));
        continue;
      }
      Delivery d = std::move(first->second);
      due.erase(first);
      ++in_flight;
      lock.unlock();
      auto task = [this, d]() mutable { attempt(std::move(d)); };
      if (!deliveries->try_submit(task)) {
        // The pool is full: try again shortly rather than drop the delivery.
        lock.lock();
        --in_flight;
        due.emplace(clock.now_ms() + 200, std::move(d));
        continue;
      }
      lock.lock();
    }
  }

  void attempt(Delivery d) {
    ++d.attempt;
    outbound::FetchRequest req;
    req.method = "POST";
    req.url = d.url;
    req.body = d.body;
    req.limits = opts.delivery_limits;
    req.user_agent = "Parley-Webhooks/1.0";
    req.headers = {{"Content-Type", "application/json"},
                   {"Parley-Event", d.event},
                   {"Parley-Event-Id", d.event_id},
                   {"Parley-Delivery-Attempt", std::to_string(d.attempt)},
                   {"Parley-Signature", signature(d.secret, d.body)}};
    auto got = fetcher->fetch(req);
    bool done = got && got->status >= 200 && got->status < 300;
    bool again = !done && d.attempt < opts.delivery_attempts &&
                 (got ? retryable(got->status)
                      : got.error().message != outbound::kAddressNotAllowed &&
                            got.error().code != Errc::invalid_argument);
    std::string why = got ? "status " + std::to_string(got->status) : got.error().message;
    std::unique_lock lock(mu);
    --in_flight;
    if (done) {
      ++delivered;
    } else if (again && !stopping) {
      Millis wait = opts.retry_base_ms << std::min(d.attempt - 1, 16);
      std::string hook_id = d.hook_id;
      due.emplace(clock.now_ms() + wait, std::move(d));
      cv.notify_all();
      lock.unlock();
      log::info("webhook delivery failed, will retry", {{"hook_id", hook_id}, {"reason", why}});
      return;
    } else {
      ++abandoned;
      lock.unlock();
      log::warn("webhook delivery abandoned",
                {{"hook_id", d.hook_id}, {"event_id", d.event_id}, {"reason", why}});
      return;
    }
    cv.notify_all();
  }

  // webhook.deliver: one attempt; the queue retries (unavailable) or dead-letters
  // (invalid_argument) what fails. The hook's URL and secret are read now, never stored in the
  // outbox: a hook deleted meanwhile gets nothing.
  Result<void> deliver_job(const jobs::Job& job) {
    auto p = json::parse_object(job.payload);
    if (!p) return fail(Errc::invalid_argument, "webhook.deliver payload is not JSON");
    auto field = [&](const char* k) { return text_field(*p, k); };
    std::string hook_id = field("hook_id"), conv = field("conversation_id");
    auto hooks = store.outgoing_of(conv);
    if (!hooks) return fail(hooks.error());
    auto h = std::find_if(hooks->begin(), hooks->end(),
                          [&](const OutgoingRecord& r) { return r.id == hook_id; });
    if (h == hooks->end()) return ok();  // deleted since
    outbound::FetchRequest req;
    req.method = "POST";
    req.url = h->url;
    req.body = field("body");
    req.limits = opts.delivery_limits;
    req.user_agent = "Parley-Webhooks/1.0";
    req.headers = {{"Content-Type", "application/json"},
                   {"Parley-Event", field("event")},
                   {"Parley-Event-Id", field("event_id")},
                   {"Parley-Delivery-Attempt", std::to_string(job.attempts)},
                   {"Parley-Signature", signature(h->secret, req.body)}};
    auto got = fetcher->fetch(req);
    std::lock_guard lock(mu);
    if (got && got->status >= 200 && got->status < 300) {
      ++delivered;
      return ok();
    }
    bool again = got ? retryable(got->status)
                     : got.error().message != outbound::kAddressNotAllowed &&
                           got.error().code != Errc::invalid_argument;
    std::string why = got ? "status " + std::to_string(got->status) : got.error().message;
    int max = job.max_attempts > 0 ? job.max_attempts : opts.delivery_attempts;
    if (!again || job.attempts >= max) ++abandoned;
    return fail(again ? Errc::unavailable : Errc::invalid_argument, "webhook delivery: " + why);
  }

  void stop() {
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      stopping = true;
      if (!due.empty())
        log::warn("webhook deliveries dropped at shutdown",
                  {{"count", static_cast<std::int64_t>(due.size())}});
      due.clear();
    }
    cv.notify_all();
    if (timer.joinable()) timer.join();
  }
};

IntegrationService::IntegrationService(IntegrationStore& store, users::UserService& users,
                                       messaging::MessagingService& messaging, Bus& bus,
                                       const Clock& clock, outbound::HttpFetcher* fetcher,
                                       WorkerPool* deliveries, IntegrationOptions options)
    : impl_(std::make_unique<Impl>(store, users, messaging, bus, clock, fetcher, deliveries,
                                   std::move(options))) {}

IntegrationService::~IntegrationService() { impl_->stop(); }

void IntegrationService::stop() { impl_->stop(); }

// ---- bots ----

Result<BotCreated> IntegrationService::create_bot(const std::string& owner_id, const NewBot& in) {
  std::vector<std::string> scopes = in.scopes ? *in.scopes : default_scopes();
  auto checked = check_scopes(scopes);
  if (!checked) return fail(checked.error());
  auto user = impl_->users.create({in.username, in.display_name, std::nullopt});
  if (!user) return fail(user.error());
  BotRecord r{user->id, owner_id, impl_->clock.now_ms()};
  if (auto ins = impl_->store.insert_bot(r); !ins) {
    (void)impl_->users.remove(user->id);
    return fail(ins.error());
  }
  auto token = impl_->issue(r.id, std::move(*checked));
  if (!token) return fail(token.error());
  Bot b{r.id, user->username, user->display_name, owner_id, r.created_at, {token->info}};
  return BotCreated{std::move(b), std::move(*token)};
}

Result<std::vector<Bot>> IntegrationService::bots(const std::string& owner_id) {
  auto rows = impl_->store.bots_of(owner_id);
  if (!rows) return fail(rows.error());
  std::vector<Bot> out;
  for (const auto& r : *rows) {
    auto b = impl_->bot_view(r);
    if (!b) return fail(b.error());
    out.push_back(std::move(*b));
  }
  return out;
}

Result<Bot> IntegrationService::bot(const std::string& owner_id, const std::string& bot_id) {
  auto r = impl_->owned_bot(owner_id, bot_id);
  if (!r) return fail(r.error());
  return impl_->bot_view(*r);
}

Result<void> IntegrationService::delete_bot(const std::string& owner_id,
                                            const std::string& bot_id) {
  auto r = impl_->owned_bot(owner_id, bot_id);
  if (!r) return fail(r.error());
  auto tokens = impl_->store.tokens_of(bot_id);
  if (!tokens) return fail(tokens.error());
  if (auto d = impl_->store.delete_bot(bot_id); !d) return d;
  for (const auto& t : *tokens)
    if (!t.revoked_at) impl_->revoked(t.id);
  return ok();
}

Result<IssuedToken> IntegrationService::issue_token(
    const std::string& owner_id, const std::string& bot_id,
    const std::optional<std::vector<std::string>>& scopes) {
  auto r = impl_->owned_bot(owner_id, bot_id);
  if (!r) return fail(r.error());
  auto checked = check_scopes(scopes ? *scopes : default_scopes());
  if (!checked) return fail(checked.error());
  return impl_->issue(bot_id, std::move(*checked));
}

Result<void> IntegrationService::revoke_token(const std::string& owner_id,
                                              const std::string& bot_id,
                                              const std::string& token_id) {
  auto r = impl_->owned_bot(owner_id, bot_id);
  if (!r) return fail(r.error());
  if (!looks_like_id(token_id)) return fail(not_found("token"));
  auto t = impl_->store.find_token(token_id);
  if (!t) return fail(t.error());
  if (t->bot_id != bot_id) return fail(not_found("token"));
  if (auto v = impl_->store.revoke_token(token_id, impl_->clock.now_ms()); !v) return v;
  impl_->revoked(token_id);
  return ok();
}

Result<IssuedToken> IntegrationService::rotate_token(const std::string& owner_id,
                                                     const std::string& bot_id,
                                                     const std::string& token_id) {
  auto r = impl_->owned_bot(owner_id, bot_id);
  if (!r) return fail(r.error());
  if (!looks_like_id(token_id)) return fail(not_found("token"));
  auto t = impl_->store.find_token(token_id);
  if (!t) return fail(t.error());
  if (t->bot_id != bot_id) return fail(not_found("token"));
  if (t->revoked_at) return fail(Errc::failed_precondition, "the token was revoked");
  auto fresh = impl_->issue(bot_id, t->scopes);
  if (!fresh) return fail(fresh.error());
  if (auto v = impl_->store.revoke_token(token_id, impl_->clock.now_ms()); !v)
    return fail(v.error());
  impl_->revoked(token_id);
  return fresh;
}

Result<BotPrincipal> IntegrationService::authenticate(const std::string& token) {
  const Error bad{Errc::unauthenticated, "invalid or revoked token", {}, 0};
  if (!is_bot_token(token)) return fail(bad);
  std::string_view rest = std::string_view(token).substr(kBotTokenPrefix.size());
  auto dot = rest.find('.');
  if (dot == std::string_view::npos) return fail(bad);
  std::string id(rest.substr(0, dot));
  std::string_view secret = rest.substr(dot + 1);
  if (!looks_like_id(id) || secret.empty() || secret.size() > 128) return fail(bad);
  auto t = impl_->store.find_token(id);
  if (!t) return fail(t.error().code == Errc::not_found ? bad : t.error());
  if (!constant_time_equal(hash_hex(secret), t->secret_hash) || t->revoked_at) return fail(bad);
  auto b = impl_->store.find_bot(t->bot_id);
  if (!b) return fail(b.error().code == Errc::not_found ? bad : b.error());
  // A deactivated bot account, or a bot whose owner was deactivated, acts no more.
  for (const auto& id : {b->id, b->owner_id}) {
    auto u = impl_->users.get(id);
    if (!u) return fail(u.error().code == Errc::not_found ? bad : u.error());
    if (u->deactivated_at) return fail(bad);
  }
  return BotPrincipal{b->id, std::string(kBotSessionPrefix) + t->id, b->owner_id, t->scopes};
}

Result<void> IntegrationService::check_session(const std::string& session_id) {
  if (!session_id.starts_with(kBotSessionPrefix))
    return fail(Errc::unauthenticated, "not a bot session");
  auto t = impl_->store.find_token(session_id.substr(kBotSessionPrefix.size()));
  if (!t)
    return fail(t.error().code == Errc::not_found
                    ? Error{Errc::unauthenticated, "token revoked", {}, 0}
                    : t.error());
  if (t->revoked_at) return fail(Errc::unauthenticated, "token revoked");
  return ok();
}

Result<void> IntegrationService::disconnect_bots(const std::string& user_id) {
  auto& s = *impl_;
  auto owned = s.store.bots_of(user_id);
  if (!owned) return fail(owned.error());
  for (const auto& b : *owned) s.bus.publish(auth::kUserDisconnectTopic, b.id);
  if (auto self = s.store.find_bot(user_id); self)
    s.bus.publish(auth::kUserDisconnectTopic, user_id);
  else if (self.error().code != Errc::not_found)
    return fail(self.error());
  return ok();
}

// ---- incoming webhooks ----

namespace {

Result<std::string> check_name(const std::string& raw) {
  std::string name(text::trim(raw));
  if (name.empty() || text::char_count(name) > kMaxName || !text::is_valid_utf8(name) ||
      text::has_control_chars(name, false))
    return fail(Errc::invalid_argument, "name must be 1 to 80 characters", "name");
  return name;
}

IncomingWebhook incoming_of(const IncomingRecord& r) {
  return {r.id, r.conversation_id, r.name, r.bot_id, r.created_by, r.created_at};
}

OutgoingWebhook outgoing_of(const OutgoingRecord& r) {
  return {r.id, r.conversation_id, r.url, r.events, r.created_by, r.created_at};
}

Command command_of(const CommandRecord& r) {
  return {r.id, r.trigger, r.url, r.owner_id, r.created_at};
}

}  // namespace

Result<IncomingCreated> IntegrationService::create_incoming(const std::string& caller,
                                                            const std::string& conversation_id,
                                                            const std::string& raw_name) {
  auto name = check_name(raw_name);
  if (!name) return fail(name.error());
  if (auto v = impl_->require_manager(caller, conversation_id); !v) return fail(v.error());
  auto existing = impl_->store.incoming_of(conversation_id);
  if (!existing) return fail(existing.error());
  if (static_cast<int>(existing->size()) >= impl_->opts.max_hooks_per_conversation)
    return fail(Errc::failed_precondition, "this conversation has as many webhooks as allowed");
  // The hook posts as a bot account of its own, named after the hook, so its messages are never
  // mistaken for the person who created it.
  auto user = impl_->users.create(
      {"hook-" + text::ascii_lower(hex_encode(random_bytes(6))), *name, std::nullopt});
  if (!user) return fail(user.error());
  Millis now = impl_->clock.now_ms();
  if (auto b = impl_->store.insert_bot({user->id, caller, now}); !b) return fail(b.error());
  if (auto added = impl_->messaging.add_members(caller, conversation_id, {user->id}); !added) {
    (void)impl_->store.delete_bot(user->id);
    return fail(added.error());
  }
  IncomingRecord r;
  r.created_at = now;
  r.id = new_id(now);
  r.conversation_id = conversation_id;
  r.name = *name;
  r.bot_id = user->id;
  std::string secret = new_secret();
  r.secret_hash = hash_hex(secret);
  r.created_by = caller;
  if (auto ins = impl_->store.insert_incoming(r); !ins) return fail(ins.error());
  return IncomingCreated{incoming_of(r), secret};
}

Result<std::vector<IncomingWebhook>> IntegrationService::incoming(
    const std::string& caller, const std::string& conversation_id) {
  return impl_->list_hooks(caller, conversation_id, &IntegrationStore::incoming_of, &incoming_of);
}

Result<void> IntegrationService::delete_incoming(const std::string& caller,
                                                 const std::string& conversation_id,
                                                 const std::string& id) {
  auto r = impl_->managed_hook(caller, conversation_id, id, &IntegrationStore::find_incoming);
  if (!r) return fail(r.error());
  if (auto d = impl_->store.delete_incoming(id); !d) return d;
  // Its bot stops being a bot (nothing can act as it any more); its messages keep their sender.
  return impl_->store.delete_bot(r->bot_id);
}

Result<IncomingWebhook> IntegrationService::check_incoming(const std::string& id,
                                                           const std::string& secret) {
  if (!looks_like_id(id) || secret.empty() || secret.size() > 128)
    return fail(not_found("webhook"));
  auto r = impl_->store.find_incoming(id);
  if (!r) return fail(r.error());
  if (!constant_time_equal(hash_hex(secret), r->secret_hash)) return fail(not_found("webhook"));
  return incoming_of(*r);
}

// ---- outgoing webhooks ----

Result<OutgoingCreated> IntegrationService::create_outgoing(
    const std::string& caller, const std::string& conversation_id, const std::string& url,
    const std::vector<std::string>& events) {
  auto host = check_url(url, "url");
  if (!host) return fail(host.error());
  if (events.empty())
    return fail(Errc::invalid_argument, "events must name at least one event", "events");
  std::vector<std::string> evs;
  for (const auto& e : events) {
    if (e != kMessageCreated)
      return fail(Errc::invalid_argument, "unknown event \"" + e.substr(0, 40) + "\"", "events");
    if (std::find(evs.begin(), evs.end(), e) == evs.end()) evs.push_back(e);
  }
  // An address written in the URL is judged now; a name, at every delivery after resolution.
  if (auto ip = outbound::IpAddress::parse(*host); ip && !impl_->opts.policy.allows(*ip))
    return fail(Errc::invalid_argument, std::string(outbound::kAddressNotAllowed), "url");
  if (!impl_->fetcher) return fail(Errc::unavailable, "outgoing webhooks are not enabled");
  auto v = impl_->require_manager(caller, conversation_id);
  if (!v) return fail(v.error());
  auto existing = impl_->store.outgoing_of(conversation_id);
  if (!existing) return fail(existing.error());
  if (static_cast<int>(existing->size()) >= impl_->opts.max_hooks_per_conversation)
    return fail(Errc::failed_precondition, "this conversation has as many webhooks as allowed");
  OutgoingRecord r;
  r.created_at = impl_->clock.now_ms();
  r.id = new_id(r.created_at);
  r.conversation_id = conversation_id;
  r.url = url;
  r.events = std::move(evs);
  r.secret = "whsec_" + new_secret();
  r.created_by = caller;
  if (auto ins = impl_->store.insert_outgoing(r); !ins) return fail(ins.error());
  impl_->forget_hooks(conversation_id);
  return OutgoingCreated{outgoing_of(r), r.secret};
}

Result<std::vector<OutgoingWebhook>> IntegrationService::outgoing(
    const std::string& caller, const std::string& conversation_id) {
  return impl_->list_hooks(caller, conversation_id, &IntegrationStore::outgoing_of, &outgoing_of);
}

Result<void> IntegrationService::delete_outgoing(const std::string& caller,
                                                 const std::string& conversation_id,
                                                 const std::string& id) {
  auto r = impl_->managed_hook(caller, conversation_id, id, &IntegrationStore::find_outgoing);
  if (!r) return fail(r.error());
  auto d = impl_->store.delete_outgoing(id);
  impl_->forget_hooks(conversation_id);
  return d;
}

void IntegrationService::publish(const std::string& conversation_id, std::string_view event,
                                 std::string data) {
  if (!impl_->fetcher || !impl_->deliveries) return;
  if (impl_->messages_by_hook && event == kMessageCreated) return;  // the commit's job delivers
  auto hooks = impl_->hooks_of(conversation_id);
  if (!hooks) {
    log::warn("webhook deliveries not queued", {{"reason", hooks.error().message}});
    return;
  }
  Millis now = impl_->clock.now_ms();
  std::vector<jobs::NewJob> jobs;
  for (const auto& h : *hooks) {
    if (std::find(h.events.begin(), h.events.end(), event) == h.events.end()) continue;
    std::string event_id = new_id(now);
    std::string body = Impl::event_body(event_id, event, now, h.id, conversation_id, data);
    if (impl_->queue) {
      jobs.push_back(impl_->delivery_job(h.id, conversation_id, event, event_id, std::move(body)));
      continue;
    }
    impl_->enqueue({h.id, h.url, h.secret, std::string(event), event_id, std::move(body), 0}, now);
  }
  if (jobs.empty()) return;
  // The outbox write waits on a commit: on the deliveries pool, never the caller's thread.
  jobs::JobQueue* queue = impl_->queue;
  auto task = [queue, jobs = std::move(jobs)] {
    if (auto r = queue->enqueue(jobs); !r)
      log::warn("webhook deliveries not queued", {{"reason", r.error().message}});
  };
  if (!impl_->deliveries->try_submit(task))
    log::warn("webhook deliveries not queued", {{"reason", "the deliveries pool is full"}});
}

void IntegrationService::message_created(const messaging::Message& m) {
  if (!impl_->fetcher || !impl_->deliveries) return;
  if (!impl_->messages_by_hook)
    return publish(m.conversation_id, kMessageCreated, json::serialize(messaging::to_json(m)));
  // The commit's hook cannot read the store: keep "no hook anywhere" fresh from here, after
  // each send, so a server without outgoing webhooks writes almost no webhook.message jobs.
  if (impl_->clock.now_ms() >= impl_->none_anywhere_until.load(std::memory_order_relaxed))
    impl_->note_whether_any_hooks();
}

void IntegrationService::use_job_queue(jobs::JobQueue& queue) {
  if (!impl_->fetcher || !impl_->deliveries) return;
  impl_->queue = &queue;
  Impl* impl = impl_.get();
  queue.handle(kDeliverJob, [impl](const jobs::Job& j) { return impl->deliver_job(j); });
  queue.handle(kMessageJob, [impl](const jobs::Job& j) { return impl->message_job(j); });
}

messaging::AppendHook IntegrationService::append_hook() {
  Impl* impl = impl_.get();
  if (!impl->queue) return {};
  impl->messages_by_hook = true;
  impl->note_whether_any_hooks();
  return {[impl](const messaging::Message& m) {
            if (impl->known_without_hooks(m.conversation_id)) return std::vector<jobs::NewJob>{};
            return std::vector<jobs::NewJob>{
                {kMessageJob,
                 json::serialize(boost::json::object{{"message_id", m.id},
                                                     {"conversation_id", m.conversation_id},
                                                     {"sender_id", m.sender_id}}),
                 "webhook-message:" + m.id}};
          },
          [impl] { impl->queue->wake(); }};
}

IntegrationService::DeliveryStats IntegrationService::delivery_stats() const {
  std::lock_guard lock(impl_->mu);
  return {impl_->delivered, impl_->abandoned, impl_->due.size() + impl_->in_flight};  // in memory
}

// ---- slash commands ----

Result<CommandCreated> IntegrationService::create_command(const std::string& owner_id,
                                                          const std::string& raw_trigger,
                                                          const std::string& url) {
  std::string t = raw_trigger.starts_with("/") ? raw_trigger.substr(1) : raw_trigger;
  auto line = parse_command_line("/" + t);
  if (!line || !line->text.empty() || t.empty())
    return fail(Errc::invalid_argument, "trigger must be 1 to 32 of a-z 0-9 _ -", "trigger");
  auto host = check_url(url, "url");
  if (!host) return fail(host.error());
  if (auto ip = outbound::IpAddress::parse(*host); ip && !impl_->opts.policy.allows(*ip))
    return fail(Errc::invalid_argument, std::string(outbound::kAddressNotAllowed), "url");
  CommandRecord r;
  r.created_at = impl_->clock.now_ms();
  r.id = new_id(r.created_at);
  r.trigger = line->trigger;
  r.url = url;
  r.secret = "whsec_" + new_secret();
  r.owner_id = owner_id;
  if (auto ins = impl_->store.insert_command(r); !ins) {
    if (ins.error().code == Errc::already_exists)
      return fail(Errc::already_exists, "the command /" + r.trigger + " exists", "trigger");
    return fail(ins.error());
  }
  return CommandCreated{command_of(r), r.secret};
}

Result<std::vector<Command>> IntegrationService::commands() {
  auto rows = impl_->store.commands();
  if (!rows) return fail(rows.error());
  std::vector<Command> out;
  for (const auto& r : *rows) out.push_back(command_of(r));
  return out;
}

Result<void> IntegrationService::delete_command(const std::string& owner_id,
                                                const std::string& id) {
  if (!looks_like_id(id)) return fail(not_found("command"));
  auto r = impl_->store.find_command(id);
  if (!r) return fail(r.error());
  if (r->owner_id != owner_id)
    return fail(Errc::permission_denied, "only the command's owner may delete it");
  return impl_->store.delete_command(id);
}

Result<CommandAnswer> IntegrationService::run_command(const std::string& caller,
                                                      const std::string& conversation_id,
                                                      const CommandLine& line) {
  auto cmd = impl_->store.find_command_by_trigger(line.trigger);
  if (!cmd) {
    if (cmd.error().code == Errc::not_found)
      return fail(Errc::invalid_argument,
                  "unknown command /" + line.trigger + " (start the text with // to send it as is)",
                  "text");
    return fail(cmd.error());
  }
  // Only a member may run a command in a conversation (the URL learns its id).
  auto member = impl_->messaging.is_member(conversation_id, caller);
  if (!member) return fail(member.error());
  if (!*member) return fail(not_found("conversation"));
  if (!impl_->fetcher) return fail(Errc::unavailable, "slash commands are not enabled");
  boost::json::object payload{{"command", "/" + cmd->trigger},
                              {"text", line.text},
                              {"user_id", caller},
                              {"conversation_id", conversation_id}};
  outbound::FetchRequest req;
  req.method = "POST";
  req.url = cmd->url;
  req.body = json::serialize(payload);
  req.limits = impl_->opts.command_limits;
  req.user_agent = "Parley-Commands/1.0";
  req.headers = {{"Content-Type", "application/json"},
                 {"Parley-Event", "command"},
                 {"Parley-Event-Id", new_id(impl_->clock.now_ms())},
                 {"Parley-Signature", signature(cmd->secret, req.body)}};
  auto got = impl_->fetcher->fetch(req);
  const std::string who = "/" + cmd->trigger;
  if (!got) {
    if (got.error().code == Errc::permission_denied)
      return fail(Errc::unavailable,
                  "the command " + who + " may not be reached: " + got.error().message);
    return fail(Errc::unavailable,
                "the command " + who + " did not answer: " + got.error().message);
  }
  if (got->status < 200 || got->status > 299)
    return fail(Errc::unavailable,
                "the command " + who + " answered with status " + std::to_string(got->status));
  auto body = json::parse_object(got->body);
  if (!body) return fail(Errc::unavailable, "the command " + who + " answered with no JSON object");
  auto text = json::optional_string(*body, "text");
  auto vis = json::optional_string(*body, "visibility");
  if (!text || !vis || !*text || text::trim(**text).empty())
    return fail(Errc::unavailable, "the command " + who + " answered without text");
  std::string visibility = vis->value_or("ephemeral");
  if (visibility != "ephemeral" && visibility != "in_channel")
    return fail(Errc::unavailable, "the command " + who + " answered with an unknown visibility");
  return CommandAnswer{cmd->trigger, std::string(text::trim(**text)), visibility == "in_channel"};
}

}  // namespace parley::integrations
