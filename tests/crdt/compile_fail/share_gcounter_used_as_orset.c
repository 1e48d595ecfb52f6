// expect: incompatible type
/* A shared GCounter replica passed where a shared ORSet replica is expected. */
#include <aurum/crdt_share.h>

au_err cf_case(au_share_gcounter counter, au_share_orset set) {
#ifdef AU_SHOULD_FAIL
    (void)set;
    return au_share_orset_add(counter, "e", 1);
#else
    (void)counter;
    return au_share_orset_add(set, "e", 1);
#endif
}
