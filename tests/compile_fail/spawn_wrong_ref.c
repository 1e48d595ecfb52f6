// expect: invalid initializer|incompatible type
/* The reference au_spawn returns is the actor's root reference (greeter_msg_ref); storing it as
 * a reference to another type fails. */
#include "cf_schema.h"

void cf_case(au_node *node) {
    greeter_state st = { 0 };
#ifdef AU_SHOULD_FAIL
    greeting_ref g = au_spawn(node, greeter_actor, "greeter", &st);
#else
    greeter_msg_ref g = au_spawn(node, greeter_actor, "greeter", &st);
#endif
    (void)g;
}
