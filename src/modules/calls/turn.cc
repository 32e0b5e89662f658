#include "modules/calls/turn.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace parley::calls {
namespace {

bool is_turn(std::string_view url) {
  return url.rfind("turn:", 0) == 0 || url.rfind("turns:", 0) == 0;
}
bool is_stun(std::string_view url) {
  return url.rfind("stun:", 0) == 0 || url.rfind("stuns:", 0) == 0;
}

}  // namespace

Result<void> validate(const TurnOptions& o) {
  bool any_turn = false;
  for (const auto& u : o.urls) {
    if (!is_turn(u) && !is_stun(u))
      return fail(Errc::invalid_argument,
                  "turn_urls: \"" + u + "\" is not a turn:, turns:, stun: or stuns: URL");
    any_turn = any_turn || is_turn(u);
  }
  if (any_turn && o.secret.empty())
    return fail(Errc::invalid_argument, "turn_urls: TURN URLs need --turn-secret");
  if (o.ttl_s < 60 || o.ttl_s > 7 * 24 * 3600)
    return fail(Errc::invalid_argument, "turn_ttl_s: between 60 and 604800");
  return ok();
}

std::string turn_credential(std::string_view secret, std::string_view username) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(username.data()), username.size(), mac, &len);
  std::string out(4 * ((len + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), mac, static_cast<int>(len));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

IceServers ice_servers(const TurnOptions& o, const std::string& user_id, Millis now_ms) {
  IceServers out;
  out.ttl_s = o.ttl_s;
  IceServer stun, turn;
  for (const auto& u : o.urls) (is_turn(u) ? turn : stun).urls.push_back(u);
  if (!stun.urls.empty()) out.servers.push_back(std::move(stun));
  if (!turn.urls.empty() && !o.secret.empty()) {
    turn.username = std::to_string(now_ms / 1000 + o.ttl_s) + ":" + user_id;
    turn.credential = turn_credential(o.secret, turn.username);
    out.servers.push_back(std::move(turn));
  }
  return out;
}

}  // namespace parley::calls
