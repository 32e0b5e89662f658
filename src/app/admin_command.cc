#include "app/admin_command.h"

#include <cstdio>

#include "adapters/postgres/stores.h"
#include "adapters/sqlite/stores.h"
#include "app/config.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "modules/audit/audit.h"
#include "modules/users/users.h"

namespace parley::app {
namespace {

int say(int code, const std::string& line) {
  std::fprintf(stderr, "parley: %s\n", line.c_str());
  return code;
}

constexpr const char* kUsage =
    "usage: parley admin grant|revoke USERNAME [--data-dir DIR | --database URL] [--config FILE]";

// The users store the server would use, and what it lives in (kept open together).
struct Opened {
  std::unique_ptr<sqlite::Database> sqlite;
  std::unique_ptr<postgres::Pool> postgres;
  std::unique_ptr<users::UserStore> users;
  std::unique_ptr<audit::AuditStore> audit;
};

Result<Opened> open_users(const Config& cfg) {
  Opened o;
  if (cfg.database.empty()) {
    auto db = sqlite::Database::open(cfg.data_dir + "/parley.db");
    if (!db) return fail(db.error());
    o.sqlite = std::move(*db);
    auto store = sqlite::make_user_store(*o.sqlite);
    if (!store) return fail(store.error());
    o.users = std::move(*store);
    auto audit = sqlite::make_audit_store(*o.sqlite);
    if (!audit) return fail(audit.error());
    o.audit = std::move(*audit);
  } else {
    auto pool = postgres::open_pool(cfg.database, 2);
    if (!pool) return fail(pool.error());
    o.postgres = std::move(*pool);
    auto store = postgres::make_user_store(*o.postgres);
    if (!store) return fail(store.error());
    o.users = std::move(*store);
    auto audit = postgres::make_audit_store(*o.postgres);
    if (!audit) return fail(audit.error());
    o.audit = std::move(*audit);
  }
  return o;
}

}  // namespace

int admin_command(const std::vector<std::string>& args, char** envp) {
  if (args.size() < 2 || (args[0] != "grant" && args[0] != "revoke")) return say(2, kUsage);
  const bool grant = args[0] == "grant";
  const std::string& username = args[1];
  auto cfg = load_config({args.begin() + 2, args.end()}, envp);
  if (!cfg) return say(2, cfg.error().message);
  init_crypto();
  auto opened = open_users(*cfg);
  if (!opened) return say(1, "cannot open the store: " + opened.error().message);
  SystemClock clock;
  users::UserService users(*opened->users, clock);
  auto user = users.find_by_username(username);
  if (!user) {
    if (user.error().code == Errc::not_found) return say(1, "no user named \"" + username + "\"");
    return say(1, user.error().message);
  }
  const users::Role role = grant ? users::Role::admin : users::Role::user;
  if (user->role == role) {
    std::printf("%s is already %s\n", user->username.c_str(), grant ? "an admin" : "not an admin");
    return 0;
  }
  auto changed = users.set_role(user->id, role);
  if (!changed) return say(1, changed.error().message);
  // The command line has no actor and no client address: "" for both.
  audit::AuditLog audit_log(*opened->audit, clock);
  (void)audit_log.record({"", audit::actions::kRoleChanged,
                          audit::target("user", user->id) + " role:" + users::role_name(role), ""});
  std::printf("%s is %s\n", changed->username.c_str(),
              grant ? "now an admin" : "no longer an admin");
  if (opened->sqlite) opened->sqlite->stop();
  return 0;
}

}  // namespace parley::app
