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
#include "modules/admin/store.h"
#include "modules/ai/store.h"
#include "modules/audit/store.h"
#include "modules/auth/store.h"
#include "modules/contact/store.h"
#include "modules/files/store.h"
#include "modules/governance/store.h"
#include "modules/integrations/store.h"
#include "modules/jobs/store.h"
#include "modules/messaging/store.h"
#include "modules/notifications/store.h"
#include "modules/search/store.h"
#include "modules/sso/store.h"
#include "modules/users/store.h"

namespace parley::postgres {

// url: a libpq connection URI (postgres://user:password@host:port/db?sslmode=...) or key=value
// string. size: connections at most (each worker thread that touches storage holds one at a
// time, so size ~ the worker count is the useful ceiling). unavailable when it cannot connect.
Result<std::unique_ptr<Pool>> open_pool(const std::string& url, int size);

Result<std::unique_ptr<users::UserStore>> make_user_store(Pool& pool);
Result<std::unique_ptr<auth::AuthStore>> make_auth_store(Pool& pool);
Result<std::unique_ptr<audit::AuditStore>> make_audit_store(Pool& pool);
Result<std::unique_ptr<admin::AdminStore>> make_admin_store(Pool& pool);
Result<std::unique_ptr<messaging::MessagingStore>> make_messaging_store(Pool& pool);
Result<std::unique_ptr<files::FileStore>> make_file_store(Pool& pool);
Result<std::unique_ptr<contact::ContactStore>> make_contact_store(Pool& pool);
// Adds a column and indexes to the messaging tables: call after make_messaging_store(). Needs the
// pg_trgm extension (PostgreSQL's contrib; "trusted", so the database owner may create it).
Result<std::unique_ptr<search::SearchIndex>> make_search_index(Pool& pool);
// Reads and deletes rows of the users, messaging and files tables and indexes some of them:
// call after those stores' factories.
Result<std::unique_ptr<governance::GovernanceStore>> make_governance_store(Pool& pool);

// Single sign-on: flows in progress, identity links, hand-off codes (component "sso").
Result<std::unique_ptr<sso::SsoStore>> make_sso_store(Pool& pool);
Result<std::unique_ptr<integrations::IntegrationStore>> make_integration_store(Pool& pool);

// The ai module's own tables (component "ai").
Result<std::unique_ptr<ai::AiStore>> make_ai_store(Pool& pool);
// The outbox table (modules/jobs). Create it before the first message append that has hooks.
Result<std::unique_ptr<jobs::JobStore>> make_job_store(Pool& pool);
Result<std::unique_ptr<notifications::NotificationStore>> make_notification_store(Pool& pool);

}  // namespace parley::postgres
