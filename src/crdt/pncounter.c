/* pncounter.c — PNCounter: a counter that goes up and down.
 *
 * Like GCounter (see gcounter.c), with each replica's entry holding its increments (a) and
 * decrements (b) separately, so both only grow and the value is their difference. */
#include "crdt_internal.h"

static const crdt_causal_ops pncounter_ops = CRDT_DOTFUN_OPS(CRDT_TAG_PNCOUNTER, counter_fold);
const au_crdt_type au_pncounter_type = CRDT_CAUSAL_VTABLE("au.pncounter.1", pncounter_ops, true);

au_err au_pncounter_add(au_pncounter *s, au_pncounter *delta, uint64_t replica, int64_t n) {
    if (s && !crdt_is_a(s, &au_pncounter_type)) return AU_ETYPE; /* a state of another type */
    crdt_dotfun *f = (crdt_dotfun *)s;
    if (!s || delta == s) return AU_EINVAL;
    if (n == 0) return AU_OK;
    const crdt_dfe *e = dotfun_entry_of(f, replica);
    uint64_t inc = e ? e->a : 0, dec = e ? e->b : 0;
    uint64_t mag = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    uint64_t *side = n < 0 ? &dec : &inc;
    if (*side + mag < *side) return AU_EINVAL;
    *side += mag;
    return dotfun_assign(f, (crdt_dotfun *)delta, replica, true, true, inc, dec, NULL, 0);
}

int64_t au_pncounter_value(const au_pncounter *s) {
    s = CRDT_READ_AS(s, &au_pncounter_type); /* another type reads as bottom */
    const crdt_dotfun *f = (const crdt_dotfun *)s;
    uint64_t sum = 0;
    for (uint32_t i = 0; f && i < f->n; i++) sum += f->e[i].a - f->e[i].b;
    return (int64_t)sum;
}
