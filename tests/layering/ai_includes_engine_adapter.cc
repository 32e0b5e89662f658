// Compiled with parley_ai's include views: must FAIL (the AI module names no engine adapter;
// only app/ picks Apertium or CLD2).
#include "adapters/apertium/apertium_translator.h"
#include "modules/ai/ai.h"
