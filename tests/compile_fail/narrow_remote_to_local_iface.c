// expect: worker_msg__riface__control
/* au_narrow (remote) to an AU_LOCAL interface of a local root: only au_narrow_local reaches it,
 * even though the interface's type (control) is itself serializable. */
#include "cf_schema.h"

void cf_case(worker_msg_lref w) {
#ifdef AU_SHOULD_FAIL
    (void)au_narrow(worker_msg, control, w);
#else
    (void)au_narrow_local(worker_msg, control, w);
#endif
}
