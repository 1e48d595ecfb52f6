// expect: not compatible with any
/* Waiting on a greeting promise as an int64_t one (out pointer and type agree with each other,
 * not with the promise). */
#include "cf_schema.h"

au_err cf_case(greeting_promise p, greeting *reply, int64_t *number) {
    (void)reply, (void)number;
#ifdef AU_SHOULD_FAIL
    return au_promise_wait(p, int64_t, number, AU_SEC(1));
#else
    return au_promise_wait(p, greeting, reply, AU_SEC(1));
#endif
}
