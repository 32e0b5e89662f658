// The store contract suites of every module, run against SQLite in a throw-away folder.
#include "adapters/sqlite/stores.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "modules/auth/store_contract.h"
#include "modules/messaging/store_contract.h"
#include "modules/search/index_contract.h"
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

}  // namespace

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

}  // namespace parley::sqlite

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
