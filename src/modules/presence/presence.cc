#include "modules/presence/presence.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "core/id.h"
#include "core/json.h"

namespace parley::presence {
namespace {

enum class Chosen { online, away, dnd, invisible };

struct UserState {
  int sockets = 0;
  Chosen chosen = Chosen::online;
  Millis last_active_at = 0;
  std::optional<Millis> grace_until;  // set while in the grace period after the last socket
  std::string shown = "offline";      // what others were last told
};

const char* chosen_name(Chosen c) {
  switch (c) {
    case Chosen::online:
      return "online";
    case Chosen::away:
      return "away";
    case Chosen::dnd:
      return "dnd";
    case Chosen::invisible:
      return "offline";
  }
  return "offline";
}

}  // namespace

boost::json::object to_json(const Presence& p) {
  return {{"user_id", p.user_id}, {"status", p.status}, {"last_active_at", p.last_active_at}};
}

struct PresenceService::Impl {
  messaging::MessagingService& messaging;
  users::UserService& users;
  const Clock& clock;
  PresenceOptions opt;

  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<std::string, UserState> states;
  bool stopping = false;
  std::thread sweeper;

  Impl(messaging::MessagingService& m, users::UserService& u, const Clock& c, PresenceOptions o)
      : messaging(m), users(u), clock(c), opt(o) {
    sweeper = std::thread([this] { sweep_loop(); });
  }

  std::string shown_of(const UserState& s, Millis now) const {
    bool present = s.sockets > 0 || (s.grace_until && now < *s.grace_until);
    return present ? chosen_name(s.chosen) : "offline";
  }

  // Recomputes what others see; the Presence to announce when it changed. Call with mu held.
  std::optional<Presence> refresh(const std::string& user_id, UserState& s, Millis now) {
    std::string shown = shown_of(s, now);
    if (shown == s.shown) return std::nullopt;
    s.shown = shown;
    return Presence{user_id, shown, s.last_active_at};
  }

  void announce(const std::optional<Presence>& p) {
    if (!p) return;
    messaging.notify_contacts(p->user_id, "presence.changed", json::serialize(to_json(*p)));
  }

  void sweep_loop() {
    std::unique_lock lock(mu);
    while (!stopping) {
      std::optional<Millis> next;
      std::vector<Presence> changed;
      const Millis now = clock.now_ms();
      for (auto& [id, s] : states) {
        if (!s.grace_until) continue;
        if (now >= *s.grace_until) {
          s.grace_until.reset();
          if (auto p = refresh(id, s, now)) changed.push_back(*p);
        } else if (!next || *s.grace_until < *next) {
          next = *s.grace_until;
        }
      }
      if (!changed.empty()) {
        lock.unlock();
        for (const auto& p : changed) announce(p);
        lock.lock();
        continue;
      }
      if (next)
        cv.wait_for(lock, std::chrono::milliseconds(std::max<Millis>(1, *next - now)));
      else
        cv.wait(lock);
    }
  }
};

PresenceService::PresenceService(messaging::MessagingService& messaging, users::UserService& users,
                                 const Clock& clock, PresenceOptions options)
    : impl_(std::make_unique<Impl>(messaging, users, clock, options)) {}

PresenceService::~PresenceService() { stop(); }

void PresenceService::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->sweeper.joinable()) impl_->sweeper.join();
}

void PresenceService::connected(const std::string& user_id) {
  std::optional<Presence> changed;
  {
    std::lock_guard lock(impl_->mu);
    auto& s = impl_->states[user_id];
    ++s.sockets;
    s.grace_until.reset();
    const Millis now = impl_->clock.now_ms();
    s.last_active_at = now;
    changed = impl_->refresh(user_id, s, now);
  }
  impl_->announce(changed);
}

void PresenceService::disconnected(const std::string& user_id) {
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->states.find(user_id);
    if (it == impl_->states.end() || it->second.sockets == 0) return;
    auto& s = it->second;
    const Millis now = impl_->clock.now_ms();
    s.last_active_at = now;
    if (--s.sockets == 0) s.grace_until = now + impl_->opt.grace_ms;
  }
  impl_->cv.notify_all();  // the sweeper picks up the new deadline
}

Result<Presence> PresenceService::set_status(const std::string& user_id,
                                             const std::string& status) {
  Chosen c;
  if (status == "online")
    c = Chosen::online;
  else if (status == "away")
    c = Chosen::away;
  else if (status == "dnd")
    c = Chosen::dnd;
  else if (status == "invisible")
    c = Chosen::invisible;
  else
    return fail(Errc::invalid_argument, "status must be online, away, dnd or invisible",
                "status");
  std::optional<Presence> changed;
  Presence now_seen;
  {
    std::lock_guard lock(impl_->mu);
    auto& s = impl_->states[user_id];
    s.chosen = c;
    const Millis now = impl_->clock.now_ms();
    s.last_active_at = now;
    changed = impl_->refresh(user_id, s, now);
    now_seen = {user_id, s.shown, s.last_active_at};
  }
  impl_->announce(changed);
  return now_seen;
}

Result<std::vector<Presence>> PresenceService::get(const std::vector<std::string>& user_ids) {
  if (user_ids.empty() || static_cast<int>(user_ids.size()) > kMaxIdsPerQuery)
    return fail(Errc::invalid_argument,
                "user_ids must hold 1 to " + std::to_string(kMaxIdsPerQuery) + " ids", "user_ids");
  for (const auto& id : user_ids) {
    if (!looks_like_id(id)) return fail(Errc::not_found, "user " + id + " not found");
    auto u = impl_->users.get(id);
    if (!u) return fail(u.error().code == Errc::not_found
                            ? Error{Errc::not_found, "user " + id + " not found", {}, 0}
                            : u.error());
  }
  std::vector<Presence> out;
  std::lock_guard lock(impl_->mu);
  const Millis now = impl_->clock.now_ms();
  for (const auto& id : user_ids) {
    auto it = impl_->states.find(id);
    if (it == impl_->states.end())
      out.push_back({id, "offline", 0});
    else
      out.push_back({id, impl_->shown_of(it->second, now), it->second.last_active_at});
  }
  return out;
}

}  // namespace parley::presence
