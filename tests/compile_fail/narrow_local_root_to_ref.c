// expect: worker_msg_ref|worker_msg__riface__worker_msg
/* au_narrow of a local root to itself: a local root has no remote reference (worker_msg_ref). */
#include "cf_schema.h"

void cf_case(worker_msg_lref w) {
#ifdef AU_SHOULD_FAIL
    (void)au_narrow(worker_msg, worker_msg, w);
#else
    (void)au_narrow_local(worker_msg, worker_msg, w);
#endif
}
