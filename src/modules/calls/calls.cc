#include "modules/calls/calls.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "modules/messaging/events.h"

namespace parley::calls {
namespace {

using messaging::Event;
using messaging::Route;

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

void erase_value(std::vector<std::string>& v, const std::string& x) {
  v.erase(std::remove(v.begin(), v.end(), x), v.end());
}

Participant* find_participant(Call& c, const std::string& user_id) {
  for (auto& p : c.participants)
    if (p.user_id == user_id) return &p;
  return nullptr;
}

// Events and bus messages of one change, published after the state lock is released (an
// in-process bus calls its handlers inline).
struct Outbox {
  std::vector<std::pair<std::string, std::string>> messages;  // topic, payload

  void event(Route route, std::string name, std::string data) {
    Event e;
    e.route = std::move(route);
    e.name = std::move(name);
    e.data = std::move(data);
    messages.emplace_back(std::string(messaging::kEventsTopic), messaging::encode(e));
  }
  void to_conversation(const Call& c, std::string name, std::string data) {
    Route r;
    r.kind = Route::Kind::conversation;
    r.conversation_ids = {c.conversation_id};
    event(std::move(r), std::move(name), std::move(data));
  }
  void to_user(const std::string& user_id, std::string name, std::string data) {
    Route r;
    r.kind = Route::Kind::user;
    r.user_ids = {user_id};
    event(std::move(r), std::move(name), std::move(data));
  }
};

std::string call_data(const Call& c) {
  return json::serialize(boost::json::object{{"call", to_json(c)}});
}

}  // namespace

struct CallService::Impl {
  enum class TimerKind { ring, grace, removed };
  struct Timer {
    TimerKind kind;
    std::string call_id;  // ring, grace
    std::string user_id;  // grace, removed
    std::string session_id;
    std::string conversation_id;  // removed
  };

  Impl(messaging::MessagingService& m, Bus& b, const Clock& c, CallOptions o)
      : messaging(m), bus(b), clock(c), opts(o) {
    // A member removed from a conversation is dropped from its running call. The bus handler
    // must not block: the work goes to the timer thread.
    members = bus.subscribe(std::string(messaging::kEventsTopic), [this](std::string_view p) {
      if (p.empty() || p[0] != 'l') return;  // member_left routes only (events.cc)
      auto e = messaging::decode(p);
      if (!e || e->route.kind != Route::Kind::member_left || e->route.conversation_ids.empty())
        return;
      std::lock_guard lock(mu);
      if (!by_conversation.contains(e->route.conversation_ids[0])) return;
      for (const auto& uid : e->route.user_ids)
        timers.emplace(0, Timer{TimerKind::removed, {}, uid, {}, e->route.conversation_ids[0]});
      cv.notify_all();
    });
    thread = std::thread([this] { timer_loop(); });
  }

  ~Impl() { stop(); }

  void stop() {
    members.reset();
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      stopping = true;
    }
    cv.notify_all();
    if (thread.joinable()) thread.join();
  }

  void flush(Outbox& out) {
    for (auto& [topic, payload] : out.messages) bus.publish(topic, std::move(payload));
    out.messages.clear();
  }

  // Under mu.
  void changed(Call& c, Outbox& out) {
    ++c.version;
    out.to_conversation(c, "call.updated", call_data(c));
  }

  // Under mu: the call is over; c is erased from the maps (a copy goes out).
  Call end(Call& c, const std::string& reason, Outbox& out) {
    c.state = "ended";
    c.reason = reason;
    c.ended_at = clock.now_ms();
    ++c.version;
    for (const auto& p : c.participants) {
      auto it = by_user.find(p.user_id);
      if (it != by_user.end() && it->second == c.id) by_user.erase(it);
    }
    by_conversation.erase(c.conversation_id);
    Call done = std::move(c);
    calls.erase(done.id);
    auto obj = to_json(done);
    out.to_conversation(
        done, "call.ended",
        json::serialize(boost::json::object{{"call_id", done.id},
                                            {"conversation_id", done.conversation_id},
                                            {"reason", done.reason},
                                            {"call", obj}}));
    out.messages.emplace_back(
        std::string(kFinishedTopic),
        json::serialize(boost::json::object{{"call", obj}, {"text", call_message_text(done)}}));
    return done;
  }

  // Under mu: takes user_id out of c; ends it when too few remain.
  Call remove_participant(Call& c, const std::string& user_id, Outbox& out) {
    std::erase_if(c.participants, [&](const Participant& p) { return p.user_id == user_id; });
    if (auto it = by_user.find(user_id); it != by_user.end() && it->second == c.id)
      by_user.erase(it);
    // Nobody answered and the caller left: cancelled. Answered and one (or none) left: over.
    if (c.state == "ringing" && c.participants.empty()) return end(c, "hangup", out);
    if (c.state == "active" && c.participants.size() < 2) return end(c, "hangup", out);
    changed(c, out);
    return c;
  }

  // The members of the conversation (and whether the caller is one), read outside the lock.
  Result<void> require_member(const std::string& cid, const std::string& user_id) {
    auto m = messaging.is_member(cid, user_id);
    if (!m) return fail(m.error());
    if (!*m) return fail(Errc::not_found, "no such call");
    return ok();
  }

  // The conversation of a running call the caller may see; not_found otherwise.
  Result<std::string> visible_conversation(const std::string& caller, const std::string& id) {
    std::string cid;
    {
      std::lock_guard lock(mu);
      auto it = calls.find(id);
      if (it == calls.end()) return fail(Errc::not_found, "no such call");
      cid = it->second.conversation_id;
    }
    if (auto r = require_member(cid, caller); !r) return fail(r.error());
    return cid;
  }

  void timer_loop() {
    std::unique_lock lock(mu);
    while (!stopping) {
      if (timers.empty()) {
        cv.wait(lock);
        continue;
      }
      Millis now = clock.now_ms();
      auto due = timers.begin()->first;
      if (due > now) {
        cv.wait_for(lock, std::chrono::milliseconds(std::min<Millis>(due - now, 1'000)));
        continue;
      }
      Timer t = std::move(timers.begin()->second);
      timers.erase(timers.begin());
      Outbox out;
      fire(t, out);
      lock.unlock();
      flush(out);
      lock.lock();
    }
  }

  // Under mu.
  void fire(const Timer& t, Outbox& out) {
    switch (t.kind) {
      case TimerKind::ring: {
        auto it = calls.find(t.call_id);
        if (it == calls.end() || it->second.ringing.empty()) return;
        Call& c = it->second;
        c.ringing.clear();
        if (c.state == "ringing")
          end(c, "timeout", out);
        else
          changed(c, out);
        return;
      }
      case TimerKind::grace: {
        auto it = calls.find(t.call_id);
        if (it == calls.end()) return;
        auto* p = find_participant(it->second, t.user_id);
        if (!p || p->session_id != t.session_id || p->connected) return;
        remove_participant(it->second, t.user_id, out);
        return;
      }
      case TimerKind::removed: {
        auto cit = by_conversation.find(t.conversation_id);
        if (cit == by_conversation.end()) return;
        auto it = calls.find(cit->second);
        if (it == calls.end()) return;
        Call& c = it->second;
        bool rung = contains(c.ringing, t.user_id);
        erase_value(c.ringing, t.user_id);
        if (find_participant(c, t.user_id)) {
          auto after = remove_participant(c, t.user_id, out);
          // The hub no longer routes the conversation's events to them: tell them directly.
          out.to_user(t.user_id, "call.updated", call_data(after));
        } else if (rung) {
          if (c.state == "ringing" && c.ringing.empty() && c.participants.size() <= 1) {
            auto after = end(c, "hangup", out);
            out.to_user(t.user_id, "call.updated", call_data(after));
          } else {
            changed(c, out);
            out.to_user(t.user_id, "call.updated", call_data(c));
          }
        }
        return;
      }
    }
  }

  messaging::MessagingService& messaging;
  Bus& bus;
  const Clock& clock;
  CallOptions opts;

  std::mutex mu;
  std::unordered_map<std::string, Call> calls;                 // running, by id
  std::unordered_map<std::string, std::string> by_conversation;  // conversation -> call
  std::unordered_map<std::string, std::string> by_user;          // participant -> call
  std::unordered_map<std::string, int> sockets;  // "user session" -> open sockets on this node
  std::multimap<Millis, Timer> timers;
  std::condition_variable cv;
  bool stopping = false;
  std::thread thread;
  std::unique_ptr<Bus::Subscription> members;
};

CallService::CallService(messaging::MessagingService& messaging, Bus& bus, const Clock& clock,
                         CallOptions options)
    : impl_(std::make_unique<Impl>(messaging, bus, clock, options)) {}

CallService::~CallService() = default;

void CallService::stop() { impl_->stop(); }

Result<Call> CallService::start(const std::string& caller, const std::string& session_id,
                                const std::string& cid, const std::string& media) {
  auto& s = *impl_;
  if (media != "audio" && media != "video")
    return fail(Errc::invalid_argument, "media must be \"audio\" or \"video\"", "media");
  auto view = s.messaging.get(caller, cid);
  if (!view) return fail(view.error());
  if (!view->me) return fail(Errc::not_found, "no such conversation");
  // Everyone else in it, up to max_rung.
  std::vector<std::string> others;
  std::optional<std::string> cursor;
  do {
    auto page = s.messaging.members(caller, cid, 200, cursor);
    if (!page) return fail(page.error());
    for (const auto& m : page->members)
      if (m.user_id != caller && static_cast<int>(others.size()) < s.opts.max_rung)
        others.push_back(m.user_id);
    cursor = page->next_cursor;
  } while (cursor && static_cast<int>(others.size()) < s.opts.max_rung);

  Outbox out;
  Call result;
  {
    std::lock_guard lock(s.mu);
    if (s.by_conversation.contains(cid))
      return fail(Errc::failed_precondition,
                  "a call is already running in this conversation: join it with call.accept");
    if (s.by_user.contains(caller)) return fail(Errc::failed_precondition, "you are in a call");
    const Millis now = s.clock.now_ms();
    Call c;
    c.id = new_id(now);
    c.conversation_id = cid;
    c.conversation_type = messaging::to_string(view->conversation.type);
    c.started_by = caller;
    c.media = media;
    c.state = "ringing";
    c.started_at = now;
    c.version = 1;
    c.participants.push_back({caller, session_id, now, true, media == "video", false, true});
    for (const auto& uid : others) {
      if (s.by_user.contains(uid))
        c.busy.push_back(uid);
      else
        c.ringing.push_back(uid);
    }
    s.by_conversation[cid] = c.id;
    s.by_user[caller] = c.id;
    auto& stored = s.calls[c.id];
    stored = std::move(c);
    if (stored.ringing.empty() && !stored.busy.empty()) {
      result = s.end(stored, "busy", out);
    } else {
      s.timers.emplace(now + s.opts.ring_timeout_ms,
                       Impl::Timer{Impl::TimerKind::ring, stored.id, {}, {}, {}});
      s.cv.notify_all();
      auto data = call_data(stored);
      for (const auto& uid : stored.ringing) out.to_user(uid, "call.ringing", data);
      out.to_conversation(stored, "call.updated", data);
      result = stored;
    }
  }
  s.flush(out);
  return result;
}

Result<Call> CallService::accept(const std::string& caller, const std::string& session_id,
                                 const std::string& id) {
  auto& s = *impl_;
  if (auto cid = s.visible_conversation(caller, id); !cid) return fail(cid.error());
  Outbox out;
  Call result;
  {
    std::lock_guard lock(s.mu);
    auto it = s.calls.find(id);
    if (it == s.calls.end()) return fail(Errc::failed_precondition, "the call has ended");
    Call& c = it->second;
    if (auto in = s.by_user.find(caller); in != s.by_user.end() && in->second != id)
      return fail(Errc::failed_precondition, "you are in another call: leave it first");
    const Millis now = s.clock.now_ms();
    if (auto* p = find_participant(c, caller)) {
      // A rejoin (same session, after a reload) or a move to another device.
      p->session_id = session_id;
      p->connected = true;
    } else {
      if (static_cast<int>(c.participants.size()) >= s.opts.max_participants)
        return fail(Errc::failed_precondition, "the call is full");
      c.participants.push_back({caller, session_id, now, true, c.media == "video", false, true});
      s.by_user[caller] = id;
    }
    erase_value(c.ringing, caller);
    erase_value(c.declined, caller);
    if (c.state == "ringing" && c.participants.size() >= 2) {
      c.state = "active";
      c.answered_at = now;
    }
    s.changed(c, out);
    result = c;
  }
  s.flush(out);
  return result;
}

Result<Call> CallService::decline(const std::string& caller, const std::string& id) {
  auto& s = *impl_;
  if (auto cid = s.visible_conversation(caller, id); !cid) return fail(cid.error());
  Outbox out;
  Call result;
  {
    std::lock_guard lock(s.mu);
    auto it = s.calls.find(id);
    if (it == s.calls.end()) return fail(Errc::failed_precondition, "the call has ended");
    Call& c = it->second;
    if (!contains(c.ringing, caller))
      return fail(Errc::failed_precondition, "this call is not ringing for you");
    erase_value(c.ringing, caller);
    c.declined.push_back(caller);
    if (c.state == "ringing" && c.ringing.empty() && c.participants.size() <= 1)
      result = s.end(c, "declined", out);
    else {
      s.changed(c, out);
      result = c;
    }
  }
  s.flush(out);
  return result;
}

Result<Call> CallService::leave(const std::string& caller, const std::string& session_id,
                                const std::string& id) {
  auto& s = *impl_;
  if (auto cid = s.visible_conversation(caller, id); !cid) return fail(cid.error());
  Outbox out;
  Call result;
  {
    std::lock_guard lock(s.mu);
    auto it = s.calls.find(id);
    if (it == s.calls.end()) return fail(Errc::failed_precondition, "the call has ended");
    auto* p = find_participant(it->second, caller);
    if (!p || (!session_id.empty() && p->session_id != session_id))
      return fail(Errc::failed_precondition, "you are not in this call");
    result = s.remove_participant(it->second, caller, out);
  }
  s.flush(out);
  return result;
}

Result<Call> CallService::set_media(const std::string& caller, const std::string& session_id,
                                    const std::string& id, const MediaState& media) {
  auto& s = *impl_;
  Outbox out;
  Call result;
  {
    std::lock_guard lock(s.mu);
    auto it = s.calls.find(id);
    auto* p = it == s.calls.end() ? nullptr : find_participant(it->second, caller);
    // Only a participant can reach this far, and a participant is a member: no store read.
    if (!p || p->session_id != session_id) return fail(Errc::not_found, "you are not in this call");
    if (media.audio) p->audio = *media.audio;
    if (media.video) p->video = *media.video;
    if (media.screen) p->screen = *media.screen;
    s.changed(it->second, out);
    result = it->second;
  }
  s.flush(out);
  return result;
}

Result<void> CallService::signal(const std::string& caller, const std::string& session_id,
                                 const std::string& id, const std::string& to_user,
                                 const std::string& to_session, std::string data) {
  auto& s = *impl_;
  if (data.size() > s.opts.max_signal_bytes)
    return fail(Errc::too_large,
                "data is over " + std::to_string(s.opts.max_signal_bytes / 1024) + " KiB", "data");
  Outbox out;
  bool participant = false;
  std::string cid;
  {
    std::lock_guard lock(s.mu);
    auto it = s.calls.find(id);
    if (it == s.calls.end()) return fail(Errc::not_found, "no such call");
    Call& c = it->second;
    cid = c.conversation_id;
    auto* from = find_participant(c, caller);
    participant = from && from->session_id == session_id;
    if (participant) {
      auto* to = find_participant(c, to_user);
      if (!to || to == from || (!to_session.empty() && to->session_id != to_session))
        return fail(Errc::not_found, "to_user_id is not in this call", "to_user_id");
      Route r;
      r.kind = Route::Kind::session;
      r.user_ids = {to->user_id, to->session_id};
      std::string payload = json::serialize(boost::json::object{
          {"call_id", id}, {"from_user_id", caller}, {"from_session_id", session_id}});
      payload.pop_back();  // the opaque data goes in as it came, already checked JSON
      payload += R"(,"data":)";
      payload += data;
      payload += '}';
      out.event(std::move(r), "call.signal", std::move(payload));
    }
  }
  if (!participant) {
    // A member who is not in the call may not relay into it; anyone else may not see it.
    if (auto m = s.require_member(cid, caller); !m) return fail(m.error());
    return fail(Errc::permission_denied, "only the call's participants may signal");
  }
  s.flush(out);
  return ok();
}

Result<Call> CallService::get(const std::string& caller, const std::string& id) {
  auto& s = *impl_;
  if (auto cid = s.visible_conversation(caller, id); !cid) return fail(cid.error());
  std::lock_guard lock(s.mu);
  auto it = s.calls.find(id);
  if (it == s.calls.end()) return fail(Errc::not_found, "no such call");
  return it->second;
}

Result<std::vector<Call>> CallService::running(const std::string& caller) {
  auto& s = *impl_;
  auto ids = s.messaging.conversation_ids_of(caller);
  if (!ids) return fail(ids.error());
  std::vector<Call> out;
  std::lock_guard lock(s.mu);
  for (const auto& cid : *ids)
    if (auto it = s.by_conversation.find(cid); it != s.by_conversation.end())
      if (auto c = s.calls.find(it->second); c != s.calls.end()) out.push_back(c->second);
  return out;
}

void CallService::socket_opened(const std::string& user_id, const std::string& session_id) {
  std::lock_guard lock(impl_->mu);
  ++impl_->sockets[user_id + ' ' + session_id];
}

void CallService::socket_closed(const std::string& user_id, const std::string& session_id) {
  auto& s = *impl_;
  Outbox out;
  {
    std::lock_guard lock(s.mu);
    auto key = user_id + ' ' + session_id;
    auto it = s.sockets.find(key);
    if (it != s.sockets.end() && --it->second > 0) return;
    if (it != s.sockets.end()) s.sockets.erase(it);
    auto in = s.by_user.find(user_id);
    if (in == s.by_user.end()) return;
    auto c = s.calls.find(in->second);
    if (c == s.calls.end()) return;
    auto* p = find_participant(c->second, user_id);
    if (!p || p->session_id != session_id || !p->connected) return;
    p->connected = false;
    s.timers.emplace(s.clock.now_ms() + s.opts.rejoin_grace_ms,
                     Impl::Timer{Impl::TimerKind::grace, c->second.id, user_id, session_id, {}});
    s.cv.notify_all();
    s.changed(c->second, out);
  }
  s.flush(out);
}

boost::json::object to_json(const Call& c) {
  boost::json::array participants;
  for (const auto& p : c.participants)
    participants.push_back(boost::json::object{{"user_id", p.user_id},
                                               {"session_id", p.session_id},
                                               {"joined_at", p.joined_at},
                                               {"audio", p.audio},
                                               {"video", p.video},
                                               {"screen", p.screen},
                                               {"connected", p.connected}});
  auto ids = [](const std::vector<std::string>& v) {
    boost::json::array a;
    for (const auto& s : v) a.emplace_back(s);
    return a;
  };
  boost::json::object o{{"id", c.id},
                        {"conversation_id", c.conversation_id},
                        {"conversation_type", c.conversation_type},
                        {"started_by", c.started_by},
                        {"media", c.media},
                        {"state", c.state},
                        {"started_at", c.started_at},
                        {"version", c.version},
                        {"participants", std::move(participants)},
                        {"ringing", ids(c.ringing)},
                        {"declined", ids(c.declined)},
                        {"busy", ids(c.busy)}};
  if (c.answered_at) o["answered_at"] = c.answered_at;
  if (c.ended_at) o["ended_at"] = c.ended_at;
  if (!c.reason.empty()) o["reason"] = c.reason;
  return o;
}

std::string call_message_text(const Call& c) {
  const char* kind = c.media == "video" ? "video" : "audio";
  if (!c.answered_at) return std::string("📞 Missed ") + kind + " call";
  Millis ms = std::max<Millis>(0, c.ended_at - c.answered_at);
  long long secs = ms / 1000;
  char buf[32];
  if (secs >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", secs / 3600, secs / 60 % 60, secs % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", secs / 60, secs % 60);
  std::string text = c.media == "video" ? "📞 Video call" : "📞 Audio call";
  return text + " · " + buf;
}

}  // namespace parley::calls
