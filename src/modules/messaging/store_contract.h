// The contract every MessagingStore implementation must pass. An adapter's test instantiates it:
//   INSTANTIATE_TEST_SUITE_P(Sqlite, MessagingStoreContract, testing::Values(&make_store));
#pragma once

#include <gtest/gtest.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "modules/messaging/store.h"

namespace parley::messaging {

using MessagingStoreFactory = std::function<std::shared_ptr<MessagingStore>()>;
// ctest names each parameterised case after its printed parameter: name it, not its bytes.
inline void PrintTo(const MessagingStoreFactory&, std::ostream* os) { *os << "store"; }

class MessagingStoreContract : public ::testing::TestWithParam<MessagingStoreFactory> {
 protected:
  void SetUp() override { store = GetParam()(); }

  Conversation channel(const std::string& id, const std::string& name,
                       Visibility v = Visibility::public_) {
    Conversation c;
    c.id = id;
    c.type = ConversationType::channel;
    c.name = name;
    c.visibility = v;
    c.created_by = "U1";
    c.created_at = 1000;
    return c;
  }
  NewMessage msg(const std::string& id, const std::string& cid, const std::string& sender,
                 const std::string& cmid, const std::string& text = "hello") {
    NewMessage m;
    m.id = id;
    m.conversation_id = cid;
    m.sender_id = sender;
    m.client_msg_id = cmid;
    m.text = text;
    m.created_at = 2000;
    return m;
  }
  std::shared_ptr<MessagingStore> store;
};

TEST_P(MessagingStoreContract, CreateAndViewWithMembership) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "general"),
                                         {{"U1", Role::owner, 1000}, {"U2", Role::member, 1000}}));
  auto v = store->view("C1", "U1", true);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->conversation.member_count, 2);
  ASSERT_TRUE(v->me);
  EXPECT_EQ(v->me->role, Role::owner);
  auto stranger = store->view("C1", "U9", true);
  ASSERT_TRUE(stranger);
  EXPECT_FALSE(stranger->me);
  EXPECT_EQ(store->view("nope", "U1", true).error().code, Errc::not_found);
}

TEST_P(MessagingStoreContract, ChannelNamesAreUniqueCaseInsensitively) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "General"), {{"U1", Role::owner, 1}}));
  auto r = store->create_conversation(channel("C2", "gENERAL"), {{"U1", Role::owner, 1}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::already_exists);
  EXPECT_FALSE(store->get_conversation("C2"));
}

TEST_P(MessagingStoreContract, OneDmPerPairInEitherOrder) {
  Conversation d;
  d.id = "D1";
  d.type = ConversationType::dm;
  d.created_by = "U1";
  auto first = store->find_or_create_dm(d, "U1", "U2");
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->second);
  d.id = "D2";
  auto again = store->find_or_create_dm(d, "U2", "U1");
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->second);
  EXPECT_EQ(again->first.id, "D1");
  EXPECT_EQ(again->first.member_count, 2);
}

TEST_P(MessagingStoreContract, AppendAssignsGapFreeSeqUnderConcurrency) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "c"), {{"U1", Role::owner, 1}}));
  constexpr int kThreads = 4, kEach = 50;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto id = "M" + std::to_string(t) + "_" + std::to_string(i);
        ASSERT_TRUE(store->append(msg(id, "C1", "U1", id)));
      }
    });
  for (auto& t : ts) t.join();
  auto page = store->history("C1", {std::nullopt, 0, 200}, "U1");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->messages.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(page->messages[i].seq, i + 1);
  EXPECT_EQ(store->get_conversation("C1")->last_seq, 200);
}

TEST_P(MessagingStoreContract, RepeatedClientMsgIdReturnsTheOriginal) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "c"),
                                         {{"U1", Role::owner, 1}, {"U2", Role::member, 1}}));
  auto a = store->append(msg("M1", "C1", "U1", "x", "first"));
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->created);
  auto b = store->append(msg("M2", "C1", "U1", "x", "second"));
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->created);
  EXPECT_EQ(b->message.id, "M1");
  EXPECT_EQ(b->message.text, "first");
  auto other = store->append(msg("M3", "C1", "U2", "x"));  // another sender may reuse it
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->created);
  EXPECT_EQ(other->message.seq, 2);
}

TEST_P(MessagingStoreContract, AttachmentsAndPreviewsAreKeptWithTheMessage) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "c"), {{"U1", Role::owner, 1}}));
  auto m = msg("M1", "C1", "U1", "x", "see https://example.org");
  Attachment f;
  f.id = "F1";
  f.name = "caf\xC3\xA9 \"plan\".pdf";
  f.size = 5'000'000'000;  // past 32 bits
  f.content_type = "application/pdf";
  f.sha256 = std::string(64, 'a');
  f.created_by = "U1";
  f.created_at = 1234;
  Attachment img = f;
  img.id = "F2";
  img.content_type = "image/png";
  img.width = 640;
  img.height = 480;
  img.has_thumbnail = true;
  m.attachments = {f, img};
  ASSERT_TRUE(store->append(m));
  auto got = store->get_message("M1", "U1");
  ASSERT_TRUE(got);
  ASSERT_EQ(got->attachments.size(), 2u);
  EXPECT_EQ(got->attachments[0].name, f.name);
  EXPECT_EQ(got->attachments[0].size, f.size);
  EXPECT_EQ(got->attachments[1].width, 640);
  EXPECT_TRUE(got->attachments[1].has_thumbnail);
  EXPECT_TRUE(got->previews.empty());

  auto set = store->set_previews("M1", {{"https://example.org", "Example", "A page", "", "Ex"}});
  ASSERT_TRUE(set);
  ASSERT_EQ(set->previews.size(), 1u);
  EXPECT_EQ(set->previews[0].title, "Example");
  auto page = store->history("C1", HistoryQuery{}, "U1");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->messages.size(), 1u);
  EXPECT_EQ(page->messages[0].previews.size(), 1u);
  EXPECT_EQ(page->messages[0].attachments.size(), 2u);

  // An edit changes the text the previews were of: they go.
  auto edited = store->edit("M1", "no links now", 3000);
  ASSERT_TRUE(edited);
  EXPECT_TRUE(edited->previews.empty());
  EXPECT_EQ(edited->attachments.size(), 2u);
  ASSERT_TRUE(store->remove_message("M1"));
  EXPECT_EQ(store->set_previews("M1", {}).error().code, Errc::failed_precondition);
  EXPECT_EQ(store->set_previews("nope", {}).error().code, Errc::not_found);
}

TEST_P(MessagingStoreContract, TranscriptsAreKeptWithTheAttachments) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "c"), {{"U1", Role::owner, 1}}));
  auto m = msg("M1", "C1", "U1", "x", "");
  Attachment voice;
  voice.id = "F1";
  voice.name = "voice.webm";
  voice.size = 1000;
  voice.content_type = "video/webm";
  voice.created_by = "U1";
  m.attachments = {voice};
  ASSERT_TRUE(store->append(m));
  auto files = m.attachments;
  files[0].transcript = AttachmentTranscript{"caf\xC3\xA9 at \"noon\"", "en", "pocketsphinx"};
  auto set = store->set_attachments("M1", files);
  ASSERT_TRUE(set);
  ASSERT_EQ(set->attachments.size(), 1u);
  ASSERT_TRUE(set->attachments[0].transcript);
  EXPECT_EQ(*set->attachments[0].transcript, *files[0].transcript);
  auto page = store->history("C1", HistoryQuery{}, "U1");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->messages.size(), 1u);
  ASSERT_TRUE(page->messages[0].attachments[0].transcript);
  EXPECT_EQ(page->messages[0].attachments[0].transcript->engine, "pocketsphinx");
  EXPECT_EQ(page->messages[0].attachments[0].name, "voice.webm");
  ASSERT_TRUE(store->remove_message("M1"));
  EXPECT_EQ(store->set_attachments("M1", files).error().code, Errc::failed_precondition);
  EXPECT_EQ(store->set_attachments("nope", files).error().code, Errc::not_found);
}

TEST_P(MessagingStoreContract, AppendByANonMemberInsertsNothing) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "c"),
                                         {{"U1", Role::owner, 1}, {"U2", Role::member, 1}}));
  ASSERT_TRUE(store->append(msg("M1", "C1", "U2", "a")));
  ASSERT_TRUE(store->remove_member("C1", "U2"));
  auto r = store->append(msg("M2", "C1", "U2", "b"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::not_found);
  auto retried = store->append(msg("M9", "C1", "U2", "a"));
  ASSERT_TRUE(retried) << "a retried send still answers with its original";
  EXPECT_EQ(retried->message.id, "M1");
  EXPECT_FALSE(store->append(msg("M3", "C1", "U3", "c"))) << "never a member";
  auto next = store->append(msg("M4", "C1", "U1", "d"));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->message.seq, 2) << "refused sends took no seq";
}

// Sends queued together (a batch on PostgreSQL, a commit group on SQLite) settle each on its
// own: a retry answers with its original, a non-member's send fails, and the rest are stored
// in the order they were queued, with gap-free seqs.
TEST_P(MessagingStoreContract, AsyncAppendsQueuedTogetherSettleEachOnItsOwn) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "c"),
                                         {{"U1", Role::owner, 1}, {"U2", Role::member, 1}}));
  ASSERT_TRUE(store->append(msg("M0", "C1", "U1", "first")));
  constexpr int kSends = 40;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<Result<Appended>>> results(kSends);
  int settled = 0;
  for (int i = 0; i < kSends; ++i) {
    NewMessage m = msg("A" + std::to_string(i), "C1", i % 2 ? "U2" : "U1", "a" + std::to_string(i));
    if (i == 10) m = msg("A10", "C1", "U1", "first");  // a retry of M0
    if (i == 20) m = msg("A20", "C1", "U9", "x");      // never a member
    store->append_async(m, [&, i](Result<Appended> r) {
      std::lock_guard lock(mu);
      results[static_cast<std::size_t>(i)] = std::move(r);
      ++settled;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return settled == kSends; }));
  std::int64_t next_seq = 2;
  for (int i = 0; i < kSends; ++i) {
    const auto& r = *results[static_cast<std::size_t>(i)];
    if (i == 10) {
      ASSERT_TRUE(r);
      EXPECT_FALSE(r->created);
      EXPECT_EQ(r->message.id, "M0");
    } else if (i == 20) {
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().code, Errc::not_found);
    } else {
      ASSERT_TRUE(r) << i << ": " << r.error().message;
      EXPECT_TRUE(r->created);
      EXPECT_EQ(r->message.seq, next_seq++) << "send " << i;
    }
  }
}

TEST_P(MessagingStoreContract, PublicChannelNamesAreUniqueAndPrivateOnesFree) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "secret", Visibility::private_),
                                         {{"U1", Role::owner, 1}}));
  EXPECT_TRUE(store->create_conversation(channel("C2", "Secret", Visibility::private_),
                                         {{"U2", Role::owner, 1}}))
      << "a private name clashes with nothing";
  ASSERT_TRUE(store->create_conversation(channel("C3", "SECRET"), {{"U3", Role::owner, 1}}))
      << "nor does a public channel learn of a private one";
  auto dup = store->create_conversation(channel("C4", "secret"), {{"U4", Role::owner, 1}});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, Errc::already_exists);
  EXPECT_TRUE(store->update_conversation("C1", std::string("Secret"), std::nullopt))
      << "renaming a private channel to a public name is allowed";
  EXPECT_EQ(store->update_conversation("C3", std::string("secret"), std::nullopt)->name, "secret");
}

TEST_P(MessagingStoreContract, BadThreadRootInsertsNothing) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "c"), {{"U1", Role::owner, 1}}));
  auto root = store->append(msg("M1", "C1", "U1", "a"));
  ASSERT_TRUE(root);
  auto reply_in = msg("M2", "C1", "U1", "b");
  reply_in.thread_root_id = "M1";
  ASSERT_TRUE(store->append(reply_in));
  auto nested = msg("M3", "C1", "U1", "c");
  nested.thread_root_id = "M2";  // a reply cannot be a root
  auto r = store->append(nested);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::invalid_argument);
  EXPECT_EQ(store->get_conversation("C1")->last_seq, 2);
  EXPECT_EQ(store->get_message("M1", "U1")->reply_count, 1);
  auto replies = store->replies("M1", 0, 10, "U1");
  ASSERT_TRUE(replies);
  ASSERT_EQ(replies->messages.size(), 1u);
  EXPECT_EQ(replies->messages[0].id, "M2");
}

TEST_P(MessagingStoreContract, HistoryPagesBothWays) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "c"), {{"U1", Role::owner, 1}}));
  for (int i = 1; i <= 10; ++i)
    ASSERT_TRUE(store->append(msg("M" + std::to_string(i), "C1", "U1", std::to_string(i))));
  auto latest = store->history("C1", {std::nullopt, std::nullopt, 3}, "U1");
  ASSERT_TRUE(latest);
  ASSERT_EQ(latest->messages.size(), 3u);
  EXPECT_EQ(latest->messages.front().seq, 8);
  EXPECT_TRUE(latest->has_more);
  auto older = store->history("C1", {8, std::nullopt, 10}, "U1");
  EXPECT_EQ(older->messages.size(), 7u);
  EXPECT_FALSE(older->has_more);
  auto newer = store->history("C1", {std::nullopt, 8, 10}, "U1");
  ASSERT_EQ(newer->messages.size(), 2u);
  EXPECT_EQ(newer->messages[0].seq, 9);
  EXPECT_FALSE(newer->has_more);
}

TEST_P(MessagingStoreContract, TombstoneKeepsSeqAndClearsReactions) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "c"), {{"U1", Role::owner, 1}}));
  ASSERT_TRUE(store->append(msg("M1", "C1", "U1", "a")));
  ASSERT_TRUE(*store->add_reaction("M1", "U2", "👍", 50));
  EXPECT_FALSE(*store->add_reaction("M1", "U2", "👍", 50));  // idempotent
  auto m = store->get_message("M1", "U2");
  ASSERT_EQ(m->reactions.size(), 1u);
  EXPECT_TRUE(m->reactions[0].me);
  auto removed = store->remove_message("M1");
  ASSERT_TRUE(removed);
  EXPECT_TRUE(removed->second);
  EXPECT_FALSE(store->remove_message("M1")->second);
  auto t = store->get_message("M1", "U2");
  EXPECT_TRUE(t->deleted);
  EXPECT_EQ(t->text, "");
  EXPECT_EQ(t->seq, 1);
  EXPECT_TRUE(t->reactions.empty());
}

TEST_P(MessagingStoreContract, ReadStateNeverMovesBackAndCountsOthersOnly) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "c"),
                                         {{"U1", Role::owner, 1}, {"U2", Role::member, 1}}));
  ASSERT_TRUE(store->append(msg("M1", "C1", "U1", "a")));
  ASSERT_TRUE(store->append(msg("M2", "C1", "U2", "b")));
  ASSERT_TRUE(store->append(msg("M3", "C1", "U1", "c")));
  // U2 read up to their own message M2 by sending it; M3 is unread, their own M2 is not.
  EXPECT_EQ(store->view("C1", "U2", true)->unread_count, 1);
  EXPECT_EQ((*store->membership("C1", "U2"))->last_read_seq, 2);
  auto r = store->mark_read("C1", "U2", 99);  // clamped to last_seq
  ASSERT_TRUE(r);
  EXPECT_EQ(r->last_read_seq, 3);
  EXPECT_TRUE(r->moved);
  auto back = store->mark_read("C1", "U2", 1);
  EXPECT_EQ(back->last_read_seq, 3);
  EXPECT_FALSE(back->moved);
  EXPECT_EQ(back->unread_count, 0);
}

TEST_P(MessagingStoreContract, LastManagerLeavingHandsOwnership) {
  ASSERT_TRUE(store->create_conversation(
      channel("C1", "c"),
      {{"U1", Role::owner, 1}, {"U2", Role::member, 2}, {"U3", Role::member, 3}}));
  EXPECT_TRUE(*store->remove_member("C1", "U1"));
  EXPECT_FALSE(*store->remove_member("C1", "U1"));
  EXPECT_EQ((*store->membership("C1", "U2"))->role, Role::owner);
  EXPECT_EQ(store->get_conversation("C1")->member_count, 2);
}

TEST_P(MessagingStoreContract, AnAdminInheritsBeforeOlderMembers) {
  ASSERT_TRUE(store->create_conversation(
      channel("C1", "c"),
      {{"U1", Role::owner, 1}, {"U2", Role::member, 2}, {"U3", Role::admin, 3}}));
  EXPECT_TRUE(*store->remove_member("C1", "U1"));
  EXPECT_EQ((*store->membership("C1", "U3"))->role, Role::owner);
  EXPECT_EQ((*store->membership("C1", "U2"))->role, Role::member);
}

TEST_P(MessagingStoreContract, MemberCapRejectsTheWholeBatch) {
  Conversation g = channel("G1", "");
  g.type = ConversationType::group;
  g.visibility = Visibility::private_;
  ASSERT_TRUE(store->create_conversation(g, {{"U1", Role::owner, 1}, {"U2", Role::member, 1}}));
  auto r = store->add_members("G1", {{"U3", Role::member, 2}, {"U4", Role::member, 2}}, 3);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::failed_precondition);
  EXPECT_FALSE(*store->membership("G1", "U3"));
  auto ok1 = store->add_members("G1", {{"U3", Role::member, 2}, {"U2", Role::member, 2}}, 3);
  ASSERT_TRUE(ok1);
  ASSERT_EQ(ok1->size(), 1u);  // U2 was already in
  EXPECT_EQ(store->get_conversation("G1")->member_count, 3);
}

TEST_P(MessagingStoreContract, ListsByActivityAndBrowsesPublicChannels) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "alpha"), {{"U1", Role::owner, 1}}));
  auto c2 = channel("C2", "beta");
  c2.created_at = 1500;
  ASSERT_TRUE(store->create_conversation(c2, {{"U1", Role::owner, 1}}));
  ASSERT_TRUE(store->create_conversation(channel("C3", "alps", Visibility::private_),
                                         {{"U2", Role::owner, 1}}));
  ASSERT_TRUE(store->append(msg("M1", "C1", "U1", "a")));  // C1 now most recent (2000)
  auto mine = store->list_for_user("U1", 10, std::nullopt);
  ASSERT_EQ(mine->size(), 2u);
  EXPECT_EQ((*mine)[0].conversation.id, "C1");
  auto next = store->list_for_user("U1", 10, ActivityCursor{2000, "C1"});
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ((*next)[0].conversation.id, "C2");
  auto browse = store->list_public_channels("AL", 10, std::nullopt);
  ASSERT_EQ(browse->size(), 1u);  // the private "alps" is not listed
  EXPECT_EQ((*browse)[0].name, "alpha");
  auto all = store->list_all_channels("AL", 10, std::nullopt);  // administrators see both
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "alpha");
  EXPECT_EQ((*all)[1].name, "alps");
  auto after = store->list_all_channels("AL", 10, std::string("alpha"));
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].name, "alps");
}

TEST_P(MessagingStoreContract, PinsAreIdempotentAndCapped) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "c"), {{"U1", Role::owner, 1}}));
  ASSERT_TRUE(store->append(msg("M1", "C1", "U1", "a")));
  ASSERT_TRUE(store->append(msg("M2", "C1", "U1", "b")));
  EXPECT_TRUE(*store->pin("C1", "M1", "U1", 10, 1));
  EXPECT_FALSE(*store->pin("C1", "M1", "U1", 11, 1));
  auto r = store->pin("C1", "M2", "U1", 12, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::failed_precondition);
  auto pins = store->pins("C1", "U1");
  ASSERT_EQ(pins->size(), 1u);
  EXPECT_EQ((*pins)[0].id, "M1");
  EXPECT_TRUE(*store->unpin("C1", "M1"));
  EXPECT_FALSE(*store->unpin("C1", "M1"));
  EXPECT_TRUE(store->pins("C1", "U1")->empty());
}

TEST_P(MessagingStoreContract, MentionsAreKeptAndCountedWhileUnread) {
  ASSERT_TRUE(store->create_conversation(
      channel("C1", "c"),
      {{"U1", Role::owner, 1}, {"U2", Role::member, 1}, {"U3", Role::member, 1}}));
  auto m1 = msg("M1", "C1", "U1", "a", "hi @u2 and @u3");
  m1.mentions = {{"U2", "U3"}, false};
  auto sent = store->append(m1);
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->message.mentions, m1.mentions);
  auto m2 = msg("M2", "C1", "U2", "b", "me @u2");  // their own: never counted for U2
  m2.mentions = {{"U2"}, false};
  ASSERT_TRUE(store->append(m2));
  auto m3 = msg("M3", "C1", "U3", "c", "@here");
  m3.mentions = {{}, true};
  ASSERT_TRUE(store->append(m3));
  ASSERT_TRUE(store->append(msg("M4", "C1", "U1", "d")));
  auto m5 = msg("M5", "C1", "U1", "e", "@u2 @channel");  // both: counted once
  m5.mentions = {{"U2"}, true};
  ASSERT_TRUE(store->append(m5));

  auto got = store->get_message("M1", "U2");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->mentions.user_ids, (std::vector<std::string>{"U2", "U3"}));
  EXPECT_FALSE(got->mentions.all);
  EXPECT_TRUE(store->get_message("M3", "U2")->mentions.all);
  EXPECT_TRUE(store->get_message("M4", "U2")->mentions.user_ids.empty());

  // U2 sent M2, so read up to 2: M3 (everyone) and M5 remain.
  EXPECT_EQ(store->view("C1", "U2", true)->mention_count, 2);
  store->mark_read("C1", "U2", 0);
  ASSERT_TRUE(store->set_read_marker("C1", "U2", 0));
  EXPECT_EQ(store->view("C1", "U2", true)->mention_count, 3);  // M1, M3, M5
  auto listed = store->list_for_user("U2", 10, std::nullopt);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].mention_count, 3);
  EXPECT_EQ(store->view("C1", "U3", true)->mention_count, 1);  // M5: they read up to M3
  auto read = store->mark_read("C1", "U2", 3);
  EXPECT_EQ(read->mention_count, 1);

  // An edit replaces the mentions; a tombstone has none.
  auto edited = store->edit("M5", "no one", 3000, {});
  ASSERT_TRUE(edited);
  EXPECT_TRUE(edited->mentions.user_ids.empty());
  EXPECT_FALSE(edited->mentions.all);
  EXPECT_EQ(store->view("C1", "U2", true)->mention_count, 0);
  ASSERT_TRUE(store->edit("M4", "now @u2", 3000, {{"U2"}, false}));
  EXPECT_EQ(store->view("C1", "U2", true)->mention_count, 1);
  EXPECT_EQ(store->get_message("M4", "U1")->mentions.user_ids, (std::vector<std::string>{"U2"}));
  ASSERT_TRUE(store->remove_message("M4"));
  EXPECT_EQ(store->view("C1", "U2", true)->mention_count, 0);
  EXPECT_TRUE(store->get_message("M4", "U1")->mentions.user_ids.empty());
}

TEST_P(MessagingStoreContract, ReadMarkerCanBeSetBackwards) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "c"),
                                         {{"U1", Role::owner, 1}, {"U2", Role::member, 1}}));
  for (const char* id : {"M1", "M2", "M3"}) ASSERT_TRUE(store->append(msg(id, "C1", "U1", id)));
  ASSERT_TRUE(store->mark_read("C1", "U2", 3));
  auto back = store->set_read_marker("C1", "U2", 1);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->moved);
  EXPECT_EQ(back->last_read_seq, 1);
  EXPECT_EQ(back->unread_count, 2);
  EXPECT_EQ((*store->membership("C1", "U2"))->last_read_seq, 1);
  EXPECT_FALSE(store->set_read_marker("C1", "U2", 1)->moved);
  EXPECT_EQ(store->set_read_marker("C1", "U2", 99)->last_read_seq, 3);  // clamped
  EXPECT_EQ(store->set_read_marker("C1", "U9", 1).error().code, Errc::not_found);
}

TEST_P(MessagingStoreContract, StarIsPerMemberAndIdempotent) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "c"),
                                         {{"U1", Role::owner, 1}, {"U2", Role::member, 1}}));
  EXPECT_TRUE(*store->set_starred("C1", "U1", true));
  EXPECT_FALSE(*store->set_starred("C1", "U1", true));
  EXPECT_TRUE(store->view("C1", "U1", false)->me->starred);
  EXPECT_FALSE(store->view("C1", "U2", false)->me->starred);
  EXPECT_TRUE((*store->list_for_user("U1", 10, std::nullopt))[0].me->starred);
  EXPECT_TRUE((*store->membership("C1", "U1"))->starred);
  EXPECT_EQ(store->set_starred("C1", "U9", true).error().code, Errc::not_found);
  EXPECT_TRUE(*store->set_starred("C1", "U1", false));
  EXPECT_FALSE(store->view("C1", "U1", false)->me->starred);
}

TEST_P(MessagingStoreContract, ArchivedFlagIsKept) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "c"), {{"U1", Role::owner, 1}}));
  EXPECT_FALSE(store->get_conversation("C1")->archived);
  auto a = store->set_archived("C1", true);
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->second);
  EXPECT_TRUE(a->first.archived);
  EXPECT_FALSE(store->set_archived("C1", true)->second);
  EXPECT_TRUE(store->view("C1", "U1", true)->conversation.archived);
  EXPECT_TRUE((*store->list_for_user("U1", 10, std::nullopt))[0].conversation.archived);
  EXPECT_TRUE(store->set_archived("C1", false)->second);
  EXPECT_FALSE(store->get_conversation("C1")->archived);
  EXPECT_EQ(store->set_archived("nope", true).error().code, Errc::not_found);
}

TEST_P(MessagingStoreContract, SavedMessagesNewestFirstAndOnlyWhileVisible) {
  ASSERT_TRUE(store->create_conversation(channel("C1", "priv", Visibility::private_),
                                         {{"U1", Role::owner, 1}, {"U2", Role::member, 1}}));
  ASSERT_TRUE(store->create_conversation(channel("C2", "pub"), {{"U1", Role::owner, 1}}));
  for (const char* id : {"M1", "M2", "M3"}) ASSERT_TRUE(store->append(msg(id, "C1", "U1", id)));
  ASSERT_TRUE(store->append(msg("P1", "C2", "U1", "p")));
  EXPECT_TRUE(*store->set_saved("U2", "M2", true, 10));
  EXPECT_TRUE(*store->set_saved("U2", "M1", true, 11));
  EXPECT_TRUE(*store->set_saved("U2", "M3", true, 12));
  EXPECT_TRUE(*store->set_saved("U2", "P1", true, 13));   // a public channel: visible
  EXPECT_FALSE(*store->set_saved("U2", "M2", true, 14));  // keeps its place
  auto ids = [&](const std::vector<SavedMessage>& v) {
    std::vector<std::string> out;
    for (const auto& s : v) out.push_back(s.message.id);
    return out;
  };
  auto all = store->list_saved("U2", 10, std::nullopt);
  ASSERT_TRUE(all);
  EXPECT_EQ(ids(*all), (std::vector<std::string>{"P1", "M3", "M1", "M2"}));
  auto first = store->list_saved("U2", 2, std::nullopt);
  ASSERT_EQ(first->size(), 2u);
  auto rest = store->list_saved("U2", 10, first->back().position);
  EXPECT_EQ(ids(*rest), (std::vector<std::string>{"M1", "M2"}));
  EXPECT_TRUE(store->list_saved("U1", 10, std::nullopt)->empty());  // saves are per user

  EXPECT_TRUE(*store->set_saved("U2", "M1", false, 0));
  EXPECT_FALSE(*store->set_saved("U2", "M1", false, 0));
  ASSERT_TRUE(store->remove_message("M3"));  // deleted: left out
  EXPECT_EQ(ids(*store->list_saved("U2", 10, std::nullopt)),
            (std::vector<std::string>{"P1", "M2"}));
  ASSERT_TRUE(store->remove_member("C1", "U2"));  // no longer a member: left out
  EXPECT_EQ(ids(*store->list_saved("U2", 10, std::nullopt)), (std::vector<std::string>{"P1"}));
}

}  // namespace parley::messaging
