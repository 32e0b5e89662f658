// PresenceStore: where the presence module keeps each user's presence, so that every node sees
// the same answer. In memory for one node (make_in_memory_presence_store); a Redis adapter for
// several. Blocking; thread-safe.
//
// sockets counts the user's ready WebSockets on every node. When it drops to 0, grace_until is
// set to now + grace, so that any node can tell the user is still "present" for the grace.
// shown is the status last announced to contacts, kept here so that whichever node sees the
// next change compares against what everyone was told.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace parley::presence {

struct PresenceRecord {
  int sockets = 0;
  std::string chosen = "online";  // online | away | dnd | invisible
  Millis last_active_at = 0;
  Millis grace_until = 0;
  std::string shown = "offline";
};

class PresenceStore {
 public:
  virtual ~PresenceStore() = default;
  // Adds delta (+1 or -1) to the user's sockets on this node (never below 0) and stamps
  // last_active_at, unless the chosen status is invisible (whose activity nobody may learn);
  // the record after it, sockets summed over all nodes.
  virtual Result<PresenceRecord> add_socket(const std::string& user_id, int delta, Millis now,
                                            Millis grace_ms) = 0;
  virtual Result<PresenceRecord> set_chosen(const std::string& user_id, const std::string& chosen,
                                            Millis now) = 0;
  virtual Result<void> set_shown(const std::string& user_id, const std::string& shown) = 0;
  // In the order asked; a user never seen has the default record.
  virtual Result<std::vector<PresenceRecord>> get(const std::vector<std::string>& user_ids) = 0;
};

std::unique_ptr<PresenceStore> make_in_memory_presence_store();

}  // namespace parley::presence
