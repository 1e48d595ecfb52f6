// expect: not compatible with any
/* au_device_send of an int64_t value declared as a greeting: the value must be a T *. */
#include "cf_schema.h"
#include <aurum/device_server.h>

au_err cf_case(au_device_server *ds, greeting *g, int64_t *n) {
#ifdef AU_SHOULD_FAIL
    return au_device_send(ds, 7, greeting, n);
#else
    (void)n;
    return au_device_send(ds, 7, greeting, g);
#endif
}
