/* test_cluster_left_race.c — starting a cluster again the moment LEFT arrives, on threaded nodes
 * (real UDP on loopback, two workers each, so the subscriber and the cluster actor run at once):
 * the start that follows a leave must begin past the leave's incarnation (the others hold the
 * node LEFT at it), so it rejoins with one JOINED and no refutation, and it must find the left
 * cluster's layer free, so leave and start repeat without running out of layer slots. The
 * incarnation was recorded only when the stopping actor's post_stop ran, after its name was
 * already free and after LEFT had been sent. Three ways: the test thread starts again once the
 * subscriber has LEFT, or retries from the moment au_cluster_leave returned, or a subscriber
 * starts again from its own handler on LEFT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cluster/cluster_world.h"

/* node i of the world on UDP with two workers */
static void start_node2(world *w, int i) {
    slot *sl = &w->s[i];
    memset(sl, 0, sizeof *sl);
    sl->w = w;
    sl->index = i;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 2, .no_spin = true }, &sl->node), AU_OK);
    snprintf(sl->addr, sizeof sl->addr, "%s", au_node_address(sl->node));
    if (i >= w->n) w->n = i + 1;
}

static bool node1_left(void *arg) { return atomic_load(&((world *)arg)->s[1].left) > 0; }

static bool node1_rejoined(void *arg) {
    world *w = arg;
    return world_converged(w) && atomic_load(&w->s[1].joined) > 0;
}

/* A subscriber that starts the cluster again from its handler as soon as LEFT arrives (retrying
 * AU_EEXIST), on the other worker. */
typedef struct restarter {
    const au_cluster_config *cfg;
    _Atomic(au_cluster *) started;
    _Atomic int err;
} restarter;
typedef struct restarter_ref { restarter *k; } restarter_ref;
static void restarter_recv(au_ctx *ctx, restarter_ref *self, watcher_msg *m) {
    for (uint32_t i = 0; i < m->update.events.len; i++)
        if (m->update.events.ptr[i].kind == AU_CLUSTER_LEFT) {
            au_cluster *nc = NULL;
            au_err e;
            while ((e = au_cluster_start(au_ctx_node(ctx), self->k->cfg, &nc)) == AU_EEXIST) {}
            atomic_store(&self->k->err, e);
            atomic_store(&self->k->started, nc);
            au_stop_self(ctx);
            return;
        }
}
AU_ACTOR(restarter_actor, restarter_ref, watcher_msg, .recv = restarter_recv);

/* Node 1 leaves and, as soon as its subscriber has LEFT, starts again (retrying AU_EEXIST as the
 * header says, without a pause): sixteen times, twice the node's layer slots. */
static void restart_loop(int how) {
    bool wait_left = how == 1;
    static world w;
    memset(&w, 0, sizeof w);
    start_node2(&w, 0);
    start_node2(&w, 1);
    const char *seeds[] = { w.s[0].addr };
    au_cluster_config c = { .seeds = seeds, .nseeds = 1, .ping_timeout = AU_MSEC(50), .num_pings = 4 };
    assert_int_equal(world_start_cluster(&w, 0, &c), AU_OK);
    assert_int_equal(world_start_cluster(&w, 1, &c), AU_OK);
    assert_true(world_wait(&w, world_converged, AU_SEC(20)));
    for (int k = 0; k < 16; k++) {
        atomic_store(&w.s[1].left, 0);
        static restarter rk;
        if (how == 2) {
            rk.cfg = &c;
            atomic_store(&rk.started, NULL);
            watcher_msg_lref rl = au_spawn(w.s[1].node, restarter_actor, NULL, &(restarter_ref){ &rk });
            assert_int_equal(au_cluster_subscribe(w.s[1].cluster, au_narrow_local(watcher_msg, au_cluster_update, rl)),
                             AU_OK);
        }
        assert_int_equal(au_cluster_leave(w.s[1].cluster), AU_OK);
        if (wait_left) assert_true(world_wait(&w, node1_left, AU_SEC(20)));
        au_cluster *nc = NULL;
        au_err e;
        if (how == 2) {
            while (!atomic_load(&rk.started)) nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
            nc = atomic_load(&rk.started);
            e = atomic_load(&rk.err);
        } else
            while ((e = au_cluster_start(w.s[1].node, &c, &nc)) == AU_EEXIST) {}
        if (e != AU_OK) fprintf(stderr, "start %d after LEFT: %s\n", k, au_strerror(e));
        assert_int_equal(e, AU_OK);
        /* the old run's watcher has its LEFT (sent before the name was free), so it writes to
         * the slot no more; a watcher for the new run only: counts from 0 */
        assert_true(world_wait(&w, node1_left, AU_SEC(20)));
        w.s[1].live = false;
        atomic_store(&w.s[1].joined, 0);
        atomic_store(&w.s[1].updates, 0);
        atomic_store(&w.s[1].members, 0);
        w.s[1].cluster = nc;
        watcher_msg_lref wl = au_spawn(w.s[1].node, watcher_actor, NULL, &(watcher){ &w.s[1] });
        assert_int_equal(au_cluster_subscribe(nc, au_narrow_local(watcher_msg, au_cluster_update, wl)), AU_OK);
        w.s[1].live = true;
        if (!world_wait(&w, node1_rejoined, AU_SEC(20))) world_print(&w, "not rejoined");
        assert_true(node1_rejoined(&w));
        /* the others held it LEFT at the leave's incarnation: a start below it is told so by
         * its seed, refutes, and says JOINED a second time */
        au_cluster_stats cs;
        au_cluster_stats_get(nc, &cs);
        if (cs.refutations || atomic_load(&w.s[1].joined) != 1)
            fprintf(stderr, "start %d: %llu refutations, %d JOINED\n", k,
                    (unsigned long long)cs.refutations, atomic_load(&w.s[1].joined));
        assert_int_equal(cs.refutations, 0);
        assert_int_equal(atomic_load(&w.s[1].joined), 1);
    }
    world_stop(&w);
}

static void starting_again_as_soon_as_left_arrives(void **st) { restart_loop(1); }

/* The same with the start retried from the moment au_cluster_leave returned. */
static void starting_again_while_the_leave_runs(void **st) { restart_loop(0); }

/* The same with the start made by a subscriber's handler on LEFT. */
static void starting_again_from_the_left_handler(void **st) { restart_loop(2); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(starting_again_as_soon_as_left_arrives),
        cmocka_unit_test(starting_again_while_the_leave_runs),
        cmocka_unit_test(starting_again_from_the_left_handler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
