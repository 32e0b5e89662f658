// Helpers for the messaging integration tests (conversations, messages, real time, presence,
// search, durability): JSON field access, conversation and message calls that throw when the
// server does not answer as a test relies on, and a WebSocket wrapper that keeps frames it has
// read but not yet matched.
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/text.h"
#include "harness.h"

namespace parley::itest::chat {

using boost::json::array;
using boost::json::object;
using boost::json::value;

// ---- JSON field access (never throws) ----

// (The object overload matters: an object passed as a value would be copied into a temporary
// and the pointer would dangle.)
inline const value* field(const object& o, std::string_view key) { return o.if_contains(key); }
inline const value* field(const value& v, std::string_view key) {
  if (!v.is_object()) return nullptr;
  return v.as_object().if_contains(key);
}
inline std::string str(const value& v, std::string_view key) {
  auto f = field(v, key);
  return f && f->is_string() ? std::string(f->as_string()) : std::string();
}
// An integer field; def when absent or not an integer.
inline std::int64_t num(const value& v, std::string_view key, std::int64_t def = -1) {
  auto f = field(v, key);
  if (!f) return def;
  if (f->is_int64()) return f->as_int64();
  if (f->is_uint64()) return static_cast<std::int64_t>(f->as_uint64());
  return def;
}
inline bool flag(const value& v, std::string_view key) {
  auto f = field(v, key);
  return f && f->is_bool() && f->as_bool();
}
inline bool is_null_or_absent(const value& v, std::string_view key) {
  auto f = field(v, key);
  return !f || f->is_null();
}
// The array field (empty when absent or not an array).
inline array arr(const value& v, std::string_view key) {
  auto f = field(v, key);
  return f && f->is_array() ? f->as_array() : array();
}
inline std::string dump(const value& v) {
  auto s = boost::json::serialize(v);
  return s.size() > 800 ? s.substr(0, 800) + "..." : s;
}
// Does the serialised value mention this string anywhere (for event data whose exact shape the
// contract leaves open)?
inline bool mentions(const value& v, std::string_view needle) {
  return boost::json::serialize(v).find(needle) != std::string::npos;
}

// Percent-encodes everything but unreserved characters (RFC 3986).
inline std::string pct(std::string_view s) { return text::percent_encoded(s); }

// Syntactically plausible ids that name nothing.
inline constexpr const char* kUnknownId = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
inline constexpr const char* kUnknownId2 = "01BX5ZZKBKACTAV9WEVGEMMVRZ";

inline std::string fresh_cmid(std::string_view tag = "c") { return unique_name(tag); }

[[noreturn]] inline void fail_reply(const std::string& what, const Reply& r) {
  std::ostringstream os;
  os << what << ": " << r;
  throw std::runtime_error(os.str());
}

// ---- conversations ----

inline const std::string kConv = "/api/v1/conversations";
inline std::string conv_path(const std::string& id) { return kConv + "/" + id; }
inline std::string msg_path(const std::string& id) { return "/api/v1/messages/" + id; }

inline Reply create(Api& api, const Account& who, const object& body) {
  return api.post(kConv, body, who.access);
}
inline array ids_of(const std::vector<std::string>& ids) {
  array out;
  for (const auto& i : ids) out.emplace_back(i);
  return out;
}
// Creates (or finds) the DM; its id.
inline std::string make_dm(Api& api, const Account& who, const std::string& other_id) {
  auto r = create(api, who, object{{"type", "dm"}, {"member_ids", array{value(other_id)}}});
  if (r.status != 201 && r.status != 200) fail_reply("create DM", r);
  return r.str("id");
}
inline std::string make_group(Api& api, const Account& who, const std::vector<std::string>& others,
                              const std::string& name = "") {
  object body{{"type", "group"}, {"member_ids", ids_of(others)}};
  if (!name.empty()) body["name"] = name;
  auto r = create(api, who, body);
  if (r.status != 201) fail_reply("create group", r);
  return r.str("id");
}
// A group of everyone in `accounts`, created by the first.
inline std::string make_group_of(Api& api, const std::vector<Account>& accounts) {
  std::vector<std::string> others;
  for (std::size_t i = 1; i < accounts.size(); ++i) others.push_back(accounts[i].id);
  return make_group(api, accounts.at(0), others);
}
// A channel name no other test uses.
inline std::string channel_name(std::string_view tag = "ch") { return unique_name(tag); }
inline std::string make_channel(Api& api, const Account& who, const std::string& name,
                                const std::string& visibility = "public") {
  auto r = create(api, who,
                  object{{"type", "channel"}, {"name", name}, {"visibility", visibility}});
  if (r.status != 201) fail_reply("create channel " + name, r);
  return r.str("id");
}
inline Reply get_conv(Api& api, const Account& who, const std::string& id) {
  return api.get(conv_path(id), who.access);
}
inline void join(Api& api, const Account& who, const std::string& conv) {
  auto r = api.post(conv_path(conv) + "/join", std::string_view("{}"), who.access);
  if (r.status != 200) fail_reply("join " + conv, r);
}
inline void add_members(Api& api, const Account& who, const std::string& conv,
                        const std::vector<std::string>& ids) {
  auto r = api.post(conv_path(conv) + "/members", object{{"user_ids", ids_of(ids)}}, who.access);
  if (r.status != 200) fail_reply("add members to " + conv, r);
}

// ---- messages ----

inline Reply send(Api& api, const Account& who, const std::string& conv, const std::string& text,
                  const std::string& cmid = "", const std::string& thread_root = "") {
  object body{{"text", text}, {"client_msg_id", cmid.empty() ? fresh_cmid() : cmid}};
  if (!thread_root.empty()) body["thread_root_id"] = thread_root;
  return api.post(conv_path(conv) + "/messages", body, who.access);
}
// Sends and returns the new message (throws unless 201).
inline object send_ok(Api& api, const Account& who, const std::string& conv,
                      const std::string& text, const std::string& thread_root = "") {
  auto r = send(api, who, conv, text, "", thread_root);
  if (r.status != 201 || !r.json.is_object()) fail_reply("send to " + conv, r);
  return r.json.as_object();
}
inline Reply history(Api& api, const Account& who, const std::string& conv,
                     const std::string& query = "") {
  return api.get(conv_path(conv) + "/messages" + (query.empty() ? "" : "?" + query), who.access);
}
// The whole history, oldest first, paging forwards with after_seq.
inline std::vector<object> all_messages(Api& api, const Account& who, const std::string& conv) {
  std::vector<object> out;
  std::int64_t after = 0;
  for (int pages = 0; pages < 10'000; ++pages) {
    auto r = history(api, who, conv, "after_seq=" + std::to_string(after) + "&limit=200");
    if (r.status != 200) fail_reply("history of " + conv, r);
    auto msgs = arr(r.json, "messages");
    for (auto& m : msgs) out.push_back(m.as_object());
    if (!msgs.empty()) after = num(msgs.back(), "seq");
    if (!flag(r.json, "has_more")) return out;
    if (msgs.empty()) throw std::runtime_error("has_more with an empty page");
  }
  throw std::runtime_error("history never ended");
}
inline std::vector<std::int64_t> seqs_of(const std::vector<object>& msgs) {
  std::vector<std::int64_t> out;
  for (const auto& m : msgs) out.push_back(num(m, "seq"));
  return out;
}
inline std::vector<std::int64_t> seqs_of(const array& msgs) {
  std::vector<std::int64_t> out;
  for (const auto& m : msgs) out.push_back(num(m, "seq"));
  return out;
}
inline std::vector<std::int64_t> range(std::int64_t from, std::int64_t to) {  // [from, to]
  std::vector<std::int64_t> out;
  for (auto i = from; i <= to; ++i) out.push_back(i);
  return out;
}
inline object get_message(Api& api, const Account& who, const std::string& id) {
  auto r = api.get(msg_path(id), who.access);
  if (r.status != 200 || !r.json.is_object()) fail_reply("get message " + id, r);
  return r.json.as_object();
}

// A WebSocket send frame.
inline object send_frame(const std::string& req, const std::string& conv, const std::string& text,
                         const std::string& cmid) {
  return object{{"type", "send"},
                {"req", req},
                {"conversation_id", conv},
                {"text", text},
                {"client_msg_id", cmid}};
}

// ---- WebSocket ----

// One ready WebSocket of an account. Frames read while looking for one are kept for later
// look-ups, so a test can wait for events in any order. Use from one thread.
class Live {
 public:
  Live(std::uint16_t port, const Account& who) : ws_(ws_ready(port, who.access, &ready_)) {}

  net::WsClient& raw() { return *ws_; }
  const object& ready() const { return ready_; }
  std::string session_id() const { return str(ready_, "session_id"); }

  void send(const object& frame) { send_raw(boost::json::serialize(frame)); }
  void send_raw(const std::string& text) {
    if (read_pending_) {
      // net::WsClient runs its io_context until all work is done, so a write made while a read
      // that timed out is still pending only returns once some frame arrives (or after 10 s).
      // A ping makes one arrive; its pong is kept like any other frame.
      read_pending_ = false;
      auto p = ws_->send_text(R"({"type":"ping","req":"unstick"})");
      if (!p) throw std::runtime_error("WebSocket send: " + p.error().message);
    }
    auto r = ws_->send_text(text);
    if (!r) throw std::runtime_error("WebSocket send: " + r.error().message);
  }

  // The first frame (kept or new) that pred accepts, removed from the kept ones. Throws when
  // none comes in time or the socket closes.
  object wait(const std::function<bool(const object&)>& pred, std::chrono::milliseconds timeout,
              const std::string& what) {
    if (auto f = take(pred)) return *f;
    auto deadline = Clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) throw std::runtime_error("timed out waiting for " + what + kept_summary());
      auto f = read_one(left);
      if (!f) {
        if (ws_->close_code())
          throw std::runtime_error("socket closed (" + std::to_string(*ws_->close_code()) +
                                   ") waiting for " + what);
        continue;
      }
      if (pred(*f)) return *f;
      kept_.push_back(std::move(*f));
    }
  }
  // The next event of this name whose data pred accepts.
  object event(const std::string& name, const std::function<bool(const object&)>& pred = {},
               std::chrono::milliseconds timeout = 5s) {
    auto f = wait(
        [&](const object& f) {
          return str(f, "type") == "event" && str(f, "event") == name &&
                 (!pred || (field(f, "data") && field(f, "data")->is_object() &&
                            pred(field(f, "data")->as_object())));
        },
        timeout, "event " + name);
    return f.at("data").is_object() ? f.at("data").as_object() : object();
  }
  // The frame of this type (ack, error, pong) answering req.
  object reply(const std::string& type, const std::string& req,
               std::chrono::milliseconds timeout = 5s) {
    return wait(
        [&](const object& f) {
          return str(f, "type") == type && field(f, "req") && *field(f, "req") == value(req);
        },
        timeout, type + " for req " + req);
  }
  // Either an ack or an error for req.
  object answer(const std::string& req, std::chrono::milliseconds timeout = 5s) {
    return wait(
        [&](const object& f) {
          auto t = str(f, "type");
          return (t == "ack" || t == "error") && field(f, "req") && *field(f, "req") == value(req);
        },
        timeout, "ack or error for req " + req);
  }
  // Reads for `window`; the first frame (kept or new) pred accepts, if any (left kept).
  std::optional<object> seen_within(const std::function<bool(const object&)>& pred,
                                    std::chrono::milliseconds window) {
    auto deadline = Clock::now() + window;
    for (;;) {
      for (const auto& f : kept_)
        if (pred(f)) return f;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms || ws_->close_code()) return std::nullopt;
      if (auto f = read_one(left)) kept_.push_back(std::move(*f));
    }
  }
  std::optional<object> event_within(const std::string& name,
                                     const std::function<bool(const object&)>& pred,
                                     std::chrono::milliseconds window) {
    return seen_within(
        [&](const object& f) {
          return str(f, "type") == "event" && str(f, "event") == name && field(f, "data") &&
                 field(f, "data")->is_object() && (!pred || pred(field(f, "data")->as_object()));
        },
        window);
  }
  // Sends a ping and waits for its pong: every frame the server queued before the pong has
  // been read (and kept) by then.
  void sync(std::chrono::milliseconds timeout = 5s) {
    std::string req = "sync-" + std::to_string(++sync_counter_);
    send(object{{"type", "ping"}, {"req", req}});
    reply("pong", req, timeout);
  }
  // Drops every kept frame.
  void forget() { kept_.clear(); }
  std::deque<object>& kept() { return kept_; }
  // Users per presence frame read so far (1 for presence.changed), in the order they came.
  const std::vector<std::size_t>& presence_frames() const { return presence_frames_; }

 private:
  std::optional<object> take(const std::function<bool(const object&)>& pred) {
    for (auto it = kept_.begin(); it != kept_.end(); ++it)
      if (pred(*it)) {
        object f = std::move(*it);
        kept_.erase(it);
        return f;
      }
    return std::nullopt;
  }
  // A presence.batch is read as one presence.changed per user in it, so a test waits for a
  // user's presence the same way however the server grouped it; presence_frames() keeps what
  // came on the wire.
  std::optional<object> read_one(std::chrono::milliseconds timeout) {
    if (!unbatched_.empty()) {
      object f = std::move(unbatched_.front());
      unbatched_.pop_front();
      return f;
    }
    auto r = ws_->read_text(timeout);
    read_pending_ = !r && !ws_->close_code();
    if (!r) return std::nullopt;
    boost::system::error_code ec;
    auto v = boost::json::parse(*r, ec);
    if (ec || !v.is_object()) throw std::runtime_error("WebSocket frame is not JSON: " + *r);
    object f = std::move(v.as_object());
    if (str(f, "type") != "event") return f;
    if (str(f, "event") == "presence.changed") presence_frames_.push_back(1);
    if (str(f, "event") != "presence.batch") return f;
    const auto* data = field(f, "data");
    const auto* list = data && data->is_object() ? field(data->as_object(), "presence") : nullptr;
    if (!list || !list->is_array() || list->as_array().size() < 2)
      throw std::runtime_error("presence.batch without a list of at least two: " + *r);
    presence_frames_.push_back(list->as_array().size());
    std::set<std::string> users;
    for (const auto& p : list->as_array())
      if (!p.is_object() || !users.insert(str(p.as_object(), "user_id")).second)
        throw std::runtime_error("presence.batch names a user twice: " + *r);
    for (const auto& p : list->as_array())
      unbatched_.push_back(object{{"type", "event"}, {"event", "presence.changed"}, {"data", p}});
    return read_one(timeout);
  }
  std::string kept_summary() const {
    std::string s = "; frames seen and not matched: " + std::to_string(kept_.size());
    for (std::size_t i = 0; i < kept_.size() && i < 5; ++i) s += "\n  " + dump(kept_[i]);
    return s;
  }

  object ready_;
  std::unique_ptr<net::WsClient> ws_;
  std::deque<object> kept_;
  std::deque<object> unbatched_;  // presence.changed frames split from a batch, not yet read
  std::vector<std::size_t> presence_frames_;
  int sync_counter_ = 0;
  bool read_pending_ = false;
};

// Event-data predicates.
inline std::function<bool(const object&)> with_conv(const std::string& conv) {
  return [conv](const object& d) { return str(d, "conversation_id") == conv; };
}
inline std::function<bool(const object&)> with_id(const std::string& id) {
  return [id](const object& d) { return str(d, "id") == id; };
}

// Runs fn on n threads that start together; rethrows the first exception.
inline void run_parallel(int n, const std::function<void(int)>& fn) {
  std::mutex mu;
  std::condition_variable cv;
  int waiting = 0;
  bool go = false;
  std::exception_ptr first;
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      {
        std::unique_lock lock(mu);
        if (++waiting == n) {
          go = true;
          cv.notify_all();
        }
        cv.wait(lock, [&] { return go; });
      }
      try {
        fn(i);
      } catch (...) {
        std::lock_guard lock(mu);
        if (!first) first = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  if (first) std::rethrow_exception(first);
}

// Registers n accounts, a few at a time (password hashing is the slow part).
inline std::vector<Account> register_accounts(std::uint16_t port, int n, std::string_view tag) {
  std::vector<Account> out(static_cast<std::size_t>(n));
  constexpr int kThreads = 4;
  run_parallel(kThreads, [&](int t) {
    Api api(port);
    for (int i = t; i < n; i += kThreads) out[static_cast<std::size_t>(i)] = register_account(api, tag);
  });
  return out;
}

}  // namespace parley::itest::chat
