// The contract every ContactStore implementation must pass; instantiated by each adapter's tests.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "modules/contact/store.h"

namespace parley::contact {

using ContactStoreFactory = std::function<std::shared_ptr<ContactStore>()>;
inline void PrintTo(const ContactStoreFactory&, std::ostream* os) { *os << "store"; }

class ContactStoreContract : public ::testing::TestWithParam<ContactStoreFactory> {
 protected:
  void SetUp() override { store = GetParam()(); }
  std::shared_ptr<ContactStore> store;
};

TEST_P(ContactStoreContract, AnAddressIsPendingUntilVerifiedAndHasOneVerifiedOwner) {
  auto none = store->email("U1");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->email);
  EXPECT_FALSE(none->pending_email);
  ASSERT_TRUE(store->set_pending_email("U1", "Ann@Example.com"));
  EXPECT_EQ(store->email("U1")->pending_email.value_or(""), "Ann@Example.com");
  EXPECT_FALSE(store->email("U1")->email);
  EXPECT_FALSE(*store->user_by_email("ann@example.com"));  // pending addresses are nobody's

  ASSERT_TRUE(store->set_verified_email("U1", "Ann@Example.com", 500));
  auto e = store->email("U1");
  EXPECT_EQ(e->email.value_or(""), "Ann@Example.com");
  EXPECT_FALSE(e->pending_email);
  EXPECT_EQ(e->verified_at, 500);
  EXPECT_EQ(store->user_by_email("ann@EXAMPLE.com")->value_or(""), "U1");

  // A new pending address leaves the verified one in place.
  ASSERT_TRUE(store->set_pending_email("U1", "new@example.com"));
  EXPECT_EQ(store->email("U1")->email.value_or(""), "Ann@Example.com");
  // Another user cannot verify an address someone verified.
  auto taken = store->set_verified_email("U2", "ANN@example.com", 600);
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, Errc::already_exists);
  EXPECT_FALSE(store->email("U2")->email);
}

TEST_P(ContactStoreContract, AMailOptOutIsKeptWithTheAddress) {
  EXPECT_FALSE(store->email("U1")->mail_opt_out);
  ASSERT_TRUE(store->set_mail_opt_out("U1", true));  // before any address: a row of its own
  EXPECT_TRUE(store->email("U1")->mail_opt_out);
  ASSERT_TRUE(store->set_verified_email("U1", "a@x.io", 5));
  EXPECT_TRUE(store->email("U1")->mail_opt_out);
  ASSERT_TRUE(store->set_mail_opt_out("U1", false));
  EXPECT_FALSE(store->email("U1")->mail_opt_out);
  EXPECT_EQ(store->email("U1")->email.value_or(""), "a@x.io");
}

TEST_P(ContactStoreContract, ATokenIsRedeemedOnceBeforeItExpiresAndOnlyForItsPurpose) {
  ASSERT_TRUE(
      store->put_token({"h1", TokenPurpose::reset_password, "U1", "a@x.io", 100, 1000}, 100));
  auto wrong = store->redeem_token("h1", TokenPurpose::verify_email, 200);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, Errc::not_found);
  auto r = store->redeem_token("h1", TokenPurpose::reset_password, 200);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->user_id, "U1");
  EXPECT_EQ(r->email, "a@x.io");
  EXPECT_EQ(store->redeem_token("h1", TokenPurpose::reset_password, 300).error().code,
            Errc::not_found);

  ASSERT_TRUE(
      store->put_token({"h2", TokenPurpose::reset_password, "U1", "a@x.io", 100, 1000}, 100));
  EXPECT_EQ(store->redeem_token("h2", TokenPurpose::reset_password, 1000).error().code,
            Errc::not_found);  // expired

  // A row without a user (asked for an address nobody verified) never redeems.
  ASSERT_TRUE(store->put_token({"h3", TokenPurpose::reset_password, "", "b@x.io", 100, 1000}, 100));
  EXPECT_EQ(store->redeem_token("h3", TokenPurpose::reset_password, 200).error().code,
            Errc::not_found);
  EXPECT_EQ(store->redeem_token("unknown", TokenPurpose::reset_password, 200).error().code,
            Errc::not_found);
}

TEST_P(ContactStoreContract, DroppingTokensEndsTheUsersUnusedOnesOfThatPurposeOnly) {
  ASSERT_TRUE(store->put_token({"r1", TokenPurpose::reset_password, "U1", "a@x.io", 0, 9000}, 0));
  ASSERT_TRUE(store->put_token({"v1", TokenPurpose::verify_email, "U1", "a@x.io", 0, 9000}, 0));
  ASSERT_TRUE(store->put_token({"r2", TokenPurpose::reset_password, "U2", "b@x.io", 0, 9000}, 0));
  ASSERT_TRUE(store->drop_tokens("U1", TokenPurpose::reset_password));
  EXPECT_FALSE(store->redeem_token("r1", TokenPurpose::reset_password, 10));
  EXPECT_TRUE(store->redeem_token("v1", TokenPurpose::verify_email, 10));
  EXPECT_TRUE(store->redeem_token("r2", TokenPurpose::reset_password, 10));
}

TEST_P(ContactStoreContract, OldExpiredTokensAreDeletedWhenANewOneIsStored) {
  ASSERT_TRUE(store->put_token({"old", TokenPurpose::verify_email, "U1", "a@x.io", 0, 10}, 0));
  Millis day = 24 * 3600 * 1000;
  ASSERT_TRUE(
      store->put_token({"new", TokenPurpose::verify_email, "U1", "a@x.io", 0, 3 * day}, 2 * day));
  // Both would be unredeemable now anyway; the old row is gone, the new one still redeems.
  EXPECT_FALSE(store->redeem_token("old", TokenPurpose::verify_email, 5));
  EXPECT_TRUE(store->redeem_token("new", TokenPurpose::verify_email, 2 * day));
}

TEST_P(ContactStoreContract, APhoneCodeIsTriedAtMostMaxTimesAndConfirmedOnce) {
  EXPECT_FALSE(store->phone("U1")->pending_phone);
  auto none = store->attempt_phone_code("U1", 0, 5);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::failed_precondition);

  ASSERT_TRUE(store->set_pending_phone("U1", "+33612345678", "codehash", 1000));
  for (int i = 0; i < 3; ++i) {
    auto a = store->attempt_phone_code("U1", 10, 3);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->code_hash, "codehash");
    EXPECT_EQ(a->pending_phone, "+33612345678");
  }
  EXPECT_FALSE(store->attempt_phone_code("U1", 10, 3));  // the fourth try is refused

  // A fresh code resets the count; an expired one cannot be tried.
  ASSERT_TRUE(store->set_pending_phone("U1", "+33612345678", "code2", 1000));
  EXPECT_FALSE(store->attempt_phone_code("U1", 1000, 3));
  ASSERT_TRUE(store->attempt_phone_code("U1", 999, 3));
  EXPECT_EQ(store->confirm_phone("U1", "codehash", 999).error().code, Errc::failed_precondition);
  ASSERT_TRUE(store->confirm_phone("U1", "code2", 999));
  auto p = store->phone("U1");
  EXPECT_EQ(p->phone.value_or(""), "+33612345678");
  EXPECT_FALSE(p->pending_phone);
  EXPECT_EQ(p->verified_at, 999);
  EXPECT_FALSE(store->attempt_phone_code("U1", 999, 3));  // spent
}

TEST_P(ContactStoreContract, SmsNotificationsNeedAVerifiedNumber) {
  EXPECT_EQ(store->set_sms_notifications("U1", true).error().code, Errc::failed_precondition);
  ASSERT_TRUE(store->set_pending_phone("U1", "+14155550100", "c", 1000));
  EXPECT_EQ(store->set_sms_notifications("U1", true).error().code, Errc::failed_precondition);
  ASSERT_TRUE(store->attempt_phone_code("U1", 1, 5));
  ASSERT_TRUE(store->confirm_phone("U1", "c", 1));
  ASSERT_TRUE(store->set_sms_notifications("U1", true));
  EXPECT_TRUE(store->phone("U1")->sms_notifications);
  ASSERT_TRUE(store->remove_phone("U1"));
  EXPECT_FALSE(store->phone("U1")->phone);
  EXPECT_FALSE(store->phone("U1")->sms_notifications);
  EXPECT_EQ(store->remove_phone("U1").error().code, Errc::not_found);
}

TEST_P(ContactStoreContract, TheSecretKeyIsCreatedOnceAndKept) {
  auto a = store->secret_key("first-candidate");
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, "first-candidate");
  EXPECT_EQ(store->secret_key("second").value_or(""), "first-candidate");
}

}  // namespace parley::contact
