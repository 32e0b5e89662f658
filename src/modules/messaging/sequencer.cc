#include "sequencer.h"

namespace parley::messaging {

std::uint64_t Sequencer::begin(const std::string& conversation_id) {
  std::lock_guard lock(mu_);
  auto& c = conversations_[conversation_id];
  auto t = c.next_ticket++;
  c.in_flight.insert(t);
  return t;
}

void Sequencer::add_ready(Conversation& c, Key key, Event e) {
  std::uint64_t barrier = c.next_ticket;  // tickets below this were issued already
  c.ready.emplace(key, Pending{barrier, std::move(e)});
}

void Sequencer::finish(const std::string& conversation_id, std::uint64_t ticket,
                       std::optional<Ready> ready) {
  std::unique_lock lock(mu_);
  auto& c = conversations_[conversation_id];
  c.in_flight.erase(ticket);
  if (ready) {
    c.max_seq = std::max(c.max_seq, ready->seq);
    add_ready(c, {ready->seq, 0}, std::move(ready->event));
  }
  drain(lock, conversation_id);
}

void Sequencer::publish_now(const std::string& conversation_id, Event e) {
  std::unique_lock lock(mu_);
  auto& c = conversations_[conversation_id];
  add_ready(c, {c.max_seq, ++c.arrivals}, std::move(e));
  drain(lock, conversation_id);
}

void Sequencer::drain(std::unique_lock<std::mutex>& lock, const std::string& conversation_id) {
  auto it = conversations_.find(conversation_id);
  if (it->second.publishing) return;  // that thread will see what we added
  it->second.publishing = true;
  std::vector<Event> out;
  for (;;) {
    auto& c = conversations_.find(conversation_id)->second;
    while (!c.ready.empty()) {
      auto head = c.ready.begin();
      if (!c.in_flight.empty() && *c.in_flight.begin() < head->second.barrier) break;
      out.push_back(std::move(head->second.event));
      c.ready.erase(head);
    }
    if (out.empty()) {
      c.publishing = false;
      if (c.in_flight.empty() && c.ready.empty()) conversations_.erase(conversation_id);
      return;
    }
    lock.unlock();
    for (const auto& e : out) publish_(e);
    out.clear();
    lock.lock();
  }
}

}  // namespace parley::messaging
