// Credentials from clients: access tokens, TOTP and recovery codes, base32. Verification of
// arbitrary bytes must never crash and never accept a token the key did not sign.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "access_token.h"
#include "core/crypto.h"
#include "totp.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const parley::auth::AccessTokenSigner signer = [] {
    parley::init_crypto();
    return parley::auth::AccessTokenSigner("k1",
                                           parley::auth::AccessTokenSigner::generate_secret_key());
  }();
  std::string text(reinterpret_cast<const char*>(data), size);
  if (signer.verify(text, 0)) std::abort();  // nothing in the corpus was signed by this key
  (void)parley::auth::base32_decode(text);
  (void)parley::auth::totp_match("12345678901234567890", text, 1'700'000'000);
  return 0;
}
