/* causal.c — the vtable functions shared by every causal type (counters, ORSet, MVRegister,
 * flags, ORMap): they add the causal context around a type's store operations.
 *
 * Relies on each type's au_crdt_causal_ operations (crdt_internal.h) for its store, and on
 * context.c for contexts. A top-level object owns its context; ORMap values share the map's and
 * are never passed here. */
#include <stdatomic.h>
#include <stdlib.h>

#include "crdt_internal.h"

void *au_crdt_causal_create_(const au_crdt_type *type, bool delta) {
    crdt_cctx *ctx = cctx_new(delta);
    if (!ctx) return NULL;
    crdt_cobj *v = type->causal_->create(ctx, type);
    if (!v) {
        cctx_free(ctx);
        return NULL;
    }
    v->own_ctx = true;
    return v;
}

void causal_free(void *v) {
    if (!v) return;
    crdt_cobj *o = v;
    if (!o->type->causal_) { /* a non-causal object freed through a causal vtable */
        o->type->free(v);
        return;
    }
    crdt_cctx *ctx = o->own_ctx ? o->ctx : NULL;
    o->type->causal_->free(v);
    cctx_free(ctx);
}

void au_crdt_causal_free_(void *s) { causal_free(s); }

/* Rewrites the cloud in sorted order through cctx_add, which drops what vv covers and folds
 * vv + 1 chains: restores the canonical form after counters were raised. */
static au_err compact(crdt_cctx *c) {
    if (!c->cloud.n) return AU_OK;
    uint32_t n = 0;
    uint64_t *d = malloc(c->cloud.n * sizeof *d);
    if (!d) return AU_ENOMEM;
    for (uint32_t i = 0; i < c->cloud.cap; i++)
        if (c->cloud.slot[i]) d[n++] = c->cloud.slot[i];
    dots_unique(d, n); /* sorts */
    crdt_dotset old = c->cloud;
    c->cloud = (crdt_dotset){ 0 };
    au_err err = AU_OK;
    for (uint32_t i = 0; !err && i < n; i++) err = cctx_add(c, d[i]);
    if (err) { /* keep the old cloud: a superset of the right one is still a valid context */
        dotset_free(&c->cloud);
        c->cloud = old;
    } else {
        dotset_free(&old);
    }
    free(d);
    return err;
}

static au_err cctx_join(crdt_xlat *x) {
    const crdt_cctx *s = x->src;
    crdt_cctx *d = x->dst;
    au_err err = AU_OK;
    for (uint32_t i = 0; !err && i < s->nrep; i++) {
        if (!s->vv[i]) continue;
        uint64_t dd;
        err = xl_to_dst(x, dot_make(i, 1), &dd);
        if (!err) cctx_raise(d, dot_ridx(dd), s->vv[i]);
    }
    for (uint32_t i = 0; !err && s->cloud.n && i < s->cloud.cap; i++) {
        uint64_t dd;
        if (!s->cloud.slot[i]) continue;
        err = xl_to_dst(x, s->cloud.slot[i], &dd);
        if (!err) err = cctx_add(d, dd);
    }
    return err;
}

au_err au_crdt_causal_join_(void *s, const void *other) {
    if (!s || !other) return AU_EINVAL;
    if (s == other) return AU_OK;
    if (!crdt_same_types(s, other)) return AU_ETYPE;
    crdt_xlat x;
    au_err err = xlat_init(&x, cobj_ctx(s), cobj_ctx(other));
    if (err) return err;
    err = cobj_ops(s)->join(s, other, &x);
    if (!err) err = cctx_join(&x);
    xlat_free(&x);
    return err;
}

static bool cctx_equal(const crdt_cctx *a, const crdt_cctx *b) {
    for (uint32_t i = 0; i < a->nrep; i++) {
        uint32_t j = cctx_find(b, a->ids[i]);
        if (a->vv[i] != (j == CRDT_RIDX_NONE ? 0 : b->vv[j])) return false;
    }
    for (uint32_t j = 0; j < b->nrep; j++)
        if (b->vv[j] && cctx_find(a, b->ids[j]) == CRDT_RIDX_NONE) return false;
    if (a->cloud.n != b->cloud.n) return false;
    for (uint32_t i = 0; i < a->cloud.cap; i++) {
        uint64_t d = a->cloud.slot[i];
        if (!d) continue;
        uint32_t j = cctx_find(b, a->ids[dot_ridx(d)]);
        if (j == CRDT_RIDX_NONE || !dotset_has(&b->cloud, dot_make(j, dot_ctr(d)))) return false;
    }
    return true;
}

/* A state-mode copy of v: the same lattice element with its knowledge all in the context. */
static void *normalized(const void *v) {
    void *n = au_crdt_causal_create_(((const crdt_cobj *)v)->type, false);
    if (n && au_crdt_causal_join_(n, v)) {
        causal_free(n);
        n = NULL;
    }
    return n;
}

bool au_crdt_causal_equal_(const void *a, const void *b) {
    if (a == b) return true;
    if (!a || !b) return false;
    const crdt_cobj *oa = a, *ob = b;
    if (!crdt_same_type(oa->type, ob->type)) return false;
    if (oa->ctx->delta || ob->ctx->delta) {
        void *na = normalized(a), *nb = normalized(b);
        bool eq = na && nb && au_crdt_causal_equal_(na, nb);
        causal_free(na);
        causal_free(nb);
        return eq;
    }
    if (!cctx_equal(oa->ctx, ob->ctx)) return false;
    crdt_xlat x;
    if (xlat_init(&x, oa->ctx, ob->ctx)) return false;
    bool eq = cobj_ops(a)->equal(a, b, &x);
    xlat_free(&x);
    return eq;
}

/* The type as equal() tells types apart: the store's tag, and for a map its values' (nested). */
static uint64_t type_digest(const au_crdt_type *t) {
    uint64_t h = CRDT_DOM_TYPE;
    for (; t; t = t->param) h = crdt_hash3(CRDT_DOM_TYPE, h, t->causal_ ? t->causal_->tag : 0);
    return h;
}

/* What au_crdt_causal_equal_ compares: in state mode the context and the live store; a delta
 * is first normalized, as equal() does (the one allocation; see au_crdt_type.digest). */
uint64_t au_crdt_causal_digest_(const void *s) {
    if (!s) return 0;
    const crdt_cobj *o = s;
    if (o->ctx->delta) {
        void *n = normalized(s);
        if (!n) { /* a value of this call alone: it matches nothing but by collision */
            static _Atomic uint64_t calls;
            uint64_t w[] = { CRDT_DOM_OOM, ++calls, (uint64_t)(uintptr_t)s };
            return crdt_hash_words(w, 3);
        }
        uint64_t d = au_crdt_causal_digest_(n);
        causal_free(n);
        return d;
    }
    uint64_t w[] = { CRDT_DOM_OBJ, type_digest(o->type), cctx_digest(o->ctx),
                     o->type->causal_->digest(s) };
    return crdt_hash_words(w, 4);
}

bool au_crdt_causal_is_bottom_(const void *s) {
    return !s || (cval_empty(s) && !cctx_knows(cobj_ctx(s))); /* NULL reads as bottom */
}

/* Layout: tag, flags (bit 0: delta mode), context, store. */
au_err au_crdt_causal_encode_(const void *s, au_buf *out) {
    if (!s || !out) return AU_EINVAL;
    au_err err = crdt_put_u8(out, cobj_ops(s)->tag);
    if (!err) err = crdt_put_u8(out, cobj_ctx(s)->delta ? 1 : 0);
    if (!err) err = cctx_encode(cobj_ctx(s), out);
    if (!err) err = cobj_ops(s)->encode(s, out);
    return err;
}

/* Every dot of a decoded map, for the duplicate check below. */
typedef struct dot_list {
    uint64_t *d;
    uint32_t n, cap;
    bool oom;
} dot_list;

static uint64_t list_dot(void *arg, uint64_t dot) {
    dot_list *l = arg;
    if (l->n == l->cap && !l->oom) {
        uint32_t nc = l->cap ? l->cap * 2 : 64;
        uint64_t *p = nc > l->cap ? realloc(l->d, (size_t)nc * sizeof *p) : NULL;
        if (!p) l->oom = true;
        else l->d = p, l->cap = nc;
    }
    if (!l->oom) l->d[l->n++] = dot;
    return dot;
}

/* A dot names one event of one key's value: a map whose values share a dot (live in one, a
 * tomb or live in another) would join and compare differently depending on the order its keys
 * are visited. Each value's decoder checks its own dots; this checks across the keys. */
static au_err map_dots_unique(void *v) {
    dot_list l = { 0 };
    cobj_ops(v)->map_dots(v, list_dot, &l);
    au_err err = l.oom ? AU_ENOMEM : dots_unique(l.d, l.n) ? AU_OK : AU_EDECODE;
    free(l.d);
    return err;
}

au_err au_crdt_causal_decode_(const au_crdt_type *type, const uint8_t *data, size_t len,
                              void **out) {
    if (!out) return AU_EINVAL;
    *out = NULL;
    if (!type || (!data && len)) return AU_EINVAL;
    if (type->causal_ == &au_ormap_causal_ && (!type->param || !type->param->causal_))
        return AU_EINVAL; /* a map type whose values are not causal: create refuses it too */
    crdt_rd r = crdt_rd_of(data, len);
    uint8_t tag, flags;
    if (!crdt_get_u8(&r, &tag) || tag != type->causal_->tag || !crdt_get_u8(&r, &flags) ||
        flags > 1)
        return AU_EDECODE;
    crdt_cobj *v = au_crdt_causal_create_(type, flags & 1);
    if (!v) return AU_ENOMEM;
    au_err err = cctx_decode(v->ctx, &r);
    if (!err) err = type->causal_->decode(v, &r);
    if (!err && !crdt_rd_done(&r)) err = AU_EDECODE;
    if (!err && type->causal_ == &au_ormap_causal_) err = map_dots_unique(v);
    if (err) {
        causal_free(v);
        return err;
    }
    *out = v;
    return AU_OK;
}

au_err au_crdt_causal_copy_(const void *s, void **out) {
    if (!out) return AU_EINVAL;
    if (!s) {
        *out = NULL;
        return AU_EINVAL;
    }
    *out = au_crdt_causal_create_(((const crdt_cobj *)s)->type, cobj_ctx(s)->delta);
    if (!*out) return AU_ENOMEM;
    au_err err = au_crdt_causal_join_(*out, s);
    if (err) {
        causal_free(*out);
        *out = NULL;
    }
    return err;
}

/* ---- dropping replicas nothing refers to ------------------------------------------------- */

typedef struct renumber {
    uint8_t *used;
    uint32_t *to;
} renumber;

static uint64_t mark_used(void *arg, uint64_t dot) {
    ((renumber *)arg)->used[dot_ridx(dot)] = 1;
    return dot;
}

static uint64_t apply_renumber(void *arg, uint64_t dot) {
    return dot_make(((renumber *)arg)->to[dot_ridx(dot)], dot_ctr(dot));
}

/* Removes from an object's replica table the replicas no dot and no counter refers to (a
 * reduced delta would otherwise carry their 9-byte names), renumbering the rest. */
static au_err drop_unused_replicas(void *v) {
    crdt_cctx *c = cobj_ctx(v);
    renumber rn = { calloc(c->nrep + 1, 1), malloc((c->nrep + 1) * sizeof(uint32_t)) };
    crdt_cctx *fresh = cctx_new(c->delta);
    au_err err = rn.used && rn.to && fresh ? AU_OK : AU_ENOMEM;
    if (!err) {
        cobj_ops(v)->map_dots(v, mark_used, &rn);
        for (uint32_t i = 0; i < c->cloud.cap; i++)
            if (c->cloud.slot[i]) rn.used[dot_ridx(c->cloud.slot[i])] = 1;
        uint32_t kept = 0;
        for (uint32_t r = 0; r < c->nrep; r++) kept += rn.used[r] || c->vv[r];
        if (kept == c->nrep) goto out; /* nothing to drop */
        for (uint32_t r = 0; !err && r < c->nrep; r++) {
            if (!rn.used[r] && !c->vv[r]) continue;
            err = cctx_ridx(fresh, c->ids[r], &rn.to[r]);
            if (!err) fresh->vv[rn.to[r]] = c->vv[r];
        }
        for (uint32_t i = 0; !err && i < c->cloud.cap; i++)
            if (c->cloud.slot[i]) err = dotset_add(&fresh->cloud, apply_renumber(&rn, c->cloud.slot[i]));
        if (err) goto out;
        cobj_ops(v)->map_dots(v, apply_renumber, &rn);
        /* Swap the contents, so that the object (and its values) keep their context pointer. */
        crdt_cctx tmp = *c;
        *c = *fresh;
        *fresh = tmp;
    }
out:
    cctx_free(fresh);
    free(rn.used);
    free(rn.to);
    return err;
}

/* Redundancy removal. Per replica, the delta's counter is dropped if the state's covers it,
 * else narrowed to the dots after the state's counter (cloud dots, when that range is short),
 * else kept; cloud dots survive iff the state lacks them. The store pass (ops->minus) first
 * turns every removal the delta's unattributed context would make in the state into a tomb, so
 * that reducing the context never loses a removal, and keeps live dots the state has only
 * while the reduced context still covers them (dropping them then would read as a removal). */
au_err au_crdt_causal_delta_minus_(void *delta, const void *state) {
    if (!delta || !state) return AU_EINVAL;
    if (delta == state || cobj_ctx(delta) == cobj_ctx(state)) return AU_EINVAL;
    if (!crdt_same_types(delta, state)) return AU_ETYPE;
    crdt_cctx *d = cobj_ctx(delta);
    const crdt_cctx *s = cobj_ctx(state);
    crdt_xlat x;
    au_err err = xlat_init(&x, d, s);
    if (err) return err;
    size_t n = (size_t)d->nrep + s->nrep + 1;
    x.keep_vv = calloc(n, 1);
    x.lo = calloc(n, sizeof *x.lo);
    if (!x.keep_vv || !x.lo) {
        xlat_free(&x);
        return AU_ENOMEM;
    }
    for (uint32_t r = 0; r < d->nrep; r++) {
        uint32_t sr = x.d2s[r];
        uint64_t sv = sr == CRDT_RIDX_NONE ? 0 : s->vv[sr];
        x.lo[r] = sv;
        if (d->vv[r] <= sv) x.keep_vv[r] = KEEP_NONE;
        else if (sv && d->vv[r] != CRDT_RETIRED && d->vv[r] - sv <= CRDT_MAX_RANGE) x.keep_vv[r] = KEEP_RANGE;
        else x.keep_vv[r] = KEEP_ALL;
    }
    err = cobj_ops(delta)->minus(delta, state, &x);
    for (uint32_t i = 0; !err && d->cloud.n && i < d->cloud.cap;) {
        uint64_t dot = d->cloud.slot[i], sd;
        if (dot && xl_to_src(&x, dot, &sd) && cctx_has(s, sd))
            dotset_del(&d->cloud, dot); /* may shift another dot into slot i */
        else
            i++;
    }
    for (uint32_t r = 0; !err && r < d->nrep; r++) {
        if (x.keep_vv[r] == KEEP_ALL) continue;
        uint64_t top = d->vv[r];
        d->vv[r] = 0;
        for (uint64_t k = x.lo[r] + 1; !err && x.keep_vv[r] == KEEP_RANGE && k <= top; k++) {
            uint64_t sd;
            if (!(xl_to_src(&x, dot_make(r, k), &sd) && cctx_has(s, sd)))
                err = dotset_add(&d->cloud, dot_make(r, k));
        }
    }
    for (uint32_t i = 0; !err && i < x.nreadd; i++) err = cctx_add(d, x.readd[i]);
    if (!err) err = compact(d);
    if (!err) d->delta = true;
    xlat_free(&x);
    return err ? err : drop_unused_replicas(delta);
}

au_err au_crdt_causal_prune_(void *s, void *delta, uint64_t departed, uint64_t self) {
    if (!s) return AU_EINVAL;
    if (delta == s) return AU_EINVAL; /* as for every δ-mutator */
    if (delta && !crdt_same_types(s, delta)) return AU_ETYPE;
    crdt_cctx *c = cobj_ctx(s);
    uint32_t r = cctx_find(c, departed);
    if (r == CRDT_RIDX_NONE) return AU_OK; /* by P2, departed never changed this CRDT */
    if (departed == self) return AU_EINVAL;
    /* A retirement alone says "every dot of departed is known"; shipped without the live dots
     * it would read as their removal, so only a fold (which carries the departed entry's
     * replacement) ships it. Other types retire on every replica, each on its own. A fold that
     * finds no entry of departed's (retired here already: a fold joined, or an earlier prune)
     * changes no entry and leaves delta as it was, rather than a retirement alone in it. */
    au_err err = AU_OK;
    bool fold = cobj_ops(s)->fold != NULL, folded = false;
    if (fold) err = cobj_ops(s)->fold(s, delta, r, self, &folded);
    if (!err && delta && folded) {
        uint32_t dr;
        err = cctx_ridx(cobj_ctx(delta), departed, &dr);
        if (!err) err = cctx_retire(cobj_ctx(delta), dr);
    }
    if (!err) err = cctx_retire(c, r);
    return err;
}
