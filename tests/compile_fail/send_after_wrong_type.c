// expect: au_send: the message
/* au_send_after with a message that is not the reference's message type. */
#include "cf_schema.h"

void cf_case(greeting_ref r, greeting hi, farewell bye) {
#ifdef AU_SHOULD_FAIL
    au_send_after(r, AU_MSEC(10), bye);
#else
    au_send_after(r, AU_MSEC(10), hi);
#endif
    (void)hi, (void)bye;
}
