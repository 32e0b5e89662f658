#include "adapters/inprocess/in_process_bus.h"

#include <map>
#include <mutex>
#include <shared_mutex>
#include <vector>

namespace parley::adapters {
namespace {

class InProcessBus final : public Bus {
  struct Entry {
    std::uint64_t id;
    std::shared_ptr<Handler> handler;
  };

  class Sub final : public Subscription {
   public:
    Sub(InProcessBus* bus, std::string topic, std::uint64_t id)
        : bus_(bus), topic_(std::move(topic)), id_(id) {}
    ~Sub() override { bus_->unsubscribe(topic_, id_); }

   private:
    InProcessBus* bus_;
    std::string topic_;
    std::uint64_t id_;
  };

 public:
  void publish(std::string_view topic, std::string payload) override {
    std::vector<std::shared_ptr<Handler>> handlers;
    {
      std::shared_lock lock(mu_);
      auto it = topics_.find(topic);
      if (it == topics_.end()) return;
      for (const auto& e : it->second) handlers.push_back(e.handler);
    }
    for (const auto& h : handlers) (*h)(payload);
  }

  std::unique_ptr<Subscription> subscribe(std::string topic, Handler handler) override {
    std::unique_lock lock(mu_);
    auto id = ++next_id_;
    topics_[topic].push_back({id, std::make_shared<Handler>(std::move(handler))});
    return std::make_unique<Sub>(this, std::move(topic), id);
  }

 private:
  void unsubscribe(const std::string& topic, std::uint64_t id) {
    std::unique_lock lock(mu_);
    auto it = topics_.find(topic);
    if (it == topics_.end()) return;
    std::erase_if(it->second, [&](const Entry& e) { return e.id == id; });
  }

  std::shared_mutex mu_;
  std::map<std::string, std::vector<Entry>, std::less<>> topics_;
  std::uint64_t next_id_ = 0;
};

}  // namespace

std::unique_ptr<Bus> make_in_process_bus() { return std::make_unique<InProcessBus>(); }

}  // namespace parley::adapters
