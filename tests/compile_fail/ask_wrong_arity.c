// expect: not compatible with any
/* au_ask with a callback that does not take the au_err argument. */
#include "cf_schema.h"

void on_greeting(au_ctx *ctx, void *state, greeting *reply, au_err err);
void on_greeting_noerr(au_ctx *ctx, void *state, greeting *reply);

greeting_ref cf_case(au_ctx *ctx) {
#ifdef AU_SHOULD_FAIL
    return au_ask(ctx, greeting, AU_SEC(1), on_greeting_noerr);
#else
    return au_ask(ctx, greeting, AU_SEC(1), on_greeting);
#endif
}
