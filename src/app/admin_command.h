// `parley admin grant USERNAME` and `parley admin revoke USERNAME`: give or take the system-admin
// role on the command line, for the operator who can reach the server's storage (the first
// account is an admin on its own; this names more, or repairs a server whose admins left).
//
// Options are the server's (--data-dir, --database, --config, PARLEY_* variables), so the
// command opens the same store the server uses; it may run while the server runs (SQLite in WAL
// mode and PostgreSQL both allow a second writer), and the change counts from the server's next
// request because the admin check reads the role every time. Each change is written to the audit
// log with no actor (the command line).
#pragma once

#include <string>
#include <vector>

namespace parley::app {

// args: what follows "admin". 0 done, 1 refused or failed (unknown user, last admin), 2 usage.
int admin_command(const std::vector<std::string>& args, char** envp);

}  // namespace parley::app
