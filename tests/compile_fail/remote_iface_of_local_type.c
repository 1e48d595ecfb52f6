// expect: au_remote__file_ptr|serializable|local-only
/* An AU_REMOTE interface whose type is local-only (file_ptr), even in an AU_LOCAL_ROOT. */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
#define CF_SINK_MODE AU_REMOTE
#else
#define CF_SINK_MODE AU_LOCAL
#endif

AU_LOCAL_ROOT(logger_msg,
              (line, au_str, AU_REMOTE),
              (sink, file_ptr, CF_SINK_MODE));
