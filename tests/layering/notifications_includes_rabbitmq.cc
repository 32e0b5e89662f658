// Compiled with parley_notifications' include views: must FAIL (jobs go through the port, never
// the RabbitMQ adapter).
#include "adapters/rabbitmq/amqp_job_queue.h"
#include "modules/notifications/notifications.h"
