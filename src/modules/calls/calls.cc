#include "modules/calls/calls.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/crypto.h"
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
  std::vector<std::function<void()>> sfu;  // calls to the media server, made after the lock

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

// Moderation: the caller must be an owner or admin of the call's conversation.
Result<void> require_moderator(messaging::MessagingService& messaging, const std::string& caller,
                               const std::string& cid) {
  auto view = messaging.get(caller, cid);
  if (!view) return fail(view.error());
  if (!view->me) return fail(Errc::not_found, "no such call");
  if (view->me->role == messaging::Role::member)
    return fail(Errc::permission_denied,
                "only the conversation's owners and admins moderate calls");
  return ok();
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

  Impl(messaging::MessagingService& m, Bus& b, const Clock& c, CallOptions o, Sfu* s)
      : messaging(m), bus(b), clock(c), opts(o), sfu(s) {
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

  // Forwarding (§42), set up once the service exists (serve() calls its public methods).
  void start_forwarding(CallService* service) {
    self = service;
    if (opts.forward) {
      reply_topic = "calls.reply." + hex_encode(random_bytes(8));
      forwarding = bus.subscribe(reply_topic, [this](std::string_view p) { answered(p); });
    } else if (!opts.calls_node.empty()) {
      server = std::thread([this] { serve_loop(); });
      forwarding = bus.subscribe(request_topic(opts.calls_node), [this](std::string_view p) {
        std::lock_guard lock(fmu);
        requests.emplace_back(p);
        fcv.notify_all();
      });
    }
  }

  void stop() {
    members.reset();
    forwarding.reset();
    {
      std::lock_guard lock(fmu);
      fstopping = true;
    }
    fcv.notify_all();
    if (server.joinable()) server.join();
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      stopping = true;
    }
    cv.notify_all();
    if (thread.joinable()) thread.join();
  }

  // ---- forwarding node: each operation goes to the node holding the calls ----

  // Sends the request and waits for its answer: the answer's object, or its error.
  Result<boost::json::object> ask(boost::json::object req) {
    const std::string id = hex_encode(random_bytes(12));
    req["id"] = id;
    req["reply"] = reply_topic;
    {
      std::lock_guard lock(fmu);
      answers[id];
    }
    bus.publish(request_topic(opts.calls_node), json::serialize(req));
    std::unique_lock lock(fmu);
    fcv.wait_for(lock, std::chrono::milliseconds(opts.forward_timeout_ms),
                 [&] { return fstopping || answers[id].has_value(); });
    auto answer = std::move(answers[id]);
    answers.erase(id);
    lock.unlock();
    if (!answer)
      return fail(Errc::unavailable, "the node that holds calls did not answer: retry shortly");
    auto o = json::parse_object(*answer);
    if (!o) return fail(Errc::internal, "a malformed answer from the node that holds calls");
    if (const auto* e = o->if_contains("error"); e && e->is_object()) {
      const auto& eo = e->as_object();
      Error err;
      err.code = static_cast<Errc>(eo.at("code").as_int64());
      err.message = std::string(eo.at("message").as_string());
      err.field = std::string(eo.at("field").as_string());
      return fail(std::move(err));
    }
    return std::move(*o);
  }

  Result<Call> ask_call(boost::json::object req) {
    auto o = ask(std::move(req));
    if (!o) return fail(o.error());
    const auto* c = o->if_contains("call");
    if (!c || !c->is_object()) return fail(Errc::internal, "no call in the answer");
    return call_from_json(c->as_object());
  }

  void answered(std::string_view payload) {
    auto o = json::parse_object(payload);
    if (!o) return;
    const auto* id = o->if_contains("id");
    if (!id || !id->is_string()) return;
    std::lock_guard lock(fmu);
    auto it = answers.find(std::string(id->as_string()));
    if (it == answers.end()) return;  // timed out already
    it->second = std::string(payload);
    fcv.notify_all();
  }

  // ---- the node holding the calls: requests on a thread of their own (they block) ----

  void serve_loop() {
    std::unique_lock lock(fmu);
    for (;;) {
      fcv.wait(lock, [&] { return fstopping || !requests.empty(); });
      if (fstopping) return;
      std::string payload = std::move(requests.front());
      requests.pop_front();
      lock.unlock();
      serve(payload);
      lock.lock();
    }
  }

  void serve(std::string_view payload) {
    auto req = json::parse_object(payload);
    if (!req) return;
    auto str = [&](std::string_view k) {
      const auto* v = req->if_contains(k);
      return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    auto flag = [&](std::string_view k) -> std::optional<bool> {
      const auto* v = req->if_contains(k);
      if (!v || !v->is_bool()) return std::nullopt;
      return v->as_bool();
    };
    const std::string op = str("op"), user = str("user"), session = str("session"),
                      call_id = str("call_id"), reply = str("reply");
    boost::json::object answer{{"id", str("id")}};
    auto put = [&](const Result<Call>& c) {
      if (c)
        answer["call"] = to_json(*c);
      else
        answer["error"] = boost::json::object{{"code", static_cast<int>(c.error().code)},
                                              {"message", c.error().message},
                                              {"field", c.error().field}};
    };
    auto& svc = *self;
    if (op == "socket_opened") return svc.socket_opened(user, session);
    if (op == "socket_closed") return svc.socket_closed(user, session);
    if (op == "start") {
      put(svc.start(user, session, str("conversation_id"), str("media")));
    } else if (op == "accept") {
      put(svc.accept(user, session, call_id));
    } else if (op == "decline") {
      put(svc.decline(user, call_id));
    } else if (op == "leave") {
      put(svc.leave(user, session, call_id));
    } else if (op == "media") {
      put(svc.set_media(user, session, call_id, {flag("audio"), flag("video"), flag("screen")}));
    } else if (op == "kick") {
      put(svc.kick(user, call_id, str("to_user")));
    } else if (op == "mute") {
      put(svc.mute(user, call_id, str("to_user")));
    } else if (op == "record") {
      put(svc.record(user, call_id, flag("on").value_or(false)));
    } else if (op == "get") {
      put(svc.get(user, call_id));
    } else if (op == "signal") {
      auto r = svc.signal(user, session, call_id, str("to_user"), str("to_session"), str("data"));
      if (r)
        answer["ok"] = true;
      else
        put(fail(r.error()));
    } else if (op == "running") {
      auto r = svc.running(user);
      if (r) {
        boost::json::array a;
        for (const auto& c : *r) a.push_back(to_json(c));
        answer["calls"] = std::move(a);
      } else {
        put(fail(r.error()));
      }
    } else {
      put(fail(Errc::malformed, "unknown call operation"));
    }
    if (!reply.empty()) bus.publish(reply, json::serialize(answer));
  }

  void flush(Outbox& out) {
    for (auto& [topic, payload] : out.messages) bus.publish(topic, std::move(payload));
    out.messages.clear();
    for (auto& f : out.sfu) f();
    out.sfu.clear();
  }

  // ---- the SFU room of a group call (rooms under mu; the media server called after it) ----

  struct Room {
    std::string secret;
    std::unordered_map<std::string, SfuJoin> joins;  // "user session" -> its token and feed
    // Joins whose audio the SFU holds back: a moderator muted them, and they have not turned
    // their microphone on again since.
    std::unordered_set<std::string> held;
  };

  static std::string random_token() { return base64url_encode(random_bytes(18)); }

  SfuJoin new_join(const std::string& room) {
    return {sfu->public_url(), room, random_token(), "f" + hex_encode(random_bytes(8))};
  }

  // Under mu: the SFU holds back (or lets through again) the participant's audio. Calls without
  // a room (two people, peer to peer) have no media server to enforce it: the mute is the
  // participant's client's.
  void sfu_hold_audio(const Call& c, const Participant& p, bool hold, Outbox& out) {
    auto r = rooms.find(c.id);
    if (r == rooms.end()) return;
    const std::string key = p.user_id + ' ' + p.session_id;
    auto j = r->second.joins.find(key);
    if (j == r->second.joins.end()) return;
    if (hold ? !r->second.held.insert(key).second : r->second.held.erase(key) == 0) return;
    out.sfu.push_back([this, join = j->second, secret = r->second.secret, hold] {
      if (auto k = sfu->mute(join.room, secret, join.feed, hold); !k)
        log::warn(hold ? "sfu: audio not held back" : "sfu: audio not let through",
                  {{"room", join.room}, {"reason", k.error().message}});
    });
  }

  // Under mu: the participant's token stops working and its feed leaves the room.
  void sfu_forget(const Call& c, const std::string& user_id, const std::string& session_id,
                  Outbox& out) {
    auto r = rooms.find(c.id);
    if (r == rooms.end()) return;
    auto j = r->second.joins.find(user_id + ' ' + session_id);
    if (j == r->second.joins.end()) return;
    SfuJoin join = j->second;
    r->second.held.erase(j->first);
    r->second.joins.erase(j);
    out.sfu.push_back([this, join, secret = r->second.secret] {
      if (auto k = sfu->allow(join.room, secret, {join.token}, false); !k)
        log::warn("sfu: token not withdrawn", {{"room", join.room}, {"reason", k.error().message}});
      if (auto k = sfu->kick(join.room, secret, join.feed); !k)
        log::warn("sfu: feed not removed", {{"room", join.room}, {"reason", k.error().message}});
    });
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
    if (c.recording) recorded(c, out);
    if (auto r = rooms.find(c.id); r != rooms.end()) {
      out.sfu.push_back([this, room = "call-" + c.id, secret = r->second.secret] {
        if (auto k = sfu->destroy_room(room, secret); !k)
          log::warn("sfu: room not destroyed", {{"room", room}, {"reason", k.error().message}});
      });
      rooms.erase(r);
    }
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

  // Under mu: the recording of c is over; its files go to the API to render and post.
  void recorded(Call& c, Outbox& out) {
    c.recording = false;
    out.messages.emplace_back(
        std::string(kRecordedTopic),
        json::serialize(boost::json::object{{"call_id", c.id},
                                            {"conversation_id", c.conversation_id},
                                            {"recorded_by", c.recorded_by},
                                            {"dir", sfu->recording_dir("call-" + c.id)}}));
  }

  // Under mu: takes user_id out of c; ends it when too few remain.
  Call remove_participant(Call& c, const std::string& user_id, Outbox& out) {
    if (auto* p = find_participant(c, user_id)) sfu_forget(c, user_id, p->session_id, out);
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

  // A moderator's change to one participant (fn, under the lock) and its call.updated.
  template <class Fn>
  Result<Call> moderate(const std::string& caller, const std::string& id,
                        const std::string& user_id, Fn fn) {
    auto& s = *this;
    auto cid = s.visible_conversation(caller, id);
    if (!cid) return fail(cid.error());
    if (auto r = require_moderator(s.messaging, caller, *cid); !r) return fail(r.error());
    Outbox out;
    Call result;
    {
      std::lock_guard lock(s.mu);
      auto it = s.calls.find(id);
      if (it == s.calls.end()) return fail(Errc::failed_precondition, "the call has ended");
      auto* p = find_participant(it->second, user_id);
      if (!p) return fail(Errc::not_found, "user_id is not in this call", "user_id");
      result = fn(it->second, *p, out);
    }
    s.flush(out);
    return result;
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
  Sfu* sfu;

  std::mutex mu;
  std::unordered_map<std::string, Call> calls;                   // running, by id
  std::unordered_map<std::string, std::string> by_conversation;  // conversation -> call
  std::unordered_map<std::string, std::string> by_user;          // participant -> call
  std::unordered_map<std::string, int> sockets;  // "user session" -> open sockets on this node
  std::unordered_map<std::string, Room> rooms;   // call id -> its SFU room (group calls)
  std::multimap<Millis, Timer> timers;
  std::condition_variable cv;
  bool stopping = false;
  std::thread thread;
  std::unique_ptr<Bus::Subscription> members;

  // Forwarding (§42): on a forwarding node, answers awaited by request id; on the node holding
  // the calls, the requests waiting for the server thread.
  CallService* self = nullptr;
  std::string reply_topic;
  std::mutex fmu;
  std::condition_variable fcv;
  bool fstopping = false;
  std::unordered_map<std::string, std::optional<std::string>> answers;
  std::deque<std::string> requests;
  std::thread server;
  std::unique_ptr<Bus::Subscription> forwarding;
};

CallService::CallService(messaging::MessagingService& messaging, Bus& bus, const Clock& clock,
                         CallOptions options, Sfu* sfu)
    : impl_(std::make_unique<Impl>(messaging, bus, clock, options, sfu)) {
  impl_->start_forwarding(this);
}

CallService::~CallService() = default;

void CallService::stop() { impl_->stop(); }

Result<Call> CallService::start(const std::string& caller, const std::string& session_id,
                                const std::string& cid, const std::string& media) {
  auto& s = *impl_;
  if (s.opts.forward)
    return s.ask_call({{"op", "start"}, {"user", caller}, {"session", session_id},
                       {"conversation_id", cid}, {"media", media}});
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

  auto refused = [&]() -> std::optional<Error> {  // under mu
    if (s.by_conversation.contains(cid))
      return Error{Errc::failed_precondition,
                   "a call is already running in this conversation: join it with call.accept",
                   {},
                   0};
    if (s.by_user.contains(caller))
      return Error{Errc::failed_precondition, "you are in a call", {}, 0};
    return std::nullopt;
  };
  // A group call's room is made on the SFU first (outside the lock: it is HTTP), with the
  // caller's token in it.
  const bool group = s.sfu && view->conversation.type != messaging::ConversationType::dm;
  std::string id = new_id(s.clock.now_ms());
  std::optional<Impl::Room> room;
  std::optional<SfuJoin> join;
  if (group) {
    {
      std::lock_guard lock(s.mu);
      if (auto e = refused()) return fail(*e);
    }
    room.emplace();
    room->secret = Impl::random_token();
    join = s.new_join("call-" + id);
    if (auto r = s.sfu->create_room(join->room, room->secret, {join->token}); !r)
      return fail(Errc::unavailable, "the media server is not available: " + r.error().message);
    room->joins[caller + ' ' + session_id] = *join;
  }

  Outbox out;
  Call result;
  std::optional<Error> refusal;
  {
    std::lock_guard lock(s.mu);
    refusal = refused();
    if (refusal && room)
      out.sfu.push_back([&s, name = join->room, secret = room->secret] {
        (void)s.sfu->destroy_room(name, secret);
      });
    if (!refusal) {
      const Millis now = s.clock.now_ms();
      Call c;
      c.id = id;
      c.sfu = group;
      if (room) s.rooms[id] = std::move(*room);
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
        result.sfu_join = join;
      }
    }
  }
  s.flush(out);
  if (refusal) return fail(*refusal);
  return result;
}

Result<Call> CallService::accept(const std::string& caller, const std::string& session_id,
                                 const std::string& id) {
  auto& s = *impl_;
  if (s.opts.forward)
    return s.ask_call({{"op", "accept"}, {"user", caller}, {"session", session_id},
                       {"call_id", id}});
  if (auto cid = s.visible_conversation(caller, id); !cid) return fail(cid.error());
  // A group call: this session's token goes into the room's allowed list first (HTTP, outside
  // the lock); a rejoin from the same session keeps the one it had.
  const std::string key = caller + ' ' + session_id;
  std::optional<SfuJoin> join;
  std::string secret;
  {
    std::lock_guard lock(s.mu);
    if (auto r = s.rooms.find(id); r != s.rooms.end()) {
      secret = r->second.secret;
      if (auto j = r->second.joins.find(key); j != r->second.joins.end()) join = j->second;
    }
  }
  bool fresh = false;
  if (!secret.empty() && !join) {
    join = s.new_join("call-" + id);
    if (auto r = s.sfu->allow(join->room, secret, {join->token}, true); !r)
      return fail(Errc::unavailable, "the media server is not available: " + r.error().message);
    fresh = true;
  }
  Outbox out;
  Call result;
  std::optional<Error> refusal;
  {
    std::lock_guard lock(s.mu);
    auto it = s.calls.find(id);
    auto r = s.rooms.find(id);
    if (it == s.calls.end())
      refusal = Error{Errc::failed_precondition, "the call has ended", {}, 0};
    else if (auto in = s.by_user.find(caller); in != s.by_user.end() && in->second != id)
      refusal = Error{Errc::failed_precondition, "you are in another call: leave it first", {}, 0};
    else if (!find_participant(it->second, caller) &&
             static_cast<int>(it->second.participants.size()) >= s.opts.max_participants)
      refusal = Error{Errc::failed_precondition, "the call is full", {}, 0};
    if (refusal) {
      if (fresh && r != s.rooms.end())
        out.sfu.push_back(
            [&s, j = *join, secret] { (void)s.sfu->allow(j.room, secret, {j.token}, false); });
    } else {
      if (join && r != s.rooms.end()) r->second.joins[key] = *join;
    }
  }
  if (refusal) {
    s.flush(out);
    return fail(*refusal);
  }
  {
    std::lock_guard lock(s.mu);
    auto it = s.calls.find(id);
    if (it == s.calls.end()) return fail(Errc::failed_precondition, "the call has ended");
    Call& c = it->second;
    const Millis now = s.clock.now_ms();
    if (auto* p = find_participant(c, caller)) {
      // A rejoin (same session, after a reload) or a move to another device, whose old
      // session's token and feed go.
      if (p->session_id != session_id) s.sfu_forget(c, caller, p->session_id, out);
      p->session_id = session_id;
      p->connected = true;
    } else {
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
    result.sfu_join = join;
  }
  s.flush(out);
  return result;
}

Result<Call> CallService::decline(const std::string& caller, const std::string& id) {
  auto& s = *impl_;
  if (s.opts.forward)
    return s.ask_call({{"op", "decline"}, {"user", caller}, {"call_id", id}});
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
  if (s.opts.forward)
    return s.ask_call({{"op", "leave"}, {"user", caller}, {"session", session_id},
                       {"call_id", id}});
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
  if (s.opts.forward) {
    boost::json::object req{
        {"op", "media"}, {"user", caller}, {"session", session_id}, {"call_id", id}};
    if (media.audio) req["audio"] = *media.audio;
    if (media.video) req["video"] = *media.video;
    if (media.screen) req["screen"] = *media.screen;
    return s.ask_call(std::move(req));
  }
  Outbox out;
  Call result;
  {
    std::lock_guard lock(s.mu);
    auto it = s.calls.find(id);
    auto* p = it == s.calls.end() ? nullptr : find_participant(it->second, caller);
    // Only a participant can reach this far, and a participant is a member: no store read.
    if (!p || p->session_id != session_id) return fail(Errc::not_found, "you are not in this call");
    if (media.audio) p->audio = *media.audio;
    if (media.audio == true) s.sfu_hold_audio(it->second, *p, false, out);  // their own choice
    if (media.video) p->video = *media.video;
    if (media.screen) p->screen = *media.screen;
    s.changed(it->second, out);
    result = it->second;
  }
  s.flush(out);
  return result;
}

Result<Call> CallService::kick(const std::string& caller, const std::string& id,
                               const std::string& user_id) {
  auto& s = *impl_;
  if (s.opts.forward)
    return s.ask_call({{"op", "kick"}, {"user", caller}, {"call_id", id}, {"to_user", user_id}});
  auto remove = [&s, &user_id](Call& c, Participant&, Outbox& out) {
    return s.remove_participant(c, user_id, out);
  };
  return s.moderate(caller, id, user_id, remove);
}

Result<Call> CallService::mute(const std::string& caller, const std::string& id,
                               const std::string& user_id) {
  auto& s = *impl_;
  if (s.opts.forward)
    return s.ask_call({{"op", "mute"}, {"user", caller}, {"call_id", id}, {"to_user", user_id}});
  auto silence = [&s](Call& c, Participant& p, Outbox& out) {
    p.audio = false;
    s.sfu_hold_audio(c, p, true, out);
    s.changed(c, out);
    return c;
  };
  return s.moderate(caller, id, user_id, silence);
}

Result<Call> CallService::record(const std::string& caller, const std::string& id, bool on) {
  auto& s = *impl_;
  if (s.opts.forward)
    return s.ask_call({{"op", "record"}, {"user", caller}, {"call_id", id}, {"on", on}});
  auto cid = s.visible_conversation(caller, id);
  if (!cid) return fail(cid.error());
  if (auto r = require_moderator(s.messaging, caller, *cid); !r) return fail(r.error());
  std::string secret;
  {
    std::lock_guard lock(s.mu);
    auto it = s.calls.find(id);
    auto room = s.rooms.find(id);
    if (it == s.calls.end()) return fail(Errc::failed_precondition, "the call has ended");
    if (room == s.rooms.end() || s.sfu->recording_dir("call-" + id).empty())
      return fail(Errc::failed_precondition,
                  "only group calls through the SFU, with --janus-recordings, are recorded");
    if (it->second.recording == on) return it->second;
    secret = room->second.secret;
  }
  // The media server first: everyone is told it records only once it does.
  if (auto r = s.sfu->record("call-" + id, secret, on); !r)
    return fail(Errc::unavailable, "the media server did not " +
                                       std::string(on ? "start" : "stop") +
                                       " recording: " + r.error().message);
  Outbox out;
  Call result;
  {
    std::lock_guard lock(s.mu);
    auto it = s.calls.find(id);
    if (it == s.calls.end()) return fail(Errc::failed_precondition, "the call has ended");
    Call& c = it->second;
    if (on) {
      c.recording = true;
      c.recorded_by = caller;
    } else if (c.recording) {
      s.recorded(c, out);
    }
    s.changed(c, out);
    result = c;
  }
  s.flush(out);
  return result;
}

Result<void> CallService::signal(const std::string& caller, const std::string& session_id,
                                 const std::string& id, const std::string& to_user,
                                 const std::string& to_session, std::string data) {
  auto& s = *impl_;
  if (s.opts.forward) {
    if (data.size() > s.opts.max_signal_bytes)
      return fail(Errc::too_large,
                  "data is over " + std::to_string(s.opts.max_signal_bytes / 1024) + " KiB",
                  "data");
    auto r = s.ask({{"op", "signal"},
                    {"user", caller},
                    {"session", session_id},
                    {"call_id", id},
                    {"to_user", to_user},
                    {"to_session", to_session},
                    {"data", std::move(data)}});
    if (!r) return fail(r.error());
    return ok();
  }
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
  if (s.opts.forward) return s.ask_call({{"op", "get"}, {"user", caller}, {"call_id", id}});
  if (auto cid = s.visible_conversation(caller, id); !cid) return fail(cid.error());
  std::lock_guard lock(s.mu);
  auto it = s.calls.find(id);
  if (it == s.calls.end()) return fail(Errc::not_found, "no such call");
  return it->second;
}

Result<std::vector<Call>> CallService::running(const std::string& caller) {
  auto& s = *impl_;
  if (s.opts.forward) {
    auto r = s.ask({{"op", "running"}, {"user", caller}});
    if (!r) return fail(r.error());
    std::vector<Call> calls;
    if (const auto* a = r->if_contains("calls"); a && a->is_array())
      for (const auto& c : a->as_array())
        if (c.is_object()) calls.push_back(call_from_json(c.as_object()));
    return calls;
  }
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
  if (impl_->opts.forward)  // no answer awaited: the gateway's thread does not wait
    return impl_->bus.publish(
        request_topic(impl_->opts.calls_node), json::serialize(boost::json::object{
                           {"op", "socket_opened"}, {"user", user_id}, {"session", session_id}}));
  std::lock_guard lock(impl_->mu);
  ++impl_->sockets[user_id + ' ' + session_id];
}

void CallService::socket_closed(const std::string& user_id, const std::string& session_id) {
  auto& s = *impl_;
  if (s.opts.forward)
    return s.bus.publish(request_topic(s.opts.calls_node), json::serialize(boost::json::object{
                                            {"op", "socket_closed"},
                                            {"user", user_id},
                                            {"session", session_id}}));
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
  o["recording"] = c.recording;
  if (c.sfu)
    o["mode"] = "sfu";
  else
    o["mode"] = "p2p";
  if (c.sfu_join)
    o["sfu"] = boost::json::object{{"url", c.sfu_join->url},
                                   {"room", c.sfu_join->room},
                                   {"token", c.sfu_join->token},
                                   {"feed", c.sfu_join->feed}};
  if (c.answered_at) o["answered_at"] = c.answered_at;
  if (c.ended_at) o["ended_at"] = c.ended_at;
  if (!c.reason.empty()) o["reason"] = c.reason;
  return o;
}

Call call_from_json(const boost::json::object& o) {
  auto str = [](const boost::json::object& x, std::string_view k) {
    const auto* v = x.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  auto num = [](const boost::json::object& x, std::string_view k) -> std::int64_t {
    const auto* v = x.if_contains(k);
    return v && v->is_int64() ? v->as_int64() : 0;
  };
  auto boolean = [](const boost::json::object& x, std::string_view k) {
    const auto* v = x.if_contains(k);
    return v && v->is_bool() && v->as_bool();
  };
  auto ids = [&](std::string_view k) {
    std::vector<std::string> out;
    if (const auto* v = o.if_contains(k); v && v->is_array())
      for (const auto& e : v->as_array())
        if (e.is_string()) out.emplace_back(e.as_string());
    return out;
  };
  Call c;
  c.id = str(o, "id");
  c.conversation_id = str(o, "conversation_id");
  c.conversation_type = str(o, "conversation_type");
  c.started_by = str(o, "started_by");
  c.media = str(o, "media");
  c.state = str(o, "state");
  c.started_at = num(o, "started_at");
  c.answered_at = num(o, "answered_at");
  c.ended_at = num(o, "ended_at");
  c.reason = str(o, "reason");
  c.version = num(o, "version");
  if (const auto* v = o.if_contains("participants"); v && v->is_array())
    for (const auto& e : v->as_array()) {
      if (!e.is_object()) continue;
      const auto& p = e.as_object();
      c.participants.push_back({str(p, "user_id"), str(p, "session_id"), num(p, "joined_at"),
                                boolean(p, "audio"), boolean(p, "video"), boolean(p, "screen"),
                                boolean(p, "connected")});
    }
  c.ringing = ids("ringing");
  c.declined = ids("declined");
  c.busy = ids("busy");
  c.sfu = str(o, "mode") == "sfu";
  c.recording = boolean(o, "recording");
  if (const auto* v = o.if_contains("sfu"); v && v->is_object()) {
    const auto& j = v->as_object();
    c.sfu_join = SfuJoin{str(j, "url"), str(j, "room"), str(j, "token"), str(j, "feed")};
  }
  return c;
}

std::string request_topic(std::string_view calls_node) {
  return "calls.request." + std::string(calls_node);
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
