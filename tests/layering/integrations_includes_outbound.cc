// Compiled with parley_integrations' include views: must compile (its ports and the outbound
// port it makes every request through).
#include "modules/integrations/integrations.h"
#include "modules/outbound/outbound.h"
