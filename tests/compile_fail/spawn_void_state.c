// expect: not compatible with any
/* The initial state passed through a void * parameter: it may point to anything, and the spawn
 * would copy sizeof(greeter_state) bytes from it. Among void * values only a null pointer
 * constant is accepted. */
#include "cf_schema.h"

greeter_msg_ref cf_start(au_node *node, void *state) {
    (void)state;
#ifdef AU_SHOULD_FAIL
    return au_spawn(node, greeter_actor, "greeter", state);
#else
    return au_spawn(node, greeter_actor, "greeter", NULL);
#endif
}
