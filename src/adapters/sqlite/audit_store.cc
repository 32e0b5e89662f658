// SQLite AuditStore: one append-only table. Triggers make SQLite itself refuse UPDATE and
// DELETE on it, so not even a later bug in Parley's own code can rewrite the record.
#include "adapters/sqlite/stores.h"

namespace parley::sqlite {
namespace {

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE audit_events ("
     "  id TEXT PRIMARY KEY,"
     "  at INTEGER NOT NULL,"
     "  actor_id TEXT NOT NULL,"
     "  action TEXT NOT NULL,"
     "  target TEXT NOT NULL,"
     "  ip TEXT NOT NULL);"
     "CREATE INDEX audit_events_actor ON audit_events(actor_id, id);"
     "CREATE INDEX audit_events_action ON audit_events(action, id);"
     "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events"
     " BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;"
     "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events"
     " BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;"},
};

class SqliteAuditStore final : public audit::AuditStore {
 public:
  explicit SqliteAuditStore(Database& db) : db_(db) {}

  Result<void> append(const audit::Event& e) override {
    return db_.write([&](Connection& c) -> Result<void> {
      try {
        c.prepare(
             "INSERT INTO audit_events (id, at, actor_id, action, target, ip)"
             " VALUES (?, ?, ?, ?, ?, ?)")
            .bind(1, e.id)
            .bind(2, e.at)
            .bind(3, e.actor_id)
            .bind(4, e.action)
            .bind(5, e.target)
            .bind(6, e.ip)
            .exec();
      } catch (const std::exception& ex) {
        if (is_unique_violation(ex)) return fail(Errc::already_exists, "audit event exists");
        throw;
      }
      return ok();
    });
  }

  Result<std::vector<audit::Event>> list(const audit::Query& q) override {
    return db_.read_value([&](Connection& c) -> Result<std::vector<audit::Event>> {
      auto s = c.prepare(
          "SELECT id, at, actor_id, action, target, ip FROM audit_events"
          " WHERE (?1 IS NULL OR actor_id = ?1) AND (?2 IS NULL OR action = ?2)"
          " AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4");
      s.bind(1, q.actor_id).bind(2, q.action).bind(3, q.before_id).bind(4, q.limit);
      std::vector<audit::Event> out;
      while (s.step())
        out.push_back({s.text(0), s.integer(1), s.text(2), s.text(3), s.text(4), s.text(5)});
      return out;
    });
  }

 private:
  Database& db_;
};

}  // namespace

Result<std::unique_ptr<audit::AuditStore>> make_audit_store(Database& db) {
  if (auto m = db.migrate("audit", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<audit::AuditStore>(new SqliteAuditStore(db));
}

}  // namespace parley::sqlite
