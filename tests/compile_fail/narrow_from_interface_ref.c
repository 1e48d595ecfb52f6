// expect: greeter_msg__src_|incompatible type
/* From an interface reference (greeting_ref) to another interface of the same actor: only the
 * root reference may be narrowed. */
#include "cf_schema.h"

void cf_case(greeter_msg_ref g) {
    greeting_ref gi = au_narrow(greeter_msg, greeting, g);
#ifdef AU_SHOULD_FAIL
    (void)au_narrow(greeter_msg, int64_t, gi);
#else
    (void)au_narrow(greeter_msg, int64_t, g);
#endif
    (void)gi;
}
