// expect: not compatible with any
/* A read callback for ORSet states passed to the read of a shared ORMap of PNCounters. */
#include <aurum/crdt_share.h>

static void set_reader(const au_orset *state, void *arg) { *(size_t *)arg = au_orset_size(state); }
static void map_reader(au_ormap_pncounter state, void *arg) {
    *(size_t *)arg = au_ormap_pncounter_size(state);
}

size_t cf_case(au_share_ormap_pncounter map, au_share_orset set) {
    size_t n = 0, m = 0;
    au_share_orset_read(set, set_reader, &n);
#ifdef AU_SHOULD_FAIL
    au_share_ormap_pncounter_read(map, set_reader, &m);
#else
    au_share_ormap_pncounter_read(map, map_reader, &m);
#endif
    return n + m;
}
