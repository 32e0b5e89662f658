// Compiled with parley_previews' include views: must compile (its own and the port's headers).
#include "modules/outbound/outbound.h"
#include "modules/previews/previews.h"
