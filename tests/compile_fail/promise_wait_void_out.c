// expect: not compatible with any
/* au_promise_wait into an untyped (void *) out pointer. */
#include "cf_schema.h"

au_err cf_case(greeting_promise p, greeting *reply) {
#ifdef AU_SHOULD_FAIL
    void *out = reply;
#else
    greeting *out = reply;
#endif
    return au_promise_wait(p, greeting, out, AU_SEC(1));
}
