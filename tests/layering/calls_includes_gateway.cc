// Compiled with parley_calls' include views: must FAIL (a module may not see the API layer that
// calls it; the call message goes out as a bus event, not a call into api/).
#include "api/api.h"
#include "modules/calls/calls.h"
