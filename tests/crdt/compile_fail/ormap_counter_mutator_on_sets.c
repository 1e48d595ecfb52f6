// expect: incompatible type
/* Updating a map of sets through the typed update of a map of counters. */
#include <aurum/crdt.h>

static au_err bump(au_pncounter *v, au_pncounter *dv, void *arg) {
    (void)arg;
    return au_pncounter_add(v, dv, 1, 1);
}

au_err cf_case(au_ormap_pncounter counters, au_ormap_orset sets) {
#ifdef AU_SHOULD_FAIL
    (void)counters;
    return au_ormap_pncounter_update(sets, AU_ORMAP_NODELTA(pncounter), "k", 1, bump, NULL);
#else
    (void)sets;
    return au_ormap_pncounter_update(counters, AU_ORMAP_NODELTA(pncounter), "k", 1, bump, NULL);
#endif
}
