// expect: worker_msg__liface__au_unit
/* au_narrow_local to the payload type of an AU_PLAIN variant (tick: au_unit) of a local root. */
#include "cf_schema.h"

void cf_case(worker_msg_lref w) {
#ifdef AU_SHOULD_FAIL
    (void)au_narrow_local(worker_msg, au_unit, w);
#else
    (void)au_narrow_local(worker_msg, control, w);
#endif
}
