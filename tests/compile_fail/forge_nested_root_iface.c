// expect: outer_msg__riface__int64_t
/* au_forge of an outer root's reference as an interface of its nested root. */
#include "cf_schema.h"

void cf_case(au_node *node) {
#ifdef AU_SHOULD_FAIL
    (void)au_forge(outer_msg, int64_t, node, "outer", "127.0.0.1:4000");
#else
    (void)au_forge(outer_msg, inner_msg, node, "outer", "127.0.0.1:4000");
#endif
}
