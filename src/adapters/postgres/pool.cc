#include "adapters/postgres/pool.h"

#include <libpq-fe.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "adapters/postgres/stores.h"
#include "core/log.h"

namespace parley::postgres {
namespace {

// Taken (per transaction) by every migration step, on every node: one number for the whole
// database, so two nodes never run DDL side by side. "PARLEY" in ASCII.
constexpr std::int64_t kMigrationLock = 0x5041524C4559;
constexpr int kMaxAttempts = 3;

class PgError : public std::runtime_error {
 public:
  PgError(std::string sqlstate, const std::string& what, bool broken)
      : std::runtime_error(what), sqlstate_(std::move(sqlstate)), broken_(broken) {}
  const std::string& sqlstate() const { return sqlstate_; }
  bool broken() const { return broken_; }

 private:
  std::string sqlstate_;
  bool broken_;
};

const PgError* as_pg(const std::exception& e) { return dynamic_cast<const PgError*>(&e); }

// Deadlocks and serialization failures roll the whole transaction back: safe to run again.
bool retryable(const std::exception& e) {
  auto* pg = as_pg(e);
  return pg && (pg->sqlstate() == "40P01" || pg->sqlstate() == "40001");
}

bool broken(const std::exception& e) {
  auto* pg = as_pg(e);
  return pg && pg->broken();
}

std::string trim_message(const char* m) {
  std::string s = m ? m : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void append_quoted(std::string& out, std::string_view v) {
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

// Ends an open or failed transaction; a connection that cannot is broken and will be dropped.
void rollback_quietly(Connection& c) {
  if (c.broken()) return;
  try {
    c.exec_script("ROLLBACK");
  } catch (const std::exception&) {
  }
}

}  // namespace

// ---- Param ----

Param Param::text_array(const std::vector<std::string>& v) {
  std::string out = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    append_quoted(out, v[i]);
  }
  out += '}';
  return Param(out);
}

Param Param::int_array(const std::vector<std::int64_t>& v) {
  std::string out = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(v[i]);
  }
  out += '}';
  return Param(out);
}

void commit_without_flush_wait(Connection& c) {
  c.exec_script("SET LOCAL synchronous_commit = off");
}

// ---- Rows ----

Rows& Rows::operator=(Rows&& o) noexcept {
  if (this != &o) {
    if (r_) PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}

Rows::~Rows() {
  if (r_) PQclear(r_);
}

int Rows::size() const { return r_ ? PQntuples(r_) : 0; }

std::string Rows::text(int row, int col) const {
  return std::string(PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col)));
}

std::int64_t Rows::integer(int row, int col) const {
  return std::strtoll(PQgetvalue(r_, row, col), nullptr, 10);
}

bool Rows::boolean(int row, int col) const { return PQgetvalue(r_, row, col)[0] == 't'; }

bool Rows::is_null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }

std::string Rows::bytes(int row, int col) const {
  std::size_t n = 0;
  unsigned char* raw =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, col)), &n);
  if (!raw) throw PgError("", "cannot decode bytea", false);
  std::string out(reinterpret_cast<const char*>(raw), n);
  PQfreemem(raw);
  return out;
}

std::string Rows::command() const { return r_ ? PQcmdStatus(r_) : ""; }

std::int64_t Rows::affected() const {
  const char* n = r_ ? PQcmdTuples(r_) : "";
  return *n ? std::strtoll(n, nullptr, 10) : 0;
}

// ---- Connection ----

Connection::~Connection() { PQfinish(conn_); }

bool Connection::broken() const { return PQstatus(conn_) == CONNECTION_BAD; }

Rows Connection::check(pg_result* r, std::string_view what) {
  ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
    ++succeeded_;
    return Rows(r);
  }
  std::string state;
  std::string msg;
  if (r) {
    const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    state = s ? s : "";
    msg = trim_message(PQresultErrorMessage(r));
    PQclear(r);
  }
  if (msg.empty()) msg = trim_message(PQerrorMessage(conn_));
  throw PgError(state, msg + " [" + std::string(what.substr(0, 120)) + "]", broken());
}

namespace {

// libpq's parallel arrays for n parameters.
struct Wire {
  Wire(const Param* params, std::size_t n) : values(n), lengths(n), formats(n) {
    for (std::size_t i = 0; i < n; ++i) {
      const auto& p = params[i];
      values[i] = p.value ? p.value->c_str() : nullptr;
      lengths[i] = p.value ? static_cast<int>(p.value->size()) : 0;
      formats[i] = p.binary ? 1 : 0;
    }
  }
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
};

}  // namespace

Rows Connection::exec_n(std::string_view sql, const Param* params, std::size_t n) {
  std::string key(sql);
  auto it = prepared_.find(key);
  if (it == prepared_.end()) {
    std::string name = "p" + std::to_string(prepared_.size() + 1);
    check(PQprepare(conn_, name.c_str(), key.c_str(), 0, nullptr), sql);
    it = prepared_.emplace(std::move(key), std::move(name)).first;
  }
  Wire w(params, n);
  return check(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(n), w.values.data(),
                              w.lengths.data(), w.formats.data(), 0),
               sql);
}

Rows Connection::exec_unprepared(std::string_view sql, const std::vector<Param>& params) {
  std::string text(sql);
  Wire w(params.data(), params.size());
  return check(PQexecParams(conn_, text.c_str(), static_cast<int>(params.size()), nullptr,
                            w.values.data(), w.lengths.data(), w.formats.data(), 0),
               sql);
}

Rows Connection::exec_script(const std::string& sql) {
  return check(PQexec(conn_, sql.c_str()), sql);
}

// ---- Pool ----

struct Pool::Impl {
  std::string url;
  PoolOptions options;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<Connection>> idle;
  int open = 0;
  Stats stats;

  std::unique_ptr<Connection> connect();
  Result<std::unique_ptr<Connection>> acquire();
  void release(std::unique_ptr<Connection> c);
};

std::unique_ptr<Connection> Pool::Impl::connect() {
  // connect_timeout comes before the URL so the URL can override it; the encoding after it, so
  // text always travels as UTF-8.
  const char* keys[] = {"connect_timeout", "dbname", "client_encoding", "fallback_application_name",
                        nullptr};
  const char* values[] = {"10", url.c_str(), "UTF8", "parley", nullptr};
  PGconn* raw = PQconnectdbParams(keys, values, 1);
  if (!raw) throw PgError("", "out of memory", true);
  auto c = std::make_unique<Connection>(raw);
  // Notices ("extension already exists, skipping", "query contains only stop words") are not
  // errors; libpq would print them to stderr.
  PQsetNoticeProcessor(
      raw, [](void*, const char*) {}, nullptr);
  if (PQstatus(raw) != CONNECTION_OK)
    throw PgError("08001", "cannot connect to PostgreSQL: " + trim_message(PQerrorMessage(raw)),
                  true);
  if (options.statement_timeout.count() > 0)
    c->exec_script("SET statement_timeout = " + std::to_string(options.statement_timeout.count()));
  return c;
}

Result<std::unique_ptr<Connection>> Pool::Impl::acquire() {
  std::unique_lock lock(mu);
  auto deadline = std::chrono::steady_clock::now() + options.acquire_timeout;
  for (;;) {
    if (!idle.empty()) {
      auto c = std::move(idle.back());
      idle.pop_back();
      c->reset_counters();
      return c;
    }
    if (open < options.size) {
      ++open;
      lock.unlock();
      try {
        auto c = connect();
        c->reset_counters();
        return c;
      } catch (const std::exception& e) {
        lock.lock();
        --open;
        cv.notify_one();
        log::warn("postgres connect failed", {{"error", e.what()}});
        return fail(Errc::unavailable, "database unavailable");
      }
    }
    if (cv.wait_until(lock, deadline) == std::cv_status::timeout && idle.empty() &&
        open >= options.size) {
      ++stats.acquire_timeouts;
      return fail(Errc::unavailable, "database busy: no free connection");
    }
  }
}

void Pool::Impl::release(std::unique_ptr<Connection> c) {
  bool drop = c->broken();
  if (drop) c.reset();  // closes it outside the lock
  std::lock_guard lock(mu);
  if (drop) {
    --open;
    ++stats.reconnects;
  } else {
    idle.push_back(std::move(c));
  }
  cv.notify_one();
}

Pool::Pool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pool::~Pool() = default;

Result<std::unique_ptr<Pool>> Pool::open(const std::string& url, const PoolOptions& options) {
  if (options.size < 1) return fail(Errc::invalid_argument, "pool size must be at least 1");
  auto impl = std::make_unique<Impl>();
  impl->url = url;
  impl->options = options;
  try {
    impl->idle.push_back(impl->connect());
    impl->open = 1;
  } catch (const std::exception& e) {
    return fail(Errc::unavailable, e.what());
  }
  return std::unique_ptr<Pool>(new Pool(std::move(impl)));
}

Result<void> Pool::run(const Fn& fn) {
  for (int attempt = 0;; ++attempt) {
    auto c = impl_->acquire();
    if (!c) return fail(c.error());
    Result<void> r = ok();
    bool again = false;
    try {
      r = fn(**c);
    } catch (const std::exception& e) {
      // A connection that died while idle fails its first statement: nothing ran, try anew.
      again = attempt == 0 && broken(e) && (*c)->succeeded() == 0;
      if (!again) r = fail(pg_error(e));
    }
    impl_->release(std::move(*c));
    if (!again) return r;
  }
}

Result<void> Pool::transaction(const Fn& fn) {
  for (int attempt = 1;; ++attempt) {
    auto acquired = impl_->acquire();
    if (!acquired) return fail(acquired.error());
    auto c = std::move(*acquired);
    Result<void> r = ok();
    bool again = false;
    try {
      c->exec_script("BEGIN");
      r = fn(*c);
      if (r) {
        // COMMIT of a transaction that had failed answers ROLLBACK instead of an error.
        if (c->exec_script("COMMIT").command() != "COMMIT")
          throw PgError("40000", "transaction was rolled back at commit", false);
      } else {
        rollback_quietly(*c);  // fn's error is the answer, whatever the rollback says
      }
    } catch (const std::exception& e) {
      rollback_quietly(*c);
      if (retryable(e) && attempt < kMaxAttempts) {
        again = true;
        std::lock_guard lock(impl_->mu);
        ++impl_->stats.retries;
      } else if (broken(e) && c->succeeded() == 0 && attempt == 1) {
        again = true;  // died while idle: BEGIN failed, nothing ran
      } else {
        r = fail(pg_error(e));
      }
    }
    impl_->release(std::move(c));
    if (!again) return r;
    if (attempt > 1) std::this_thread::sleep_for(std::chrono::milliseconds(attempt * 5));
  }
}

Result<void> Pool::migrate(std::string_view component, const std::vector<Migration>& steps) {
  for (const auto& step : steps) {
    auto r = transaction([&](Connection& c) -> Result<void> {
      c.exec_script("SET LOCAL statement_timeout = 0");  // an index build may take long
      c.exec("SELECT pg_advisory_xact_lock($1)", {kMigrationLock});
      c.exec_script(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          "  component TEXT NOT NULL, version INTEGER NOT NULL, applied_at BIGINT NOT NULL,"
          "  PRIMARY KEY (component, version))");
      auto done = c.exec("SELECT 1 FROM schema_migrations WHERE component = $1 AND version = $2",
                         {component, step.version});
      if (!done.empty()) return ok();
      c.exec_script(step.sql);
      c.exec(
          "INSERT INTO schema_migrations (component, version, applied_at)"
          " VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
          {component, step.version});
      return ok();
    });
    if (!r)
      return fail(Errc::internal, "migration " + std::string(component) + " v" +
                                      std::to_string(step.version) +
                                      " failed: " + r.error().message);
  }
  return ok();
}

Pool::Stats Pool::stats() const {
  std::lock_guard lock(impl_->mu);
  Stats s = impl_->stats;
  s.size = impl_->options.size;
  s.open = impl_->open;
  s.idle = static_cast<int>(impl_->idle.size());
  return s;
}

Error pg_error(const std::exception& e) {
  auto* pg = as_pg(e);
  if (pg) {
    const auto& st = pg->sqlstate();
    // 08: connection exception; 53: insufficient resources; 57: operator intervention
    // (statement timeout, admin shutdown).
    if (pg->broken() || st.rfind("08", 0) == 0 || st.rfind("53", 0) == 0 ||
        st.rfind("57", 0) == 0) {
      log::warn("postgres unavailable", {{"error", e.what()}, {"sqlstate", st}});
      return Error{Errc::unavailable, "storage unavailable", {}, 0};
    }
    log::error("postgres error", {{"error", e.what()}, {"sqlstate", st}});
  } else {
    log::error("postgres error", {{"error", e.what()}});
  }
  return Error{Errc::internal, "storage error", {}, 0};
}

Result<std::unique_ptr<Pool>> open_pool(const std::string& url, int size) {
  PoolOptions options;
  options.size = size;
  return Pool::open(url, options);
}

bool is_unique_violation(const std::exception& e) {
  auto* pg = as_pg(e);
  return pg && pg->sqlstate() == "23505";
}

}  // namespace parley::postgres
