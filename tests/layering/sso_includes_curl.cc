// Compiled with parley_sso's include views: must FAIL (the provider is reached only through the
// outbound port; the curl adapter is out of sight).
#include "adapters/curl/curl_fetcher.h"
#include "modules/sso/sso.h"
