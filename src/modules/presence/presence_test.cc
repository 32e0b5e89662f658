// The in-memory PresenceStore: socket counts, the grace stamp, chosen and shown status.
#include <gtest/gtest.h>

#include "modules/presence/store.h"

namespace parley::presence {
namespace {

TEST(InMemoryPresenceStore, CountsSocketsAndStampsTheGraceWhenTheLastCloses) {
  auto store = make_in_memory_presence_store();
  EXPECT_EQ(store->add_socket("U1", +1, 1'000, 30'000)->sockets, 1);
  EXPECT_EQ(store->add_socket("U1", +1, 2'000, 30'000)->sockets, 2);
  auto one = store->add_socket("U1", -1, 3'000, 30'000);
  EXPECT_EQ(one->sockets, 1);
  EXPECT_EQ(one->grace_until, 0);  // still connected: no grace yet
  auto none = store->add_socket("U1", -1, 4'000, 30'000);
  EXPECT_EQ(none->sockets, 0);
  EXPECT_EQ(none->grace_until, 34'000);
  EXPECT_EQ(none->last_active_at, 4'000);
  EXPECT_EQ(store->add_socket("U1", -1, 5'000, 30'000)->sockets, 0);  // never below zero
}

TEST(InMemoryPresenceStore, KeepsChosenAndShownAndDefaultsUnknownUsers) {
  auto store = make_in_memory_presence_store();
  EXPECT_EQ(store->set_chosen("U1", "dnd", 7)->chosen, "dnd");
  ASSERT_TRUE(store->set_shown("U1", "dnd"));
  auto got = store->get({"U1", "U2"});
  ASSERT_TRUE(got);
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].chosen, "dnd");
  EXPECT_EQ((*got)[0].shown, "dnd");
  EXPECT_EQ((*got)[1].chosen, "online");
  EXPECT_EQ((*got)[1].shown, "offline");
  EXPECT_EQ((*got)[1].sockets, 0);
}

}  // namespace
}  // namespace parley::presence
