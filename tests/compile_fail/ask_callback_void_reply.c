// expect: not compatible with any
/* A "generic" ask callback taking the reply as void *: it must take the reply type, T *. */
#include "cf_schema.h"

void on_any(au_ctx *ctx, void *state, void *reply, au_err err);
void on_count(au_ctx *ctx, void *state, int64_t *reply, au_err err);

int64_t_ref cf_case(au_ctx *ctx) {
#ifdef AU_SHOULD_FAIL
    return au_ask(ctx, int64_t, AU_SEC(1), on_any);
#else
    return au_ask(ctx, int64_t, AU_SEC(1), on_count);
#endif
}
