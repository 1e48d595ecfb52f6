/* flag.c — the enable-wins and disable-wins flags.
 *
 * Both are dot stores and start disabled. Enable-wins: an enable adds a dot and removes the dots
 * it has seen; a disable only removes them; enabled iff some dot is live, so an enable concurrent
 * with a disable survives it. Disable-wins: both operations add a dot (1 for enable, 0 for
 * disable) and remove what they have seen; enabled iff dots are live and all of them are
 * enables, so a concurrent disable keeps its 0 dot and wins. A disabled enable-wins flag holds
 * nothing (inside an ORMap its key disappears); a disabled disable-wins flag keeps one dot. */
#include "crdt_internal.h"

static const crdt_causal_ops ewflag_ops = CRDT_DOTFUN_OPS(CRDT_TAG_EWFLAG, NULL);
const au_crdt_type au_ewflag_type = CRDT_CAUSAL_VTABLE("au.ewflag.1", ewflag_ops, false);
static const crdt_causal_ops dwflag_ops = CRDT_DOTFUN_OPS(CRDT_TAG_DWFLAG, NULL);
const au_crdt_type au_dwflag_type = CRDT_CAUSAL_VTABLE("au.dwflag.1", dwflag_ops, false);

au_err au_ewflag_enable(au_ewflag *s, au_ewflag *delta, uint64_t replica) {
    if (s && !crdt_is_a(s, &au_ewflag_type)) return AU_ETYPE; /* a state of another type */
    return dotfun_assign((crdt_dotfun *)s, (crdt_dotfun *)delta, replica, false, true, 0, 0, NULL,
                         0);
}

au_err au_ewflag_disable(au_ewflag *s, au_ewflag *delta, uint64_t replica) {
    if (s && !crdt_is_a(s, &au_ewflag_type)) return AU_ETYPE; /* a state of another type */
    (void)replica;
    crdt_dotfun *f = (crdt_dotfun *)s;
    if (!s || delta == s) return AU_EINVAL;
    if (delta && !crdt_same_types(s, delta)) return AU_ETYPE;
    if (f->h.ctx->delta) return AU_ESTATE;
    return dotfun_clear(f, delta);
}

bool au_ewflag_value(const au_ewflag *s) {
    s = CRDT_READ_AS(s, &au_ewflag_type); /* another type reads as bottom */
    return s && ((const crdt_dotfun *)s)->n > 0;
}

au_err au_dwflag_enable(au_dwflag *s, au_dwflag *delta, uint64_t replica) {
    if (s && !crdt_is_a(s, &au_dwflag_type)) return AU_ETYPE; /* a state of another type */
    return dotfun_assign((crdt_dotfun *)s, (crdt_dotfun *)delta, replica, false, true, 1, 0, NULL,
                         0);
}

au_err au_dwflag_disable(au_dwflag *s, au_dwflag *delta, uint64_t replica) {
    if (s && !crdt_is_a(s, &au_dwflag_type)) return AU_ETYPE; /* a state of another type */
    return dotfun_assign((crdt_dotfun *)s, (crdt_dotfun *)delta, replica, false, true, 0, 0, NULL,
                         0);
}

bool au_dwflag_value(const au_dwflag *s) {
    s = CRDT_READ_AS(s, &au_dwflag_type); /* another type reads as bottom */
    const crdt_dotfun *f = (const crdt_dotfun *)s;
    if (!f || !f->n) return false;
    for (uint32_t i = 0; i < f->n; i++)
        if (!f->e[i].a) return false;
    return true;
}
