// Compiled with parley_previews' include views: must FAIL (a module may not see an adapter).
#include "adapters/curl/curl_fetcher.h"
#include "modules/previews/previews.h"
