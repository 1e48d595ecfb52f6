// expect: converts between void pointer and function pointer|function pointer and 'void *'
// known-hole(gcc): only -Wpedantic diagnoses void * to function pointer, and gcc does not scope that pragma
/* A recv hook of another actor, cast to void * to silence the type error. */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
AU_ACTOR(cf_actor, greeter_state, greeter_msg, .recv = (void *)worker_recv);
#else
AU_ACTOR(cf_actor, greeter_state, greeter_msg, .recv = greeter_recv);
#endif
