// PostgreSQL JobStore: the outbox table shared by every node. claim() leases rows with
// FOR UPDATE SKIP LOCKED, so nodes draining the same table never wait for nor share a row.
#include <algorithm>
#include <string>

#include "adapters/postgres/stores.h"
#include "job_rows.h"

namespace parley::postgres {

namespace {

using namespace jobs;

// state: 0 pending, 1 done, 2 dead.
const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE jobs ("
     "  id BIGSERIAL PRIMARY KEY,"
     "  kind TEXT NOT NULL,"
     "  payload TEXT NOT NULL,"
     "  idem_key TEXT UNIQUE,"
     "  state SMALLINT NOT NULL DEFAULT 0,"
     "  attempts INTEGER NOT NULL DEFAULT 0,"
     "  max_attempts INTEGER NOT NULL DEFAULT 0,"
     "  run_at BIGINT NOT NULL,"
     "  created_at BIGINT NOT NULL,"
     "  finished_at BIGINT,"
     "  leased_until BIGINT,"
     "  last_error TEXT NOT NULL DEFAULT '');"
     "CREATE INDEX jobs_due ON jobs(run_at, id) WHERE state = 0;"
     "CREATE INDEX jobs_finished ON jobs(state, finished_at) WHERE state <> 0;"
     "CREATE TABLE jobs_done_keys (key TEXT PRIMARY KEY, at BIGINT NOT NULL);"},
};

constexpr const char* kJobColumns =
    "id, kind, payload, coalesce(idem_key, ''), attempts, max_attempts, run_at, last_error";

Job row_to_job(const Rows& r, int i) {
  Job j;
  j.id = r.integer(i, 0);
  j.kind = r.text(i, 1);
  j.payload = r.text(i, 2);
  j.idempotency_key = r.text(i, 3);
  j.attempts = static_cast<int>(r.integer(i, 4));
  j.max_attempts = static_cast<int>(r.integer(i, 5));
  j.run_at = r.integer(i, 6);
  j.last_error = r.text(i, 7);
  return j;
}

std::vector<Job> all_jobs(const Rows& r) {
  std::vector<Job> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(row_to_job(r, i));
  return out;
}

class PostgresJobStore final : public JobStore {
 public:
  explicit PostgresJobStore(Pool& pool) : pool_(pool) {}

  Result<void> insert(const std::vector<NewJob>& jobs, Millis now) override {
    if (jobs.empty()) return ok();
    return pool_.transaction([&](Connection& c) -> Result<void> {
      insert_job_rows(c, jobs, now);
      return ok();
    });
  }

  Result<std::vector<Job>> claim(Millis now, int limit, Millis lease_ms) override {
    return pool_.transaction_value([&](Connection& c) -> Result<std::vector<Job>> {
      commit_without_flush_wait(c);  // a lost claim only runs the job again
      auto rows = c.exec(std::string("UPDATE jobs SET attempts = attempts + 1, leased_until = $1"
                                     " WHERE id IN (SELECT id FROM jobs WHERE state = 0 AND"
                                     " run_at <= $2 AND coalesce(leased_until, 0) <= $2"
                                     " ORDER BY run_at, id LIMIT $3"
                                     " FOR UPDATE SKIP LOCKED) RETURNING ") +
                             kJobColumns,
                         {now + lease_ms, now, limit});
      auto out = all_jobs(rows);
      std::sort(out.begin(), out.end(), [](const Job& a, const Job& b) { return a.id < b.id; });
      return out;
    });
  }

  Result<void> release_leases() override {
    return pool_.run([&](Connection& c) -> Result<void> {
      c.exec("UPDATE jobs SET leased_until = NULL WHERE state = 0 AND leased_until IS NOT NULL");
      return ok();
    });
  }

  Result<void> complete(const std::vector<std::int64_t>& ids, Millis now) override {
    if (ids.empty()) return ok();
    return pool_.transaction([&](Connection& c) -> Result<void> {
      commit_without_flush_wait(c);  // a lost completion only runs the job again
      c.exec("UPDATE jobs SET state = 1, finished_at = $1 WHERE id = ANY($2::bigint[])",
             {now, Param::int_array(ids)});
      return ok();
    });
  }

  Result<void> retry(std::int64_t id, Millis run_at, const std::string& error) override {
    return pool_.run([&](Connection& c) -> Result<void> {
      c.exec(
          "UPDATE jobs SET run_at = $1, leased_until = NULL, last_error = $2 WHERE id = $3"
          " AND state = 0",
          {run_at, error, id});
      return ok();
    });
  }

  Result<void> bury(std::int64_t id, Millis now, const std::string& error) override {
    return pool_.run([&](Connection& c) -> Result<void> {
      c.exec("UPDATE jobs SET state = 2, finished_at = $1, last_error = $2 WHERE id = $3",
             {now, error, id});
      return ok();
    });
  }

  Result<std::vector<Job>> dead(int limit) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<Job>> {
      return all_jobs(c.exec(std::string("SELECT ") + kJobColumns +
                                 " FROM jobs WHERE state = 2 ORDER BY finished_at DESC, id DESC"
                                 " LIMIT $1",
                             {limit}));
    });
  }

  Result<JobCounts> counts() override {
    return pool_.run_value([&](Connection& c) -> Result<JobCounts> {
      auto r = c.exec("SELECT state, count(*) FROM jobs GROUP BY state");
      JobCounts n;
      for (int i = 0; i < r.size(); ++i) {
        auto s = r.integer(i, 0);
        (s == 0 ? n.pending : s == 1 ? n.done : n.dead) = r.integer(i, 1);
      }
      return n;
    });
  }

  Result<JobBacklog> backlog(Millis now) override {
    return pool_.run_value([&](Connection& c) -> Result<JobBacklog> {
      auto r = c.exec(
          "SELECT count(*) FILTER (WHERE run_at <= $1 AND coalesce(leased_until, 0) <= $1),"
          " count(*) FILTER (WHERE coalesce(leased_until, 0) > $1),"
          " count(*) FILTER (WHERE run_at > $1 AND coalesce(leased_until, 0) <= $1),"
          " coalesce(min(run_at) FILTER (WHERE run_at <= $1 AND coalesce(leased_until, 0) <= $1),"
          " 0), (SELECT count(*) FROM jobs WHERE state = 2)"
          " FROM jobs WHERE state = 0",
          {now});
      JobBacklog b;
      if (r.size() == 1)
        b = {r.integer(0, 0), r.integer(0, 1), r.integer(0, 2), r.integer(0, 4), r.integer(0, 3)};
      return b;
    });
  }

  Result<std::int64_t> purge_done(Millis before) override {
    return pool_.transaction_value([&](Connection& c) -> Result<std::int64_t> {
      auto n = c.exec("DELETE FROM jobs WHERE state = 1 AND finished_at < $1", {before}).affected();
      c.exec("DELETE FROM jobs_done_keys WHERE at < $1", {before});
      return n;
    });
  }

  Result<bool> remember_done(const std::string& key, Millis now) override {
    return pool_.run_value([&](Connection& c) -> Result<bool> {
      return c.exec(
                  "INSERT INTO jobs_done_keys (key, at) VALUES ($1, $2)"
                  " ON CONFLICT (key) DO NOTHING",
                  {key, now})
                 .affected() == 1;
    });
  }

  Result<bool> was_done(const std::string& key) override {
    return pool_.run_value([&](Connection& c) -> Result<bool> {
      return !c.exec("SELECT 1 FROM jobs_done_keys WHERE key = $1", {key}).empty();
    });
  }

 private:
  Pool& pool_;
};

}  // namespace

void insert_job_rows(Connection& c, const std::vector<jobs::NewJob>& jobs, Millis now) {
  if (jobs.empty()) return;
  std::vector<std::string> kinds, payloads, keys;
  std::vector<std::int64_t> max_attempts, run_at;
  for (const auto& j : jobs) {
    kinds.push_back(j.kind);
    payloads.push_back(j.payload);
    keys.push_back(j.idempotency_key);
    max_attempts.push_back(j.max_attempts);
    run_at.push_back(j.run_at ? j.run_at : now);
  }
  c.exec(
      "INSERT INTO jobs (kind, payload, idem_key, max_attempts, run_at, created_at)"
      " SELECT k, p, NULLIF(i, ''), m, r, $6 FROM unnest($1::text[], $2::text[], $3::text[],"
      " $4::int[], $5::bigint[]) AS t(k, p, i, m, r)"
      " ON CONFLICT (idem_key) DO NOTHING",
      {Param::text_array(kinds), Param::text_array(payloads), Param::text_array(keys),
       Param::int_array(max_attempts), Param::int_array(run_at), now});
}

Result<std::unique_ptr<jobs::JobStore>> make_job_store(Pool& pool) {
  if (auto m = pool.migrate("jobs", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<jobs::JobStore>(new PostgresJobStore(pool));
}

}  // namespace parley::postgres
