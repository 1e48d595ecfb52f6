// expect: au_send: the message
/* au_send of an int literal to a record reference. */
#include "cf_schema.h"

void cf_case(greeting_ref r, greeting hi) {
#ifdef AU_SHOULD_FAIL
    au_send(r, 1);
#else
    au_send(r, hi);
#endif
    (void)hi;
}
