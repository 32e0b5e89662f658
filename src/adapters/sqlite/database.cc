#include "adapters/sqlite/database.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "core/commit_metrics.h"
#include "core/json.h"
#include "core/log.h"

namespace parley::sqlite {
namespace {

class SqliteError : public std::runtime_error {
 public:
  SqliteError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

void check(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
    throw SqliteError(sqlite3_extended_errcode(db), std::string(what) + ": " + sqlite3_errmsg(db));
}

sqlite3* open_raw(const std::string& path, bool writer) {
  // SQLite counts every allocation it makes under one process-wide mutex unless told not to:
  // the writer and every reader took turns on it (a tenth of the writer's time in profiles of
  // durable sends). Parley never asks SQLite for its memory figures. Set before the library
  // initialises; a later call is refused (SQLITE_MISUSE) and changes nothing.
  static const bool memstatus_off = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)memstatus_off;
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_NOMUTEX |
              (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw SqliteError(rc, "cannot open database " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_extended_result_codes(db, 1);
  // Reads of the database file through a shared mapping rather than a read() into each
  // connection's own page cache: every worker has a reader, and a search or history page over a
  // large store otherwise spends its time copying pages (WAL frames are still read as before).
  sqlite3_exec(db, "PRAGMA mmap_size=4294967296", nullptr, nullptr, nullptr);
  return db;
}

}  // namespace

// ---- Stmt ----

Stmt::~Stmt() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

std::string json_list(const std::vector<std::string>& values) {
  boost::json::array a;
  a.reserve(values.size());
  for (const auto& v : values) a.emplace_back(v);
  return json::serialize(a);
}

Stmt& Stmt::bind(int i, std::string_view v) {
  check(sqlite3_db_handle(s_),
        sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT), "bind");
  return *this;
}

Stmt& Stmt::bind(int i, std::int64_t v) {
  check(sqlite3_db_handle(s_), sqlite3_bind_int64(s_, i, v), "bind");
  return *this;
}

Stmt& Stmt::bind_null(int i) {
  check(sqlite3_db_handle(s_), sqlite3_bind_null(s_, i), "bind");
  return *this;
}

Stmt& Stmt::bind_blob(int i, std::string_view v) {
  check(sqlite3_db_handle(s_),
        sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT), "bind");
  return *this;
}

bool Stmt::step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  check(sqlite3_db_handle(s_), rc, sqlite3_sql(s_));
  return false;
}

int Stmt::exec() {
  while (step()) {
  }
  int changes = sqlite3_changes(sqlite3_db_handle(s_));
  sqlite3_reset(s_);  // ready to be bound and run again (bindings are kept)
  return changes;
}

std::string Stmt::text(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(s_, col));
  int n = sqlite3_column_bytes(s_, col);
  return p ? std::string(p, static_cast<std::size_t>(n)) : std::string();
}

std::int64_t Stmt::integer(int col) const { return sqlite3_column_int64(s_, col); }

bool Stmt::is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

// ---- Connection ----

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Stmt Connection::prepare(std::string_view sql) {
  auto it = cache_.find(std::string(sql));
  if (it != cache_.end()) return Stmt(it->second);
  sqlite3_stmt* s = nullptr;
  check(db_,
        sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                           &s, nullptr),
        "prepare");
  cache_.emplace(std::string(sql), s);
  return Stmt(s);
}

void Connection::exec_script(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw SqliteError(rc, msg);
  }
}

// ---- Database ----

struct Database::Impl {
  struct Job {
    WriteFn fn;
    Result<void> result;
    bool done = false;
    Done on_done;  // write_async: called after the commit, then the job is deleted
  };

  std::string path;
  std::unique_ptr<Connection> writer;
  std::thread writer_thread;
  std::mutex mu;
  std::condition_variable queued_cv;
  std::condition_variable done_cv;
  std::deque<Job*> queue;
  bool stopping = false;
  Stats stats;

  std::mutex readers_mu;
  std::vector<std::unique_ptr<Connection>> idle_readers;

  static constexpr std::size_t kMaxGroup = 512;

  void writer_loop();
  void run_group(std::vector<Job*>& group);
};

void Database::Impl::run_group(std::vector<Job*>& group) {
  Connection& c = *writer;
  const auto started = std::chrono::steady_clock::now();
  try {
    c.prepare("BEGIN IMMEDIATE").exec();
  } catch (const std::exception& e) {
    for (auto* j : group) j->result = fail(sqlite_error(e));
    return;
  }
  std::size_t applied = 0;
  for (auto* j : group) {
    try {
      c.prepare("SAVEPOINT w").exec();
      j->result = j->fn(c);
      if (j->result) {
        c.prepare("RELEASE w").exec();
        ++applied;
      } else {
        c.prepare("ROLLBACK TO w").exec();
        c.prepare("RELEASE w").exec();
      }
    } catch (const std::exception& e) {
      j->result = fail(sqlite_error(e));
      try {
        c.prepare("ROLLBACK TO w").exec();
        c.prepare("RELEASE w").exec();
      } catch (const std::exception&) {
      }
    }
  }
  try {
    c.prepare("COMMIT").exec();
    metrics::observe_commit(
        "sqlite", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
        group.size());
    std::lock_guard lock(mu);
    stats.writes += applied;
    ++stats.commits;
  } catch (const std::exception& e) {
    log::error("sqlite commit failed", {{"error", e.what()}});
    try {
      c.exec_script("ROLLBACK");
    } catch (const std::exception&) {
    }
    for (auto* j : group)
      if (j->result) j->result = fail(Errc::unavailable, "storage commit failed");
  }
}

void Database::Impl::writer_loop() {
  std::vector<Job*> group;
  for (;;) {
    {
      std::unique_lock lock(mu);
      queued_cv.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return;
      // Everything that queued while the last commit was syncing goes into this one.
      while (!queue.empty() && group.size() < kMaxGroup) {
        group.push_back(queue.front());
        queue.pop_front();
      }
    }
    run_group(group);
    // Waiters of write() are woken; write_async jobs complete here, off the lock.
    std::vector<Job*> finished_async;
    {
      std::lock_guard lock(mu);
      for (auto* j : group) {
        if (j->on_done)
          finished_async.push_back(j);
        else
          j->done = true;
      }
    }
    done_cv.notify_all();
    for (auto* j : finished_async) {
      j->on_done(std::move(j->result));
      delete j;
    }
    group.clear();
  }
}

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Database>> Database::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  try {
    impl->writer = std::make_unique<Connection>(open_raw(path, true));
    // WAL lets readers run beside the writer; FULL makes every commit durable before the
    // write is acknowledged.
    impl->writer->exec_script(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
        "PRAGMA wal_autocheckpoint=4000; PRAGMA temp_store=MEMORY;"
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "  component TEXT NOT NULL, version INTEGER NOT NULL, applied_at INTEGER NOT NULL,"
        "  PRIMARY KEY (component, version));");
  } catch (const std::exception& e) {
    return fail(Errc::unavailable, e.what());
  }
  auto* raw = impl.get();
  impl->writer_thread = std::thread([raw] { raw->writer_loop(); });
  pthread_setname_np(impl->writer_thread.native_handle(), "sqlite-writer");
  return std::unique_ptr<Database>(new Database(std::move(impl)));
}

Database::~Database() { stop(); }

void Database::stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return;
    impl_->stopping = true;
  }
  impl_->queued_cv.notify_all();
  if (impl_->writer_thread.joinable()) impl_->writer_thread.join();
  try {
    impl_->writer->exec_script("PRAGMA wal_checkpoint(TRUNCATE);");
  } catch (const std::exception& e) {
    log::warn("sqlite checkpoint at stop failed", {{"error", e.what()}});
  }
}

Result<void> Database::migrate(std::string_view component, const std::vector<Migration>& steps) {
  // Runs through the writer queue so it is ordered with every other write.
  for (const auto& step : steps) {
    auto r = write([&](Connection& c) -> Result<void> {
      auto q = c.prepare("SELECT 1 FROM schema_migrations WHERE component = ? AND version = ?");
      q.bind(1, component).bind(2, step.version);
      if (q.step()) return ok();
      c.exec_script(step.sql);
      c.prepare(
           "INSERT INTO schema_migrations (component, version, applied_at) "
           "VALUES (?, ?, strftime('%s','now') * 1000)")
          .bind(1, component)
          .bind(2, step.version)
          .exec();
      return ok();
    });
    if (!r)
      return fail(Errc::internal, "migration " + std::string(component) + " v" +
                                      std::to_string(step.version) +
                                      " failed: " + r.error().message);
  }
  return ok();
}

Result<void> Database::write(WriteFn fn) {
  Impl::Job job{std::move(fn), ok(), false, nullptr};
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) return fail(Errc::unavailable, "storage is shutting down");
    impl_->queue.push_back(&job);
  }
  impl_->queued_cv.notify_one();
  std::unique_lock lock(impl_->mu);
  impl_->done_cv.wait(lock, [&] { return job.done; });
  return std::move(job.result);
}

void Database::write_async(WriteFn fn, Done done) {
  auto* job = new Impl::Job{std::move(fn), ok(), false, std::move(done)};
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->stopping) {
      impl_->queue.push_back(job);
      job = nullptr;
    }
  }
  if (job) {  // refused: completes at once, on this thread
    job->on_done(fail(Errc::unavailable, "storage is shutting down"));
    delete job;
    return;
  }
  impl_->queued_cv.notify_one();
}

Result<void> Database::ping() {
  return read([](Connection& c) -> Result<void> {
    auto st = c.prepare("SELECT 1");
    st.step();
    return ok();
  });
}

Result<void> backup_database(const std::string& from, const std::string& to) {
  sqlite3* src = nullptr;
  sqlite3* dst = nullptr;
  auto close_both = [&] {
    if (dst) sqlite3_close_v2(dst);
    if (src) sqlite3_close_v2(src);
  };
  auto failed = [&](sqlite3* db, const std::string& what) {
    std::string why = what + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
    close_both();
    return fail(Errc::unavailable, why);
  };
  // Read-write, not read-only: a reader of a WAL database may need to create the -shm file.
  if (sqlite3_open_v2(from.c_str(), &src, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
    return failed(src, "cannot open " + from);
  sqlite3_busy_timeout(src, 5'000);
  if (sqlite3_open_v2(to.c_str(), &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK)
    return failed(dst, "cannot create " + to);
  sqlite3_backup* b = sqlite3_backup_init(dst, "main", src, "main");
  if (!b) return failed(dst, "backup of " + from);
  // All pages in one step: the copy is one snapshot of the source, however busy the server is
  // (in WAL mode the server's writes go on meanwhile; they are not in this copy).
  int rc = sqlite3_backup_step(b, -1);
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) return failed(dst, "backup of " + from);
  // A self-contained file: no WAL beside it.
  sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr);
  close_both();
  return ok();
}

bool database_in_use(const std::string& path) {
  // SQLite's unix VFS holds a shared fcntl lock on byte 128 of the -shm file (UNIX_SHM_DMS)
  // while any connection has the database open; F_GETLK reports another process's lock.
  int fd = ::open((path + "-shm").c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  lk.l_start = 128;
  lk.l_len = 1;
  bool held = ::fcntl(fd, F_GETLK, &lk) == 0 && lk.l_type != F_UNLCK;
  ::close(fd);
  return held;
}

Result<void> Database::read(const ReadFn& fn) {
  std::unique_ptr<Connection> conn;
  {
    std::lock_guard lock(impl_->readers_mu);
    if (!impl_->idle_readers.empty()) {
      conn = std::move(impl_->idle_readers.back());
      impl_->idle_readers.pop_back();
    }
  }
  Result<void> r = ok();
  try {
    if (!conn) conn = std::make_unique<Connection>(open_raw(impl_->path, false));
    r = fn(*conn);
  } catch (const std::exception& e) {
    r = fail(sqlite_error(e));
  }
  if (conn) {
    std::lock_guard lock(impl_->readers_mu);
    impl_->idle_readers.push_back(std::move(conn));
  }
  return r;
}

Database::Stats Database::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

Error sqlite_error(const std::exception& e) {
  log::error("sqlite error", {{"error", e.what()}});
  return Error{Errc::internal, "storage error", {}, 0};
}

bool is_unique_violation(const std::exception& e) {
  auto* se = dynamic_cast<const SqliteError*>(&e);
  return se &&
         (se->code() == SQLITE_CONSTRAINT_UNIQUE || se->code() == SQLITE_CONSTRAINT_PRIMARYKEY);
}

}  // namespace parley::sqlite
