// Sfu: the media server that carries group calls (Janus VideoRoom, adapters/janus). Parley
// creates one room per group call, protected by a secret that never leaves the server, lets in
// only the tokens it hands to participants (one per joining session), and destroys the room when
// the call ends. Participants publish under a feed id Parley assigns, so it can remove the feed
// of someone who leaves or is removed.
//
// Blocking (HTTP to the media server, with short deadlines); thread-safe. Errors: unavailable
// (the media server did not answer or refused), internal (an answer that makes no sense).
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

namespace parley::calls {

class Sfu {
 public:
  virtual ~Sfu() = default;
  // Creates a room that admits only the tokens in allowed (more are added with allow()).
  virtual Result<void> create_room(const std::string& room, const std::string& secret,
                                   const std::vector<std::string>& allowed) = 0;
  // Adds tokens to (add) or removes them from the room's allowed list.
  virtual Result<void> allow(const std::string& room, const std::string& secret,
                             const std::vector<std::string>& tokens, bool add) = 0;
  // Removes a participant's feed from the room (its media stops at once).
  virtual Result<void> kick(const std::string& room, const std::string& secret,
                            const std::string& feed) = 0;
  // Holds back (muted) or lets through again the audio a participant's feed publishes, at the
  // media server: a moderator's mute does not rely on the participant's client. failed_precondition
  // when the feed publishes no audio (yet).
  virtual Result<void> mute(const std::string& room, const std::string& secret,
                            const std::string& feed, bool muted) = 0;
  virtual Result<void> destroy_room(const std::string& room, const std::string& secret) = 0;
  // Starts or stops recording every stream of the room (into recording_dir(room)).
  virtual Result<void> record(const std::string& room, const std::string& secret, bool on) = 0;
  // Where the media server writes a room's recordings, readable by Parley; "" = no recording.
  virtual std::string recording_dir(const std::string& room) const = 0;
  // The URL clients use to reach the media server's API.
  virtual std::string public_url() const = 0;
};

}  // namespace parley::calls
