// expect: must be serializable
/* A local root (worker_msg, which carries a FILE *) exposed as a remote interface of another
 * root. */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
AU_ROOT(cf_outer, (work, worker_msg, AU_REMOTE), (n, int64_t, AU_REMOTE));
#else
AU_LOCAL_ROOT(cf_outer, (work, worker_msg, AU_LOCAL), (n, int64_t, AU_REMOTE));
#endif
