// expect: not compatible with any
/* au_ask with a callback whose reply parameter has another type (farewell * for a greeting). */
#include "cf_schema.h"

void on_greeting(au_ctx *ctx, void *state, greeting *reply, au_err err);
void on_farewell(au_ctx *ctx, void *state, farewell *reply, au_err err);

greeting_ref cf_case(au_ctx *ctx) {
#ifdef AU_SHOULD_FAIL
    return au_ask(ctx, greeting, AU_SEC(1), on_farewell);
#else
    return au_ask(ctx, greeting, AU_SEC(1), on_greeting);
#endif
}
