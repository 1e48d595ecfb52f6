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

/* The tag of a value of root type `root`, or -1 if it names none of its variants (set by hand):
 * the one check of a root's tag, which the encoder, the frees, the copies and the local send
 * share. */
int au_root_tag(const au_type *root, const void *value);

/* AU_OK if every root inside `value` (below the top: a root field of a record, a root payload
 * of a variant, a root element of an array, at any depth) has a tag naming one of its
 * variants, as the encoder requires; AU_EENCODE otherwise. The top level's own tag is the
 * caller's (au_root_tag). A type that holds no root below its top returns at once (one cached
 * look, roots_cache, computed once per type); only the parts that can hold a root are walked.
 * Depth-bounded as the encoder is (AU_EENCODE beyond it). */
au_err au_value_check_roots(const au_type *type, const void *value);

#endif
