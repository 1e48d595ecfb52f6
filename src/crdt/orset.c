/* orset.c — ORSet: the add-wins observed-remove set (Almeida et al.'s AWORSet, optimized):
 * joins, mutators and reads (equality, encoding and redundancy removal: orset_wire.c).
 *
 * Store: element -> its live dots, in a key table (ktab.c) whose 8-byte payload is the element's
 * only dot in the common case, or a reference (ridx EXT_MARK) to an ext slot when there are
 * several (concurrent adds) or when a delta keeps tombs for it; an ext slot holds two dots
 * itself and allocates only beyond that. The causal context (context.c) says which dots were
 * seen: a remove keeps nothing, so memory is proportional to the elements present and a removed
 * add never comes back (its dot is in the context).
 *
 * An element's live dots and tombs are each kept sorted, so its join merges sorted lists (linear;
 * a few dots joined into a delta's element with many tombs go into its tombs in place). An
 * element added n times within one window keeps n - 1 tombs in the window's delta: a tomb
 * cannot become context, which a delta shares across its elements, without the join scanning
 * the whole state it is joined into (and a range of a replica's dots claimed there would remove
 * other elements' adds the delta does not carry).
 *
 * Joins follow the rule of crdt_internal.h per element. Elements only in the destination are
 * visited only when the source's context knows a replica the destination knows too; a delta
 * made by mutators carries its removals as tombs on their elements, so joining it costs its own
 * size. Elements that die during a pass are marked DEAD and deleted afterwards, because deleting
 * from an open-addressing table moves other slots. A join sizes the key table and the ext array
 * once, from a sample of the source, and adds new elements during its pass over the source
 * while they fit (adding moves no slot). */
#include "orset.h"

static void ext_release(au_orset *s, uint64_t r) {
    if (!is_ext(r)) return;
    uint32_t i = (uint32_t)dot_ctr(r);
    free(s->ext[i].d);
    s->ext[i] = (ext){ 0 };
    s->freel[s->nfree++] = i;
}

static au_err ext_alloc(au_orset *s, uint32_t *i) {
    if (s->nfree) {
        *i = s->freel[--s->nfree];
        return AU_OK;
    }
    if (s->next == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 8;
        if (cap > UINT32_MAX / 2) return AU_EFULL;
        ext *e = realloc(s->ext, cap * sizeof *e);
        if (!e) return AU_ENOMEM;
        s->ext = e;
        uint32_t *f = realloc(s->freel, cap * sizeof *f);
        if (!f) return AU_ENOMEM;
        s->freel = f;
        s->cap = cap;
    }
    *i = s->next++;
    s->ext[*i] = (ext){ 0 };
    return AU_OK;
}

/* Makes room for `more` ext slots beyond those handed out, in one step. */
static au_err ext_reserve(au_orset *s, uint32_t more) {
    uint64_t want = (uint64_t)s->next + more;
    if (want <= s->cap) return AU_OK;
    if (want > UINT32_MAX / 2) return AU_EFULL;
    ext *e = realloc(s->ext, want * sizeof *e);
    if (!e) return AU_ENOMEM;
    s->ext = e;
    uint32_t *f = realloc(s->freel, want * sizeof *f);
    if (!f) return AU_ENOMEM;
    s->freel = f;
    s->cap = (uint32_t)want;
    return AU_OK;
}

/* Room for n dots (more than two) in an ext slot's array: the next power of two, so that tombs
 * added one at a time (tombs_insert) reallocate O(log n) times. */
static size_t ext_room(uint32_t n) {
    size_t c = 4;
    while (c < n) c *= 2;
    return c;
}

/* Sets the element's dots (copied; they may alias its current ones), each list sorted; nothing
 * left: DEAD. Up to two dots need no allocation beyond the ext slot. */
au_err orset_set_dots(au_orset *s, uint32_t slot, const uint64_t *l, uint32_t nl,
                      const uint64_t *t, uint32_t nt) {
    uint64_t r = ref_of(s, slot);
    if (nl + nt == 0 || (nl == 1 && nt == 0)) {
        uint64_t one = nl ? l[0] : DEAD;
        ext_release(s, r);
        set_ref(s, slot, one);
        s->dead |= one == DEAD;
        return AU_OK;
    }
    uint64_t tmp[2], *d = tmp;
    if (nl + nt > 2 && !(d = malloc(ext_room(nl + nt) * sizeof *d))) return AU_ENOMEM;
    if (nt) memmove(d, t, nt * sizeof *d); /* (d is new: l and t do not alias it) */
    if (nl) memmove(d + nt, l, nl * sizeof *d);
    (void)dots_unique(d, nt), (void)dots_unique(d + nt, nl); /* kept sorted (elem_merge) */
    uint32_t i;
    if (is_ext(r)) {
        i = (uint32_t)dot_ctr(r);
    } else {
        au_err err = ext_alloc(s, &i);
        if (err) {
            if (d != tmp) free(d);
            return err;
        }
    }
    free(s->ext[i].d);
    s->ext[i] = (ext){ .d = d == tmp ? NULL : d, .nl = nl, .nt = nt };
    if (d == tmp) memcpy(s->ext[i].inl, tmp, sizeof tmp);
    set_ref(s, slot, dot_make(EXT_MARK, i));
    return AU_OK;
}

/* Deletes the elements marked DEAD (a deletion may shift a later slot into i: look again). */
void orset_sweep(au_orset *s) {
    if (!s->dead) return;
    s->dead = false;
    for (uint32_t i = 0; i < s->tab.cap;)
        if (ktab_used(&s->tab, i) && ref_of(s, i) == DEAD)
            ktab_delete(&s->tab, i);
        else
            i++;
}

/* ---- the per-element join ----------------------------------------------------------------- */

/* Every element's live dots and tombs are each kept strictly increasing (orset_set_dots sorts
 * what it is given when it is not), so the join of one element merges sorted lists: linear in
 * the dots of both sides, however many tombs a delta accumulates for one element (one element
 * added again and again within a window keeps one tomb per earlier add). */

/* A sorted copy of n dots given in any order (aliasing d when they are sorted already). */
static au_err sorted_view(const uint64_t *d, uint32_t n, dbuf *copy, const uint64_t **out) {
    *out = d;
    if (dots_sorted(d, n)) return AU_OK;
    for (uint32_t i = 0; i < n; i++)
        if (dbuf_push(copy, d[i])) return AU_ENOMEM;
    dots_unique(copy->p, copy->n); /* sorts */
    uint32_t m = 0;
    for (uint32_t i = 0; i < copy->n; i++)
        if (!m || copy->p[i] != copy->p[m - 1]) copy->p[m++] = copy->p[i];
    copy->n = m;
    *out = copy->p;
    return AU_OK;
}

/* out = (x ∪ y) \ minus, all strictly increasing (out is appended to; it starts empty). */
static au_err merge_sorted(dbuf *out, const uint64_t *x, uint32_t nx, const uint64_t *y,
                           uint32_t ny, const uint64_t *minus, uint32_t nm) {
    uint32_t i = 0, j = 0, k = 0;
    while (i < nx || j < ny) {
        uint64_t v;
        if (j == ny || (i < nx && x[i] < y[j])) v = x[i++];
        else if (i == nx || y[j] < x[i]) v = y[j++];
        else v = x[i++], j++;
        while (k < nm && minus[k] < v) k++;
        if (k < nm && minus[k] == v) continue;
        if (dbuf_push(out, v)) return AU_ENOMEM;
    }
    return AU_OK;
}

/* A delta's element at slot, with many tombs, joined with a few dots: its live dots become
 * live[] and the sorted tombs add[] (none live, some perhaps tombs already) go into its tomb
 * list in place — the tombs come first in its array, so a new highest tomb moves only the few
 * live dots: an element added (or added and removed) again and again within one window costs
 * O(1) amortised per change, not a copy of all its tombs. */
static au_err tombs_insert(au_orset *s, uint32_t slot, const uint64_t *live, uint32_t nl,
                           const uint64_t *add, uint32_t nadd) {
    ext *e = &s->ext[(uint32_t)dot_ctr(ref_of(s, slot))];
    uint32_t n0 = e->nl + e->nt, n1 = e->nt + nadd + nl;
    if (n1 > n0 && ext_room(n1) > ext_room(n0)) {
        uint64_t *d = realloc(e->d, ext_room(n1) * sizeof *d);
        if (!d) return AU_ENOMEM;
        e->d = d;
    }
    uint64_t *t = e->d; /* the live dots after the tombs are rewritten below */
    for (uint32_t k = 0; k < nadd; k++) {
        uint64_t v = add[k];
        uint32_t lo = 0, hi = e->nt;
        if (e->nt && v > t[e->nt - 1]) lo = e->nt; /* the common case: a new highest tomb */
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (t[mid] < v) lo = mid + 1;
            else hi = mid;
        }
        if (lo < e->nt && t[lo] == v) continue; /* a tomb already */
        memmove(t + lo + 1, t + lo, (size_t)(e->nt - lo) * sizeof *t);
        t[lo] = v;
        e->nt++;
    }
    if (nl) memcpy(t + e->nt, live, nl * sizeof *live);
    e->nl = nl;
    return AU_OK;
}

/* The element at slot (KTAB_NONE: absent; then key/klen/hash name it) ⊔= (bl, bt), given in s's
 * numbering, in any order. x: the other side's context (NULL: none); add_ctx: a state-mode s
 * records the other side's dots in its context (they are not covered by a context merge that
 * follows). */
static au_err elem_merge(au_orset *s, uint32_t slot, const void *key, size_t klen, uint32_t hash,
                         const uint64_t *bl0, uint32_t nbl, const uint64_t *bt0, uint32_t nbt,
                         const crdt_xlat *x, bool add_ctx) {
    edots a;
    dots_of(s, slot, &a);
    bool delta = s->h.ctx->delta;
    dbuf cbl, cbt, keep_a, keep_b, dem_a, dem_b, live, t1, t2, tomb;
    dbuf *all[] = { &cbl, &cbt, &keep_a, &keep_b, &dem_a, &dem_b, &live, &t1, &t2, &tomb };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) dbuf_init(all[i]);
    const uint64_t *bl, *bt;
    au_err err = sorted_view(bl0, nbl, &cbl, &bl);
    if (!err && bl == cbl.p) nbl = cbl.n;
    if (!err) err = sorted_view(bt0, nbt, &cbt, &bt);
    if (!err && bt == cbt.p) nbt = cbt.n;
    /* live' = (live_a ∩ live_b) ∪ (live_a \ C_b) ∪ (live_b \ C_a); in a delta the rest of both
     * sides' live dots become tombs (dem_a, dem_b): each list stays sorted */
    for (uint32_t i = 0; !err && i < a.nl; i++) {
        uint64_t y = a.l[i];
        bool in_b = dots_sorted_has(bl, nbl, y);
        bool seen_b = in_b || dots_sorted_has(bt, nbt, y) || (x && xl_src_has(x, y));
        if (in_b || !seen_b) err = dbuf_push(&keep_a, y);
        else if (delta) err = dbuf_push(&dem_a, y);
    }
    for (uint32_t i = 0; !err && i < nbl; i++) {
        uint64_t y = bl[i];
        if (dots_sorted_has(a.l, a.nl, y)) continue;
        bool seen_a = dots_sorted_has(a.t, a.nt, y) || cctx_has(s->h.ctx, y);
        if (!seen_a) err = dbuf_push(&keep_b, y);
        else if (delta) err = dbuf_push(&dem_b, y);
    }
    if (!err) err = merge_sorted(&live, keep_a.p, keep_a.n, keep_b.p, keep_b.n, NULL, 0);
    if (!err && delta && slot != KTAB_NONE && a.nt > 16 && nbt <= 16 && nbl <= 16) {
        /* a few dots into an element with many tombs: in place (live' ∩ tombs_a is empty) */
        err = merge_sorted(&t1, bt, nbt, dem_a.p, dem_a.n, NULL, 0);
        if (!err) err = merge_sorted(&t2, t1.p, t1.n, dem_b.p, dem_b.n, live.p, live.n);
        if (!err) err = tombs_insert(s, slot, live.p, live.n, t2.p, t2.n);
        for (size_t i = 0; i < sizeof all / sizeof *all; i++) dbuf_free(all[i]);
        return err;
    }
    if (!err && delta) { /* tombs' = (tombs_a ∪ tombs_b ∪ demoted) \ live' */
        err = merge_sorted(&t1, a.t, a.nt, bt, nbt, NULL, 0);
        if (!err) err = merge_sorted(&t2, dem_a.p, dem_a.n, dem_b.p, dem_b.n, NULL, 0);
        if (!err) err = merge_sorted(&tomb, t1.p, t1.n, t2.p, t2.n, live.p, live.n);
    }
    for (uint32_t i = 0; !err && !delta && add_ctx && i < nbl; i++) err = cctx_add(s->h.ctx, bl[i]);
    for (uint32_t i = 0; !err && !delta && add_ctx && i < nbt; i++) err = cctx_add(s->h.ctx, bt[i]);
    if (!err && slot == KTAB_NONE && live.n + tomb.n)
        err = ktab_insert(&s->tab, key, klen, hash, NULL, 0, &slot); /* payload DEAD */
    if (!err && slot != KTAB_NONE) err = orset_set_dots(s, slot, live.p, live.n, tomb.p, tomb.n);
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) dbuf_free(all[i]);
    return err;
}

/* Translates the dots of element j of b into a's numbering. */
static au_err translate(const au_orset *b, uint32_t j, crdt_xlat *x, dbuf *l, dbuf *t) {
    edots e;
    dots_of(b, j, &e);
    l->n = t->n = 0;
    au_err err = AU_OK;
    for (uint32_t i = 0; !err && i < e.nl + e.nt; i++) {
        uint64_t d;
        err = xl_to_dst(x, i < e.nl ? e.l[i] : e.t[i - e.nl], &d);
        if (!err) err = dbuf_push(i < e.nl ? l : t, d);
    }
    return err;
}

/* Adds element j of b, which a lacks, to a; *slot is where it went (KTAB_NONE: it did not, a
 * having removed it). */
static au_err add_from_b(au_orset *a, const au_orset *b, uint32_t j, crdt_xlat *x, bool add_ctx,
                         dbuf *l, dbuf *t, uint32_t *slot) {
    size_t klen;
    const uint8_t *key = ktab_key(&b->tab, j, &klen);
    uint32_t h = ktab_slot_hash(&b->tab, j);
    uint64_t rb = ref_of(b, j);
    *slot = KTAB_NONE;
    if (!is_ext(rb) && !a->h.ctx->delta && !add_ctx) { /* one new dot */
        au_err err = xl_to_dst(x, rb, &rb);
        if (err || cctx_has(a->h.ctx, rb)) return err; /* (a removed it) */
        err = ktab_insert(&a->tab, key, klen, h, NULL, 0, slot);
        if (!err) set_ref(a, *slot, rb);
        return err;
    }
    au_err err = translate(b, j, x, l, t);
    if (!err) err = elem_merge(a, KTAB_NONE, key, klen, h, l->p, l->n, t->p, t->n, x, add_ctx);
    if (!err) *slot = ktab_find_from(&a->tab, &b->tab, j);
    return err;
}

/* About how many elements of b the join's common case turns into concurrent adds of one
 * element (two dots: an ext slot each), from a sample of b's slots, so the ext array grows once
 * rather than by doubling (each step a copy, and fresh pages). */
static uint32_t estimate_concurrent(const au_orset *a, const au_orset *b, crdt_xlat *x) {
    enum { SAMPLE = 256 };
    if (!b || a->h.ctx->delta || !x->src_covers || !a->tab.n || b->tab.n < SAMPLE) return 0;
    uint32_t step = b->tab.cap / SAMPLE, seen = 0, conc = 0;
    for (uint32_t k = 0; k < SAMPLE; k++) {
        uint32_t j = k * step, end = j + step;
        while (j < end && !ktab_used(&b->tab, j)) j++;
        if (j == end) continue;
        seen++;
        uint32_t i = ktab_find_from(&a->tab, &b->tab, j);
        if (i == KTAB_NONE) continue;
        uint64_t ra = ref_of(a, i), rb = ref_of(b, j);
        if (is_ext(ra) || is_ext(rb) || xl_to_dst(x, rb, &rb)) continue;
        conc += ra != rb && !xl_src_has(x, ra) && !cctx_has(a->h.ctx, rb);
    }
    return seen ? (uint32_t)((uint64_t)b->tab.n * conc / seen) : 0;
}

static au_err orset_join(void *dst, const void *src, crdt_xlat *x) {
    au_orset *a = dst;
    const au_orset *b = src;
    bool scan = x->src_knows && a->tab.n, add_ctx = !x->src_covers;
    /* Sized once for the elements b adds (estimated from a sample), so they go in during the one
     * pass over b: no rehash midway, and their keys are copied while still in cache. */
    uint32_t want = b ? ktab_estimate_missing(&a->tab, &b->tab) : 0;
    au_err err = want ? ktab_prepare_merge(&a->tab, &b->tab, want) : AU_OK;
    uint32_t conc = err ? 0 : estimate_concurrent(a, b, x);
    if (conc) err = ext_reserve(a, conc);
    if (err) return err;
    uint8_t *visited = scan ? calloc(a->tab.cap / 8 + 1, 1) : NULL;
    /* b's slots: of elements only in b that did not fit (inserted last, so a does not grow
     * meanwhile), and of elements a had that died (deleted by key afterwards, unless a full
     * sweep runs anyway). */
    uint32_t *only_b = b && b->tab.n ? malloc(2 * (size_t)b->tab.n * sizeof *only_b) : NULL;
    uint32_t n_only = 0, n_dead = 0, n_in = 0, *dead_b = only_b ? only_b + b->tab.n : NULL;
    if ((scan && !visited) || (b && b->tab.n && !only_b)) {
        free(visited), free(only_b);
        return AU_ENOMEM;
    }
    dbuf l, t;
    dbuf_init(&l), dbuf_init(&t);
    /* Elements of b: merged in place when a has them; else added now if a has room without
     * growing (and, when a is the smaller table, only a few: keys in b's slot order would
     * pile up in one cluster of a), or later. Adding never moves a slot. */
    for (uint32_t j = 0; !err && b && j < b->tab.cap; j++) {
        if (j + 16 < b->tab.cap) ktab_prefetch(&a->tab, &b->tab, j + 16, 1);
        if (j + 8 < b->tab.cap) ktab_prefetch(&a->tab, &b->tab, j + 8, 2);
        if (!ktab_used(&b->tab, j)) continue;
        uint32_t i = ktab_find_from(&a->tab, &b->tab, j);
        if (i == KTAB_NONE) {
            if (!ktab_fits(&a->tab) || (a->tab.cap < b->tab.cap && n_in >= a->tab.cap / 8)) {
                only_b[n_only++] = j;
                continue;
            }
            n_in++;
            err = add_from_b(a, b, j, x, add_ctx, &l, &t, &i);
            if (!err && visited && i != KTAB_NONE) visited[i / 8] |= (uint8_t)(1u << (i % 8));
            continue;
        }
        if (visited) visited[i / 8] |= (uint8_t)(1u << (i % 8));
        uint64_t ra = ref_of(a, i), rb = ref_of(b, j);
        if (!is_ext(ra) && !is_ext(rb) && !a->h.ctx->delta && !add_ctx) {
            /* The common case, one dot on each side: no allocation unless both survive. */
            err = xl_to_dst(x, rb, &rb);
            bool keep_a = ra == rb || !xl_src_has(x, ra), keep_b = ra != rb && !cctx_has(a->h.ctx, rb);
            if (err || (keep_a && !keep_b)) continue;
            if (!keep_a && !keep_b) {
                set_ref(a, i, DEAD);
                a->dead = true;
                dead_b[n_dead++] = j;
            } else if (!keep_a) {
                set_ref(a, i, rb);
            } else { /* concurrent adds of one element */
                uint32_t e;
                err = ext_alloc(a, &e);
                if (!err) {
                    a->ext[e] = (ext){ .nl = 2, .inl = { ra < rb ? ra : rb, ra < rb ? rb : ra } };
                    set_ref(a, i, dot_make(EXT_MARK, e));
                }
            }
            continue;
        }
        err = translate(b, j, x, &l, &t);
        if (!err) err = elem_merge(a, i, NULL, 0, 0, l.p, l.n, t.p, t.n, x, add_ctx);
        if (!err && ref_of(a, i) == DEAD) dead_b[n_dead++] = j;
    }
    /* Elements only in a lose the dots b's context has seen. */
    for (uint32_t i = 0; !err && scan && i < a->tab.cap; i++) {
        if (!ktab_used(&a->tab, i) || visited[i / 8] & (1u << (i % 8)) || ref_of(a, i) == DEAD)
            continue;
        edots e;
        dots_of(a, i, &e);
        bool hit = false;
        for (uint32_t k = 0; k < e.nl && !hit; k++) hit = xl_src_has(x, e.l[k]);
        if (hit) err = elem_merge(a, i, NULL, 0, 0, NULL, 0, NULL, 0, x, add_ctx);
    }
    if (scan) {
        orset_sweep(a);
    } else { /* no full pass over a: delete just the elements that died */
        for (uint32_t k = 0; k < n_dead; k++) {
            uint32_t i = ktab_find_from(&a->tab, &b->tab, dead_b[k]);
            if (i != KTAB_NONE && ref_of(a, i) == DEAD) ktab_delete(&a->tab, i);
        }
        a->dead = false;
    }
    if (!err && n_only) err = ktab_prepare_merge(&a->tab, &b->tab, n_only);
    for (uint32_t k = 0; !err && k < n_only; k++) {
        if (k + 16 < n_only) ktab_prefetch_key(&b->tab, only_b[k + 16]);
        uint32_t slot;
        err = add_from_b(a, b, only_b[k], x, add_ctx, &l, &t, &slot);
    }
    dbuf_free(&l), dbuf_free(&t);
    free(visited), free(only_b);
    return err;
}

/* ---- mutators ------------------------------------------------------------------------------ */

/* Records in d that the element (named by key) gained `add` (0: nothing) and lost la[], all in
 * s's numbering. */
static au_err record(const au_orset *s, au_orset *d, const void *key, size_t len, uint32_t hash,
                     uint64_t add, const uint64_t *la, uint32_t nla) {
    dbuf t;
    dbuf_init(&t);
    uint64_t ad = 0;
    au_err err = add ? cctx_dot_to(s->h.ctx, d->h.ctx, add, &ad) : AU_OK;
    for (uint32_t i = 0; !err && i < nla; i++) {
        uint64_t y;
        err = cctx_dot_to(s->h.ctx, d->h.ctx, la[i], &y);
        if (!err) err = dbuf_push(&t, y);
    }
    if (!err)
        err = elem_merge(d, ktab_find(&d->tab, key, len, hash), key, len, hash, &ad, add ? 1 : 0,
                         t.p, t.n, NULL, true);
    dbuf_free(&t);
    return err;
}

au_err au_orset_add(au_orset *s, au_orset *delta, uint64_t replica, const void *elem,
                    size_t len) {
    if (s && !crdt_is_a(s, &au_orset_type)) return AU_ETYPE; /* a state of another type */
    if (!s || crdt_bad_bytes(elem, len) || delta == s) return AU_EINVAL;
    if (delta && !crdt_same_types(s, delta)) return AU_ETYPE;
    if (s->h.ctx->delta) return AU_ESTATE;
    uint32_t r, h = ktab_hash(elem, len), i = ktab_find(&s->tab, elem, len, h);
    uint64_t x;
    au_err err = cctx_ridx(s->h.ctx, replica, &r);
    if (!err) err = cctx_next(s->h.ctx, r, &x);
    if (err) return err;
    edots a;
    dots_of(s, i, &a);
    if (delta) err = record(s, delta, elem, len, h, x, a.l, a.nl);
    if (!err && i == KTAB_NONE) err = ktab_insert(&s->tab, elem, len, h, NULL, 0, &i);
    if (!err) err = orset_set_dots(s, i, &x, 1, NULL, 0); /* a fresh slot's payload is DEAD */
    return err ? err : cctx_add(s->h.ctx, x);
}

au_err au_orset_remove(au_orset *s, au_orset *delta, const void *elem, size_t len) {
    if (s && !crdt_is_a(s, &au_orset_type)) return AU_ETYPE; /* a state of another type */
    if (!s || crdt_bad_bytes(elem, len) || delta == s) return AU_EINVAL;
    if (delta && !crdt_same_types(s, delta)) return AU_ETYPE;
    if (s->h.ctx->delta) return AU_ESTATE;
    uint32_t h = ktab_hash(elem, len), i = ktab_find(&s->tab, elem, len, h);
    if (i == KTAB_NONE) return AU_OK;
    edots a;
    dots_of(s, i, &a);
    au_err err = delta ? record(s, delta, elem, len, h, 0, a.l, a.nl) : AU_OK;
    if (err) return err;
    ext_release(s, ref_of(s, i));
    ktab_delete(&s->tab, i);
    return AU_OK;
}

static void drop_all(au_orset *s) {
    for (uint32_t i = 0; i < s->next; i++) free(s->ext[i].d);
    free(s->ext), free(s->freel);
    s->ext = NULL, s->freel = NULL, s->next = s->cap = s->nfree = 0;
    ktab_free(&s->tab);
}

static au_err orset_clear(void *v, void *dv) {
    au_orset *s = v, *d = dv;
    for (uint32_t i = 0; d && i < s->tab.cap; i++) {
        if (!ktab_used(&s->tab, i) || ref_of(s, i) == DEAD) continue;
        edots a;
        dots_of(s, i, &a);
        size_t len;
        const uint8_t *key = ktab_key(&s->tab, i, &len);
        au_err err = record(s, d, key, len, ktab_slot_hash(&s->tab, i), 0, a.l, a.nl);
        if (err) return err;
    }
    drop_all(s);
    return AU_OK;
}

au_err au_orset_clear(au_orset *s, au_orset *delta) {
    if (s && !crdt_is_a(s, &au_orset_type)) return AU_ETYPE; /* a state of another type */
    if (!s || delta == s) return AU_EINVAL;
    if (delta && !crdt_same_types(s, delta)) return AU_ETYPE;
    if (s->h.ctx->delta) return AU_ESTATE;
    return orset_clear(s, delta);
}

/* ---- reads --------------------------------------------------------------------------------- */

static bool live_at(const au_orset *s, uint32_t i) {
    if (i == KTAB_NONE || !ktab_used(&s->tab, i)) return false;
    edots e;
    dots_of(s, i, &e);
    return e.nl > 0;
}

bool au_orset_contains(const au_orset *s, const void *elem, size_t len) {
    s = CRDT_READ_AS(s, &au_orset_type); /* another type reads as bottom */
    return s && !crdt_bad_bytes(elem, len) && live_at(s, ktab_find(&s->tab, elem, len, ktab_hash(elem, len)));
}

size_t au_orset_size(const au_orset *s) {
    s = CRDT_READ_AS(s, &au_orset_type); /* another type reads as bottom */
    if (!s) return 0;
    if (!s->h.ctx->delta) return s->tab.n;
    size_t n = 0;
    for (uint32_t i = 0; i < s->tab.cap; i++) n += live_at(s, i);
    return n;
}

bool au_orset_next(const au_orset *s, au_crdt_iter *it, au_crdt_bytes *elem) {
    s = CRDT_READ_AS(s, &au_orset_type); /* another type reads as bottom */
    for (; s && it->pos_ < s->tab.cap; it->pos_++) {
        if (!live_at(s, it->pos_)) continue;
        size_t len;
        const uint8_t *k = ktab_key(&s->tab, it->pos_++, &len);
        *elem = (au_crdt_bytes){ k, len };
        return true;
    }
    return false;
}

static size_t orset_memory(const void *v) {
    const au_orset *s = v;
    size_t m = sizeof *s + ktab_memory(&s->tab) + s->cap * (sizeof(ext) + sizeof(uint32_t));
    for (uint32_t i = 0; i < s->next; i++)
        if (s->ext[i].d) m += ((size_t)s->ext[i].nl + s->ext[i].nt) * 8;
    return m;
}

size_t au_orset_memory(const au_orset *s) {
    s = CRDT_READ_AS(s, &au_orset_type); /* another type reads as bottom */
    if (!s) return 0; /* NULL reads as bottom, as for every reader */
    const crdt_cctx *c = s->h.ctx;
    return orset_memory(s) + sizeof *c + c->caprep * 16 + c->icap * 4 + c->cloud.cap * 8;
}

/* ---- the causal operations ---------------------------------------------------------------- */

static void *orset_create(crdt_cctx *ctx, const au_crdt_type *type) {
    au_orset *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->h = (crdt_cobj){ .type = type, .ctx = ctx };
    ktab_init(&s->tab, 8, false);
    return s;
}

static void orset_free(void *v) {
    drop_all(v);
    free(v);
}

static bool orset_has_live(const void *v) { return au_orset_size(v) > 0; }

static bool orset_has_tombs(const void *v) {
    const au_orset *s = v;
    for (uint32_t i = 0; s->h.ctx->delta && i < s->tab.cap; i++) {
        if (!ktab_used(&s->tab, i)) continue;
        edots e;
        dots_of(s, i, &e);
        if (e.nt) return true;
    }
    return false;
}

static const crdt_causal_ops orset_ops = {
    .tag = CRDT_TAG_ORSET, .create = orset_create, .free = orset_free,
    .has_live = orset_has_live, .has_tombs = orset_has_tombs, .join = orset_join,
    .clear = orset_clear, .equal = orset_equal, .digest = orset_digest, .encode = orset_encode,
    .decode = orset_decode,
    .minus = orset_minus, .map_dots = orset_map_dots, .fold = NULL, .memory = orset_memory,
};
const au_crdt_type au_orset_type = CRDT_CAUSAL_VTABLE("au.orset.1", orset_ops, false);
