// SQLite implementations of the module store ports. Each creates and migrates its own tables
// (component name = module name) in the shared Database.
#pragma once

#include <memory>

#include "adapters/sqlite/database.h"
#include "modules/auth/store.h"
#include "modules/files/store.h"
#include "modules/jobs/store.h"
#include "modules/messaging/store.h"
#include "modules/notifications/store.h"
#include "modules/search/store.h"
#include "modules/users/store.h"

namespace parley::sqlite {

Result<std::unique_ptr<users::UserStore>> make_user_store(Database& db);
Result<std::unique_ptr<auth::AuthStore>> make_auth_store(Database& db);
Result<std::unique_ptr<messaging::MessagingStore>> make_messaging_store(Database& db);
Result<std::unique_ptr<files::FileStore>> make_file_store(Database& db);
// Needs the messaging tables: call after make_messaging_store().
Result<std::unique_ptr<search::SearchIndex>> make_search_index(Database& db);
// The outbox table (modules/jobs). Create it before the first message append that has hooks.
Result<std::unique_ptr<jobs::JobStore>> make_job_store(Database& db);
Result<std::unique_ptr<notifications::NotificationStore>> make_notification_store(Database& db);

}  // namespace parley::sqlite
