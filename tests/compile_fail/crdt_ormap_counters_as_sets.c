// expect: incompatible type|passing 'au_ormap_pncounter'
/* A map of counters passed where a map of sets is expected: each typed ORMap is its own handle. */
#include <aurum/crdt.h>

size_t cf_case(au_ormap_pncounter counters, au_ormap_orset sets) {
#ifdef AU_SHOULD_FAIL
    return au_ormap_orset_size(counters);
#else
    return au_ormap_orset_size(sets) + au_ormap_pncounter_size(counters);
#endif
}
