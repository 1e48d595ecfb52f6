// expect: requires 4 arguments|too few arguments provided
/* A variant without its mode: (name, type) instead of (name, type, mode). */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
#define CF_HELLO (hello, greeting)
#else
#define CF_HELLO (hello, greeting, AU_REMOTE)
#endif

AU_ROOT(short_msg,
        CF_HELLO,
        (poke, au_unit, AU_PLAIN));
