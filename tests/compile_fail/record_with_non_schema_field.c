// expect: au_remote__int|au_type_int
/* AU_RECORD with a field of a C type that has no descriptor (int; the schema types are the
 * fixed-width ones). */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
#define CF_COUNT int
#else
#define CF_COUNT int32_t
#endif

AU_RECORD(tally, (au_str, name), (CF_COUNT, count));
