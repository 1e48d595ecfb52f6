// expect: au_send: the message
/* au_send of an int literal (type int) to an int64_t_ref. */
#include "cf_schema.h"

void cf_case(int64_t_ref r) {
#ifdef AU_SHOULD_FAIL
    au_send(r, 42);
#else
    au_send(r, (int64_t)42);
#endif
}
