// expect: greeter_msg__riface__double
/* au_forge with an interface the root does not declare. */
#include "cf_schema.h"

void cf_case(au_node *node) {
#ifdef AU_SHOULD_FAIL
    (void)au_forge(greeter_msg, double, node, "greeter", "127.0.0.1:4000");
#else
    (void)au_forge(greeter_msg, greeting, node, "greeter", "127.0.0.1:4000");
#endif
}
