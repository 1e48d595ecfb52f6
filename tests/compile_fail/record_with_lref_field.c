// expect: au_remote__greeter_msg_lref|serializable|local-only
/* AU_RECORD with a local reference field: a serializable record may hold T_ref, never T_lref. */
#include "cf_schema.h"

#ifdef AU_SHOULD_FAIL
#define CF_REPLY_REF greeter_msg_lref
#else
#define CF_REPLY_REF greeter_msg_ref
#endif

AU_RECORD(hello_req, (au_str, who), (CF_REPLY_REF, reply_to));
