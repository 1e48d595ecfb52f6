// expect: incompatible type for argument|passing 'int64_t_promise'
/* An int64_t promise passed to a helper that waits for a greeting. */
#include "cf_schema.h"

static au_err wait_greeting(greeting_promise p, greeting *out) {
    return au_promise_wait(p, greeting, out, AU_SEC(1));
}

au_err cf_case(au_node *node, greeting *out) {
#ifdef AU_SHOULD_FAIL
    return wait_greeting(au_promise_new(node, int64_t), out);
#else
    return wait_greeting(au_promise_new(node, greeting), out);
#endif
}
