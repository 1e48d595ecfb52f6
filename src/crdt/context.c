/* context.c — dots and causal contexts: dot sets, the per-state replica table, the compact
 * version vector with its dot cloud, and translation between two states' replica numbering.
 *
 * Invariants of a context: ids[] are distinct; index[] maps each id to its ridx; no cloud dot is
 * at or below its replica's vv, nor equal to vv + 1 (the cloud is kept compacted), so two
 * contexts that know the same dots have the same vv and cloud. vv == CRDT_RETIRED means every
 * dot of that replica is known and its cloud is empty. */
#include <stdlib.h>

#include "crdt_internal.h"

static uint32_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL; /* murmur3 finaliser: spreads sequential ids and dots */
    k ^= k >> 33;
    return (uint32_t)k;
}

/* ---- dot sets ------------------------------------------------------------------------------ */

bool dotset_has(const crdt_dotset *s, uint64_t d) {
    if (!s->n) return false;
    for (uint32_t i = mix(d) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (s->slot[i] == d) return true;
        if (!s->slot[i]) return false;
    }
}

static au_err dotset_grow(crdt_dotset *s) {
    uint32_t cap = s->cap ? s->cap * 2 : 8;
    uint64_t *slot = calloc(cap, sizeof *slot);
    if (!slot) return AU_ENOMEM;
    for (uint32_t j = 0; j < s->cap; j++) {
        if (!s->slot[j]) continue;
        uint32_t i = mix(s->slot[j]) & (cap - 1);
        while (slot[i]) i = (i + 1) & (cap - 1);
        slot[i] = s->slot[j];
    }
    free(s->slot);
    s->slot = slot;
    s->cap = cap;
    return AU_OK;
}

au_err dotset_add(crdt_dotset *s, uint64_t d) {
    if (dotset_has(s, d)) return AU_OK;
    if ((s->n + 1) * 4 > s->cap * 3) {
        au_err err = dotset_grow(s);
        if (err) return err;
    }
    uint32_t i = mix(d) & (s->cap - 1);
    while (s->slot[i]) i = (i + 1) & (s->cap - 1);
    s->slot[i] = d;
    s->n++;
    return AU_OK;
}

void dotset_del(crdt_dotset *s, uint64_t d) {
    if (!s->n) return;
    uint32_t mask = s->cap - 1, i = mix(d) & mask;
    while (s->slot[i] != d) {
        if (!s->slot[i]) return;
        i = (i + 1) & mask;
    }
    for (uint32_t j = (i + 1) & mask; s->slot[j]; j = (j + 1) & mask) {
        uint32_t home = mix(s->slot[j]) & mask;
        bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (in_range) continue;
        s->slot[i] = s->slot[j];
        i = j;
    }
    s->slot[i] = 0;
    s->n--;
}

void dotset_free(crdt_dotset *s) {
    free(s->slot);
    *s = (crdt_dotset){ 0 };
}

bool dots_has(const uint64_t *d, uint32_t n, uint64_t x) {
    for (uint32_t i = 0; i < n; i++)
        if (d[i] == x) return true;
    return false;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

bool dots_sorted(const uint64_t *d, uint32_t n) {
    for (uint32_t i = 1; i < n; i++)
        if (d[i] <= d[i - 1]) return false;
    return true;
}

bool dots_sorted_has(const uint64_t *d, uint32_t n, uint64_t x) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (d[mid] == x) return true;
        if (d[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return false;
}

bool dots_unique(uint64_t *d, uint32_t n) {
    if (n < 2) return true;
    if (dots_sorted(d, n)) return true; /* the common case: kept sorted, a linear check */
    qsort(d, n, sizeof *d, cmp_u64);
    for (uint32_t i = 1; i < n; i++)
        if (d[i] == d[i - 1]) return false;
    return true;
}

/* ---- contexts ------------------------------------------------------------------------------ */

crdt_cctx *cctx_new(bool delta) {
    crdt_cctx *c = calloc(1, sizeof *c);
    if (c) c->delta = delta;
    return c;
}

void cctx_free(crdt_cctx *c) {
    if (!c) return;
    free(c->ids);
    free(c->vv);
    free(c->index);
    dotset_free(&c->cloud);
    free(c);
}

uint32_t cctx_find(const crdt_cctx *c, uint64_t id) {
    if (!c->nrep) return CRDT_RIDX_NONE;
    for (uint32_t i = mix(id) & (c->icap - 1);; i = (i + 1) & (c->icap - 1)) {
        if (!c->index[i]) return CRDT_RIDX_NONE;
        if (c->ids[c->index[i] - 1] == id) return c->index[i] - 1;
    }
}

static void index_put(uint32_t *index, uint32_t icap, uint64_t id, uint32_t ridx) {
    uint32_t i = mix(id) & (icap - 1);
    while (index[i]) i = (i + 1) & (icap - 1);
    index[i] = ridx + 1;
}

au_err cctx_ridx(crdt_cctx *c, uint64_t id, uint32_t *ridx) {
    uint32_t r = cctx_find(c, id);
    if (r != CRDT_RIDX_NONE) {
        *ridx = r;
        return AU_OK;
    }
    if (c->nrep >= CRDT_MAX_REPLICAS - 1) return AU_EFULL;
    if (c->nrep == c->caprep) {
        uint32_t cap = c->caprep ? c->caprep * 2 : 4;
        uint64_t *ids = realloc(c->ids, cap * sizeof *ids);
        if (!ids) return AU_ENOMEM;
        c->ids = ids;
        uint64_t *vv = realloc(c->vv, cap * sizeof *vv);
        if (!vv) return AU_ENOMEM;
        c->vv = vv;
        c->caprep = cap;
    }
    if ((c->nrep + 1) * 2 > c->icap) {
        uint32_t icap = c->icap ? c->icap * 2 : 8;
        uint32_t *index = calloc(icap, sizeof *index);
        if (!index) return AU_ENOMEM;
        for (uint32_t i = 0; i < c->nrep; i++) index_put(index, icap, c->ids[i], i);
        free(c->index);
        c->index = index;
        c->icap = icap;
    }
    c->ids[c->nrep] = id;
    c->vv[c->nrep] = 0;
    index_put(c->index, c->icap, id, c->nrep);
    *ridx = c->nrep++;
    return AU_OK;
}

bool cctx_has(const crdt_cctx *c, uint64_t dot) {
    uint32_t r = dot_ridx(dot);
    if (r >= c->nrep) return false;
    return dot_ctr(dot) <= c->vv[r] || dotset_has(&c->cloud, dot);
}

au_err cctx_add(crdt_cctx *c, uint64_t dot) {
    uint32_t r = dot_ridx(dot);
    uint64_t k = dot_ctr(dot);
    if (k <= c->vv[r]) return AU_OK;
    if (k > c->vv[r] + 1) return dotset_add(&c->cloud, dot);
    c->vv[r] = k;
    while (c->cloud.n && dotset_has(&c->cloud, dot_make(r, c->vv[r] + 1))) {
        dotset_del(&c->cloud, dot_make(r, c->vv[r] + 1));
        c->vv[r]++;
    }
    return AU_OK;
}

void cctx_raise(crdt_cctx *c, uint32_t ridx, uint64_t v) {
    uint64_t old = c->vv[ridx];
    if (v <= old) return;
    c->vv[ridx] = v;
    if (!c->cloud.n) return;
    /* Drop the cloud dots the new counter covers: one lookup per covered counter when that
     * range is shorter than the cloud, else one pass over the cloud. Either way the cost is
     * bounded by the change, not by the cloud (a delta group of a thousand joins stays linear). */
    if (v != CRDT_RETIRED && v - old <= c->cloud.n) {
        for (uint64_t k = old + 2; k <= v; k++) dotset_del(&c->cloud, dot_make(ridx, k));
    } else {
        for (uint32_t i = 0; c->cloud.n && i < c->cloud.cap;) {
            uint64_t d = c->cloud.slot[i];
            if (d && dot_ridx(d) == ridx && dot_ctr(d) <= v)
                dotset_del(&c->cloud, d); /* the shift may bring another dot into slot i */
            else
                i++;
        }
    }
    if (v == CRDT_RETIRED) return;
    while (c->cloud.n && dotset_has(&c->cloud, dot_make(ridx, c->vv[ridx] + 1))) {
        dotset_del(&c->cloud, dot_make(ridx, c->vv[ridx] + 1));
        c->vv[ridx]++;
    }
}

au_err cctx_next(const crdt_cctx *c, uint32_t ridx, uint64_t *dot) {
    uint64_t max = c->vv[ridx];
    if (max == CRDT_RETIRED) return AU_ESTATE; /* a retired replica does not mutate */
    for (uint32_t i = 0; c->cloud.n && i < c->cloud.cap; i++) {
        uint64_t d = c->cloud.slot[i];
        if (d && dot_ridx(d) == ridx && dot_ctr(d) > max) max = dot_ctr(d);
    }
    if (max + 1 >= CRDT_CTR_LIMIT) return AU_EFULL;
    *dot = dot_make(ridx, max + 1);
    return AU_OK;
}

bool cctx_knows(const crdt_cctx *c) {
    if (c->cloud.n) return true;
    for (uint32_t i = 0; i < c->nrep; i++)
        if (c->vv[i]) return true;
    return false;
}

au_err cctx_retire(crdt_cctx *c, uint32_t ridx) {
    c->vv[ridx] = CRDT_RETIRED;
    for (uint32_t i = 0; c->cloud.n && i < c->cloud.cap;) {
        uint64_t d = c->cloud.slot[i];
        if (d && dot_ridx(d) == ridx)
            dotset_del(&c->cloud, d); /* the shift may bring another dot into slot i */
        else
            i++;
    }
    return AU_OK;
}

au_err cctx_dot_to(const crdt_cctx *from, crdt_cctx *to, uint64_t dot, uint64_t *out) {
    if (from == to) {
        *out = dot;
        return AU_OK;
    }
    uint32_t r;
    au_err err = cctx_ridx(to, from->ids[dot_ridx(dot)], &r);
    if (!err) *out = dot_make(r, dot_ctr(dot));
    return err;
}

bool dot_valid(const crdt_cctx *c, uint64_t dot) {
    uint64_t k = dot_ctr(dot);
    return dot_ridx(dot) < c->nrep && k >= 1 && k < CRDT_RETIRED;
}

au_err dot_encode(au_buf *b, uint64_t dot) {
    au_err err = crdt_put_uv(b, dot_ridx(dot));
    return err ? err : crdt_put_uv(b, dot_ctr(dot));
}

bool dot_decode(crdt_rd *r, const crdt_cctx *c, uint64_t *dot) {
    uint64_t ridx, k;
    if (!crdt_get_uv(r, &ridx) || !crdt_get_uv(r, &k) || ridx >= c->nrep || k < 1 ||
        k >= CRDT_RETIRED)
        return false;
    *dot = dot_make((uint32_t)ridx, k);
    return true;
}

/* Layout: nrep, then per replica its id (8 bytes) and vv; ncloud, then the cloud dots. */
au_err cctx_encode(const crdt_cctx *c, au_buf *out) {
    au_err err = crdt_put_uv(out, c->nrep);
    for (uint32_t i = 0; !err && i < c->nrep; i++) {
        err = crdt_put_u64(out, c->ids[i]);
        if (!err) err = crdt_put_uv(out, c->vv[i]);
    }
    if (!err) err = crdt_put_uv(out, c->cloud.n);
    for (uint32_t i = 0; !err && i < c->cloud.cap; i++)
        if (c->cloud.slot[i]) err = dot_encode(out, c->cloud.slot[i]);
    return err;
}

au_err cctx_decode(crdt_cctx *c, crdt_rd *r) {
    uint32_t n;
    if (!crdt_get_count(r, 9, &n) || n >= CRDT_MAX_REPLICAS) return AU_EDECODE;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t id, vv;
        uint32_t ridx;
        if (!crdt_get_u64(r, &id) || !crdt_get_uv(r, &vv) || vv > CRDT_RETIRED) return AU_EDECODE;
        if (cctx_find(c, id) != CRDT_RIDX_NONE) return AU_EDECODE; /* duplicate replica */
        au_err err = cctx_ridx(c, id, &ridx);
        if (err) return err;
        c->vv[ridx] = vv;
    }
    if (!crdt_get_count(r, 2, &n)) return AU_EDECODE;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t d;
        if (!dot_decode(r, c, &d)) return AU_EDECODE;
        /* Canonical form only: not covered by vv, not vv + 1, no duplicates. */
        if (dot_ctr(d) <= c->vv[dot_ridx(d)] + 1 || dotset_has(&c->cloud, d)) return AU_EDECODE;
        au_err err = dotset_add(&c->cloud, d);
        if (err) return err;
    }
    return AU_OK;
}

/* ---- translation --------------------------------------------------------------------------- */

static au_err d2s_room(crdt_xlat *x, uint32_t n) {
    if (n <= x->capd) return AU_OK;
    uint32_t cap = x->capd ? x->capd : 8;
    while (cap < n) cap *= 2;
    uint32_t *d2s = realloc(x->d2s, cap * sizeof *d2s);
    if (!d2s) return AU_ENOMEM;
    x->d2s = d2s;
    x->capd = cap;
    return AU_OK;
}

/* True if some replica is known to both contexts. A state-mode dst has all its live dots in its
 * context, so otherwise none of them can be in src's: a join then need not visit dst's keys
 * (two sets filled by different replicas merge without a pass over either). */
static bool knows_common(const crdt_cctx *dst, const crdt_cctx *src, const uint32_t *s2d) {
    uint8_t *in_cloud = calloc(dst->nrep + 1, 1);
    if (!in_cloud) return true; /* the safe answer */
    for (uint32_t i = 0; i < dst->cloud.cap; i++)
        if (dst->cloud.slot[i]) in_cloud[dot_ridx(dst->cloud.slot[i])] = 1;
    bool common = false;
    for (uint32_t i = 0; i < src->nrep && !common; i++) {
        uint32_t d = s2d[i];
        common = d != CRDT_RIDX_NONE && src->vv[i] && (dst->vv[d] || in_cloud[d]);
    }
    for (uint32_t i = 0; i < src->cloud.cap && !common; i++) {
        uint64_t dot = src->cloud.slot[i];
        uint32_t d = dot ? s2d[dot_ridx(dot)] : CRDT_RIDX_NONE;
        common = d != CRDT_RIDX_NONE && (dst->vv[d] || in_cloud[d]);
    }
    free(in_cloud);
    return common;
}

au_err xlat_init(crdt_xlat *x, crdt_cctx *dst, const crdt_cctx *src) {
    *x = (crdt_xlat){ .dst = dst, .src = src, .ns = src->nrep, .nd = dst->nrep };
    x->s2d = malloc((src->nrep + 1) * sizeof *x->s2d);
    if (!x->s2d || d2s_room(x, dst->nrep + 1)) {
        xlat_free(x);
        return AU_ENOMEM;
    }
    for (uint32_t i = 0; i < src->nrep; i++) x->s2d[i] = cctx_find(dst, src->ids[i]);
    for (uint32_t i = 0; i < dst->nrep; i++) x->d2s[i] = cctx_find(src, dst->ids[i]);
    x->src_knows = cctx_knows(src) && (dst->delta || knows_common(dst, src, x->s2d));
    x->src_covers = !src->delta;
    return AU_OK;
}

void xlat_free(crdt_xlat *x) {
    free(x->s2d);
    free(x->d2s);
    free(x->keep_vv);
    free(x->lo);
    free(x->readd);
    *x = (crdt_xlat){ 0 };
}

au_err xl_to_dst(crdt_xlat *x, uint64_t sdot, uint64_t *ddot) {
    uint32_t s = dot_ridx(sdot);
    if (x->s2d[s] == CRDT_RIDX_NONE) {
        uint32_t r;
        au_err err = d2s_room(x, x->dst->nrep + 1);
        if (!err) err = cctx_ridx(x->dst, x->src->ids[s], &r);
        if (err) return err;
        x->s2d[s] = r;
        x->d2s[r] = s;
        x->nd = x->dst->nrep;
        if (x->keep_vv) x->keep_vv[r] = KEEP_NONE; /* sized for both contexts' replicas */
    }
    *ddot = dot_make(x->s2d[s], dot_ctr(sdot));
    return AU_OK;
}

bool xl_to_dst_known(const crdt_xlat *x, uint64_t sdot, uint64_t *ddot) {
    uint32_t d = x->s2d[dot_ridx(sdot)];
    if (d == CRDT_RIDX_NONE) return false;
    *ddot = dot_make(d, dot_ctr(sdot));
    return true;
}

bool xl_to_src(const crdt_xlat *x, uint64_t ddot, uint64_t *sdot) {
    uint32_t r = dot_ridx(ddot);
    if (r >= x->nd || x->d2s[r] == CRDT_RIDX_NONE) return false;
    *sdot = dot_make(x->d2s[r], dot_ctr(ddot));
    return true;
}

bool xl_src_has(const crdt_xlat *x, uint64_t ddot) {
    uint64_t s;
    return x->src_knows && xl_to_src(x, ddot, &s) && cctx_has(x->src, s);
}

bool xl_kept(const crdt_xlat *x, uint64_t ddot) {
    const crdt_cctx *d = x->dst;
    uint32_t r = dot_ridx(ddot);
    if (r >= d->nrep) return false;
    uint64_t s, k = dot_ctr(ddot);
    bool state_has = xl_to_src(x, ddot, &s) && cctx_has(x->src, s);
    if (k <= d->vv[r])
        return x->keep_vv[r] == KEEP_ALL || (x->keep_vv[r] == KEEP_RANGE && k > x->lo[r] && !state_has);
    return dotset_has(&d->cloud, ddot) && !state_has; /* cloud dots the state has go */
}

au_err xl_readd(crdt_xlat *x, uint64_t ddot) {
    if (x->nreadd == x->capreadd) {
        uint32_t cap = x->capreadd ? x->capreadd * 2 : 8;
        uint64_t *r = realloc(x->readd, cap * sizeof *r);
        if (!r) return AU_ENOMEM;
        x->readd = r;
        x->capreadd = cap;
    }
    x->readd[x->nreadd++] = ddot;
    return AU_OK;
}
