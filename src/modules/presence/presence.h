// Presence module: who is online, away, busy (dnd) or offline, and telling the people who share
// a conversation with them when that changes.
//
// The gateway reports each ready WebSocket (connected) and each closed one (disconnected). A
// user is shown with their chosen status (online by default, away, dnd) while any socket is open
// and for a grace period after the last one closes (30 s by default, so a page reload or a
// network blip does not flicker); then offline. Invisible always shows offline. Changes of the
// shown status go out as presence.changed through messaging's notify_contacts().
//
// State lives in a PresenceStore (store.h): in memory for one node, shared through Redis by
// several. Calls block briefly (the store, and reading the user's conversations to notify): call
// them from worker threads. A background thread ends this node's grace periods. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "modules/messaging/messaging.h"
#include "modules/presence/store.h"
#include "modules/users/users.h"

namespace parley::presence {

struct Presence {
  std::string user_id;
  std::string status;  // "online" | "away" | "dnd" | "offline"
  Millis last_active_at = 0;
};

struct PresenceOptions {
  Millis grace_ms = 30'000;
};

class PresenceService {
 public:
  PresenceService(PresenceStore& store, messaging::MessagingService& messaging,
                  users::UserService& users, const Clock& clock, PresenceOptions options = {});
  ~PresenceService();

  void connected(const std::string& user_id);
  void disconnected(const std::string& user_id);
  // status: online, away, dnd or invisible (invalid_argument otherwise). Returns the presence
  // others now see.
  Result<Presence> set_status(const std::string& user_id, const std::string& status);
  // In the order asked, leaving out users who share no conversation with the caller (the
  // caller is always answered); not_found when an id is not a user.
  Result<std::vector<Presence>> get(const std::string& caller,
                                    const std::vector<std::string>& user_ids);
  // The shown status of each user, in the order asked, for the server's own decisions (whether
  // to push): no visibility check, so never the answer to a client. A user this node has no
  // record of shows offline.
  Result<std::vector<std::string>> shown(const std::vector<std::string>& user_ids);
  // Ends the grace thread; later grace expiries are not announced.
  void stop();

  static constexpr int kMaxIdsPerQuery = 200;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

boost::json::object to_json(const Presence& p);

}  // namespace parley::presence
