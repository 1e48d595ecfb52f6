// expect: non-scalar|arithmetic or pointer type is required
/* A cast from a root reference to an interface reference, instead of au_narrow. */
#include "cf_schema.h"

greeting_ref cf_case(greeter_msg_ref g) {
#ifdef AU_SHOULD_FAIL
    return (greeting_ref)g;
#else
    return au_narrow(greeter_msg, greeting, g);
#endif
}
