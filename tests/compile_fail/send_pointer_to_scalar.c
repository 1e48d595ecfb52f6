// expect: au_send: the message
/* au_send of a pointer (int64_t *) to a scalar reference (int64_t_ref). */
#include "cf_schema.h"

void cf_case(int64_t_ref r, int64_t n) {
#ifdef AU_SHOULD_FAIL
    au_send(r, &n);
#else
    au_send(r, n);
#endif
}
