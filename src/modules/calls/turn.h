// ICE servers for the clients of calls: STUN URLs as configured, and TURN URLs with short-lived
// credentials of the TURN REST API scheme (draft-uberti-behave-turn-rest, as coturn implements
// it with use-auth-secret): username = "<expiry unix seconds>:<user_id>",
// credential = base64(HMAC-SHA1(secret, username)). coturn checks them with the same secret
// (static-auth-secret) and refuses them after the expiry. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace parley::calls {

struct TurnOptions {
  std::string secret;             // "" = no TURN credentials
  std::vector<std::string> urls;  // turn:HOST:PORT, turns:..., stun:...
  std::int64_t ttl_s = 3600;      // how long credentials stay good
};

struct IceServer {
  std::vector<std::string> urls;
  std::string username;  // "" for STUN
  std::string credential;
};

struct IceServers {
  std::vector<IceServer> servers;
  std::int64_t ttl_s = 0;
};

// Checks the URLs' schemes, and that TURN URLs come with a secret (invalid_argument otherwise).
Result<void> validate(const TurnOptions& o);

IceServers ice_servers(const TurnOptions& o, const std::string& user_id, Millis now_ms);

// base64(HMAC-SHA1(secret, username)): what coturn expects as the password.
std::string turn_credential(std::string_view secret, std::string_view username);

}  // namespace parley::calls
