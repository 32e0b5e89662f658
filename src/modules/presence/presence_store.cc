#include <mutex>
#include <unordered_map>

#include "modules/presence/store.h"

namespace parley::presence {
namespace {

class InMemoryPresenceStore final : public PresenceStore {
 public:
  Result<PresenceRecord> add_socket(const std::string& user_id, int delta, Millis now,
                                    Millis grace_ms) override {
    std::lock_guard lock(mu_);
    auto& r = records_[user_id];
    r.sockets = std::max(0, r.sockets + delta);
    if (r.chosen != "invisible") r.last_active_at = now;
    if (delta < 0 && r.sockets == 0) r.grace_until = now + grace_ms;
    return r;
  }

  Result<PresenceRecord> set_chosen(const std::string& user_id, const std::string& chosen,
                                    Millis now) override {
    std::lock_guard lock(mu_);
    auto& r = records_[user_id];
    r.chosen = chosen;
    r.last_active_at = now;
    return r;
  }

  Result<void> set_shown(const std::string& user_id, const std::string& shown) override {
    std::lock_guard lock(mu_);
    records_[user_id].shown = shown;
    return ok();
  }

  Result<std::vector<PresenceRecord>> get(const std::vector<std::string>& user_ids) override {
    std::lock_guard lock(mu_);
    std::vector<PresenceRecord> out;
    out.reserve(user_ids.size());
    for (const auto& id : user_ids) {
      auto it = records_.find(id);
      out.push_back(it == records_.end() ? PresenceRecord{} : it->second);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, PresenceRecord> records_;
};

}  // namespace

std::unique_ptr<PresenceStore> make_in_memory_presence_store() {
  return std::make_unique<InMemoryPresenceStore>();
}

}  // namespace parley::presence
