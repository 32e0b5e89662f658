// The governance services on real SQLite and local blob storage, with an injected clock:
// retention's policy rules and its job (batches, events), and the dates of the analytics API.
#include "modules/governance/governance.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "adapters/inprocess/in_process_bus.h"
#include "adapters/local/local_blob_store.h"
#include "adapters/sqlite/stores.h"
#include "modules/messaging/events.h"

namespace parley::governance {
namespace {

TEST(Dates, ParseAndFormatRoundTripAndRefuseWhatIsNotADate) {
  EXPECT_EQ(parse_date("1970-01-01"), 0);
  EXPECT_EQ(parse_date("2026-01-01"), 20454);
  EXPECT_EQ(format_date(20454), "2026-01-01");
  EXPECT_EQ(parse_date("2024-02-29"), parse_date("2024-02-28").value() + 1) << "a leap day";
  for (const char* bad : {"2026-02-30", "2025-02-29", "2026-13-01", "2026-00-10", "2026-1-01",
                          "26-01-01", "2026/01/01", "", "1969-12-31", "2026-01-01x"})
    EXPECT_FALSE(parse_date(bad)) << bad;
  EXPECT_EQ(utc_date(1'767'225'599'999), "2025-12-31");
  EXPECT_EQ(utc_date(1'767'225'600'000), "2026-01-01");
}

TEST(FirstResponses, BucketsHoldTheirTimesWithinTwoPointTwoPercent) {
  EXPECT_EQ(response_bucket(0), 0);
  EXPECT_EQ(response_bucket(999), 0);
  EXPECT_EQ(response_bucket(1000), 1);
  EXPECT_EQ(response_bucket(kMaxFirstResponseMs), 308) << "7 days fit in 309 buckets";
  Millis last_bucket = 0;
  for (Millis ms = 1000; ms <= kMaxFirstResponseMs; ms = ms * 103 / 100 + 1) {
    const int b = response_bucket(ms);
    EXPECT_GE(b, last_bucket) << "monotonic at " << ms;
    last_bucket = b;
    const double err = std::abs(static_cast<double>(bucket_middle(b) - ms)) / ms;
    EXPECT_LE(err, 0.0225) << ms << " ms in bucket " << b << " (middle " << bucket_middle(b) << ")";
  }
}

TEST(FirstResponses, TheMedianOfBucketsIsTheMiddleValuesBucketMiddle) {
  EXPECT_FALSE(bucket_median({}));
  EXPECT_FALSE(bucket_median({{5, 0}}));
  const int a = response_bucket(20'000), b = response_bucket(65'000), c = response_bucket(185'000);
  // Odd count: the middle one; order and repeats of buckets do not matter.
  EXPECT_EQ(bucket_median({{c, 1}, {a, 1}, {b, 1}}), bucket_middle(b));
  EXPECT_EQ(bucket_median({{a, 2}, {c, 1}, {a, 0}}), bucket_middle(a));
  // Even count: the mean of the two middle values' buckets.
  EXPECT_EQ(bucket_median({{a, 1}, {b, 1}, {c, 1}, {c, 1}}),
            (bucket_middle(b) + bucket_middle(c)) / 2);
}

TEST(FirstResponses, TurnsCountTheFirstReplyToTheOtherPersonsFirstMessage) {
  std::optional<DmTurn> t;
  EXPECT_FALSE(next_turn(t, "A", 1000)) << "the first message starts a turn";
  EXPECT_FALSE(next_turn(t, "A", 5000)) << "A again: the same turn, still from 1000";
  EXPECT_EQ(next_turn(t, "B", 61'000), 60'000) << "B answers A's turn that began at 1000";
  EXPECT_FALSE(next_turn(t, "B", 62'000));
  EXPECT_EQ(next_turn(t, "A", 62'500), 1'500);
  EXPECT_FALSE(next_turn(t, "B", 62'500 + kMaxFirstResponseMs + 1)) << "over 7 days: not counted";
  EXPECT_EQ(t->sender_id, "B") << "but the late reply starts the next turn";
  EXPECT_EQ(next_turn(t, "A", 62'500 + kMaxFirstResponseMs + 31), 30);
}

TEST(Calls, TheDurationOfACallMessageIsReadBackAndOtherMessagesAreNoCalls) {
  // The texts of calls::call_message_text() (calls_test.cc checks the same strings).
  EXPECT_EQ(call_seconds("call-1", "📞 Missed video call"), 0);
  EXPECT_EQ(call_seconds("call-1", "📞 Video call · 1:05"), 65);
  EXPECT_EQ(call_seconds("call-1", "📞 Audio call · 1:02:05"), 3725);
  EXPECT_FALSE(call_seconds("c-1", "📞 Video call · 1:05")) << "not posted by the call path";
  EXPECT_FALSE(call_seconds("call-1", "hello")) << "a client's own id that only looks like one";
  EXPECT_EQ(call_seconds("call-1", "📞 Audio call · soon"), 0);
  EXPECT_TRUE(messaging::is_server_post("call-1"));
  EXPECT_TRUE(messaging::is_server_post("rec-1-2"));
  EXPECT_FALSE(messaging::is_server_post("web-123"));
}

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("parley-governance-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = std::move(*sqlite::Database::open((dir_ / "p.db").string()));
    user_store_ = std::move(*sqlite::make_user_store(*db_));
    messaging_store_ = std::move(*sqlite::make_messaging_store(*db_));
    file_store_ = std::move(*sqlite::make_file_store(*db_));
    index_ = std::move(*sqlite::make_search_index(*db_));
    store_ = std::move(*sqlite::make_governance_store(*db_));
    blobs_ = std::move(*local::LocalBlobStore::open((dir_ / "files").string()));
    users_ = std::make_unique<users::UserService>(*user_store_, clock_);
    bus_ = adapters::make_in_process_bus();
    sub_ = bus_->subscribe(std::string(messaging::kEventsTopic), [this](std::string_view p) {
      auto e = messaging::decode(p);
      if (e && e->name == "messages.expired") expired_.push_back(e->data);
    });
    messaging_ =
        std::make_unique<messaging::MessagingService>(*messaging_store_, *users_, *bus_, clock_);
    RetentionOptions o;
    o.interval_ms = 0;
    o.batch = 3;
    o.pause_ms = 1;
    svc_ = std::make_unique<RetentionService>(*store_, *blobs_, *messaging_, *bus_, clock_, o);
    owner_ = users_->create({"owner", {}, {}})->id;
    member_ = users_->create({"member", {}, {}})->id;
    conv_ = messaging_->create(owner_, {"group", {member_}, std::string("g"), {}, {}})
                ->view.conversation.id;
  }
  void TearDown() override {
    svc_.reset();
    messaging_.reset();
    sub_.reset();
    store_.reset();
    index_.reset();
    file_store_.reset();
    messaging_store_.reset();
    user_store_.reset();
    db_->stop();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string send(const std::string& text) {
    messaging::SendRequest r;
    r.conversation_id = conv_;
    r.text = text;
    r.client_msg_id = "c" + std::to_string(++sent_);
    auto m = messaging_->send(owner_, r);
    EXPECT_TRUE(m) << m.error().message;
    return m ? m->message.id : "";
  }

  std::filesystem::path dir_;
  FakeClock clock_{1'767'225'600'000};
  std::unique_ptr<sqlite::Database> db_;
  std::unique_ptr<users::UserStore> user_store_;
  std::unique_ptr<messaging::MessagingStore> messaging_store_;
  std::unique_ptr<files::FileStore> file_store_;
  std::unique_ptr<search::SearchIndex> index_;
  std::unique_ptr<GovernanceStore> store_;
  std::unique_ptr<files::BlobStore> blobs_;
  std::unique_ptr<users::UserService> users_;
  std::unique_ptr<Bus> bus_;
  std::unique_ptr<Bus::Subscription> sub_;
  std::unique_ptr<messaging::MessagingService> messaging_;
  std::unique_ptr<RetentionService> svc_;
  std::vector<std::string> expired_;
  int sent_ = 0;
  std::string owner_, member_, conv_;
};

TEST_F(RetentionTest, OwnersSetPoliciesWithinTheServersAndMembersOnlyRead) {
  EXPECT_EQ(svc_->set_conversation(member_, conv_, 5).error().code, Errc::permission_denied);
  EXPECT_EQ(svc_->conversation("stranger", conv_).error().code, Errc::not_found);
  ASSERT_TRUE(svc_->set_global_days(10));
  auto longer = svc_->set_conversation(owner_, conv_, 11);
  ASSERT_FALSE(longer);
  EXPECT_EQ(longer.error().field, "days");
  auto v = svc_->set_conversation(owner_, conv_, 7);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->effective_days, 7);
  ASSERT_TRUE(svc_->set_global_days(3));
  auto now = svc_->conversation(member_, conv_);
  ASSERT_TRUE(now);
  EXPECT_EQ(now->days, 7);
  EXPECT_EQ(now->effective_days, 3) << "a lowered server policy wins";
  EXPECT_EQ(svc_->set_global_days(0).error().field, "days");
}

TEST_F(RetentionTest, TheJobDeletesInBatchesAndAnnouncesEachOne) {
  std::vector<std::string> old;
  for (int i = 0; i < 7; ++i) old.push_back(send("old " + std::to_string(i)));
  clock_.advance_ms(2 * kDayMs);
  const std::string fresh = send("fresh");
  ASSERT_TRUE(svc_->set_conversation(owner_, conv_, 1));
  clock_.advance_ms(kDayMs / 2);

  auto run = svc_->run_once();
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->messages, 7);
  EXPECT_EQ(run->batches, 3) << "7 messages in batches of 3";
  EXPECT_EQ(expired_.size(), 3u) << "one event per conversation per batch";
  for (const auto& id : old) EXPECT_FALSE(messaging_->get_message(owner_, id));
  EXPECT_TRUE(messaging_->get_message(owner_, fresh));
  auto again = svc_->run_once();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->messages, 0);
}

}  // namespace
}  // namespace parley::governance
