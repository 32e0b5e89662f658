#include "chat_stream.h"

#include <algorithm>
#include <exception>
#include <optional>

namespace parley::itest::chat {

std::function<bool(const object&)> presence_of(const std::string& user, const std::string& status) {
  return [user, status](const object& d) {
    return str(d, "user_id") == user && str(d, "status") == status;
  };
}

bool is_message_of(const object& f, const std::string& conv) {
  return str(f, "type") == "event" && str(f, "event") == "message.created" && field(f, "data") &&
         str(*field(f, "data"), "conversation_id") == conv;
}

void Reader::run() {
  std::int64_t max_live = 0;
  std::set<std::int64_t> this_socket;
  Clock::time_point gap_since{};
  for (;;) {
    if (finishing_) {
      if (contiguous() >= target_) return;
      if (Clock::now() >= deadline_.load()) {
        error("gave up at the deadline with seqs up to " + std::to_string(contiguous()) + " of " +
              std::to_string(target_));
        return;
      }
    }
    if (!ws_) {
      auto lost = Clock::now();
      while (!ws_) {
        try {
          ws_ = std::make_unique<Live>(ws_port_, who_);
        } catch (const std::exception& e) {
          if (Clock::now() - lost > 20s) {
            error(std::string("could not reconnect in 20 s: ") + e.what());
            return;
          }
          std::this_thread::sleep_for(50ms);
        }
      }
      {
        std::lock_guard lock(mu_);
        ++stats_.reconnects;
        stats_.reconnect_ms = std::max<std::int64_t>(
            stats_.reconnect_ms,
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - lost).count());
      }
      this_socket.clear();
      max_live = 0;
      catch_up();
    }
    std::optional<object> f;
    try {
      f = ws_->wait([&](const object& x) { return is_message_of(x, conv_); }, 100ms, "message");
    } catch (const std::exception&) {
      if (ws_->raw().close_code()) {
        ws_.reset();  // the node went away: reconnect (through nginx: to another one)
        continue;
      }
    }
    if (f) {
      const auto& d = f->at("data");
      auto seq = num(d, "seq");
      std::lock_guard lock(mu_);
      ++stats_.live;
      if (!this_socket.insert(seq).second) ++stats_.live_dups;
      if (seq < max_live) ++stats_.out_of_order;
      max_live = std::max(max_live, seq);
      live_ids_.insert(str(d, "id"));
      known_.emplace(seq, str(d, "id"));
      ws_->forget();  // other events (presence, typing) are of no interest here
    }
    // A gap that lasts: fetch what is missing (as the web app does when a seq skips ahead).
    bool gap;
    {
      std::lock_guard lock(mu_);
      gap = !known_.empty() && static_cast<std::int64_t>(known_.size()) < known_.rbegin()->first;
    }
    bool behind = finishing_ && contiguous() < target_;
    if (gap || behind) {
      if (gap_since == Clock::time_point{}) gap_since = Clock::now();
      if (Clock::now() - gap_since >= 300ms) {
        catch_up();
        gap_since = {};
      }
    } else {
      gap_since = {};
    }
  }
}

std::int64_t Reader::contiguous() const {
  std::lock_guard lock(mu_);
  std::int64_t n = 0;
  for (const auto& [seq, id] : known_) {
    if (seq != n + 1) break;
    n = seq;
  }
  return n;
}

void Reader::catch_up() {
  auto after = contiguous();
  auto give_up = Clock::now() + 15s;
  for (;;) {
    auto r = history(api_, who_, conv_, "after_seq=" + std::to_string(after) + "&limit=200");
    if (r.status != 200) {
      if (Clock::now() > give_up) {
        error("history never answered: " + r.body.substr(0, 200));
        return;
      }
      std::this_thread::sleep_for(50ms);
      continue;
    }
    auto msgs = arr(r.json, "messages");
    {
      std::lock_guard lock(mu_);
      ++stats_.catch_ups;
      for (const auto& m : msgs) {
        auto seq = num(m, "seq");
        if (known_.emplace(seq, str(m, "id")).second) ++stats_.caught_up;
        after = std::max(after, seq);
      }
    }
    if (!flag(r.json, "has_more") || msgs.empty()) return;
  }
}

std::vector<object> check_history(Api& api, const Account& reader, const std::string& conv,
                                  const std::map<std::string, Acked>& acked,
                                  const std::string& where) {
  auto all = all_messages(api, reader, conv);
  EXPECT_EQ(seqs_of(all), range(1, static_cast<std::int64_t>(all.size()))) << where << ": gaps";
  std::map<std::pair<std::string, std::string>, const object*> by_cmid;
  for (const auto& m : all) {
    auto key = std::make_pair(str(m, "sender_id"), str(m, "client_msg_id"));
    EXPECT_TRUE(by_cmid.emplace(key, &m).second)
        << where << ": client_msg_id " << key.second << " stored twice";
  }
  int missing = 0, changed = 0;
  for (const auto& [cmid, a] : acked) {
    auto it = by_cmid.find({a.sender, cmid});
    if (it == by_cmid.end()) {
      if (++missing <= 5)
        ADD_FAILURE() << where << ": acknowledged " << cmid << " is not in history";
      continue;
    }
    if (str(*it->second, "id") != a.id || num(*it->second, "seq") != a.seq) {
      if (++changed <= 5)
        ADD_FAILURE() << where << ": " << cmid << " acked as " << a.id << "/" << a.seq
                      << ", history says " << dump(*it->second);
    }
  }
  EXPECT_EQ(missing, 0) << where << ": acknowledged messages lost";
  EXPECT_EQ(changed, 0) << where << ": acknowledged messages differ from history";
  return all;
}

}  // namespace parley::itest::chat
