// expect: incompatible pointer|incompatible type
// known-hole: _get returns `const au_pncounter *`; storing it into a `const au_orset *` is only an incompatible-pointer warning before GCC 14 / Clang 16 (crdt.h says so)
/* A value of a map of PN-counters got as an ORSet. */
#include <aurum/crdt.h>

size_t cf_case(au_ormap_pncounter counters) {
#ifdef AU_SHOULD_FAIL
    const au_orset *v = au_ormap_pncounter_get(counters, "k", 1);
    return au_orset_size(v);
#else
    const au_pncounter *v = au_ormap_pncounter_get(counters, "k", 1);
    return (size_t)au_pncounter_value(v);
#endif
}
