// What strangers send to Parley's integrations: Slack-style incoming webhook payloads (no
// authentication but a URL) and command lines typed in messages. Rendering must never crash,
// never produce an empty or invalid-UTF-8 message, and a command line's trigger is always a
// non-empty lower-case word.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/text.h"
#include "modules/integrations/integrations.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (auto rendered = parley::integrations::render_slack_payload(text)) {
    if (rendered->empty()) std::abort();
    if (!parley::text::is_valid_utf8(*rendered)) std::abort();
  }
  if (auto line = parley::integrations::parse_command_line(text)) {
    if (line->trigger.empty() || line->trigger.size() > 32) std::abort();
    for (char c : line->trigger)
      if (c >= 'A' && c <= 'Z') std::abort();
  }
  return 0;
}
