// expect: incompatible type for argument|passing 'greeting_ref'
/* A narrowed reference passed where a function takes the root reference. */
#include "cf_schema.h"

void cf_use(greeter_msg_ref g);

void cf_case(greeter_msg_ref g) {
#ifdef AU_SHOULD_FAIL
    cf_use(au_narrow(greeter_msg, greeting, g));
#else
    cf_use(g);
#endif
}
