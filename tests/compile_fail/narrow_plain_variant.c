// expect: greeter_msg__riface__au_unit
/* au_narrow to the payload type of an AU_PLAIN variant (poke: au_unit), which is no interface. */
#include "cf_schema.h"

void cf_case(greeter_msg_ref g) {
#ifdef AU_SHOULD_FAIL
    (void)au_narrow(greeter_msg, au_unit, g);
#else
    (void)au_narrow(greeter_msg, greeting, g);
#endif
}
