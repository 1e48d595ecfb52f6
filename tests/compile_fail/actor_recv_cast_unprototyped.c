// expect: prototype
/* A recv hook of another actor, cast to an unprototyped function pointer to silence the type
 * error: void (*)() is compatible with the hook's type, so the cast alone would pass. */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
AU_ACTOR(cf_actor, greeter_state, greeter_msg, .recv = (void (*)())worker_recv);
#else
AU_ACTOR(cf_actor, greeter_state, greeter_msg, .recv = greeter_recv);
#endif
