// expect: greeter_msg__src_|incompatible type 'greeter_msg_ref'
/* au_narrow (to a remote reference) from a local reference of a remote root: only R_ref, or the
 * R_lref of a local root, is a valid source. */
#include "cf_schema.h"

void cf_case(greeter_msg_ref g, greeter_msg_lref gl) {
#ifdef AU_SHOULD_FAIL
    (void)au_narrow(greeter_msg, greeting, gl);
#else
    (void)au_narrow(greeter_msg, greeting, g);
#endif
    (void)gl;
}
