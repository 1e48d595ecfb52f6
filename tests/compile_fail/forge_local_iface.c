// expect: worker_msg__riface__control
/* au_forge with an AU_LOCAL interface of a local root (only its AU_REMOTE ones can be forged). */
#include "cf_schema.h"

void cf_case(au_node *node) {
#ifdef AU_SHOULD_FAIL
    (void)au_forge(worker_msg, control, node, "worker", "127.0.0.1:4000");
#else
    (void)au_forge(worker_msg, farewell, node, "worker", "127.0.0.1:4000");
#endif
}
