// expect: au_send: the message
/* au_send of a double to an int64_t_ref (no silent truncation). */
#include "cf_schema.h"

void cf_case(int64_t_ref r, double d) {
#ifdef AU_SHOULD_FAIL
    au_send(r, d);
#else
    au_send(r, (int64_t)d);
#endif
}
