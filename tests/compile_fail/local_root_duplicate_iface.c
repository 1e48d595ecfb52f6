// expect: dup_msg__liface__greeting
/* AU_LOCAL_ROOT declaring the same interface type in an AU_REMOTE and an AU_LOCAL variant. */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
#define CF_SECOND greeting
#else
#define CF_SECOND farewell
#endif

AU_LOCAL_ROOT(dup_msg,
              (hello, greeting, AU_REMOTE),
              (again, CF_SECOND, AU_LOCAL),
              (sink, file_ptr, AU_LOCAL));
