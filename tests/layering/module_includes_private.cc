// Compiled with parley_auth's include views: must FAIL (another module's private file).
#include "modules/auth/password.h"
#include "modules/users/users.h"
