// expect: not compatible with any
/* au_promise_wait with an out pointer of another type than the promised reply (int64_t * for a
 * greeting). */
#include "cf_schema.h"

au_err cf_case(greeting_promise p, greeting *reply, int64_t *number) {
    (void)reply, (void)number;
#ifdef AU_SHOULD_FAIL
    return au_promise_wait(p, greeting, number, AU_SEC(1));
#else
    return au_promise_wait(p, greeting, reply, AU_SEC(1));
#endif
}
