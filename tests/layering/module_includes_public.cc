// Compiled with parley_auth's include views: must compile (public headers of its dependencies).
#include "modules/auth/auth.h"
#include "modules/users/users.h"
