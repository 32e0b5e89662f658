// Turns the recordings Janus wrote for a call's room (one .mjr file per stream of each
// publisher) into one playable WebM: janus-pp-rec converts each stream, ffmpeg mixes every
// audio stream into one and keeps the first video. Both run as subprocesses with their
// arguments as an argv (no shell), each with a deadline. Blocking for seconds: call from a
// thread of its own, never an I/O or request worker. Thread-safe.
// Errors: not_found (no recordings in dir, or Janus still writing them at the deadline),
// unavailable (a tool missing or failing).
#pragma once

#include <chrono>
#include <string>

#include "core/result.h"

namespace parley::calls {

// Waits (up to settle) for Janus to close the room's recordings (no "*.tmp" left), renders them
// into dir/call.webm and returns its path. The streams rendered are renamed *.mjr.done, so the
// next recording of the same room renders only its own.
Result<std::string> render_recording(const std::string& dir,
                                     std::chrono::seconds settle = std::chrono::seconds(15));

}  // namespace parley::calls
