// Compiled with parley_calls' include views: must compile (its own and messaging's public headers).
#include "modules/calls/calls.h"
#include "modules/messaging/events.h"
