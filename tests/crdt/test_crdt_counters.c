/* Properties of GCounter and PNCounter (crdt_harness.h), plus pruning and the counter as an
 * ORMap value resetting on removal. The model: every replica's entry is its latest live event's
 * totals; the value is their sum. */
#include "crdt_harness.h"

static void pick(harness *h, int r, hev *e, bool signed_) {
    (void)r;
    e->amount = 1 + h_below(&h->rng, 5);
    if (signed_ && h_below(&h->rng, 2)) e->amount = -e->amount;
}
static void pick_g(harness *h, int r, hev *e) { pick(h, r, e, false); }
static void pick_pn(harness *h, int r, hev *e) { pick(h, r, e, true); }

static bool record(harness *h, int r, hev *e, int index) {
    (void)index;
    if (e->kind == EV_PRUNE) return h_record_prune(h, r, e, true);
    /* A write supersedes every earlier write of its replica (its delta's context claims them
     * all), not only the latest: a replica that got the new one but missed one between holds
     * one entry for the writer, never two. Its totals continue from its latest live event. */
    uint64_t live = h_live(h, h->seen[r]);
    for (int i = 0; i < h->nev; i++)
        if ((h->seen[r] >> i & 1) && h->ev[i].replica == r) {
            e->obs |= 1ull << i;
            if (live >> i & 1) e->cum_p = h->ev[i].cum_p, e->cum_n = h->ev[i].cum_n;
        }
    if (e->amount > 0) e->cum_p += e->amount;
    else e->cum_n -= e->amount;
    e->live = true;
    return true;
}

static au_err apply_g(harness *h, void *s, void *d, const hev *e, int index) {
    (void)index;
    if (e->kind == EV_PRUNE) return h_apply_prune(h, s, d, e);
    return au_gcounter_inc(s, d, h->ids[e->replica], (uint64_t)e->amount);
}

static au_err apply_pn(harness *h, void *s, void *d, const hev *e, int index) {
    (void)index;
    if (e->kind == EV_PRUNE) return h_apply_prune(h, s, d, e);
    return au_pncounter_add(s, d, h->ids[e->replica], e->amount);
}

static int64_t model_sum(harness *h, uint64_t mask) {
    uint64_t live = h_live(h, mask);
    int64_t sum = 0;
    for (int i = 0; i < h->nev; i++)
        if (live >> i & 1) sum += h->ev[i].cum_p - h->ev[i].cum_n;
    return sum;
}

static void check_g(harness *h, const void *s, uint64_t mask) {
    assert_int_equal(au_gcounter_value(s), (uint64_t)model_sum(h, mask));
}
static void check_pn(harness *h, const void *s, uint64_t mask) {
    assert_int_equal(au_pncounter_value(s), model_sum(h, mask));
}

static const model gcounter_model = { &au_gcounter_type, pick_g, record, apply_g, check_g, true, true };
static const model pncounter_model = { &au_pncounter_type, pick_pn, record, apply_pn, check_pn, true, true };

static void gcounter_properties_hold_on_random_histories(void **state) {
    (void)state;
    h_run(&gcounter_model, 11);
}

static void pncounter_properties_hold_on_random_histories(void **state) {
    (void)state;
    h_run(&pncounter_model, 12);
}

/* A departed replica's count survives its pruning, and a stale delta that still carries its
 * entry is not counted twice. */
static void pruning_folds_a_departed_count_and_ignores_stale_deltas(void **state) {
    (void)state;
    au_pncounter *a = au_pncounter_new(), *b = au_pncounter_new(), *old = au_pncounter_new_delta();
    assert_int_equal(au_pncounter_add(b, old, 2, 7), AU_OK);
    assert_int_equal(au_pncounter_add(a, NULL, 1, 5), AU_OK);
    assert_int_equal(au_pncounter_join(a, b), AU_OK);
    au_pncounter *pd = au_pncounter_new_delta();
    assert_int_equal(au_pncounter_prune(a, pd, 2, 1), AU_OK);
    assert_int_equal(au_pncounter_value(a), 12);
    assert_int_equal(au_pncounter_join(a, old), AU_OK); /* stale: b's entry again */
    assert_int_equal(au_pncounter_value(a), 12);
    assert_int_equal(au_pncounter_join(b, pd), AU_OK); /* b learns the fold */
    assert_int_equal(au_pncounter_value(b), 12);
    assert_int_equal(au_pncounter_join(b, a), AU_OK);
    assert_true(au_pncounter_equal(a, b));
    assert_int_equal(au_pncounter_digest(a), au_pncounter_digest(b));
    au_buf enc = { 0 };
    assert_int_equal(au_pncounter_encode(a, &enc), AU_OK);
    au_pncounter *back;
    assert_int_equal(au_pncounter_decode(enc.data, enc.len, &back), AU_OK);
    assert_int_equal(au_pncounter_join(back, old), AU_OK); /* the retirement survives encoding */
    assert_int_equal(au_pncounter_value(back), 12);
    au_buf_free(&enc);
    au_pncounter_free(back);
    au_pncounter_free(a), au_pncounter_free(b), au_pncounter_free(old), au_pncounter_free(pd);
}

/* A thousand increments folded into one delta accumulator cost what one does. */
static void a_delta_group_of_increments_stays_small(void **state) {
    (void)state;
    au_gcounter *s = au_gcounter_new(), *one = au_gcounter_new_delta(), *group = au_gcounter_new_delta();
    assert_int_equal(au_gcounter_inc(s, one, 42, 1), AU_OK);
    for (int i = 0; i < 999; i++) assert_int_equal(au_gcounter_inc(s, group, 42, 1), AU_OK);
    assert_int_equal(au_gcounter_join(group, one), AU_OK);
    au_buf a = { 0 }, b = { 0 };
    assert_int_equal(au_gcounter_encode(one, &a), AU_OK);
    assert_int_equal(au_gcounter_encode(group, &b), AU_OK);
    assert_true(b.len <= a.len + 4);
    au_gcounter *fresh = au_gcounter_new();
    assert_int_equal(au_gcounter_join(fresh, group), AU_OK);
    assert_int_equal(au_gcounter_value(fresh), 1000);
    au_buf_free(&a), au_buf_free(&b);
    au_gcounter_free(s), au_gcounter_free(one), au_gcounter_free(group), au_gcounter_free(fresh);
}

/* Joins d[from, to) into acc. */
static void join_range(au_gcounter *acc, au_gcounter **d, int from, int to) {
    for (int i = from; i < to; i++) assert_int_equal(au_gcounter_join(acc, d[i]), AU_OK);
}

/* A group that starts past 0 keeps its dots as a cloud; joining a group from 0 that overlaps it
 * raises the counter, and the cloud folds in: the result equals the group of all increments
 * joined in order, in value and in size, whichever order the parts come in. The cuts cover a
 * raise shorter than the cloud (per-counter removal), one longer (a pass over the cloud), and
 * a gap filled last, twice. */
static void groups_joined_out_of_order_fold_into_one_counter(void **state) {
    (void)state;
    enum { N = 2000 };
    au_gcounter *s = au_gcounter_new(), *d[N];
    for (int i = 0; i < N; i++) {
        d[i] = au_gcounter_new_delta();
        assert_int_equal(au_gcounter_inc(s, d[i], 7, 1), AU_OK);
    }
    au_gcounter *all = au_gcounter_new_delta();
    join_range(all, d, 0, N);
    au_buf ref = { 0 };
    assert_int_equal(au_gcounter_encode(all, &ref), AU_OK);
    /* parts [from, to), joined as groups in this order (to 0: none) */
    int cuts[][3][2] = { { { 500, N }, { 0, 600 }, { 0, 0 } },
                         { { 1000, N }, { 0, 1990 }, { 0, 0 } },
                         { { 0, 500 }, { 1500, N }, { 400, 1500 } } };
    for (int c = 0; c < 3; c++) {
        au_gcounter *acc = au_gcounter_new_delta();
        for (int p = 0; p < 3 && cuts[c][p][1]; p++) {
            au_gcounter *part = au_gcounter_new_delta();
            join_range(part, d, cuts[c][p][0], cuts[c][p][1]);
            assert_int_equal(au_gcounter_join(acc, part), AU_OK);
            if (p == 2) assert_int_equal(au_gcounter_join(acc, part), AU_OK);
            au_gcounter_free(part);
        }
        assert_true(au_gcounter_equal(acc, all));
        assert_int_equal(au_gcounter_digest(acc), au_gcounter_digest(all));
        au_buf b = { 0 };
        assert_int_equal(au_gcounter_encode(acc, &b), AU_OK);
        assert_int_equal(b.len, ref.len); /* the cloud is gone: one counter */
        au_gcounter *fresh = au_gcounter_new();
        assert_int_equal(au_gcounter_join(fresh, acc), AU_OK);
        assert_int_equal(au_gcounter_value(fresh), N);
        au_buf_free(&b);
        au_gcounter_free(fresh), au_gcounter_free(acc);
    }
    au_buf_free(&ref);
    for (int i = 0; i < N; i++) au_gcounter_free(d[i]);
    au_gcounter_free(s), au_gcounter_free(all);
}

static void increments_overflowing_an_entry_are_refused(void **state) {
    (void)state;
    au_gcounter *s = au_gcounter_new();
    assert_int_equal(au_gcounter_inc(s, NULL, 1, UINT64_MAX), AU_OK);
    assert_int_equal(au_gcounter_inc(s, NULL, 1, 1), AU_EINVAL);
    assert_int_equal(au_gcounter_value(s), UINT64_MAX);
    au_gcounter_free(s);
}

/* A prune of a departed replica already retired (its fold joined from the pruner, or pruned
 * here before) finds nothing to fold: nothing changes and the delta stays bottom, for both
 * counters, so a sharing replica ships nothing (and needs no digest of its state to tell). */
static void a_second_prune_finds_nothing_and_leaves_the_delta_bottom(void **state) {
    (void)state;
    const au_crdt_type *types[] = { &au_gcounter_type, &au_pncounter_type };
    for (int k = 0; k < 2; k++) {
        const au_crdt_type *t = types[k];
        void *a = au_crdt_new(t), *b, *d1 = au_crdt_new_delta(t), *d2 = au_crdt_new_delta(t);
        if (t == &au_gcounter_type) {
            assert_int_equal(au_gcounter_inc(a, NULL, 2, 5), AU_OK);
            assert_int_equal(au_gcounter_inc(a, NULL, 1, 1), AU_OK);
        } else {
            assert_int_equal(au_pncounter_add(a, NULL, 2, -5), AU_OK);
            assert_int_equal(au_pncounter_add(a, NULL, 1, 1), AU_OK);
        }
        assert_int_equal(t->copy(a, &b), AU_OK);
        assert_int_equal(t->prune(a, d1, 2, 1), AU_OK); /* the fold */
        assert_false(t->is_bottom(d1));
        assert_int_equal(t->join(b, d1), AU_OK);
        assert_true(t->equal(a, b));
        void *before = NULL;
        assert_int_equal(t->copy(b, &before), AU_OK);
        assert_int_equal(t->prune(b, d2, 2, 3), AU_OK); /* retired already: nothing to fold */
        assert_true(t->is_bottom(d2));
        assert_true(t->equal(b, before));
        assert_int_equal(t->prune(a, d2, 2, 1), AU_OK); /* pruned here before */
        assert_true(t->is_bottom(d2));
        assert_true(t->equal(a, b));
        t->free(a), t->free(b), t->free(d1), t->free(d2), t->free(before);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gcounter_properties_hold_on_random_histories),
        cmocka_unit_test(pncounter_properties_hold_on_random_histories),
        cmocka_unit_test(pruning_folds_a_departed_count_and_ignores_stale_deltas),
        cmocka_unit_test(a_delta_group_of_increments_stays_small),
        cmocka_unit_test(groups_joined_out_of_order_fold_into_one_counter),
        cmocka_unit_test(increments_overflowing_an_entry_are_refused),
        cmocka_unit_test(a_second_prune_finds_nothing_and_leaves_the_delta_bottom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
