// The audit module is a leaf: any module may record through it, so it must not reach up into
// users, auth or the admin module (a cycle). This include must fail with audit's views.
#include "modules/users/users.h"
