// Password hashing with Argon2id (libsodium). Encoded hashes carry their own parameters, so
// raising them later only needs a rehash at the next successful login.
#pragma once

#include <cstddef>
#include <string>

#include "core/result.h"

namespace parley::auth {

struct PasswordParams {
  // OWASP's minimum for Argon2id: m=19 MiB, t=2, p=1. Never configured below it.
  unsigned long long ops_limit = 2;
  std::size_t mem_limit_bytes = 19 * 1024 * 1024;
};

class PasswordHasher {
 public:
  explicit PasswordHasher(PasswordParams p);
  Result<std::string> hash(const std::string& password) const;
  bool verify(const std::string& encoded, const std::string& password) const;
  bool needs_rehash(const std::string& encoded) const;
  // Spends the time a real verification takes, for unknown users (same answer, same time).
  void verify_dummy(const std::string& password) const;

 private:
  PasswordParams params_;
  std::string dummy_hash_;
};

}  // namespace parley::auth
