// expect: is local-only; declare the root with AU_LOCAL_ROOT
/* AU_ROOT (a remote root) with an AU_LOCAL variant: such a root must be an AU_LOCAL_ROOT. */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
#define CF_ROOT AU_ROOT
#else
#define CF_ROOT AU_LOCAL_ROOT
#endif

CF_ROOT(logger_msg,
        (line, au_str, AU_REMOTE),
        (sink, file_ptr, AU_LOCAL));
