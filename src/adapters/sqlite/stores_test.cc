// The store contract suites of every module, run against SQLite in a throw-away folder.
#include "adapters/sqlite/stores.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "core/metrics.h"
#include "modules/admin/store_contract.h"
#include "modules/ai/store_contract.h"
#include "modules/audit/store_contract.h"
#include "modules/auth/store_contract.h"
#include "modules/contact/store_contract.h"
#include "modules/integrations/store_contract.h"
#include "modules/files/store_contract.h"
#include "modules/governance/store_contract.h"
#include "modules/jobs/store_contract.h"
#include "modules/messaging/store_contract.h"
#include "modules/notifications/store_contract.h"
#include "modules/search/index_contract.h"
#include "modules/sso/store_contract.h"
#include "modules/users/store_contract.h"

namespace parley::sqlite {
namespace {

std::string temp_db_path() {
  static std::atomic<int> n{0};
  auto dir = std::filesystem::temp_directory_path() /
             ("parley-sqlite-test-" + std::to_string(::getpid()) + "-" + std::to_string(++n));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return (dir / "parley.db").string();
}

// A fresh database per test, owned by the store handed out.
template <class Port, class Make>
std::shared_ptr<Port> make_with_db(Make make) {
  auto db = Database::open(temp_db_path());
  EXPECT_TRUE(db);
  auto store = make(**db);
  EXPECT_TRUE(store);
  auto* raw_db = db->release();
  auto* raw_store = store->release();
  // The store goes first, then its database.
  return std::shared_ptr<Port>(raw_store, [raw_db](Port* s) {
    delete s;
    delete raw_db;
  });
}

// The search contract's fixture: a messaging store and its FTS5 index on one fresh database.
search::IndexFixture make_index_fixture() {
  auto opened = Database::open(temp_db_path());
  EXPECT_TRUE(opened);
  if (!opened) return {};
  std::shared_ptr<Database> db(opened->release());
  auto store = make_messaging_store(*db);
  EXPECT_TRUE(store);
  if (!store) return {};
  auto index = make_search_index(*db);
  EXPECT_TRUE(index);
  if (!index) return {};
  auto keep = [db](auto* p) { delete p; };  // both go before their database
  return {std::shared_ptr<messaging::MessagingStore>(store->release(), keep),
          std::shared_ptr<search::SearchIndex>(index->release(), keep)};
}

// The notifications contract's fixture: its store and the messaging store, on one database.
notifications::StoreFixture make_notification_fixture() {
  auto opened = Database::open(temp_db_path());
  EXPECT_TRUE(opened);
  if (!opened) return {};
  std::shared_ptr<Database> db(opened->release());
  auto keep = [db](auto* p) { delete p; };  // both go before their database
  notifications::StoreFixture f;
  if (auto s = make_messaging_store(*db)) f.messaging.reset(s->release(), keep);
  if (auto s = make_notification_store(*db)) f.store.reset(s->release(), keep);
  return f;
}

// The governance contract's fixture: every store it reaches into, on one fresh database.
governance::StoreFixture make_governance_fixture() {
  auto opened = Database::open(temp_db_path());
  EXPECT_TRUE(opened);
  if (!opened) return {};
  std::shared_ptr<Database> db(opened->release());
  auto keep = [db](auto* p) { delete p; };  // every store goes before the database
  governance::StoreFixture f;
  if (auto s = make_user_store(*db)) f.users.reset(s->release(), keep);
  if (auto s = make_messaging_store(*db)) f.messaging.reset(s->release(), keep);
  if (auto s = make_file_store(*db)) f.files.reset(s->release(), keep);
  if (auto s = make_search_index(*db)) f.index.reset(s->release(), keep);
  auto g = make_governance_store(*db);
  EXPECT_TRUE(g) << (g ? "" : g.error().message);
  if (g) f.store.reset(g->release(), keep);
  return f;
}

}  // namespace

// The value of a counter in the process's metrics text (0 when absent).
double counter(const std::string& series) {
  auto text = metrics::render_text();
  auto at = text.find("\n" + series + " ");
  return at == std::string::npos ? 0 : std::stod(text.substr(at + series.size() + 2));
}

// Search cost follows the caller's own data: a caller whose conversations hold few messages
// gets them walked directly, however many messages elsewhere match; a rare word is looked up in
// the index, however much the caller can read. Same results either way.
TEST(SqliteSearchIndex, PlansByTheCallersDataAndTheIndexCounts) {
  auto f = make_index_fixture();
  ASSERT_TRUE(f.store && f.index);
  for (const char* id : {"BIG", "MINE"}) {
    messaging::Conversation c;
    c.id = id;
    c.type = messaging::ConversationType::group;
    c.created_by = "U1";
    ASSERT_TRUE(f.store->create_conversation(c, {{"U1", messaging::Role::owner, 1}}));
  }
  auto put = [&](const std::string& id, const std::string& conv, const std::string& text) {
    messaging::NewMessage m;
    m.id = m.client_msg_id = id;
    m.conversation_id = conv;
    m.sender_id = "U1";
    m.text = text;
    m.created_at = 1000;
    ASSERT_TRUE(f.store->append(m));
  };
  for (int i = 0; i < 400; ++i) put("B" + std::to_string(i), "BIG", "a needle in the haystack");
  put("Z1", "BIG", "a zebra needle");
  for (int i = 0; i < 5; ++i) put("M" + std::to_string(i), "MINE", "my own needle");

  const std::string scoped = "parley_search_plans_total{plan=\"scoped\"}";
  const std::string indexed = "parley_search_plans_total{plan=\"index\"}";
  auto find = [&](std::vector<std::string> terms, std::vector<std::string> convs) {
    search::IndexQuery q;
    q.terms = std::move(terms);
    q.conversation_ids = std::move(convs);
    q.limit = 10;
    auto r = f.index->find(q);
    EXPECT_TRUE(r);
    return r ? *r : std::vector<std::string>{};
  };

  // New messages reach the index a moment after they commit (decisions §52); until then the
  // index plan costs every queued row, so the rare word walks the caller's messages too. Once
  // they are indexed it takes the index.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (double i = counter(indexed); counter(indexed) == i;) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the new messages were never indexed";
    EXPECT_EQ(find({"zebra"}, {"BIG", "MINE"}), (std::vector<std::string>{"Z1"}));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  double s0 = counter(scoped), i0 = counter(indexed);
  EXPECT_EQ(find({"needle"}, {"MINE"}), (std::vector<std::string>{"M4", "M3", "M2", "M1", "M0"}));
  EXPECT_EQ(counter(scoped), s0 + 1) << "5 own messages against 406 index matches";
  EXPECT_EQ(counter(indexed), i0);

  EXPECT_EQ(find({"zebra"}, {"BIG", "MINE"}), (std::vector<std::string>{"Z1"}));
  EXPECT_EQ(counter(indexed), i0 + 1) << "1 index match against 406 readable messages";
  EXPECT_EQ(find({"ze"}, {"MINE"}), std::vector<std::string>{})
      << "a term too short for trigrams walks the caller's messages";
  EXPECT_EQ(counter(scoped), s0 + 2);
}

// Indexing happens in batches after the commit, so the index is checked across the whole life
// of a message: found at once while queued, after indexing, after an edit of an indexed message,
// after a hard delete (retention), and under a pk that a deleted message had (SQLite reuses the
// largest pk once its row is gone). FTS5's own integrity check must pass at every step.
TEST(SqliteSearchIndex, QueuedAndIndexedMessagesAreFoundAndEditsAndDeletesKeepTheIndexRight) {
  auto opened = Database::open(temp_db_path());
  ASSERT_TRUE(opened);
  std::unique_ptr<Database> db = std::move(*opened);
  auto store = std::move(*make_messaging_store(*db));
  auto index = std::move(*make_search_index(*db));
  messaging::Conversation conv;
  conv.id = "BIG";
  conv.type = messaging::ConversationType::group;
  conv.created_by = "U1";
  ASSERT_TRUE(store->create_conversation(conv, {{"U1", messaging::Role::owner, 1}}));
  auto put = [&](const std::string& id, const std::string& text) {
    messaging::NewMessage m;
    m.id = m.client_msg_id = id;
    m.conversation_id = "BIG";
    m.sender_id = "U1";
    m.text = text;
    m.created_at = 1000;
    ASSERT_TRUE(store->append(m));
  };
  auto find = [&](const std::string& term) {
    search::IndexQuery q;
    q.terms = {term};
    q.conversation_ids = {"BIG"};
    q.limit = 10;
    auto r = index->find(q);
    EXPECT_TRUE(r);
    return r ? *r : std::vector<std::string>{};
  };
  auto queued = [&] {
    return *db->read_value([](Connection& c) -> Result<std::int64_t> {
      auto q = c.prepare("SELECT count(*) FROM search_pending");
      return q.step() ? q.integer(0) : -1;
    });
  };
  auto wait_indexed = [&] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (queued() != 0) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "never indexed";
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  };
  auto intact = [&] {
    return db->write_value([](Connection& c) -> Result<bool> {
      c.prepare("INSERT INTO message_fts(message_fts) VALUES ('integrity-check')").exec();
      return true;
    });
  };
  auto raw = [&](const std::string& sql) {
    ASSERT_TRUE(db->write_value([&](Connection& c) -> Result<bool> {
      c.exec_script(sql.c_str());
      return true;
    }));
  };

  for (int i = 0; i < 300; ++i) put("H" + std::to_string(i), "hay in the stack");
  wait_indexed();
  // Queued: the index plan (a rare word, 300 readable messages) finds it among the queue.
  put("Z1", "a fresh zebra");
  EXPECT_EQ(queued(), 1);
  EXPECT_EQ(find("zebra"), std::vector<std::string>{"Z1"});
  EXPECT_EQ(find("fresh zeb"), std::vector<std::string>{"Z1"});
  wait_indexed();
  EXPECT_EQ(find("zebra"), std::vector<std::string>{"Z1"});
  EXPECT_TRUE(intact());

  // An edit of an indexed message moves its index entry.
  ASSERT_TRUE(store->edit("Z1", "a fresh giraffe", 2000));
  EXPECT_EQ(find("zebra"), std::vector<std::string>{});
  EXPECT_EQ(find("giraffe"), std::vector<std::string>{"Z1"});
  EXPECT_TRUE(intact());
  // An edit of a queued message needs nothing: the batch reads it as it is then.
  put("Q1", "a quick okapi");
  ASSERT_TRUE(store->edit("Q1", "a quick lemur", 2000));
  EXPECT_EQ(find("okapi"), std::vector<std::string>{});
  EXPECT_EQ(find("lemur"), std::vector<std::string>{"Q1"});
  wait_indexed();
  EXPECT_EQ(find("okapi"), std::vector<std::string>{});
  EXPECT_EQ(find("lemur"), std::vector<std::string>{"Q1"});
  EXPECT_TRUE(intact());

  // A hard delete (retention) of the newest message, then a new message under its pk.
  raw("DELETE FROM messages WHERE id = 'Q1'");
  EXPECT_EQ(find("lemur"), std::vector<std::string>{});
  put("R1", "a returning walrus");
  EXPECT_EQ(find("walrus"), std::vector<std::string>{"R1"});
  wait_indexed();
  EXPECT_EQ(find("walrus"), std::vector<std::string>{"R1"});
  EXPECT_EQ(find("lemur"), std::vector<std::string>{});
  EXPECT_TRUE(intact());
  // And a hard delete of a message still queued.
  put("D1", "a doomed dodo");
  raw("DELETE FROM messages WHERE id = 'D1'");
  EXPECT_EQ(queued(), 0);
  EXPECT_EQ(find("dodo"), std::vector<std::string>{});
  EXPECT_TRUE(intact());
  index.reset();
  store.reset();
}

TEST(SqliteDatabase, ConcurrentWritesCommitInGroupsAndAllLand) {
  auto db = Database::open(temp_db_path());
  ASSERT_TRUE(db);
  ASSERT_TRUE((*db)->migrate("t", {{1, "CREATE TABLE t (v INTEGER NOT NULL);"}}));
  constexpr int kThreads = 16, kEach = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i)
        ASSERT_TRUE((*db)->write([&](Connection& c) -> Result<void> {
          c.prepare("INSERT INTO t (v) VALUES (?)").bind(1, t * 1000 + i).exec();
          return ok();
        }));
    });
  for (auto& th : threads) th.join();
  std::int64_t count = 0;
  ASSERT_TRUE((*db)->read([&](Connection& c) -> Result<void> {
    auto q = c.prepare("SELECT count(*) FROM t");
    q.step();
    count = q.integer(0);
    return ok();
  }));
  EXPECT_EQ(count, kThreads * kEach);
  auto stats = (*db)->stats();
  EXPECT_LT(stats.commits, stats.writes);  // some writes shared a commit
}

TEST(SqliteDatabase, AFailingWriteRollsBackAloneInItsGroup) {
  auto db = Database::open(temp_db_path());
  ASSERT_TRUE(db);
  ASSERT_TRUE((*db)->migrate("t", {{1, "CREATE TABLE t (v INTEGER PRIMARY KEY);"}}));
  auto bad = (*db)->write([](Connection& c) -> Result<void> {
    c.prepare("INSERT INTO t (v) VALUES (1)").exec();
    return fail(Errc::invalid_argument, "changed my mind");
  });
  EXPECT_FALSE(bad);
  auto thrown = (*db)->write([](Connection& c) -> Result<void> {
    c.prepare("INSERT INTO t (v) VALUES (2)").exec();
    c.prepare("INSERT INTO t (v) VALUES (2)").exec();  // constraint violation throws
    return ok();
  });
  EXPECT_FALSE(thrown);
  ASSERT_TRUE((*db)->write([](Connection& c) -> Result<void> {
    c.prepare("INSERT INTO t (v) VALUES (3)").exec();
    return ok();
  }));
  std::int64_t count = -1;
  ASSERT_TRUE((*db)->read([&](Connection& c) -> Result<void> {
    auto q = c.prepare("SELECT count(*) FROM t");
    q.step();
    count = q.integer(0);
    return ok();
  }));
  EXPECT_EQ(count, 1);
}

TEST(SqliteDatabase, MigrationsApplyOnceAcrossReopen) {
  auto path = temp_db_path();
  {
    auto db = Database::open(path);
    ASSERT_TRUE(db);
    ASSERT_TRUE((*db)->migrate("t", {{1, "CREATE TABLE t (v INTEGER);"}}));
  }
  auto db = Database::open(path);
  ASSERT_TRUE(db);
  // Re-running v1 would fail (table exists); v2 applies.
  ASSERT_TRUE((*db)->migrate(
      "t", {{1, "CREATE TABLE t (v INTEGER);"}, {2, "ALTER TABLE t ADD COLUMN w INTEGER;"}}));
  auto broken = (*db)->migrate("t", {{3, "THIS IS NOT SQL"}});
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("v3"), std::string::npos);
}

// The database itself refuses to rewrite the audit record, whatever connection asks.
TEST(SqliteAuditStore, TableRefusesUpdateAndDelete) {
  auto db = Database::open(temp_db_path());
  ASSERT_TRUE(db);
  auto s = make_audit_store(**db);
  ASSERT_TRUE(s);
  ASSERT_TRUE((*s)->append({"01AUDIT1", 1, "alice", "auth.sign_in", "user:alice", "192.0.2.1"}));
  for (const char* sql :
       {"UPDATE audit_events SET actor_id = 'mallory'", "DELETE FROM audit_events"}) {
    auto r = (*db)->write([&](Connection& c) -> Result<void> {
      c.exec_script(sql);
      return ok();
    });
    EXPECT_FALSE(r) << sql;
  }
  auto left = (*s)->list(audit::Query{std::nullopt, std::nullopt, std::nullopt, 50});
  ASSERT_TRUE(left);
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].actor_id, "alice");
}

// A database from before roles: its oldest account becomes the admin when it migrates.
TEST(SqliteUserStore, UpgradeMakesTheOldestAccountAdmin) {
  auto path = temp_db_path();
  {
    auto db = Database::open(path);
    ASSERT_TRUE(db);
    // The users component as it was at version 2.
    ASSERT_TRUE((*db)->migrate(
        "users",
        {{1,
          "CREATE TABLE users (id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE COLLATE NOCASE,"
          " display_name TEXT NOT NULL COLLATE NOCASE, status_text TEXT NOT NULL DEFAULT '',"
          " avatar_url TEXT NOT NULL DEFAULT '', email TEXT, created_at INTEGER NOT NULL);"},
         {2,
          "ALTER TABLE users ADD COLUMN timezone TEXT NOT NULL DEFAULT '';"
          "ALTER TABLE users ADD COLUMN avatar_file_id TEXT NOT NULL DEFAULT '';"}}));
    ASSERT_TRUE((*db)->write([](Connection& c) -> Result<void> {
      c.exec_script(
          "INSERT INTO users (id, username, display_name, created_at) VALUES"
          " ('02B', 'late', 'L', 2000), ('01A', 'early', 'E', 1000);");
      return ok();
    }));
  }
  auto db = Database::open(path);
  ASSERT_TRUE(db);
  auto store = make_user_store(**db);
  ASSERT_TRUE(store);
  EXPECT_EQ((*store)->get("01A")->role, users::Role::admin);
  EXPECT_EQ((*store)->get("02B")->role, users::Role::user);
}

}  // namespace parley::sqlite

namespace parley::admin {
INSTANTIATE_TEST_SUITE_P(Sqlite, AdminStoreContract, ::testing::Values(AdminStoreFactory([] {
                           return sqlite::make_with_db<AdminStore>(
                               [](sqlite::Database& db) { return sqlite::make_admin_store(db); });
                         })));
}  // namespace parley::admin

namespace parley::audit {
INSTANTIATE_TEST_SUITE_P(Sqlite, AuditStoreContract, ::testing::Values(AuditStoreFactory([] {
                           return sqlite::make_with_db<AuditStore>(
                               [](sqlite::Database& db) { return sqlite::make_audit_store(db); });
                         })));
}  // namespace parley::audit

namespace parley::users {
INSTANTIATE_TEST_SUITE_P(Sqlite, UserStoreContract, ::testing::Values(UserStoreFactory([] {
                           return sqlite::make_with_db<UserStore>(
                               [](sqlite::Database& db) { return sqlite::make_user_store(db); });
                         })));
}  // namespace parley::users

namespace parley::auth {
INSTANTIATE_TEST_SUITE_P(Sqlite, AuthStoreContract, ::testing::Values(AuthStoreFactory([] {
                           return sqlite::make_with_db<AuthStore>(
                               [](sqlite::Database& db) { return sqlite::make_auth_store(db); });
                         })));
}  // namespace parley::auth

namespace parley::messaging {
// The search index's triggers ride along, so every contract write also updates FTS5.
INSTANTIATE_TEST_SUITE_P(Sqlite, MessagingStoreContract,
                         ::testing::Values(MessagingStoreFactory([] {
                           return sqlite::make_with_db<MessagingStore>([](sqlite::Database& db) {
                             auto store = sqlite::make_messaging_store(db);
                             if (store) {
                               EXPECT_TRUE(sqlite::make_search_index(db));
                             }
                             return store;
                           });
                         })));
}  // namespace parley::messaging

namespace parley::search {
INSTANTIATE_TEST_SUITE_P(Sqlite, SearchIndexContract, ::testing::Values(IndexFixtureFactory([] {
                           return sqlite::make_index_fixture();
                         })));
}  // namespace parley::search

namespace parley::files {
INSTANTIATE_TEST_SUITE_P(Sqlite, FileStoreContract, ::testing::Values(FileStoreFactory([] {
                           return sqlite::make_with_db<FileStore>(
                               [](sqlite::Database& db) { return sqlite::make_file_store(db); });
                         })));
}  // namespace parley::files

namespace parley::governance {
INSTANTIATE_TEST_SUITE_P(Sqlite, GovernanceStoreContract, ::testing::Values(StoreFixtureFactory([] {
                           return sqlite::make_governance_fixture();
                         })));
}  // namespace parley::governance
namespace parley::sso {
INSTANTIATE_TEST_SUITE_P(Sqlite, SsoStoreContract, ::testing::Values(SsoStoreFactory([] {
                           return sqlite::make_with_db<SsoStore>(
                               [](sqlite::Database& db) { return sqlite::make_sso_store(db); });
                         })));
}  // namespace parley::sso
namespace parley::contact {
INSTANTIATE_TEST_SUITE_P(Sqlite, ContactStoreContract,
                         ::testing::Values(ContactStoreFactory([] {
                           return sqlite::make_with_db<ContactStore>(
                               [](sqlite::Database& db) { return sqlite::make_contact_store(db); });
                         })));
}  // namespace parley::contact
namespace parley::integrations {
INSTANTIATE_TEST_SUITE_P(Sqlite, IntegrationStoreContract,
                         ::testing::Values(IntegrationStoreFactory([] {
                           return sqlite::make_with_db<IntegrationStore>([](sqlite::Database& db) {
                             return sqlite::make_integration_store(db);
                           });
                         })));
}  // namespace parley::integrations
namespace parley::ai {
INSTANTIATE_TEST_SUITE_P(Sqlite, AiStoreContract, ::testing::Values(AiStoreFactory([] {
                           return sqlite::make_with_db<AiStore>(
                               [](sqlite::Database& db) { return sqlite::make_ai_store(db); });
                         })));
}  // namespace parley::ai
namespace parley::notifications {
INSTANTIATE_TEST_SUITE_P(Sqlite, NotificationStoreContract,
                         ::testing::Values(StoreFixtureFactory([] {
                           return sqlite::make_notification_fixture();
                         })));
}  // namespace parley::notifications
namespace parley::jobs {
INSTANTIATE_TEST_SUITE_P(Sqlite, JobStoreContract, ::testing::Values(JobStoreFactory([] {
                           return sqlite::make_with_db<JobStore>(
                               [](sqlite::Database& db) { return sqlite::make_job_store(db); });
                         })));
}  // namespace parley::jobs
