// The calls module's Sfu port over Janus's HTTP API (VideoRoom plugin), through libcurl.
// Each operation opens a Janus session, attaches the VideoRoom plugin, sends one synchronous
// request and destroys the session: no long-lived session to keep alive, at the cost of three
// extra loopback requests per operation (rooms change a few times per call). Requests have a
// 3 s deadline. Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/result.h"
#include "modules/calls/sfu.h"

namespace parley::janus {

struct JanusConfig {
  std::string url;         // Janus's HTTP API as Parley reaches it: http://127.0.0.1:8088/janus
  std::string public_url;  // as browsers reach it (through nginx, same origin); "" = url
  std::string admin_key;   // the VideoRoom's admin_key: only Parley creates rooms
  // Where Janus writes recordings (a room's go to DIR/<room>), on a disk Parley reads too;
  // "" = calls are not recorded.
  std::string recordings_dir;
  std::chrono::milliseconds timeout{3000};
};

Result<std::unique_ptr<calls::Sfu>> make_janus_sfu(JanusConfig config);

}  // namespace parley::janus
