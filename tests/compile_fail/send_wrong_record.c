// expect: au_send: the message
/* au_send through a greeting_ref with a message of another record type (farewell). */
#include "cf_schema.h"

void cf_case(greeting_ref r, greeting hi, farewell bye) {
#ifdef AU_SHOULD_FAIL
    au_send(r, bye);
#else
    au_send(r, hi);
#endif
    (void)hi, (void)bye;
}
