// Governance must not see the SQLite adapter that implements its store.
#include "adapters/sqlite/stores.h"
