// Compiled with parley_jobs' include views: must FAIL (the job queue knows no module above it).
#include "modules/jobs/jobs.h"
#include "modules/messaging/messaging.h"
