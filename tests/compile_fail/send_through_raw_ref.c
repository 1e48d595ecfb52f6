// expect: type_
/* au_send through the untyped au_ref inside a typed reference: the message type is unknown. */
#include "cf_schema.h"

void cf_case(int64_t_ref r) {
#ifdef AU_SHOULD_FAIL
    au_send(r.raw, (int64_t)1);
#else
    au_send(r, (int64_t)1);
#endif
}
