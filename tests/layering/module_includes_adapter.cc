// Compiled with parley_auth's include views: must FAIL (a module may not see an adapter).
#include "adapters/sqlite/database.h"
#include "modules/auth/auth.h"
