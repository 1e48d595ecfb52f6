/* test_crdt_hot_key.c — one ORSet element, or one ORMap key, updated again and again: the delta
 * accumulators that collect such updates keep a tomb per earlier update, and their joins merge
 * sorted lists (in place when a few dots join many). White-box: the accumulators are read
 * through the private headers, element by element, live dots and tombs by (replica id,
 * counter), so that tombs are compared too (the types' equal compares live dots only).
 *  - on random histories of three replicas (a hot element or key updated and removed, a few
 *    cold ones, states synced now and then): joins of accumulators of hundreds of deltas equal
 *    the join rule computed from their contents (live' = (live_a ∩ live_b) ∪ (live_a \ C_b) ∪
 *    (live_b \ C_a), tombs' = everything seen \ live'), are commutative, idempotent and
 *    associative, keep every list sorted, and joining every delta into a fresh state equals
 *    joining the states;
 *  - mutators writing straight into one accumulator give the same accumulator as their deltas
 *    joined one by one;
 *  - the size of a group of n updates of one element: one tomb per update, at most 3 bytes each
 *    at these counters (timing: bench/crdt/hot_key_bench.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <aurum/crdt.h>

#include "crdt/orset.h"

/* The ORMap's store (src/crdt/ormap.c): its context, then its key table of value pointers. */
typedef struct ormap_view {
    crdt_cobj h;
    ktab tab;
} ormap_view;

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static int below(uint64_t *s, int n) { return (int)(rng_next(s) % (uint64_t)n); }

/* ---- dumps: an accumulator's content by key, dots by (replica id, counter) ------------------- */

typedef struct dd { uint64_t id, ctr, a, b; } dd; /* a dot, with a counter's payload */
typedef struct kdump {
    char key[16];
    dd *l, *t;
    size_t nl, nt, lcap, tcap;
} kdump;
typedef struct dump {
    kdump k[16];
    size_t n;
} dump;

static int cmp_dd(const void *x, const void *y) {
    const dd *a = x, *b = y;
    if (a->id != b->id) return a->id < b->id ? -1 : 1;
    return a->ctr < b->ctr ? -1 : a->ctr > b->ctr;
}
static int cmp_kd(const void *x, const void *y) {
    return strcmp(((const kdump *)x)->key, ((const kdump *)y)->key);
}
static dd dot_of(const crdt_cctx *c, uint64_t dot, uint64_t a, uint64_t b) {
    return (dd){ c->ids[dot_ridx(dot)], dot_ctr(dot), a, b };
}
static void push_t(kdump *k, dd d) {
    if (k->nt == k->tcap) {
        k->tcap = k->tcap ? 2 * k->tcap : 64;
        k->t = realloc(k->t, k->tcap * sizeof *k->t);
        assert_non_null(k->t);
    }
    k->t[k->nt++] = d;
}
static void push_l(kdump *k, dd d) {
    if (k->nl == k->lcap) {
        k->lcap = k->lcap ? 2 * k->lcap : 16;
        k->l = realloc(k->l, k->lcap * sizeof *k->l);
        assert_non_null(k->l);
    }
    k->l[k->nl++] = d;
}
static void dump_free(dump *d) {
    for (size_t i = 0; i < d->n; i++) free(d->k[i].t), free(d->k[i].l);
    d->n = 0;
}
static kdump *new_key(dump *d, const uint8_t *key, size_t len) {
    assert_true(d->n < 16 && len < 16);
    kdump *k = &d->k[d->n++];
    memset(k, 0, sizeof *k);
    if (len) memcpy(k->key, key, len);
    return k;
}
static void dump_sort(dump *d) {
    for (size_t i = 0; i < d->n; i++) {
        if (d->k[i].nl) qsort(d->k[i].l, d->k[i].nl, sizeof(dd), cmp_dd); /* l may be NULL */
        if (d->k[i].nt) qsort(d->k[i].t, d->k[i].nt, sizeof(dd), cmp_dd);
    }
    if (d->n) qsort(d->k, d->n, sizeof *d->k, cmp_kd);
}

/* The ORSet's elements; every list must be strictly increasing in the set's own numbering. */
static void dump_orset(const au_orset *s, dump *d) {
    d->n = 0;
    const crdt_cctx *c = s->h.ctx;
    assert_false(cctx_knows(c)); /* the histories' deltas carry everything as tombs */
    for (uint32_t i = 0; i < s->tab.cap; i++) {
        if (!ktab_used(&s->tab, i)) continue;
        size_t len;
        const uint8_t *key = ktab_key(&s->tab, i, &len);
        edots e;
        dots_of(s, i, &e);
        assert_true(dots_sorted(e.l, e.nl));
        assert_true(dots_sorted(e.t, e.nt));
        kdump *k = new_key(d, key, len);
        for (uint32_t j = 0; j < e.nl; j++) push_l(k, dot_of(c, e.l[j], 0, 0));
        for (uint32_t j = 0; j < e.nt; j++) push_t(k, dot_of(c, e.t[j], 0, 0));
    }
    dump_sort(d);
}

/* The ORMap's keys and their PNCounters' entries and tombs (sorted, distinct, none live). */
static void dump_ormap(const void *m, dump *d) {
    const ormap_view *v = m;
    d->n = 0;
    const crdt_cctx *c = v->h.ctx;
    assert_false(cctx_knows(c));
    for (uint32_t i = 0; i < v->tab.cap; i++) {
        if (!ktab_used(&v->tab, i)) continue;
        const crdt_dotfun *f;
        memcpy(&f, ktab_payload(&v->tab, i), sizeof f);
        if (!f) continue;
        size_t len;
        const uint8_t *key = ktab_key(&v->tab, i, &len);
        kdump *k = new_key(d, key, len);
        for (uint32_t j = 0; j < f->n; j++) {
            if (j) assert_true(f->e[j].dot > f->e[j - 1].dot);
            push_l(k, dot_of(c, f->e[j].dot, f->e[j].a, f->e[j].b));
        }
        assert_true(dots_sorted(f->tomb, f->ntomb));
        for (uint32_t j = 0; j < f->ntomb; j++) push_t(k, dot_of(c, f->tomb[j], 0, 0));
        if (!k->nl && !k->nt) free(k->l), free(k->t), d->n--; /* a placeholder: no content */
    }
    dump_sort(d);
}

static bool dd_in(const dd *s, size_t n, dd x) {
    for (size_t i = 0; i < n; i++)
        if (s[i].id == x.id && s[i].ctr == x.ctr) return true;
    return false;
}

static void assert_same(const dump *x, const dump *y) {
    assert_int_equal(x->n, y->n);
    for (size_t i = 0; i < x->n; i++) {
        const kdump *a = &x->k[i], *b = &y->k[i];
        assert_string_equal(a->key, b->key);
        assert_int_equal(a->nl, b->nl);
        assert_int_equal(a->nt, b->nt);
        for (size_t j = 0; j < a->nl; j++) assert_memory_equal(&a->l[j], &b->l[j], sizeof(dd));
        for (size_t j = 0; j < a->nt; j++) assert_memory_equal(&a->t[j], &b->t[j], sizeof(dd));
    }
}

/* The join rule of crdt_internal.h on two delta accumulators without unattributed context. */
static void model_join(const dump *x, const dump *y, dump *out) {
    out->n = 0;
    const dump *side[2] = { x, y };
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < side[s]->n; i++) {
            const char *key = side[s]->k[i].key;
            bool done = false;
            for (size_t j = 0; j < out->n && !done; j++) done = strcmp(out->k[j].key, key) == 0;
            if (done) continue;
            static const kdump none;
            const kdump *a = &none, *b = &none;
            for (size_t j = 0; j < x->n; j++)
                if (strcmp(x->k[j].key, key) == 0) a = &x->k[j];
            for (size_t j = 0; j < y->n; j++)
                if (strcmp(y->k[j].key, key) == 0) b = &y->k[j];
            kdump *k = new_key(out, (const uint8_t *)key, strlen(key));
            for (size_t j = 0; j < a->nl; j++) { /* in both, or unseen by b */
                dd v = a->l[j];
                bool in_b = dd_in(b->l, b->nl, v), seen_b = in_b || dd_in(b->t, b->nt, v);
                if (in_b || !seen_b) push_l(k, v);
            }
            for (size_t j = 0; j < b->nl; j++) {
                dd v = b->l[j];
                if (!dd_in(a->l, a->nl, v) && !dd_in(a->t, a->nt, v)) push_l(k, v);
            }
            const kdump *both[2] = { a, b };
            for (int q = 0; q < 2; q++) {
                for (size_t j = 0; j < both[q]->nl; j++) {
                    dd v = both[q]->l[j];
                    v.a = v.b = 0;
                    if (!dd_in(k->l, k->nl, v) && !dd_in(k->t, k->nt, v)) push_t(k, v);
                }
                for (size_t j = 0; j < both[q]->nt; j++)
                    if (!dd_in(k->l, k->nl, both[q]->t[j]) && !dd_in(k->t, k->nt, both[q]->t[j]))
                        push_t(k, both[q]->t[j]);
            }
            if (!k->nl && !k->nt) free(k->l), free(k->t), out->n--;
        }
    dump_sort(out);
}

/* ---- random histories -------------------------------------------------------------------- */

enum { REPLICAS = 3, OPS = 700 };
static const char *const keys[] = { "hot", "c0", "c1", "c2", "c3" };

typedef struct kind {
    const au_crdt_type *t;
    void (*dump)(const void *, dump *);
} kind;

static au_err bump(au_pncounter *v, au_pncounter *dv, void *arg) {
    return au_pncounter_add(v, dv, *(uint64_t *)arg, 1);
}

/* One operation of replica id on state s, recorded in delta d: mostly the hot key. */
static void op(const kind *k, uint64_t *rng, void *s, void *d, uint64_t id) {
    int x = below(rng, 100);
    const char *key = x < 80 ? "hot" : keys[1 + below(rng, 4)];
    bool rm = (x >= 70 && x < 80) || x >= 95;
    au_err e;
    if (k->t == &au_orset_type)
        e = rm ? au_orset_remove(s, d, key, strlen(key)) : au_orset_add(s, d, id, key, strlen(key));
    else
        e = rm ? au_ormap_remove(s, d, key, strlen(key))
               : au_ormap_pncounter_update((au_ormap_pncounter){ s }, (au_ormap_pncounter){ d },
                                           key, strlen(key), bump, &id);
    assert_int_equal(e, AU_OK);
}

static void *join_of(const kind *k, const void *a, const void *b) {
    void *c;
    assert_int_equal(k->t->copy(a, &c), AU_OK);
    assert_int_equal(k->t->join(c, b), AU_OK);
    return c;
}

static void check_join(const kind *k, const void *a, const void *b) {
    dump da, db, dj, dm;
    k->dump(a, &da), k->dump(b, &db);
    void *j = join_of(k, a, b);
    k->dump(j, &dj);
    model_join(&da, &db, &dm);
    assert_same(&dj, &dm);
    k->t->free(j);
    dump_free(&da), dump_free(&db), dump_free(&dj), dump_free(&dm);
}

static void laws(const kind *k, uint64_t seed) {
    uint64_t rng = seed;
    void *s[REPLICAS], *deltas[OPS];
    uint64_t ids[REPLICAS];
    for (int r = 0; r < REPLICAS; r++) s[r] = k->t->create(k->t, false), ids[r] = rng_next(&rng);
    int nd = 0;
    for (int i = 0; i < OPS; i++) {
        int r = below(&rng, REPLICAS);
        if (below(&rng, 100) < 4) { /* a sync: concurrent dots of the hot key meet */
            int q = below(&rng, REPLICAS);
            if (q != r) assert_int_equal(k->t->join(s[r], s[q]), AU_OK);
            continue;
        }
        void *d = k->t->create(k->t, true);
        op(k, &rng, s[r], d, ids[r]);
        if (k->t->is_bottom(d)) { k->t->free(d); continue; }
        deltas[nd++] = d;
    }
    /* three accumulators of random halves, each delta joined in turn (many join few) */
    void *acc[3];
    for (int a = 0; a < 3; a++) {
        acc[a] = k->t->create(k->t, true);
        for (int i = 0; i < nd; i++)
            if (below(&rng, 2)) assert_int_equal(k->t->join(acc[a], deltas[i]), AU_OK);
    }
    for (int a = 0; a < 3; a++) {
        for (int b = 0; b < 3; b++) check_join(k, acc[a], acc[b]); /* includes a ⊔ a */
        dump x, y;
        void *aa = join_of(k, acc[a], acc[a]);
        k->dump(aa, &x), k->dump(acc[a], &y);
        assert_same(&x, &y); /* idempotent */
        dump_free(&x), dump_free(&y);
        k->t->free(aa);
        void *ab = join_of(k, acc[a], acc[(a + 1) % 3]), *ba = join_of(k, acc[(a + 1) % 3], acc[a]);
        k->dump(ab, &x), k->dump(ba, &y);
        assert_same(&x, &y); /* commutative */
        dump_free(&x), dump_free(&y);
        k->t->free(ab), k->t->free(ba);
    }
    void *ab = join_of(k, acc[0], acc[1]), *bc = join_of(k, acc[1], acc[2]);
    void *l = join_of(k, ab, acc[2]), *r = join_of(k, acc[0], bc);
    dump x, y;
    k->dump(l, &x), k->dump(r, &y);
    assert_same(&x, &y); /* associative */
    dump_free(&x), dump_free(&y);
    /* every delta into a fresh state, in reverse order, equals the states joined */
    void *fresh = k->t->create(k->t, false), *all = k->t->create(k->t, false);
    for (int i = nd - 1; i >= 0; i--) assert_int_equal(k->t->join(fresh, deltas[i]), AU_OK);
    for (int q = 0; q < REPLICAS; q++) assert_int_equal(k->t->join(all, s[q]), AU_OK);
    assert_true(k->t->equal(fresh, all));
    /* and the accumulators joined into it change nothing */
    assert_int_equal(k->t->join(fresh, l), AU_OK);
    assert_true(k->t->equal(fresh, all));
    k->t->free(fresh), k->t->free(all);
    k->t->free(ab), k->t->free(bc), k->t->free(l), k->t->free(r);
    for (int a = 0; a < 3; a++) k->t->free(acc[a]);
    for (int i = 0; i < nd; i++) k->t->free(deltas[i]);
    for (int q = 0; q < REPLICAS; q++) k->t->free(s[q]);
}

static void orset(const void *v, dump *d) { dump_orset(v, d); }
static const kind k_orset = { &au_orset_type, orset };
static const kind k_ormap = { &au_ormap_pncounter_type, dump_ormap };

static void orset_joins_of_hot_element_accumulators_follow_the_join_rule(void **st) {
    (void)st;
    for (uint64_t seed = 1; seed <= 12; seed++) laws(&k_orset, seed);
}

static void ormap_joins_of_hot_key_accumulators_follow_the_join_rule(void **st) {
    (void)st;
    for (uint64_t seed = 1; seed <= 12; seed++) laws(&k_ormap, seed);
}

/* Mutators writing into one accumulator (the actor's own window) equal their deltas joined. */
static void one_accumulator_equals_the_deltas_joined(const kind *k) {
    uint64_t rng = 99, id = 5, id2 = 6;
    void *s = k->t->create(k->t, false), *other = k->t->create(k->t, false);
    for (int i = 0; i < 30; i++) op(k, &rng, other, NULL, id2);
    assert_int_equal(k->t->join(s, other), AU_OK);
    void *before;
    assert_int_equal(k->t->copy(s, &before), AU_OK);
    void *one = k->t->create(k->t, true), *joined = k->t->create(k->t, true);
    for (int i = 0; i < 500; i++) {
        void *d = k->t->create(k->t, true), *s2;
        assert_int_equal(k->t->copy(s, &s2), AU_OK);
        uint64_t r0 = rng;
        op(k, &rng, s, one, id);
        rng = r0;
        op(k, &rng, s2, d, id);
        assert_true(k->t->equal(s, s2));
        assert_int_equal(k->t->join(joined, d), AU_OK);
        k->t->free(d), k->t->free(s2);
    }
    dump x, y;
    k->dump(one, &x), k->dump(joined, &y);
    assert_same(&x, &y);
    const kdump *hot = NULL;
    for (size_t i = 0; i < x.n; i++)
        if (strcmp(x.k[i].key, "hot") == 0) hot = &x.k[i];
    assert_true(hot && hot->nt > 100); /* the hot key's tombs: the in-place path ran */
    dump_free(&x), dump_free(&y);
    assert_int_equal(k->t->join(before, one), AU_OK);
    assert_true(k->t->equal(before, s));
    k->t->free(before), k->t->free(s), k->t->free(other), k->t->free(one), k->t->free(joined);
}

static void mutators_into_one_accumulator_equal_their_deltas_joined(void **st) {
    (void)st;
    one_accumulator_equals_the_deltas_joined(&k_orset);
    one_accumulator_equals_the_deltas_joined(&k_ormap);
}

/* n adds of one element by one replica, each delta joined into the group: one live dot and
 * n - 1 tombs; the encoding holds 3 bytes per tomb at counters below 2^14 (the delta grows
 * with the updates: superseded dots stay listed, see orset.c). */
static void a_group_of_many_updates_of_one_element_stays_within_its_bound(void **st) {
    (void)st;
    enum { N = 8000 };
    const au_crdt_type *t = &au_orset_type;
    au_orset *s = t->create(t, false), *g = t->create(t, true);
    for (int i = 0; i < N; i++) {
        au_orset *d = t->create(t, true);
        assert_int_equal(au_orset_add(s, d, 7, "element", 7), AU_OK);
        assert_int_equal(t->join(g, d), AU_OK);
        t->free(d);
    }
    dump x;
    dump_orset(g, &x);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.k[0].nl, 1);
    assert_int_equal(x.k[0].nt, N - 1);
    dump_free(&x);
    au_buf b = { 0 };
    assert_int_equal(au_orset_type.encode(g, &b), AU_OK);
    fprintf(stderr, "  %d updates of one element: a group of %zu bytes\n", N, b.len);
    assert_true(b.len <= 3 * (size_t)N + 64);
    au_buf_free(&b);
    t->free(s), t->free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(orset_joins_of_hot_element_accumulators_follow_the_join_rule),
        cmocka_unit_test(ormap_joins_of_hot_key_accumulators_follow_the_join_rule),
        cmocka_unit_test(mutators_into_one_accumulator_equal_their_deltas_joined),
        cmocka_unit_test(a_group_of_many_updates_of_one_element_stays_within_its_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
