// TOTP (RFC 6238) over HOTP (RFC 4226), on OpenSSL's HMAC, and the base32 (RFC 4648) form that
// authenticator apps read. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace parley::auth {

enum class TotpHash { sha1, sha256, sha512 };

std::string base32_encode(std::string_view raw);
std::optional<std::string> base32_decode(std::string_view text);

// The HOTP value for counter, as a zero-padded decimal string of digits characters.
std::string hotp(std::string_view key, std::uint64_t counter, int digits, TotpHash hash);

// The time step of unix_seconds for a period: floor(t / period).
inline std::uint64_t totp_step(std::int64_t unix_seconds, int period = 30) {
  return static_cast<std::uint64_t>(unix_seconds / period);
}

// The step (within +/- window of now's) whose code equals code, if any. Compared in constant
// time. API.md: SHA-1, 6 digits, 30 s, one step either side.
std::optional<std::uint64_t> totp_match(std::string_view key, std::string_view code,
                                        std::int64_t unix_seconds, int window = 1);

}  // namespace parley::auth
