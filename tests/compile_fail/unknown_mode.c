// expect: AU_MODE_VALUE_AU_REMOTEE
/* A variant with an unknown mode token (a typo of AU_REMOTE). */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
#define CF_MODE AU_REMOTEE
#else
#define CF_MODE AU_REMOTE
#endif

AU_ROOT(typo_msg,
        (hello, greeting, CF_MODE),
        (poke, au_unit, AU_PLAIN));
