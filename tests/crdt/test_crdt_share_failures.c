/* test_crdt_share_failures.c — shared CRDTs through failures, in the simulator, for the types
 * the other share suites do not replicate (registers and flags), and counters under loss:
 *  - 4 nodes split 2 | 2 with conflicting writes on both sides of an LWWRegister (the higher
 *    timestamp wins everywhere after the heal), an MVRegister (both concurrent values kept), an
 *    enable-wins and a disable-wins flag (the documented winner everywhere);
 *  - 5 nodes incrementing one GCounter concurrently under 20 % message loss, then the loss
 *    removed: every replica reaches the exact total. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "crdt/share_world.h"

static const au_cluster_config CC = { .no_leave_on_stop = true, .ping_timeout = AU_MSEC(50), .num_pings = 4 };

enum { N = 4 };
typedef struct regs {
    sw *w;
    au_share *mv[N], *ew[N], *dw[N];
    const char *lww_want;
    bool ew_want, dw_want;
    bool mv_two; /* both "x" and "y" kept */
} regs;

static au_err lww_set(au_lwwreg *s, au_lwwreg *d, uint64_t r, const void *arg, size_t len) {
    const char *v = arg;
    return au_lwwreg_set(s, d, r, (uint64_t)(unsigned char)v[0] * 100, v + 1, len - 1);
}
static au_err mv_set(au_mvreg *s, au_mvreg *d, uint64_t r, const void *arg, size_t len) {
    return au_mvreg_set(s, d, r, arg, len);
}
static au_err ew_on(au_ewflag *s, au_ewflag *d, uint64_t r, const void *arg, size_t len) {
    (void)len;
    return *(const bool *)arg ? au_ewflag_enable(s, d, r) : au_ewflag_disable(s, d, r);
}
static au_err dw_on(au_dwflag *s, au_dwflag *d, uint64_t r, const void *arg, size_t len) {
    (void)len;
    return *(const bool *)arg ? au_dwflag_enable(s, d, r) : au_dwflag_disable(s, d, r);
}

typedef struct rd { const char *want; bool ok; int count; bool x, y; bool flag; } rd;
static void rd_lww(const au_lwwreg *s, void *arg) {
    rd *r = arg;
    au_crdt_bytes v;
    r->ok = au_lwwreg_get(s, &v) && v.len == strlen(r->want) && memcmp(v.ptr, r->want, v.len) == 0;
}
static void rd_mv(const au_mvreg *s, void *arg) {
    rd *r = arg;
    r->count = (int)au_mvreg_count(s);
    au_crdt_iter it = AU_CRDT_ITER_INIT;
    au_crdt_bytes v;
    r->x = r->y = false;
    while (au_mvreg_next(s, &it, &v)) {
        if (v.len == 1 && *(const char *)v.ptr == 'x') r->x = true;
        if (v.len == 1 && *(const char *)v.ptr == 'y') r->y = true;
    }
}
static void rd_ew(const au_ewflag *s, void *arg) { ((rd *)arg)->flag = au_ewflag_value(s); }
static void rd_dw(const au_dwflag *s, void *arg) { ((rd *)arg)->flag = au_dwflag_value(s); }

static bool regs_are(void *arg) {
    regs *g = arg;
    for (int i = 0; i < N; i++) {
        rd r = { .want = g->lww_want };
        au_share_lwwreg_read((au_share_lwwreg){ g->w->sh[i] }, rd_lww, &r);
        if (!r.ok) return false;
        au_share_mvreg_read((au_share_mvreg){ g->mv[i] }, rd_mv, &r);
        if (g->mv_two ? !(r.count == 2 && r.x && r.y) : !(r.count == 1 && r.x)) return false;
        au_share_ewflag_read((au_share_ewflag){ g->ew[i] }, rd_ew, &r);
        if (r.flag != g->ew_want) return false;
        au_share_dwflag_read((au_share_dwflag){ g->dw[i] }, rd_dw, &r);
        if (r.flag != g->dw_want) return false;
    }
    return true;
}

static void registers_and_flags_split_two_two_resolve_as_documented(void **st) {
    (void)st;
    static sw w;
    static regs g;
    au_sim *sim;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 301 }, &sim), AU_OK);
    sw_init(&w, sim);
    memset(&g, 0, sizeof g);
    g.w = &w;
    for (int i = 0; i < N; i++) sw_node(&w, i);
    for (int i = 0; i < N; i++) {
        sw_start(&w, i, &CC, &au_lwwreg_type, &(au_share_config){ .name = "lww" });
        assert_int_equal(au_share_start(w.node[i], w.cl[i], &au_mvreg_type, &(au_share_config){ .name = "mv" }, &g.mv[i]), AU_OK);
        assert_int_equal(au_share_start(w.node[i], w.cl[i], &au_ewflag_type, &(au_share_config){ .name = "ew" }, &g.ew[i]), AU_OK);
        assert_int_equal(au_share_start(w.node[i], w.cl[i], &au_dwflag_type, &(au_share_config){ .name = "dw" }, &g.dw[i]), AU_OK);
    }
    bool on = true, off = false;
    assert_int_equal(au_share_lwwreg_mutate((au_share_lwwreg){ w.sh[0] }, lww_set, "\1init", 5), AU_OK);
    assert_int_equal(au_share_mvreg_mutate((au_share_mvreg){ g.mv[0] }, mv_set, "x", 1), AU_OK);
    assert_int_equal(au_share_ewflag_mutate((au_share_ewflag){ g.ew[0] }, ew_on, &on, sizeof on), AU_OK);
    assert_int_equal(au_share_dwflag_mutate((au_share_dwflag){ g.dw[0] }, dw_on, &on, sizeof on), AU_OK);
    g.lww_want = "init", g.ew_want = true, g.dw_want = true;
    assert_true(sw_run_until(&w, regs_are, &g, AU_SEC(20)));

    au_node *a[2] = { w.node[0], w.node[1] }, *b[2] = { w.node[2], w.node[3] };
    assert_int_equal(au_faults_partition(a, 2, b, 2), AU_OK);
    /* side a: the later LWW write (timestamp 900), disables; side b: an earlier one, enables */
    assert_int_equal(au_share_lwwreg_mutate((au_share_lwwreg){ w.sh[1] }, lww_set, "\11late", 5), AU_OK);
    assert_int_equal(au_share_lwwreg_mutate((au_share_lwwreg){ w.sh[3] }, lww_set, "\5early", 6), AU_OK);
    assert_int_equal(au_share_mvreg_mutate((au_share_mvreg){ g.mv[1] }, mv_set, "x", 1), AU_OK);
    assert_int_equal(au_share_mvreg_mutate((au_share_mvreg){ g.mv[2] }, mv_set, "y", 1), AU_OK);
    assert_int_equal(au_share_ewflag_mutate((au_share_ewflag){ g.ew[0] }, ew_on, &off, sizeof off), AU_OK);
    assert_int_equal(au_share_ewflag_mutate((au_share_ewflag){ g.ew[3] }, ew_on, &on, sizeof on), AU_OK);
    assert_int_equal(au_share_dwflag_mutate((au_share_dwflag){ g.dw[1] }, dw_on, &off, sizeof off), AU_OK);
    assert_int_equal(au_share_dwflag_mutate((au_share_dwflag){ g.dw[2] }, dw_on, &on, sizeof on), AU_OK);
    au_sim_run(sim, AU_SEC(3));
    rd r = { .want = "early" };
    au_share_lwwreg_read((au_share_lwwreg){ w.sh[2] }, rd_lww, &r);
    assert_true(r.ok); /* side b has not seen side a's write */
    au_node *all[N] = { w.node[0], w.node[1], w.node[2], w.node[3] };
    assert_int_equal(au_faults_heal(all, N), AU_OK);
    g.lww_want = "late", g.mv_two = true, g.ew_want = true, g.dw_want = false;
    assert_true(sw_run_until(&w, regs_are, &g, AU_SEC(30)));
    au_sim_run(sim, AU_SEC(2));
    assert_true(regs_are(&g));
    assert_int_equal(SW_STAT(&w, drops_decode) + SW_STAT(&w, drops_type) + SW_STAT(&w, drops_invalid), 0);
    sw_stop(&w);
    au_sim_destroy(sim);
}

static void concurrent_increments_under_loss_reach_the_exact_total(void **st) {
    (void)st;
    static sw w;
    au_sim *sim;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 302 }, &sim), AU_OK);
    sw_init(&w, sim);
    enum { M = 5 };
    for (int i = 0; i < M; i++) sw_node(&w, i);
    for (int i = 0; i < M; i++) sw_start(&w, i, &CC, &au_gcounter_type, &(au_share_config){ .name = "hits" });
    au_sim_run(sim, AU_SEC(2));
    for (int i = 0; i < M; i++) sw_faults(&w, i, 0.2, 0, AU_MSEC(10));
    uint64_t total = 0;
    for (int k = 0; k < 40; k++) {
        for (int i = 0; i < M; i++) {
            assert_int_equal(au_share_gcounter_inc((au_share_gcounter){ w.sh[i] }, (uint64_t)(i + 1)), AU_OK);
            total += (uint64_t)(i + 1);
        }
        au_sim_run(sim, AU_MSEC(37));
    }
    au_sim_run(sim, AU_SEC(3));
    for (int i = 0; i < M; i++) sw_faults(&w, i, 0, 0, 0);
    sw_gc_goal g = { &w, 0, M, total };
    assert_true(sw_run_until(&w, sw_gcounters_are, &g, AU_SEC(30)));
    au_sim_run(sim, AU_SEC(2));
    assert_true(sw_gcounters_are(&g));
    sw_stop(&w);
    au_sim_destroy(sim);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(registers_and_flags_split_two_two_resolve_as_documented),
        cmocka_unit_test(concurrent_increments_under_loss_reach_the_exact_total),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
