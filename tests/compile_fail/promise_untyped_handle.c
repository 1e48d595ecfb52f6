// expect: incompatible types|initializing 'au_promise *'
/* A promise kept as an untyped au_promise * (which would let it be waited on as any type). */
#include "cf_schema.h"

void cf_case(au_node *node) {
#ifdef AU_SHOULD_FAIL
    au_promise *p = au_promise_new(node, int64_t);
#else
    int64_t_promise p = au_promise_new(node, int64_t);
#endif
    (void)p;
}
