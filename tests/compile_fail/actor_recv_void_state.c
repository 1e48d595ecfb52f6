// expect: incompatible
/* A "generic" recv hook taking the state as void *: the hook must take the actor's S *. */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
void generic_recv(au_ctx *ctx, void *self, greeter_msg *msg);
AU_ACTOR(cf_actor, greeter_state, greeter_msg, .recv = generic_recv);
#else
AU_ACTOR(cf_actor, greeter_state, greeter_msg, .recv = greeter_recv);
#endif
