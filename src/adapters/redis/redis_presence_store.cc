// PresenceStore in Redis: one hash per user, shared by every node.
//
//   <prefix>u:<user>   s:<instance> = that node's open sockets of the user; chosen, last (ms),
//                      grace (ms), shown
//   <prefix>n:<instance>  a node's heartbeat, refreshed every heartbeat_ms, expiring after
//                      node_ttl_ms
//
// A user's sockets are the sum of the s: fields whose node still has a heartbeat; the scripts
// delete the fields of nodes without one, so a node that died stops counting once its heartbeat
// expires. Each node keeps its own counts in memory and writes absolute values (never
// increments), so when its heartbeat key turns out to be missing (Redis restarted or flushed,
// or the node was cut off longer than the TTL) it writes them all again. Hashes of users with no
// socket expire after idle_ttl_ms; the chosen status then resets to online, as after a restart
// of a single node.
//
// The scripts read heartbeat keys they are not given as KEYS: fine for one Redis (or Sentinel),
// not for Redis Cluster.
#include <array>
#include <charconv>
#include <optional>
#include <thread>
#include <unordered_map>

#include "adapters/redis/redis.h"
#include "connection.h"
#include "core/id.h"
#include "core/log.h"

namespace parley::redis {
namespace {

using SteadyClock = std::chrono::steady_clock;

// The live total of KEYS[k] (dropping dead nodes' fields) and its fields, as one record.
constexpr std::string_view kRecordLua = R"lua(
local function record(key, nodes)
  local total = 0
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local f = all[i]
    if string.sub(f, 1, 2) == 's:' then
      if redis.call('EXISTS', nodes .. string.sub(f, 3)) == 1 then
        total = total + tonumber(all[i + 1])
      else
        redis.call('HDEL', key, f)
      end
    end
  end
  local v = redis.call('HMGET', key, 'chosen', 'last', 'grace', 'shown')
  return {total, v[1] or '', v[2] or '', v[3] or '', v[4] or ''}
end
)lua";

// KEYS[1] user; ARGV: op (sock|chosen|shown), nodes prefix, now, idle ttl, then
// sock: field, count, grace_ms, closing (1|0); chosen: status; shown: status.
constexpr std::string_view kUpdateBody = R"lua(
local key = KEYS[1]
local op = ARGV[1]
local now = ARGV[3]
if op == 'sock' then
  if tonumber(ARGV[6]) > 0 then
    redis.call('HSET', key, ARGV[5], ARGV[6])
  else
    redis.call('HDEL', key, ARGV[5])
  end
  if redis.call('HGET', key, 'chosen') ~= 'invisible' then redis.call('HSET', key, 'last', now) end
elseif op == 'chosen' then
  redis.call('HSET', key, 'chosen', ARGV[5], 'last', now)
else
  redis.call('HSET', key, 'shown', ARGV[5])
end
local r = record(key, ARGV[2])
if op == 'sock' and ARGV[8] == '1' and r[1] == 0 then
  local grace = string.format('%d', tonumber(now) + tonumber(ARGV[7]))
  redis.call('HSET', key, 'grace', grace)
  r[4] = grace
end
if r[1] > 0 then redis.call('PERSIST', key) else redis.call('PEXPIRE', key, ARGV[4]) end
return r
)lua";

// KEYS: users; ARGV[1]: nodes prefix. One record per key.
constexpr std::string_view kGetBody = R"lua(
local out = {}
for k = 1, #KEYS do out[k] = record(KEYS[k], ARGV[1]) end
return out
)lua";

const std::string kUpdateLua = std::string(kRecordLua) + std::string(kUpdateBody);
const std::string kGetLua = std::string(kRecordLua) + std::string(kGetBody);

Millis to_millis(std::string_view s) {
  Millis v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// One record from the scripts' {total, chosen, last, grace, shown}.
std::optional<presence::PresenceRecord> parse_record(const redisReply* r) {
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 5 ||
      r->element[0]->type != REDIS_REPLY_INTEGER)
    return std::nullopt;
  auto str = [&](std::size_t i) -> std::string_view {
    const redisReply* e = r->element[i];
    return e->type == REDIS_REPLY_STRING ? std::string_view(e->str, e->len) : std::string_view();
  };
  presence::PresenceRecord rec;
  rec.sockets = static_cast<int>(r->element[0]->integer);
  if (!str(1).empty()) rec.chosen = std::string(str(1));
  rec.last_active_at = to_millis(str(2));
  rec.grace_until = to_millis(str(3));
  if (!str(4).empty()) rec.shown = std::string(str(4));
  return rec;
}

class RedisPresenceStore final : public presence::PresenceStore {
 public:
  RedisPresenceStore(Endpoint endpoint, std::string node_id, PresenceStoreOptions options)
      : opt_(std::move(options)),
        instance_(node_id + "/" + new_id(SystemClock().now_ms())),
        field_("s:" + instance_),
        nodes_prefix_(opt_.key_prefix + "n:"),
        node_key_(nodes_prefix_ + instance_),
        pool_(std::move(endpoint), opt_.max_connections, opt_.connect_timeout_ms,
              opt_.io_timeout_ms, {kUpdateLua, kGetLua}) {}

  ~RedisPresenceStore() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (heartbeat_.joinable()) heartbeat_.join();
    // Our sockets stop counting at once rather than when the heartbeat expires.
    if (auto c = pool_.acquire()) {
      Reply r = command(c->ctx.get(), {"DEL", node_key_});
      if (r)
        pool_.release(std::move(*c));
      else
        pool_.discard();
    }
  }

  Result<void> start() {
    if (auto r = beat(); !r) return fail(r.error());
    heartbeat_ = std::thread([this] { heartbeat_loop(); });
    return ok();
  }

  Result<presence::PresenceRecord> add_socket(const std::string& user_id, int delta, Millis now,
                                              Millis grace_ms) override {
    // Absolute counts must reach Redis in the order they were taken: one user's changes go
    // through one stripe lock.
    std::lock_guard order(stripes_[std::hash<std::string>{}(user_id) % stripes_.size()]);
    int count;
    {
      std::lock_guard lock(mu_);
      auto& c = local_[user_id];
      c = std::max(0, c + delta);
      count = c;
      if (count == 0) local_.erase(user_id);
    }
    return update(user_id,
                  {"sock", nodes_prefix_, std::to_string(now), idle_ttl(), field_,
                   std::to_string(count), std::to_string(grace_ms), delta < 0 ? "1" : "0"});
  }

  Result<presence::PresenceRecord> set_chosen(const std::string& user_id, const std::string& chosen,
                                              Millis now) override {
    return update(user_id, {"chosen", nodes_prefix_, std::to_string(now), idle_ttl(), chosen});
  }

  Result<void> set_shown(const std::string& user_id, const std::string& shown) override {
    auto r = update(user_id, {"shown", nodes_prefix_, "0", idle_ttl(), shown});
    if (!r) return fail(r.error());
    return ok();
  }

  Result<std::vector<presence::PresenceRecord>> get(
      const std::vector<std::string>& user_ids) override {
    std::vector<presence::PresenceRecord> out;
    if (user_ids.empty()) return out;
    std::vector<std::string> keys;
    keys.reserve(user_ids.size());
    for (const auto& id : user_ids) keys.push_back(user_key(id));
    auto c = pool_.acquire();
    if (!c) return fail(Errc::unavailable, "presence: " + c.error().message);
    Reply r = pool_.run_script(*c, 1, keys, {nodes_prefix_});
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != user_ids.size())
      return failed(*c, r.get());
    out.reserve(user_ids.size());
    for (std::size_t i = 0; i < r->elements; ++i) {
      auto rec = parse_record(r->element[i]);
      if (!rec) return failed(*c, r.get());
      out.push_back(std::move(*rec));
    }
    pool_.release(std::move(*c));
    return out;
  }

 private:
  std::string user_key(const std::string& id) const { return opt_.key_prefix + "u:" + id; }
  std::string idle_ttl() const { return std::to_string(std::max<Millis>(1000, opt_.idle_ttl_ms)); }

  Result<presence::PresenceRecord> update(const std::string& user_id,
                                          std::vector<std::string> args) {
    auto c = pool_.acquire();
    if (!c) return fail(Errc::unavailable, "presence: " + c.error().message);
    Reply r = pool_.run_script(*c, 0, {user_key(user_id)}, args);
    auto rec = parse_record(r.get());
    if (!rec) return failed(*c, r.get());
    pool_.release(std::move(*c));
    return *rec;
  }

  // Turns a bad answer into unavailable; the connection goes back only if Redis answered.
  tl::unexpected<Error> failed(Pool::Conn& c, const redisReply* r) {
    std::string why = error_text(c.ctx.get(), r);
    if (r)
      pool_.release(std::move(c));
    else
      pool_.discard();
    return fail(Errc::unavailable, "presence: " + describe(pool_.endpoint()) + ": " + why);
  }

  // Refreshes this node's heartbeat; when it had expired or vanished, writes this node's counts
  // again.
  Result<void> beat() {
    auto c = pool_.acquire();
    if (!c) return fail(Errc::unavailable, "presence: " + c.error().message);
    Reply r = command(c->ctx.get(),
                      {"SET", node_key_, "1", "PX", std::to_string(opt_.node_ttl_ms), "GET"});
    if (!r || (r->type != REDIS_REPLY_NIL && r->type != REDIS_REPLY_STRING))
      return failed(*c, r.get());
    bool lost = r->type == REDIS_REPLY_NIL;
    if (lost) {
      std::vector<std::pair<std::string, int>> counts;
      {
        std::lock_guard lock(mu_);
        counts.assign(local_.begin(), local_.end());
      }
      std::string n;
      for (const auto& [user, count] : counts) {
        n = std::to_string(count);
        append(c->ctx.get(), {"HSET", user_key(user), field_, n});
        append(c->ctx.get(), {"PERSIST", user_key(user)});
      }
      for (std::size_t i = 0; i < 2 * counts.size(); ++i) {
        void* raw = nullptr;
        if (redisGetReply(c->ctx.get(), &raw) != REDIS_OK) return failed(*c, nullptr);
        Reply done(static_cast<redisReply*>(raw));
      }
      if (ever_beat_)
        log::info("presence: heartbeat had lapsed; this node's sockets written again",
                  {{"node", instance_}, {"users", counts.size()}});
    }
    ever_beat_ = true;
    pool_.release(std::move(*c));
    return ok();
  }

  void heartbeat_loop() {
    bool down = false;
    std::unique_lock lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, std::chrono::milliseconds(opt_.heartbeat_ms), [&] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      auto r = beat();
      if (!r && !down)
        log::warn("presence: Redis unavailable; presence is not shared until it answers",
                  {{"error", r.error().message}});
      else if (r && down)
        log::info("presence: Redis reachable again", {{"node", instance_}});
      down = !r;
      lock.lock();
    }
  }

  const PresenceStoreOptions opt_;
  const std::string instance_, field_, nodes_prefix_, node_key_;
  Pool pool_;

  std::array<std::mutex, 64> stripes_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, int> local_;  // this node's open sockets per user
  bool stopping_ = false;
  bool ever_beat_ = false;  // touched by start() and then the heartbeat thread only
  std::thread heartbeat_;
};

}  // namespace

Result<std::unique_ptr<presence::PresenceStore>> make_redis_presence_store(
    const std::string& url, std::string node_id, PresenceStoreOptions options) {
  auto endpoint = parse_url(url);
  if (!endpoint) return fail(endpoint.error());
  if (node_id.empty() || node_id.size() > 255)
    return fail(Errc::invalid_argument, "presence: node id must be 1 to 255 characters");
  auto store = std::make_unique<RedisPresenceStore>(std::move(*endpoint), std::move(node_id),
                                                    std::move(options));
  if (auto s = store->start(); !s) return fail(s.error());
  return std::unique_ptr<presence::PresenceStore>(std::move(store));
}

}  // namespace parley::redis
