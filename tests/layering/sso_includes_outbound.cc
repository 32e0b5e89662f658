// Compiled with parley_sso's include views: must compile (the control for sso_includes_curl).
#include "modules/outbound/outbound.h"
#include "modules/sso/sso.h"
#include "modules/users/users.h"
