// SQLite JobStore: the outbox table. Every write runs on the one writer thread, so claim's
// "select due rows, lease them" cannot interleave with another claim.
#include <algorithm>
#include <string>

#include "adapters/sqlite/stores.h"
#include "job_rows.h"

namespace parley::sqlite {

namespace {

using namespace jobs;

// state: 0 pending, 1 done, 2 dead.
const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE jobs ("
     "  id INTEGER PRIMARY KEY,"
     "  kind TEXT NOT NULL,"
     "  payload TEXT NOT NULL,"
     "  idem_key TEXT UNIQUE,"
     "  state INTEGER NOT NULL DEFAULT 0,"
     "  attempts INTEGER NOT NULL DEFAULT 0,"
     "  max_attempts INTEGER NOT NULL DEFAULT 0,"
     "  run_at INTEGER NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  finished_at INTEGER,"
     "  leased_until INTEGER,"
     "  last_error TEXT NOT NULL DEFAULT '');"
     "CREATE INDEX jobs_due ON jobs(run_at, id) WHERE state = 0;"
     "CREATE INDEX jobs_finished ON jobs(state, finished_at) WHERE state != 0;"
     "CREATE TABLE jobs_done_keys (key TEXT PRIMARY KEY, at INTEGER NOT NULL);"},
};

constexpr const char* kJobColumns =
    "id, kind, payload, coalesce(idem_key, ''), attempts, max_attempts, run_at, last_error";

Job row_to_job(const Stmt& q) {
  Job j;
  j.id = q.integer(0);
  j.kind = q.text(1);
  j.payload = q.text(2);
  j.idempotency_key = q.text(3);
  j.attempts = static_cast<int>(q.integer(4));
  j.max_attempts = static_cast<int>(q.integer(5));
  j.run_at = q.integer(6);
  j.last_error = q.text(7);
  return j;
}

class SqliteJobStore final : public JobStore {
 public:
  explicit SqliteJobStore(Database& db) : db_(db) {}

  Result<void> insert(const std::vector<NewJob>& jobs, Millis now) override {
    if (jobs.empty()) return ok();
    return db_.write([&](Connection& c) -> Result<void> {
      insert_job_rows(c, jobs, now);
      return ok();
    });
  }

  Result<std::vector<Job>> claim(Millis now, int limit, Millis lease_ms) override {
    return db_.write_value([&](Connection& c) -> Result<std::vector<Job>> {
      auto q = c.prepare(std::string("UPDATE jobs SET attempts = attempts + 1, leased_until = ?1"
                                     " WHERE id IN (SELECT id FROM jobs WHERE state = 0 AND"
                                     " run_at <= ?2 AND coalesce(leased_until, 0) <= ?2"
                                     " ORDER BY run_at, id LIMIT ?3) RETURNING ") +
                         kJobColumns);
      q.bind(1, now + lease_ms).bind(2, now).bind(3, limit);
      std::vector<Job> out;
      while (q.step()) out.push_back(row_to_job(q));
      std::sort(out.begin(), out.end(), [](const Job& a, const Job& b) { return a.id < b.id; });
      return out;
    });
  }

  Result<void> release_leases() override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare("UPDATE jobs SET leased_until = NULL WHERE state = 0 AND leased_until IS NOT NULL")
          .exec();
      return ok();
    });
  }

  Result<void> complete(const std::vector<std::int64_t>& ids, Millis now) override {
    if (ids.empty()) return ok();
    return db_.write([&](Connection& c) -> Result<void> {
      auto q = c.prepare("UPDATE jobs SET state = 1, finished_at = ? WHERE id = ?");
      for (auto id : ids) q.bind(1, now).bind(2, id).exec();
      return ok();
    });
  }

  Result<void> retry(std::int64_t id, Millis run_at, const std::string& error) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare(
           "UPDATE jobs SET run_at = ?, leased_until = NULL, last_error = ? WHERE id = ? AND"
           " state = 0")
          .bind(1, run_at)
          .bind(2, error)
          .bind(3, id)
          .exec();
      return ok();
    });
  }

  Result<void> bury(std::int64_t id, Millis now, const std::string& error) override {
    return db_.write([&](Connection& c) -> Result<void> {
      c.prepare("UPDATE jobs SET state = 2, finished_at = ?, last_error = ? WHERE id = ?")
          .bind(1, now)
          .bind(2, error)
          .bind(3, id)
          .exec();
      return ok();
    });
  }

  Result<std::vector<Job>> dead(int limit) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<Job>> {
      auto q = c.prepare(std::string("SELECT ") + kJobColumns +
                         " FROM jobs WHERE state = 2 ORDER BY finished_at DESC, id DESC LIMIT ?");
      q.bind(1, limit);
      std::vector<Job> out;
      while (q.step()) out.push_back(row_to_job(q));
      return out;
    });
  }

  Result<JobCounts> counts() override {
    return db_.read_value([&](Connection& c) -> Result<JobCounts> {
      auto q = c.prepare("SELECT state, count(*) FROM jobs GROUP BY state");
      JobCounts n;
      while (q.step()) {
        auto s = q.integer(0);
        (s == 0 ? n.pending : s == 1 ? n.done : n.dead) = q.integer(1);
      }
      return n;
    });
  }

  Result<JobBacklog> backlog(Millis now) override {
    return db_.read_value([&](Connection& c) -> Result<JobBacklog> {
      auto q = c.prepare(
          "SELECT count(*) FILTER (WHERE run_at <= ?1 AND coalesce(leased_until, 0) <= ?1),"
          " count(*) FILTER (WHERE coalesce(leased_until, 0) > ?1),"
          " count(*) FILTER (WHERE run_at > ?1 AND coalesce(leased_until, 0) <= ?1),"
          " coalesce(min(run_at) FILTER (WHERE run_at <= ?1 AND coalesce(leased_until, 0) <= ?1),"
          " 0), (SELECT count(*) FROM jobs WHERE state = 2)"
          " FROM jobs WHERE state = 0");
      q.bind(1, now);
      JobBacklog b;
      if (q.step())
        b = {q.integer(0), q.integer(1), q.integer(2), q.integer(4), q.integer(3)};
      return b;
    });
  }

  Result<std::int64_t> purge_done(Millis before) override {
    return db_.write_value([&](Connection& c) -> Result<std::int64_t> {
      std::int64_t n =
          c.prepare("DELETE FROM jobs WHERE state = 1 AND finished_at < ?").bind(1, before).exec();
      c.prepare("DELETE FROM jobs_done_keys WHERE at < ?").bind(1, before).exec();
      return n;
    });
  }

  Result<bool> remember_done(const std::string& key, Millis now) override {
    return db_.write_value([&](Connection& c) -> Result<bool> {
      return c.prepare("INSERT OR IGNORE INTO jobs_done_keys (key, at) VALUES (?, ?)")
                 .bind(1, key)
                 .bind(2, now)
                 .exec() == 1;
    });
  }

  Result<bool> was_done(const std::string& key) override {
    return db_.read_value([&](Connection& c) -> Result<bool> {
      return c.prepare("SELECT 1 FROM jobs_done_keys WHERE key = ?").bind(1, key).step();
    });
  }

 private:
  Database& db_;
};

}  // namespace

void insert_job_rows(Connection& c, const std::vector<jobs::NewJob>& jobs, Millis now) {
  auto q = c.prepare(
      "INSERT OR IGNORE INTO jobs (kind, payload, idem_key, max_attempts, run_at, created_at)"
      " VALUES (?, ?, ?, ?, ?, ?)");
  for (const auto& j : jobs) {
    q.bind(1, j.kind)
        .bind(2, j.payload)
        .bind(3, j.idempotency_key.empty() ? std::optional<std::string>()
                                           : std::optional<std::string>(j.idempotency_key))
        .bind(4, j.max_attempts)
        .bind(5, j.run_at ? j.run_at : now)
        .bind(6, now)
        .exec();
  }
}

Result<std::unique_ptr<jobs::JobStore>> make_job_store(Database& db) {
  if (auto m = db.migrate("jobs", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<jobs::JobStore>(new SqliteJobStore(db));
}

}  // namespace parley::sqlite
