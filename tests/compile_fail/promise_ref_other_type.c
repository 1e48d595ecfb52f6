// expect: not compatible with any
/* The reply reference of an int64_t promise asked as a greeting reference. */
#include "cf_schema.h"

greeting_ref cf_case(int64_t_promise p, greeting_promise q) {
    (void)p, (void)q;
#ifdef AU_SHOULD_FAIL
    return au_promise_ref(p, greeting);
#else
    return au_promise_ref(q, greeting);
#endif
}
