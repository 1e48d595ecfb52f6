// expect: au_remote__file_ptr|serializable|local-only
/* AU_RECORD with a local-only field (file_ptr): such a record must be an AU_LOCAL_RECORD. */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
#define CF_RECORD AU_RECORD
#else
#define CF_RECORD AU_LOCAL_RECORD
#endif

CF_RECORD(open_log, (au_str, path), (file_ptr, out));
