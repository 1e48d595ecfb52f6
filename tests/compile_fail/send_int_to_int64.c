// expect: au_send: the message
/* au_send of an `int` to an int64_t_ref: the message type must be exactly int64_t (the positive
 * twin converts explicitly). */
#include "cf_schema.h"

void cf_case(int64_t_ref r, int n) {
#ifdef AU_SHOULD_FAIL
    au_send(r, n);
#else
    au_send(r, (int64_t)n);
#endif
}
