// expect: greeter_msg__src_|incompatible type 'greeter_msg_ref'
/* au_narrow of a reference to another root (other_msg_ref), although that root also has a
 * greeting interface. */
#include "cf_schema.h"

void cf_case(greeter_msg_ref g, other_msg_ref o) {
#ifdef AU_SHOULD_FAIL
    (void)au_narrow(greeter_msg, greeting, o);
#else
    (void)au_narrow(greeter_msg, greeting, g);
#endif
    (void)o;
}
