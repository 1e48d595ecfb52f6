// expect: greeter_msg__lsrc_|incompatible type 'greeter_msg_lref'
/* au_narrow_local from a location-transparent reference (greeter_msg_ref): it takes R_lref. */
#include "cf_schema.h"

void cf_case(greeter_msg_ref g, greeter_msg_lref gl) {
#ifdef AU_SHOULD_FAIL
    (void)au_narrow_local(greeter_msg, greeting, g);
#else
    (void)au_narrow_local(greeter_msg, greeting, gl);
#endif
    (void)g;
}
