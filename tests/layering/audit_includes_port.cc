// Control: the audit port and its store compile with nothing but core's views.
#include "modules/audit/audit.h"
#include "modules/audit/store.h"
