// Compiled with parley_integrations' include views: must FAIL (webhooks and commands reach the
// network only through the outbound port, never the curl adapter).
#include "adapters/curl/curl_fetcher.h"
#include "modules/integrations/integrations.h"
