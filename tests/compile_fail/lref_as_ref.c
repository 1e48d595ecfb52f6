// expect: incompatible type
/* A local reference stored where a location-transparent one is required (a message field). */
#include "cf_schema.h"

AU_RECORD(hello_req, (au_str, who), (greeter_msg_ref, reply_to));

void cf_case(greeter_msg_ref g, greeter_msg_lref gl) {
    hello_req req = { .who = au_str_lit("x") };
#ifdef AU_SHOULD_FAIL
    req.reply_to = gl;
#else
    req.reply_to = g;
#endif
    (void)req, (void)g, (void)gl;
}
