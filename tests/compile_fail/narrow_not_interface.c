// expect: greeter_msg__riface__double
/* au_narrow to a type that no variant of the root carries (double). */
#include "cf_schema.h"

void cf_case(greeter_msg_ref g) {
#ifdef AU_SHOULD_FAIL
    (void)au_narrow(greeter_msg, double, g);
#else
    (void)au_narrow(greeter_msg, int64_t, g);
#endif
}
