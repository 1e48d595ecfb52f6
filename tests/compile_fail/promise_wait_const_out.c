// expect: not compatible with any
/* au_promise_wait into a pointer to const: the reply is moved into *out. */
#include "cf_schema.h"

au_err cf_case(greeting_promise p, greeting *reply) {
#ifdef AU_SHOULD_FAIL
    const greeting *out = reply;
#else
    greeting *out = reply;
#endif
    return au_promise_wait(p, greeting, out, AU_SEC(1));
}
