// The contract every GovernanceStore implementation must pass. The store works on other
// modules' tables, so the fixture opens them all on one fresh database; an adapter's test
// instantiates it:
//   INSTANTIATE_TEST_SUITE_P(Sqlite, GovernanceStoreContract, testing::Values(make_fixture));
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "modules/files/store.h"
#include "modules/governance/store.h"
#include "modules/messaging/store.h"
#include "modules/search/store.h"
#include "modules/users/store.h"

namespace parley::governance {

struct StoreFixture {
  std::shared_ptr<users::UserStore> users;
  std::shared_ptr<messaging::MessagingStore> messaging;
  std::shared_ptr<files::FileStore> files;
  std::shared_ptr<search::SearchIndex> index;
  std::shared_ptr<GovernanceStore> store;
};
using StoreFixtureFactory = std::function<StoreFixture()>;
inline void PrintTo(const StoreFixtureFactory&, std::ostream* os) { *os << "governance"; }

class GovernanceStoreContract : public ::testing::TestWithParam<StoreFixtureFactory> {
 protected:
  static constexpr Millis kT0 = 1'750'000'000'000;  // 2025-06-15T15:06:40Z

  void SetUp() override {
    f = GetParam()();
    if (IsSkipped()) return;
    ASSERT_TRUE(f.users && f.messaging && f.files && f.index && f.store);
    for (const char* u : {"U1", "U2", "U3"}) user(u, kT0);
    conversation("C1", "general", messaging::ConversationType::channel);
    conversation("C2", "random", messaging::ConversationType::channel);
    conversation("D1", "", messaging::ConversationType::dm);
  }

  void user(const std::string& id, Millis at) {
    users::User u;
    u.id = id;
    u.username = "user" + id;
    u.display_name = id;
    u.created_at = at;
    ASSERT_TRUE(f.users->insert(u));
  }
  void conversation(const std::string& id, const std::string& name,
                    messaging::ConversationType type) {
    messaging::Conversation c;
    c.id = id;
    c.type = type;
    c.name = name;
    c.visibility = type == messaging::ConversationType::channel ? messaging::Visibility::public_
                                                                : messaging::Visibility::private_;
    c.created_by = "U1";
    c.created_at = kT0;
    ASSERT_TRUE(f.messaging->create_conversation(c, {{"U1", messaging::Role::owner, kT0},
                                                     {"U2", messaging::Role::member, kT0}}));
  }
  void send(const std::string& id, const std::string& conv, const std::string& sender,
            Millis at, const std::string& text, std::vector<std::string> files = {}) {
    messaging::NewMessage m;
    m.id = m.client_msg_id = id;
    m.conversation_id = conv;
    m.sender_id = sender;
    m.text = text;
    m.created_at = at;
    for (auto& fid : files) {
      messaging::Attachment a;
      a.id = fid;
      a.name = fid + ".txt";
      a.created_by = sender;
      m.attachments.push_back(a);
    }
    ASSERT_TRUE(f.messaging->append(m));
    if (!files.empty()) {
      ASSERT_TRUE(f.files->add_posts(conv, files));
    }
  }
  // A ready file; files with the same `content` share their blobs, as the files service does.
  void file(const std::string& id, const std::string& owner, Millis at,
            const std::string& content) {
    files::UploadRecord u;
    u.id = "UP" + id;
    u.owner_id = owner;
    u.name = id + ".txt";
    u.length = 1;
    u.blob_key = "uploads/" + id;
    u.created_at = at;
    u.expires_at = at + 1000;
    ASSERT_TRUE(f.files->create_upload(u));
    files::FileRecord r;
    r.id = id;
    r.owner_id = owner;
    r.name = id + ".txt";
    r.size = 1;
    r.content_type = "text/plain";
    r.sha256 = r.upload_sha256 = "sha-" + content;
    r.blob_key = "blobs/" + content;
    r.thumbnail_key = "thumbs/" + content;
    r.created_at = at;
    ASSERT_TRUE(f.files->finish_upload(u.id, r));
  }
  std::vector<std::string> found(const std::string& term) {
    search::IndexQuery q;
    q.terms = {term};
    q.conversation_ids = {"C1", "C2", "D1"};
    auto r = f.index->find(q);
    EXPECT_TRUE(r);
    auto ids = r ? *r : std::vector<std::string>{};
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  bool exists(const std::string& message_id) {
    return f.messaging->get_message(message_id, "U1").has_value();
  }

  StoreFixture f;
};

TEST_P(GovernanceStoreContract, RetentionPoliciesRoundTrip) {
  EXPECT_EQ(f.store->global_retention_days().value(), std::nullopt);
  ASSERT_TRUE(f.store->set_global_retention_days(90));
  EXPECT_EQ(f.store->global_retention_days().value(), 90);
  ASSERT_TRUE(f.store->set_global_retention_days(std::nullopt));
  EXPECT_EQ(f.store->global_retention_days().value(), std::nullopt);

  ASSERT_TRUE(f.store->set_conversation_retention_days("C2", 7));
  ASSERT_TRUE(f.store->set_conversation_retention_days("C1", 30));
  ASSERT_TRUE(f.store->set_conversation_retention_days("C1", 14));
  EXPECT_EQ(f.store->conversation_retention_days("C1").value(), 14);
  auto all = f.store->conversation_policies();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].conversation_id, "C1");
  EXPECT_EQ((*all)[0].days, 14);
  ASSERT_TRUE(f.store->set_conversation_retention_days("C1", std::nullopt));
  EXPECT_EQ(f.store->conversation_retention_days("C1").value(), std::nullopt);
}

// Exactly the messages of the conversation older than the cutoff go, with their reactions,
// pins, saved entries and search entries; newer ones and other conversations stay.
TEST_P(GovernanceStoreContract, ExpireDeletesExactlyWhatIsOlderWithEverythingHangingOff) {
  const Millis cutoff = kT0 + 10'000;
  send("M1", "C1", "U1", cutoff - 2, "ancient walrus");
  send("M2", "C1", "U2", cutoff - 1, "ancient walrus two");
  send("M3", "C1", "U1", cutoff, "fresh walrus");
  send("M4", "C2", "U1", cutoff - 5, "other walrus");
  ASSERT_TRUE(f.messaging->add_reaction("M1", "U2", "👍", 50));
  ASSERT_TRUE(f.messaging->pin("C1", "M2", "U1", kT0, 100));
  ASSERT_TRUE(f.messaging->set_saved("U2", "M1", true, kT0));
  ASSERT_EQ(found("walrus"), (std::vector<std::string>{"M1", "M2", "M3", "M4"}));

  auto b = f.store->expire_messages(std::string("C1"), cutoff, 100);
  ASSERT_TRUE(b) << b.error().message;
  std::set<std::string> ids;
  for (const auto& m : b->messages) {
    EXPECT_EQ(m.conversation_id, "C1");
    ids.insert(m.id);
  }
  EXPECT_EQ(ids, (std::set<std::string>{"M1", "M2"}));
  EXPECT_FALSE(exists("M1"));
  EXPECT_FALSE(exists("M2"));
  EXPECT_TRUE(exists("M3"));
  EXPECT_TRUE(exists("M4"));
  EXPECT_EQ(found("walrus"), (std::vector<std::string>{"M3", "M4"}));
  auto pins = f.messaging->pins("C1", "U1");
  ASSERT_TRUE(pins);
  EXPECT_TRUE(pins->empty());
  auto saved = f.messaging->list_saved("U2", 10, std::nullopt);
  ASSERT_TRUE(saved);
  EXPECT_TRUE(saved->empty());

  // Nothing older is left: a second pass deletes nothing.
  auto again = f.store->expire_messages(std::string("C1"), cutoff, 100);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->messages.empty());
  // The global form reaches every conversation.
  auto all = f.store->expire_messages(std::nullopt, cutoff, 100);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->messages.size(), 1u);
  EXPECT_EQ(all->messages[0].id, "M4");
}

TEST_P(GovernanceStoreContract, ExpireWorksInBoundedBatchesOldestFirst) {
  for (int i = 0; i < 5; ++i)
    send("B" + std::to_string(i), "C1", "U1", kT0 + 100 + i, "batch " + std::to_string(i));
  auto first = f.store->expire_messages(std::string("C1"), kT0 + 1000, 2);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->messages.size(), 2u);
  EXPECT_EQ(first->messages[0].id, "B0");
  EXPECT_EQ(first->messages[1].id, "B1");
  EXPECT_TRUE(exists("B2"));
  auto rest = f.store->expire_messages(std::string("C1"), kT0 + 1000, 10);
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->messages.size(), 3u);
}

// An attachment's file goes with the last message that references it; a blob shared by an
// identical upload stays while that upload's record does.
TEST_P(GovernanceStoreContract, ExpiredAttachmentsReleaseFilesNoLongerReferenced) {
  file("F1", "U1", kT0, "one");
  file("F2", "U1", kT0, "two");
  file("F3", "U1", kT0, "three");
  file("F4", "U2", kT0, "three");  // same bytes as F3: shares its blobs
  send("M1", "C1", "U1", kT0 + 1, "", {"F1", "F2"});
  send("M2", "C2", "U1", kT0 + 2, "", {"F3"});
  send("M3", "C1", "U1", kT0 + 50'000, "still here", {"F2"});

  auto b = f.store->expire_messages(std::nullopt, kT0 + 10'000, 100);
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(b->messages.size(), 2u);
  std::set<std::string> gone(b->file_ids.begin(), b->file_ids.end());
  EXPECT_EQ(gone, (std::set<std::string>{"F1", "F3"}));
  std::set<std::string> keys(b->blob_keys.begin(), b->blob_keys.end());
  EXPECT_EQ(keys, (std::set<std::string>{"blobs/one", "thumbs/one"}))
      << "F3's blobs are F4's too";
  EXPECT_FALSE(f.files->get_file("F1").has_value());
  EXPECT_TRUE(f.files->get_file("F2").has_value()) << "M3 still carries F2";
  EXPECT_FALSE(f.files->get_file("F3").has_value());
  EXPECT_TRUE(f.files->get_file("F4").has_value());

  // F4 was never posted: the files pass takes it once it is old enough, blobs and all.
  auto none = f.store->expire_files(kT0, 100);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->file_ids.empty());
  auto old = f.store->expire_files(kT0 + 1, 100);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->file_ids, std::vector<std::string>{"F4"});
  std::set<std::string> k2(old->blob_keys.begin(), old->blob_keys.end());
  EXPECT_EQ(k2, (std::set<std::string>{"blobs/three", "thumbs/three"}));
  EXPECT_TRUE(f.files->get_file("F2").has_value()) << "posted files wait for their messages";
}

TEST_P(GovernanceStoreContract, ExportReadsOnlyTheUsersOwnMessagesAndFiles) {
  send("M1", "C1", "U1", kT0 + 1, "mine in general", {});
  send("M2", "C1", "U2", kT0 + 2, "theirs in general");
  send("M3", "D1", "U1", kT0 + 3, "mine in a dm");
  send("M4", "D1", "U2", kT0 + 4, "theirs in a dm");
  send("M5", "C2", "U1", kT0 + 5, "deleted later");
  ASSERT_TRUE(f.messaging->remove_message("M5"));
  file("F1", "U1", kT0, "one");
  file("F2", "U2", kT0, "two");

  auto page = f.store->messages_sent_by("U1", 0, 1);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].id, "M1");
  EXPECT_EQ((*page)[0].conversation_name, "general");
  EXPECT_EQ((*page)[0].conversation_type, "channel");
  auto rest = f.store->messages_sent_by("U1", (*page)[0].cursor, 10);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].id, "M3");
  EXPECT_EQ((*rest)[0].text, "mine in a dm");
  EXPECT_EQ((*rest)[0].conversation_name, "userU1, userU2") << "a DM is named by its members";

  auto files = f.store->files_owned_by("U1", "", 10);
  ASSERT_TRUE(files);
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ((*files)[0].id, "F1");
  EXPECT_EQ((*files)[0].blob_key, "blobs/one");

  auto conv = f.store->messages_in("D1", 0, 10);
  ASSERT_TRUE(conv);
  ASSERT_EQ(conv->size(), 2u);
  EXPECT_EQ((*conv)[1].sender_username, "userU2");
  auto label = f.store->conversation_label("C1");
  ASSERT_TRUE(label);
  EXPECT_EQ(label->name, "general");
  EXPECT_EQ(f.store->conversation_label("NOPE").error().code, Errc::not_found);
}

TEST_P(GovernanceStoreContract, ExportRecordsRoundTripAndExpire) {
  ExportRecord r;
  r.id = "E1";
  r.requested_by = "U1";
  r.kind = "user";
  r.target = "U1";
  r.created_at = kT0;
  ASSERT_TRUE(f.store->create_export(r));
  r.status = ExportStatus::ready;
  r.blob_key = "exports/e1.zip";
  r.size = 42;
  r.finished_at = kT0 + 5;
  r.expires_at = kT0 + 100;
  ASSERT_TRUE(f.store->update_export(r));
  auto got = f.store->get_export("E1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, ExportStatus::ready);
  EXPECT_EQ(got->size, 42);
  EXPECT_EQ(got->blob_key, "exports/e1.zip");
  EXPECT_TRUE(f.store->expired_exports(kT0 + 100, 0, 10)->empty());
  auto old = f.store->expired_exports(kT0 + 101, 0, 10);
  ASSERT_TRUE(old);
  ASSERT_EQ(old->size(), 1u);
  ASSERT_TRUE(f.store->remove_export("E1"));
  EXPECT_EQ(f.store->get_export("E1").error().code, Errc::not_found);
}

// A known data set over three days: the rollups count it right, once, incrementally.
TEST_P(GovernanceStoreContract, RollupsCountAKnownDataSetOnce) {
  const Millis d0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
  user("U4", d0 + 5);
  user("U5", d0 + kDayMs + 5);
  send("A1", "C1", "U1", d0 + 10, "a");
  send("A2", "C1", "U1", d0 + 20, "b");
  send("A3", "C1", "U2", d0 + 30, "c");
  send("A4", "C2", "U1", d0 + 40, "d");
  send("A5", "D1", "U2", d0 + kDayMs + 1, "e");
  send("A6", "C2", "U2", d0 + kDayMs + 2, "f");
  send("A7", "C2", "U1", d0 + 2 * kDayMs + 1, "g");  // beyond the horizon below

  auto p = f.store->roll_up(d0 + 2 * kDayMs, 1000);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->messages, 6);
  EXPECT_FALSE(p->more);
  auto days = f.store->days("2026-01-01", "2026-01-03");
  ASSERT_TRUE(days);
  ASSERT_EQ(days->size(), 2u);
  EXPECT_EQ((*days)[0].date, "2026-01-01");
  EXPECT_EQ((*days)[0].messages, 4);
  EXPECT_EQ((*days)[0].active_users, 2);
  EXPECT_EQ((*days)[0].new_users, 1);
  EXPECT_EQ((*days)[1].messages, 2);
  EXPECT_EQ((*days)[1].active_users, 1);
  EXPECT_EQ((*days)[1].new_users, 1);

  // Nothing is counted twice; the next run picks up only what is new.
  auto again = f.store->roll_up(d0 + 2 * kDayMs, 1000);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->messages, 0);
  auto later = f.store->roll_up(d0 + 3 * kDayMs, 1);
  ASSERT_TRUE(later);
  EXPECT_EQ(later->messages, 1);
  EXPECT_TRUE(later->more) << "a full batch says more may wait";
  EXPECT_EQ(f.store->days("2026-01-03", "2026-01-03")->at(0).messages, 1);

  EXPECT_EQ(f.store->active_users("2026-01-01", "2026-01-03").value(), 2);
  EXPECT_EQ(f.store->active_users("2026-01-02", "2026-01-02").value(), 1);

  auto ch = f.store->channels("2026-01-01", "2026-01-03", 10);
  ASSERT_TRUE(ch);
  ASSERT_EQ(ch->size(), 2u) << "DMs are not channels";
  EXPECT_EQ((*ch)[0].conversation_id, "C1");
  EXPECT_EQ((*ch)[0].name, "general");
  EXPECT_EQ((*ch)[0].messages, 3);
  EXPECT_EQ((*ch)[0].active_users, 2);
  EXPECT_EQ((*ch)[1].conversation_id, "C2");
  EXPECT_EQ((*ch)[1].messages, 3);
  EXPECT_EQ((*ch)[1].active_users, 2);

  ASSERT_TRUE(f.store->prune_rollups("2026-01-02"));
  EXPECT_TRUE(f.store->days("2026-01-01", "2026-01-01")->empty());
  EXPECT_EQ(f.store->days("2026-01-02", "2026-01-03")->size(), 2u);
}

// Messages by conversation type, calls, files and DM first responses against counts and a
// median computed here from the seeded data, rolled up in small batches so DM turns cross them.
TEST_P(GovernanceStoreContract, RollupsSplitByTypeAndTakeDmFirstResponses) {
  const Millis d0 = 1'769'904'000'000;  // 2026-02-01T00:00:00Z
  const Millis s = 1000, h = 3'600'000;
  conversation("G1", "", messaging::ConversationType::group);
  struct Seed {
    const char* id;
    const char* conv;
    const char* sender;
    Millis at;
    const char* text;
  };
  const std::vector<Seed> seed = {
      {"B01", "D1", "U1", d0, "hi"},
      {"B02", "D1", "U1", d0 + 5 * s, "there"},        // the same turn as B01
      {"B03", "D1", "U2", d0 + 65 * s, "hello"},        // answers B01 after 65 s
      {"B04", "D1", "U2", d0 + 70 * s, "how are you"},  // the same turn as B03
      {"B05", "D1", "U1", d0 + 250 * s, "fine"},        // answers B03 after 185 s
      {"B06", "D1", "U2", d0 + 270 * s, "good"},        // answers B05 after 20 s
      {"call-K1", "D1", "U1", d0 + 300 * s, "📞 Audio call · 1:05"},  // a call: no reply
      {"B07", "D1", "U1", d0 + h, "later"},             // answers B06 after 3330 s
      {"B08", "G1", "U1", d0 + 2 * h, "group"},
      {"B09", "G1", "U2", d0 + 3 * h, "group too"},
      {"call-K2", "C1", "U2", d0 + 4 * h, "📞 Missed video call"},
      {"call-K3", "C1", "U1", d0 + 5 * h, "not a call: a client's lookalike id"},
      {"B10", "D1", "U2", d0 + 25 * h, "next day"},     // answers B07 after 24 h (day 2)
      {"B11", "C2", "U2", d0 + 26 * h, "channel"},
      {"B12", "D1", "U1", d0 + 9 * 24 * h, "a week on"},  // 7.96 days after B10: not counted
      {"B13", "D1", "U2", d0 + 9 * 24 * h + 30 * s, "back"},  // answers B12 after 30 s
  };
  for (const auto& m : seed) send(m.id, m.conv, m.sender, m.at, m.text);
  file("F1", "U1", d0 + 10 * s, "one");
  file("F2", "U2", d0 + 26 * h, "two");
  file("F3", "U2", d0 + 27 * h, "three");

  // Expected, straight from the seed.
  std::map<std::string, DayCount> want;
  for (const auto& m : seed) {
    auto& d = want[utc_date(m.at)];
    ++d.messages;
    const std::string conv = m.conv;
    ++(conv == "D1" ? d.dm_messages : conv == "G1" ? d.group_messages : d.channel_messages);
    if (std::string(m.text).starts_with("📞")) ++d.calls;
  }
  want[utc_date(d0)].call_seconds = 65;
  ++want[utc_date(d0)].files;
  want[utc_date(d0 + 26 * h)].files += 2;
  // The first responses, by the day of the reply, as listed above.
  std::map<std::string, std::vector<Millis>> replies = {
      {utc_date(d0), {65 * s, 185 * s, 20 * s, 3330 * s}},
      {utc_date(d0 + 25 * h), {24 * h}},
      {utc_date(d0 + 9 * 24 * h), {30 * s}}};
  auto exact_median = [](std::vector<Millis> v) {
    std::sort(v.begin(), v.end());
    return (v[(v.size() - 1) / 2] + v[v.size() / 2]) / 2;
  };

  for (int runs = 0;; ++runs) {
    ASSERT_LT(runs, 100);
    auto p = f.store->roll_up(d0 + 10 * 24 * h, 2);
    ASSERT_TRUE(p) << p.error().message;
    if (!p->more) break;
  }
  auto days = f.store->days("2026-02-01", "2026-02-28");
  ASSERT_TRUE(days) << days.error().message;
  ASSERT_EQ(days->size(), want.size());
  for (const auto& d : *days) {
    SCOPED_TRACE(d.date);
    ASSERT_TRUE(want.count(d.date));
    const auto& w = want[d.date];
    EXPECT_EQ(d.messages, w.messages);
    EXPECT_EQ(d.dm_messages, w.dm_messages);
    EXPECT_EQ(d.group_messages, w.group_messages);
    EXPECT_EQ(d.channel_messages, w.channel_messages);
    EXPECT_EQ(d.dm_messages + d.group_messages + d.channel_messages, d.messages);
    EXPECT_EQ(d.calls, w.calls);
    EXPECT_EQ(d.call_seconds, w.call_seconds);
    EXPECT_EQ(d.files, w.files);
  }

  auto buckets = f.store->response_buckets("2026-02-01", "2026-02-28");
  ASSERT_TRUE(buckets) << buckets.error().message;
  std::map<std::string, std::vector<std::pair<int, std::int64_t>>> by_day;
  std::vector<std::pair<int, std::int64_t>> all;
  std::vector<Millis> every;
  for (const auto& b : *buckets) {
    by_day[b.date].emplace_back(b.bucket, b.count);
    all.emplace_back(b.bucket, b.count);
  }
  ASSERT_EQ(by_day.size(), replies.size());
  for (const auto& [day, times] : replies) {
    SCOPED_TRACE(day);
    std::int64_t n = 0;
    for (const auto& [b, c] : by_day[day]) n += c;
    EXPECT_EQ(n, static_cast<std::int64_t>(times.size()));
    const Millis exact = exact_median(times);
    auto got = bucket_median(by_day[day]);
    ASSERT_TRUE(got);
    EXPECT_NEAR(static_cast<double>(*got), static_cast<double>(exact), exact * 0.0225 + 1);
    every.insert(every.end(), times.begin(), times.end());
  }
  const Millis exact_all = exact_median(every);  // 20 30 65 185 3330 86400 s: 125 s
  auto got_all = bucket_median(all);
  ASSERT_TRUE(got_all);
  EXPECT_NEAR(static_cast<double>(*got_all), static_cast<double>(exact_all),
              exact_all * 0.0225 + 1);

  // Rolled up once: nothing more, and pruning drops the old days' buckets with them.
  auto again = f.store->roll_up(d0 + 10 * 24 * h, 100);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->messages + again->files, 0);
  ASSERT_TRUE(f.store->prune_rollups("2026-02-03"));
  EXPECT_EQ(f.store->response_buckets("2026-02-01", "2026-02-02")->size(), 0u);
  EXPECT_EQ(f.store->response_buckets("2026-02-03", "2026-02-28")->size(), 1u);
}

}  // namespace parley::governance
