// The outbox's rows, written inside another store's write (the message append's transactional
// outbox) or by SqliteJobStore. Private to the SQLite adapter.
#pragma once

#include <vector>

#include "adapters/sqlite/database.h"
#include "modules/jobs/new_job.h"

namespace parley::sqlite {

// Inserts the jobs on c (inside the caller's transaction); a job whose idempotency key is
// already present is skipped. The jobs table must exist (make_job_store migrated it).
void insert_job_rows(Connection& c, const std::vector<jobs::NewJob>& jobs, Millis now);

}  // namespace parley::sqlite
