// Unit tests of the messaging module: the sequencer's ordering rule, event encoding, text rules,
// and the service's authorisation on a real SQLite store.
#include "modules/messaging/messaging.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "adapters/inprocess/in_process_bus.h"
#include "adapters/sqlite/stores.h"
#include "modules/messaging/events.h"
#include "modules/search/search.h"
#include "sequencer.h"

namespace parley::messaging {
namespace {

Event named(std::string name) {
  Event e;
  e.route.conversation_ids = {"C"};
  e.name = std::move(name);
  return e;
}

TEST(Sequencer, HoldsALaterSeqUntilEarlierAppendsFinish) {
  std::vector<std::string> out;
  Sequencer s([&](const Event& e) { out.push_back(e.name); });
  auto a = s.begin("C");
  auto b = s.begin("C");
  s.finish("C", b, Sequencer::Ready{2, named("two")});  // b committed second-in-seq first
  EXPECT_TRUE(out.empty());
  s.publish_now("C", named("edit"));  // queues behind "two"
  s.finish("C", a, Sequencer::Ready{1, named("one")});
  EXPECT_EQ(out, (std::vector<std::string>{"one", "two", "edit"}));
}

TEST(Sequencer, AnAppendStartedLaterNeverHoldsBackAnEarlierOne) {
  std::vector<std::string> out;
  Sequencer s([&](const Event& e) { out.push_back(e.name); });
  auto a = s.begin("C");
  s.finish("C", a, Sequencer::Ready{1, named("one")});
  auto b = s.begin("C");  // still in flight: does not block "one", which already left
  EXPECT_EQ(out, std::vector<std::string>{"one"});
  s.finish("C", b, std::nullopt);
  auto c = s.begin("C");
  s.finish("C", c, Sequencer::Ready{7, named("seven")});  // a gap from another node
  EXPECT_EQ(out, (std::vector<std::string>{"one", "seven"}));
}

TEST(Sequencer, ManyThreadsPublishInSeqOrder) {
  std::mutex mu;
  std::int64_t next_seq = 0, last_published = 0;
  bool ordered = true;
  int published = 0;
  Sequencer s([&](const Event& e) {
    auto seq = std::stoll(e.name);
    if (seq != last_published + 1) ordered = false;
    last_published = seq;
    ++published;
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      std::mt19937 rng(std::random_device{}());
      for (int i = 0; i < 500; ++i) {
        auto ticket = s.begin("C");
        std::int64_t seq;
        {
          std::lock_guard lock(mu);  // the "commit": assigns seq in order
          seq = ++next_seq;
        }
        if (rng() % 4 == 0) std::this_thread::yield();
        s.finish("C", ticket, Sequencer::Ready{seq, named(std::to_string(seq))});
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(published, 2000);
  EXPECT_TRUE(ordered);
}

TEST(Events, RoundTripThroughTheBusEncoding) {
  Event e;
  e.route.kind = Route::Kind::contacts;
  e.route.conversation_ids = {"C1", "C2"};
  e.route.user_ids = {"U1", "U2"};
  e.route.except_session = "S1";
  e.route.seq = 42;
  e.name = "presence.changed";
  e.data = R"({"a":"line\nbreak|pipe"})";
  auto d = decode(encode(e));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->route.kind, Route::Kind::contacts);
  EXPECT_EQ(d->route.conversation_ids, e.route.conversation_ids);
  EXPECT_EQ(d->route.user_ids, (std::vector<std::string>{"U1", "U2"}));
  EXPECT_EQ(d->route.except_session, "S1");
  EXPECT_EQ(d->route.seq, 42);
  EXPECT_EQ(d->name, e.name);
  EXPECT_EQ(d->data, e.data);
  EXPECT_FALSE(decode("garbage"));
  EXPECT_FALSE(decode("x|||\nname\n{}"));
  EXPECT_FALSE(d->trace.valid());  // unsampled: nothing added to the payload
  EXPECT_EQ(encode(e).find("00-"), std::string::npos);

  // A sampled event carries its span's context across the bus.
  e.trace = *trace::Context::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  auto t = decode(encode(e));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->route.seq, 42);
  EXPECT_EQ(t->data, e.data);
  EXPECT_EQ(t->trace.traceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_FALSE(decode("c|C1||||1|00-zz\nname\n{}"));  // a broken traceparent is refused
}

TEST(Events, OneSessionRouteRoundTrips) {  // call.signal goes to one session of one user
  Event e;
  e.route.kind = Route::Kind::session;
  e.route.user_ids = {"U1", "S1"};
  e.name = "call.signal";
  e.data = "{}";
  auto d = decode(encode(e));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->route.kind, Route::Kind::session);
  EXPECT_EQ(d->route.user_ids, (std::vector<std::string>{"U1", "S1"}));
}

TEST(Text, NormaliseTrimsAndChecksLength) {
  EXPECT_EQ(*normalise_text("  hi \n", 10), "hi");
  EXPECT_EQ(normalise_text("   ", 10).error().field, "text");
  EXPECT_TRUE(normalise_text(std::string(10, 'a'), 10));
  EXPECT_FALSE(normalise_text(std::string(11, 'a'), 10));
  EXPECT_TRUE(normalise_text("日本語", 3));  // characters, not bytes
  EXPECT_FALSE(normalise_text("a\x01z", 10));
  EXPECT_TRUE(normalise_text("line\nline\tx", 20));
  EXPECT_FALSE(normalise_text("\xff", 10));
}

TEST(Search, HighlightEscapesAndMarks) {
  EXPECT_EQ(search::highlight("Say <b>Hello</b> hello", {"hello"}),
            "Say &lt;b&gt;<mark>Hello</mark>&lt;/b&gt; <mark>hello</mark>");
  EXPECT_EQ(search::highlight("東京の天気", {"東京"}), "<mark>東京</mark>の天気");
  EXPECT_EQ(search::highlight("abcd", {"abc", "bcd"}), "<mark>abcd</mark>");  // overlaps merge
}

// The service on a real store: who may see and do what.
class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("parley-messaging-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = std::move(*sqlite::Database::open((dir_ / "p.db").string()));
    user_store_ = std::move(*sqlite::make_user_store(*db_));
    store_ = std::move(*sqlite::make_messaging_store(*db_));
    users_ = std::make_unique<users::UserService>(*user_store_, clock_);
    bus_ = adapters::make_in_process_bus();
    sub_ = bus_->subscribe(std::string(kEventsTopic), [this](std::string_view p) {
      std::lock_guard lock(mu_);
      events_.push_back(*decode(p));
    });
    svc_ = std::make_unique<MessagingService>(*store_, *users_, *bus_, clock_);
    alice_ = users_->create({"alice", {}, {}})->id;
    bob_ = users_->create({"bob", {}, {}})->id;
    eve_ = users_->create({"eve", {}, {}})->id;
  }
  void TearDown() override {
    svc_.reset();
    sub_.reset();
    store_.reset();
    user_store_.reset();
    db_->stop();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::vector<Event> events() {
    std::lock_guard lock(mu_);
    return events_;
  }

  std::filesystem::path dir_;
  FakeClock clock_;
  std::unique_ptr<sqlite::Database> db_;
  std::unique_ptr<users::UserStore> user_store_;
  std::unique_ptr<MessagingStore> store_;
  std::unique_ptr<users::UserService> users_;
  std::unique_ptr<Bus> bus_;
  std::unique_ptr<Bus::Subscription> sub_;
  std::unique_ptr<MessagingService> svc_;
  std::mutex mu_;
  std::vector<Event> events_;
  std::string alice_, bob_, eve_;
};

TEST_F(ServiceTest, PrivateConversationsDoNotExistForOutsiders) {
  auto g = svc_->create(alice_, {"group", {bob_}, {}, {}, {}});
  ASSERT_TRUE(g);
  const auto& id = g->view.conversation.id;
  EXPECT_EQ(svc_->get(eve_, id).error().code, Errc::not_found);
  EXPECT_EQ(svc_->history(eve_, id, {}).error().code, Errc::not_found);
  EXPECT_EQ(svc_->send(eve_, {id, "hi", "c1", {}}).error().code, Errc::not_found);
  EXPECT_EQ(svc_->join(eve_, id).error().code, Errc::not_found);
  auto sent = svc_->send(bob_, {id, "hi", "c1", {}});
  ASSERT_TRUE(sent);
  EXPECT_EQ(svc_->get_message(eve_, sent->message.id).error().code, Errc::not_found);
  EXPECT_EQ(svc_->react(eve_, sent->message.id, "x", true).error().code, Errc::not_found);
}

TEST_F(ServiceTest, SendPublishesOnceAndRetryPublishesNothing) {
  auto c = svc_->create(alice_, {"channel", {}, std::string("general"), {}, {}});
  ASSERT_TRUE(c);
  const auto& id = c->view.conversation.id;
  ASSERT_TRUE(svc_->send(alice_, {id, "hello", "k1", {}}));
  auto again = svc_->send(alice_, {id, "hello", "k1", {}});
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->created);
  int created = 0;
  for (const auto& e : events()) created += e.name == "message.created";
  EXPECT_EQ(created, 1);
}

TEST_F(ServiceTest, RolesDecideWhoMayManage) {
  auto c = svc_->create(alice_, {"channel", {}, std::string("ops"), {}, std::string("private")});
  ASSERT_TRUE(c);
  const auto& id = c->view.conversation.id;
  ASSERT_TRUE(svc_->add_members(alice_, id, {bob_}));
  EXPECT_EQ(svc_->update(bob_, id, std::string("x"), {}).error().code, Errc::permission_denied);
  EXPECT_EQ(svc_->add_members(bob_, id, {eve_}).error().code, Errc::permission_denied);
  ASSERT_TRUE(svc_->set_role(alice_, id, bob_, "admin"));
  EXPECT_TRUE(svc_->update(bob_, id, std::string("ops2"), {}));
  EXPECT_EQ(svc_->remove_member(bob_, id, alice_).error().code, Errc::permission_denied);
  EXPECT_TRUE(svc_->add_members(bob_, id, {eve_}));
  EXPECT_TRUE(svc_->remove_member(bob_, id, eve_));
  EXPECT_EQ(svc_->get(eve_, id).error().code, Errc::not_found);
}

TEST_F(ServiceTest, TypingIsThrottledPerUserAndConversation) {
  auto c = svc_->create(alice_, {"group", {bob_}, {}, {}, {}});
  const auto& id = c->view.conversation.id;
  ASSERT_TRUE(svc_->typing(alice_, id));
  ASSERT_TRUE(svc_->typing(alice_, id));
  clock_.advance_ms(3'000);
  ASSERT_TRUE(svc_->typing(alice_, id));
  int typing = 0;
  for (const auto& e : events()) typing += e.name == "typing";
  EXPECT_EQ(typing, 2);
  EXPECT_EQ(svc_->typing(eve_, id).error().code, Errc::not_found);
}

TEST(Mentions, FindsUsernamesAndEveryoneTokens) {
  auto m = find_mentions("@Alice, hi @bob. and @alice again @here @x (@carol_1-2.)");
  EXPECT_EQ(m.usernames, (std::vector<std::string>{"alice", "bob", "carol_1-2"}));
  EXPECT_TRUE(m.all);
  EXPECT_FALSE(find_mentions("mail bob@example.com or @@bob").all);
  EXPECT_TRUE(find_mentions("mail bob@example.com or @@bob").usernames.empty());
  EXPECT_TRUE(find_mentions("@everyone").all);  // and @channel
  EXPECT_TRUE(find_mentions("@CHANNEL!").all);
  EXPECT_TRUE(find_mentions("@ab @" + std::string(33, 'a')).usernames.empty());  // 3..32 only
  EXPECT_EQ(find_mentions("@" + std::string(32, 'a')).usernames.size(), 1u);
  EXPECT_EQ(find_mentions("@a..b...").usernames, (std::vector<std::string>{"a..b"}));
}

TEST_F(ServiceTest, MentionsNameMembersOnlyAndEveryoneNotInDms) {
  auto c = svc_->create(alice_, {"group", {bob_}, {}, {}, {}});
  ASSERT_TRUE(c);
  const auto& id = c->view.conversation.id;
  auto sent = svc_->send(alice_, {id, "@bob @eve @nobody @Bob @here", "k1", {}});
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->message.mentions.user_ids, (std::vector<std::string>{bob_}));  // eve: no member
  EXPECT_TRUE(sent->message.mentions.all);
  EXPECT_EQ(svc_->get(bob_, id)->mention_count, 1);
  auto edited = svc_->edit(alice_, sent->message.id, "just @alice");
  ASSERT_TRUE(edited);
  EXPECT_EQ(edited->mentions.user_ids, (std::vector<std::string>{alice_}));
  EXPECT_FALSE(edited->mentions.all);
  EXPECT_EQ(svc_->get(bob_, id)->mention_count, 0);

  auto dm = svc_->create(alice_, {"dm", {bob_}, {}, {}, {}});
  ASSERT_TRUE(dm);
  auto in_dm = svc_->send(alice_, {dm->view.conversation.id, "@channel @bob", "k2", {}});
  ASSERT_TRUE(in_dm);
  EXPECT_FALSE(in_dm->message.mentions.all);
  EXPECT_EQ(in_dm->message.mentions.user_ids, (std::vector<std::string>{bob_}));
}

TEST_F(ServiceTest, ArchivedConversationsRefuseChangesButNotReading) {
  auto c = svc_->create(alice_, {"channel", {}, std::string("old"), {}, {}});
  ASSERT_TRUE(c);
  const auto& id = c->view.conversation.id;
  ASSERT_TRUE(svc_->join(bob_, id));
  auto sent = svc_->send(alice_, {id, "last words", "k1", {}});
  ASSERT_TRUE(sent);
  EXPECT_EQ(svc_->set_archived(bob_, id, true).error().code, Errc::permission_denied);
  auto archived = svc_->set_archived(alice_, id, true);
  ASSERT_TRUE(archived);
  EXPECT_TRUE(archived->conversation.archived);
  const auto& mid = sent->message.id;
  auto refused = [](const auto& r) {
    return !r && r.error().code == Errc::failed_precondition &&
           r.error().message == "the conversation is archived";
  };
  EXPECT_TRUE(refused(svc_->send(alice_, {id, "more", "k2", {}})));
  EXPECT_TRUE(refused(svc_->edit(alice_, mid, "changed")));
  EXPECT_TRUE(refused(svc_->react(bob_, mid, "x", true)));
  EXPECT_TRUE(refused(svc_->pin(alice_, id, mid, true)));
  EXPECT_TRUE(refused(svc_->join(eve_, id)));
  EXPECT_TRUE(svc_->history(bob_, id, {}));
  EXPECT_TRUE(svc_->mark_read(bob_, "", id, 1));
  EXPECT_TRUE(svc_->leave(bob_, id));
  ASSERT_TRUE(svc_->set_archived(alice_, id, false));
  EXPECT_TRUE(svc_->send(alice_, {id, "more", "k2", {}}));

  auto dm = svc_->create(alice_, {"dm", {bob_}, {}, {}, {}});
  EXPECT_EQ(svc_->set_archived(alice_, dm->view.conversation.id, true).error().code,
            Errc::invalid_argument);
}

TEST_F(ServiceTest, PersonalStateIsForMembersAndToldToAllTheirSessions) {
  auto c = svc_->create(alice_, {"group", {bob_}, {}, {}, {}});
  const auto& id = c->view.conversation.id;
  auto m1 = svc_->send(alice_, {id, "one", "k1", {}});
  ASSERT_TRUE(svc_->send(alice_, {id, "two", "k2", {}}));
  EXPECT_EQ(svc_->set_starred(eve_, id, true).error().code, Errc::not_found);
  EXPECT_EQ(svc_->set_saved(eve_, m1->message.id, true).error().code, Errc::not_found);
  EXPECT_EQ(svc_->mark_unread(eve_, id, 1).error().code, Errc::not_found);
  EXPECT_EQ(svc_->mark_unread(bob_, id, 0).error().code, Errc::invalid_argument);
  EXPECT_EQ(svc_->mark_unread(bob_, id, 3).error().code, Errc::invalid_argument);

  ASSERT_TRUE(svc_->set_starred(bob_, id, true));
  ASSERT_TRUE(svc_->set_starred(bob_, id, true));  // idempotent: one event
  EXPECT_TRUE(svc_->get(bob_, id)->me->starred);
  ASSERT_TRUE(svc_->set_saved(bob_, m1->message.id, true));
  auto saved = svc_->saved(bob_, 10, std::nullopt);
  ASSERT_EQ(saved->messages.size(), 1u);
  EXPECT_EQ(saved->messages[0].id, m1->message.id);
  EXPECT_EQ(svc_->saved(bob_, 10, std::string("x")).error().code, Errc::invalid_argument);
  ASSERT_TRUE(svc_->mark_read(bob_, "", id, 2));
  auto unread = svc_->mark_unread(bob_, id, 2);
  ASSERT_TRUE(unread);
  EXPECT_EQ(unread->last_read_seq, 1);
  EXPECT_EQ(unread->unread_count, 1);

  int star = 0, save = 0, read = 0;
  for (const auto& e : events()) {
    if (e.route.kind != Route::Kind::user) continue;
    EXPECT_EQ(e.route.user_ids, (std::vector<std::string>{bob_}));
    star += e.name == "star.updated";
    save += e.name == "saved.updated";
    if (e.name == "read.updated" && e.route.except_session.empty()) ++read;
  }
  EXPECT_EQ(star, 1);
  EXPECT_EQ(save, 1);
  EXPECT_EQ(read, 2);  // mark_read with no session, then mark_unread: every session
}

}  // namespace
}  // namespace parley::messaging
