// expect: au_send: the message
/* Sending the nested root's message through the outer root's reference (it must be wrapped as
 * an outer_msg, or sent through the narrowed inner_msg_ref). */
#include "cf_schema.h"

void cf_case(outer_msg_ref o) {
    inner_msg m = { .tag = inner_msg_num, .num = 1 };
#ifdef AU_SHOULD_FAIL
    au_send(o, m);
#else
    au_send(au_narrow(outer_msg, inner_msg, o), m);
#endif
}
