/* tools/aurum/node_crdt.c — the shared counter and set of `aurum node`. This build has no
 * causal delta dispersal layer yet (the CRDTs of src/crdt are values, not yet shared between
 * nodes), so each function says so: aurum_crdt_available() is false, increments answer -1, and
 * status reports has_crdt false. Isolated here so that adding dispersal changes this file only. */
#include "aurum_cli.h"

bool aurum_crdt_start(au_node *node, au_cluster *c) {
    (void)node;
    (void)c;
    return false;
}

bool aurum_crdt_available(void) { return false; }

int64_t aurum_crdt_incr(int64_t by) {
    (void)by;
    return -1;
}

int64_t aurum_crdt_add(const char *element) {
    (void)element;
    return -1;
}

void aurum_crdt_values(adm_value_array *out) { *out = (adm_value_array){ 0 }; }
