// PostgreSQL implementations of the module store ports, for nodes that share one database.
// Each factory migrates its component's tables (component name = module name) through the pool,
// so several nodes may start at once. Same semantics as the SQLite stores: every implementation
// passes its port's store_contract.h. Every mutation is one transaction and returns after its
// COMMIT.
//
// Wiring (src/app): open_pool(url, size), then make_user_store, make_auth_store,
// make_messaging_store and make_search_index (after the messaging store) on that pool. The pool
// must outlive the stores.
#pragma once

#include <memory>
#include <string>

#include "adapters/postgres/pool.h"
#include "modules/auth/store.h"
#include "modules/files/store.h"
#include "modules/jobs/store.h"
#include "modules/messaging/store.h"
#include "modules/notifications/store.h"
#include "modules/search/store.h"
#include "modules/users/store.h"

namespace parley::postgres {

// url: a libpq connection URI (postgres://user:password@host:port/db?sslmode=...) or key=value
// string. size: connections at most (each worker thread that touches storage holds one at a
// time, so size ~ the worker count is the useful ceiling). unavailable when it cannot connect.
Result<std::unique_ptr<Pool>> open_pool(const std::string& url, int size);

Result<std::unique_ptr<users::UserStore>> make_user_store(Pool& pool);
Result<std::unique_ptr<auth::AuthStore>> make_auth_store(Pool& pool);
Result<std::unique_ptr<messaging::MessagingStore>> make_messaging_store(Pool& pool);
Result<std::unique_ptr<files::FileStore>> make_file_store(Pool& pool);
// Adds a column and indexes to the messaging tables: call after make_messaging_store(). Needs the
// pg_trgm extension (PostgreSQL's contrib; "trusted", so the database owner may create it).
Result<std::unique_ptr<search::SearchIndex>> make_search_index(Pool& pool);
// The outbox table (modules/jobs). Create it before the first message append that has hooks.
Result<std::unique_ptr<jobs::JobStore>> make_job_store(Pool& pool);
Result<std::unique_ptr<notifications::NotificationStore>> make_notification_store(Pool& pool);

}  // namespace parley::postgres
