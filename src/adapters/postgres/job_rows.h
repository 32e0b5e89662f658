// The outbox's rows, written inside another store's transaction (the message append's
// transactional outbox) or by PostgresJobStore. Private to the PostgreSQL adapter.
#pragma once

#include <vector>

#include "adapters/postgres/pool.h"
#include "modules/jobs/new_job.h"

namespace parley::postgres {

// Inserts the jobs on c in one statement (inside the caller's transaction); a job whose
// idempotency key is already present is skipped. The jobs table must exist (make_job_store).
void insert_job_rows(Connection& c, const std::vector<jobs::NewJob>& jobs, Millis now);

}  // namespace parley::postgres
