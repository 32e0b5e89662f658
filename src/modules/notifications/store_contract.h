// The contract every NotificationStore implementation must pass (see jobs/store_contract.h for
// how an adapter instantiates one). Each test gets a fresh, empty store.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>

#include "modules/messaging/store.h"
#include "modules/notifications/store.h"

namespace parley::notifications {

// The store, and the messaging store of the same database (eager_members reads its members).
struct StoreFixture {
  std::shared_ptr<NotificationStore> store;
  std::shared_ptr<messaging::MessagingStore> messaging;
};
using StoreFixtureFactory = std::function<StoreFixture()>;
inline void PrintTo(const StoreFixtureFactory&, std::ostream* os) { *os << "store"; }

class NotificationStoreContract : public ::testing::TestWithParam<StoreFixtureFactory> {
 protected:
  void SetUp() override {
    auto f = GetParam()();
    if (IsSkipped()) return;
    ASSERT_TRUE(f.store && f.messaging);
    store = std::move(f.store);
    messaging = std::move(f.messaging);
  }
  // A channel with these members.
  void channel(const std::string& id, const std::vector<std::string>& members) {
    messaging::Conversation c;
    c.id = id;
    c.type = messaging::ConversationType::channel;
    c.name = "n" + id;
    c.visibility = messaging::Visibility::public_;
    c.created_by = members.at(0);
    c.created_at = 1000;
    std::vector<messaging::Member> m;
    for (const auto& u : members) m.push_back({u, messaging::Role::member, 1000});
    ASSERT_TRUE(messaging->create_conversation(c, m));
  }
  static PushSubscription sub(const std::string& id, const std::string& user,
                              const std::string& endpoint) {
    PushSubscription s;
    s.id = id;
    s.user_id = user;
    s.endpoint = endpoint;
    s.p256dh = "p-" + id;
    s.auth = "a-" + id;
    s.device_name = "Phone " + id;
    s.created_at = 1'000;
    return s;
  }
  std::shared_ptr<NotificationStore> store;
  std::shared_ptr<messaging::MessagingStore> messaging;
};

TEST_P(NotificationStoreContract, SettingsRoundTripAndDefaultToNone) {
  auto none = store->settings("u1");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  UserSettings s;
  s.push = "all";
  s.email = "none";
  s.email_delay_minutes = 42;
  s.quiet_hours = QuietHours{"22:00", "07:30", "Europe/Paris"};
  s.keywords = {"deploy", "release train"};
  s.push_previews = false;
  ASSERT_TRUE(store->put_settings("u1", s));
  auto got = store->settings("u1");
  ASSERT_TRUE(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, s);
  s.quiet_hours.reset();
  s.keywords.clear();
  ASSERT_TRUE(store->put_settings("u1", s));
  EXPECT_EQ(**store->settings("u1"), s);
  EXPECT_FALSE(store->settings("u2")->has_value());
}

TEST_P(NotificationStoreContract, ConversationSettingsArePerUserAndConversation) {
  EXPECT_EQ(*store->conversation_settings("u1", "c1"), ConversationSettings{});
  ASSERT_TRUE(store->put_conversation_settings("u1", "c1", {"none", 5'000}));
  ASSERT_TRUE(store->put_conversation_settings("u1", "c2", {"all", std::nullopt}));
  EXPECT_EQ(*store->conversation_settings("u1", "c1"), (ConversationSettings{"none", 5'000}));
  EXPECT_EQ(*store->conversation_settings("u1", "c2"), (ConversationSettings{"all", std::nullopt}));
  EXPECT_EQ(*store->conversation_settings("u2", "c1"), ConversationSettings{});
  ASSERT_TRUE(store->put_conversation_settings("u1", "c1", {"mentions", std::nullopt}));
  EXPECT_EQ(*store->conversation_settings("u1", "c1"),
            (ConversationSettings{"mentions", std::nullopt}));
}

// What a message's fan-out reads for a page of members: only saved rows come back, each under
// its user, and only the overrides of the conversation asked about.
TEST_P(NotificationStoreContract, SettingsOfManyUsersInOneRead) {
  UserSettings a;
  a.push = "all";
  a.keywords = {"ship", "on call"};
  UserSettings b;
  b.push = "none";
  b.quiet_hours = QuietHours{"23:00", "06:00", "UTC"};
  ASSERT_TRUE(store->put_settings("u1", a));
  ASSERT_TRUE(store->put_settings("u2", b));
  ASSERT_TRUE(store->put_settings("u9", b));  // not asked for
  auto got = store->settings_of({"u1", "u2", "u3"});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), 2u);
  EXPECT_EQ(got->at("u1"), a);
  EXPECT_EQ(got->at("u2"), b);
  EXPECT_TRUE(store->settings_of({})->empty());

  ASSERT_TRUE(store->put_conversation_settings("u1", "c1", {"none", 7'000}));
  ASSERT_TRUE(store->put_conversation_settings("u2", "c2", {"all", std::nullopt}));
  ASSERT_TRUE(store->put_conversation_settings("u3", "c1", {"mentions", std::nullopt}));
  auto over = store->conversation_settings_of("c1", {"u1", "u2", "u3", "u4"});
  ASSERT_TRUE(over);
  EXPECT_EQ(over->size(), 2u);
  EXPECT_EQ(over->at("u1"), (ConversationSettings{"none", 7'000}));
  EXPECT_EQ(over->at("u3"), (ConversationSettings{"mentions", std::nullopt}));
  EXPECT_FALSE(over->contains("u2"));  // an override of another conversation
}

// Members whose settings ask for more than mentions, and only members of that conversation.
TEST_P(NotificationStoreContract, EagerMembersAreThoseAskingForMoreThanMentions) {
  channel("C1", {"u1", "u2", "u3", "u4", "u5", "u6"});
  channel("C2", {"u1", "u7"});
  UserSettings all;
  all.push = "all";
  UserSettings mail;
  mail.email = "all";
  UserSettings words;
  words.keywords = {"deploy"};
  UserSettings plain;  // saved, but the default levels
  plain.push_previews = false;
  ASSERT_TRUE(store->put_settings("u1", all));
  ASSERT_TRUE(store->put_settings("u2", mail));
  ASSERT_TRUE(store->put_settings("u3", words));
  ASSERT_TRUE(store->put_settings("u4", plain));
  ASSERT_TRUE(store->put_settings("u9", all));  // in no conversation
  ASSERT_TRUE(store->put_conversation_settings("u5", "C1", {"all", std::nullopt}));
  ASSERT_TRUE(store->put_conversation_settings("u6", "C2", {"all", std::nullopt}));  // not in C2
  ASSERT_TRUE(store->put_conversation_settings("u7", "C1", {"all", std::nullopt}));  // not in C1
  auto eager = store->eager_members("C1");
  ASSERT_TRUE(eager);
  std::sort(eager->begin(), eager->end());
  EXPECT_EQ(*eager, (std::vector<std::string>{"u1", "u2", "u3", "u5"}));
  auto other = store->eager_members("C2");
  ASSERT_TRUE(other);
  EXPECT_EQ(*other, (std::vector<std::string>{"u1"}));
  EXPECT_TRUE(store->eager_members("C9")->empty());
}

TEST_P(NotificationStoreContract, SubscriptionsAreOwnedAndEndpointsUnique) {
  auto a = store->add_subscription(sub("s1", "u1", "https://push.example/a"));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->id, "s1");
  ASSERT_TRUE(store->add_subscription(sub("s2", "u1", "https://push.example/b")));
  // The same browser subscribes again (new keys, perhaps another account): one row, same id.
  auto again = store->add_subscription(sub("s3", "u2", "https://push.example/a"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, "s1");
  EXPECT_EQ(again->user_id, "u2");
  EXPECT_EQ(again->p256dh, "p-s3");
  auto mine = store->subscriptions_of("u1");
  ASSERT_TRUE(mine);
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0].id, "s2");
  EXPECT_EQ((*mine)[0].device_name, "Phone s2");
  EXPECT_TRUE((*mine)[0].enabled);

  EXPECT_FALSE(store->set_subscription_enabled("u2", "s2", false)->has_value()) << "not theirs";
  auto off = store->set_subscription_enabled("u1", "s2", false);
  ASSERT_TRUE(off);
  ASSERT_TRUE(off->has_value());
  EXPECT_FALSE((*off)->enabled);
  EXPECT_FALSE((*store->subscriptions_of("u1"))[0].enabled);

  EXPECT_FALSE(*store->remove_subscription("u1", "s1")) << "s1 now belongs to u2";
  EXPECT_TRUE(*store->remove_subscription("u1", "s2"));
  EXPECT_FALSE(*store->remove_subscription("u1", "s2"));
  EXPECT_TRUE(*store->remove_endpoint("https://push.example/a"));
  EXPECT_FALSE(*store->remove_endpoint("https://push.example/a"));
  EXPECT_TRUE(store->subscriptions_of("u2")->empty());
}

TEST_P(NotificationStoreContract, DigestMarksOnlyRiseAndArePerUser) {
  ASSERT_TRUE(store->digest_marks("u1"));
  EXPECT_TRUE(store->digest_marks("u1")->empty());
  ASSERT_TRUE(store->raise_digest_marks("u1", {{"c1", 5}, {"c2", 9}}));
  ASSERT_TRUE(store->raise_digest_marks("u2", {{"c1", 2}}));
  ASSERT_TRUE(store->raise_digest_marks("u1", {{"c1", 7}, {"c2", 3}}));  // c2 stays at 9
  ASSERT_TRUE(store->raise_digest_marks("u1", {}));
  using Marks = std::map<std::string, std::int64_t>;
  EXPECT_EQ(*store->digest_marks("u1"), (Marks{{"c1", 7}, {"c2", 9}}));
  EXPECT_EQ(*store->digest_marks("u2"), (Marks{{"c1", 2}}));
}

}  // namespace parley::notifications
