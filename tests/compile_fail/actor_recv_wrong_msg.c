// expect: incompatible
/* AU_ACTOR whose recv hook takes another root message type than the actor's. */
#include "cf_schema.h"

void recv_greeter(au_ctx *ctx, greeter_state *self, greeter_msg *msg);
void recv_worker(au_ctx *ctx, greeter_state *self, worker_msg *msg);

#ifdef AU_SHOULD_FAIL
AU_ACTOR(cf_actor, greeter_state, greeter_msg, .recv = recv_worker);
#else
AU_ACTOR(cf_actor, greeter_state, greeter_msg, .recv = recv_greeter);
#endif
