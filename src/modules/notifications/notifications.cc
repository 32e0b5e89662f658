// The notifier: settings validation, the outbox producer, and the two job handlers (fan-out per
// message, delivery per push subscription). Every decision that depends on time or on what the
// user has read is taken again at delivery, so a retried or delayed job never notifies about a
// message the user has read or while they asked for quiet.
#include "modules/notifications/notifications.h"

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cctype>
#include <map>
#include <mutex>

#include "core/crypto.h"
#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "modules/contact/contact.h"
#include "modules/jobs/jobs.h"
#include "tz.h"
#include "web_push.h"

namespace parley::notifications {

namespace {

bool valid_level(const std::string& l) { return l == "all" || l == "mentions" || l == "none"; }

// "HH:MM" -> minutes after midnight.
std::optional<int> parse_hhmm(const std::string& s) {
  if (s.size() != 5 || s[2] != ':' || !std::isdigit(static_cast<unsigned char>(s[0])) ||
      !std::isdigit(static_cast<unsigned char>(s[1])) ||
      !std::isdigit(static_cast<unsigned char>(s[3])) ||
      !std::isdigit(static_cast<unsigned char>(s[4])))
    return std::nullopt;
  int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
  if (h > 23 || m > 59) return std::nullopt;
  return h * 60 + m;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool word_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || u >= 0x80;
}

// Whether needle occurs in hay (both lower case) with no word character on either side.
bool has_word(const std::string& hay, const std::string& needle) {
  if (needle.empty()) return false;
  for (std::size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) {
    bool left = at == 0 || !word_char(hay[at - 1]);
    std::size_t end = at + needle.size();
    bool right = end >= hay.size() || !word_char(hay[end]);
    if (left && right) return true;
  }
  return false;
}

// A preview of the text: whole UTF-8 characters, at most max_chars of them.
std::string preview(const std::string& text, int max_chars) {
  std::size_t i = 0;
  int n = 0;
  while (i < text.size() && n < max_chars) {
    auto c = static_cast<unsigned char>(text[i]);
    i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    ++n;
  }
  if (i >= text.size()) return text;
  return text.substr(0, i) + "\xE2\x80\xA6";  // an ellipsis
}

std::string str(const boost::json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}
std::int64_t num(const boost::json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : 0;
}

}  // namespace

std::string effective_level(const std::string& user_level, const ConversationSettings& c) {
  return c.level == "default" || c.level.empty() ? user_level : c.level;
}

bool in_quiet_hours(const QuietHours& q, Millis now) {
  auto start = parse_hhmm(q.start), end = parse_hhmm(q.end);
  auto offset = utc_offset_s(q.tz, now);
  if (!start || !end || !offset || *start == *end) return false;
  std::int64_t local_s = now / 1000 + *offset;
  int minute = static_cast<int>(((local_s % 86400) + 86400) % 86400 / 60);
  if (*start < *end) return minute >= *start && minute < *end;
  return minute >= *start || minute < *end;  // wraps midnight
}

bool mentions_keyword(std::string_view text, const std::vector<std::string>& keywords) {
  if (keywords.empty()) return false;
  std::string hay = lower(text);
  for (const auto& k : keywords)
    if (has_word(hay, k)) return true;
  return false;
}

bool here_only(std::string_view text) {
  std::string t = lower(text);
  return has_word(t, "@here") && !has_word(t, "@channel") && !has_word(t, "@everyone");
}

bool notifiable(const Recipient& r, const std::string& user_level, Millis now) {
  if (r.conversation.muted_until && *r.conversation.muted_until > now) return false;
  if (r.presence_status == "dnd") return false;
  if (r.settings.quiet_hours && in_quiet_hours(*r.settings.quiet_hours, now)) return false;
  std::string level = effective_level(user_level, r.conversation);
  if (level == "none") return false;
  if (level == "all") return true;
  return r.is_dm || r.mentioned;  // "mentions"
}

struct NotificationService::Impl {
  NotificationStore& store;
  messaging::MessagingService& messaging;
  presence::PresenceService& presence;
  users::UserService& users;
  jobs::JobQueue& queue;
  outbound::HttpFetcher& fetcher;
  const Clock& clock;
  NotificationOptions o;
  EcKeyPair vapid;
  std::atomic<std::uint64_t> sent{0}, skipped{0}, expired{0}, digests{0}, texts{0};
  // The email channel (enable_email): null until then.
  contact::ContactService* contact = nullptr;
  // Coalescing of digest mails: per user and conversation the store keeps the highest seq a
  // digest already covered (digest_marks), so several notify.email jobs of one user find nothing
  // new after the first has sent everything unread, across restarts and nodes. One digest at a
  // time on this node, so two jobs of one burst cannot both read the marks before either raises
  // them.
  std::mutex digest_mu{};

  UserSettings settings_or_default(const std::string& user) {
    auto s = store.settings(user);
    if (s && *s) return **s;
    return UserSettings{};
  }

  std::string status_of(const std::string& user) {
    auto p = presence.shown({user});
    return p && p->size() == 1 ? std::move((*p)[0]) : std::string("offline");
  }

  // The recipient's view of the message, from the stores, now.
  Recipient recipient(const std::string& user, const messaging::ConversationView& conv,
                      const messaging::Message& m) {
    auto cs = store.conversation_settings(user, conv.conversation.id);
    return recipient(user, conv, m, settings_or_default(user), cs ? *cs : ConversationSettings{},
                     status_of(user));
  }
  // The same, with the settings and presence already read (a page of members at a time).
  Recipient recipient(const std::string& user, const messaging::ConversationView& conv,
                      const messaging::Message& m, UserSettings settings,
                      ConversationSettings conversation, std::string presence_status) {
    Recipient r;
    r.is_dm = conv.conversation.type == messaging::ConversationType::dm;
    r.settings = std::move(settings);
    r.conversation = std::move(conversation);
    r.presence_status = std::move(presence_status);
    const auto& ids = m.mentions.user_ids;
    r.mentioned = std::find(ids.begin(), ids.end(), user) != ids.end() ||
                  (m.mentions.all && (!here_only(m.text) || r.presence_status != "offline")) ||
                  mentions_keyword(m.text, r.settings.keywords);
    return r;
  }

  // notify.message: one message -> the jobs for each member it concerns.
  Result<void> fan_out(const jobs::Job& job) {
    auto payload = json::parse_object(job.payload);
    if (!payload) return fail(Errc::invalid_argument, "notify.message payload is not JSON");
    std::string sender = str(*payload, "sender_id"), message_id = str(*payload, "message_id"),
                conv_id = str(*payload, "conversation_id");
    auto m = messaging.get_message(sender, message_id);
    // The sender left, or the message is gone: nobody is told.
    if (!m) return m.error().code == Errc::not_found ? ok() : fail(m.error());
    if (m->deleted) return ok();
    auto conv = messaging.get(sender, conv_id);
    if (!conv) return conv.error().code == Errc::not_found ? ok() : fail(conv.error());
    std::vector<jobs::NewJob> out;
    if (conv->conversation.type == messaging::ConversationType::dm || m->mentions.all) {
      // Every member may be concerned: all of them, a page at a time.
      std::optional<std::string> cursor;
      do {
        auto page = messaging.members(sender, conv_id, 200, cursor);
        if (!page) return page.error().code == Errc::not_found ? ok() : fail(page.error());
        std::vector<std::string> ids;
        ids.reserve(page->members.size());
        for (const auto& member : page->members)
          if (member.user_id != sender) ids.push_back(member.user_id);
        if (auto r = consider(ids, *conv, *m, out); !r) return r;
        cursor = page->next_cursor;
      } while (cursor);
    } else {
      // A message that mentions nobody at large concerns, beyond those it mentions, only
      // members whose settings ask for more than mentions (the default level): in a large
      // channel most members are skipped without a read.
      auto ids = store.eager_members(conv_id);
      if (!ids) return fail(ids.error());
      std::erase(*ids, sender);
      for (const auto& uid : m->mentions.user_ids) {
        if (uid == sender || std::find(ids->begin(), ids->end(), uid) != ids->end()) continue;
        auto member = messaging.is_member(conv_id, uid);  // they may have left since the send
        if (!member) return fail(member.error());
        if (*member) ids->push_back(uid);
      }
      for (std::size_t at = 0; at < ids->size(); at += 200) {
        std::vector<std::string> batch(ids->begin() + static_cast<std::ptrdiff_t>(at),
                                       ids->begin() + static_cast<std::ptrdiff_t>(
                                                          std::min(ids->size(), at + 200)));
        if (auto r = consider(batch, *conv, *m, out); !r) return r;
      }
    }
    if (out.empty()) return ok();
    return queue.enqueue(out);
  }

  // The jobs (push, email, SMS) for each of these members, three reads for them all.
  Result<void> consider(const std::vector<std::string>& ids, const messaging::ConversationView& conv,
                        const messaging::Message& m, std::vector<jobs::NewJob>& out) {
    if (ids.empty()) return ok();
    const std::string& conv_id = conv.conversation.id;
    const Millis now = clock.now_ms();
    const bool email = queue.handles(kEmailJob);
    const bool sms = contact && queue.handles(kSmsJob);
    auto saved = store.settings_of(ids);
    if (!saved) return fail(saved.error());
    auto overrides = store.conversation_settings_of(conv_id, ids);
    if (!overrides) return fail(overrides.error());
    auto statuses = presence.shown(ids);
    if (!statuses) return fail(statuses.error());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const std::string& user = ids[i];
      auto s = saved->find(user);
      auto c = overrides->find(user);
      Recipient r = recipient(user, conv, m,
                              s == saved->end() ? UserSettings{} : std::move(s->second),
                              c == overrides->end() ? ConversationSettings{} : c->second,
                              std::move((*statuses)[i]));
      // Built only for a member something is sent to.
      auto payload = [&] {
        return boost::json::object{{"user_id", user},
                                   {"conversation_id", conv_id},
                                   {"message_id", m.id},
                                   {"seq", m.seq}};
      };
      if (notifiable(r, r.settings.push, now)) {
        auto subs = store.subscriptions_of(user);
        if (!subs) return fail(subs.error());
        for (const auto& sub : *subs) {
          if (!sub.enabled) continue;
          auto q = payload();
          q["subscription_id"] = sub.id;
          out.push_back({kPushJob, json::serialize(q), "push:" + m.id + ":" + sub.id,
                         m.created_at + o.push_delay_ms});
        }
      }
      // Email is decided at its delivery (after the delay); quiet hours and dnd are push
      // concerns, so only the level and the mute are looked at here.
      if (email) {
        Recipient er = r;
        er.presence_status = "offline";
        er.settings.quiet_hours.reset();
        if (notifiable(er, r.settings.email, now))
          out.push_back({kEmailJob, json::serialize(payload()), "email:" + m.id + ":" + user,
                         now + std::int64_t{r.settings.email_delay_minutes} * o.email_delay_unit_ms});
      }
      // SMS: DMs and mentions only, for users who opted in with a verified number.
      if (sms && (r.is_dm || r.mentioned) && notifiable(r, "mentions", now)) {
        auto phone = contact->notification_phone(user);
        if (!phone) return fail(phone.error());
        if (*phone)
          out.push_back({kSmsJob, json::serialize(payload()), "sms:" + m.id + ":" + user,
                         m.created_at + o.push_delay_ms});
      }
    }
    return ok();
  }

  // notify.push: one message to one subscription, if still wanted.
  Result<void> deliver(const jobs::Job& job) {
    auto payload = json::parse_object(job.payload);
    if (!payload) return fail(Errc::invalid_argument, "notify.push payload is not JSON");
    std::string user = str(*payload, "user_id"), conv_id = str(*payload, "conversation_id"),
                message_id = str(*payload, "message_id"), sub_id = str(*payload, "subscription_id");
    std::int64_t seq = num(*payload, "seq");
    auto conv = messaging.get(user, conv_id);
    if (!conv) return conv.error().code == Errc::not_found ? ok() : fail(conv.error());
    if (!conv->me || conv->me->last_read_seq >= seq) return skip();  // read on some device
    auto m = messaging.get_message(user, message_id);
    if (!m) return m.error().code == Errc::not_found ? skip() : fail(m.error());
    if (m->deleted) return skip();
    Recipient r = recipient(user, *conv, *m);
    if (!notifiable(r, r.settings.push, clock.now_ms())) return skip();
    auto subs = store.subscriptions_of(user);
    if (!subs) return fail(subs.error());
    auto sub = std::find_if(subs->begin(), subs->end(),
                            [&](const PushSubscription& s) { return s.id == sub_id; });
    if (sub == subs->end() || !sub->enabled) return skip();
    return send(*sub, push_payload(r, *conv, *m));
  }

  Result<void> skip() {
    ++skipped;
    return ok();
  }

  std::string name_of(const std::string& user_id) {
    std::string name = "Someone";
    if (auto u = users.get(user_id)) name = u->display_name.empty() ? u->username : u->display_name;
    return name;
  }

  // notify.sms: a short text (sender and conversation; the message only with previews on) to
  // a verified, opted-in number, if the message is still unread and the user not online.
  Result<void> deliver_sms(const jobs::Job& job) {
    auto payload = json::parse_object(job.payload);
    if (!payload) return fail(Errc::invalid_argument, "notify.sms payload is not JSON");
    std::string user = str(*payload, "user_id"), conv_id = str(*payload, "conversation_id"),
                message_id = str(*payload, "message_id");
    std::int64_t seq = num(*payload, "seq");
    auto phone = contact->notification_phone(user);
    if (!phone) return fail(phone.error());
    if (!*phone) return skip();  // opted out, or no verified number any more
    auto conv = messaging.get(user, conv_id);
    if (!conv) return conv.error().code == Errc::not_found ? skip() : fail(conv.error());
    if (!conv->me || conv->me->last_read_seq >= seq) return skip();
    auto m = messaging.get_message(user, message_id);
    if (!m) return m.error().code == Errc::not_found ? skip() : fail(m.error());
    if (m->deleted) return skip();
    Recipient r = recipient(user, *conv, *m);
    if (!(r.is_dm || r.mentioned) || r.presence_status == "online" ||
        !notifiable(r, "mentions", clock.now_ms()))
      return skip();
    const auto& c = conv->conversation;
    std::string body = contact->options().product + ": " + name_of(m->sender_id);
    if (c.type == messaging::ConversationType::dm)
      body += " sent you a message";
    else
      body += " mentioned you in " + (c.type == messaging::ConversationType::channel ? "#" + c.name
                                      : c.name.empty() ? std::string("a group")
                                                       : c.name);
    if (r.settings.push_previews && !m->text.empty()) body += ": " + preview(m->text, 100);
    if (!contact->queue_sms({**phone, body}))
      return fail(Errc::unavailable, "the SMS send queue is full");
    ++texts;
    return ok();
  }

  // notify.email: everything still unread and notifiable for the user, in one digest mail. The
  // first job of a burst sends it; later ones (their messages already covered) send nothing.
  Result<void> email_digest(const jobs::Job& job) {
    auto payload = json::parse_object(job.payload);
    if (!payload) return fail(Errc::invalid_argument, "notify.email payload is not JSON");
    std::string user = str(*payload, "user_id");
    auto to = contact->notification_email(user);
    if (!to) return fail(to.error());
    if (!*to) return skip();  // no verified address, or unsubscribed
    std::lock_guard lock(digest_mu);
    auto marks = store.digest_marks(user);
    if (!marks) return fail(marks.error());
    const Millis now = clock.now_ms();
    std::vector<contact::DigestMessage> out;
    std::vector<std::pair<std::string, std::int64_t>> covered;
    std::optional<std::string> cursor;
    do {
      auto page = messaging.list(user, 100, cursor);
      if (!page) return page.error().code == Errc::not_found ? skip() : fail(page.error());
      for (const auto& conv : page->conversations) {
        const auto& c = conv.conversation;
        if (!conv.me || conv.unread_count == 0) continue;
        auto mark = marks->find(c.id);
        std::int64_t from =
            std::max(conv.me->last_read_seq, mark == marks->end() ? 0 : mark->second);
        if (c.last_seq <= from) continue;
        messaging::HistoryQuery q;
        q.after_seq = from;
        q.limit = 50;
        auto h = messaging.history(user, c.id, q);
        if (!h) {
          if (h.error().code == Errc::not_found) continue;
          return fail(h.error());
        }
        std::int64_t top = from;
        for (const auto& m : h->messages) {
          top = std::max(top, m.seq);
          if (m.deleted || m.sender_id.empty() || m.sender_id == user) continue;
          Recipient r = recipient(user, conv, m);
          r.presence_status = "offline";  // quiet hours and dnd are push concerns
          r.settings.quiet_hours.reset();
          if (!notifiable(r, r.settings.email, now)) continue;
          std::string sender = name_of(m.sender_id);
          std::string where = c.type == messaging::ConversationType::channel ? "#" + c.name
                              : c.type == messaging::ConversationType::dm    ? sender
                              : c.name.empty()                               ? "Group"
                                                                             : c.name;
          std::string text = !m.text.empty()         ? m.text
                             : m.attachments.empty() ? "New message"
                                                     : "Sent a file";
          out.push_back({c.id, where, sender, text});
        }
        covered.emplace_back(c.id, top);
      }
      cursor = page->next_cursor;
    } while (cursor);
    if (out.empty()) return skip();
    auto queued = contact->send_digest(user, out);
    if (!queued) return fail(queued.error());
    if (auto r = store.raise_digest_marks(user, covered); !r) return fail(r.error());
    if (*queued) ++digests;
    return ok();
  }

  std::string push_payload(const Recipient& r, const messaging::ConversationView& conv,
                           const messaging::Message& m) {
    std::string sender = "Someone";
    if (auto u = users.get(m.sender_id))
      sender = u->display_name.empty() ? u->username : u->display_name;
    std::string title = sender;
    const auto& c = conv.conversation;
    if (c.type == messaging::ConversationType::channel)
      title += " in #" + c.name;
    else if (c.type == messaging::ConversationType::group && !c.name.empty())
      title += " in " + c.name;
    std::string body;
    if (!r.settings.push_previews)
      body = "New message";
    else if (!m.text.empty())
      body = preview(m.text, o.preview_chars);
    else
      body = m.attachments.empty() ? "New message" : "Sent a file";
    return json::serialize(boost::json::object{
        {"conversation_id", c.id}, {"message_id", m.id}, {"title", title}, {"body", body}});
  }

  Result<void> send(const PushSubscription& s, const std::string& plaintext) {
    auto ua_public = base64url_decode(s.p256dh);
    auto auth = base64url_decode(s.auth);
    if (!ua_public || !auth) return fail(Errc::invalid_argument, "subscription keys unreadable");
    auto body = encrypt_aes128gcm(*ua_public, *auth, plaintext);
    if (!body) return fail(body.error());
    auto jwt = vapid_jwt(vapid, url_origin(s.endpoint), o.vapid_subject,
                         clock.now_ms() / 1000 + 12 * 3600);
    if (!jwt) return fail(jwt.error());
    outbound::FetchRequest req;
    req.method = "POST";
    req.url = s.endpoint;
    req.https_only = true;
    req.headers = {
        {"Content-Type", "application/octet-stream"},
        {"Content-Encoding", "aes128gcm"},
        {"TTL", std::to_string(o.push_ttl_s)},
        {"Urgency", "high"},
        {"Authorization", "vapid t=" + *jwt + ", k=" + base64url_encode(vapid.public_raw)}};
    req.body = std::move(*body);
    req.limits.max_redirects = 0;
    req.limits.max_body_bytes = 64 * 1024;
    req.limits.overflow = outbound::FetchLimits::Overflow::truncate;
    auto resp = fetcher.fetch(req);
    if (!resp) {
      if (resp.error().code == Errc::permission_denied ||
          resp.error().code == Errc::invalid_argument)
        return fail(Errc::invalid_argument, "push endpoint refused: " + resp.error().message);
      return fail(resp.error());
    }
    int st = resp->status;
    if (st >= 200 && st < 300) {
      ++sent;
      return ok();
    }
    if (st == 404 || st == 410) {
      ++expired;
      (void)store.remove_endpoint(s.endpoint);
      return ok();
    }
    if (st == 429 || st >= 500)
      return fail(Errc::unavailable, "push service answered " + std::to_string(st));
    return fail(Errc::invalid_argument, "push service refused the message: " + std::to_string(st));
  }
};

NotificationService::NotificationService(NotificationStore& store,
                                         messaging::MessagingService& messaging,
                                         presence::PresenceService& presence,
                                         users::UserService& users, jobs::JobQueue& queue,
                                         outbound::HttpFetcher& fetcher, const Clock& clock,
                                         NotificationOptions options)
    : impl_(new Impl{
          store, messaging, presence, users, queue, fetcher, clock, std::move(options), {}}) {}

NotificationService::~NotificationService() = default;

Result<void> NotificationService::init() {
  auto k = load_or_create_vapid(impl_->o.vapid_key_path);
  if (!k) return fail(k.error());
  impl_->vapid = std::move(*k);
  Impl* impl = impl_.get();
  impl_->queue.handle(kMessageJob, [impl](const jobs::Job& j) { return impl->fan_out(j); });
  impl_->queue.handle(kPushJob, [impl](const jobs::Job& j) { return impl->deliver(j); });
  return ok();
}

void NotificationService::enable_contact(contact::ContactService& contact) {
  Impl* impl = impl_.get();
  impl->contact = &contact;
  // Without a mailer (SMS provider) no notify.email (notify.sms) jobs are written.
  if (contact.mail_enabled())
    impl->queue.handle(kEmailJob, [impl](const jobs::Job& j) { return impl->email_digest(j); });
  if (contact.sms_enabled())
    impl->queue.handle(kSmsJob, [impl](const jobs::Job& j) { return impl->deliver_sms(j); });
}

messaging::AppendHook NotificationService::append_hook() {
  Impl* impl = impl_.get();
  return {[](const messaging::Message& m) {
            return std::vector<jobs::NewJob>{
                {kMessageJob,
                 json::serialize(boost::json::object{{"message_id", m.id},
                                                     {"conversation_id", m.conversation_id},
                                                     {"sender_id", m.sender_id}}),
                 "notify:" + m.id}};
          },
          [impl] { impl->queue.wake(); }};
}

Result<UserSettings> NotificationService::settings(const std::string& user_id) {
  auto s = impl_->store.settings(user_id);
  if (!s) return fail(s.error());
  return s->value_or(UserSettings{});
}

Result<UserSettings> NotificationService::update_settings(const std::string& user_id,
                                                          const SettingsPatch& p) {
  auto current = settings(user_id);
  if (!current) return current;
  UserSettings s = *current;
  if (p.push) {
    if (!valid_level(*p.push))
      return fail(Errc::invalid_argument, "push must be all, mentions or none", "push");
    s.push = *p.push;
  }
  if (p.email) {
    if (!valid_level(*p.email))
      return fail(Errc::invalid_argument, "email must be all, mentions or none", "email");
    s.email = *p.email;
  }
  if (p.email_delay_minutes) {
    if (*p.email_delay_minutes < 0 || *p.email_delay_minutes > 7 * 24 * 60)
      return fail(Errc::invalid_argument, "email_delay_minutes must be 0 to 10080",
                  "email_delay_minutes");
    s.email_delay_minutes = *p.email_delay_minutes;
  }
  if (p.quiet_hours) {
    if (*p.quiet_hours) {
      const auto& q = **p.quiet_hours;
      if (!parse_hhmm(q.start) || !parse_hhmm(q.end))
        return fail(Errc::invalid_argument, "quiet_hours start and end are HH:MM", "quiet_hours");
      if (!known_time_zone(q.tz))
        return fail(Errc::invalid_argument, "quiet_hours.tz is not a known time zone",
                    "quiet_hours");
    }
    s.quiet_hours = *p.quiet_hours;
  }
  if (p.keywords) {
    if (static_cast<int>(p.keywords->size()) > impl_->o.max_keywords)
      return fail(Errc::invalid_argument,
                  "at most " + std::to_string(impl_->o.max_keywords) + " keywords", "keywords");
    std::vector<std::string> ks;
    for (const auto& k : *p.keywords) {
      std::string t = lower(k);
      t.erase(0, t.find_first_not_of(" \t"));
      t.erase(t.find_last_not_of(" \t") + 1);
      if (t.empty() || static_cast<int>(t.size()) > impl_->o.max_keyword_chars ||
          t.find_first_of("\r\n") != std::string::npos)
        return fail(Errc::invalid_argument,
                    "each keyword is 1 to " + std::to_string(impl_->o.max_keyword_chars) +
                        " characters on one line",
                    "keywords");
      if (std::find(ks.begin(), ks.end(), t) == ks.end()) ks.push_back(t);
    }
    s.keywords = std::move(ks);
  }
  if (p.push_previews) s.push_previews = *p.push_previews;
  if (auto r = impl_->store.put_settings(user_id, s); !r) return fail(r.error());
  // Turning email on again undoes a one-click unsubscribe (RFC 8058) from a digest.
  if (p.email && *p.email != "none" && impl_->contact)
    if (auto r = impl_->contact->resubscribe(user_id); !r) return fail(r.error());
  return s;
}

Result<ConversationSettings> NotificationService::conversation_settings(
    const std::string& user_id, const std::string& conversation_id) {
  auto member = impl_->messaging.is_member(conversation_id, user_id);
  if (!member) return fail(member.error());
  if (!*member) return fail(Errc::not_found, "conversation not found");
  return impl_->store.conversation_settings(user_id, conversation_id);
}

Result<ConversationSettings> NotificationService::set_conversation_settings(
    const std::string& user_id, const std::string& conversation_id, const ConversationSettings& s) {
  if (s.level != "default" && !valid_level(s.level))
    return fail(Errc::invalid_argument, "level must be default, all, mentions or none", "level");
  if (s.muted_until && *s.muted_until < 0)
    return fail(Errc::invalid_argument, "muted_until must be a time in ms or null", "muted_until");
  auto member = impl_->messaging.is_member(conversation_id, user_id);
  if (!member) return fail(member.error());
  if (!*member) return fail(Errc::not_found, "conversation not found");
  if (auto r = impl_->store.put_conversation_settings(user_id, conversation_id, s); !r)
    return fail(r.error());
  return s;
}

std::string NotificationService::vapid_public_key() const {
  return base64url_encode(impl_->vapid.public_raw);
}

Result<PushSubscription> NotificationService::subscribe(const std::string& user_id,
                                                        const NewSubscription& in) {
  const std::string& e = in.endpoint;
  if (e.size() > 2048) return fail(Errc::invalid_argument, "endpoint too long", "endpoint");
  if (e.rfind("https://", 0) != 0) {
    // Plain http only to an address of the allow list (a test push service on loopback); the
    // fetcher enforces the same on every connection (https_only).
    bool allowed = false;
    if (e.rfind("http://", 0) == 0) {
      std::string host = url_origin(e).substr(7);
      if (!host.empty() && host.front() == '[') {
        host = host.substr(1, host.find(']') - 1);
      } else {
        host = host.substr(0, host.find(':'));
      }
      auto ip = outbound::IpAddress::parse(host);
      allowed = ip && impl_->o.policy.allow_listed(*ip);
    }
    if (!allowed)
      return fail(Errc::invalid_argument, "endpoint must be an https:// URL", "endpoint");
  }
  if (url_origin(e).size() <= 8)
    return fail(Errc::invalid_argument, "endpoint must be an https:// URL", "endpoint");
  auto p256dh = base64url_decode(in.p256dh);
  if (!p256dh || p256dh->size() != 65 || (*p256dh)[0] != 0x04)
    return fail(Errc::invalid_argument, "keys.p256dh must be a base64url P-256 public key",
                "keys.p256dh");
  auto auth = base64url_decode(in.auth);
  if (!auth || auth->size() != 16)
    return fail(Errc::invalid_argument, "keys.auth must be 16 bytes in base64url", "keys.auth");
  if (in.device_name.size() > 100)
    return fail(Errc::invalid_argument, "device_name: at most 100 characters", "device_name");
  auto mine = impl_->store.subscriptions_of(user_id);
  if (!mine) return fail(mine.error());
  bool known = std::any_of(mine->begin(), mine->end(),
                           [&](const PushSubscription& s) { return s.endpoint == e; });
  if (!known && static_cast<int>(mine->size()) >= impl_->o.max_subscriptions_per_user)
    return fail(Errc::resource_exhausted, "too many push subscriptions");
  PushSubscription s;
  s.id = new_id(impl_->clock.now_ms());
  s.user_id = user_id;
  s.endpoint = e;
  s.p256dh = in.p256dh;
  s.auth = in.auth;
  s.device_name = in.device_name;
  s.created_at = impl_->clock.now_ms();
  return impl_->store.add_subscription(s);
}

Result<std::vector<PushSubscription>> NotificationService::subscriptions(
    const std::string& user_id) {
  return impl_->store.subscriptions_of(user_id);
}

Result<PushSubscription> NotificationService::set_subscription_enabled(const std::string& user_id,
                                                                       const std::string& id,
                                                                       bool enabled) {
  auto r = impl_->store.set_subscription_enabled(user_id, id, enabled);
  if (!r) return fail(r.error());
  if (!*r) return fail(Errc::not_found, "subscription not found");
  return **r;
}

Result<void> NotificationService::unsubscribe(const std::string& user_id, const std::string& id) {
  auto r = impl_->store.remove_subscription(user_id, id);
  if (!r) return fail(r.error());
  if (!*r) return fail(Errc::not_found, "subscription not found");
  return ok();
}

NotificationService::Stats NotificationService::stats() const {
  return {impl_->sent.load(), impl_->skipped.load(), impl_->expired.load(), impl_->digests.load(),
          impl_->texts.load()};
}

}  // namespace parley::notifications
