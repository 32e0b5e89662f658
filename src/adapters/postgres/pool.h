// PostgreSQL connection pool on libpq, for the scale-out deployment: several nodes share one
// database, each with a bounded pool of connections.
//
// transaction(fn) borrows a connection, runs fn between BEGIN and COMMIT and returns only after
// the COMMIT has succeeded (so a caller acknowledges nothing the database has not committed);
// fn returning an error, or throwing, rolls back. run(fn) borrows a connection in autocommit
// mode, for reads. Both block the calling thread (call them from worker threads, never from an
// I/O thread) until a connection is free, up to PoolOptions::acquire_timeout; then they fail
// with unavailable. Thread-safe. libpq's errors are thrown as exceptions inside this adapter
// only and come back as Result values: unique violations are recognised with
// is_unique_violation(), a broken connection or an exhausted pool is unavailable, anything else
// internal.
//
// Statements run through Connection::exec are prepared once per connection (keyed by their SQL
// text) and then executed with parameters; parameters travel as text, bytea as binary.
// A connection found broken is dropped and replaced by a fresh one on the next borrow.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "core/result.h"

struct pg_conn;
struct pg_result;

namespace parley::postgres {

// One statement parameter: a value in PostgreSQL's text form, or NULL; bytes() marks a bytea
// value sent in binary form.
struct Param {
  Param(std::nullopt_t) {}
  Param(std::string_view v) : value(std::string(v)) {}
  Param(const std::string& v) : value(v) {}
  Param(const char* v) : value(std::string(v)) {}
  Param(std::int64_t v) : value(std::to_string(v)) {}
  Param(int v) : value(std::to_string(v)) {}
  Param(bool v) : value(v ? "t" : "f") {}
  Param(const std::optional<std::string>& v) : value(v) {}
  Param(const std::optional<std::int64_t>& v) {
    if (v) value = std::to_string(*v);
  }

  static Param bytes(std::string_view v) {
    Param p(v);
    p.binary = true;
    return p;
  }
  // A text[] literal: '{"a","b"}', each element quoted and escaped.
  static Param text_array(const std::vector<std::string>& v);
  static Param int_array(const std::vector<std::int64_t>& v);

  std::optional<std::string> value;
  bool binary = false;
};

// The rows (or the command result) of one statement; owns the libpq result.
class Rows {
 public:
  explicit Rows(pg_result* r) : r_(r) {}
  Rows(Rows&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Rows& operator=(Rows&& o) noexcept;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;
  ~Rows();

  int size() const;
  bool empty() const { return size() == 0; }
  std::string text(int row, int col) const;
  std::int64_t integer(int row, int col) const;
  bool boolean(int row, int col) const;
  bool is_null(int row, int col) const;
  // A bytea column, decoded.
  std::string bytes(int row, int col) const;
  // Rows inserted, updated or deleted (PQcmdTuples).
  std::int64_t affected() const;
  // The command tag ("COMMIT", "INSERT 0 1", ...).
  std::string command() const;

 private:
  pg_result* r_;
};

class Connection {
 public:
  explicit Connection(pg_conn* c) : conn_(c) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Prepares sql on first use on this connection, then executes it. Throws on failure (caught at
  // the adapter boundary by Pool).
  Rows exec(std::string_view sql, std::initializer_list<Param> params = {}) {
    return exec_n(sql, params.begin(), params.size());
  }
  Rows exec(std::string_view sql, const std::vector<Param>& params) {
    return exec_n(sql, params.data(), params.size());
  }
  // Planned afresh for these parameter values, not prepared: for queries whose best plan
  // depends on the values (a LIKE pattern decides whether the trigram index pays), where a
  // prepared statement's generic plan would scan the table.
  Rows exec_unprepared(std::string_view sql, const std::vector<Param>& params);
  // One or more statements without parameters (simple query protocol); for BEGIN/COMMIT,
  // SET and migrations.
  Rows exec_script(const std::string& sql);

  bool broken() const;
  // Statements that succeeded since the pool handed this connection out.
  int succeeded() const { return succeeded_; }
  void reset_counters() { succeeded_ = 0; }

 private:
  Rows exec_n(std::string_view sql, const Param* params, std::size_t n);
  Rows check(pg_result* r, std::string_view what);

  pg_conn* conn_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
  int succeeded_ = 0;
};

// Inside a transaction: its commit does not wait for the WAL flush. For writes a crash may lose
// because they are redone or derived (a job's claim or completion: the job runs again; a
// sentiment score), never for what a client was told is stored. A later flushed commit flushes
// them too. Without it each costs a WAL flush: as many as the sends themselves.
void commit_without_flush_wait(Connection& c);

// A numbered schema step of one component (a module's tables). Applied once, in order.
struct Migration {
  int version;
  const char* sql;
};

struct PoolOptions {
  int size = 8;  // connections at most; opened on demand
  std::chrono::milliseconds acquire_timeout{5000};
  // SET statement_timeout on every connection; 0 leaves the server's setting.
  std::chrono::milliseconds statement_timeout{30'000};
};

class Pool {
 public:
  using Fn = std::function<Result<void>(Connection&)>;

  // Connects once to check the URL (a libpq connection URI or key=value string).
  static Result<std::unique_ptr<Pool>> open(const std::string& url, const PoolOptions& options);
  ~Pool();

  // Applies component's migrations not yet applied, each in its own transaction, under a
  // transaction-level advisory lock so that nodes starting together apply each step once.
  Result<void> migrate(std::string_view component, const std::vector<Migration>& steps);

  // fn inside BEGIN ... COMMIT; returns after the commit. A deadlock or serialization failure
  // runs fn again (up to three times), so fn must set its outputs afresh on each run.
  Result<void> transaction(const Fn& fn);
  // fn in autocommit mode, for reads. Run again once on a fresh connection when the pooled one
  // turns out to be broken before any statement succeeded.
  Result<void> run(const Fn& fn);

  // transaction() and run() for a function that produces a value: fn returns Result<T> and
  // that comes back as it is (a database failure in its place), so callers need no
  // out-parameter. An error from fn rolls the transaction back; a retried transaction's value
  // is the last run's.
  template <class Fn>
  auto transaction_value(Fn&& fn) -> std::invoke_result_t<Fn&, Connection&> {
    return result_through<std::invoke_result_t<Fn&, Connection&>>(
        [this](const Pool::Fn& f) { return transaction(f); }, fn);
  }
  template <class Fn>
  auto run_value(Fn&& fn) -> std::invoke_result_t<Fn&, Connection&> {
    return result_through<std::invoke_result_t<Fn&, Connection&>>(
        [this](const Pool::Fn& f) { return run(f); }, fn);
  }

  struct Stats {
    int size = 0;
    int open = 0;  // connections made and not dropped
    int idle = 0;
    std::uint64_t acquire_timeouts = 0;
    std::uint64_t reconnects = 0;  // broken connections dropped
    std::uint64_t retries = 0;     // transactions re-run after a deadlock or serialization failure
  };
  Stats stats() const;

 private:
  struct Impl;
  explicit Pool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Translates a thrown error at the adapter boundary: a broken connection, a cancelled statement
// or a server out of resources -> unavailable; anything else -> internal (logged).
Error pg_error(const std::exception& e);
bool is_unique_violation(const std::exception& e);

}  // namespace parley::postgres
