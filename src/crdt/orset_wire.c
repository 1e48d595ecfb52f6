/* orset_wire.c — what of an ORSet travels: equality, the encoding, redundancy removal.
 *
 * Relies on orset.h for the store. The encoding lists every element with its live dots (and, in
 * a delta, its tombs); decoding checks every dot against the context and rejects duplicates,
 * within an element and across elements (a dot names one add of one element). */
#include "orset.h"

bool orset_equal(const void *va, const void *vb, crdt_xlat *x) {
    const au_orset *a = va, *b = vb;
    if (a->tab.n != b->tab.n) return false;
    for (uint32_t i = 0; i < a->tab.cap; i++) {
        if (!ktab_used(&a->tab, i)) continue;
        uint32_t j = ktab_find_from(&b->tab, &a->tab, i);
        edots ea, eb;
        dots_of(a, i, &ea);
        dots_of(b, j, &eb);
        if (ea.nl != eb.nl) return false;
        for (uint32_t k = 0; k < ea.nl; k++) {
            uint64_t d;
            if (!xl_to_src(x, ea.l[k], &d) || !dots_has(eb.l, eb.nl, d)) return false;
        }
    }
    return true;
}

/* What orset_equal compares: every element with its live dots (a set: summed, by replica id). */
uint64_t orset_digest(const void *v) {
    const au_orset *s = v;
    uint64_t sum = 0;
    for (uint32_t i = 0; ktab_walk(&s->tab, &i); i++) {
        size_t len;
        const uint8_t *key = ktab_key(&s->tab, i, &len);
        edots e;
        dots_of(s, i, &e);
        uint64_t dsum = 0;
        for (uint32_t k = 0; k < e.nl; k++) dsum += crdt_hash_dot(s->h.ctx, e.l[k]);
        uint64_t w[] = { CRDT_DOM_ELEM, e.nl, dsum, len };
        sum += crdt_hash_bytes(key, len, crdt_hash_words(w, 4));
    }
    return crdt_hash3(CRDT_TAG_ORSET, s->tab.n, sum);
}

/* Layout: n, then per element its key, nlive and the live dots, and in delta mode ntomb and the
 * tombs. */
au_err orset_encode(const void *v, au_buf *out) {
    const au_orset *s = v;
    au_err err = crdt_put_uv(out, s->tab.n);
    for (uint32_t i = 0; !err && i < s->tab.cap; i++) {
        if (!ktab_used(&s->tab, i)) continue;
        size_t len;
        const uint8_t *key = ktab_key(&s->tab, i, &len);
        edots e;
        dots_of(s, i, &e);
        err = crdt_put_bytes(out, key, len);
        if (!err) err = crdt_put_uv(out, e.nl);
        for (uint32_t k = 0; !err && k < e.nl; k++) err = dot_encode(out, e.l[k]);
        if (!err && s->h.ctx->delta) err = crdt_put_uv(out, e.nt);
        for (uint32_t k = 0; !err && s->h.ctx->delta && k < e.nt; k++) err = dot_encode(out, e.t[k]);
    }
    return err;
}

/* Reads n dots (live ones must be in a state's context) and appends them to b. */
static bool read_dots(crdt_rd *r, const crdt_cctx *c, bool live, dbuf *b, uint32_t *n) {
    if (!crdt_get_count(r, 2, n)) return false;
    for (uint32_t k = 0; k < *n; k++) {
        uint64_t d;
        if (!dot_decode(r, c, &d) || (live && !c->delta && !cctx_has(c, d)) || dbuf_push(b, d))
            return false;
    }
    return true;
}

au_err orset_decode(void *v, crdt_rd *r) {
    au_orset *s = v;
    const crdt_cctx *c = s->h.ctx;
    uint32_t n;
    if (!crdt_get_count(r, 3, &n)) return AU_EDECODE;
    au_err err = ktab_reserve(&s->tab, n);
    dbuf d, all; /* this element's dots; every element's, for the duplicate check */
    dbuf_init(&d), dbuf_init(&all);
    for (uint32_t i = 0; !err && i < n; i++) {
        const uint8_t *key;
        size_t len;
        uint32_t nl, nt = 0, slot;
        d.n = 0;
        if (!crdt_get_bytes(r, &key, &len) || !read_dots(r, c, true, &d, &nl) ||
            (c->delta && !read_dots(r, c, false, &d, &nt)) || (!c->delta && nl == 0) ||
            nl + nt == 0) {
            err = AU_EDECODE;
            break;
        }
        for (uint32_t k = 0; !err && k < d.n; k++) err = dbuf_push(&all, d.p[k]);
        uint32_t h = ktab_hash(key, len);
        if (!err && ktab_find(&s->tab, key, len, h) != KTAB_NONE) err = AU_EDECODE;
        if (!err) err = ktab_insert(&s->tab, key, len, h, NULL, 0, &slot);
        if (!err) err = orset_set_dots(s, slot, d.p, nl, d.p + nl, nt);
    }
    /* a dot is one add of one element: under two elements (live in one, a tomb of the other
     * or live in both), joins and equality would depend on the order the elements are visited */
    if (!err && !dots_unique(all.p, all.n)) err = AU_EDECODE;
    dbuf_free(&d), dbuf_free(&all);
    return err;
}

/* Redundancy removal (see causal.c): first the removals d's unattributed context makes in s
 * become tombs of their elements, then every dot s already has is dropped. */
au_err orset_minus(void *dv, const void *sv, crdt_xlat *x) {
    au_orset *d = dv;
    const au_orset *s = sv;
    const crdt_cctx *sc = x->src;
    dbuf l, t;
    dbuf_init(&l), dbuf_init(&t);
    au_err err = AU_OK;
    for (uint32_t j = 0; !err && s && cctx_knows(d->h.ctx) && j < s->tab.cap; j++) {
        if (!ktab_used(&s->tab, j)) continue;
        uint32_t i = ktab_find_from(&d->tab, &s->tab, j);
        edots se, de;
        dots_of(s, j, &se);
        dots_of(d, i, &de);
        l.n = t.n = 0;
        for (uint32_t k = 0; !err && k < se.nl; k++) {
            uint64_t y;
            if (xl_to_dst_known(x, se.l[k], &y) && cctx_has(d->h.ctx, y) &&
                !dots_has(de.l, de.nl, y) && !dots_has(de.t, de.nt, y))
                err = dbuf_push(&t, y);
        }
        if (err || !t.n) continue;
        for (uint32_t k = 0; !err && k < de.nt; k++) err = dbuf_push(&t, de.t[k]);
        size_t len;
        const uint8_t *key = ktab_key(&s->tab, j, &len);
        if (!err && i == KTAB_NONE) err = ktab_insert(&d->tab, key, len, ktab_slot_hash(&s->tab, j), NULL, 0, &i);
        if (!err) {
            dots_of(d, i, &de);
            err = orset_set_dots(d, i, de.l, de.nl, t.p, t.n);
        }
    }
    for (uint32_t i = 0; !err && i < d->tab.cap; i++) {
        if (!ktab_used(&d->tab, i) || ref_of(d, i) == DEAD) continue;
        uint32_t j = s ? ktab_find_from(&s->tab, &d->tab, i) : KTAB_NONE;
        edots se, de;
        if (s) dots_of(s, j, &se);
        else se = (edots){ 0 };
        dots_of(d, i, &de);
        l.n = t.n = 0;
        for (uint32_t k = 0; !err && k < de.nl + de.nt; k++) {
            bool is_live = k < de.nl;
            uint64_t y = is_live ? de.l[k] : de.t[k - de.nl], ys;
            bool known = xl_to_src(x, y, &ys);
            bool s_live = known && dots_has(se.l, se.nl, ys);
            bool s_seen = known && (s_live || dots_has(se.t, se.nt, ys) || cctx_has(sc, ys));
            bool keep = is_live ? !s_seen || (s_live && xl_kept(x, y)) : !s_seen || s_live;
            if (keep) err = dbuf_push(is_live ? &l : &t, y);
        }
        if (!err && l.n + t.n < de.nl + de.nt) err = orset_set_dots(d, i, l.p, l.n, t.p, t.n);
    }
    orset_sweep(d);
    dbuf_free(&l), dbuf_free(&t);
    return err;
}

void orset_map_dots(void *v, uint64_t (*fn)(void *arg, uint64_t dot), void *arg) {
    au_orset *s = v;
    for (uint32_t i = 0; i < s->tab.cap; i++) {
        if (!ktab_used(&s->tab, i)) continue;
        uint64_t r = ref_of(s, i);
        if (r != DEAD && !is_ext(r)) set_ref(s, i, fn(arg, r));
    }
    for (uint32_t i = 0; i < s->next; i++) {
        uint64_t *d = s->ext[i].d ? s->ext[i].d : s->ext[i].inl;
        for (uint32_t k = 0; k < s->ext[i].nl + s->ext[i].nt; k++) d[k] = fn(arg, d[k]);
        /* a renumbering of replicas may reorder them: each list is kept sorted (elem_merge) */
        (void)dots_unique(d, s->ext[i].nt), (void)dots_unique(d + s->ext[i].nt, s->ext[i].nl);
    }
}
