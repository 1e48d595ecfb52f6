// expect: au_remote__file_ptr|serializable|local-only
/* AU_ARRAY of a local-only type: arrays are serializable, so their elements must be too. */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
AU_ARRAY(file_ptr);
#else
AU_ARRAY(farewell);
#endif
