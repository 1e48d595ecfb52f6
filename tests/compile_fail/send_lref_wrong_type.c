// expect: au_send: the message
/* au_send through a local reference (control_lref) with a message of another type. */
#include "cf_schema.h"

void cf_case(control_lref r, control c, farewell bye) {
#ifdef AU_SHOULD_FAIL
    au_send(r, bye);
#else
    au_send(r, c);
#endif
    (void)c, (void)bye;
}
