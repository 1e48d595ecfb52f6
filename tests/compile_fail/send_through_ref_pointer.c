// expect: is a pointer
/* au_send through a pointer to a reference (an out-parameter used as is). */
#include "cf_schema.h"

void cf_case(int64_t_ref *r) {
#ifdef AU_SHOULD_FAIL
    au_send(r, (int64_t)1);
#else
    au_send(*r, (int64_t)1);
#endif
}
