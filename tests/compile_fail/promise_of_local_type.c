// expect: file_ptr_promise
/* A promise for a local-only type: its reply reference (file_ptr_ref) could not exist. */
#include "cf_schema.h"

void cf_case(au_node *node) {
#ifdef AU_SHOULD_FAIL
    (void)au_promise_new(node, file_ptr);
#else
    (void)au_promise_new(node, int64_t);
#endif
}
