// expect: au_send: the message
/* au_send of an int64_t to a record reference. */
#include "cf_schema.h"

void cf_case(greeting_ref r, greeting hi, int64_t n) {
#ifdef AU_SHOULD_FAIL
    au_send(r, n);
#else
    au_send(r, hi);
#endif
    (void)hi, (void)n;
}
