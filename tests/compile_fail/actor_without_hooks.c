// expect: the .recv hook is required
/* AU_ACTOR with no hook at all (an empty hook list). */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
AU_ACTOR(cf_actor, greeter_state, greeter_msg);
#else
AU_ACTOR(cf_actor, greeter_state, greeter_msg, .recv = greeter_recv);
#endif
