/* dotfun.c — keyless dot stores: a small sorted array of live dots, each with a payload, plus
 * the tombs of a delta. The store behind GCounter and PNCounter (one live dot per replica holding
 * its totals), MVRegister (dot -> value), and both flags (dot -> enable/disable).
 *
 * Every replica's write supersedes all its own earlier dots, so once deltas are delivered
 * causally a store has at most one live dot per replica: a few entries. (Deltas joined out of
 * causal order may leave two until the missing one arrives; not for the counters, whose
 * top-level deltas claim every earlier dot of the writer, see dotfun_assign.) Joins merge the
 * sorted arrays (linear; a few dots joined into a delta's store with many tombs go into its tombs
 * in place); lookups are binary searches.
 * Tombs are kept only by a store inside an ORMap delta (attributed to its key); a top-level delta
 * puts removed dots into its own context, where they compact into the version vector, so a delta
 * group of a thousand increments stays as small as one (for the counters from any start; for the
 * others from the writer's first dot). Inside an ORMap delta the context is the map's, shared by
 * every key, so a key's superseded dots cannot go there (a claim on a range of a replica's dots
 * would remove other keys' dots the delta does not carry): a key updated n times in one window
 * keeps n - 1 tombs.
 * Invariants: entries sorted by distinct dots; tombs sorted, distinct and not live;
 * in state mode every live dot is in the context. */
#include <stdlib.h>

#include "crdt_internal.h"

int dotfun_shape(const crdt_dotfun *f) {
    switch (f->h.type->causal_->tag) {
    case CRDT_TAG_GCOUNTER: return DF_COUNTER;
    case CRDT_TAG_PNCOUNTER: return DF_PNCOUNTER;
    case CRDT_TAG_DWFLAG: return DF_BOOL;
    case CRDT_TAG_MVREG: return DF_BYTES;
    default: return DF_NONE;
    }
}

void *dotfun_create(crdt_cctx *ctx, const au_crdt_type *type) {
    crdt_dotfun *f = calloc(1, sizeof *f);
    if (f) f->h = (crdt_cobj){ .type = type, .ctx = ctx };
    return f;
}

static void free_entries(crdt_dfe *e, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) free(e[i].bytes);
}

void dotfun_free(void *v) {
    crdt_dotfun *f = v;
    free_entries(f->e, f->n);
    free(f->e);
    free(f->tomb);
    free(f);
}

bool dotfun_has_live(const void *v) { return ((const crdt_dotfun *)v)->n > 0; }
bool dotfun_has_tombs(const void *v) { return ((const crdt_dotfun *)v)->ntomb > 0; }

static const crdt_dfe *find(const crdt_dfe *e, uint32_t n, uint64_t dot) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (e[mid].dot == dot) return &e[mid];
        if (e[mid].dot < dot) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static int cmp_entry(const void *a, const void *b) {
    uint64_t x = ((const crdt_dfe *)a)->dot, y = ((const crdt_dfe *)b)->dot;
    return x < y ? -1 : x > y;
}

static bool attributed(const crdt_dotfun *f) { return f->h.ctx->delta && !f->h.own_ctx; }

/* Growable scratch arrays for building a store. */
typedef struct build {
    crdt_dfe *e;
    uint32_t n, cap;
    uint64_t *t;
    uint32_t nt, tcap;
} build;

/* True if x's payload is above y's (counts, then the value's length and bytes). One dot names
 * one change, so two replicas' entries of a dot are equal; where they are not (a replica id
 * used by two replicas at once, a faulty peer), joins keep the greater, whichever side it is
 * on, so that replicas still converge. */
static bool payload_above(const crdt_dfe *x, const crdt_dfe *y) {
    if (x->a != y->a) return x->a > y->a;
    if (x->b != y->b) return x->b > y->b;
    if (x->len != y->len) return x->len > y->len;
    return x->len && memcmp(x->bytes, y->bytes, x->len) > 0;
}

static au_err push_entry(build *b, const crdt_dfe *src) {
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 4;
        crdt_dfe *e = realloc(b->e, cap * sizeof *e);
        if (!e) return AU_ENOMEM;
        b->e = e;
        b->cap = cap;
    }
    crdt_dfe *e = &b->e[b->n];
    *e = *src;
    e->bytes = NULL;
    if (src->len) {
        e->bytes = malloc(src->len);
        if (!e->bytes) return AU_ENOMEM;
        memcpy(e->bytes, src->bytes, src->len);
    }
    b->n++;
    return AU_OK;
}

static au_err push_tomb(build *b, uint64_t dot) {
    if (b->nt == b->tcap) {
        uint32_t cap = b->tcap ? b->tcap * 2 : 4;
        uint64_t *t = realloc(b->t, cap * sizeof *t);
        if (!t) return AU_ENOMEM;
        b->t = t;
        b->tcap = cap;
    }
    b->t[b->nt++] = dot;
    return AU_OK;
}

static void build_free(build *b) {
    free_entries(b->e, b->n);
    free(b->e);
    free(b->t);
}

static bool entries_sorted(const crdt_dfe *e, uint32_t n) {
    for (uint32_t i = 1; i < n; i++)
        if (e[i].dot <= e[i - 1].dot) return false;
    return true;
}

/* Sorts the entries, sorts and dedupes the tombs (a linear check when they are sorted already,
 * as merge makes them), and makes them f's store. */
static void install(crdt_dotfun *f, build *b) {
    if (b->n > 1 && !entries_sorted(b->e, b->n)) qsort(b->e, b->n, sizeof *b->e, cmp_entry);
    if (b->nt > 1 && !dots_sorted(b->t, b->nt)) {
        dots_unique(b->t, b->nt); /* sorts */
        uint32_t m = 1;
        for (uint32_t i = 1; i < b->nt; i++)
            if (b->t[i] != b->t[m - 1]) b->t[m++] = b->t[i];
        b->nt = m;
    }
    free_entries(f->e, f->n);
    free(f->e);
    free(f->tomb);
    f->e = b->e, f->n = b->n, f->cap = b->cap;
    f->tomb = b->t, f->ntomb = b->nt, f->tcap = b->tcap;
}

/* out (empty) = (x ∪ y) \ (the dots of minus[]), all sorted by dot. */
static au_err union_tombs(build *out, const uint64_t *x, uint32_t nx, const uint64_t *y,
                          uint32_t ny, const crdt_dfe *minus, uint32_t nm) {
    uint32_t i = 0, j = 0, k = 0;
    au_err err = AU_OK;
    while (!err && (i < nx || j < ny)) {
        uint64_t v;
        if (j == ny || (i < nx && x[i] < y[j])) v = x[i++];
        else if (i == nx || y[j] < x[i]) v = y[j++];
        else v = x[i++], j++;
        while (k < nm && minus[k].dot < v) k++;
        if (k < nm && minus[k].dot == v) continue;
        err = push_tomb(out, v);
    }
    return err;
}

/* Inserts the sorted dots add[] (none live) into f's sorted tombs, in place: a key updated
 * again and again within one window (each update's delta adds the highest tomb) costs O(1)
 * amortised per update, not a copy of all its tombs. */
static au_err tombs_insert(crdt_dotfun *f, const uint64_t *add, uint32_t nadd) {
    if (f->ntomb + nadd > f->tcap) {
        uint32_t cap = f->tcap ? f->tcap : 4;
        while (cap < f->ntomb + nadd) cap *= 2;
        uint64_t *t = realloc(f->tomb, cap * sizeof *t);
        if (!t) return AU_ENOMEM;
        f->tomb = t, f->tcap = cap;
    }
    for (uint32_t k = 0; k < nadd; k++) {
        uint64_t v = add[k];
        uint32_t lo = 0, hi = f->ntomb;
        if (f->ntomb && v > f->tomb[f->ntomb - 1]) lo = f->ntomb; /* the common case */
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (f->tomb[mid] < v) lo = mid + 1;
            else hi = mid;
        }
        if (lo < f->ntomb && f->tomb[lo] == v) continue;
        memmove(f->tomb + lo + 1, f->tomb + lo, (size_t)(f->ntomb - lo) * sizeof *f->tomb);
        f->tomb[lo] = v;
        f->ntomb++;
    }
    return AU_OK;
}

/* f ⊔= (bl live entries, bt tombs), all in f's numbering, both sorted. x: the other side's
 * context (NULL: none); add_ctx: the other side's dots are not covered by a context merge that
 * follows, so a state-mode f records them in its context. Linear in both sides: sorted lists
 * are merged (entries by dot, tombs), and a few dots joined into a store with many tombs go
 * into its tombs in place. */
static au_err merge(crdt_dotfun *f, const crdt_dfe *bl, uint32_t nbl, const uint64_t *bt,
                    uint32_t nbt, const crdt_xlat *x, bool add_ctx) {
    build b = { 0 }, dem_f = { 0 }, dem_b = { 0 }, t1 = { 0 }, t2 = { 0 };
    au_err err = AU_OK;
    /* live' = (live_f ∩ live_b) ∪ (live_f \ C_b) ∪ (live_b \ C_f), merged by dot; the other
     * live dots of both sides are removed (dem_f, dem_b: sorted) */
    uint32_t i = 0, j = 0;
    while (!err && (i < f->n || j < nbl)) {
        if (j == nbl || (i < f->n && f->e[i].dot < bl[j].dot)) { /* only in f */
            uint64_t y = f->e[i].dot;
            bool seen_b = dots_sorted_has(bt, nbt, y) || (x && xl_src_has(x, y));
            err = !seen_b ? push_entry(&b, &f->e[i]) : push_tomb(&dem_f, y);
            i++;
        } else if (i == f->n || bl[j].dot < f->e[i].dot) { /* only in b */
            uint64_t y = bl[j].dot;
            bool seen_a = dots_sorted_has(f->tomb, f->ntomb, y) || cctx_has(f->h.ctx, y);
            err = seen_a ? push_tomb(&dem_b, y) : push_entry(&b, &bl[j]);
            j++;
        } else { /* in both (the same payload, but for misuse: payload_above) */
            err = push_entry(&b, payload_above(&bl[j], &f->e[i]) ? &bl[j] : &f->e[i]);
            i++, j++;
        }
    }
    bool in_place = attributed(f) && f->ntomb > 16 && nbt <= 16 && nbl <= 16;
    if (!err) err = union_tombs(&t1, bt, nbt, dem_f.t, dem_f.nt, NULL, 0);
    if (!err && in_place) err = union_tombs(&t2, t1.t, t1.nt, dem_b.t, dem_b.nt, b.e, b.n);
    if (!err && !in_place) err = union_tombs(&t2, t1.t, t1.nt, dem_b.t, dem_b.nt, NULL, 0);
    if (!err && !in_place) err = union_tombs(&b, f->tomb, f->ntomb, t2.t, t2.nt, b.e, b.n);
    if (!err && !in_place && !attributed(f)) {
        /* The removed dots become context: in state mode f's own are there already, the other
         * side's unless its context is merged next; a top-level delta records them all. */
        bool state = !f->h.ctx->delta;
        for (uint32_t k = 0; !err && state && add_ctx && k < nbl; k++)
            err = cctx_add(f->h.ctx, bl[k].dot);
        for (uint32_t k = 0; !err && (!state || add_ctx) && k < b.nt; k++)
            err = cctx_add(f->h.ctx, b.t[k]);
        b.nt = 0;
    }
    if (!err && in_place) err = tombs_insert(f, t2.t, t2.nt); /* live' ∩ tombs_f is empty */
    free(dem_f.t), free(dem_b.t), free(t1.t), free(t2.t);
    if (err) {
        build_free(&b);
        return err;
    }
    if (in_place) { /* the entries are b's; the tombs stay f's */
        free_entries(f->e, f->n);
        free(f->e);
        f->e = b.e, f->n = b.n, f->cap = b.cap;
        return AU_OK;
    }
    install(f, &b);
    return AU_OK;
}

au_err dotfun_join(void *dst, const void *src, crdt_xlat *x) {
    crdt_dotfun *f = dst;
    const crdt_dotfun *g = src;
    uint32_t n = g ? g->n : 0, nt = g ? g->ntomb : 0;
    crdt_dfe *bl = n ? malloc(n * sizeof *bl) : NULL;
    uint64_t *bt = nt ? malloc(nt * sizeof *bt) : NULL;
    au_err err = (n && !bl) || (nt && !bt) ? AU_ENOMEM : AU_OK;
    for (uint32_t i = 0; !err && i < n; i++) {
        bl[i] = g->e[i];
        err = xl_to_dst(x, g->e[i].dot, &bl[i].dot);
    }
    for (uint32_t i = 0; !err && i < nt; i++) err = xl_to_dst(x, g->tomb[i], &bt[i]);
    if (!err && n > 1 && !entries_sorted(bl, n)) qsort(bl, n, sizeof *bl, cmp_entry);
    if (!err && nt > 1) dots_unique(bt, nt); /* sorts */
    if (!err && (n || nt || (x->src_knows && f->n))) err = merge(f, bl, n, bt, nt, x, !x->src_covers);
    free(bl);
    free(bt);
    return err;
}

/* Applies a local change to f: removes the live dots in rm[], adds `add` (NULL: nothing; its dot
 * new in f's context), and joins the same change into dv (NULL: none). */
static au_err change(crdt_dotfun *f, crdt_dotfun *dv, const uint64_t *rm, uint32_t nrm,
                     const crdt_dfe *add) {
    au_err err = AU_OK;
    if (dv) {
        crdt_dfe e;
        uint64_t *t = nrm ? malloc(nrm * sizeof *t) : NULL;
        if (nrm && !t) return AU_ENOMEM;
        for (uint32_t i = 0; !err && i < nrm; i++) err = cctx_dot_to(f->h.ctx, dv->h.ctx, rm[i], &t[i]);
        if (!err && nrm > 1) dots_unique(t, nrm); /* sorts */
        if (!err && add) {
            e = *add;
            err = cctx_dot_to(f->h.ctx, dv->h.ctx, add->dot, &e.dot);
        }
        if (!err) err = merge(dv, add ? &e : NULL, add ? 1 : 0, t, nrm, NULL, true);
        free(t);
        if (err) return err;
    }
    return merge(f, add, add ? 1 : 0, rm, nrm, NULL, true);
}

au_err dotfun_clear(void *v, void *dv) {
    crdt_dotfun *f = v;
    if (!f->n) return AU_OK;
    uint64_t *rm = malloc(f->n * sizeof *rm);
    if (!rm) return AU_ENOMEM;
    for (uint32_t i = 0; i < f->n; i++) rm[i] = f->e[i].dot;
    au_err err = change(f, dv, rm, f->n, NULL);
    free(rm);
    return err;
}

au_err dotfun_assign(crdt_dotfun *f, crdt_dotfun *dv, uint64_t replica, bool only_own, bool add,
                     uint64_t a, uint64_t b, const void *bytes, size_t len) {
    if (!f || dv == f || crdt_bad_bytes(bytes, len)) return AU_EINVAL;
    if (dv && !crdt_same_types(f, dv)) return AU_ETYPE;
    if (f->h.ctx->delta) return AU_ESTATE; /* mutators change states, not delta accumulators */
    uint32_t r;
    au_err err = cctx_ridx(f->h.ctx, replica, &r);
    crdt_dfe e = { .a = a, .b = b, .bytes = (uint8_t *)bytes, .len = (uint32_t)len };
    if (!err && add) err = cctx_next(f->h.ctx, r, &e.dot);
    if (err) return err;
    uint64_t *rm = f->n ? malloc(f->n * sizeof *rm) : NULL;
    if (f->n && !rm) return AU_ENOMEM;
    uint32_t nrm = 0;
    for (uint32_t i = 0; i < f->n; i++)
        if (!only_own || dot_ridx(f->e[i].dot) == r) rm[nrm++] = f->e[i].dot;
    err = nrm || add ? change(f, dv, rm, nrm, add ? &e : NULL) : AU_OK;
    free(rm);
    /* A write that supersedes all of its replica's earlier dots (the counters) may say so in a
     * top-level delta: its context claims every dot of the replica up to the new one, as the
     * state's own does. Then a group of such deltas is one counter, not one cloud dot per
     * write, whatever clock it starts at, and it also removes an older dot of the replica a
     * receiver still holds because a delta between was lost. Only when the state's knowledge of
     * the replica is contiguous (its counter reached the new dot), so the claim is the state's. */
    if (!err && dv && only_own && add && !attributed(dv) && f->h.ctx->vv[r] >= dot_ctr(e.dot)) {
        uint64_t dd;
        err = cctx_dot_to(f->h.ctx, dv->h.ctx, e.dot, &dd);
        if (!err) cctx_raise(dv->h.ctx, dot_ridx(dd), dot_ctr(dd));
    }
    return err;
}

const crdt_dfe *dotfun_entry_of(const crdt_dotfun *f, uint64_t id) {
    uint32_t r = cctx_find(f->h.ctx, id);
    for (uint32_t i = 0; r != CRDT_RIDX_NONE && i < f->n; i++)
        if (dot_ridx(f->e[i].dot) == r) return &f->e[i];
    return NULL;
}

au_err counter_fold(void *v, void *dv, uint32_t departed, uint64_t self, bool *folded) {
    crdt_dotfun *f = v;
    const crdt_dfe *gone = NULL, *mine = dotfun_entry_of(f, self);
    for (uint32_t i = 0; i < f->n; i++)
        if (dot_ridx(f->e[i].dot) == departed) gone = &f->e[i];
    *folded = gone != NULL;
    if (!gone) return AU_OK;
    crdt_dfe e = { .a = gone->a, .b = gone->b };
    if (mine && (e.a + mine->a < e.a || e.b + mine->b < e.b)) return AU_EINVAL;
    if (mine) e.a += mine->a, e.b += mine->b;
    uint32_t r;
    au_err err = cctx_ridx(f->h.ctx, self, &r);
    if (!err) err = cctx_next(f->h.ctx, r, &e.dot);
    if (err) return err;
    uint64_t rm[2] = { gone->dot, mine ? mine->dot : 0 };
    if (mine) dots_unique(rm, 2); /* sorts */
    return change(f, dv, rm, mine ? 2 : 1, &e);
}

bool dotfun_equal(const void *a, const void *b, crdt_xlat *x) {
    const crdt_dotfun *f = a, *g = b;
    if (f->n != g->n) return false;
    for (uint32_t i = 0; i < f->n; i++) {
        uint64_t sd;
        const crdt_dfe *o = xl_to_src(x, f->e[i].dot, &sd) ? find(g->e, g->n, sd) : NULL;
        if (!o || o->a != f->e[i].a || o->b != f->e[i].b || o->len != f->e[i].len ||
            (o->len && memcmp(o->bytes, f->e[i].bytes, o->len) != 0))
            return false;
    }
    return true;
}

/* What dotfun_equal compares: every live entry's dot (by replica id), a, b and bytes. */
uint64_t dotfun_digest(const void *v) {
    const crdt_dotfun *f = v;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < f->n; i++) {
        const crdt_dfe *e = &f->e[i];
        uint64_t w[] = { CRDT_DOM_ENTRY, crdt_hash_dot(f->h.ctx, e->dot), e->a, e->b, e->len };
        sum += crdt_hash_bytes(e->bytes, e->len, crdt_hash_words(w, 5));
    }
    return crdt_hash3(f->h.type->causal_->tag, f->n, sum);
}

/* Layout: n, then per entry its dot and payload; in delta mode ntomb and the tombs. */
au_err dotfun_encode(const void *v, au_buf *out) {
    const crdt_dotfun *f = v;
    int shape = dotfun_shape(f);
    au_err err = crdt_put_uv(out, f->n);
    for (uint32_t i = 0; !err && i < f->n; i++) {
        const crdt_dfe *e = &f->e[i];
        err = dot_encode(out, e->dot);
        if (!err && (shape == DF_COUNTER || shape == DF_PNCOUNTER)) err = crdt_put_uv(out, e->a);
        if (!err && shape == DF_PNCOUNTER) err = crdt_put_uv(out, e->b);
        if (!err && shape == DF_BOOL) err = crdt_put_u8(out, (uint8_t)e->a);
        if (!err && shape == DF_BYTES) err = crdt_put_bytes(out, e->bytes, e->len);
    }
    if (!err && attributed(f)) {
        err = crdt_put_uv(out, f->ntomb);
        for (uint32_t i = 0; !err && i < f->ntomb; i++) err = dot_encode(out, f->tomb[i]);
    }
    return err;
}

au_err dotfun_decode(void *v, crdt_rd *r) {
    crdt_dotfun *f = v;
    const crdt_cctx *c = f->h.ctx;
    int shape = dotfun_shape(f);
    build b = { 0 };
    uint32_t n, nt = 0;
    au_err err = crdt_get_count(r, 2, &n) ? AU_OK : AU_EDECODE;
    for (uint32_t i = 0; !err && i < n; i++) {
        crdt_dfe e = { 0 };
        const uint8_t *p = NULL;
        size_t len = 0;
        uint8_t flag = 0;
        bool ok = dot_decode(r, c, &e.dot) && (c->delta || cctx_has(c, e.dot));
        ok = ok && (!b.n || e.dot > b.e[b.n - 1].dot); /* canonical: sorted, distinct */
        if (ok && (shape == DF_COUNTER || shape == DF_PNCOUNTER)) ok = crdt_get_uv(r, &e.a);
        if (ok && shape == DF_PNCOUNTER) ok = crdt_get_uv(r, &e.b);
        if (ok && shape == DF_BOOL) ok = crdt_get_u8(r, &flag) && flag <= 1, e.a = flag;
        if (ok && shape == DF_BYTES) ok = crdt_get_bytes(r, &p, &len);
        e.bytes = (uint8_t *)p, e.len = (uint32_t)len;
        err = ok ? push_entry(&b, &e) : AU_EDECODE;
    }
    if (!err && attributed(f) && !crdt_get_count(r, 2, &nt)) err = AU_EDECODE;
    for (uint32_t i = 0; !err && i < nt; i++) {
        uint64_t d;
        if (!dot_decode(r, c, &d) || (b.nt && d <= b.t[b.nt - 1]) || find(b.e, b.n, d))
            err = AU_EDECODE;
        else
            err = push_tomb(&b, d);
    }
    if (err) {
        build_free(&b);
        return err;
    }
    install(f, &b);
    return AU_OK;
}

au_err dotfun_minus(void *dv, const void *sv, crdt_xlat *x) {
    crdt_dotfun *d = dv;
    const crdt_dotfun *s = sv;
    au_err err = AU_OK;
    build b = { 0 };
    /* Removals the delta's unattributed context makes in the state survive the reduction of
     * that context: as tombs inside an ORMap, else put back into the context. */
    if (s && cctx_knows(d->h.ctx))
        for (uint32_t i = 0; !err && i < s->n; i++) {
            uint64_t y;
            if (xl_to_dst_known(x, s->e[i].dot, &y) && cctx_has(d->h.ctx, y) && !find(d->e, d->n, y))
                err = d->h.own_ctx ? xl_readd(x, y) : push_tomb(&b, y);
        }
    /* A dot the state has seen (an absent value has seen what its context has) is dropped,
     * unless the state has it live and the reduced context still covers it. */
    for (uint32_t i = 0; !err && i < d->n; i++) {
        uint64_t sd;
        bool known = xl_to_src(x, d->e[i].dot, &sd);
        const crdt_dfe *se = known && s ? find(s->e, s->n, sd) : NULL;
        bool s_live = se != NULL;
        bool s_seen = known && (s_live || (s && dots_sorted_has(s->tomb, s->ntomb, sd)) ||
                                cctx_has(x->src, sd));
        if (!s_seen || (s_live && (xl_kept(x, d->e[i].dot) || payload_above(&d->e[i], se))))
            err = push_entry(&b, &d->e[i]);
    }
    for (uint32_t i = 0; !err && i < d->ntomb; i++) {
        uint64_t sd;
        bool known = xl_to_src(x, d->tomb[i], &sd);
        bool redundant = known && !(s && find(s->e, s->n, sd)) &&
                         ((s && dots_sorted_has(s->tomb, s->ntomb, sd)) || cctx_has(x->src, sd));
        if (!redundant) err = push_tomb(&b, d->tomb[i]);
    }
    if (err) {
        build_free(&b);
        return err;
    }
    install(d, &b);
    return AU_OK;
}

void dotfun_map_dots(void *v, uint64_t (*fn)(void *arg, uint64_t dot), void *arg) {
    crdt_dotfun *f = v;
    for (uint32_t i = 0; i < f->n; i++) f->e[i].dot = fn(arg, f->e[i].dot);
    for (uint32_t i = 0; i < f->ntomb; i++) f->tomb[i] = fn(arg, f->tomb[i]);
    if (f->n > 1) qsort(f->e, f->n, sizeof *f->e, cmp_entry);
    if (f->ntomb > 1) dots_unique(f->tomb, f->ntomb); /* sorts; a renumbering keeps them distinct */
}

size_t dotfun_memory(const void *v) {
    const crdt_dotfun *f = v;
    size_t m = sizeof *f + f->cap * sizeof(crdt_dfe) + f->tcap * sizeof(uint64_t);
    for (uint32_t i = 0; i < f->n; i++) m += f->e[i].len;
    return m;
}
