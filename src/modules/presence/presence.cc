#include "modules/presence/presence.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "core/id.h"
#include "core/json.h"
#include "core/log.h"

namespace parley::presence {
namespace {

// What contacts see: the chosen status while present (a socket open, or within the grace);
// offline otherwise, and always for invisible.
std::string shown_of(const PresenceRecord& r, Millis now) {
  bool present = r.sockets > 0 || now < r.grace_until;
  if (!present || r.chosen == "invisible") return "offline";
  return r.chosen;
}

}  // namespace

boost::json::object to_json(const Presence& p) {
  return {{"user_id", p.user_id}, {"status", p.status}, {"last_active_at", p.last_active_at}};
}

struct PresenceService::Impl {
  PresenceStore& store;
  messaging::MessagingService& messaging;
  users::UserService& users;
  const Clock& clock;
  PresenceOptions opt;

  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<std::string, Millis> grace_ends;  // users this node must re-check, when
  bool stopping = false;
  std::thread sweeper;

  Impl(PresenceStore& st, messaging::MessagingService& m, users::UserService& u, const Clock& c,
       PresenceOptions o)
      : store(st), messaging(m), users(u), clock(c), opt(o) {
    sweeper = std::thread([this] { sweep_loop(); });
  }

  // Announces the user's presence when what contacts were told is out of date.
  void refresh(const std::string& user_id, const PresenceRecord& r) {
    std::string shown = shown_of(r, clock.now_ms());
    if (shown == r.shown) return;
    if (auto s = store.set_shown(user_id, shown); !s)
      log::warn("presence not stored", {{"error", s.error().message}});
    Presence p{user_id, shown, r.last_active_at};
    messaging.notify_contacts(user_id, "presence.changed", json::serialize(to_json(p)));
  }

  void sweep_loop() {
    std::unique_lock lock(mu);
    while (!stopping) {
      const Millis now = clock.now_ms();
      std::optional<Millis> next;
      std::vector<std::string> due;
      for (auto it = grace_ends.begin(); it != grace_ends.end();) {
        if (now >= it->second) {
          due.push_back(it->first);
          it = grace_ends.erase(it);
        } else {
          if (!next || it->second < *next) next = it->second;
          ++it;
        }
      }
      if (!due.empty()) {
        lock.unlock();
        for (const auto& user : due)
          if (auto r = store.get({user}); r && !r->empty()) refresh(user, (*r)[0]);
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

PresenceService::PresenceService(PresenceStore& store, messaging::MessagingService& messaging,
                                 users::UserService& users, const Clock& clock,
                                 PresenceOptions options)
    : impl_(std::make_unique<Impl>(store, messaging, users, clock, options)) {}

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
  auto r = impl_->store.add_socket(user_id, +1, impl_->clock.now_ms(), impl_->opt.grace_ms);
  if (!r) return log::warn("presence not stored", {{"error", r.error().message}});
  impl_->refresh(user_id, *r);
}

void PresenceService::disconnected(const std::string& user_id) {
  auto r = impl_->store.add_socket(user_id, -1, impl_->clock.now_ms(), impl_->opt.grace_ms);
  if (!r) return log::warn("presence not stored", {{"error", r.error().message}});
  if (r->sockets > 0) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->grace_ends[user_id] = r->grace_until;
  }
  impl_->cv.notify_all();  // the sweeper picks up the new deadline
}

Result<Presence> PresenceService::set_status(const std::string& user_id,
                                             const std::string& status) {
  if (status != "online" && status != "away" && status != "dnd" && status != "invisible")
    return fail(Errc::invalid_argument, "status must be online, away, dnd or invisible",
                "status");
  auto r = impl_->store.set_chosen(user_id, status, impl_->clock.now_ms());
  if (!r) return fail(r.error());
  impl_->refresh(user_id, *r);
  return Presence{user_id, shown_of(*r, impl_->clock.now_ms()), r->last_active_at};
}

Result<std::vector<Presence>> PresenceService::get(const std::string& caller,
                                                   const std::vector<std::string>& user_ids) {
  if (user_ids.empty() || static_cast<int>(user_ids.size()) > kMaxIdsPerQuery)
    return fail(Errc::invalid_argument,
                "user_ids must hold 1 to " + std::to_string(kMaxIdsPerQuery) + " ids", "user_ids");
  for (const auto& id : user_ids) {
    if (!looks_like_id(id)) return fail(Errc::not_found, "user " + id + " not found");
    auto u = impl_->users.get(id);
    if (!u)
      return fail(u.error().code == Errc::not_found
                      ? Error{Errc::not_found, "user " + id + " not found", {}, 0}
                      : u.error());
  }
  // The same rule as presence.changed events: only people who share a conversation.
  auto contacts = impl_->messaging.co_members(caller, user_ids);
  if (!contacts) return fail(contacts.error());
  std::vector<std::string> visible;
  for (const auto& id : user_ids)
    if (id == caller || std::find(contacts->begin(), contacts->end(), id) != contacts->end())
      visible.push_back(id);
  std::vector<Presence> out;
  if (visible.empty()) return out;
  auto records = impl_->store.get(visible);
  if (!records) return fail(records.error());
  const Millis now = impl_->clock.now_ms();
  for (std::size_t i = 0; i < visible.size(); ++i)
    out.push_back({visible[i], shown_of((*records)[i], now), (*records)[i].last_active_at});
  return out;
}

Result<std::vector<std::string>> PresenceService::shown(const std::vector<std::string>& user_ids) {
  std::vector<std::string> out;
  if (user_ids.empty()) return out;
  auto records = impl_->store.get(user_ids);
  if (!records) return fail(records.error());
  const Millis now = impl_->clock.now_ms();
  out.reserve(records->size());
  for (const auto& r : *records) out.push_back(shown_of(r, now));
  return out;
}

}  // namespace parley::presence
