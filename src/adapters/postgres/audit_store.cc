// PostgreSQL AuditStore: one append-only table; a trigger makes the database refuse UPDATE and
// DELETE on it (TRUNCATE too), whoever asks.
#include "adapters/postgres/stores.h"

namespace parley::postgres {
namespace {

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE audit_events ("
     "  id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  at BIGINT NOT NULL,"
     "  actor_id TEXT COLLATE \"C\" NOT NULL,"
     "  action TEXT COLLATE \"C\" NOT NULL,"
     "  target TEXT NOT NULL,"
     "  ip TEXT NOT NULL);"
     "CREATE INDEX audit_events_actor ON audit_events (actor_id, id);"
     "CREATE INDEX audit_events_action ON audit_events (action, id);"
     "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS"
     " $$ BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$;"
     "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events"
     " FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();"
     "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events"
     " FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();"},
};

class PostgresAuditStore final : public audit::AuditStore {
 public:
  explicit PostgresAuditStore(Pool& pool) : pool_(pool) {}

  Result<void> append(const audit::Event& e) override {
    return pool_.transaction([&](Connection& c) -> Result<void> {
      try {
        c.exec(
            "INSERT INTO audit_events (id, at, actor_id, action, target, ip)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            {e.id, e.at, e.actor_id, e.action, e.target, e.ip});
      } catch (const std::exception& ex) {
        if (is_unique_violation(ex)) return fail(Errc::already_exists, "audit event exists");
        throw;
      }
      return ok();
    });
  }

  Result<std::vector<audit::Event>> list(const audit::Query& q) override {
    return pool_.run_value([&](Connection& c) -> Result<std::vector<audit::Event>> {
      auto r = c.exec(
          "SELECT id, at, actor_id, action, target, ip FROM audit_events"
          " WHERE ($1::text IS NULL OR actor_id = $1) AND ($2::text IS NULL OR action = $2)"
          " AND ($3::text IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
          {q.actor_id, q.action, q.before_id, q.limit});
      std::vector<audit::Event> out;
      for (int i = 0; i < r.size(); ++i)
        out.push_back({r.text(i, 0), r.integer(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4),
                       r.text(i, 5)});
      return out;
    });
  }

 private:
  Pool& pool_;
};

}  // namespace

Result<std::unique_ptr<audit::AuditStore>> make_audit_store(Pool& pool) {
  if (auto m = pool.migrate("audit", kMigrations); !m) return fail(m.error());
  return std::unique_ptr<audit::AuditStore>(new PostgresAuditStore(pool));
}

}  // namespace parley::postgres
