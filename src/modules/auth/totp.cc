#include "totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/crypto.h"

namespace parley::auth {
namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
}

std::string base32_encode(std::string_view raw) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31];
  return out;  // unpadded, as otpauth URIs expect
}

std::optional<std::string> base32_decode(std::string_view text) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == ' ') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= '2' && c <= '7') {
      v = c - '2' + 26;
    } else {
      return std::nullopt;
    }
    buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out += static_cast<char>((buffer >> (bits - 8)) & 0xFF);
      bits -= 8;
    }
  }
  return out;
}

std::string hotp(std::string_view key, std::uint64_t counter, int digits, TotpHash hash) {
  unsigned char msg[8];
  for (int i = 7; i >= 0; --i) {
    msg[i] = static_cast<unsigned char>(counter & 0xFF);
    counter >>= 8;
  }
  const EVP_MD* md = hash == TotpHash::sha1     ? EVP_sha1()
                     : hash == TotpHash::sha256 ? EVP_sha256()
                                                : EVP_sha512();
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()), msg, sizeof msg, mac, &mac_len);
  int offset = mac[mac_len - 1] & 0x0F;
  std::uint32_t bin = ((mac[offset] & 0x7Fu) << 24) | (mac[offset + 1] << 16) |
                      (mac[offset + 2] << 8) | mac[offset + 3];
  std::uint32_t mod = 1;
  for (int i = 0; i < digits; ++i) mod *= 10;
  std::string s = std::to_string(bin % mod);
  return std::string(static_cast<std::size_t>(digits) - s.size(), '0') + s;
}

std::optional<std::uint64_t> totp_match(std::string_view key, std::string_view code,
                                        std::int64_t unix_seconds, int window) {
  if (code.size() != 6) return std::nullopt;
  auto now_step = static_cast<std::int64_t>(totp_step(unix_seconds));
  std::optional<std::uint64_t> found;
  // Every candidate is computed and compared, so the time spent does not reveal which matched.
  for (std::int64_t s = now_step - window; s <= now_step + window; ++s) {
    if (s < 0) continue;
    auto candidate = hotp(key, static_cast<std::uint64_t>(s), 6, TotpHash::sha1);
    if (constant_time_equal(candidate, code) && !found) found = static_cast<std::uint64_t>(s);
  }
  return found;
}

}  // namespace parley::auth
