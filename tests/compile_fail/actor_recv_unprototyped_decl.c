// expect: incompatible
// known-hole: a function declared without a prototype is compatible with any pointer parameters
/* A recv hook declared without a prototype (old style), whose definition elsewhere takes
 * another actor's state and message. */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
void other_recv();
#else
void other_recv(au_ctx *ctx, greeter_state *self, greeter_msg *msg);
#endif
AU_ACTOR(cf_actor, greeter_state, greeter_msg, .recv = other_recv);
