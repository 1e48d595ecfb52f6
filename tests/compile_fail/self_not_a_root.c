// expect: greeting__spawn_ref_
/* au_self as one of the actor's interfaces (greeting) rather than its root. */
#include "cf_schema.h"

void cf_case(au_ctx *ctx) {
#ifdef AU_SHOULD_FAIL
    greeting_ref me = au_self(ctx, greeting);
#else
    greeting_ref me = au_narrow(greeter_msg, greeting, au_self(ctx, greeter_msg));
#endif
    (void)me;
}
