// expect: au_remote__worker_msg_lref|serializable|local-only
/* AU_ROOT (a remote root) with a local reference as a payload: T_lref never leaves its node. */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
#define CF_ROOT AU_ROOT
#else
#define CF_ROOT AU_LOCAL_ROOT
#endif

CF_ROOT(boss_msg,
        (hire, worker_msg_lref, AU_PLAIN),
        (greet, greeting, AU_REMOTE));
