// Streams of chat messages checked end to end, for the multi-node tests: a reader that behaves
// as the web app does (live events of one conversation on a WebSocket, catch-up from history
// after every reconnect and whenever a gap persists), a book of what sends acknowledged, and
// the check that history holds every acknowledged message once, gap-free.
//
// A Reader runs on a thread of its own; its accessors are thread-safe. AckBook may be written
// from many sender threads. Failures are recorded (Reader::errors, AckBook::problems) or reported
// to GoogleTest (check_history); nothing throws.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "chat_support.h"

namespace parley::itest::chat {

// Matches a presence.changed event's data: that user, that status.
std::function<bool(const object&)> presence_of(const std::string& user, const std::string& status);

// Whether a frame is a message.created event of conversation conv.
bool is_message_of(const object& f, const std::string& conv);

// A chat client as the web app behaves: one WebSocket (through nginx or to a node), live
// message.created events of one conversation, and catch-up from history (after_seq) after every
// reconnect and whenever a gap in the live seqs persists. Runs on a thread of its own.
class Reader {
 public:
  struct Stats {
    int live = 0;          // message.created events received
    int live_dups = 0;     // a seq received twice on one socket
    int out_of_order = 0;  // a live seq below one received before it on the same socket
    int caught_up = 0;     // messages first known from history
    int catch_ups = 0;     // history fetches
    int reconnects = 0;
    std::int64_t reconnect_ms = 0;  // longest time from losing the socket to ready again
  };

  Reader(std::uint16_t ws_port, std::uint16_t http_port, Account who, std::string conv)
      : ws_port_(ws_port), api_(http_port, 5s), who_(std::move(who)), conv_(std::move(conv)) {
    ws_ = std::make_unique<Live>(ws_port_, who_);
  }

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  // Ends the thread once every seq up to `target` is known (or at the deadline).
  void finish(std::int64_t target, Clock::time_point deadline) {
    target_ = target;
    deadline_ = deadline;
    finishing_ = true;
    if (thread_.joinable()) thread_.join();
  }
  ~Reader() {
    finishing_ = true;
    deadline_ = Clock::now();
    if (thread_.joinable()) thread_.join();
  }

  // Thread-safe views.
  std::map<std::int64_t, std::string> known() const {
    std::lock_guard lock(mu_);
    return known_;
  }
  bool saw_live(const std::string& id) const {
    std::lock_guard lock(mu_);
    return live_ids_.count(id) > 0;
  }
  Stats stats() const {
    std::lock_guard lock(mu_);
    return stats_;
  }
  std::vector<std::string> errors() const {
    std::lock_guard lock(mu_);
    return errors_;
  }
  const Account& who() const { return who_; }

 private:
  void run();

  std::int64_t contiguous() const;

  void catch_up();

  void error(const std::string& e) {
    std::lock_guard lock(mu_);
    errors_.push_back(who_.username + ": " + e);
  }

  std::uint16_t ws_port_;
  Api api_;
  Account who_;
  std::string conv_;
  std::unique_ptr<Live> ws_;
  std::thread thread_;
  std::atomic<bool> finishing_{false};
  std::atomic<std::int64_t> target_{0};
  std::atomic<Clock::time_point> deadline_{Clock::time_point::max()};

  mutable std::mutex mu_;
  std::map<std::int64_t, std::string> known_;  // seq -> id
  std::set<std::string> live_ids_;
  Stats stats_;
  std::vector<std::string> errors_;
};

struct Acked {
  std::string id;
  std::int64_t seq = 0;
  std::string sender;
};

// What a stream of sends acknowledged, by client_msg_id.
class AckBook {
 public:
  void add(const std::string& cmid, const object& m, const std::string& sender) {
    std::lock_guard lock(mu_);
    acked_[cmid] = {str(m, "id"), num(m, "seq"), sender};
    ++count_;
  }
  void problem(const std::string& p) {
    std::lock_guard lock(mu_);
    problems_.push_back(p);
  }
  int count() const { return count_.load(); }
  std::map<std::string, Acked> acked() const {
    std::lock_guard lock(mu_);
    return acked_;
  }
  std::vector<std::string> problems() const {
    std::lock_guard lock(mu_);
    return problems_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, Acked> acked_;
  std::vector<std::string> problems_;
  std::atomic<int> count_{0};
};

// History through api must be seqs 1..n, gap-free, with each (sender, client_msg_id) once and
// every acknowledged message in it unchanged. Returns the history.
std::vector<object> check_history(Api& api, const Account& reader, const std::string& conv,
                                  const std::map<std::string, Acked>& acked,
                                  const std::string& where);

}  // namespace parley::itest::chat
