// expect: au_remote__open_log|serializable|local-only
/* AU_RECORD with a field whose type is an AU_LOCAL_RECORD. */
#include "cf_schema.h"

AU_LOCAL_RECORD(open_log, (au_str, path), (file_ptr, out));

#ifdef AU_SHOULD_FAIL
#define CF_RECORD AU_RECORD
#else
#define CF_RECORD AU_LOCAL_RECORD
#endif

CF_RECORD(setup, (uint32_t, level), (open_log, log));
