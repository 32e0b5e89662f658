#include "modules/messaging/messaging.h"

#include "core/trace.h"

#include <algorithm>
#include <limits>
#include <map>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <set>
#include <unordered_map>

#include "core/crypto.h"
#include "core/id.h"
#include "core/json.h"
#include "core/text.h"
#include "modules/messaging/events.h"
#include "sequencer.h"

namespace parley::messaging {

const char* to_string(ConversationType t) {
  switch (t) {
    case ConversationType::dm:
      return "dm";
    case ConversationType::group:
      return "group";
    case ConversationType::channel:
      return "channel";
  }
  return "group";
}

const char* to_string(Visibility v) { return v == Visibility::public_ ? "public" : "private"; }

const char* to_string(Role r) {
  switch (r) {
    case Role::owner:
      return "owner";
    case Role::admin:
      return "admin";
    case Role::member:
      return "member";
  }
  return "member";
}

boost::json::object to_json(const Attachment& f) {
  boost::json::object o{{"id", f.id},
                        {"name", f.name},
                        {"size", f.size},
                        {"content_type", f.content_type},
                        {"sha256", f.sha256},
                        {"url", "/api/v1/files/" + f.id},
                        {"created_by", f.created_by},
                        {"created_at", f.created_at}};
  if (f.width > 0 && f.height > 0) {
    o["width"] = f.width;
    o["height"] = f.height;
  }
  if (f.has_thumbnail) o["thumbnail_url"] = "/api/v1/files/" + f.id + "/thumbnail";
  if (f.transcript)
    o["transcript"] = boost::json::object{{"text", f.transcript->text},
                                          {"language", f.transcript->language},
                                          {"engine", f.transcript->engine}};
  return o;
}

boost::json::object to_json(const Message& m, bool with_reactions) {
  boost::json::object o{{"id", m.id},
                        {"conversation_id", m.conversation_id},
                        {"seq", m.seq},
                        {"sender_id", m.sender_id},
                        {"text", m.text},
                        {"client_msg_id", m.client_msg_id},
                        {"reply_count", m.reply_count},
                        {"created_at", m.created_at},
                        {"deleted", m.deleted}};
  boost::json::array files;
  for (const auto& f : m.attachments) files.push_back(to_json(f));
  o["attachments"] = std::move(files);
  boost::json::array previews;
  for (const auto& p : m.previews) {
    boost::json::object po{{"url", p.url}, {"title", p.title}, {"description", p.description}};
    if (!p.image_url.empty()) po["image_url"] = p.image_url;
    if (!p.site_name.empty()) po["site_name"] = p.site_name;
    previews.push_back(std::move(po));
  }
  o["previews"] = std::move(previews);
  o["thread_root_id"] =
      m.thread_root_id ? boost::json::value(*m.thread_root_id) : boost::json::value(nullptr);
  o["edited_at"] = m.edited_at ? boost::json::value(*m.edited_at) : boost::json::value(nullptr);
  boost::json::array mentions;
  for (const auto& id : m.mentions.user_ids) mentions.emplace_back(id);
  o["mentions"] = std::move(mentions);
  o["mention_all"] = m.mentions.all;
  if (with_reactions) {
    boost::json::array rs;
    for (const auto& r : m.reactions)
      rs.push_back({{"emoji", r.emoji}, {"count", r.count}, {"me", r.me}});
    o["reactions"] = std::move(rs);
  }
  return o;
}

boost::json::object to_json(const Conversation& c) {
  return {{"id", c.id},
          {"type", to_string(c.type)},
          {"name", c.name},
          {"topic", c.topic},
          {"visibility", to_string(c.visibility)},
          {"member_count", c.member_count},
          {"last_seq", c.last_seq},
          {"last_message_at", c.last_message_at},
          {"created_by", c.created_by},
          {"created_at", c.created_at},
          {"archived", c.archived}};
}

boost::json::object to_json(const ConversationView& v) {
  auto o = to_json(v.conversation);
  if (v.me) {
    o["unread_count"] = v.unread_count;
    o["last_read_seq"] = v.me->last_read_seq;
    o["muted"] = v.me->muted;
    o["role"] = to_string(v.me->role);
    o["starred"] = v.me->starred;
    o["mention_count"] = v.mention_count;
  }
  return o;
}

namespace {

bool username_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

MentionTokens find_mentions(std::string_view text) {
  MentionTokens out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '@' || (i > 0 && (username_char(text[i - 1]) || text[i - 1] == '@'))) continue;
    std::size_t end = i + 1;
    while (end < text.size() && username_char(text[end])) ++end;
    std::string_view token = text.substr(i + 1, end - i - 1);
    while (!token.empty() && token.back() == '.') token.remove_suffix(1);
    if (token.size() < 3 || token.size() > 32) continue;
    std::string name = text::ascii_lower(token);
    if (name == "channel" || name == "here" || name == "everyone")
      out.all = true;
    else if (std::find(out.usernames.begin(), out.usernames.end(), name) == out.usernames.end())
      out.usernames.push_back(std::move(name));
    i = end - 1;
  }
  return out;
}

Result<std::string> normalise_text(std::string_view raw, int max_chars) {
  if (!text::is_valid_utf8(raw)) return fail(Errc::invalid_argument, "text is not UTF-8", "text");
  auto t = text::trim(raw);
  if (t.empty()) return fail(Errc::invalid_argument, "text is empty", "text");
  if (text::char_count(t) > static_cast<std::size_t>(max_chars))
    return fail(Errc::invalid_argument,
                "text is longer than " + std::to_string(max_chars) + " characters", "text");
  if (text::has_control_chars(t, true))
    return fail(Errc::invalid_argument, "text holds control characters", "text");
  return std::string(t);
}

namespace {

std::string serialize(const boost::json::object& o) { return json::serialize(o); }

// Owners and admins manage groups and channels. A DM has no manager: its two members are
// equals, each managing only their own messages (rows from before DMs had no owner included).
bool is_manager(const ConversationView& v) {
  return v.conversation.type != ConversationType::dm && v.me &&
         (v.me->role == Role::owner || v.me->role == Role::admin);
}

bool is_public_channel(const Conversation& c) {
  return c.type == ConversationType::channel && c.visibility == Visibility::public_;
}

Result<std::string> check_name(const std::optional<std::string>& raw, int max_chars,
                               bool required) {
  if (!raw) {
    if (required) return fail(Errc::malformed, "name is required", "name");
    return std::string();
  }
  auto t = std::string(text::trim(*raw));
  if (required && t.empty()) return fail(Errc::invalid_argument, "name is empty", "name");
  if (text::char_count(t) > static_cast<std::size_t>(max_chars))
    return fail(Errc::invalid_argument,
                "name is longer than " + std::to_string(max_chars) + " characters", "name");
  if (text::has_control_chars(t, false))
    return fail(Errc::invalid_argument, "name holds control characters", "name");
  return t;
}

Result<std::string> check_topic(const std::optional<std::string>& raw, int max_chars) {
  auto t = std::string(text::trim(raw.value_or("")));
  if (text::char_count(t) > static_cast<std::size_t>(max_chars))
    return fail(Errc::invalid_argument,
                "topic is longer than " + std::to_string(max_chars) + " characters", "topic");
  if (text::has_control_chars(t, false))
    return fail(Errc::invalid_argument, "topic holds control characters", "topic");
  return t;
}

Result<void> check_client_msg_id(const std::string& id) {
  if (id.empty() || id.size() > 64)
    return fail(Errc::invalid_argument, "client_msg_id must be 1 to 64 characters",
                "client_msg_id");
  for (unsigned char c : id)
    if (c < 0x21 || c > 0x7e)
      return fail(Errc::invalid_argument, "client_msg_id must be printable ASCII",
                  "client_msg_id");
  return ok();
}

Result<void> check_emoji(const std::string& emoji, int max_bytes) {
  if (emoji.empty() || emoji.size() > static_cast<std::size_t>(max_bytes))
    return fail(Errc::invalid_argument,
                "emoji must be 1 to " + std::to_string(max_bytes) + " bytes", "emoji");
  if (!text::is_valid_utf8(emoji) || text::has_control_chars(emoji, false))
    return fail(Errc::invalid_argument, "emoji is not valid text", "emoji");
  for (unsigned char c : emoji)
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
      return fail(Errc::invalid_argument, "emoji holds whitespace", "emoji");
  return ok();
}

constexpr std::size_t kMaxMentions = 50;
// Usernames looked up per message: a text of 16,000 characters could name thousands, and each
// costs a lookup; past this many the rest are left as text.
constexpr std::size_t kMaxMentionLookups = 100;

Error archived_error() {
  return {Errc::failed_precondition, "the conversation is archived", {}, 0};
}

Error not_found(const char* what) { return {Errc::not_found, std::string(what) + " not found", {}, 0}; }

}  // namespace

struct MessagingService::Impl {
  MessagingStore& store;
  users::UserService& users;
  Bus& bus;
  const Clock& clock;
  MessagingOptions opt;
  Sequencer sequencer;

  std::mutex typing_mu;
  std::unordered_map<std::string, Millis> typing_last;
  static constexpr std::size_t kMaxTypingEntries = 100'000;

  // Events about a user to their contacts (presence.changed, user.updated), at most one per
  // (user, event) every contact_event_interval_ms: a burst of changes costs each contact one
  // event now and one with the latest state when the interval ends, whatever its length.
  struct ContactEvents {
    Millis last_sent = 0;
    std::optional<Event> held;
  };
  std::mutex contact_mu;
  std::condition_variable contact_cv;
  std::unordered_map<std::string, ContactEvents> contact_events;  // "user|event"
  bool stopping = false;
  std::thread contact_flusher;

  WorkerPool* completions;

  Impl(MessagingStore& s, users::UserService& u, Bus& b, const Clock& c, MessagingOptions o,
       WorkerPool* pool)
      : store(s),
        users(u),
        bus(b),
        clock(c),
        opt(o),
        sequencer([this](const Event& e) { publish(e); }),
        completions(pool) {
    contact_flusher = std::thread([this] { flush_contact_events(); });
  }

  ~Impl() {
    {
      std::lock_guard lock(contact_mu);
      stopping = true;
    }
    contact_cv.notify_all();
    contact_flusher.join();
  }

  void to_contacts(const std::string& key, Event e) {
    const Millis now = clock.now_ms();
    {
      std::lock_guard lock(contact_mu);
      auto& c = contact_events[key];
      if (c.held || now - c.last_sent < opt.contact_event_interval_ms) {
        c.held = std::move(e);  // the latest state replaces what was waiting
        contact_cv.notify_all();
        return;
      }
      c.last_sent = now;
    }
    publish(std::move(e));
  }

  // Sends held events once their interval has passed; forgets quiet users. Polls while events
  // are held (the clock may be a test's), sleeps otherwise.
  void flush_contact_events() {
    std::unique_lock lock(contact_mu);
    while (!stopping) {
      const Millis now = clock.now_ms();
      std::vector<Event> due;
      bool waiting = false;
      for (auto it = contact_events.begin(); it != contact_events.end();) {
        auto& c = it->second;
        if (c.held && now - c.last_sent >= opt.contact_event_interval_ms) {
          due.push_back(std::move(*c.held));
          c.held.reset();
          c.last_sent = now;
        }
        waiting |= c.held.has_value();
        if (!c.held && now - c.last_sent >= opt.contact_event_interval_ms)
          it = contact_events.erase(it);
        else
          ++it;
      }
      if (!due.empty()) {
        lock.unlock();
        for (auto& e : due) publish(std::move(e));
        lock.lock();
        continue;
      }
      auto poll = std::chrono::milliseconds(std::max<Millis>(10, opt.contact_event_interval_ms / 4));
      if (waiting || !contact_events.empty())
        contact_cv.wait_for(lock, poll);
      else
        contact_cv.wait(lock);
    }
  }

  // A sampled event's bus hop is a producer span; the payload carries that span's context, so
  // each node's fan-out (hub) is its child, in the same trace.
  void publish(const Event& e) {
    if (!e.trace.sampled) return bus.publish(kEventsTopic, encode(e));
    auto hop = trace::Span::child("bus.publish " + e.name, trace::Kind::producer, e.trace);
    hop.set("messaging.destination.name", kEventsTopic);
    if (!hop.recording()) return bus.publish(kEventsTopic, encode(e));
    Event traced = e;
    traced.trace = hop.context();
    bus.publish(kEventsTopic, encode(traced));
  }

  // A send's checks and the message to append; then, once appended, its event in seq order.
  Result<NewMessage> prepare_send(const std::string& caller, const SendRequest& in);
  // cause: the span the event continues (its bus hop and fan-outs become children).
  void finish_send(const std::string& conversation_id, std::uint64_t ticket,
                   const Result<Appended>& appended, const trace::Context& cause);

  // Events of one conversation go through the sequencer so they leave in commit order.
  void publish_ordered(const std::string& conversation_id, Event e) {
    sequencer.publish_now(conversation_id, std::move(e));
  }

  static Event conversation_event(const std::string& cid, std::string name, std::string data) {
    Event e;
    e.route.kind = Route::Kind::conversation;
    e.route.conversation_ids = {cid};
    e.name = std::move(name);
    e.data = std::move(data);
    return e;
  }

  // The conversation as caller sees it; not_found when it does not exist or is hidden.
  Result<ConversationView> visible(const std::string& caller, const std::string& id,
                                   bool count_unread = false) {
    if (!looks_like_id(id)) return fail(not_found("conversation"));
    auto v = store.view(id, caller, count_unread);
    if (!v) return fail(v.error());
    if (!v->me && !is_public_channel(v->conversation)) return fail(not_found("conversation"));
    return v;
  }

  // As visible(), and the caller must be a member (a visible public channel: forbidden).
  Result<ConversationView> member_view(const std::string& caller, const std::string& id,
                                       bool count_unread = false) {
    auto v = visible(caller, id, count_unread);
    if (!v) return v;
    if (!v->me) return fail(Errc::permission_denied, "join the channel first");
    return v;
  }

  // The message and its conversation as caller sees them.
  Result<std::pair<Message, ConversationView>> visible_message(const std::string& caller,
                                                               const std::string& id) {
    if (!looks_like_id(id)) return fail(not_found("message"));
    auto m = store.get_message(id, caller);
    if (!m) return fail(m.error());
    auto v = visible(caller, m->conversation_id);
    if (!v) return fail(not_found("message"));
    return std::make_pair(std::move(*m), std::move(*v));
  }

  Result<void> check_users_exist(const std::vector<std::string>& ids) {
    for (const auto& id : ids) {
      if (!looks_like_id(id)) return fail(Errc::not_found, "user " + id + " not found");
      auto u = users.get(id);
      if (!u) {
        if (u.error().code == Errc::not_found)
          return fail(Errc::not_found, "user " + id + " not found");
        return fail(u.error());
      }
    }
    return ok();
  }

  void announce_joined(const std::string& cid, const std::vector<Member>& added) {
    for (const auto& m : added) {
      Event e;
      e.route.kind = Route::Kind::member_joined;
      e.route.conversation_ids = {cid};
      e.route.user_ids = {m.user_id};
      e.name = "member.joined";
      e.data = serialize({{"conversation_id", cid},
                          {"user_id", m.user_id},
                          {"role", to_string(m.role)},
                          {"joined_at", m.joined_at}});
      publish_ordered(cid, std::move(e));
    }
  }

  // An event to every session of user_id (their own state: star, saved, read marker).
  void to_user(const std::string& user_id, std::string name, std::string data) {
    Event e;
    e.route.kind = Route::Kind::user;
    e.route.user_ids = {user_id};
    e.name = std::move(name);
    e.data = std::move(data);
    publish(std::move(e));
  }

  // Who text mentions in conversation c: only members count; @channel and friends not in DMs.
  Result<Mentions> resolve_mentions(const Conversation& c, std::string_view text) {
    auto tokens = find_mentions(text);
    Mentions out;
    out.all = tokens.all && c.type != ConversationType::dm;
    std::size_t looked_up = 0;
    for (const auto& name : tokens.usernames) {
      if (out.user_ids.size() >= kMaxMentions || looked_up++ >= kMaxMentionLookups) break;
      auto u = users.find_by_username(name);
      if (!u) {
        if (u.error().code == Errc::not_found) continue;
        return fail(u.error());
      }
      if (std::find(out.user_ids.begin(), out.user_ids.end(), u->id) != out.user_ids.end())
        continue;
      auto m = store.membership(c.id, u->id);
      if (!m) return fail(m.error());
      if (*m) out.user_ids.push_back(u->id);
    }
    return out;
  }

  void announce_left(const std::string& cid, const std::string& user_id) {
    Event e;
    e.route.kind = Route::Kind::member_left;
    e.route.conversation_ids = {cid};
    e.route.user_ids = {user_id};
    e.name = "member.left";
    e.data = serialize({{"conversation_id", cid}, {"user_id", user_id}});
    publish_ordered(cid, std::move(e));
  }
};

MessagingService::MessagingService(MessagingStore& store, users::UserService& users, Bus& bus,
                                   const Clock& clock, MessagingOptions options,
                                   WorkerPool* completions)
    : impl_(std::make_unique<Impl>(store, users, bus, clock, options, completions)) {}

MessagingService::~MessagingService() = default;

// ---- conversations ----

Result<Created> MessagingService::create(const std::string& caller, const NewConversation& in) {
  auto& I = *impl_;
  const Millis now = I.clock.now_ms();
  Conversation c;
  c.id = new_id(now);
  c.created_by = caller;
  c.created_at = now;
  std::vector<Member> members{{caller, Role::owner, now}};

  if (in.type == "dm") {
    if (in.member_ids.size() != 1)
      return fail(Errc::invalid_argument, "a DM takes exactly one other member", "member_ids");
    if (auto r = I.check_users_exist(in.member_ids); !r) return fail(r.error());
    c.type = ConversationType::dm;
    c.visibility = Visibility::private_;
    auto r = I.store.find_or_create_dm(c, caller, in.member_ids[0]);
    if (!r) return fail(r.error());
    auto v = I.store.view(r->first.id, caller, true);
    if (!v) return fail(v.error());
    if (r->second) {
      Event e;
      e.route.kind = Route::Kind::member_joined;
      e.route.conversation_ids = {c.id};
      e.route.user_ids = {caller};
      if (in.member_ids[0] != caller) e.route.user_ids.push_back(in.member_ids[0]);
      e.name = "conversation.created";
      e.data = serialize(to_json(v->conversation));
      I.publish_ordered(c.id, std::move(e));
    }
    return Created{std::move(*v), r->second};
  }

  if (in.type == "group") {
    std::vector<std::string> ids;
    for (const auto& id : in.member_ids)
      if (id != caller && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    if (ids.empty())
      return fail(Errc::invalid_argument, "a group needs at least one other member",
                  "member_ids");
    if (static_cast<int>(ids.size()) + 1 > I.opt.max_group_members)
      return fail(Errc::invalid_argument,
                  "a group has at most " + std::to_string(I.opt.max_group_members) + " members",
                  "member_ids");
    if (auto r = I.check_users_exist(ids); !r) return fail(r.error());
    auto name = check_name(in.name, I.opt.max_name_chars, false);
    if (!name) return fail(name.error());
    auto topic = check_topic(in.topic, I.opt.max_topic_chars);
    if (!topic) return fail(topic.error());
    c.type = ConversationType::group;
    c.visibility = Visibility::private_;
    c.name = *name;
    c.topic = *topic;
    for (const auto& id : ids) members.push_back({id, Role::member, now});
  } else if (in.type == "channel") {
    auto name = check_name(in.name, I.opt.max_name_chars, true);
    if (!name) return fail(name.error());
    auto topic = check_topic(in.topic, I.opt.max_topic_chars);
    if (!topic) return fail(topic.error());
    std::string vis = in.visibility.value_or("public");
    if (vis != "public" && vis != "private")
      return fail(Errc::invalid_argument, "visibility must be public or private", "visibility");
    c.type = ConversationType::channel;
    c.visibility = vis == "public" ? Visibility::public_ : Visibility::private_;
    c.name = *name;
    c.topic = *topic;
  } else {
    return fail(Errc::invalid_argument, "type must be dm, group or channel", "type");
  }

  if (auto r = I.store.create_conversation(c, members); !r) return fail(r.error());
  auto v = I.store.view(c.id, caller, true);
  if (!v) return fail(v.error());
  Event e;
  e.route.kind = Route::Kind::member_joined;
  e.route.conversation_ids = {c.id};
  for (const auto& m : members) e.route.user_ids.push_back(m.user_id);
  e.name = "conversation.created";
  e.data = serialize(to_json(v->conversation));
  I.publish_ordered(c.id, std::move(e));
  return Created{std::move(*v), true};
}

Result<ConversationPage> MessagingService::list(const std::string& caller, int limit,
                                                const std::optional<std::string>& cursor) {
  std::optional<ActivityCursor> after;
  if (cursor) {
    auto dot = cursor->find('.');
    ActivityCursor c;
    try {
      if (dot == std::string::npos) throw std::invalid_argument("cursor");
      std::size_t used = 0;
      c.activity = std::stoll(cursor->substr(0, dot), &used);
      if (used != dot) throw std::invalid_argument("cursor");
    } catch (const std::exception&) {
      return fail(Errc::invalid_argument, "cursor is not valid", "cursor");
    }
    c.id = cursor->substr(dot + 1);
    after = std::move(c);
  }
  auto rows = impl_->store.list_for_user(caller, limit + 1, after);
  if (!rows) return fail(rows.error());
  ConversationPage page;
  if (static_cast<int>(rows->size()) > limit) {
    rows->resize(limit);
    const auto& last = rows->back().conversation;
    Millis activity = last.last_message_at ? last.last_message_at : last.created_at;
    page.next_cursor = std::to_string(activity) + "." + last.id;
  }
  page.conversations = std::move(*rows);
  return page;
}

Result<ConversationView> MessagingService::get(const std::string& caller, const std::string& id) {
  return impl_->visible(caller, id, true);
}

Result<ConversationView> MessagingService::update(const std::string& caller,
                                                  const std::string& id,
                                                  const std::optional<std::string>& name,
                                                  const std::optional<std::string>& topic) {
  auto& I = *impl_;
  auto v = I.member_view(caller, id, true);
  if (!v) return v;
  if (name && v->conversation.type == ConversationType::dm)
    return fail(Errc::invalid_argument, "a DM has no name", "name");
  if (!is_manager(*v) && v->conversation.type != ConversationType::dm)
    return fail(Errc::permission_denied, "only owners and admins may change the conversation");
  std::optional<std::string> new_name, new_topic;
  if (name) {
    auto n = check_name(name, I.opt.max_name_chars, v->conversation.type == ConversationType::channel);
    if (!n) return fail(n.error());
    new_name = *n;
  }
  if (topic) {
    auto t = check_topic(topic, I.opt.max_topic_chars);
    if (!t) return fail(t.error());
    new_topic = *t;
  }
  if (!new_name && !new_topic) return v;
  auto c = I.store.update_conversation(id, new_name, new_topic);
  if (!c) return fail(c.error());
  I.publish_ordered(id, Impl::conversation_event(id, "conversation.updated", serialize(to_json(*c))));
  v->conversation = std::move(*c);
  return v;
}

Result<ConversationView> MessagingService::set_archived(const std::string& caller,
                                                        const std::string& id, bool archived) {
  auto& I = *impl_;
  auto v = I.member_view(caller, id, true);
  if (!v) return v;
  if (v->conversation.type == ConversationType::dm)
    return fail(Errc::invalid_argument, "a DM cannot be archived", "id");
  if (!is_manager(*v))
    return fail(Errc::permission_denied, "only owners and admins may archive the conversation");
  auto c = I.store.set_archived(id, archived);
  if (!c) return fail(c.error());
  if (c->second)
    I.publish_ordered(
        id, Impl::conversation_event(id, "conversation.updated", serialize(to_json(c->first))));
  v->conversation = std::move(c->first);
  return v;
}

namespace {

// A page of channels by name: the public ones (browse) or all of them (administration). The
// cursor is the last name, base64url-encoded.
Result<ChannelPage> channel_page(MessagingStore& store, const std::string& contains, int limit,
                                 const std::optional<std::string>& cursor, bool include_private) {
  if (text::char_count(contains) > 80)
    return fail(Errc::invalid_argument, "q is longer than 80 characters", "q");
  std::optional<std::string> after;
  if (cursor) {
    auto decoded = base64url_decode(*cursor);
    if (!decoded) return fail(Errc::invalid_argument, "cursor is not valid", "cursor");
    after = std::move(*decoded);
  }
  auto rows = include_private ? store.list_all_channels(contains, limit + 1, after)
                              : store.list_public_channels(contains, limit + 1, after);
  if (!rows) return fail(rows.error());
  ChannelPage page;
  if (static_cast<int>(rows->size()) > limit) {
    rows->resize(limit);
    page.next_cursor = base64url_encode(rows->back().name);
  }
  page.channels = std::move(*rows);
  return page;
}

}  // namespace

Result<ChannelPage> MessagingService::browse(const std::string&, const std::string& contains,
                                             int limit, const std::optional<std::string>& cursor) {
  return channel_page(impl_->store, contains, limit, cursor, false);
}

Result<ConversationView> MessagingService::join(const std::string& caller, const std::string& id) {
  auto& I = *impl_;
  auto v = I.visible(caller, id);
  if (!v) return v;
  if (v->conversation.type != ConversationType::channel)
    return fail(Errc::failed_precondition, "only channels can be joined");
  if (v->conversation.archived) return fail(archived_error());
  if (v->me) return v;  // already a member
  // visible() and not a member: a public channel.
  Member m{caller, Role::member, I.clock.now_ms()};
  auto added = I.store.add_members(id, {m}, std::numeric_limits<std::int64_t>::max());
  if (!added) return fail(added.error());
  I.announce_joined(id, *added);
  return I.store.view(id, caller, true);
}

Result<void> MessagingService::leave(const std::string& caller, const std::string& id) {
  auto& I = *impl_;
  auto v = I.visible(caller, id);
  if (!v) return fail(v.error());
  if (!v->me) return fail(Errc::not_found, "not a member");
  if (v->conversation.type == ConversationType::dm)
    return fail(Errc::failed_precondition, "a DM cannot be left");
  auto removed = I.store.remove_member(id, caller);
  if (!removed) return fail(removed.error());
  if (*removed) I.announce_left(id, caller);
  return ok();
}

// ---- members ----

Result<MemberPage> MessagingService::members(const std::string& caller, const std::string& id,
                                             int limit, const std::optional<std::string>& cursor) {
  auto v = impl_->visible(caller, id);
  if (!v) return fail(v.error());
  std::int64_t after = 0;
  if (cursor) {
    try {
      std::size_t used = 0;
      after = std::stoll(*cursor, &used);
      if (used != cursor->size() || after < 0) throw std::invalid_argument("cursor");
    } catch (const std::exception&) {
      return fail(Errc::invalid_argument, "cursor is not valid", "cursor");
    }
  }
  auto rows = impl_->store.list_members(id, limit + 1, after);
  if (!rows) return fail(rows.error());
  MemberPage page;
  if (static_cast<int>(rows->size()) > limit) {
    rows->resize(limit);
    page.next_cursor = std::to_string(rows->back().second);
  }
  for (auto& [m, pos] : *rows) page.members.push_back(std::move(m));
  return page;
}

Result<std::vector<Member>> MessagingService::add_members(const std::string& caller,
                                                          const std::string& id,
                                                          const std::vector<std::string>& user_ids) {
  auto& I = *impl_;
  auto v = I.member_view(caller, id);
  if (!v) return fail(v.error());
  const auto& c = v->conversation;
  if (c.type == ConversationType::dm)
    return fail(Errc::failed_precondition, "members cannot be added to a DM");
  if (!is_manager(*v) && !(c.type == ConversationType::group || is_public_channel(c)))
    return fail(Errc::permission_denied, "only owners and admins may add members here");
  if (user_ids.empty() || static_cast<int>(user_ids.size()) > I.opt.max_add_at_once)
    return fail(Errc::invalid_argument,
                "user_ids must hold 1 to " + std::to_string(I.opt.max_add_at_once) + " ids",
                "user_ids");
  if (auto r = I.check_users_exist(user_ids); !r) return fail(r.error());
  const Millis now = I.clock.now_ms();
  std::vector<Member> wanted;
  for (const auto& uid : user_ids)
    if (std::none_of(wanted.begin(), wanted.end(), [&](const Member& m) { return m.user_id == uid; }))
      wanted.push_back({uid, Role::member, now});
  std::int64_t cap = c.type == ConversationType::group ? I.opt.max_group_members
                                                       : std::numeric_limits<std::int64_t>::max();
  auto added = I.store.add_members(id, wanted, cap);
  if (!added) {
    if (added.error().code == Errc::failed_precondition)
      return fail(Errc::invalid_argument,
                  "a group has at most " + std::to_string(I.opt.max_group_members) + " members",
                  "user_ids");
    return fail(added.error());
  }
  I.announce_joined(id, *added);
  return added;
}

Result<void> MessagingService::remove_member(const std::string& caller, const std::string& id,
                                             const std::string& user_id) {
  if (user_id == caller) return leave(caller, id);
  auto& I = *impl_;
  auto v = I.member_view(caller, id);
  if (!v) return fail(v.error());
  if (v->conversation.type == ConversationType::dm)
    return fail(Errc::failed_precondition, "members cannot be removed from a DM");
  if (!is_manager(*v))
    return fail(Errc::permission_denied, "only owners and admins may remove members");
  if (!looks_like_id(user_id)) return fail(Errc::not_found, "not a member");
  auto target = I.store.membership(id, user_id);
  if (!target) return fail(target.error());
  if (!*target) return fail(Errc::not_found, "not a member");
  if ((*target)->role == Role::owner && v->me->role != Role::owner)
    return fail(Errc::permission_denied, "an admin cannot remove the owner");
  auto removed = I.store.remove_member(id, user_id);
  if (!removed) return fail(removed.error());
  if (*removed) I.announce_left(id, user_id);
  return ok();
}

Result<Member> MessagingService::set_role(const std::string& caller, const std::string& id,
                                          const std::string& user_id, const std::string& role) {
  auto& I = *impl_;
  auto v = I.member_view(caller, id);
  if (!v) return fail(v.error());
  if (v->conversation.type == ConversationType::dm)
    return fail(Errc::failed_precondition, "a DM has no roles");
  if (role != "admin" && role != "member")
    return fail(Errc::invalid_argument, "role must be admin or member", "role");
  if (v->me->role != Role::owner)
    return fail(Errc::permission_denied, "only the owner may change roles");
  if (!looks_like_id(user_id)) return fail(Errc::not_found, "not a member");
  auto target = I.store.membership(id, user_id);
  if (!target) return fail(target.error());
  if (!*target) return fail(Errc::not_found, "not a member");
  if ((*target)->role == Role::owner)
    return fail(Errc::failed_precondition, "the owner's role cannot change");
  return I.store.set_role(id, user_id, role == "admin" ? Role::admin : Role::member);
}

// ---- system administration ----

Result<ChannelPage> MessagingService::all_channels(const std::string& contains, int limit,
                                                  const std::optional<std::string>& cursor) {
  return channel_page(impl_->store, contains, limit, cursor, true);
}

Result<Conversation> MessagingService::channel_for_admin(const std::string& id) {
  if (!looks_like_id(id)) return fail(Errc::not_found, "no such channel");
  auto c = impl_->store.get_conversation(id);
  if (!c) return c;
  if (c->type != ConversationType::channel) return fail(Errc::not_found, "no such channel");
  return c;
}

Result<std::string> MessagingService::owner_of(const std::string& id) {
  // The owner is nearly always among the earliest members (the creator, or whoever a handover
  // chose): a few pages are enough, and the scan stays bounded for huge channels.
  std::int64_t after = 0;
  for (int page = 0; page < 5; ++page) {
    auto rows = impl_->store.list_members(id, 200, after);
    if (!rows) return fail(rows.error());
    for (const auto& [m, pos] : *rows)
      if (m.role == Role::owner) return m.user_id;
    if (rows->size() < 200) break;
    after = rows->back().second;
  }
  return std::string();
}

Result<Conversation> MessagingService::admin_set_archived(const std::string& id, bool archived) {
  auto& I = *impl_;
  auto c = channel_for_admin(id);
  if (!c) return c;
  auto r = I.store.set_archived(id, archived);
  if (!r) return fail(r.error());
  if (r->second)
    I.publish_ordered(
        id, Impl::conversation_event(id, "conversation.updated", serialize(to_json(r->first))));
  return r->first;
}

Result<Member> MessagingService::admin_set_owner(const std::string& id,
                                                const std::string& user_id) {
  auto& I = *impl_;
  auto c = channel_for_admin(id);
  if (!c) return fail(c.error());
  if (!looks_like_id(user_id)) return fail(Errc::not_found, "no such user", "user_id");
  if (auto u = I.users.get(user_id); !u) {
    if (u.error().code == Errc::not_found) return fail(Errc::not_found, "no such user", "user_id");
    return fail(u.error());
  }
  auto previous = owner_of(id);
  if (!previous) return fail(previous.error());
  if (*previous == user_id) {
    auto m = I.store.membership(id, user_id);
    if (!m) return fail(m.error());
    if (*m) return Member{user_id, Role::owner, (*m)->joined_at};
  }
  auto mine = I.store.membership(id, user_id);
  if (!mine) return fail(mine.error());
  if (!*mine) {
    auto added = I.store.add_members(id, {{user_id, Role::member, I.clock.now_ms()}},
                                     std::numeric_limits<std::int64_t>::max());
    if (!added) return fail(added.error());
    I.announce_joined(id, *added);
  }
  auto owner = I.store.set_role(id, user_id, Role::owner);
  if (!owner) return owner;
  if (!previous->empty() && *previous != user_id)
    if (auto r = I.store.set_role(id, *previous, Role::admin); !r) return fail(r.error());
  return owner;
}

// ---- messages ----

Result<NewMessage> MessagingService::Impl::prepare_send(const std::string& caller,
                                                        const SendRequest& in) {
  if (in.attachments.size() > static_cast<std::size_t>(opt.max_attachments))
    return fail(Errc::invalid_argument,
                "at most " + std::to_string(opt.max_attachments) + " attachments",
                "attachments");
  // A message of files alone has no text; anything written still has to be valid text.
  const bool files_only = !in.attachments.empty() && text::trim(in.text).empty();
  auto t = files_only ? Result<std::string>(std::string())
                      : normalise_text(in.text, opt.max_text_chars);
  if (!t) return fail(t.error());
  if (auto r = check_client_msg_id(in.client_msg_id); !r) return fail(r.error());
  if (in.thread_root_id && !looks_like_id(*in.thread_root_id))
    return fail(Errc::invalid_argument, "thread_root_id is not a message of this conversation",
                "thread_root_id");
  auto v = member_view(caller, in.conversation_id);
  if (!v) return fail(v.error());
  if (v->conversation.archived) return fail(archived_error());
  auto mentions = resolve_mentions(v->conversation, *t);
  if (!mentions) return fail(mentions.error());
  NewMessage m;
  m.created_at = clock.now_ms();
  m.id = new_id(m.created_at);
  m.conversation_id = in.conversation_id;
  m.sender_id = caller;
  m.text = std::move(*t);
  m.client_msg_id = in.client_msg_id;
  m.thread_root_id = in.thread_root_id;
  m.attachments = in.attachments;
  m.mentions = std::move(*mentions);
  return m;
}

void MessagingService::Impl::finish_send(const std::string& conversation_id, std::uint64_t ticket,
                                         const Result<Appended>& appended,
                                         const trace::Context& cause) {
  if (!appended || !appended->created) return sequencer.finish(conversation_id, ticket, std::nullopt);
  Event created = conversation_event(conversation_id, "message.created",
                                     serialize(to_json(appended->message)));
  created.route.seq = appended->message.seq;
  created.trace = cause;
  sequencer.finish(conversation_id, ticket,
                   Sequencer::Ready{appended->message.seq, std::move(created)});
}

Result<Appended> MessagingService::send(const std::string& caller, const SendRequest& in) {
  auto& I = *impl_;
  auto m = I.prepare_send(caller, in);
  if (!m) return fail(m.error());
  auto ticket = I.sequencer.begin(in.conversation_id);
  auto appended = I.store.append(*m);
  I.finish_send(in.conversation_id, ticket, appended, trace::current());
  return appended;
}

void MessagingService::send_async(const std::string& caller, const SendRequest& in,
                                  SendDone done) {
  auto& I = *impl_;
  auto m = I.prepare_send(caller, in);
  if (!m) return done(fail(m.error()));
  auto ticket = I.sequencer.begin(in.conversation_id);
  // The caller's span (HTTP request, WebSocket send), set around this call with trace::Scope.
  const trace::Context& cause = trace::current();
  // The storage commit span: from the hand-over to the writer until the group commit holding
  // this message is durable. Held by pointer only when sampled (the callback is copyable).
  std::shared_ptr<trace::Span> commit;
  if (cause.sampled)
    if (auto s = trace::Span::child("storage.commit", trace::Kind::internal, cause);
        s.recording())
      commit = std::make_shared<trace::Span>(std::move(s));
  I.store.append_async(*m, [&I, cid = in.conversation_id, ticket, commit, parent = cause,
                            done = std::move(done)](Result<Appended> appended) mutable {
    trace::Context cause = parent;
    if (commit) {
      if (!appended) commit->fail(appended.error().message);
      cause = commit->context();
      commit->end();
    }
    // Off the storage thread: serialising and publishing the event, and the caller's own
    // continuation, must not hold up the next commit.
    auto complete = [&I, cid = std::move(cid), ticket, cause, done = std::move(done),
                     appended = std::move(appended)]() mutable {
      I.finish_send(cid, ticket, appended, cause);
      done(std::move(appended));
    };
    if (!I.completions || !I.completions->try_submit(complete)) complete();
  });
}

Result<MessagePage> MessagingService::history(const std::string& caller,
                                              const std::string& conversation_id,
                                              const HistoryQuery& q) {
  if (q.before_seq && q.after_seq)
    return fail(Errc::invalid_argument, "give before_seq or after_seq, not both", "before_seq");
  if ((q.before_seq && *q.before_seq < 0) || (q.after_seq && *q.after_seq < 0))
    return fail(Errc::invalid_argument, "seq must not be negative",
                q.before_seq ? "before_seq" : "after_seq");
  auto v = impl_->visible(caller, conversation_id);
  if (!v) return fail(v.error());
  return impl_->store.history(conversation_id, q, caller);
}

Result<Message> MessagingService::get_message(const std::string& caller, const std::string& id) {
  auto mv = impl_->visible_message(caller, id);
  if (!mv) return fail(mv.error());
  return std::move(mv->first);
}

Result<Message> MessagingService::edit(const std::string& caller, const std::string& id,
                                       const std::string& text) {
  auto& I = *impl_;
  auto t = normalise_text(text, I.opt.max_text_chars);
  if (!t) return fail(t.error());
  auto mv = I.visible_message(caller, id);
  if (!mv) return fail(mv.error());
  const auto& [m, v] = *mv;
  if (m.sender_id != caller)
    return fail(Errc::permission_denied, "only the sender may edit a message");
  if (v.conversation.archived) return fail(archived_error());
  if (m.deleted) return fail(Errc::failed_precondition, "the message was deleted");
  auto mentions = I.resolve_mentions(v.conversation, *t);
  if (!mentions) return fail(mentions.error());
  auto edited = I.store.edit(id, *t, I.clock.now_ms(), *mentions);
  if (!edited) return edited;
  I.publish_ordered(m.conversation_id,
                    Impl::conversation_event(m.conversation_id, "message.updated",
                                             serialize(to_json(*edited, false))));
  auto again = I.store.get_message(id, caller);
  return again ? again : edited;
}

Result<Message> MessagingService::set_previews(const std::string& message_id,
                                               const std::vector<LinkPreview>& previews) {
  auto& I = *impl_;
  auto updated = I.store.set_previews(message_id, previews);
  if (!updated) return updated;
  I.publish_ordered(updated->conversation_id,
                    Impl::conversation_event(updated->conversation_id, "message.updated",
                                             serialize(to_json(*updated, false))));
  return updated;
}

Result<Message> MessagingService::set_transcripts(
    const std::string& message_id, const std::map<std::string, AttachmentTranscript>& by_file) {
  auto& I = *impl_;
  auto m = I.store.get_message(message_id, "");
  if (!m) return m;
  if (m->deleted) return fail(Errc::failed_precondition, "the message was deleted");
  auto files = m->attachments;
  bool changed = false;
  for (auto& f : files)
    if (auto it = by_file.find(f.id); it != by_file.end() && f.transcript != it->second) {
      f.transcript = it->second;
      changed = true;
    }
  if (!changed) return m;
  auto updated = I.store.set_attachments(message_id, files);
  if (!updated) return updated;
  I.publish_ordered(updated->conversation_id,
                    Impl::conversation_event(updated->conversation_id, "message.updated",
                                             serialize(to_json(*updated, false))));
  return updated;
}

Result<void> MessagingService::remove_message(const std::string& caller, const std::string& id) {
  auto& I = *impl_;
  auto mv = I.visible_message(caller, id);
  if (!mv) return fail(mv.error());
  const auto& [m, v] = *mv;
  if (m.sender_id != caller && !is_manager(v))
    return fail(Errc::permission_denied, "only the sender or an admin may delete a message");
  auto removed = I.store.remove_message(id);
  if (!removed) return fail(removed.error());
  if (removed->second)
    I.publish_ordered(m.conversation_id,
                      Impl::conversation_event(
                          m.conversation_id, "message.deleted",
                          serialize({{"id", m.id},
                                     {"conversation_id", m.conversation_id},
                                     {"seq", m.seq}})));
  return ok();
}

Result<MessagePage> MessagingService::replies(const std::string& caller, const std::string& id,
                                              std::int64_t after_seq, int limit) {
  if (after_seq < 0) return fail(Errc::invalid_argument, "seq must not be negative", "after_seq");
  auto mv = impl_->visible_message(caller, id);
  if (!mv) return fail(mv.error());
  return impl_->store.replies(id, after_seq, limit, caller);
}

Result<void> MessagingService::react(const std::string& caller, const std::string& message_id,
                                     const std::string& emoji, bool add) {
  auto& I = *impl_;
  auto mv = I.visible_message(caller, message_id);
  if (!mv) return fail(mv.error());
  const auto& [m, v] = *mv;
  if (!v.me) return fail(Errc::permission_denied, "join the channel first");
  if (v.conversation.archived) return fail(archived_error());
  if (auto r = check_emoji(emoji, I.opt.max_emoji_bytes); !r) return r;
  if (m.deleted) return fail(Errc::failed_precondition, "the message was deleted");
  auto changed = add ? I.store.add_reaction(message_id, caller, emoji, I.opt.max_distinct_reactions)
                     : I.store.remove_reaction(message_id, caller, emoji);
  if (!changed) {
    if (changed.error().code == Errc::failed_precondition)
      return fail(Errc::invalid_argument,
                  "a message has at most " + std::to_string(I.opt.max_distinct_reactions) +
                      " different reactions",
                  "emoji");
    return fail(changed.error());
  }
  if (*changed)
    I.publish_ordered(m.conversation_id,
                      Impl::conversation_event(m.conversation_id,
                                               add ? "reaction.added" : "reaction.removed",
                                               serialize({{"message_id", m.id},
                                                          {"conversation_id", m.conversation_id},
                                                          {"emoji", emoji},
                                                          {"user_id", caller}})));
  return ok();
}

Result<ReadState> MessagingService::mark_read(const std::string& caller,
                                              const std::string& session_id,
                                              const std::string& conversation_id,
                                              std::int64_t seq) {
  auto& I = *impl_;
  if (seq < 0) return fail(Errc::invalid_argument, "seq must not be negative", "seq");
  auto v = I.member_view(caller, conversation_id);
  if (!v) return fail(v.error());
  auto r = I.store.mark_read(conversation_id, caller, seq);
  if (!r) return r;
  if (r->moved) {
    Event e;
    e.route.kind = Route::Kind::user;
    e.route.user_ids = {caller};
    e.route.except_session = session_id;
    e.name = "read.updated";
    e.data = serialize({{"conversation_id", conversation_id}, {"last_read_seq", r->last_read_seq}});
    I.publish(std::move(e));
  }
  return r;
}

Result<ReadState> MessagingService::mark_unread(const std::string& caller,
                                                const std::string& conversation_id,
                                                std::int64_t seq) {
  auto& I = *impl_;
  auto v = I.member_view(caller, conversation_id);
  if (!v) return fail(v.error());
  if (seq < 1 || seq > v->conversation.last_seq)
    return fail(Errc::invalid_argument,
                "seq must be 1 to " + std::to_string(v->conversation.last_seq), "seq");
  auto r = I.store.set_read_marker(conversation_id, caller, seq - 1);
  if (!r) return r;
  if (r->moved)
    I.to_user(
        caller, "read.updated",
        serialize({{"conversation_id", conversation_id}, {"last_read_seq", r->last_read_seq}}));
  return r;
}

Result<void> MessagingService::set_starred(const std::string& caller,
                                           const std::string& conversation_id, bool starred) {
  auto& I = *impl_;
  auto v = I.visible(caller, conversation_id);
  if (!v) return fail(v.error());
  if (!v->me) return fail(not_found("conversation"));
  auto changed = I.store.set_starred(conversation_id, caller, starred);
  if (!changed) return fail(changed.error());
  if (*changed)
    I.to_user(caller, "star.updated",
              serialize({{"conversation_id", conversation_id}, {"starred", starred}}));
  return ok();
}

Result<void> MessagingService::set_saved(const std::string& caller, const std::string& message_id,
                                         bool saved) {
  auto& I = *impl_;
  auto mv = I.visible_message(caller, message_id);
  if (!mv) return fail(mv.error());
  const auto& m = mv->first;
  if (saved && m.deleted) return fail(Errc::failed_precondition, "the message was deleted");
  auto changed = I.store.set_saved(caller, message_id, saved, I.clock.now_ms());
  if (!changed) return fail(changed.error());
  if (*changed)
    I.to_user(caller, "saved.updated",
              serialize({{"message_id", message_id},
                         {"conversation_id", m.conversation_id},
                         {"saved", saved}}));
  return ok();
}

Result<SavedPage> MessagingService::saved(const std::string& caller, int limit,
                                          const std::optional<std::string>& cursor) {
  std::optional<std::int64_t> before;
  if (cursor) {
    try {
      std::size_t used = 0;
      before = std::stoll(*cursor, &used);
      if (used != cursor->size() || *before < 1) throw std::invalid_argument("cursor");
    } catch (const std::exception&) {
      return fail(Errc::invalid_argument, "cursor is not valid", "cursor");
    }
  }
  auto rows = impl_->store.list_saved(caller, limit + 1, before);
  if (!rows) return fail(rows.error());
  SavedPage page;
  if (static_cast<int>(rows->size()) > limit) {
    rows->resize(limit);
    page.next_cursor = std::to_string(rows->back().position);
  }
  for (auto& r : *rows) page.messages.push_back(std::move(r.message));
  return page;
}

Result<void> MessagingService::pin(const std::string& caller, const std::string& conversation_id,
                                   const std::string& message_id, bool pinned) {
  auto& I = *impl_;
  auto v = I.member_view(caller, conversation_id);
  if (!v) return fail(v.error());
  if (v->conversation.archived) return fail(archived_error());
  if (!looks_like_id(message_id)) return fail(not_found("message"));
  auto m = I.store.get_message(message_id, caller);
  if (!m) return fail(m.error());
  if (m->conversation_id != conversation_id) return fail(not_found("message"));
  if (pinned && m->deleted) return fail(Errc::failed_precondition, "the message was deleted");
  auto changed =
      pinned ? I.store.pin(conversation_id, message_id, caller, I.clock.now_ms(), I.opt.max_pins)
             : I.store.unpin(conversation_id, message_id);
  if (!changed) {
    if (changed.error().code == Errc::failed_precondition)
      return fail(Errc::invalid_argument,
                  "at most " + std::to_string(I.opt.max_pins) + " pins per conversation",
                  "message_id");
    return fail(changed.error());
  }
  if (*changed)
    I.publish_ordered(conversation_id,
                      Impl::conversation_event(conversation_id, pinned ? "pin.added" : "pin.removed",
                                               serialize({{"conversation_id", conversation_id},
                                                          {"message_id", message_id},
                                                          {"user_id", caller}})));
  return ok();
}

Result<std::vector<Message>> MessagingService::pins(const std::string& caller,
                                                   const std::string& conversation_id) {
  auto v = impl_->visible(caller, conversation_id);
  if (!v) return fail(v.error());
  return impl_->store.pins(conversation_id, caller);
}

Result<void> MessagingService::typing(const std::string& caller,
                                      const std::string& conversation_id) {
  auto& I = *impl_;
  auto v = I.member_view(caller, conversation_id);
  if (!v) return fail(v.error());
  const Millis now = I.clock.now_ms();
  {
    std::lock_guard lock(I.typing_mu);
    if (I.typing_last.size() >= Impl::kMaxTypingEntries)
      std::erase_if(I.typing_last,
                    [&](const auto& kv) { return now - kv.second >= I.opt.typing_interval_ms; });
    auto [it, inserted] = I.typing_last.try_emplace(caller + "|" + conversation_id, now);
    if (!inserted) {
      if (now - it->second < I.opt.typing_interval_ms) return ok();
      it->second = now;
    }
  }
  Event e = Impl::conversation_event(conversation_id, "typing",
                                     serialize({{"conversation_id", conversation_id},
                                                {"user_id", caller}}));
  e.route.except_user = caller;
  I.publish(std::move(e));
  return ok();
}

Result<std::vector<std::string>> MessagingService::conversation_ids_of(const std::string& user_id) {
  return impl_->store.conversation_ids_of(user_id);
}

Result<std::vector<std::string>> MessagingService::co_members(
    const std::string& user_id, const std::vector<std::string>& candidates) {
  return impl_->store.co_members(user_id, candidates);
}

Result<bool> MessagingService::is_member(const std::string& conversation_id,
                                         const std::string& user_id) {
  auto m = impl_->store.membership(conversation_id, user_id);
  if (!m) return fail(m.error());
  return m->has_value();
}

void MessagingService::notify_contacts(const std::string& user_id, std::string name,
                                       std::string data) {
  auto ids = impl_->store.conversation_ids_of(user_id);
  Event e;
  e.route.kind = Route::Kind::contacts;
  e.route.user_ids = {user_id};
  if (ids) e.route.conversation_ids = std::move(*ids);
  std::string key = user_id + "|" + name;
  e.name = std::move(name);
  e.data = std::move(data);
  impl_->to_contacts(key, std::move(e));
}

}  // namespace parley::messaging
