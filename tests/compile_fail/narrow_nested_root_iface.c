// expect: outer_msg__riface__int64_t
/* au_narrow of the outer root straight to an interface of the nested root (int64_t is an
 * interface of inner_msg, not of outer_msg). */
#include "cf_schema.h"

void cf_case(outer_msg_ref o) {
#ifdef AU_SHOULD_FAIL
    (void)au_narrow(outer_msg, int64_t, o);
#else
    (void)au_narrow(outer_msg, inner_msg, o);
#endif
}
