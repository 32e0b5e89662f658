// Compiled with parley_ai's include views: must compile (its own headers and the ports it uses).
#include "modules/ai/ai.h"
#include "modules/ai/openai_engine.h"
#include "modules/outbound/outbound.h"
