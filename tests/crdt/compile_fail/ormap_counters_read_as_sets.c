// expect: incompatible type
/* A map of counters read with the accessors of a map of sets. */
#include <aurum/crdt.h>

const void *cf_case(au_ormap_pncounter counters, au_ormap_orset sets) {
#ifdef AU_SHOULD_FAIL
    (void)sets;
    return au_ormap_orset_get(counters, "k", 1);
#else
    (void)counters;
    return au_ormap_orset_get(sets, "k", 1);
#endif
}
