#include "hub.h"

#include <mutex>

namespace parley::api {
namespace {

std::vector<std::string> split_ids(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < list.size()) {
    auto comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (comma > start) out.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace

Hub::Hub(Bus& bus, messaging::MessagingService& messaging) : messaging_(messaging) {
  subscription_ = bus.subscribe(std::string(messaging::kEventsTopic),
                                [this](std::string_view payload) { deliver(payload); });
}

Hub::~Hub() = default;

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
  bool load = false;
  {
    std::unique_lock lock(mu_);
    auto& u = users_[user_id];
    user_of_conn_[conn->id()] = user_id;
    u.links.push_back({std::move(conn), session_id});
    if (u.links.size() == 1 && u.conversations.empty() && !u.loading) {
      u.loading = true;
      load = true;
    }
  }
  if (!load) return;
  auto ids = messaging_.conversation_ids_of(user_id);
  std::unique_lock lock(mu_);
  auto it = users_.find(user_id);
  if (it == users_.end()) return;  // every connection closed meanwhile
  auto& u = it->second;
  if (ids)
    for (const auto& cid : *ids) follow(user_id, u, cid);
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
      for (const auto& uid : split_ids(route.user_id)) {
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
      for (const auto& uid : split_ids(route.user_id)) {
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
      auto u = users_.find(route.user_id);
      if (u != users_.end())
        for (const auto& l : u->second.links)
          if (l.active && l.session_id != route.except_session) to.push_back(l.conn);
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
      add_user(route.user_id);
      for (const auto& c : route.conversation_ids) {
        auto f = followers_.find(c);
        if (f == followers_.end()) continue;
        for (const auto& uid : f->second) add_user(uid);
      }
      break;
    }
  }
  if (to.empty()) return;

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
