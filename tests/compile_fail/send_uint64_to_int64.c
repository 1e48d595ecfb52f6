// expect: au_send: the message
/* au_send of a uint64_t to an int64_t_ref (same width, other signedness). */
#include "cf_schema.h"

void cf_case(int64_t_ref r, uint64_t u) {
#ifdef AU_SHOULD_FAIL
    au_send(r, u);
#else
    au_send(r, (int64_t)u);
#endif
}
