// Unit tests of the auth module's parts, and of AuthService on the SQLite store with a fake clock.
#include "modules/auth/auth.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "access_token.h"
#include "adapters/inprocess/in_process_bus.h"
#include "adapters/sqlite/stores.h"
#include "core/crypto.h"
#include "password.h"
#include "totp.h"

namespace parley::auth {
namespace {

// RFC 6238 Appendix B: 8-digit TOTP, 30 s steps, one seed per hash.
struct Vector {
  std::int64_t t;
  const char* sha1;
  const char* sha256;
  const char* sha512;
};
constexpr Vector kRfc6238[] = {
    {59, "94287082", "46119246", "90693936"},
    {1111111109, "07081804", "68084774", "25091201"},
    {1111111111, "14050471", "67062674", "99943326"},
    {1234567890, "89005924", "91819424", "93441116"},
    {2000000000, "69279037", "90698825", "38618901"},
    {20000000000, "65353130", "77737706", "47863826"},
};

TEST(Totp, Rfc6238AppendixBVectors) {
  const std::string seed20 = "12345678901234567890";
  const std::string seed32 = "12345678901234567890123456789012";
  const std::string seed64 = "1234567890123456789012345678901234567890123456789012345678901234";
  for (const auto& v : kRfc6238) {
    auto step = totp_step(v.t);
    EXPECT_EQ(hotp(seed20, step, 8, TotpHash::sha1), v.sha1) << v.t;
    EXPECT_EQ(hotp(seed32, step, 8, TotpHash::sha256), v.sha256) << v.t;
    EXPECT_EQ(hotp(seed64, step, 8, TotpHash::sha512), v.sha512) << v.t;
  }
}

TEST(Totp, Rfc4226HotpVectors) {
  const char* expected[] = {"755224", "287082", "359152", "969429", "338314",
                            "254676", "287922", "162583", "399871", "520489"};
  for (std::uint64_t c = 0; c < 10; ++c)
    EXPECT_EQ(hotp("12345678901234567890", c, 6, TotpHash::sha1), expected[c]) << c;
}

TEST(Totp, MatchAcceptsOneStepEitherSideOnly) {
  const std::string key = "12345678901234567890";
  std::int64_t now = 1'700'000'000;
  auto step = totp_step(now);
  EXPECT_EQ(totp_match(key, hotp(key, step, 6, TotpHash::sha1), now), step);
  EXPECT_EQ(totp_match(key, hotp(key, step - 1, 6, TotpHash::sha1), now), step - 1);
  EXPECT_EQ(totp_match(key, hotp(key, step + 1, 6, TotpHash::sha1), now), step + 1);
  EXPECT_FALSE(totp_match(key, hotp(key, step + 2, 6, TotpHash::sha1), now));
  EXPECT_FALSE(totp_match(key, hotp(key, step - 2, 6, TotpHash::sha1), now));
  EXPECT_FALSE(totp_match(key, "12345", now));
}

TEST(Base32, RoundTripsRfc4648Examples) {
  EXPECT_EQ(base32_encode("foobar"), "MZXW6YTBOI");
  EXPECT_EQ(base32_encode("f"), "MY");
  EXPECT_EQ(*base32_decode("MZXW6YTBOI======"), "foobar");
  EXPECT_EQ(*base32_decode("mzxw6ytboi"), "foobar");
  EXPECT_FALSE(base32_decode("MZ1W"));
}

TEST(AccessToken, SignVerifyAndRefuseTamperingExpiryAndOtherKeys) {
  init_crypto();
  AccessTokenSigner signer("k1", AccessTokenSigner::generate_secret_key());
  auto token = signer.sign({"U1", "S1", 1000, 5000});
  auto claims = signer.verify(token, 2000);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->user_id, "U1");
  EXPECT_EQ(claims->session_id, "S1");
  EXPECT_FALSE(signer.verify(token, 5000));  // expired
  std::string tampered = token;
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(signer.verify(tampered, 2000));
  std::string badsig = token;
  badsig.back() = badsig.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(signer.verify(badsig, 2000));
  AccessTokenSigner other("k1", AccessTokenSigner::generate_secret_key());
  EXPECT_FALSE(other.verify(token, 2000));
  EXPECT_FALSE(signer.verify("v2" + token.substr(2), 2000));
  EXPECT_FALSE(signer.verify("", 2000));
  EXPECT_FALSE(signer.verify("v1..", 2000));
}

TEST(Password, Argon2idHashVerifyAndRehash) {
  init_crypto();
  PasswordHasher h({2, 19 * 1024 * 1024});
  auto hash = h.hash("correct horse");
  ASSERT_TRUE(hash);
  EXPECT_EQ(hash->rfind("$argon2id$", 0), 0u);
  EXPECT_NE(hash->find("m=19456,t=2"), std::string::npos);
  EXPECT_TRUE(h.verify(*hash, "correct horse"));
  EXPECT_FALSE(h.verify(*hash, "correct horsE"));
  EXPECT_FALSE(h.needs_rehash(*hash));
  PasswordHasher stronger({3, 19 * 1024 * 1024});
  EXPECT_TRUE(stronger.needs_rehash(*hash));
  PasswordHasher weak({1, 1024});  // clamped up to OWASP's minimum
  EXPECT_NE(weak.hash("x")->find("m=19456,t=2"), std::string::npos);
}

class AuthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init_crypto();
    dir = std::filesystem::temp_directory_path() /
          ("parley-auth-test-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    db = std::move(*sqlite::Database::open((dir / "db").string()));
    user_store = std::move(*sqlite::make_user_store(*db));
    auth_store = std::move(*sqlite::make_auth_store(*db));
    bus = adapters::make_in_process_bus();
    users = std::make_unique<users::UserService>(*user_store, clock);
    svc = std::make_unique<AuthService>(*auth_store, *users, *bus, clock, AuthOptions{});
    ASSERT_TRUE(svc->init());
  }
  void TearDown() override {
    svc.reset();
    db->stop();
    std::filesystem::remove_all(dir);
  }
  std::string code_now(const std::string& b32, int step_offset = 0) {
    return hotp(*base32_decode(b32), totp_step(clock.now_ms() / 1000) + step_offset, 6,
                TotpHash::sha1);
  }

  std::filesystem::path dir;
  FakeClock clock;
  std::unique_ptr<sqlite::Database> db;
  std::unique_ptr<users::UserStore> user_store;
  std::unique_ptr<AuthStore> auth_store;
  std::unique_ptr<Bus> bus;
  std::unique_ptr<users::UserService> users;
  std::unique_ptr<AuthService> svc;
};

TEST_F(AuthServiceTest, RegisterLoginAuthenticate) {
  auto reg =
      svc->register_user({"Dora", "password1", std::nullopt, std::nullopt, std::string("cli")});
  ASSERT_TRUE(reg) << reg.error().message;
  EXPECT_EQ(reg->tokens.expires_in_s, 900);
  auto p = svc->authenticate(reg->tokens.access_token);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->user_id, reg->user.id);
  auto login = svc->login({"dora", "password1", std::nullopt, std::nullopt});
  ASSERT_TRUE(login);
  EXPECT_NE(login->session_id, reg->session_id);
  EXPECT_EQ(svc->register_user({"dora", "password2", {}, {}, {}}).error().code,
            Errc::already_exists);
}

// Another node revoked a session while the bus was cut off: the revocation event never came.
// The bus then reports a gap, and the session is checked against the store again.
TEST_F(AuthServiceTest, ABusGapForgetsSessionsBelievedActive) {
  auto reg = svc->register_user({"gap", "password1", std::nullopt, std::nullopt, {}});
  ASSERT_TRUE(reg);
  ASSERT_TRUE(svc->authenticate(reg->tokens.access_token));  // cached as active
  ASSERT_TRUE(auth_store->revoke_session(reg->user.id, reg->session_id, clock.now_ms()));
  EXPECT_TRUE(svc->authenticate(reg->tokens.access_token)) << "served from the cache";
  bus->publish(kBusGapTopic, "");
  auto after = svc->authenticate(reg->tokens.access_token);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, Errc::unauthenticated);
}

TEST_F(AuthServiceTest, WrongPasswordAndUnknownUserLookTheSame) {
  ASSERT_TRUE(svc->register_user({"erin", "password1", {}, {}, {}}));
  auto wrong = svc->login({"erin", "password2", {}, {}});
  auto unknown = svc->login({"nobody", "password1", {}, {}});
  ASSERT_FALSE(wrong);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(wrong.error().code, Errc::unauthenticated);
  EXPECT_EQ(unknown.error().code, Errc::unauthenticated);
  EXPECT_EQ(wrong.error().message, unknown.error().message);
}

TEST_F(AuthServiceTest, ShortPasswordRefusedAndNothingStored) {
  auto r = svc->register_user({"fred", "short", {}, {}, {}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "password");
  EXPECT_EQ(users->find_by_username("fred").error().code, Errc::not_found);
}

TEST_F(AuthServiceTest, AccessTokenExpires) {
  auto reg = *svc->register_user({"gina", "password1", {}, {}, {}});
  clock.advance_ms(15 * 60 * 1000);
  EXPECT_EQ(svc->authenticate(reg.tokens.access_token).error().code, Errc::unauthenticated);
}

TEST_F(AuthServiceTest, RefreshRotatesAndReuseRevokesTheSessionAndPublishes) {
  std::vector<std::string> revoked;
  auto sub = bus->subscribe(kSessionRevokedTopic,
                            [&](std::string_view sid) { revoked.emplace_back(sid); });
  auto reg = *svc->register_user({"hank", "password1", {}, {}, {}});
  auto t2 = svc->refresh(reg.tokens.refresh_token);
  ASSERT_TRUE(t2);
  EXPECT_NE(t2->refresh_token, reg.tokens.refresh_token);
  ASSERT_TRUE(svc->authenticate(t2->access_token));
  auto reuse = svc->refresh(reg.tokens.refresh_token);
  ASSERT_FALSE(reuse);
  EXPECT_EQ(reuse.error().code, Errc::unauthenticated);
  EXPECT_EQ(revoked, std::vector<std::string>{reg.session_id});
  EXPECT_FALSE(svc->authenticate(t2->access_token));
  EXPECT_FALSE(svc->authenticate(reg.tokens.access_token));
  EXPECT_FALSE(svc->refresh(t2->refresh_token));
}

TEST_F(AuthServiceTest, RevokeSessionOnlyOwnAndAtOnce) {
  auto a = *svc->register_user({"ivan", "password1", {}, {}, {}});
  auto a2 = *svc->login({"ivan", "password1", {}, std::string("phone")});
  auto b = *svc->register_user({"jane", "password1", {}, {}, {}});
  Principal pa{a.user.id, a.session_id};
  Principal pb{b.user.id, b.session_id};
  EXPECT_EQ(svc->revoke_session(pb, a2.session_id).error().code, Errc::not_found);
  auto list = svc->sessions(pa);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ(std::count_if(list->begin(), list->end(), [](auto& s) { return s.current; }), 1);
  ASSERT_TRUE(svc->authenticate(a2.tokens.access_token));  // cached as active
  ASSERT_TRUE(svc->revoke_session(pa, a2.session_id));
  EXPECT_FALSE(svc->authenticate(a2.tokens.access_token));
  EXPECT_TRUE(svc->authenticate(a.tokens.access_token));
  ASSERT_TRUE(svc->logout(pa));
  EXPECT_FALSE(svc->authenticate(a.tokens.access_token));
}

TEST_F(AuthServiceTest, TotpEnableLoginReplayRecoveryDisable) {
  auto reg = *svc->register_user({"kate", "password1", {}, {}, {}});
  Principal p{reg.user.id, reg.session_id};
  EXPECT_EQ(svc->totp_enable(p, "123456").error().code, Errc::failed_precondition);
  auto setup = svc->totp_setup(p);
  ASSERT_TRUE(setup);
  EXPECT_EQ(setup->otpauth_uri.rfind("otpauth://totp/Parley:kate?secret=", 0), 0u);
  auto wrong = svc->totp_enable(p, code_now(setup->secret_base32, 5));
  EXPECT_EQ(wrong.error().field, "code");
  auto codes = svc->totp_enable(p, code_now(setup->secret_base32));
  ASSERT_TRUE(codes);
  EXPECT_EQ(codes->size(), 10u);
  EXPECT_EQ(svc->totp_setup(p).error().code, Errc::failed_precondition);

  EXPECT_EQ(svc->login({"kate", "password1", {}, {}}).error().code, Errc::second_factor_required);
  // The enabling code's step is spent; the next step's code works once.
  EXPECT_EQ(svc->login({"kate", "password1", code_now(setup->secret_base32), {}}).error().code,
            Errc::second_factor_required);
  auto next = code_now(setup->secret_base32, 1);
  EXPECT_TRUE(svc->login({"kate", "password1", next, {}}));
  EXPECT_FALSE(svc->login({"kate", "password1", next, {}}));
  // Wrong password with a good code is still plain unauthenticated.
  EXPECT_EQ(svc->login({"kate", "wrongpass", (*codes)[0], {}}).error().code, Errc::unauthenticated);
  EXPECT_TRUE(svc->login({"kate", "password1", (*codes)[0], {}}));
  EXPECT_FALSE(svc->login({"kate", "password1", (*codes)[0], {}}));
  std::string upper = (*codes)[1];
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(svc->login({"kate", "password1", upper, {}}));

  clock.advance_ms(60'000);
  EXPECT_EQ(svc->totp_disable(p, "000000").error().code, Errc::invalid_argument);
  ASSERT_TRUE(svc->totp_disable(p, code_now(setup->secret_base32)));
  EXPECT_TRUE(svc->login({"kate", "password1", {}, {}}));
}

TEST_F(AuthServiceTest, SensitiveChangesNeedARecentCredentialCheck) {
  auto reg = *svc->register_user({"mona", "password1", {}, {}, {}});
  auto other = *svc->login({"mona", "password1", {}, std::string("phone")});
  Principal p{reg.user.id, reg.session_id};
  ASSERT_TRUE(svc->totp_setup(p)) << "just signed in";
  clock.advance_ms(10 * 60 * 1000 + 1);
  EXPECT_EQ(svc->totp_setup(p).error().code, Errc::reauth_required);
  EXPECT_EQ(svc->totp_disable(p, "123456").error().code, Errc::reauth_required);
  EXPECT_EQ(svc->revoke_session(p, other.session_id).error().code, Errc::reauth_required);
  EXPECT_EQ(svc->reauthenticate(p, std::string("wrongpass"), {}).error().field, "password");
  EXPECT_EQ(svc->reauthenticate(p, {}, std::string("123456")).error().field, "totp_code")
      << "no 2FA: a code cannot stand in for the password";
  ASSERT_TRUE(svc->reauthenticate(p, std::string("password1"), {}));
  EXPECT_TRUE(svc->totp_setup(p));
  EXPECT_TRUE(svc->revoke_session(p, other.session_id));
  EXPECT_TRUE(svc->logout(p)) << "ending one's own session never needs it";
}

TEST_F(AuthServiceTest, PasswordChangeEndsEveryOtherSessionAndLogoutAllEndsThemAll) {
  std::vector<std::string> revoked;
  auto sub = bus->subscribe(kSessionRevokedTopic,
                            [&](std::string_view sid) { revoked.emplace_back(sid); });
  auto a = *svc->register_user({"nina", "password1", {}, {}, {}});
  auto b = *svc->login({"nina", "password1", {}, std::string("phone")});
  auto c = *svc->login({"nina", "password1", {}, std::string("tablet")});
  Principal pa{a.user.id, a.session_id};
  EXPECT_EQ(svc->change_password(pa, "wrongpass", "password2").error().field, "current_password");
  EXPECT_EQ(svc->change_password(pa, "password1", "short").error().field, "password");
  ASSERT_TRUE(svc->change_password(pa, "password1", "password2"));
  std::sort(revoked.begin(), revoked.end());
  std::vector<std::string> expected{b.session_id, c.session_id};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(revoked, expected);
  EXPECT_FALSE(svc->authenticate(b.tokens.access_token));
  EXPECT_FALSE(svc->refresh(c.tokens.refresh_token));
  EXPECT_TRUE(svc->authenticate(a.tokens.access_token)) << "the session that changed it stays";
  EXPECT_EQ(svc->login({"nina", "password1", {}, {}}).error().code, Errc::unauthenticated);
  auto d = *svc->login({"nina", "password2", {}, {}});
  revoked.clear();
  ASSERT_TRUE(svc->logout_all(pa));
  EXPECT_EQ(revoked.size(), 2u);
  EXPECT_FALSE(svc->authenticate(a.tokens.access_token));
  EXPECT_FALSE(svc->authenticate(d.tokens.access_token));
}

TEST_F(AuthServiceTest, RecoveryCodesAreStoredUnderAKeyedHash) {
  auto reg = *svc->register_user({"owen", "password1", {}, {}, {}});
  Principal p{reg.user.id, reg.session_id};
  auto setup = *svc->totp_setup(p);
  auto codes = *svc->totp_enable(p, code_now(setup.secret_base32));
  // A plain hash of a code is not what the store holds: a stolen database alone cannot test
  // guesses. The keyed hash is, and it is spent once.
  std::string plain = codes[0];
  plain.erase(std::remove(plain.begin(), plain.end(), '-'), plain.end());
  EXPECT_EQ(auth_store->consume_recovery_code(reg.user.id, sha256(plain)), false);
  EXPECT_TRUE(svc->login({"owen", "password1", codes[0], {}}));
  EXPECT_FALSE(svc->login({"owen", "password1", codes[0], {}}));
}

TEST_F(AuthServiceTest, SessionExpiryFollowsRefreshAndRevocation) {
  auto reg = *svc->register_user({"pia", "password1", {}, {}, {}});
  auto first = svc->session_expiry(reg.session_id);
  ASSERT_TRUE(first);
  EXPECT_EQ(*first, clock.now_ms() + AuthOptions{}.refresh_ttl_ms);
  clock.advance_ms(1000);
  ASSERT_TRUE(svc->refresh(reg.tokens.refresh_token));
  EXPECT_EQ(*svc->session_expiry(reg.session_id), *first + 1000) << "a refresh moves it on";
  clock.advance_ms(AuthOptions{}.refresh_ttl_ms + 1);
  EXPECT_EQ(svc->session_expiry(reg.session_id).error().code, Errc::unauthenticated);
}

TEST_F(AuthServiceTest, SigningKeySurvivesRestart) {
  auto reg = *svc->register_user({"liam", "password1", {}, {}, {}});
  AuthService again(*auth_store, *users, *bus, clock, AuthOptions{});
  ASSERT_TRUE(again.init());
  EXPECT_TRUE(again.authenticate(reg.tokens.access_token));
}

}  // namespace
}  // namespace parley::auth
