// The store contract suites of every module, run against PostgreSQL, plus what only a shared
// database has to prove: two pools ("nodes") appending to one conversation at once, migrations
// started by several nodes together, reconnecting, the pool's deadline, and search (CJK too).
//
// Runs when PARLEY_TEST_POSTGRES_URL names a database the tests may create schemas in
// (`scripts/postgres.sh start` starts a throw-away server and prints one; `make test` does it).
// Without it every test here is skipped with a line naming the variable. Each test gets its own
// schema (search_path), dropped at the end.
#include "adapters/postgres/stores.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <set>
#include <thread>
#include <type_traits>

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

namespace parley::postgres {
namespace {

constexpr const char* kUrlVariable = "PARLEY_TEST_POSTGRES_URL";

const char* base_url() {
  const char* u = std::getenv(kUrlVariable);
  return u && *u ? u : nullptr;
}

#define SKIP_WITHOUT_POSTGRES() \
  if (!base_url()) GTEST_SKIP() << kSkipMessage

constexpr const char* kSkipMessage =
    "PARLEY_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped (`make test` starts a "
    "throw-away server; or run `scripts/postgres.sh start` and export the URL it prints)";

// Marks the running test skipped; for the contract suites, whose factories run in SetUp.
void skip_contract() { GTEST_SKIP() << kSkipMessage; }

// What a contract factory hands out once the test is marked skipped: the test body does not run,
// but a suite's SetUp may still call the store (AuthStoreContract's does), so every call
// succeeds and does nothing.
class SkippedUserStore final : public users::UserStore {
 public:
  Result<void> insert(const users::User&) override { return ok(); }
  Result<users::User> get(const std::string&) override { return users::User{}; }
  Result<users::User> get_by_username(const std::string&) override { return users::User{}; }
  Result<users::User> update_profile(const std::string&, const users::ProfileFields&) override {
    return users::User{};
  }
  Result<users::User> set_avatar(const std::string&, const std::string&) override {
    return users::User{};
  }
  Result<users::User> find_by_avatar(const std::string&) override { return users::User{}; }
  Result<std::vector<users::User>> search_prefix(const std::string&, int,
                                                 const std::optional<std::string>&) override {
    return std::vector<users::User>{};
  }
  Result<void> remove(const std::string&) override { return ok(); }
  Result<users::User> set_role(const std::string&, users::Role) override { return users::User{}; }
  Result<users::User> set_deactivated(const std::string&, std::optional<Millis>) override {
    return users::User{};
  }
};

class SkippedAuthStore final : public auth::AuthStore {
 public:
  Result<void> create_credentials(const std::string&, const std::string&) override { return ok(); }
  Result<auth::Credentials> credentials(const std::string&) override { return auth::Credentials{}; }
  Result<void> set_password_hash(const std::string&, const std::string&) override { return ok(); }
  Result<void> create_session(const auth::SessionRecord&, const std::string&, Millis) override {
    return ok();
  }
  Result<auth::SessionRecord> session(const std::string&) override { return auth::SessionRecord{}; }
  Result<std::vector<auth::SessionRecord>> active_sessions(const std::string&, Millis) override {
    return std::vector<auth::SessionRecord>{};
  }
  Result<void> revoke_session(const std::string&, const std::string&, Millis) override {
    return ok();
  }
  Result<std::vector<std::string>> revoke_sessions(const std::string&, const std::string&,
                                                   Millis) override {
    return std::vector<std::string>{};
  }
  Result<void> mark_authenticated(const std::string&, Millis) override { return ok(); }
  Result<auth::RotateResult> rotate_refresh(const std::string&, const std::string&, Millis,
                                            Millis) override {
    return auth::RotateResult{};
  }
  Result<void> set_pending_totp(const std::string&, const std::string&) override { return ok(); }
  Result<void> enable_totp(const std::string&, const std::vector<std::string>&) override {
    return ok();
  }
  Result<void> disable_totp(const std::string&) override { return ok(); }
  Result<bool> consume_totp_step(const std::string&, std::int64_t) override { return false; }
  Result<bool> consume_recovery_code(const std::string&, const std::string&) override {
    return false;
  }
  Result<SigningKey> signing_key(const SigningKey& candidate) override { return candidate; }
};

// The URL with search_path set to schema (then public, where pg_trgm lives).
std::string with_search_path(const std::string& url, const std::string& schema) {
  if (url.find("://") != std::string::npos)
    return url + (url.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
           schema + "%2Cpublic";
  return url + " options='-csearch_path=" + schema + ",public'";
}

Result<void> admin(const std::function<Result<void>(Connection&)>& fn) {
  PoolOptions o;
  o.size = 1;
  auto pool = Pool::open(base_url(), o);
  if (!pool) return fail(pool.error());
  return (*pool)->transaction(fn);
}

// A schema of its own for one test; dropped when it goes.
class TestSchema {
 public:
  TestSchema() {
    static std::atomic<int> n{0};
    name_ = "parley_t" + std::to_string(::getpid()) + "_" + std::to_string(++n);
    url_ = with_search_path(base_url(), name_);
    auto r = admin([&](Connection& c) -> Result<void> {
      // pg_trgm goes into public once; tests in parallel processes take turns creating it.
      c.exec("SELECT pg_advisory_xact_lock(4242)");
      c.exec_script("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public");
      c.exec_script("DROP SCHEMA IF EXISTS " + name_ + " CASCADE");
      c.exec_script("CREATE SCHEMA " + name_);
      return ok();
    });
    EXPECT_TRUE(r) << "cannot create a test schema at " << kUrlVariable << ": "
                   << (r ? "" : r.error().message);
  }
  ~TestSchema() {
    (void)admin([&](Connection& c) -> Result<void> {
      c.exec_script("DROP SCHEMA IF EXISTS " + name_ + " CASCADE");
      return ok();
    });
  }
  TestSchema(const TestSchema&) = delete;
  TestSchema& operator=(const TestSchema&) = delete;

  const std::string& url() const { return url_; }
  std::unique_ptr<Pool> pool(int size = 8) const {
    auto p = open_pool(url_, size);
    EXPECT_TRUE(p) << (p ? "" : p.error().message);
    return p ? std::move(*p) : nullptr;
  }

 private:
  std::string name_;
  std::string url_;
};

// A fresh schema and pool per store; the store goes first, then its pool, then the schema.
// Without a URL: the test is marked skipped and gets a Skipped store (MessagingStoreContract's
// SetUp only keeps the pointer, so it gets none).
template <class Port, class Skipped, class Make>
std::shared_ptr<Port> make_with_pool(Make make) {
  if (!base_url()) {
    skip_contract();
    if constexpr (std::is_void_v<Skipped>)
      return nullptr;
    else
      return std::make_shared<Skipped>();
  }
  auto schema = std::make_shared<TestSchema>();
  std::shared_ptr<Pool> pool = schema->pool();
  if (!pool) return nullptr;
  auto store = make(*pool);
  EXPECT_TRUE(store) << (store ? "" : store.error().message);
  if (!store) return nullptr;
  return std::shared_ptr<Port>(store->release(), [schema, pool](Port* s) { delete s; });
}

// A fixture of several stores on one fresh schema: fill(pool, keep, fixture) makes them, keep
// being their deleter, which holds the pool and the schema until every store is gone.
template <class Fixture, class Fill>
Fixture on_fresh_schema(Fill fill) {
  if (!base_url()) {
    skip_contract();
    return {};
  }
  auto schema = std::make_shared<TestSchema>();
  std::shared_ptr<Pool> pool = schema->pool(4);
  if (!pool) return {};
  auto keep = [schema, pool](auto* p) { delete p; };
  Fixture f;
  fill(*pool, keep, f);
  return f;
}

// The governance contract's fixture: every store it reaches into, on one fresh schema.
governance::StoreFixture make_governance_fixture() {
  return on_fresh_schema<governance::StoreFixture>([](Pool& pool, auto keep, auto& f) {
    if (auto s = make_user_store(pool)) f.users.reset(s->release(), keep);
    if (auto s = make_messaging_store(pool)) f.messaging.reset(s->release(), keep);
    if (auto s = make_file_store(pool)) f.files.reset(s->release(), keep);
    if (auto s = make_search_index(pool)) f.index.reset(s->release(), keep);
    auto g = make_governance_store(pool);
    EXPECT_TRUE(g) << (g ? "" : g.error().message);
    if (g) f.store.reset(g->release(), keep);
  });
}

// The notifications contract's fixture: its store and the messaging store, on one schema.
notifications::StoreFixture make_notification_fixture() {
  return on_fresh_schema<notifications::StoreFixture>([](Pool& pool, auto keep, auto& f) {
    if (auto s = make_messaging_store(pool)) f.messaging.reset(s->release(), keep);
    if (auto s = make_notification_store(pool)) f.store.reset(s->release(), keep);
  });
}

// The search contract's fixture: a messaging store and its search index on one fresh schema.
search::IndexFixture make_index_fixture() {
  if (!base_url()) {
    skip_contract();
    return {};
  }
  auto schema = std::make_shared<TestSchema>();
  std::shared_ptr<Pool> pool = schema->pool(4);
  if (!pool) return {};
  auto store = make_messaging_store(*pool);
  EXPECT_TRUE(store) << (store ? "" : store.error().message);
  if (!store) return {};
  auto index = make_search_index(*pool);
  EXPECT_TRUE(index) << (index ? "" : index.error().message);
  if (!index) return {};
  // Both go before the pool, and the pool before the schema.
  auto keep = [schema, pool](auto* p) { delete p; };
  return {std::shared_ptr<messaging::MessagingStore>(store->release(), keep),
          std::shared_ptr<search::SearchIndex>(index->release(), keep)};
}

messaging::Conversation channel(const std::string& id, const std::string& name) {
  messaging::Conversation c;
  c.id = id;
  c.type = messaging::ConversationType::channel;
  c.name = name;
  c.visibility = messaging::Visibility::public_;
  c.created_by = "U1";
  c.created_at = 1000;
  return c;
}

messaging::NewMessage message(const std::string& id, const std::string& cid,
                              const std::string& sender, const std::string& cmid,
                              const std::string& text, Millis at = 2000) {
  messaging::NewMessage m;
  m.id = id;
  m.conversation_id = cid;
  m.sender_id = sender;
  m.client_msg_id = cmid;
  m.text = text;
  m.created_at = at;
  return m;
}

}  // namespace

TEST(Postgres, TheTestDatabaseIsReachable) {
  SKIP_WITHOUT_POSTGRES();
  auto p = open_pool(base_url(), 1);
  ASSERT_TRUE(p) << kUrlVariable
                 << " is set but PostgreSQL is not reachable: " << p.error().message;
}

TEST(PostgresPool, MigrationsApplyOnceAndNameTheFailingStep) {
  SKIP_WITHOUT_POSTGRES();
  TestSchema schema;
  {
    auto pool = schema.pool(2);
    ASSERT_TRUE(pool->migrate("t", {{1, "CREATE TABLE t (v INTEGER)"}}));
  }
  auto pool = schema.pool(2);
  // Re-running v1 would fail (the table exists); v2 applies.
  ASSERT_TRUE(pool->migrate(
      "t", {{1, "CREATE TABLE t (v INTEGER)"}, {2, "ALTER TABLE t ADD COLUMN w INTEGER"}}));
  auto broken = pool->migrate("t", {{3, "THIS IS NOT SQL"}});
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("v3"), std::string::npos) << broken.error().message;
  std::int64_t versions = 0;
  ASSERT_TRUE(pool->run([&](Connection& c) -> Result<void> {
    versions = c.exec("SELECT count(*) FROM schema_migrations WHERE component = 't'").integer(0, 0);
    return ok();
  }));
  EXPECT_EQ(versions, 2);
}

TEST(PostgresPool, AFailedTransactionRollsBackAndUniqueViolationsAreRecognised) {
  SKIP_WITHOUT_POSTGRES();
  TestSchema schema;
  auto pool = schema.pool(2);
  ASSERT_TRUE(pool->migrate("t", {{1, "CREATE TABLE t (v INTEGER PRIMARY KEY)"}}));
  auto declined = pool->transaction([](Connection& c) -> Result<void> {
    c.exec("INSERT INTO t (v) VALUES (1)");
    return fail(Errc::invalid_argument, "changed my mind");
  });
  EXPECT_FALSE(declined);
  bool unique = false;
  auto thrown = pool->transaction([&](Connection& c) -> Result<void> {
    c.exec("INSERT INTO t (v) VALUES (2)");
    try {
      c.exec("INSERT INTO t (v) VALUES (2)");
    } catch (const std::exception& e) {
      unique = is_unique_violation(e);
      throw;
    }
    return ok();
  });
  EXPECT_TRUE(unique);
  ASSERT_FALSE(thrown);
  EXPECT_EQ(thrown.error().code, Errc::internal);
  std::int64_t count = -1;
  ASSERT_TRUE(pool->run([&](Connection& c) -> Result<void> {
    count = c.exec("SELECT count(*) FROM t").integer(0, 0);
    return ok();
  }));
  EXPECT_EQ(count, 0);
}

TEST(PostgresPool, ABrokenConnectionIsReplaced) {
  SKIP_WITHOUT_POSTGRES();
  TestSchema schema;
  auto pool = schema.pool(1);
  auto users = make_user_store(*pool);
  ASSERT_TRUE(users);
  std::int64_t pid = 0;
  ASSERT_TRUE(pool->run([&](Connection& c) -> Result<void> {
    pid = c.exec("SELECT pg_backend_pid()").integer(0, 0);
    return ok();
  }));
  ASSERT_TRUE(admin([&](Connection& c) -> Result<void> {
    c.exec("SELECT pg_terminate_backend($1::int)", {pid});
    return ok();
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the backend exits
  users::User u;
  u.id = "U1";
  u.username = "alice";
  u.display_name = "Alice";
  EXPECT_TRUE((*users)->insert(u));  // BEGIN fails on the dead connection; runs on a new one
  EXPECT_TRUE((*users)->get("U1"));
  EXPECT_EQ(pool->stats().reconnects, 1u);
}

TEST(PostgresPool, AcquireGivesUpAtTheDeadline) {
  SKIP_WITHOUT_POSTGRES();
  TestSchema schema;
  PoolOptions o;
  o.size = 1;
  o.acquire_timeout = std::chrono::milliseconds(100);
  auto pool = Pool::open(schema.url(), o);
  ASSERT_TRUE(pool);
  std::atomic<bool> holding{false};
  std::thread holder([&] {
    ASSERT_TRUE((*pool)->run([&](Connection& c) -> Result<void> {
      holding = true;
      c.exec("SELECT pg_sleep(0.6)");
      return ok();
    }));
  });
  while (!holding) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto start = std::chrono::steady_clock::now();
  auto r = (*pool)->run([](Connection&) -> Result<void> { return ok(); });
  auto waited = std::chrono::steady_clock::now() - start;
  holder.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::unavailable);
  EXPECT_LT(waited, std::chrono::milliseconds(500));
  EXPECT_EQ((*pool)->stats().acquire_timeouts, 1u);
  EXPECT_TRUE((*pool)->run([](Connection&) -> Result<void> { return ok(); }));
}

// Two nodes, each with its own pool, migrate together and then send into one conversation at
// once: every message gets its own seq, 1..N with no gap, the same whichever node reads; a send
// retried on both nodes at once is stored once and both get the original.
TEST(PostgresMessaging, TwoNodesSendingAtOnceGetGapFreeSeqAndOneCopyOfARetriedSend) {
  SKIP_WITHOUT_POSTGRES();
  TestSchema schema;
  auto pool_a = schema.pool(4);
  auto pool_b = schema.pool(4);
  std::unique_ptr<messaging::MessagingStore> a, b;
  {
    std::thread ta([&] {
      auto s = make_messaging_store(*pool_a);
      ASSERT_TRUE(s) << s.error().message;
      a = std::move(*s);
    });
    std::thread tb([&] {
      auto s = make_messaging_store(*pool_b);
      ASSERT_TRUE(s) << s.error().message;
      b = std::move(*s);
    });
    ta.join();
    tb.join();
  }
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(
      a->create_conversation(channel("C1", "general"), {{"U0", messaging::Role::owner, 1},
                                                        {"U1", messaging::Role::member, 1},
                                                        {"U2", messaging::Role::member, 1},
                                                        {"U3", messaging::Role::member, 1},
                                                        {"U9", messaging::Role::member, 1}}));

  constexpr int kThreadsPerNode = 4, kEach = 40;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::map<std::int64_t, std::string> seq_to_id;
  std::atomic<int> failures{0};
  for (int node = 0; node < 2; ++node)
    for (int t = 0; t < kThreadsPerNode; ++t)
      threads.emplace_back([&, node, t] {
        auto& store = node == 0 ? *a : *b;
        for (int i = 0; i < kEach; ++i) {
          auto id = "M" + std::to_string(node) + "_" + std::to_string(t) + "_" + std::to_string(i);
          auto r = store.append(message(id, "C1", "U" + std::to_string(t), id, "text " + id));
          if (!r || !r->created) {
            ++failures;
            continue;
          }
          std::lock_guard lock(mu);
          EXPECT_TRUE(seq_to_id.emplace(r->message.seq, id).second)
              << "seq " << r->message.seq << " handed out twice";
        }
      });
  for (auto& t : threads) t.join();
  threads.clear();
  ASSERT_EQ(failures, 0);
  constexpr int kN = 2 * kThreadsPerNode * kEach;
  ASSERT_EQ(seq_to_id.size(), static_cast<std::size_t>(kN));
  EXPECT_EQ(seq_to_id.begin()->first, 1);
  EXPECT_EQ(seq_to_id.rbegin()->first, kN);

  // The same send (same sender and client_msg_id) arriving at both nodes at once.
  std::vector<messaging::Appended> results(2 * kThreadsPerNode);
  for (int i = 0; i < 2 * kThreadsPerNode; ++i)
    threads.emplace_back([&, i] {
      auto& store = i % 2 == 0 ? *a : *b;
      auto r = store.append(message("D" + std::to_string(i), "C1", "U9", "retry", "once"));
      ASSERT_TRUE(r) << r.error().message;
      results[static_cast<std::size_t>(i)] = *r;
    });
  for (auto& t : threads) t.join();
  int created = 0;
  for (const auto& r : results) {
    created += r.created ? 1 : 0;
    EXPECT_EQ(r.message.id, results[0].message.id);
    EXPECT_EQ(r.message.seq, kN + 1);
  }
  EXPECT_EQ(created, 1);

  for (auto* reader : {a.get(), b.get()}) {
    auto page = reader->history("C1", {std::nullopt, 0, kN + 10}, "U1");
    ASSERT_TRUE(page);
    ASSERT_EQ(page->messages.size(), static_cast<std::size_t>(kN + 1));
    for (int i = 0; i < kN; ++i) {
      EXPECT_EQ(page->messages[static_cast<std::size_t>(i)].seq, i + 1);
      EXPECT_EQ(page->messages[static_cast<std::size_t>(i)].id, seq_to_id[i + 1]);
    }
    EXPECT_EQ(reader->get_conversation("C1")->last_seq, kN + 1);
  }
  EXPECT_EQ(pool_a->stats().retries + pool_b->stats().retries, 0u) << "a deadlock was retried";
}

// Races that SQLite's single writer settles by construction, settled here by row and advisory
// locks: run each from two nodes at once, several times.
TEST(PostgresMessaging, TwoNodesRacingKeepDmsCapsOwnersAndPinsConsistent) {
  SKIP_WITHOUT_POSTGRES();
  TestSchema schema;
  auto pool_a = schema.pool(4);
  auto pool_b = schema.pool(4);
  auto sa = make_messaging_store(*pool_a);
  ASSERT_TRUE(sa);
  auto sb = make_messaging_store(*pool_b);
  ASSERT_TRUE(sb);
  messaging::MessagingStore* nodes[2] = {sa->get(), sb->get()};
  auto race = [&](const std::function<void(messaging::MessagingStore&, int)>& fn) {
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; ++i) ts.emplace_back([&, i] { fn(*nodes[i % 2], i); });
    for (auto& t : ts) t.join();
  };
  for (int round = 0; round < 5; ++round) {
    auto r = std::to_string(round);
    // Both users open their DM at once: one conversation.
    std::vector<std::string> dm_ids(4);
    std::atomic<int> created{0};
    race([&](messaging::MessagingStore& s, int i) {
      messaging::Conversation d;
      d.id = "D" + r + "_" + std::to_string(i);
      d.type = messaging::ConversationType::dm;
      d.created_by = "A" + r;
      auto got = i % 2 ? s.find_or_create_dm(d, "A" + r, "B" + r)
                       : s.find_or_create_dm(d, "B" + r, "A" + r);
      ASSERT_TRUE(got) << got.error().message;
      dm_ids[static_cast<std::size_t>(i)] = got->first.id;
      created += got->second ? 1 : 0;
    });
    EXPECT_EQ(created, 1);
    for (const auto& id : dm_ids) EXPECT_EQ(id, dm_ids[0]);
    EXPECT_EQ(nodes[0]->get_conversation(dm_ids[0])->member_count, 2);

    // Four joins at once into a group capped at 3 with one member: exactly two get in.
    auto g = channel("G" + r, "");
    g.type = messaging::ConversationType::group;
    ASSERT_TRUE(nodes[0]->create_conversation(g, {{"U0", messaging::Role::owner, 1}}));
    std::atomic<int> joined{0};
    race([&](messaging::MessagingStore& s, int i) {
      auto added =
          s.add_members("G" + r, {{"J" + std::to_string(i), messaging::Role::member, 2}}, 3);
      if (added) joined += static_cast<int>(added->size());
    });
    EXPECT_EQ(joined, 2);
    EXPECT_EQ(nodes[1]->get_conversation("G" + r)->member_count, 3);

    // Both owners leave at once: someone still owns the channel.
    ASSERT_TRUE(nodes[0]->create_conversation(channel("O" + r, "owners" + r),
                                              {{"P1", messaging::Role::owner, 1},
                                               {"P2", messaging::Role::owner, 2},
                                               {"P3", messaging::Role::member, 3}}));
    race([&](messaging::MessagingStore& s, int i) {
      if (i < 2) {
        EXPECT_TRUE(s.remove_member("O" + r, i == 0 ? "P1" : "P2"));
      }
    });
    auto p3 = nodes[1]->membership("O" + r, "P3");
    ASSERT_TRUE(p3 && *p3);
    EXPECT_EQ((*p3)->role, messaging::Role::owner);

    // Four pins at once with room for two.
    for (int i = 0; i < 4; ++i)
      ASSERT_TRUE(nodes[0]->append(message("PM" + r + "_" + std::to_string(i), "G" + r, "U0",
                                           "pm" + std::to_string(i), "pin me")));
    std::atomic<int> pinned{0};
    race([&](messaging::MessagingStore& s, int i) {
      auto p = s.pin("G" + r, "PM" + r + "_" + std::to_string(i), "U0", 10 + i, 2);
      if (p && *p) ++pinned;
    });
    EXPECT_EQ(pinned, 2);
    EXPECT_EQ(nodes[1]->pins("G" + r, "U0")->size(), 2u);
  }
  EXPECT_EQ(pool_a->stats().retries + pool_b->stats().retries, 0u) << "a deadlock was retried";
}

// A refresh token presented on two nodes at once rotates once; a rotation racing a revocation
// of its session neither deadlocks (PostgreSQL would find it only after deadlock_timeout, 1 s)
// nor leaves the session alive.
TEST(PostgresAuth, RefreshRacesAcrossNodesRotateOnceAndNeverDeadlock) {
  SKIP_WITHOUT_POSTGRES();
  TestSchema schema;
  auto pool_a = schema.pool(4);
  auto pool_b = schema.pool(4);
  auto sa = make_auth_store(*pool_a);
  ASSERT_TRUE(sa);
  auto sb = make_auth_store(*pool_b);
  ASSERT_TRUE(sb);
  auth::AuthStore* nodes[2] = {sa->get(), sb->get()};
  ASSERT_TRUE(nodes[0]->create_credentials("U1", "hash"));
  for (int round = 0; round < 5; ++round) {
    auto r = std::to_string(round);
    auth::SessionRecord s{"S" + r, "U1", "laptop", 100, 100, std::nullopt};
    ASSERT_TRUE(nodes[0]->create_session(s, "tok" + r, 10'000));
    std::atomic<int> rotated{0};
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; ++i)
      ts.emplace_back([&, i] {
        auto got = nodes[i % 2]->rotate_refresh("tok" + r, "new" + r + "_" + std::to_string(i), 200,
                                                20'000);
        ASSERT_TRUE(got) << got.error().message;
        if (got->outcome == auth::RotateOutcome::rotated) ++rotated;
      });
    for (auto& t : ts) t.join();
    EXPECT_EQ(rotated, 1);

    auth::SessionRecord s2{"T" + r, "U1", "phone", 100, 100, std::nullopt};
    ASSERT_TRUE(nodes[0]->create_session(s2, "t2" + r, 10'000));
    std::thread revoker([&] { EXPECT_TRUE(nodes[0]->revoke_session("U1", "T" + r, 300)); });
    std::thread rotator(
        [&] { EXPECT_TRUE(nodes[1]->rotate_refresh("t2" + r, "x" + r, 300, 20'000)); });
    revoker.join();
    rotator.join();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));
    EXPECT_TRUE(nodes[1]->session("T" + r)->revoked_at.has_value());
    EXPECT_EQ(nodes[0]->rotate_refresh("x" + r, "y" + r, 400, 20'000)->outcome,
              auth::RotateOutcome::unknown);
  }
  EXPECT_EQ(pool_a->stats().retries + pool_b->stats().retries, 0u) << "a deadlock was retried";
}

TEST(PostgresMessaging, PublicChannelsPageByNameIgnoringAsciiCase) {
  SKIP_WITHOUT_POSTGRES();
  TestSchema schema;
  auto pool = schema.pool(2);
  auto s = make_messaging_store(*pool);
  ASSERT_TRUE(s);
  for (const char* name : {"gamma", "Beta", "alpha", "b_x", "bax"})
    ASSERT_TRUE((*s)->create_conversation(channel(std::string("C") + name, name),
                                          {{"U1", messaging::Role::owner, 1}}));
  auto names = [&](const std::string& contains, int limit, std::optional<std::string> after) {
    std::vector<std::string> out;
    auto r = (*s)->list_public_channels(contains, limit, after);
    EXPECT_TRUE(r);
    if (r)
      for (const auto& c : *r) out.push_back(c.name);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names("", 10, std::nullopt), (V{"alpha", "b_x", "bax", "Beta", "gamma"}));
  EXPECT_EQ(names("", 2, std::string("bax")), (V{"Beta", "gamma"}));
  EXPECT_EQ(names("B", 10, std::nullopt), (V{"b_x", "bax", "Beta"}));
  EXPECT_EQ(names("_", 10, std::nullopt), (V{"b_x"})) << "wildcards are literal";
}

// The database itself refuses to rewrite the audit record, whatever client asks.
TEST(PostgresAuditStore, TableRefusesUpdateAndDelete) {
  SKIP_WITHOUT_POSTGRES();
  TestSchema schema;
  auto pool = schema.pool(2);
  auto s = make_audit_store(*pool);
  ASSERT_TRUE(s);
  ASSERT_TRUE((*s)->append({"01AUDIT1", 1, "alice", "auth.sign_in", "user:alice", "192.0.2.1"}));
  for (const char* sql : {"UPDATE audit_events SET actor_id = 'mallory'",
                          "DELETE FROM audit_events", "TRUNCATE audit_events"}) {
    auto r = pool->transaction([&](Connection& c) -> Result<void> {
      c.exec(sql);
      return ok();
    });
    EXPECT_FALSE(r) << sql;
  }
  auto left = (*s)->list(audit::Query{std::nullopt, std::nullopt, std::nullopt, 50});
  ASSERT_TRUE(left);
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].actor_id, "alice");
}

}  // namespace parley::postgres

namespace parley::admin {
INSTANTIATE_TEST_SUITE_P(Postgres, AdminStoreContract, ::testing::Values(AdminStoreFactory([] {
                           return postgres::make_with_pool<AdminStore, void>(
                               [](postgres::Pool& p) { return postgres::make_admin_store(p); });
                         })));
}  // namespace parley::admin

namespace parley::audit {
INSTANTIATE_TEST_SUITE_P(Postgres, AuditStoreContract, ::testing::Values(AuditStoreFactory([] {
                           return postgres::make_with_pool<AuditStore, void>(
                               [](postgres::Pool& p) { return postgres::make_audit_store(p); });
                         })));
}  // namespace parley::audit

namespace parley::users {
INSTANTIATE_TEST_SUITE_P(Postgres, UserStoreContract, ::testing::Values(UserStoreFactory([] {
                           return postgres::make_with_pool<UserStore, postgres::SkippedUserStore>(
                               [](postgres::Pool& p) { return postgres::make_user_store(p); });
                         })));
}  // namespace parley::users

namespace parley::auth {
INSTANTIATE_TEST_SUITE_P(Postgres, AuthStoreContract, ::testing::Values(AuthStoreFactory([] {
                           return postgres::make_with_pool<AuthStore, postgres::SkippedAuthStore>(
                               [](postgres::Pool& p) { return postgres::make_auth_store(p); });
                         })));
}  // namespace parley::auth

namespace parley::messaging {
// The search index's column and index ride along, so every contract write also updates them.
INSTANTIATE_TEST_SUITE_P(Postgres, MessagingStoreContract,
                         ::testing::Values(MessagingStoreFactory([] {
                           return postgres::make_with_pool<MessagingStore, void>(
                               [](postgres::Pool& p) {
                                 auto store = postgres::make_messaging_store(p);
                                 if (store) {
                                   EXPECT_TRUE(postgres::make_search_index(p));
                                 }
                                 return store;
                               });
                         })));
}  // namespace parley::messaging

namespace parley::search {
INSTANTIATE_TEST_SUITE_P(Postgres, SearchIndexContract, ::testing::Values(IndexFixtureFactory([] {
                           return postgres::make_index_fixture();
                         })));
}  // namespace parley::search

namespace parley::files {
// FileStoreContract's SetUp only keeps the pointer: no Skipped store needed.
INSTANTIATE_TEST_SUITE_P(Postgres, FileStoreContract, ::testing::Values(FileStoreFactory([] {
                           return postgres::make_with_pool<FileStore, void>(
                               [](postgres::Pool& p) { return postgres::make_file_store(p); });
                         })));
}  // namespace parley::files

namespace parley::governance {
INSTANTIATE_TEST_SUITE_P(Postgres, GovernanceStoreContract,
                         ::testing::Values(StoreFixtureFactory([] {
                           return postgres::make_governance_fixture();
                         })));
}  // namespace parley::governance
namespace parley::sso {
// SsoStoreContract's SetUp only keeps the pointer: no Skipped store needed.
INSTANTIATE_TEST_SUITE_P(Postgres, SsoStoreContract, ::testing::Values(SsoStoreFactory([] {
                           return postgres::make_with_pool<SsoStore, void>(
                               [](postgres::Pool& p) { return postgres::make_sso_store(p); });
                         })));
}  // namespace parley::sso
namespace parley::contact {
INSTANTIATE_TEST_SUITE_P(Postgres, ContactStoreContract,
                         ::testing::Values(ContactStoreFactory([] {
                           return postgres::make_with_pool<ContactStore, void>(
                               [](postgres::Pool& p) { return postgres::make_contact_store(p); });
                         })));
}  // namespace parley::contact
namespace parley::integrations {
INSTANTIATE_TEST_SUITE_P(Postgres, IntegrationStoreContract,
                         ::testing::Values(IntegrationStoreFactory([] {
                           return postgres::make_with_pool<IntegrationStore, void>(
                               [](postgres::Pool& p) {
                                 return postgres::make_integration_store(p);
                               });
                         })));
}  // namespace parley::integrations
namespace parley::ai {
// AiStoreContract's SetUp only keeps the pointer: no Skipped store needed.
INSTANTIATE_TEST_SUITE_P(Postgres, AiStoreContract, ::testing::Values(AiStoreFactory([] {
                           return postgres::make_with_pool<AiStore, void>(
                               [](postgres::Pool& p) { return postgres::make_ai_store(p); });
                         })));
}  // namespace parley::ai
namespace parley::notifications {
INSTANTIATE_TEST_SUITE_P(Postgres, NotificationStoreContract,
                         ::testing::Values(StoreFixtureFactory([] {
                           return postgres::make_notification_fixture();
                         })));
}  // namespace parley::notifications
namespace parley::jobs {
// JobStoreContract's SetUp only keeps the pointer: no Skipped store needed.
INSTANTIATE_TEST_SUITE_P(Postgres, JobStoreContract, ::testing::Values(JobStoreFactory([] {
                           return postgres::make_with_pool<JobStore, void>(
                               [](postgres::Pool& p) { return postgres::make_job_store(p); });
                         })));
}  // namespace parley::jobs
