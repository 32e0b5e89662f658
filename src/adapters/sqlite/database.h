// SQLite database for the embedded deployment: WAL mode, one writer thread that commits in
// groups, and a pool of read connections.
//
// write(fn) queues fn for the writer thread, which runs many queued writes inside one
// transaction (each in its own savepoint, so a failing one rolls back alone) and commits with
// synchronous=FULL; write() returns only once that commit is durable. read(fn) runs fn on a
// read connection from the pool on the calling thread. Both block: call them from worker
// threads, never from an I/O thread. Thread-safe. Errors come back as Result; SQLite's
// exceptions never leave this adapter.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "core/result.h"

namespace parley::sqlite {

// A prepared statement borrowed from a connection's cache; reset when it goes out of scope.
// A list of strings as one JSON array, to bind as a single parameter and read in SQL with
// `IN (SELECT value FROM json_each(?))` (SQLite has no array parameters).
std::string json_list(const std::vector<std::string>& values);

class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, std::string_view v);
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, std::int64_t v);
  Stmt& bind(int i, int v) { return bind(i, std::int64_t{v}); }
  Stmt& bind_null(int i);
  Stmt& bind_blob(int i, std::string_view v);
  Stmt& bind(int i, const std::optional<std::string>& v) {
    return v ? bind(i, std::string_view(*v)) : bind_null(i);
  }

  // True while a row is available; throws SqliteError on failure (caught at the boundary).
  bool step();
  // Runs to completion and resets, so the statement can be bound and run again; returns
  // sqlite3_changes() of the connection.
  int exec();

  std::string text(int col) const;
  std::int64_t integer(int col) const;
  bool is_null(int col) const;

 private:
  sqlite3_stmt* s_;
};

class Connection {
 public:
  explicit Connection(sqlite3* db) : db_(db) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Cached by SQL text: prepared once per connection.
  Stmt prepare(std::string_view sql);
  void exec_script(const char* sql);
  sqlite3* raw() { return db_; }

 private:
  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// A numbered schema step of one component (a module's tables). Applied once, in order.
struct Migration {
  int version;
  const char* sql;
};

class Database {
 public:
  using WriteFn = std::function<Result<void>(Connection&)>;
  using ReadFn = std::function<Result<void>(Connection&)>;

  static Result<std::unique_ptr<Database>> open(const std::string& path);
  ~Database();

  // Applies component's migrations not yet applied, each in its own transaction.
  Result<void> migrate(std::string_view component, const std::vector<Migration>& steps);

  // Queues fn for the writer thread and waits until its group has committed.
  Result<void> write(WriteFn fn);
  // Queues fn and returns at once; done(result) runs on the writer thread once the group has
  // committed (or failed). done must be short: hand real work to another thread. Writes are
  // applied in the order they were queued, whichever of write/write_async queued them.
  using Done = std::function<void(Result<void>)>;
  void write_async(WriteFn fn, Done done);
  Result<void> read(const ReadFn& fn);

  // read() and write() for a function that produces a value: fn returns Result<T> and that
  // comes back as it is (a storage failure in its place), so callers need no out-parameter.
  // An error from fn rolls its write back, as with write().
  template <class Fn>
  auto read_value(Fn&& fn) -> std::invoke_result_t<Fn&, Connection&> {
    return result_through<std::invoke_result_t<Fn&, Connection&>>(
        [this](const ReadFn& f) { return read(f); }, fn);
  }
  template <class Fn>
  auto write_value(Fn&& fn) -> std::invoke_result_t<Fn&, Connection&> {
    return result_through<std::invoke_result_t<Fn&, Connection&>>(
        [this](ReadFn f) { return write(std::move(f)); }, fn);
  }

  // A cheap query on a read connection: ok when the database answers. For readiness checks.
  Result<void> ping();

  // Finishes queued writes, checkpoints the WAL and closes. Later writes fail (unavailable).
  void stop();

  // Writes committed and the number of commits (transactions) they took; for tests and metrics.
  struct Stats {
    std::uint64_t writes = 0;
    std::uint64_t commits = 0;
  };
  Stats stats() const;

 private:
  struct Impl;
  explicit Database(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Copies the database file at `from` to `to` (replaced if present) with SQLite's online backup
// API, through a connection of its own: consistent even while a server writes to `from` (WAL
// mode lets the copy read one snapshot). Blocks; unavailable with SQLite's message.
Result<void> backup_database(const std::string& from, const std::string& to);

// Whether a process holds the database at `path` open: SQLite's WAL shared-memory file carries
// a read lock (the "DMS" byte) for as long as any connection is open. Any thread.
bool database_in_use(const std::string& path);

// Translates a thrown SqliteError (or any exception) into an Error at an adapter boundary.
Error sqlite_error(const std::exception& e);
bool is_unique_violation(const std::exception& e);

}  // namespace parley::sqlite
