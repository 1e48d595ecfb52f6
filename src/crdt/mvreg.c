/* mvreg.c — MVRegister: a multi-value register.
 *
 * A dot store mapping each write's dot to its value. A write removes every value it has seen
 * and adds its own, so concurrent writes survive side by side until a later write has seen them
 * all. Values are copied into the state (one allocation per current value: there are few). */
#include "crdt_internal.h"

static const crdt_causal_ops mvreg_ops = CRDT_DOTFUN_OPS(CRDT_TAG_MVREG, NULL);
const au_crdt_type au_mvreg_type = CRDT_CAUSAL_VTABLE("au.mvreg.1", mvreg_ops, false);

au_err au_mvreg_set(au_mvreg *s, au_mvreg *delta, uint64_t replica, const void *value,
                    size_t len) {
    if (s && !crdt_is_a(s, &au_mvreg_type)) return AU_ETYPE; /* a state of another type */
    return dotfun_assign((crdt_dotfun *)s, (crdt_dotfun *)delta, replica, false, true, 0, 0, value,
                         len);
}

au_err au_mvreg_clear(au_mvreg *s, au_mvreg *delta) {
    if (s && !crdt_is_a(s, &au_mvreg_type)) return AU_ETYPE; /* a state of another type */
    crdt_dotfun *f = (crdt_dotfun *)s;
    if (!s || delta == s) return AU_EINVAL;
    if (delta && !crdt_same_types(s, delta)) return AU_ETYPE;
    if (f->h.ctx->delta) return AU_ESTATE;
    return dotfun_clear(f, delta);
}

size_t au_mvreg_count(const au_mvreg *s) {
    s = CRDT_READ_AS(s, &au_mvreg_type); /* another type reads as bottom */
    return s ? ((const crdt_dotfun *)s)->n : 0;
}

bool au_mvreg_next(const au_mvreg *s, au_crdt_iter *it, au_crdt_bytes *value) {
    s = CRDT_READ_AS(s, &au_mvreg_type); /* another type reads as bottom */
    const crdt_dotfun *f = (const crdt_dotfun *)s;
    if (!f || it->pos_ >= f->n) return false;
    const crdt_dfe *e = &f->e[it->pos_++];
    *value = (au_crdt_bytes){ e->bytes, e->len };
    return true;
}
