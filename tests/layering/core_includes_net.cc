// Compiled with only parley_core's include view: must FAIL (core may not see net).
#include "core/result.h"
#include "net/http.h"
