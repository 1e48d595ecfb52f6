// expect: not compatible with any
/* Iterating a map of PN-counters and reading its values as ORSets. */
#include <aurum/crdt.h>

size_t cf_case(au_ormap_pncounter counters) {
    au_crdt_iter it = { 0 };
    au_crdt_bytes key;
    size_t n = 0;
#ifdef AU_SHOULD_FAIL
    const au_orset *v = NULL;
    while (au_ormap_pncounter_next(counters, &it, &key, &v)) n += au_orset_size(v);
#else
    const au_pncounter *v = NULL;
    while (au_ormap_pncounter_next(counters, &it, &key, &v)) n += (size_t)au_pncounter_value(v);
    it = (au_crdt_iter){ 0 };
    while (au_ormap_pncounter_next(counters, &it, &key, NULL)) n++;
#endif
    return n;
}
