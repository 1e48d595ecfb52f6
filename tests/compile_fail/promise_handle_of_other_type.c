// expect: invalid initializer|initializing 'greeting_promise'
/* A promise for int64_t replies stored as a greeting promise. */
#include "cf_schema.h"

void cf_case(au_node *node) {
#ifdef AU_SHOULD_FAIL
    greeting_promise p = au_promise_new(node, int64_t);
#else
    int64_t_promise p = au_promise_new(node, int64_t);
#endif
    (void)p;
}
