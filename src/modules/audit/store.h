// AuditStore: the port through which the audit module keeps its append-only table
// (`audit_events`, component "audit"). Implemented by adapters (SQLite, PostgreSQL); every
// implementation passes store_contract.h. Blocking; thread-safe.
//
// There is no update and no delete, on purpose: nothing in Parley edits or removes an audit
// event (the adapters also make the database itself refuse UPDATE and DELETE on the table).
// append() fails with already_exists for a repeated id.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace parley::audit {

struct Event {
  std::string id;  // time-ordered (core/id.h): newest has the greatest id
  Millis at = 0;
  std::string actor_id;  // the user who acted; "" for the command line or the server itself
  std::string action;    // one of the names in audit.h (actions::)
  std::string target;  // "kind:id" of what it was done to ("user:01H...", "settings:registration")
  std::string ip;      // the client address; "" when none (the command line)
};

struct Query {
  std::optional<std::string> actor_id;
  std::optional<std::string> action;
  std::optional<std::string> before_id;  // only events with a smaller id (the cursor)
  int limit = 50;
};

class AuditStore {
 public:
  virtual ~AuditStore() = default;
  virtual Result<void> append(const Event& e) = 0;
  // Newest first (by id), filtered by actor and/or action when given.
  virtual Result<std::vector<Event>> list(const Query& q) = 0;
};

}  // namespace parley::audit
