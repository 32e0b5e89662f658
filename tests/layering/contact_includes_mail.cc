// Positive control: the contact module sees the Mailer and SmsSender ports.
#include "modules/contact/contact.h"
#include "modules/mail/mail.h"
#include "modules/sms/sms.h"
