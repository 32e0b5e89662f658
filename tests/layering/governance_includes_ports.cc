// Governance reaches files only through their public ports (the blob store), never an adapter.
#include "modules/files/blob_store.h"
#include "modules/governance/governance.h"
