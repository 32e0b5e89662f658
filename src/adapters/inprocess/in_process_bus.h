// InProcessBus: the embedded Bus. publish() calls the topic's handlers synchronously on the
// publishing thread, so an event is seen by every local subscriber before publish() returns.
#pragma once

#include <memory>

#include "core/bus.h"

namespace parley::adapters {

std::unique_ptr<Bus> make_in_process_bus();

}  // namespace parley::adapters
