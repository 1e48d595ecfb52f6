// expect: incompatible types when assigning|assigning to 'greeting_ref'
/* A reference of one interface written into an out-parameter of another. */
#include "cf_schema.h"

void cf_case(greeter_msg_ref g, greeting_ref *out) {
#ifdef AU_SHOULD_FAIL
    *out = au_narrow(greeter_msg, int64_t, g);
#else
    *out = au_narrow(greeter_msg, greeting, g);
#endif
}
