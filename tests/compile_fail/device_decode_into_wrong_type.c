// expect: not compatible with any
/* Decoding a device message declared as a greeting into an int64_t. */
#include "cf_schema.h"
#include <aurum/device_server.h>

au_err cf_case(const au_device_message *m, greeting *g, int64_t *n) {
#ifdef AU_SHOULD_FAIL
    return au_device_message_decode(m, greeting, n);
#else
    (void)n;
    return au_device_message_decode(m, greeting, g);
#endif
}
