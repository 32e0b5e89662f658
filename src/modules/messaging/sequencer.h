// Sequencer: publishes a conversation's events in commit (seq) order although the sends that
// caused them finish on different worker threads in any order. Private to messaging/.
//
// Each append takes a ticket before it starts (begin) and hands in its event when it has
// committed (finish). An event may leave once every append that was in flight when it finished
// has finished too: any of those could have committed earlier with a lower seq, while an append
// that begins later commits later and gets a higher seq. Ready events leave by seq; events
// without a seq (edits, reactions, membership) queue behind what is ready, so an edit never
// overtakes the message it edits. Appends of other processes never make anyone wait, which keeps
// this correct when several nodes write one conversation.
//
// One thread at a time publishes a conversation's events (whoever finds them ready), outside the
// lock, so slow fan-out in one conversation never stalls another.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "modules/messaging/events.h"

namespace parley::messaging {

class Sequencer {
 public:
  using Publish = std::function<void(const Event&)>;
  struct Ready {
    std::int64_t seq;
    Event event;
  };

  explicit Sequencer(Publish publish) : publish_(std::move(publish)) {}

  std::uint64_t begin(const std::string& conversation_id);
  // ready is empty when the append failed or created nothing.
  void finish(const std::string& conversation_id, std::uint64_t ticket, std::optional<Ready> ready);
  // An event without a seq, behind everything already ready.
  void publish_now(const std::string& conversation_id, Event e);

 private:
  using Key = std::pair<std::int64_t, std::int64_t>;  // (seq, arrival among seq-less events)
  struct Pending {
    std::uint64_t barrier;  // the last ticket issued when it became ready
    Event event;
  };
  struct Conversation {
    std::uint64_t next_ticket = 0;
    std::set<std::uint64_t> in_flight;
    std::map<Key, Pending> ready;
    std::int64_t max_seq = 0;
    std::int64_t arrivals = 0;
    bool publishing = false;
  };

  void add_ready(Conversation& c, Key key, Event e);
  // Publishes what may leave, unless another thread already is; takes the lock as given.
  void drain(std::unique_lock<std::mutex>& lock, const std::string& conversation_id);

  Publish publish_;
  std::mutex mu_;
  std::unordered_map<std::string, Conversation> conversations_;
};

}  // namespace parley::messaging
