// expect: greeting__riface__greeting
/* au_forge with a record (not a root) as the root type. */
#include "cf_schema.h"

void cf_case(au_node *node) {
#ifdef AU_SHOULD_FAIL
    (void)au_forge(greeting, greeting, node, "greeter", "127.0.0.1:4000");
#else
    (void)au_forge(greeter_msg, greeting, node, "greeter", "127.0.0.1:4000");
#endif
}
