// expect: dup_msg__riface__greeting|dup_msg__liface__greeting
/* AU_ROOT declaring the same interface type (greeting) in two variants: narrowing would be
 * ambiguous. */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
#define CF_SECOND greeting
#else
#define CF_SECOND farewell
#endif

AU_ROOT(dup_msg,
        (hello, greeting, AU_REMOTE),
        (again, CF_SECOND, AU_REMOTE));
