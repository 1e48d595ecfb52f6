// expect: not compatible with any
/* au_ask with a callback that returns a value (int instead of void). */
#include "cf_schema.h"

void on_greeting(au_ctx *ctx, void *state, greeting *reply, au_err err);
int on_greeting_int(au_ctx *ctx, void *state, greeting *reply, au_err err);

greeting_ref cf_case(au_ctx *ctx) {
#ifdef AU_SHOULD_FAIL
    return au_ask(ctx, greeting, AU_SEC(1), on_greeting_int);
#else
    return au_ask(ctx, greeting, AU_SEC(1), on_greeting);
#endif
}
