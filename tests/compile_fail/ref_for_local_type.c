// expect: file_ptr_ref
/* A remote reference type for a local-only type: file_ptr_ref does not exist. */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
typedef file_ptr_ref cf_sink_ref;
#else
typedef file_ptr_lref cf_sink_ref;
#endif

void cf_case(cf_sink_ref s) { (void)s; }
