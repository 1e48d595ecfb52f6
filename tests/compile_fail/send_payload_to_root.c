// expect: au_send: the message
/* au_send of an interface's payload (greeting) through the root's reference (greeter_msg_ref):
 * the root takes a whole greeter_msg; only greeting_ref takes a bare greeting. */
#include "cf_schema.h"

void cf_case(greeter_msg_ref r, greeting hi) {
    greeter_msg m = { .tag = greeter_msg_greet, .greet = hi };
#ifdef AU_SHOULD_FAIL
    au_send(r, hi);
#else
    au_send(r, m);
#endif
    (void)m;
}
