/* proto/value.h — value helpers the runtime needs beyond the public ones of <aurum/types.h>.
 *
 * Owns nothing; implemented in types.c next to au_value_copy and au_value_free. */
#ifndef AU_PROTO_VALUE_H
#define AU_PROTO_VALUE_H

#include <aurum/types.h>

/* Makes `value` own everything it holds: every borrowed part (a string, bytes or array with
 * .owned == 0, as au_str_lit and au_str_view make) is replaced by an owned deep copy, and owned
 * parts are kept as they are (moved, not copied). A type whose values can hold no string,
 * bytes or array returns at once (one cached look, no walk). Custom-codec values are kept as
 * they are. AU_ENOMEM (or AU_EINVAL for a part with a length but no pointer) stops at the
 * failing part; the value is still well formed either way: au_value_free frees exactly what
 * it now owns. */
au_err au_value_own(const au_type *type, void *value);

#endif
