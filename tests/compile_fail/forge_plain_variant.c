// expect: greeter_msg__riface__au_unit
/* au_forge with the payload type of an AU_PLAIN variant, which is no interface. */
#include "cf_schema.h"

void cf_case(au_node *node) {
#ifdef AU_SHOULD_FAIL
    (void)au_forge(greeter_msg, au_unit, node, "greeter", "127.0.0.1:4000");
#else
    (void)au_forge(greeter_msg, int64_t, node, "greeter", "127.0.0.1:4000");
#endif
}
