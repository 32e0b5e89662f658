#include "password.h"

#include <sodium.h>

#include <algorithm>

namespace parley::auth {

PasswordHasher::PasswordHasher(PasswordParams p) : params_(p) {
  params_.ops_limit = std::max<unsigned long long>(params_.ops_limit, 2);
  params_.mem_limit_bytes = std::max<std::size_t>(params_.mem_limit_bytes, 19 * 1024 * 1024);
  dummy_hash_ = hash("parley-dummy-password").value_or("");
}

Result<std::string> PasswordHasher::hash(const std::string& password) const {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), params_.ops_limit,
                            params_.mem_limit_bytes, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return fail(Errc::unavailable, "out of memory while hashing the password");
  return std::string(out);
}

bool PasswordHasher::verify(const std::string& encoded, const std::string& password) const {
  return crypto_pwhash_str_verify(encoded.c_str(), password.data(), password.size()) == 0;
}

bool PasswordHasher::needs_rehash(const std::string& encoded) const {
  return crypto_pwhash_str_needs_rehash(encoded.c_str(), params_.ops_limit,
                                        params_.mem_limit_bytes) != 0;
}

void PasswordHasher::verify_dummy(const std::string& password) const {
  (void)verify(dummy_hash_, password);
}

}  // namespace parley::auth
