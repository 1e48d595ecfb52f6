// expect: the .recv hook is required
/* AU_ACTOR with hooks but no .recv: it used to compile and crash at the first message. */
#include "cf_schema.h"

void greeter_pre_start(au_ctx *ctx, greeter_state *self);

#ifdef AU_SHOULD_FAIL
AU_ACTOR(cf_actor, greeter_state, greeter_msg, .pre_start = greeter_pre_start);
#else
AU_ACTOR(cf_actor, greeter_state, greeter_msg, .pre_start = greeter_pre_start,
         .recv = greeter_recv);
#endif
