// expect: not compatible with any
/* An ORSet mutator passed to the typed update of a map of PN-counters: it would run on the map's
 * counter values as if they were sets. */
#include <aurum/crdt.h>

static au_err add_e(au_orset *v, au_orset *dv, void *arg) {
    return au_orset_add(v, dv, *(const uint64_t *)arg, "e", 1);
}

static au_err bump(au_pncounter *v, au_pncounter *dv, void *arg) {
    return au_pncounter_add(v, dv, *(const uint64_t *)arg, 1);
}

au_err cf_case(au_ormap_pncounter counters, au_ormap_orset sets, uint64_t replica) {
#ifdef AU_SHOULD_FAIL
    (void)sets;
    (void)bump;
    return au_ormap_pncounter_update(counters, AU_ORMAP_NODELTA(pncounter), "k", 1, add_e,
                                     &replica);
#else
    au_err err = au_ormap_pncounter_update(counters, AU_ORMAP_NODELTA(pncounter), "k", 1, bump,
                                           &replica);
    if (err != AU_OK) return err;
    return au_ormap_orset_update(sets, AU_ORMAP_NODELTA(orset), "k", 1, add_e, &replica);
#endif
}
