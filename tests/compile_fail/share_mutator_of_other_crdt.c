// expect: not compatible with any
/* A mutator of shared ORSets passed to the mutate of a shared GCounter. */
#include <aurum/crdt_share.h>

static au_err set_fn(au_orset *state, au_orset *delta, uint64_t replica, const void *arg,
                     size_t len) {
    (void)state, (void)delta, (void)replica, (void)arg, (void)len;
    return AU_OK;
}
static au_err counter_fn(au_gcounter *state, au_gcounter *delta, uint64_t replica,
                         const void *arg, size_t len) {
    (void)state, (void)delta, (void)replica, (void)arg, (void)len;
    return AU_OK;
}

au_err cf_case(au_share_gcounter counter, au_share_orset set) {
    au_err e = au_share_orset_mutate(set, set_fn, NULL, 0);
#ifdef AU_SHOULD_FAIL
    return e ? e : au_share_gcounter_mutate(counter, set_fn, NULL, 0);
#else
    return e ? e : au_share_gcounter_mutate(counter, counter_fn, NULL, 0);
#endif
}
