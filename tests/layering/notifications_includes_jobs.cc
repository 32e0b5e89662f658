// Compiled with parley_notifications' include views: must compile (the queue port is in sight).
#include "modules/jobs/jobs.h"
#include "modules/notifications/notifications.h"
