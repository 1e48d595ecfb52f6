// expect: au_remote__file_ptr|serializable|local-only
/* AU_ROOT (a remote root) with an AU_PLAIN variant whose payload is local-only (file_ptr): every
 * payload of a remote root must be serializable. */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
#define CF_ROOT AU_ROOT
#else
#define CF_ROOT AU_LOCAL_ROOT
#endif

CF_ROOT(logger_msg,
        (line, au_str, AU_REMOTE),
        (sink, file_ptr, AU_PLAIN));
