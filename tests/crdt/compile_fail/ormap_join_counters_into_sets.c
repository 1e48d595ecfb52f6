// expect: incompatible type
/* Joining a map of counters into a map of sets. */
#include <aurum/crdt.h>

au_err cf_case(au_ormap_pncounter counters, au_ormap_orset sets, au_ormap_orset other) {
#ifdef AU_SHOULD_FAIL
    (void)other;
    return au_ormap_orset_join(sets, counters);
#else
    (void)counters;
    return au_ormap_orset_join(sets, other);
#endif
}
