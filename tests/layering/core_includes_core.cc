// Compiled with only parley_core's include view: must compile (the positive control).
#include "core/result.h"
