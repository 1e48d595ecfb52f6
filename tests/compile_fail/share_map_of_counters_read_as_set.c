// expect: incompatible type|passing 'au_share_ormap_pncounter'
/* A shared map of counters asked for its size as a shared set. */
#include <aurum/crdt_share.h>

size_t cf_case(au_share_ormap_pncounter map, au_share_orset set) {
#ifdef AU_SHOULD_FAIL
    return au_share_orset_size(map);
#else
    return au_share_orset_size(set) + au_share_ormap_pncounter_size(map);
#endif
}
