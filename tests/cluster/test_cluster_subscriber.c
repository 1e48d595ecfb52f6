/* test_cluster_subscriber.c — a subscriber with a bounded mailbox loses no cluster event. Real
 * UDP on 127.0.0.1: a subscriber (capacity 1, refusing when full) is held inside its first update
 * while nodes join and one leaves, so the cluster's updates find its mailbox full; once it is let
 * go it must still see every member added and the one removed, and end with the current member
 * set; held so when its own node leaves, it must still get LEFT; held so and unsubscribed, it
 * must get nothing but what was in its mailbox already. Waits are on conditions with
 * deadlines. */
#include <aurum/aurum.h>
#include <aurum/cluster.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

AU_LOCAL_ROOT(gate_msg, (update, au_cluster_update, AU_LOCAL));

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    int updates, added, removed, left;
    uint32_t members; /* in the latest update */
} gate;

typedef struct gate_ref { gate *g; } gate_ref;

static void gate_recv(au_ctx *ctx, gate_ref *self, gate_msg *m) {
    (void)ctx;
    gate *g = self->g;
    pthread_mutex_lock(&g->mu);
    for (uint32_t i = 0; i < m->update.events.len; i++) {
        int k = m->update.events.ptr[i].kind;
        g->added += k == AU_CLUSTER_ADDED;
        g->removed += k == AU_CLUSTER_REMOVED;
        g->left += k == AU_CLUSTER_LEFT;
    }
    g->members = m->update.members.len;
    g->updates++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open) pthread_cond_wait(&g->cv, &g->mu); /* held: its mailbox fills */
    pthread_mutex_unlock(&g->mu);
}
AU_ACTOR(gate_actor, gate_ref, gate_msg, .recv = gate_recv);

static uint64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static void nap(void) { nanosleep(&(struct timespec){ 0, 5000000 }, NULL); }

static uint64_t deferred(au_cluster *c) {
    au_cluster_stats st;
    au_cluster_stats_get(c, &st);
    return st.updates_deferred;
}

static uint64_t members_of(au_cluster *c) {
    au_cluster_stats st;
    au_cluster_stats_get(c, &st);
    return st.members;
}

static void a_subscriber_whose_mailbox_is_full_still_gets_every_event(void **s) {
    (void)s;
    static gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0, 0, 0, 0 };
    au_node *n[4];
    au_cluster *c[4];
    for (int i = 0; i < 4; i++) assert_int_equal(au_node_start(NULL, &n[i]), AU_OK);
    const char *seed[] = { au_node_address(n[0]) };
    au_cluster_config solo = { .ping_timeout = AU_MSEC(20), .num_pings = 1, .no_leave_on_stop = true };
    assert_int_equal(au_cluster_start(n[0], &solo, &c[0]), AU_OK);

    gate_msg_lref l = au_spawn_with(n[0], gate_actor, au_opts(.dedicated = true, .capacity = 1), &(gate_ref){ &g });
    assert_false(au_ref_is_null(l.raw));
    assert_int_equal(au_cluster_subscribe(c[0], au_narrow_local(gate_msg, au_cluster_update, l)), AU_OK);

    /* The first update (ALONE) holds the subscriber inside its hook. */
    uint64_t end = now_ms() + 20000;
    pthread_mutex_lock(&g.mu);
    while (g.updates == 0 && now_ms() < end) {
        pthread_mutex_unlock(&g.mu);
        nap();
        pthread_mutex_lock(&g.mu);
    }
    assert_int_equal(g.updates, 1);
    pthread_mutex_unlock(&g.mu);

    /* Three nodes join and the second leaves: one update fits the mailbox, the rest are refused. */
    au_cluster_config join = { .seeds = seed, .nseeds = 1, .ping_timeout = AU_MSEC(50) };
    for (int i = 1; i < 4; i++) assert_int_equal(au_cluster_start(n[i], &join, &c[i]), AU_OK);
    while (members_of(c[0]) < 4 && now_ms() < end) nap();
    assert_int_equal(members_of(c[0]), 4);
    assert_int_equal(au_cluster_leave(c[2]), AU_OK);
    while (members_of(c[0]) != 3 && now_ms() < end) nap();
    assert_int_equal(members_of(c[0]), 3);
    while (deferred(c[0]) == 0 && now_ms() < end) nap();
    assert_true(deferred(c[0]) >= 1);

    /* Let it go: it sees every event, and the member set it ends with is the current one. */
    pthread_mutex_lock(&g.mu);
    g.open = true;
    pthread_cond_broadcast(&g.cv);
    while ((g.added < 3 || g.removed < 1 || g.members != 3) && now_ms() < end) {
        pthread_mutex_unlock(&g.mu);
        nap();
        pthread_mutex_lock(&g.mu);
    }
    print_message("updates %d, added %d, removed %d, members %u, deferred %llu\n", g.updates, g.added,
                  g.removed, g.members, (unsigned long long)deferred(c[0]));
    assert_int_equal(g.added, 3);
    assert_int_equal(g.removed, 1);
    assert_int_equal(g.members, 3);
    pthread_mutex_unlock(&g.mu);
    au_cluster_stats st;
    au_cluster_stats_get(c[0], &st);
    assert_int_equal(st.events_dropped, 0);
    for (int i = 3; i >= 0; i--) au_node_stop(n[i]);
}

/* The same subscriber full when its node leaves (au_cluster_leave): the LEFT its mailbox refuses
 * is offered again as any other update (the actor stopped right after the leave, so LEFT was
 * lost, and the subscriber never learnt that its node had left). */
static void a_subscriber_whose_mailbox_is_full_at_the_leave_still_gets_left(void **s) {
    (void)s;
    static gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0, 0, 0, 0 };
    au_node *n[2];
    au_cluster *c[2];
    for (int i = 0; i < 2; i++) assert_int_equal(au_node_start(NULL, &n[i]), AU_OK);
    const char *seed[] = { au_node_address(n[0]) };
    au_cluster_config solo = { .ping_timeout = AU_MSEC(20), .num_pings = 1 };
    assert_int_equal(au_cluster_start(n[0], &solo, &c[0]), AU_OK);
    gate_msg_lref l = au_spawn_with(n[0], gate_actor, au_opts(.dedicated = true, .capacity = 1), &(gate_ref){ &g });
    assert_false(au_ref_is_null(l.raw));
    assert_int_equal(au_cluster_subscribe(c[0], au_narrow_local(gate_msg, au_cluster_update, l)), AU_OK);
    uint64_t end = now_ms() + 20000;
    pthread_mutex_lock(&g.mu);
    while (g.updates == 0 && now_ms() < end) {
        pthread_mutex_unlock(&g.mu);
        nap();
        pthread_mutex_lock(&g.mu);
    }
    assert_int_equal(g.updates, 1); /* ALONE: held inside it */
    pthread_mutex_unlock(&g.mu);
    /* a node joins (its ADDED fills the mailbox), then node 0 leaves: LEFT is refused */
    au_cluster_config join = { .seeds = seed, .nseeds = 1, .ping_timeout = AU_MSEC(50) };
    assert_int_equal(au_cluster_start(n[1], &join, &c[1]), AU_OK);
    while (members_of(c[1]) < 2 && now_ms() < end) nap();
    assert_int_equal(members_of(c[1]), 2);
    while (members_of(c[0]) < 2 && now_ms() < end) nap();
    assert_int_equal(au_cluster_leave(c[0]), AU_OK);
    while (members_of(c[1]) != 1 && now_ms() < end) nap();
    assert_int_equal(members_of(c[1]), 1);
    while (deferred(c[0]) == 0 && now_ms() < end) nap();
    assert_true(deferred(c[0]) >= 1);
    pthread_mutex_lock(&g.mu);
    g.open = true;
    pthread_cond_broadcast(&g.cv);
    uint64_t soon = now_ms() + 5000;
    while (g.left == 0 && now_ms() < soon) {
        pthread_mutex_unlock(&g.mu);
        nap();
        pthread_mutex_lock(&g.mu);
    }
    print_message("updates %d, added %d, left %d, members %u\n", g.updates, g.added, g.left, g.members);
    assert_int_equal(g.added, 1);
    assert_int_equal(g.left, 1);
    assert_int_equal(g.members, 0); /* outside a cluster: no members */
    pthread_mutex_unlock(&g.mu);
    /* and a start of the same name works once LEFT is in */
    au_cluster *again = NULL;
    au_err e;
    while ((e = au_cluster_start(n[0], &join, &again)) == AU_EEXIST && now_ms() < end) nap();
    assert_int_equal(e, AU_OK);
    for (int i = 1; i >= 0; i--) au_node_stop(n[i]);
}

/* au_cluster_unsubscribe on real UDP, from the test thread while the cluster actor runs on its
 * own: the subscriber is held inside its first update with a full mailbox (one update in it,
 * later ones deferred into its backlog); once unsubscribe has returned, it is let go while
 * nodes join and one leaves: it gets the update that was already in its mailbox and nothing
 * more (neither the backlog nor the later events), while a second subscriber sees them all. */
static void an_unsubscribed_subscriber_gets_only_what_was_in_its_mailbox(void **s) {
    (void)s;
    static gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0, 0, 0, 0 };
    static gate all = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, true, 0, 0, 0, 0, 0 };
    au_node *n[4];
    au_cluster *c[4];
    for (int i = 0; i < 4; i++) assert_int_equal(au_node_start(NULL, &n[i]), AU_OK);
    const char *seed[] = { au_node_address(n[0]) };
    au_cluster_config solo = { .ping_timeout = AU_MSEC(20), .num_pings = 1, .no_leave_on_stop = true };
    assert_int_equal(au_cluster_start(n[0], &solo, &c[0]), AU_OK);
    gate_msg_lref l = au_spawn_with(n[0], gate_actor, au_opts(.dedicated = true, .capacity = 1), &(gate_ref){ &g });
    gate_msg_lref la = au_spawn(n[0], gate_actor, NULL, &(gate_ref){ &all });
    au_cluster_update_lref sub = au_narrow_local(gate_msg, au_cluster_update, l);
    assert_int_equal(au_cluster_subscribe(c[0], sub), AU_OK);
    assert_int_equal(au_cluster_subscribe(c[0], au_narrow_local(gate_msg, au_cluster_update, la)), AU_OK);
    uint64_t end = now_ms() + 20000;
    pthread_mutex_lock(&g.mu);
    while (g.updates == 0 && now_ms() < end) {
        pthread_mutex_unlock(&g.mu);
        nap();
        pthread_mutex_lock(&g.mu);
    }
    assert_int_equal(g.updates, 1); /* ALONE: held inside it */
    pthread_mutex_unlock(&g.mu);
    /* two nodes join: one update fills its mailbox, the next is deferred */
    au_cluster_config join = { .seeds = seed, .nseeds = 1, .ping_timeout = AU_MSEC(50), .no_leave_on_stop = true };
    for (int i = 1; i < 3; i++) assert_int_equal(au_cluster_start(n[i], &join, &c[i]), AU_OK);
    while (members_of(c[0]) < 3 && now_ms() < end) nap();
    assert_int_equal(members_of(c[0]), 3);
    while (deferred(c[0]) == 0 && now_ms() < end) nap();
    assert_true(deferred(c[0]) >= 1);
    assert_int_equal(au_cluster_unsubscribe(c[0], sub), AU_OK);
    /* let it go, and more happens: a fourth node joins, the second leaves */
    pthread_mutex_lock(&g.mu);
    g.open = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    assert_int_equal(au_cluster_start(n[3], &join, &c[3]), AU_OK);
    while (members_of(c[0]) < 4 && now_ms() < end) nap();
    assert_int_equal(au_cluster_leave(c[2]), AU_OK);
    pthread_mutex_lock(&all.mu);
    while ((all.added < 3 || all.removed < 1) && now_ms() < end) {
        pthread_mutex_unlock(&all.mu);
        nap();
        pthread_mutex_lock(&all.mu);
    }
    assert_int_equal(all.added, 3);
    assert_int_equal(all.removed, 1);
    pthread_mutex_unlock(&all.mu);
    uint64_t settle = now_ms() + 300; /* a few hb_intervals: backlogs are offered every 50 ms */
    while (now_ms() < settle) nap();
    pthread_mutex_lock(&g.mu);
    print_message("unsubscribed: updates %d, added %d, removed %d\n", g.updates, g.added, g.removed);
    assert_true(g.updates <= 2);  /* ALONE, and the one update that was in its mailbox */
    assert_true(g.added <= 1);
    assert_int_equal(g.removed, 0);
    pthread_mutex_unlock(&g.mu);
    assert_int_equal(au_cluster_unsubscribe(c[0], sub), AU_ENOTFOUND);
    for (int i = 3; i >= 0; i--) au_node_stop(n[i]);
}

int main(void) {
    au_log_set_level(AU_LOG_CLUSTER, AU_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_subscriber_whose_mailbox_is_full_still_gets_every_event),
        cmocka_unit_test(a_subscriber_whose_mailbox_is_full_at_the_leave_still_gets_left),
        cmocka_unit_test(an_unsubscribed_subscriber_gets_only_what_was_in_its_mailbox),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
