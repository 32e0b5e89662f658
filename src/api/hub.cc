#include "hub.h"

#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <string_view>

#include "core/metrics.h"
#include "core/trace.h"

namespace parley::api {

Hub::Hub(Bus& bus, messaging::MessagingService& messaging) : messaging_(messaging) {
  users_reading_ = metrics::read_at_scrape([this] {
    std::shared_lock lock(mu_);
    return std::vector<metrics::Reading>{
        {"parley_connected_users",
         "Users with at least one authenticated WebSocket on this node",
         false,
         {},
         static_cast<double>(users_.size())}};
  });
  sweeper_ = std::thread([this] { sweep_loop(); });
  subscription_ = bus.subscribe(std::string(messaging::kEventsTopic),
                                [this](std::string_view payload) { deliver(payload); });
}

Hub::~Hub() {
  users_reading_.reset();
  subscription_.reset();
  {
    std::lock_guard lock(sweep_mu_);
    stopping_ = true;
  }
  sweep_cv_.notify_all();
  sweeper_.join();
}

void Hub::deliver_in_order(messaging::Event e) {
  const std::string& cid = e.route.conversation_ids[0];
  std::shared_ptr<Order> o;
  {
    std::lock_guard lock(order_mu_);
    auto& slot = order_[cid];
    if (!slot) slot = std::make_shared<Order>();
    o = slot;
  }
  // Fan-out happens under the conversation's lock, so two threads never interleave its events.
  std::lock_guard lock(o->mu);
  auto now = std::chrono::steady_clock::now();
  o->touched = now;
  const std::int64_t seq = e.route.seq;
  if (o->last != 0 && seq > o->last + 1) {  // ahead of a gap: wait for the missing ones
    o->held.emplace(seq, std::make_pair(std::move(e), now));
    return;
  }
  fan_out(e);  // the next one, the first seen, or a late one (nothing to wait for)
  o->last = std::max(o->last, seq);
  for (auto it = o->held.begin(); it != o->held.end() && it->first <= o->last + 1;
       it = o->held.erase(it)) {
    fan_out(it->second.first);
    o->last = std::max(o->last, it->first);
  }
}

void Hub::sweep_loop() {
  std::unique_lock lock(sweep_mu_);
  while (!stopping_) {
    sweep_cv_.wait_for(lock, std::chrono::milliseconds(kHoldMs / 4));
    if (stopping_) break;
    lock.unlock();
    flush_presence();
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::shared_ptr<Order>> orders;
    {
      std::lock_guard olock(order_mu_);
      // Conversations quiet for a minute are forgotten; the next event starts afresh.
      std::erase_if(order_, [&](const auto& kv) {
        std::lock_guard l(kv.second->mu);
        return kv.second->held.empty() && now - kv.second->touched > std::chrono::minutes(1);
      });
      for (const auto& [cid, o] : order_) orders.push_back(o);
    }
    for (const auto& o : orders) {
      std::lock_guard l(o->mu);
      if (o->held.empty() || now - o->held.begin()->second.second < std::chrono::milliseconds(kHoldMs))
        continue;
      for (auto& [seq, held] : o->held) {  // the gap is not coming: skip it
        fan_out(held.first);
        o->last = std::max(o->last, seq);
      }
      o->held.clear();
    }
    lock.lock();
  }
}

void Hub::hold_presence(const messaging::Event& e,
                        std::vector<std::shared_ptr<net::WsConnection>>& recipients) {
  std::lock_guard lock(presence_mu_);
  const auto index = static_cast<std::uint32_t>(presence_updates_.size());
  presence_updates_.emplace_back(e.route.user_ids.empty() ? std::string() : e.route.user_ids[0],
                                 e.data);
  for (auto& conn : recipients) {
    auto& held = presence_held_[conn->id()];
    if (!held.conn) held.conn = std::move(conn);
    held.updates.push_back(index);
  }
}

void Hub::flush_presence() {
  std::vector<std::pair<std::string, std::string>> updates;
  std::unordered_map<std::uint64_t, PresenceHeld> held;
  {
    std::lock_guard lock(presence_mu_);
    if (presence_held_.empty()) return;
    updates.swap(presence_updates_);
    held.swap(presence_held_);
  }
  // Each connection's list, the latest update per user only, keyed so that connections with
  // the same list share one frame (members of one channel mostly do).
  std::map<std::vector<std::uint32_t>, std::vector<std::shared_ptr<net::WsConnection>>> by_list;
  std::unordered_set<std::string_view> users;
  for (auto& [id, h] : held) {
    std::vector<std::uint32_t> latest;
    users.clear();
    for (auto it = h.updates.rbegin(); it != h.updates.rend(); ++it)
      if (users.insert(updates[*it].first).second) latest.push_back(*it);
    std::reverse(latest.begin(), latest.end());
    by_list[std::move(latest)].push_back(std::move(h.conn));
  }
  for (const auto& [list, conns] : by_list) {
    std::string frame;
    if (list.size() == 1) {
      frame = R"({"type":"event","event":"presence.changed","data":)";
      frame += updates[list[0]].second;
    } else {
      frame = R"({"type":"event","event":"presence.batch","data":{"presence":[)";
      for (std::size_t i = 0; i < list.size(); ++i) {
        if (i) frame += ',';
        frame += updates[list[i]].second;
      }
      frame += "]}";
    }
    frame += '}';
    net::send_to_all(conns, std::make_shared<const std::string>(std::move(frame)));
  }
}

std::size_t Hub::connection_count() const {
  std::shared_lock lock(mu_);
  return user_of_conn_.size();
}

void Hub::follow(const std::string& user_id, UserEntry& u, const std::string& cid) {
  if (u.conversations.insert(cid).second) followers_[cid].insert(user_id);
}

void Hub::unfollow(const std::string& user_id, UserEntry& u, const std::string& cid) {
  if (!u.conversations.erase(cid)) return;
  auto it = followers_.find(cid);
  if (it == followers_.end()) return;
  it->second.erase(user_id);
  if (it->second.empty()) followers_.erase(it);
}

void Hub::attach(const std::string& user_id, const std::string& session_id,
                 std::shared_ptr<net::WsConnection> conn) {
  std::uint64_t load = 0;
  {
    std::unique_lock lock(mu_);
    auto& u = users_[user_id];
    user_of_conn_[conn->id()] = user_id;
    u.links.push_back({std::move(conn), session_id});
    if (u.links.size() == 1 && u.conversations.empty() && !u.loading) load = begin_load(u);
  }
  if (load) finish_load(user_id, load, messaging_.conversation_ids_of(user_id), false);
}

std::uint64_t Hub::begin_load(UserEntry& u) {
  u.loading = true;
  u.pending.clear();
  u.load_id = ++next_load_id_;
  return u.load_id;
}

void Hub::finish_load(const std::string& user_id, std::uint64_t load_id,
                      const Result<std::vector<std::string>>& ids, bool replace) {
  std::unique_lock lock(mu_);
  auto it = users_.find(user_id);
  // Every connection closed meanwhile, or a newer load runs (it reads after this one did).
  if (it == users_.end() || it->second.load_id != load_id || !it->second.loading) return;
  auto& u = it->second;
  if (ids) {
    if (replace) {
      std::unordered_set<std::string> now(ids->begin(), ids->end());
      for (const auto& cid : std::vector<std::string>(u.conversations.begin(), u.conversations.end()))
        if (!now.contains(cid)) unfollow(user_id, u, cid);
    }
    for (const auto& cid : *ids) follow(user_id, u, cid);
  }
  for (const auto& [joined, cid] : u.pending) {
    if (joined)
      follow(user_id, u, cid);
    else
      unfollow(user_id, u, cid);
  }
  u.pending.clear();
  u.loading = false;
}

void Hub::activate(std::uint64_t conn_id) {
  std::unique_lock lock(mu_);
  auto c = user_of_conn_.find(conn_id);
  if (c == user_of_conn_.end()) return;
  auto u = users_.find(c->second);
  if (u == users_.end()) return;
  for (auto& l : u->second.links)
    if (l.conn->id() == conn_id) l.active = true;
}

void Hub::resync() {
  // Each user's list is read again like a first load: membership events that arrive while it
  // is read are kept aside and applied after it, so the read cannot undo them.
  std::vector<std::pair<std::string, std::uint64_t>> loads;
  {
    std::unique_lock lock(mu_);
    for (auto& [uid, u] : users_)
      if (!u.loading) loads.emplace_back(uid, begin_load(u));  // a running load reads afresh
  }
  for (const auto& [uid, load] : loads)
    finish_load(uid, load, messaging_.conversation_ids_of(uid), true);
}

std::optional<std::string> Hub::detach(std::uint64_t conn_id) {
  std::unique_lock lock(mu_);
  auto c = user_of_conn_.find(conn_id);
  if (c == user_of_conn_.end()) return std::nullopt;
  std::string user_id = std::move(c->second);
  user_of_conn_.erase(c);
  auto it = users_.find(user_id);
  if (it == users_.end()) return user_id;
  auto& u = it->second;
  std::erase_if(u.links, [&](const Link& l) { return l.conn->id() == conn_id; });
  if (u.links.empty()) {
    for (const auto& cid : std::vector<std::string>(u.conversations.begin(), u.conversations.end()))
      unfollow(user_id, u, cid);
    users_.erase(it);
  }
  return user_id;
}

void Hub::collect_conversation(const std::string& cid, const std::string& except_user,
                               std::vector<std::shared_ptr<net::WsConnection>>& out) const {
  auto f = followers_.find(cid);
  if (f == followers_.end()) return;
  for (const auto& uid : f->second) {
    if (uid == except_user) continue;
    auto u = users_.find(uid);
    if (u == users_.end()) continue;
    for (const auto& l : u->second.links)
      if (l.active) out.push_back(l.conn);
  }
}

void Hub::deliver(std::string_view payload) {
  auto event = messaging::decode(payload);
  if (!event) return;
  if (event->route.seq > 0 && event->route.kind == messaging::Route::Kind::conversation &&
      !event->route.conversation_ids.empty())
    return deliver_in_order(std::move(*event));
  fan_out(*event);
}

namespace {
// Fan-out latency: from the event reaching this node's hub to its frame queued on every local
// recipient's socket. No labels (bounded by construction).
prometheus::Histogram& fanout_seconds() {
  static auto& h =
      prometheus::BuildHistogram()
          .Name("parley_fanout_seconds")
          .Help("Time to route one real-time event to this node's recipients and queue its frame")
          .Register(metrics::registry())
          .Add({}, prometheus::Histogram::BucketBoundaries{0.00001, 0.00005, 0.0001, 0.00025,
                                                           0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                           0.025, 0.05, 0.1});
  return h;
}
}  // namespace

void Hub::fan_out(const messaging::Event& ev) {
  const auto started = std::chrono::steady_clock::now();
  // A child of the sender's bus hop when the event came sampled (from this node or another).
  trace::Span span = trace::Span::child("fanout", trace::Kind::consumer, ev.trace);
  if (span.recording()) span.rename("fanout " + ev.name);
  struct Done {
    std::chrono::steady_clock::time_point started;
    trace::Span& span;
    std::size_t recipients = 0;
    ~Done() {
      fanout_seconds().Observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      span.set("parley.recipients", static_cast<std::int64_t>(recipients));
    }
  } done{started, span};
  const auto* event = &ev;
  using Kind = messaging::Route::Kind;
  const auto& route = event->route;
  std::vector<std::shared_ptr<net::WsConnection>> to;
  const std::string none;
  const std::string& cid = route.conversation_ids.empty() ? none : route.conversation_ids[0];

  switch (route.kind) {
    case Kind::conversation: {
      std::shared_lock lock(mu_);
      collect_conversation(cid, route.except_user, to);
      break;
    }
    case Kind::member_joined: {
      std::unique_lock lock(mu_);
      for (const auto& uid : route.user_ids) {
        auto u = users_.find(uid);
        if (u == users_.end()) continue;
        if (u->second.loading)
          u->second.pending.push_back({true, cid});
        else
          follow(uid, u->second, cid);
      }
      collect_conversation(cid, route.except_user, to);
      break;
    }
    case Kind::member_left: {
      std::unique_lock lock(mu_);
      collect_conversation(cid, route.except_user, to);
      for (const auto& uid : route.user_ids) {
        auto u = users_.find(uid);
        if (u == users_.end()) continue;
        // The leaver hears of it even when the list was still loading.
        if (!u->second.conversations.contains(cid))
          for (const auto& l : u->second.links)
            if (l.active) to.push_back(l.conn);
        if (u->second.loading)
          u->second.pending.push_back({false, cid});
        else
          unfollow(uid, u->second, cid);
      }
      break;
    }
    case Kind::user: {
      std::shared_lock lock(mu_);
      auto u = route.user_ids.empty() ? users_.end() : users_.find(route.user_ids[0]);
      if (u != users_.end())
        for (const auto& l : u->second.links)
          if (l.active && l.session_id != route.except_session) to.push_back(l.conn);
      break;
    }
    case Kind::session: {
      std::shared_lock lock(mu_);
      auto u = route.user_ids.size() < 2 ? users_.end() : users_.find(route.user_ids[0]);
      if (u != users_.end())
        for (const auto& l : u->second.links)
          if (l.active && l.session_id == route.user_ids[1]) to.push_back(l.conn);
      break;
    }
    case Kind::contacts: {
      std::shared_lock lock(mu_);
      std::unordered_set<const std::string*> seen;  // user ids, by their key in users_
      auto add_user = [&](const std::string& uid) {
        auto u = users_.find(uid);
        if (u == users_.end() || !seen.insert(&u->first).second) return;
        for (const auto& l : u->second.links)
          if (l.active) to.push_back(l.conn);
      };
      for (const auto& uid : route.user_ids) add_user(uid);
      for (const auto& c : route.conversation_ids) {
        auto f = followers_.find(c);
        if (f == followers_.end()) continue;
        for (const auto& uid : f->second) add_user(uid);
      }
      break;
    }
  }
  done.recipients = to.size();
  if (to.empty()) return;
  if (route.kind == Kind::contacts && event->name == "presence.changed")
    return hold_presence(*event, to);

  // The client frame, built once for every recipient.
  std::string frame;
  frame.reserve(40 + event->name.size() + event->data.size());
  frame += R"({"type":"event","event":")";
  frame += event->name;
  frame += R"(","data":)";
  frame += event->data;
  frame += '}';
  net::send_to_all(to, std::make_shared<const std::string>(std::move(frame)));
}

}  // namespace parley::api
