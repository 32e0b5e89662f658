// SQLite implementations of the module store ports. Each creates and migrates its own tables
// (component name = module name) in the shared Database.
#pragma once

#include <memory>

#include "adapters/sqlite/database.h"
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

namespace parley::sqlite {

Result<std::unique_ptr<users::UserStore>> make_user_store(Database& db);
Result<std::unique_ptr<auth::AuthStore>> make_auth_store(Database& db);
Result<std::unique_ptr<audit::AuditStore>> make_audit_store(Database& db);
Result<std::unique_ptr<admin::AdminStore>> make_admin_store(Database& db);
Result<std::unique_ptr<messaging::MessagingStore>> make_messaging_store(Database& db);
Result<std::unique_ptr<files::FileStore>> make_file_store(Database& db);
Result<std::unique_ptr<contact::ContactStore>> make_contact_store(Database& db);
// Needs the messaging tables: call after make_messaging_store().
Result<std::unique_ptr<search::SearchIndex>> make_search_index(Database& db);
// Reads and deletes rows of the users, messaging and files tables and indexes some of them:
// call after those stores' factories.
Result<std::unique_ptr<governance::GovernanceStore>> make_governance_store(Database& db);

// Single sign-on: flows in progress, identity links, hand-off codes (component "sso").
Result<std::unique_ptr<sso::SsoStore>> make_sso_store(Database& db);
Result<std::unique_ptr<integrations::IntegrationStore>> make_integration_store(Database& db);

// The ai module's own tables (component "ai").
Result<std::unique_ptr<ai::AiStore>> make_ai_store(Database& db);
// The outbox table (modules/jobs). Create it before the first message append that has hooks.
Result<std::unique_ptr<jobs::JobStore>> make_job_store(Database& db);
Result<std::unique_ptr<notifications::NotificationStore>> make_notification_store(Database& db);

}  // namespace parley::sqlite
