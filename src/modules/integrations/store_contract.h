// The contract every IntegrationStore implementation must pass; instantiated by each adapter's
// tests (SetUp only keeps the pointer, so a skipped backend may hand out none).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "modules/integrations/store.h"

namespace parley::integrations {

using IntegrationStoreFactory = std::function<std::shared_ptr<IntegrationStore>()>;
inline void PrintTo(const IntegrationStoreFactory&, std::ostream* os) { *os << "store"; }

class IntegrationStoreContract : public ::testing::TestWithParam<IntegrationStoreFactory> {
 protected:
  void SetUp() override { store = GetParam()(); }
  std::shared_ptr<IntegrationStore> store;
};

TEST_P(IntegrationStoreContract, BotsAndTokensRoundTripAndRevoke) {
  if (!store) GTEST_SKIP();
  ASSERT_TRUE(store->insert_bot({"B2", "O1", 200}));
  ASSERT_TRUE(store->insert_bot({"B1", "O1", 100}));
  ASSERT_TRUE(store->insert_bot({"B3", "O2", 100}));
  auto mine = store->bots_of("O1");
  ASSERT_TRUE(mine);
  ASSERT_EQ(mine->size(), 2u);
  EXPECT_EQ((*mine)[0].id, "B1") << "oldest first";
  EXPECT_EQ(store->find_bot("B3")->owner_id, "O2");
  EXPECT_EQ(store->find_bot("nope").error().code, Errc::not_found);

  TokenRecord t{"T1", "B1", "abcd", {"messages:read", "messages:write"}, 300, std::nullopt};
  ASSERT_TRUE(store->insert_token(t));
  ASSERT_TRUE(store->insert_token({"T2", "B1", "ef01", {"conversations:read"}, 400, std::nullopt}));
  auto got = store->find_token("T1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->secret_hash, "abcd");
  EXPECT_EQ(got->scopes, (std::vector<std::string>{"messages:read", "messages:write"}));
  EXPECT_FALSE(got->revoked_at);
  ASSERT_TRUE(store->revoke_token("T1", 500));
  ASSERT_TRUE(store->revoke_token("T1", 900)) << "a second revocation succeeds";
  EXPECT_EQ(store->find_token("T1")->revoked_at, 500) << "and keeps the first time";
  EXPECT_EQ(store->revoke_token("T9", 1).error().code, Errc::not_found);
  auto tokens = store->tokens_of("B1");
  ASSERT_TRUE(tokens);
  ASSERT_EQ(tokens->size(), 2u);
  EXPECT_EQ((*tokens)[1].id, "T2");

  ASSERT_TRUE(store->delete_bot("B1"));
  EXPECT_EQ(store->find_bot("B1").error().code, Errc::not_found);
  EXPECT_EQ(store->find_token("T2").error().code, Errc::not_found) << "tokens go with the bot";
  EXPECT_EQ(store->delete_bot("B1").error().code, Errc::not_found);
  EXPECT_TRUE(store->find_bot("B2"));
}

TEST_P(IntegrationStoreContract, WebhooksByConversation) {
  if (!store) GTEST_SKIP();
  ASSERT_TRUE(store->insert_incoming({"W1", "C1", "CI", "B1", "h1", "U1", 10}));
  ASSERT_TRUE(store->insert_incoming({"W2", "C2", "Alerts", "B2", "h2", "U1", 11}));
  auto in = store->incoming_of("C1");
  ASSERT_TRUE(in);
  ASSERT_EQ(in->size(), 1u);
  EXPECT_EQ((*in)[0].name, "CI");
  EXPECT_EQ((*in)[0].secret_hash, "h1");
  EXPECT_EQ(store->find_incoming("W2")->bot_id, "B2");
  ASSERT_TRUE(store->delete_incoming("W1"));
  EXPECT_EQ(store->find_incoming("W1").error().code, Errc::not_found);
  EXPECT_EQ(store->delete_incoming("W1").error().code, Errc::not_found);

  EXPECT_EQ(store->any_outgoing().value_or(true), false);
  ASSERT_TRUE(store->insert_outgoing(
      {"O1", "C1", "https://example.com/hook", {"message.created"}, "whsec_x", "U1", 10}));
  EXPECT_EQ(store->any_outgoing().value_or(false), true);
  auto out = store->outgoing_of("C1");
  ASSERT_TRUE(out);
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].events, (std::vector<std::string>{"message.created"}));
  EXPECT_EQ((*out)[0].secret, "whsec_x");
  EXPECT_TRUE(store->outgoing_of("C2")->empty());
  ASSERT_TRUE(store->delete_outgoing("O1"));
  EXPECT_EQ(store->find_outgoing("O1").error().code, Errc::not_found);
  EXPECT_EQ(store->any_outgoing().value_or(true), false);
}

TEST_P(IntegrationStoreContract, CommandTriggersAreUnique) {
  if (!store) GTEST_SKIP();
  ASSERT_TRUE(store->insert_command({"K2", "weather", "https://w.example/", "s1", "U1", 10}));
  ASSERT_TRUE(store->insert_command({"K1", "deploy", "https://d.example/", "s2", "U2", 11}));
  auto dup = store->insert_command({"K3", "weather", "https://x.example/", "s3", "U3", 12});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Errc::already_exists);
  EXPECT_EQ(store->find_command_by_trigger("weather")->id, "K2");
  EXPECT_EQ(store->find_command_by_trigger("nothing").error().code, Errc::not_found);
  auto all = store->commands();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].trigger, "deploy") << "by trigger";
  ASSERT_TRUE(store->delete_command("K2"));
  EXPECT_EQ(store->find_command("K2").error().code, Errc::not_found);
  EXPECT_TRUE(store->insert_command({"K4", "weather", "https://y.example/", "s4", "U1", 13}))
      << "a deleted command's trigger is free again";
}

}  // namespace parley::integrations
