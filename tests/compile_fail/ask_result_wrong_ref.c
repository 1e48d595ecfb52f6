// expect: invalid initializer|incompatible type
/* The reference au_ask returns is T_ref for the asked type; storing it as another ref fails. */
#include "cf_schema.h"

void on_greeting(au_ctx *ctx, void *state, greeting *reply, au_err err);

void cf_case(au_ctx *ctx) {
#ifdef AU_SHOULD_FAIL
    farewell_ref reply_to = au_ask(ctx, greeting, AU_SEC(1), on_greeting);
#else
    greeting_ref reply_to = au_ask(ctx, greeting, AU_SEC(1), on_greeting);
#endif
    (void)reply_to;
}
