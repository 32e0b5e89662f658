// Bus: publish/subscribe of events between modules and, when scaled out, between nodes.
// The embedded default delivers in-process; a Redis adapter carries events across nodes.
// Payloads are opaque bytes (modules serialise their own events, once per event).
//
// Thread-safe. Handlers run on a thread of the bus's choosing and must not block; they hand
// real work to their own executor. A subscription lasts until its Subscription is destroyed.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace parley {

// Published by a bus adapter to its own node's subscribers (never to other nodes) when events
// from other nodes may have been lost (its link to them broke and came back). Whatever a module
// keeps from bus events (caches, membership maps) should be refreshed from storage.
inline constexpr std::string_view kBusGapTopic = "bus.gap";

class Bus {
 public:
  using Handler = std::function<void(std::string_view payload)>;

  class Subscription {
   public:
    virtual ~Subscription() = default;
  };

  virtual ~Bus() = default;
  virtual void publish(std::string_view topic, std::string payload) = 0;
  [[nodiscard]] virtual std::unique_ptr<Subscription> subscribe(std::string topic,
                                                                Handler handler) = 0;
};

}  // namespace parley
