// expect: multiple associations|compatible with 2
/* An ask callback for another reply type, cast to an unprototyped function pointer (which is
 * compatible with the expected callback type) to silence the type error. */
#include "cf_schema.h"

void on_greeting(au_ctx *ctx, void *state, greeting *reply, au_err err);
void on_count(au_ctx *ctx, void *state, int64_t *reply, au_err err);

int64_t_ref cf_case(au_ctx *ctx) {
#ifdef AU_SHOULD_FAIL
    return au_ask(ctx, int64_t, AU_SEC(1), (void (*)())on_greeting);
#else
    return au_ask(ctx, int64_t, AU_SEC(1), on_count);
#endif
}
