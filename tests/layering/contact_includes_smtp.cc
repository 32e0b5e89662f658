// Must not compile: a module naming the SMTP adapter (only app/ picks adapters).
#include "adapters/smtp/smtp_mailer.h"
