// expect: incompatible type|passing 'au_ormap_gcounter'
/* Joining a map of grow-only counters into a map of PN-counters (same shape, other values). */
#include <aurum/crdt.h>

au_err cf_case(au_ormap_pncounter pn, au_ormap_pncounter other, au_ormap_gcounter g) {
#ifdef AU_SHOULD_FAIL
    return au_ormap_pncounter_join(pn, g);
#else
    (void)g;
    return au_ormap_pncounter_join(pn, other);
#endif
}
