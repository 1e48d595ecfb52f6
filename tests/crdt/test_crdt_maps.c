/* Properties of ORMap (of PNCounters, of ORSets, of MVRegisters) and LWWMap (crdt_harness.h)
 * against event models over four keys, plus hand-picked cases. In an ORMap an update of a key
 * observes the live events it overwrites inside the value; a removal of the key observes every
 * live event of it, so an update concurrent with the removal survives it (add-wins). */
#include "crdt_harness.h"

enum { K_UPDATE = 1, K_REMOVE_ELEM, K_REMOVE, K_SET };
#define NKEY 4
#define NELEM 4

static size_t key_bytes(int k, char buf[8]) { return (size_t)snprintf(buf, 8, "k%d", k); }

/* Which key (0..NKEY-1) an iterated key is. */
static int key_of(au_crdt_bytes b) {
    const char *p = b.ptr;
    assert_true(b.len == 2 && p[0] == 'k' && p[1] >= '0' && p[1] < '0' + NKEY);
    return p[1] - '0';
}

static bool record_map(harness *h, int r, hev *e, int index) {
    (void)index;
    if (e->kind == EV_PRUNE) return h_record_prune(h, r, e, false);
    uint64_t live = h_live_at(h, h->seen[r], e->key, -1);
    e->live = e->kind == K_UPDATE || e->kind == K_SET;
    for (int i = 0; i < h->nev; i++) {
        if (!(live >> i & 1)) continue;
        const hev *o = &h->ev[i];
        bool observed = e->kind == K_REMOVE || (e->kind == K_UPDATE && o->replica == r) ||
                        e->kind == K_SET || (e->kind == K_REMOVE_ELEM && o->elem == e->elem);
        if (e->kind == K_UPDATE && h->t == &au_ormap_orset_type) observed = o->elem == e->elem;
        if (!observed) continue;
        e->obs |= 1ull << i;
        e->cum_p = o->cum_p, e->cum_n = o->cum_n;
    }
    if (e->amount > 0) e->cum_p += e->amount;
    else e->cum_n -= e->amount;
    return true;
}

/* ---- ORMap of PNCounters ------------------------------------------------------------------- */

static void counters_pick(harness *h, int r, hev *e) {
    (void)r;
    e->key = h_below(&h->rng, NKEY);
    e->kind = h_below(&h->rng, 4) ? K_UPDATE : K_REMOVE;
    e->amount = 1 + h_below(&h->rng, 5);
    if (h_below(&h->rng, 2)) e->amount = -e->amount;
    if (e->kind == K_REMOVE) e->amount = 0;
}

struct add_arg {
    uint64_t replica;
    int64_t n;
};

static au_err add_to_counter(au_pncounter *v, au_pncounter *dv, void *arg) {
    const struct add_arg *a = arg;
    return au_pncounter_add(v, dv, a->replica, a->n);
}

static au_err counters_apply(harness *h, void *s, void *d, const hev *e, int index) {
    (void)index;
    if (e->kind == EV_PRUNE) return h_apply_prune(h, s, d, e);
    au_ormap_pncounter m = { s }, dm = { d };
    char k[8];
    size_t n = key_bytes(e->key, k);
    struct add_arg a = { h->ids[e->replica], e->amount };
    return e->kind == K_UPDATE ? au_ormap_pncounter_update(m, dm, k, n, add_to_counter, &a)
                               : au_ormap_pncounter_remove(m, dm, k, n);
}

static void counters_check(harness *h, const void *s, uint64_t mask) {
    au_ormap_pncounter m = { (au_ormap *)s };
    int64_t want[NKEY] = { 0 };
    unsigned present = 0, seen = 0;
    uint64_t live = h_live(h, mask);
    for (int i = 0; i < h->nev; i++)
        if (live >> i & 1) {
            want[h->ev[i].key] += h->ev[i].cum_p - h->ev[i].cum_n;
            present |= 1u << h->ev[i].key;
        }
    for (int k = 0; k < NKEY; k++) {
        char kb[8];
        size_t n = key_bytes(k, kb);
        assert_int_equal(au_ormap_pncounter_contains(m, kb, n), present >> k & 1);
        assert_int_equal(au_pncounter_value(au_ormap_pncounter_get(m, kb, n)), want[k]);
    }
    au_crdt_iter it = AU_CRDT_ITER_INIT;
    au_crdt_bytes key;
    const au_pncounter *v;
    while (au_ormap_pncounter_next(m, &it, &key, &v)) {
        int k = key_of(key);
        seen |= 1u << k;
        assert_int_equal(au_pncounter_value(v), want[k]);
    }
    assert_int_equal(seen, present);
    assert_int_equal(au_ormap_pncounter_size(m), (size_t)__builtin_popcount(present));
}

static const model counters_model = { &au_ormap_pncounter_type, counters_pick, record_map, counters_apply, counters_check, false, true };

/* ---- ORMap of ORSets ----------------------------------------------------------------------- */

static void sets_pick(harness *h, int r, hev *e) {
    (void)r;
    e->key = h_below(&h->rng, NKEY);
    e->elem = h_below(&h->rng, NELEM);
    int k = h_below(&h->rng, 10);
    e->kind = k < 6 ? K_UPDATE : k < 8 ? K_REMOVE_ELEM : K_REMOVE;
}

struct set_arg {
    uint64_t replica;
    char e[8];
    size_t n;
    bool add;
};

static au_err change_set(au_orset *v, au_orset *dv, void *arg) {
    const struct set_arg *a = arg;
    return a->add ? au_orset_add(v, dv, a->replica, a->e, a->n) : au_orset_remove(v, dv, a->e, a->n);
}

static au_err sets_apply(harness *h, void *s, void *d, const hev *e, int index) {
    (void)index;
    if (e->kind == EV_PRUNE) return h_apply_prune(h, s, d, e);
    au_ormap_orset m = { s }, dm = { d };
    char k[8];
    size_t n = key_bytes(e->key, k);
    struct set_arg a = { .replica = h->ids[e->replica], .add = e->kind == K_UPDATE };
    a.n = (size_t)snprintf(a.e, sizeof a.e, "e%d", e->elem);
    return e->kind == K_REMOVE ? au_ormap_orset_remove(m, dm, k, n)
                               : au_ormap_orset_update(m, dm, k, n, change_set, &a);
}

static void sets_check(harness *h, const void *s, uint64_t mask) {
    au_ormap_orset m = { (au_ormap *)s };
    unsigned want[NKEY] = { 0 }, present = 0;
    uint64_t live = h_live(h, mask);
    for (int i = 0; i < h->nev; i++)
        if (live >> i & 1) want[h->ev[i].key] |= 1u << h->ev[i].elem, present |= 1u << h->ev[i].key;
    for (int k = 0; k < NKEY; k++) {
        char kb[8];
        size_t n = key_bytes(k, kb);
        const au_orset *v = au_ormap_orset_get(m, kb, n);
        assert_int_equal(v != NULL, present >> k & 1);
        assert_int_equal(au_orset_size(v), (size_t)__builtin_popcount(want[k]));
        for (int x = 0; x < NELEM; x++) {
            char eb[8];
            int en = snprintf(eb, sizeof eb, "e%d", x);
            assert_int_equal(au_orset_contains(v, eb, (size_t)en), want[k] >> x & 1);
        }
    }
    assert_int_equal(au_ormap_orset_size(m), (size_t)__builtin_popcount(present));
}

static const model sets_model = { &au_ormap_orset_type, sets_pick, record_map, sets_apply, sets_check, false, true };

/* ---- ORMap of MVRegisters ------------------------------------------------------------------ */

static void regs_pick(harness *h, int r, hev *e) {
    (void)r;
    e->key = h_below(&h->rng, NKEY);
    e->kind = h_below(&h->rng, 4) ? K_SET : K_REMOVE;
}

struct reg_arg {
    uint64_t replica;
    char v[16];
    size_t n;
};

static au_err write_reg(au_mvreg *v, au_mvreg *dv, void *arg) {
    const struct reg_arg *a = arg;
    return au_mvreg_set(v, dv, a->replica, a->v, a->n);
}

static au_err regs_apply(harness *h, void *s, void *d, const hev *e, int index) {
    if (e->kind == EV_PRUNE) return h_apply_prune(h, s, d, e);
    au_ormap_mvreg m = { s }, dm = { d };
    char k[8];
    size_t n = key_bytes(e->key, k);
    struct reg_arg a = { .replica = h->ids[e->replica] };
    a.n = h_value(index, a.v);
    return e->kind == K_REMOVE ? au_ormap_mvreg_remove(m, dm, k, n)
                               : au_ormap_mvreg_update(m, dm, k, n, write_reg, &a);
}

static void regs_check(harness *h, const void *s, uint64_t mask) {
    au_ormap_mvreg m = { (au_ormap *)s };
    for (int k = 0; k < NKEY; k++) {
        uint64_t want = h_live_at(h, mask, k, -1), got = 0;
        char kb[8];
        size_t n = key_bytes(k, kb);
        const au_mvreg *v = au_ormap_mvreg_get(m, kb, n);
        assert_int_equal(au_ormap_mvreg_contains(m, kb, n), want != 0);
        au_crdt_iter it = AU_CRDT_ITER_INIT;
        au_crdt_bytes b;
        while (au_mvreg_next(v, &it, &b)) {
            char buf[16];
            int i;
            assert_true(b.len < sizeof buf);
            memcpy(buf, b.ptr, b.len), buf[b.len] = 0;
            assert_true(sscanf(buf, "v%d", &i) == 1 && i >= 0 && i < h->nev);
            got |= 1ull << i;
        }
        assert_int_equal(got, want);
    }
}

static const model regs_model = { &au_ormap_mvreg_type, regs_pick, record_map, regs_apply, regs_check, false, true };

/* ---- LWWMap -------------------------------------------------------------------------------- */

static void lww_pick(harness *h, int r, hev *e) {
    (void)r;
    e->key = h_below(&h->rng, NKEY);
    e->kind = h_below(&h->rng, 4) ? K_SET : K_REMOVE;
    e->amount = h_below(&h->rng, 6);
}

static int lww_order(const harness *h, int i, int j) {
    const hev *a = &h->ev[i], *b = &h->ev[j];
    char va[16] = "", vb[16] = "";
    size_t na = a->kind == K_SET ? h_value(i, va) : 0, nb = b->kind == K_SET ? h_value(j, vb) : 0;
    if (a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
    if (h->ids[a->replica] != h->ids[b->replica]) return h->ids[a->replica] < h->ids[b->replica] ? -1 : 1;
    if ((a->kind == K_SET) != (b->kind == K_SET)) return a->kind == K_SET ? 1 : -1;
    if (na != nb) return na < nb ? -1 : 1;
    return memcmp(va, vb, na);
}

static int lww_winner(const harness *h, uint64_t mask, int key) {
    int best = -1;
    for (int i = 0; i < h->nev; i++)
        if ((mask >> i & 1) && h->ev[i].key == key && (best < 0 || lww_order(h, i, best) > 0)) best = i;
    return best;
}

static bool lww_record(harness *h, int r, hev *e, int index) {
    (void)index;
    int w = lww_winner(h, h->seen[r], e->key);
    e->ts = (uint64_t)e->amount;
    if (w >= 0 && e->ts <= h->ev[w].ts) e->ts = h->ev[w].ts + 1;
    return true;
}

static au_err lww_apply(harness *h, void *s, void *d, const hev *e, int index) {
    char k[8], v[16];
    size_t kn = key_bytes(e->key, k), vn = h_value(index, v);
    uint64_t id = h->ids[e->replica], ts = (uint64_t)e->amount;
    return e->kind == K_SET ? au_lwwmap_set(s, d, id, ts, k, kn, v, vn) : au_lwwmap_remove(s, d, id, ts, k, kn);
}

static void lww_check(harness *h, const void *s, uint64_t mask) {
    size_t present = 0;
    for (int k = 0; k < NKEY; k++) {
        int w = lww_winner(h, mask, k);
        char kb[8], v[16];
        size_t kn = key_bytes(k, kb);
        au_crdt_bytes b;
        bool has = w >= 0 && h->ev[w].kind == K_SET;
        assert_int_equal(au_lwwmap_get(s, kb, kn, &b), has);
        present += has;
        if (has) {
            size_t vn = h_value(w, v);
            assert_true(b.len == vn && memcmp(b.ptr, v, vn) == 0);
        }
    }
    assert_int_equal(au_lwwmap_size(s), present);
    au_crdt_iter it = AU_CRDT_ITER_INIT;
    au_crdt_bytes key, val;
    size_t n = 0;
    while (au_lwwmap_next(s, &it, &key, &val)) n++, (void)key_of(key);
    assert_int_equal(n, present);
}

static const model lww_model = { &au_lwwmap_type, lww_pick, lww_record, lww_apply, lww_check, false, false };

static void ormap_of_pncounters_properties_hold_on_random_histories(void **state) {
    (void)state;
    h_run(&counters_model, 41);
}

static void ormap_of_orsets_properties_hold_on_random_histories(void **state) {
    (void)state;
    h_run(&sets_model, 42);
}

static void ormap_of_mvregs_properties_hold_on_random_histories(void **state) {
    (void)state;
    h_run(&regs_model, 43);
}

static void lwwmap_properties_hold_on_random_histories(void **state) {
    (void)state;
    h_run(&lww_model, 44);
}

/* ---- hand-picked cases --------------------------------------------------------------------- */

static void ormap_update_concurrent_with_removal_keeps_the_key(void **state) {
    (void)state;
    au_ormap_pncounter a = au_ormap_pncounter_new(), b = au_ormap_pncounter_new();
    au_ormap_pncounter da = au_ormap_pncounter_new_delta(), db = au_ormap_pncounter_new_delta();
    struct add_arg by_a = { 1, 5 }, by_b = { 2, 3 };
    assert_int_equal(au_ormap_pncounter_update(a, AU_ORMAP_NODELTA(pncounter), "k", 1, add_to_counter, &by_a), AU_OK);
    assert_int_equal(au_ormap_pncounter_join(b, a), AU_OK);
    assert_int_equal(au_ormap_pncounter_remove(a, da, "k", 1), AU_OK);              /* a removes k */
    assert_int_equal(au_ormap_pncounter_update(b, db, "k", 1, add_to_counter, &by_b), AU_OK); /* b adds 3 */
    assert_int_equal(au_ormap_pncounter_join(a, db), AU_OK);
    assert_int_equal(au_ormap_pncounter_join(b, da), AU_OK);
    assert_true(au_ormap_pncounter_equal(a, b));
    assert_int_equal(au_ormap_pncounter_digest(a), au_ormap_pncounter_digest(b));
    assert_true(au_ormap_pncounter_contains(a, "k", 1));
    assert_int_equal(au_pncounter_value(au_ormap_pncounter_get(a, "k", 1)), 3); /* a's 5 is gone */
    /* A later update after the removal starts from bottom. */
    assert_int_equal(au_ormap_pncounter_remove(a, AU_ORMAP_NODELTA(pncounter), "k", 1), AU_OK);
    assert_int_equal(au_ormap_pncounter_update(a, AU_ORMAP_NODELTA(pncounter), "k", 1, add_to_counter, &by_a), AU_OK);
    assert_int_equal(au_pncounter_value(au_ormap_pncounter_get(a, "k", 1)), 5);
    au_ormap_pncounter_free(a), au_ormap_pncounter_free(b);
    au_ormap_pncounter_free(da), au_ormap_pncounter_free(db);
}

/* A map of maps: the nesting works through AU_CRDT_ORMAP_TYPE. */
static AU_CRDT_ORMAP_TYPE(nested_type, "test.nested.1", &au_ormap_orset_type);

static au_err add_x(void *v, void *dv, void *arg) {
    (void)arg;
    return au_orset_add(v, dv, 9, "x", 1);
}

static au_err update_inner(void *v, void *dv, void *arg) {
    return au_ormap_update(v, dv, "inner", 5, add_x, arg);
}

static void nested_ormap_removal_of_the_outer_key_removes_everything_below(void **state) {
    (void)state;
    au_ormap *m = au_crdt_new(&nested_type), *d = au_crdt_new_delta(&nested_type);
    assert_int_equal(au_ormap_update(m, NULL, "outer", 5, update_inner, NULL), AU_OK);
    const au_ormap *inner = au_ormap_get(m, "outer", 5);
    assert_true(au_orset_contains(au_ormap_get(inner, "inner", 5), "x", 1));
    au_ormap *copy;
    assert_int_equal(nested_type.copy(m, (void **)&copy), AU_OK);
    assert_int_equal(au_ormap_remove(m, d, "outer", 5), AU_OK);
    assert_int_equal(nested_type.join(copy, d), AU_OK);
    assert_false(au_ormap_contains(copy, "outer", 5));
    assert_true(nested_type.equal(copy, m));
    assert_int_equal(nested_type.digest(copy), nested_type.digest(m));
    au_buf b = { 0 };
    void *back;
    assert_int_equal(nested_type.encode(d, &b), AU_OK);
    assert_int_equal(nested_type.decode(&nested_type, b.data, b.len, &back), AU_OK);
    assert_true(nested_type.equal(back, d));
    assert_int_equal(nested_type.digest(back), nested_type.digest(d));
    nested_type.free(back);
    /* The value type is part of the encoding: a map of counters does not decode it. */
    assert_int_equal(au_ormap_pncounter_type.decode(&au_ormap_pncounter_type, b.data, b.len, &back), AU_EDECODE);
    assert_null(back);
    au_buf_free(&b);
    nested_type.free(m), nested_type.free(d), nested_type.free(copy);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ormap_of_pncounters_properties_hold_on_random_histories),
        cmocka_unit_test(ormap_of_orsets_properties_hold_on_random_histories),
        cmocka_unit_test(ormap_of_mvregs_properties_hold_on_random_histories),
        cmocka_unit_test(lwwmap_properties_hold_on_random_histories),
        cmocka_unit_test(ormap_update_concurrent_with_removal_keeps_the_key),
        cmocka_unit_test(nested_ormap_removal_of_the_outer_key_removes_everything_below),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
