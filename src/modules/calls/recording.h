// Turns the recordings Janus wrote for a call's room (one .mjr file per stream of each
// publisher) into one playable WebM: janus-pp-rec converts each stream, ffmpeg mixes every
// audio stream into one and lays the videos out in a grid (one video is kept as it is). Both run as subprocesses with their
// arguments as an argv (no shell), each with a deadline. Blocking for seconds: call from a
// thread of its own, never an I/O or request worker. Thread-safe.
// Errors: not_found (no recordings in dir, or Janus still writing them at the deadline),
// unavailable (a tool missing or failing).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "core/result.h"

namespace parley::calls {

// The grid: tiles of 640 x 360 (each video scaled into one, letterboxed), as many columns as
// the smallest square holding them needs (2 videos: 1280 x 360; 3 or 4: 1280 x 720; up to 9).
inline constexpr int kTileWidth = 640, kTileHeight = 360;
inline constexpr std::size_t kMaxTiles = 9;
// ffmpeg's filter graph for it: inputs 0..videos-1 (video streams) into [v].
std::string grid_filter(std::size_t videos);

// Waits (up to settle) for Janus to close the room's recordings (no "*.tmp" left), renders them
// into dir/call.webm and returns its path. The streams rendered are renamed *.mjr.done, so the
// next recording of the same room renders only its own.
Result<std::string> render_recording(const std::string& dir,
                                     std::chrono::seconds settle = std::chrono::seconds(15));

}  // namespace parley::calls
