/* gcounter.c — GCounter: a grow-only counter.
 *
 * A dot store with one live dot per replica holding that replica's total (a causal counter, as
 * in Baquero's delta-enabled-crdts), so the same type works alone and as an ORMap value, where
 * removing a key resets it. An increment replaces the replica's dot: its delta is the new entry
 * plus the old dot as removed, about 25 bytes on the wire. Pruning folds a departed replica's
 * total into the pruner's entry (counter_fold in dotfun.c). */
#include "crdt_internal.h"

static const crdt_causal_ops gcounter_ops = CRDT_DOTFUN_OPS(CRDT_TAG_GCOUNTER, counter_fold);
const au_crdt_type au_gcounter_type = CRDT_CAUSAL_VTABLE("au.gcounter.1", gcounter_ops, true);

au_err au_gcounter_inc(au_gcounter *s, au_gcounter *delta, uint64_t replica, uint64_t n) {
    if (s && !crdt_is_a(s, &au_gcounter_type)) return AU_ETYPE; /* a state of another type */
    crdt_dotfun *f = (crdt_dotfun *)s;
    if (!s || delta == s) return AU_EINVAL;
    if (n == 0) return AU_OK;
    const crdt_dfe *e = dotfun_entry_of(f, replica);
    uint64_t total = e ? e->a : 0;
    if (total + n < total) return AU_EINVAL;
    return dotfun_assign(f, (crdt_dotfun *)delta, replica, true, true, total + n, 0, NULL, 0);
}

uint64_t au_gcounter_value(const au_gcounter *s) {
    s = CRDT_READ_AS(s, &au_gcounter_type); /* another type reads as bottom */
    const crdt_dotfun *f = (const crdt_dotfun *)s;
    uint64_t sum = 0;
    for (uint32_t i = 0; f && i < f->n; i++) sum += f->e[i].a;
    return sum;
}
