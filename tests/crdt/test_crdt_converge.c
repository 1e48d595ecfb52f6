/* test_crdt_converge.c — model-free convergence of every causal type, nested maps included.
 *
 * crdt_harness.h checks each flat type and the one-level maps against a reference model. This
 * test has no model, so it reaches what the models do not: maps of maps (of sets, counters,
 * registers), maps of GCounters and of flags, and 3 to 5 replicas. Each seeded case applies random
 * operations to the replicas and delivers the deltas they made in random order, with duplicates,
 * drops, re-encodings, redundancy removal (delta_minus) with forwarding of what was new, groups
 * joined into an accumulator, full states, and a replica that departs for good and is pruned
 * while its stale deltas are still in flight. Checked:
 *   - after a final exchange of full states every live replica is equal (equal(), digest, and the
 *     value read through the typed reads, rendered canonically);
 *   - states that equal() calls equal read the same (equal() is not too coarse);
 *   - join is commutative, associative and idempotent on the replicas' states before that;
 *   - delta_minus(d, s) keeps s ⊔ d, for every delivered delta;
 *   - a fresh replica that joins every delta made (shuffled, with repeats) reads as the join of
 *     every state;
 *   - mutated encodings of states and deltas decode or fail cleanly, and what decodes can be
 *     read, joined, reduced and encoded again (see hostile() for what is not asserted). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include <aurum/crdt.h>

static AU_CRDT_ORMAP_TYPE(map_map_orset, "test.mmorset.1", &au_ormap_orset_type);
static AU_CRDT_ORMAP_TYPE(map_map_pn, "test.mmpn.1", &au_ormap_pncounter_type);
static AU_CRDT_ORMAP_TYPE(map_map_mvreg, "test.mmmvreg.1", &au_ormap_mvreg_type);
static AU_CRDT_ORMAP_TYPE(map_map_map_orset, "test.mmmorset.1", &map_map_orset);

/* ---- random numbers ------------------------------------------------------------------------ */

static uint64_t rnd(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static int below(uint64_t *s, int n) { return (int)(rnd(s) % (uint64_t)n); }

/* ---- a canonical rendering of a value, through the typed reads ----------------------------- */

typedef struct sb {
    char *p;
    size_t len, cap;
} sb;

static void sb_add(sb *b, const void *data, size_t len) {
    if (b->len + len + 1 > b->cap) {
        b->cap = (b->len + len + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (len) memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = 0;
}
static void sb_str(sb *b, const char *s) { sb_add(b, s, strlen(s)); }

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the strings sorted, comma-separated, in brackets, and frees them. */
static void sb_sorted(sb *b, char **items, size_t n) {
    qsort(items, n, sizeof *items, cmp_str);
    sb_str(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) sb_str(b, ",");
        sb_str(b, items[i]);
        free(items[i]);
    }
    sb_str(b, "]");
    free(items);
}

static char *dup_bytes(au_crdt_bytes x) {
    char *s = malloc(x.len + 1);
    assert_non_null(s);
    if (x.len) memcpy(s, x.ptr, x.len);
    s[x.len] = 0;
    return s;
}

static void render(const au_crdt_type *t, const void *s, sb *b);

static char *render_str(const au_crdt_type *t, const void *s) {
    sb b = { 0 };
    render(t, s, &b);
    if (!b.p) sb_str(&b, "");
    return b.p;
}

static void render(const au_crdt_type *t, const void *s, sb *b) {
    char tmp[64];
    if (t->param) {
        size_t n = au_ormap_size(s), i = 0;
        char **items = calloc(n + 1, sizeof *items);
        au_crdt_iter it = AU_CRDT_ITER_INIT;
        au_crdt_bytes k;
        const void *v;
        while (au_ormap_next(s, &it, &k, &v)) {
            assert_true(i < n);
            assert_non_null(v);
            sb e = { 0 };
            sb_add(&e, k.ptr, k.len);
            sb_str(&e, ":");
            render(t->param, v, &e);
            items[i++] = e.p;
        }
        assert_int_equal(i, n);
        sb_sorted(b, items, n);
    } else if (t == &au_orset_type) {
        size_t n = au_orset_size(s), i = 0;
        char **items = calloc(n + 1, sizeof *items);
        au_crdt_iter it = AU_CRDT_ITER_INIT;
        au_crdt_bytes e;
        while (au_orset_next(s, &it, &e)) {
            assert_true(i < n);
            items[i++] = dup_bytes(e);
        }
        assert_int_equal(i, n);
        sb_sorted(b, items, n);
    } else if (t == &au_mvreg_type) {
        size_t n = au_mvreg_count(s), i = 0;
        char **items = calloc(n + 1, sizeof *items);
        au_crdt_iter it = AU_CRDT_ITER_INIT;
        au_crdt_bytes e;
        while (au_mvreg_next(s, &it, &e)) {
            assert_true(i < n);
            items[i++] = dup_bytes(e);
        }
        assert_int_equal(i, n);
        sb_sorted(b, items, n);
    } else if (t == &au_pncounter_type) {
        snprintf(tmp, sizeof tmp, "%lld", (long long)au_pncounter_value(s));
        sb_str(b, tmp);
    } else if (t == &au_gcounter_type) {
        snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)au_gcounter_value(s));
        sb_str(b, tmp);
    } else if (t == &au_ewflag_type) {
        sb_str(b, au_ewflag_value(s) ? "on" : "off");
    } else if (t == &au_dwflag_type) {
        sb_str(b, au_dwflag_value(s) ? "on" : "off");
    } else {
        fail_msg("no renderer for %s", t->name);
    }
}

/* ---- random operations, recursively through maps ------------------------------------------- */

typedef struct opctx {
    const au_crdt_type *t;
    uint64_t *rng;
    uint64_t replica;
    int serial;
} opctx;

static au_err random_op(void *s, void *d, void *arg);

static au_err random_op(void *s, void *d, void *arg) {
    opctx *c = arg;
    const au_crdt_type *t = c->t;
    char elem[16];
    int e = below(c->rng, 4);
    snprintf(elem, sizeof elem, "%c", 'a' + e);
    if (t->param) {
        if (below(c->rng, 4) == 0) return au_ormap_remove(s, d, elem, 1);
        opctx inner = { t->param, c->rng, c->replica, c->serial };
        return au_ormap_update(s, d, elem, 1, random_op, &inner);
    }
    int r = below(c->rng, 8);
    if (t == &au_orset_type) {
        if (r < 4) return au_orset_add(s, d, c->replica, elem, 1);
        if (r < 7) return au_orset_remove(s, d, elem, 1);
        return au_orset_clear(s, d);
    }
    if (t == &au_mvreg_type) {
        if (r < 7) {
            snprintf(elem, sizeof elem, "v%d", c->serial);
            return au_mvreg_set(s, d, c->replica, elem, strlen(elem));
        }
        return au_mvreg_clear(s, d);
    }
    if (t == &au_pncounter_type) return au_pncounter_add(s, d, c->replica, r - 3);
    if (t == &au_gcounter_type) return au_gcounter_inc(s, d, c->replica, (uint64_t)r + 1);
    if (t == &au_ewflag_type)
        return r < 4 ? au_ewflag_enable(s, d, c->replica) : au_ewflag_disable(s, d, c->replica);
    if (t == &au_dwflag_type)
        return r < 4 ? au_dwflag_enable(s, d, c->replica) : au_dwflag_disable(s, d, c->replica);
    fail_msg("no operations for %s", t->name);
    return AU_EINVAL;
}

/* ---- the simulation ------------------------------------------------------------------------ */

#define MAX_R 5
#define MAX_LOG 512
#define STEPS 80

typedef struct world {
    const au_crdt_type *t;
    uint64_t rng;
    int n;
    uint64_t ids[MAX_R];
    void *s[MAX_R];
    bool departed[MAX_R];
    bool pruned; /* some replica was pruned: states carry retirements deltas do not */
    void *log[MAX_LOG]; /* every delta made or forwarded (mutations first-class: made[]) */
    bool made[MAX_LOG];
    int nlog;
    int serial;
} world;

static void *copy_of(const world *w, const void *s) {
    void *c = NULL;
    assert_int_equal(w->t->copy(s, &c), AU_OK);
    return c;
}

static void *roundtrip(const world *w, const void *s) {
    au_buf b = { 0 };
    assert_int_equal(w->t->encode(s, &b), AU_OK);
    void *back = NULL;
    assert_int_equal(w->t->decode(w->t, b.data, b.len, &back), AU_OK);
    assert_true(w->t->equal(back, s));
    assert_int_equal(w->t->digest(back), w->t->digest(s));
    au_buf_free(&b);
    return back;
}

/* Asserts a == b, and that they read the same and hash the same. */
static void same(const world *w, const void *a, const void *b, const char *what) {
    char *ra = render_str(w->t, a), *rb = render_str(w->t, b);
    if (!w->t->equal(a, b) || strcmp(ra, rb) != 0)
        fail_msg("%s: %s: not equal: %s vs %s (equal() says %d)", w->t->name, what, ra, rb,
                 (int)w->t->equal(a, b));
    assert_int_equal(w->t->digest(a), w->t->digest(b));
    free(ra), free(rb);
}

/* Whenever equal() holds, the reads agree. */
static void consistent(const world *w, const void *a, const void *b) {
    if (!w->t->equal(a, b)) return;
    char *ra = render_str(w->t, a), *rb = render_str(w->t, b);
    if (strcmp(ra, rb) != 0) fail_msg("%s: equal() but %s vs %s", w->t->name, ra, rb);
    free(ra), free(rb);
}

static void log_add(world *w, void *d, bool made) {
    if (w->nlog == MAX_LOG || w->t->is_bottom(d)) {
        w->t->free(d);
        return;
    }
    w->made[w->nlog] = made;
    w->log[w->nlog++] = d;
}

static int live_replica(world *w) {
    for (;;) {
        int r = below(&w->rng, w->n);
        if (!w->departed[r]) return r;
    }
}

static void step_mutate(world *w) {
    int r = live_replica(w);
    void *d = w->t->create(w->t, true);
    void *before = copy_of(w, w->s[r]);
    opctx c = { w->t, &w->rng, w->ids[r], w->serial++ };
    au_err err = random_op(w->s[r], d, &c);
    assert_int_equal(err, AU_OK);
    /* state_before ⊔ delta == state_after */
    assert_int_equal(w->t->join(before, d), AU_OK);
    same(w, before, w->s[r], "before ⊔ delta");
    w->t->free(before);
    log_add(w, d, true);
}

/* Delivers delta d (not consumed) to replica r, the way a dispersal actor does: what is new is
 * joined and forwarded. */
static void deliver(world *w, int r, const void *d) {
    void *x = below(&w->rng, 2) ? roundtrip(w, d) : copy_of(w, d);
    void *expect = copy_of(w, w->s[r]);
    assert_int_equal(w->t->join(expect, x), AU_OK);
    if (below(&w->rng, 2)) {
        assert_int_equal(w->t->delta_minus(x, w->s[r]), AU_OK);
        void *check = copy_of(w, w->s[r]);
        assert_int_equal(w->t->join(check, x), AU_OK);
        same(w, check, expect, "s ⊔ (d ∖ s) == s ⊔ d");
        w->t->free(check);
    }
    assert_int_equal(w->t->join(w->s[r], x), AU_OK);
    same(w, w->s[r], expect, "join of a delivered delta");
    w->t->free(expect);
    log_add(w, x, false);
}

static void step_deltas(world *w) {
    int r = live_replica(w);
    if (!w->nlog) return;
    int k = 1 + below(&w->rng, 6);
    if (below(&w->rng, 3) == 0) { /* a group joined into one accumulator first */
        void *g = w->t->create(w->t, true);
        for (int i = 0; i < k; i++) assert_int_equal(w->t->join(g, w->log[below(&w->rng, w->nlog)]), AU_OK);
        deliver(w, r, g);
        w->t->free(g);
    } else {
        for (int i = 0; i < k; i++) deliver(w, r, w->log[below(&w->rng, w->nlog)]);
    }
}

static void step_state(world *w) {
    int a = below(&w->rng, w->n), b = live_replica(w);
    if (a == b) return;
    void *x = below(&w->rng, 2) ? roundtrip(w, w->s[a]) : copy_of(w, w->s[a]);
    if (below(&w->rng, 3) == 0) assert_int_equal(w->t->delta_minus(x, w->s[b]), AU_OK);
    assert_int_equal(w->t->join(w->s[b], x), AU_OK);
    w->t->free(x);
}

/* A replica departs for good: every other live replica first gets its state (P2), then prunes
 * it. Its deltas stay in the log and may still be delivered, stale. */
static void step_depart(world *w) {
    int live = 0;
    for (int i = 0; i < w->n; i++) live += !w->departed[i];
    if (live <= 2) return;
    int r = live_replica(w);
    w->departed[r] = true;
    for (int i = 0; i < w->n; i++) {
        if (w->departed[i]) continue;
        assert_int_equal(w->t->join(w->s[i], w->s[r]), AU_OK);
        void *before = copy_of(w, w->s[i]);
        assert_int_equal(w->t->prune(w->s[i], NULL, w->ids[r], w->ids[i]), AU_OK);
        /* pruning changes no read */
        char *rb = render_str(w->t, before), *ra = render_str(w->t, w->s[i]);
        assert_string_equal(rb, ra);
        free(rb), free(ra);
        w->t->free(before);
    }
    w->pruned = true;
}

static void laws(world *w) {
    for (int a = 0; a < w->n; a++)
        for (int b = 0; b < w->n; b++) {
            consistent(w, w->s[a], w->s[b]);
            void *ab = copy_of(w, w->s[a]), *ba = copy_of(w, w->s[b]);
            assert_int_equal(w->t->join(ab, w->s[b]), AU_OK);
            assert_int_equal(w->t->join(ba, w->s[a]), AU_OK);
            same(w, ab, ba, "a ⊔ b == b ⊔ a");
            void *abb = copy_of(w, ab);
            assert_int_equal(w->t->join(abb, w->s[b]), AU_OK);
            same(w, abb, ab, "(a ⊔ b) ⊔ b == a ⊔ b");
            for (int c = 0; c < w->n; c++) {
                void *l = copy_of(w, ab), *bc = copy_of(w, w->s[b]), *r = copy_of(w, w->s[a]);
                assert_int_equal(w->t->join(l, w->s[c]), AU_OK);
                assert_int_equal(w->t->join(bc, w->s[c]), AU_OK);
                assert_int_equal(w->t->join(r, bc), AU_OK);
                same(w, l, r, "(a ⊔ b) ⊔ c == a ⊔ (b ⊔ c)");
                w->t->free(l), w->t->free(bc), w->t->free(r);
            }
            w->t->free(ab), w->t->free(ba), w->t->free(abb);
        }
}


/* Mutated encodings of the replicas' states and of deltas: each decodes or fails cleanly
 * (AU_EDECODE, *out NULL), and what decodes reads, joins idempotently, keeps s ⊔ (x ∖ s) ==
 * s ⊔ x, and re-encodes to an equal object. A mutation can give one dot another payload than
 * the dot has in s (another value, another count: each object is well-formed alone, but "a dot
 * names one change" holds only across replicas, which no decoder can check); for a decoded state
 * s ⊔ x == x ⊔ s still holds (joins keep the greater payload). Not for a decoded delta: it can
 * also carry a tomb under another element or key than the one the dot is live under in s, and a
 * delta's removals act on their own element only. Datagrams are checksummed or sealed
 * (docs/wire-format.md), so only a faulty peer sends such a thing. */
static void hostile(world *w) {
    const au_crdt_type *t = w->t;
    for (int k = 0; k < 24; k++) {
        bool from_delta = k % 2 && w->nlog;
        const void *src = from_delta ? w->log[below(&w->rng, w->nlog)] : w->s[below(&w->rng, w->n)];
        au_buf b = { 0 };
        assert_int_equal(t->encode(src, &b), AU_OK);
        if (!b.len) { au_buf_free(&b); continue; }
        uint8_t *m = malloc(b.len + 8);
        assert_non_null(m);
        memcpy(m, b.data, b.len);
        size_t len = b.len;
        for (int edits = 1 + below(&w->rng, 3); edits > 0; edits--) {
            size_t at = (size_t)below(&w->rng, (int)len);
            switch (below(&w->rng, 4)) {
            case 0: m[at] ^= (uint8_t)(1u << below(&w->rng, 8)); break;
            case 1: m[at] = (uint8_t)rnd(&w->rng); break;
            case 2: if (len > 1) memmove(m + at, m + at + 1, len - at - 1), len--; break;
            default:
                if (len < b.len + 8) memmove(m + at + 1, m + at, len - at), m[at] = (uint8_t)rnd(&w->rng), len++;
                break;
            }
        }
        void *x = (void *)1;
        au_err err = t->decode(t, m, len, &x);
        free(m);
        au_buf_free(&b);
        if (err) {
            assert_int_equal(err, AU_EDECODE);
            assert_null(x);
            continue;
        }
        free(render_str(t, x));
        void *s = w->s[below(&w->rng, w->n)];
        void *sx = copy_of(w, s), *xs = t->create(t, false), *xs2;
        assert_int_equal(t->join(sx, x), AU_OK);
        assert_int_equal(t->join(xs, x), AU_OK);
        assert_int_equal(t->join(xs, s), AU_OK);
        xs2 = copy_of(w, sx);
        assert_int_equal(t->join(xs2, x), AU_OK);
        same(w, xs2, sx, "(s ⊔ hostile) ⊔ hostile == s ⊔ hostile");
        if (!from_delta) same(w, sx, xs, "s ⊔ hostile == hostile ⊔ s");
        void *dm = copy_of(w, x), *chk = copy_of(w, s);
        assert_int_equal(t->delta_minus(dm, s), AU_OK);
        assert_int_equal(t->join(chk, dm), AU_OK);
        same(w, chk, sx, "s ⊔ (hostile ∖ s) == s ⊔ hostile");
        void *again = roundtrip(w, x);
        t->free(again), t->free(dm), t->free(chk);
        t->free(sx), t->free(xs), t->free(xs2), t->free(x);
    }
}

static void run_case(const au_crdt_type *t, uint64_t seed) {
    world w = { .t = t, .rng = seed };
    w.n = 3 + below(&w.rng, MAX_R - 2);
    for (int i = 0; i < w.n; i++) {
        w.ids[i] = rnd(&w.rng) | 1;
        w.s[i] = t->create(t, false);
        assert_non_null(w.s[i]);
    }
    for (int step = 0; step < STEPS; step++) {
        int k = below(&w.rng, 20);
        if (k < 9) step_mutate(&w);
        else if (k < 15) step_deltas(&w);
        else if (k < 19) step_state(&w);
        else step_depart(&w);
    }
    laws(&w);
    hostile(&w);
    /* Everything made, joined into a fresh replica in random order with repeats... */
    void *all = t->create(t, false), *states = t->create(t, false);
    for (int i = 0; i < 2 * w.nlog; i++) assert_int_equal(t->join(all, w.log[below(&w.rng, w.nlog)]), AU_OK);
    for (int i = 0; i < w.nlog; i++) assert_int_equal(t->join(all, w.log[i]), AU_OK);
    for (int i = 0; i < w.n; i++) assert_int_equal(t->join(states, w.s[i]), AU_OK);
    if (!w.pruned) same(&w, all, states, "every delta == every state");
    else {
        char *ra = render_str(t, all), *rs = render_str(t, states);
        if (strcmp(ra, rs) != 0) fail_msg("%s: every delta %s vs every state %s", t->name, ra, rs);
        free(ra), free(rs);
    }
    /* ... and a final exchange of full states among the live replicas. */
    for (int round = 0; round < 2; round++)
        for (int a = 0; a < w.n; a++)
            for (int b = 0; b < w.n; b++)
                if (a != b && !w.departed[b]) assert_int_equal(t->join(w.s[b], w.s[a]), AU_OK);
    int first = -1;
    for (int i = 0; i < w.n; i++) {
        if (w.departed[i]) continue;
        if (first < 0) first = i;
        else same(&w, w.s[first], w.s[i], "converged replicas");
    }
    char *rf = render_str(t, w.s[first]), *rs = render_str(t, states);
    assert_string_equal(rf, rs);
    free(rf), free(rs);
    t->free(all), t->free(states);
    for (int i = 0; i < w.nlog; i++) t->free(w.log[i]);
    for (int i = 0; i < w.n; i++) t->free(w.s[i]);
}

#define CASES 60
#define CASES_VALGRIND 12 /* the same first cases; all of them take minutes under valgrind */

/* True when running under valgrind (its preload library is mapped). */
static bool under_valgrind(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    bool v = false;
    while (f && fgets(line, sizeof line, f)) v |= strstr(line, "vgpreload") != NULL;
    if (f) fclose(f);
    return v;
}

static void run_type(const au_crdt_type *t, uint64_t seed) {
    uint64_t cases = under_valgrind() ? CASES_VALGRIND : CASES;
    for (uint64_t c = 0; c < cases; c++) run_case(t, seed * 1000003u + c);
}

static void orset_converges(void **state) { (void)state; run_type(&au_orset_type, 1); }
static void mvreg_converges(void **state) { (void)state; run_type(&au_mvreg_type, 2); }
static void ormap_of_gcounters_converges(void **state) { (void)state; run_type(&au_ormap_gcounter_type, 3); }
static void ormap_of_ewflags_converges(void **state) { (void)state; run_type(&au_ormap_ewflag_type, 4); }
static void ormap_of_dwflags_converges(void **state) { (void)state; run_type(&au_ormap_dwflag_type, 5); }
static void ormap_of_orsets_converges(void **state) { (void)state; run_type(&au_ormap_orset_type, 6); }
static void ormap_of_ormaps_of_orsets_converges(void **state) { (void)state; run_type(&map_map_orset, 7); }
static void ormap_of_ormaps_of_pncounters_converges(void **state) { (void)state; run_type(&map_map_pn, 8); }
static void ormap_of_ormaps_of_mvregs_converges(void **state) { (void)state; run_type(&map_map_mvreg, 9); }
static void three_level_ormap_converges(void **state) { (void)state; run_type(&map_map_map_orset, 10); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(orset_converges),
        cmocka_unit_test(mvreg_converges),
        cmocka_unit_test(ormap_of_gcounters_converges),
        cmocka_unit_test(ormap_of_ewflags_converges),
        cmocka_unit_test(ormap_of_dwflags_converges),
        cmocka_unit_test(ormap_of_orsets_converges),
        cmocka_unit_test(ormap_of_ormaps_of_orsets_converges),
        cmocka_unit_test(ormap_of_ormaps_of_pncounters_converges),
        cmocka_unit_test(ormap_of_ormaps_of_mvregs_converges),
        cmocka_unit_test(three_level_ormap_converges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
