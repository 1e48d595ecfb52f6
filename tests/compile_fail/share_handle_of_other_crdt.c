// expect: incompatible type|passing 'au_share_gcounter'
/* A shared counter used as a shared set: each typed replica is its own handle. */
#include <aurum/crdt_share.h>

au_err cf_case(au_share_gcounter counter, au_share_orset set) {
#ifdef AU_SHOULD_FAIL
    return au_share_orset_add(counter, "x", 1);
#else
    (void)counter;
    return au_share_orset_add(set, "x", 1);
#endif
}
