/* test_crdt_share_misuse.c — CRDT sharing as an adversarial user meets it:
 *  - one name shared with two CRDT types on different nodes: refused and counted on both sides,
 *    neither replica corrupted, the nodes of each type still converge among themselves;
 *  - NULL, empty and absurd arguments and knobs, half-filled vtables: error codes, no crash;
 *  - a failing mutator is counted and changes nothing; a no-op one sends nothing;
 *  - many actors mutating one replica at once (simulated) and many threads at once (real UDP on
 *    127.0.0.1 port 0, waiting on conditions with deadlines): exact totals everywhere;
 *  - mutations made while the seeds are down, spread once they come up;
 *  - late and stopped subscribers;
 *  - au_node_stop with mutations queued and dispersal in flight (run under ASan / valgrind:
 *    every allocation freed).
 * Relies on share_world.h (nodes, clusters, one replica each). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <limits.h>
#include <pthread.h>
#include <cmocka.h>

#include "crdt/share_world.h"
#include <aurum/log.h>

static bool sim_until(sw *w, bool (*pred)(void *), void *arg, au_nanos max) {
    au_nanos t0 = au_sim_now(w->sim);
    while (!pred(arg)) {
        if (au_sim_now(w->sim) - t0 > max) return false;
        au_sim_run(w->sim, AU_MSEC(50));
    }
    return true;
}

static au_sim *new_sim(sw *w, uint64_t seed, int n) {
    au_sim *sim;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = seed }, &sim), AU_OK);
    sw_init(w, sim);
    for (int i = 0; i < n; i++) sw_node(w, i);
    return sim;
}

static void end_sim(sw *w) {
    au_sim *sim = w->sim;
    sw_stop(w);
    au_sim_destroy(sim);
}

static const au_cluster_config CC = { .no_leave_on_stop = true, .ping_timeout = AU_MSEC(50), .num_pings = 4 };


/* ---- one name, two types ---------------------------------------------------------------------- */

static void one_name_with_two_types_is_refused_and_counted_not_mixed(void **st) {
    static sw w;
    au_sim *sim = new_sim(&w, 201, 4);
    au_share_config pc = { .name = "hits" };
    for (int i = 0; i < 3; i++) sw_start(&w, i, &CC, &au_gcounter_type, &pc);
    sw_start(&w, 3, &CC, &au_pncounter_type, &pc);
    for (int i = 0; i < 3; i++)
        assert_int_equal(au_share_gcounter_inc((au_share_gcounter){ w.sh[i] }, 10), AU_OK);
    assert_int_equal(au_share_pncounter_add((au_share_pncounter){ w.sh[3] }, -7), AU_OK);
    sw_gc_goal g = { &w, 0, 3, 30 };
    assert_true(sim_until(&w, sw_gcounters_are, &g, AU_SEC(20)));
    au_sim_run(sim, AU_SEC(5));
    assert_true(sw_gcounters_are(&g));
    assert_int_equal(au_share_pncounter_value((au_share_pncounter){ w.sh[3] }), -7);
    au_share_stats s3, s0;
    au_share_stats_get(w.sh[3], &s3);
    assert_true(s3.drops_type >= 1);           /* the GCounters' deltas, refused */
    assert_int_equal(s3.received, 0);
    uint64_t refused = 0;
    for (int i = 0; i < 3; i++) {
        au_share_stats_get(w.sh[i], &s0);
        refused += s0.drops_type;
    }
    assert_true(refused >= 1);                 /* and the PNCounter's, by the others */
    /* the mismatch does not grow traffic without bound: re-sends back off */
    uint64_t sent0 = SW_STAT(&w, deltas_sent) + SW_STAT(&w, states_sent);
    au_sim_run(sim, AU_SEC(10));
    uint64_t sent1 = SW_STAT(&w, deltas_sent) + SW_STAT(&w, states_sent);
    assert_true(sent1 - sent0 < 2000);
    end_sim(&w);
}

/* The WARN lines of the crdt module (the_sender_learns_the_type_mismatch_and_stops). */
static char mismatch_log[8][512];
static int mismatch_warns;
static void mismatch_sink(void *user, au_log_module module, au_log_level level, const char *file,
                          int line, const char *message) {
    (void)user, (void)file, (void)line;
    if (module != AU_LOG_CRDT || level != AU_LOG_WARN || !strstr(message, "holds this name as")) return;
    if (mismatch_warns < 8) snprintf(mismatch_log[mismatch_warns], sizeof mismatch_log[0], "%s", message);
    mismatch_warns++;
}

static bool mismatch_known(void *arg) {
    sw *w = arg;
    au_share_stats st;
    for (int i = 0; i < 4; i++) {
        au_share_stats_get(w->sh[i], &st);
        if (st.peers_type_mismatch != (i == 3 ? 3u : 1u)) return false;
    }
    return true;
}

/* The same name, two types: the receivers refuse (drops_type), and now the senders learn it
 * from the receivers' type refusal: each counts the other-typed member once
 * (peers_type_mismatch), logs one WARN naming its address and both types, sends it nothing
 * more and holds no delta for it (the buffers empty as the same-typed members ack). Before,
 * the senders kept re-sending with backoff and buffered for that member up to max_buffer. */
static void the_sender_learns_the_type_mismatch_and_stops(void **st) {
    static sw w;
    au_sim *sim = new_sim(&w, 202, 4);
    mismatch_warns = 0;
    au_log_set_sink(mismatch_sink, NULL);
    au_share_config pc = { .name = "hits" };
    for (int i = 0; i < 3; i++) sw_start(&w, i, &CC, &au_gcounter_type, &pc);
    sw_start(&w, 3, &CC, &au_pncounter_type, &pc);
    for (int i = 0; i < 3; i++)
        assert_int_equal(au_share_gcounter_inc((au_share_gcounter){ w.sh[i] }, 10), AU_OK);
    assert_int_equal(au_share_pncounter_add((au_share_pncounter){ w.sh[3] }, -7), AU_OK);
    sw_gc_goal g = { &w, 0, 3, 30 };
    assert_true(sim_until(&w, sw_gcounters_are, &g, AU_SEC(20)));
    assert_true(sim_until(&w, mismatch_known, &w, AU_SEC(30)));
    au_sim_run(sim, AU_SEC(5));
    assert_true(mismatch_known(&w));
    au_log_set_sink(NULL, NULL);
    assert_int_equal(mismatch_warns, 6); /* 3 on the PNCounter's node, 1 on each other */
    bool named = false;
    for (int k = 0; k < 6; k++)
        named |= strstr(mismatch_log[k], w.addr[3]) && strstr(mismatch_log[k], au_pncounter_type.name) &&
                 strstr(mismatch_log[k], au_gcounter_type.name);
    assert_true(named);
    for (int i = 0; i < 4; i++) {
        au_share_stats s;
        au_share_stats_get(w.sh[i], &s);
        assert_int_equal(s.buffered, 0); /* not held for the other-typed member */
    }
    /* nothing more goes: the same-typed members have acked, the other-typed one is not sent to */
    uint64_t sent0 = SW_STAT(&w, deltas_sent) + SW_STAT(&w, states_sent);
    au_sim_run(sim, AU_SEC(30));
    assert_int_equal(SW_STAT(&w, deltas_sent) + SW_STAT(&w, states_sent), sent0);
    assert_int_equal(au_share_pncounter_value((au_share_pncounter){ w.sh[3] }), -7);
    assert_true(sw_gcounters_are(&g));
    /* a change still spreads among the same-typed members */
    assert_int_equal(au_share_gcounter_inc((au_share_gcounter){ w.sh[0] }, 1), AU_OK);
    g.want = 31;
    assert_true(sim_until(&w, sw_gcounters_are, &g, AU_SEC(10)));
    /* A refusal holds for a minute, not for good (without a cluster key one can be forged from
     * a member's address, and a member that never writes would never be served again): then
     * the other-typed member is tried again, refuses again, and is neither counted nor logged
     * again. */
    mismatch_warns = 0;
    au_log_set_sink(mismatch_sink, NULL);
    uint64_t sent2 = SW_STAT(&w, deltas_sent) + SW_STAT(&w, states_sent);
    au_sim_run(sim, AU_SEC(70));
    uint64_t sent3 = SW_STAT(&w, deltas_sent) + SW_STAT(&w, states_sent);
    au_log_set_sink(NULL, NULL);
    assert_true(sent3 > sent2);      /* tried again */
    assert_true(sent3 - sent2 < 60); /* a few sends per pair and hold, not a re-send stream */
    assert_true(mismatch_known(&w)); /* each still counted once */
    assert_int_equal(mismatch_warns, 0);
    assert_int_equal(au_share_pncounter_value((au_share_pncounter){ w.sh[3] }), -7);
    assert_true(sw_gcounters_are(&g));
    end_sim(&w);
}

/* ---- arguments ---------------------------------------------------------------------------------- */

static void null_empty_and_absurd_arguments_get_error_codes(void **st) {
    static sw w;
    au_sim *sim = new_sim(&w, 202, 1);
    au_cluster *c;
    assert_int_equal(au_cluster_start(w.node[0], &CC, &c), AU_OK);
    w.cl[0] = c;
    au_share *s = NULL;
    const char *name49 = "0123456789012345678901234567890123456789012345678";
    const char *name48 = "012345678901234567890123456789012345678901234567";
    assert_int_equal(au_share_start(NULL, c, &au_gcounter_type, &(au_share_config){ .name = "a" }, &s),
                     AU_EINVAL);
    assert_int_equal(
        au_share_start(w.node[0], NULL, &au_gcounter_type, &(au_share_config){ .name = "a" }, &s), AU_EINVAL);
    assert_int_equal(au_share_start(w.node[0], c, NULL, &(au_share_config){ .name = "a" }, &s), AU_EINVAL);
    assert_int_equal(au_share_start(w.node[0], c, &au_gcounter_type, NULL, &s), AU_EINVAL);
    assert_int_equal(au_share_start(w.node[0], c, &au_gcounter_type, &(au_share_config){ .name = "a" }, NULL),
                     AU_EINVAL);
    assert_int_equal(au_share_start(w.node[0], c, &au_gcounter_type, &(au_share_config){ 0 }, &s), AU_EINVAL);
    assert_int_equal(au_share_start(w.node[0], c, &au_gcounter_type, &(au_share_config){ .name = "" }, &s),
                     AU_EINVAL);
    assert_int_equal(
        au_share_start(w.node[0], c, &au_gcounter_type, &(au_share_config){ .name = name49 }, &s), AU_EINVAL);
    assert_int_equal(au_share_start(w.node[0], c, &au_gcounter_type,
                                    &(au_share_config){ .name = "a", .npriority = 2 }, &s), AU_EINVAL);
    assert_null(s);
    /* a vtable with holes: refused, not called */
    au_crdt_type holes = au_gcounter_type;
    holes.name = NULL;
    assert_int_equal(au_share_start(w.node[0], c, &holes, &(au_share_config){ .name = "h" }, &s), AU_EINVAL);
    holes = au_gcounter_type;
    holes.decode = NULL;
    assert_int_equal(au_share_start(w.node[0], c, &holes, &(au_share_config){ .name = "h" }, &s), AU_EINVAL);
    holes = au_gcounter_type;
    holes.create = NULL;
    assert_int_equal(au_share_start(w.node[0], c, &holes, &(au_share_config){ .name = "h" }, &s), AU_EINVAL);

    const char *prio[] = { "garbage", NULL, "127.0.0.1:1" }; /* not members: skipped */
    assert_int_equal(au_share_start(w.node[0], c, &au_gcounter_type,
                                    &(au_share_config){ .name = name48, .priority = prio, .npriority = 3 },
                                    &s),
                     AU_OK);
    au_share *again = NULL;
    assert_int_equal(
        au_share_start(w.node[0], c, &au_gcounter_type, &(au_share_config){ .name = name48 }, &again),
        AU_EEXIST);
    assert_int_equal(
        au_share_start(w.node[0], c, &au_orset_type, &(au_share_config){ .name = name48 }, &again),
        AU_EEXIST);
    assert_null(again);

    /* NULL handles and arguments */
    au_share_gcounter none = { NULL };
    assert_int_equal(au_share_gcounter_inc(none, 1), AU_EINVAL);
    assert_int_equal(au_share_gcounter_value(none), 0);
    assert_false(au_share_orset_contains((au_share_orset){ NULL }, "x", 1));
    assert_int_equal(au_share_orset_size((au_share_orset){ NULL }), 0);
    assert_int_equal(au_share_orset_add((au_share_orset){ NULL }, "x", 1), AU_EINVAL);
    assert_null(au_share_type(NULL));
    assert_int_equal(au_share_replica(NULL), 0);
    au_share_stats ss;
    memset(&ss, 0xff, sizeof ss);
    au_share_stats_get(NULL, &ss);
    assert_int_equal(ss.clock, 0);
    au_share_stats_get(s, NULL); /* nowhere to write: nothing written */
    au_share_stats_get(NULL, NULL);
    assert_int_equal(au_share_mutate(s, NULL, NULL, 0), AU_EINVAL);
    assert_int_equal(au_share_mutate(NULL, NULL, NULL, 0), AU_EINVAL);
    au_share_read(s, NULL, NULL);
    au_share_read(NULL, NULL, NULL);
    assert_int_equal(au_share_snapshot(s, NULL), AU_EINVAL);
    void *snap = NULL;
    assert_int_equal(au_share_snapshot(NULL, &snap), AU_EINVAL);
    assert_int_equal(au_share_subscribe(s, (au_share_changed_lref){ 0 }), AU_EINVAL);
    assert_int_equal(au_share_subscribe(NULL, (au_share_changed_lref){ 0 }), AU_EINVAL);

    /* wrong-typed calls on the right replica: the typed wrappers check the vtable in _of only,
     * but an element too large or a NULL element with a length is refused before queuing */
    au_share *set = NULL;
    assert_int_equal(au_share_start(w.node[0], c, &au_orset_type, &(au_share_config){ .name = "set" }, &set),
                     AU_OK);
    static uint8_t big[65537];
    assert_int_equal(au_share_orset_add((au_share_orset){ set }, big, sizeof big), AU_EINVAL);
    assert_int_equal(au_share_orset_remove((au_share_orset){ set }, big, sizeof big), AU_EINVAL);
    assert_int_equal(au_share_orset_add((au_share_orset){ set }, NULL, 3), AU_EINVAL);
    assert_int_equal(au_share_orset_add((au_share_orset){ set }, NULL, 0), AU_OK); /* the empty element */
    assert_false(au_share_orset_contains((au_share_orset){ set }, NULL, 3));
    au_share *map = NULL;
    assert_int_equal(
        au_share_start(w.node[0], c, &au_ormap_pncounter_type, &(au_share_config){ .name = "map" }, &map),
        AU_OK);
    assert_int_equal(au_share_ormap_pncounter_add((au_share_ormap_pncounter){ map }, NULL, 2, 1), AU_EINVAL);
    assert_int_equal(au_share_ormap_pncounter_remove((au_share_ormap_pncounter){ map }, NULL, 2), AU_EINVAL);
    int64_t v = 99;
    assert_false(au_share_ormap_pncounter_get((au_share_ormap_pncounter){ map }, NULL, 2, &v));
    assert_int_equal(v, 0);
    assert_false(au_share_ormap_pncounter_get((au_share_ormap_pncounter){ map }, "k", 1, NULL));
    au_sim_run(sim, AU_SEC(1));
    assert_true(au_share_orset_contains((au_share_orset){ set }, NULL, 0));
    assert_int_equal(au_share_orset_size((au_share_orset){ set }), 1);
    end_sim(&w);
}

/* A replica started on one node with another node's cluster would take that node's member id
 * as its own (two replicas writing one counter entry): refused. */
static void a_replica_with_another_nodes_cluster_is_refused(void **st) {
    static sw w;
    new_sim(&w, 213, 2);
    for (int i = 0; i < 2; i++) assert_int_equal(au_cluster_start(w.node[i], &CC, &w.cl[i]), AU_OK);
    au_share *s = NULL;
    assert_int_equal(
        au_share_start(w.node[1], w.cl[0], &au_gcounter_type, &(au_share_config){ .name = "x" }, &s),
        AU_EINVAL);
    assert_null(s);
    assert_int_equal(
        au_share_start(w.node[1], w.cl[1], &au_gcounter_type, &(au_share_config){ .name = "x" }, &s), AU_OK);
    end_sim(&w);
}

/* A replica started on a cluster that has left (au_cluster_leave: its actor is gone) could never
 * join: it was started (AU_OK), logged that it could not subscribe, and never dispersed a
 * change. Refused with AU_ESTOPPED; a replica on a running cluster of the node still starts. */
static void a_replica_on_a_cluster_that_left_is_refused(void **st) {
    static sw w;
    au_sim *sim = new_sim(&w, 215, 1);
    au_cluster *gone, *live;
    assert_int_equal(au_cluster_start(w.node[0], &CC, &gone), AU_OK);
    au_sim_run(sim, AU_MSEC(500));
    assert_int_equal(au_cluster_leave(gone), AU_OK);
    au_sim_run(sim, AU_MSEC(100));
    au_share *s = NULL;
    assert_int_equal(
        au_share_start(w.node[0], gone, &au_gcounter_type, &(au_share_config){ .name = "late" }, &s),
        AU_ESTOPPED);
    assert_null(s);
    au_sim_run(sim, AU_MSEC(100));
    au_cluster_config again = CC;
    again.name = "again";
    assert_int_equal(au_cluster_start(w.node[0], &again, &live), AU_OK);
    assert_int_equal(
        au_share_start(w.node[0], live, &au_gcounter_type, &(au_share_config){ .name = "late" }, &s),
        AU_OK);
    assert_non_null(s);
    end_sim(&w);
}

/* A handle built by hand around a replica of another type ((au_share_orset){ counter }: the
 * wrappers are plain structs) ran the ORSet's mutator on a GCounter's state, and read it as an
 * ORSet: memory corruption. Every typed call checks the replica's type: AU_ETYPE, or nothing
 * read (0, false); the replica is untouched. */
static void a_replica_wrapped_as_another_type_is_refused(void **st) {
    static sw w;
    au_sim *sim = new_sim(&w, 216, 1);
    sw_start(&w, 0, &CC, &au_gcounter_type, &(au_share_config){ .name = "g" });
    au_share *g = w.sh[0];
    assert_int_equal(au_share_gcounter_inc((au_share_gcounter){ g }, 4), AU_OK);
    au_sim_run(sim, AU_SEC(1));
    assert_int_equal(au_share_orset_add((au_share_orset){ g }, "x", 1), AU_ETYPE);
    assert_int_equal(au_share_orset_remove((au_share_orset){ g }, "x", 1), AU_ETYPE);
    assert_false(au_share_orset_contains((au_share_orset){ g }, "x", 1));
    assert_int_equal(au_share_orset_size((au_share_orset){ g }), 0);
    assert_int_equal(au_share_pncounter_add((au_share_pncounter){ g }, 5), AU_ETYPE);
    assert_int_equal(au_share_pncounter_value((au_share_pncounter){ g }), 0);
    assert_int_equal(au_share_ormap_pncounter_add((au_share_ormap_pncounter){ g }, "k", 1, 1), AU_ETYPE);
    assert_int_equal(au_share_ormap_pncounter_remove((au_share_ormap_pncounter){ g }, "k", 1), AU_ETYPE);
    int64_t v = 7;
    assert_false(au_share_ormap_pncounter_get((au_share_ormap_pncounter){ g }, "k", 1, &v));
    assert_int_equal(v, 0);
    assert_int_equal(au_share_ormap_pncounter_size((au_share_ormap_pncounter){ g }), 0);
    au_orset *copy = (au_orset *)1;
    assert_int_equal(au_share_orset_snapshot((au_share_orset){ g }, &copy), AU_ETYPE);
    assert_null(copy);
    au_sim_run(sim, AU_SEC(1));
    assert_int_equal(au_share_gcounter_value((au_share_gcounter){ g }), 4);
    au_share_stats ss;
    au_share_stats_get(g, &ss);
    assert_int_equal(ss.mutations, 1);
    assert_int_equal(ss.mutations_failed, 0);
    end_sim(&w);
}

/* Knobs at the far end of their types: the replicas still converge without loss, and nothing
 * hangs or crashes; max_message of one byte refuses every send and counts it. */
static void absurd_knobs_neither_hang_nor_crash(void **st) {
    static sw w;
    au_sim *sim = new_sim(&w, 203, 3);
    au_share_config pc = { .name = "k", .amount = UINT_MAX, .timeout = UINT64_MAX / 4,
                           .catchup_delay = UINT64_MAX - 1, .prune_delay = UINT64_MAX,
                           .prune_failed = UINT64_MAX, .ack_delay = UINT64_MAX - 1,
                           .coalesce = AU_SHARE_COALESCE_NONE };
    for (int i = 0; i < 3; i++) sw_start(&w, i, &CC, &au_gcounter_type, &pc);
    au_sim_run(sim, AU_SEC(2));
    for (int i = 0; i < 3; i++)
        assert_int_equal(au_share_gcounter_inc((au_share_gcounter){ w.sh[i] }, 1), AU_OK);
    sw_gc_goal g = { &w, 0, 3, 3 };
    assert_true(sim_until(&w, sw_gcounters_are, &g, AU_SEC(20)));
    au_sim_run(sim, AU_SEC(2));
    end_sim(&w);

    sim = new_sim(&w, 204, 2);
    au_share_config tiny = { .name = "tiny", .max_message = 1, .selector = AU_SHARE_ALL };
    for (int i = 0; i < 2; i++) sw_start(&w, i, &CC, &au_gcounter_type, &tiny);
    au_sim_run(sim, AU_SEC(2));
    assert_int_equal(au_share_gcounter_inc((au_share_gcounter){ w.sh[0] }, 5), AU_OK);
    au_sim_run(sim, AU_SEC(5));
    au_share_stats s0;
    au_share_stats_get(w.sh[0], &s0);
    assert_true(s0.drops_too_big >= 1);
    assert_int_equal(au_share_gcounter_value((au_share_gcounter){ w.sh[1] }), 0);
    assert_int_equal(au_share_gcounter_value((au_share_gcounter){ w.sh[0] }), 5);
    end_sim(&w);
}

/* A timeout below a millisecond is refused: one of 1 ns was accepted, and a peer that never
 * acks (another type under the name) was then re-sent to as fast as the clock allowed, so the
 * simulation never got past that instant. At the shortest allowed timeout it does not spin. */
static void a_timeout_below_a_millisecond_is_refused_and_the_shortest_does_not_spin(void **st) {
    static sw w;
    au_sim *sim = new_sim(&w, 210, 2);
    au_cluster *c;
    au_share *s = NULL;
    assert_int_equal(au_cluster_start(w.node[0], &CC, &c), AU_OK);
    assert_int_equal(
        au_share_start(w.node[0], c, &au_gcounter_type, &(au_share_config){ .name = "f", .timeout = 1 }, &s),
        AU_EINVAL);
    assert_int_equal(au_share_start(w.node[0], c, &au_gcounter_type,
                                    &(au_share_config){ .name = "f", .timeout = AU_MSEC(1) - 1 }, &s),
                     AU_EINVAL);
    assert_null(s);
    end_sim(&w);

    sim = new_sim(&w, 211, 2);
    au_share_config pc = { .name = "fast", .timeout = AU_MSEC(1), .ack_delay = AU_SHARE_ACK_NOW,
                           .coalesce = AU_SHARE_COALESCE_NONE, .catchup_delay = 1 };
    sw_start(&w, 0, &CC, &au_gcounter_type, &pc);
    sw_start(&w, 1, &CC, &au_pncounter_type, &pc);
    au_sim_run(sim, AU_SEC(1));
    assert_int_equal(au_share_gcounter_inc((au_share_gcounter){ w.sh[0] }, 1), AU_OK);
    uint64_t e0 = au_sim_events(sim);
    au_sim_run(sim, AU_MSEC(200));
    uint64_t events = au_sim_events(sim) - e0;
    fprintf(stderr, "200 ms with a 1 ms timeout: %llu events\n", (unsigned long long)events);
    assert_true(events < 100000);
    end_sim(&w);
}

/* ---- mutators ---------------------------------------------------------------------------------- */

static au_err failing(void *state, void *delta, uint64_t replica, const void *arg, size_t len) {
    (void)state, (void)delta, (void)replica, (void)arg, (void)len;
    return AU_EINVAL;
}
static au_err nothing(void *state, void *delta, uint64_t replica, const void *arg, size_t len) {
    (void)state, (void)delta, (void)replica, (void)arg, (void)len;
    return AU_OK;
}

static void failing_and_no_op_mutators_change_and_send_nothing(void **st) {
    static sw w;
    au_sim *sim = new_sim(&w, 205, 2);
    au_share_config pc = { .name = "m" };
    for (int i = 0; i < 2; i++) sw_start(&w, i, &CC, &au_gcounter_type, &pc);
    au_sim_run(sim, AU_SEC(2));
    uint64_t sent0 = SW_STAT(&w, deltas_sent) + SW_STAT(&w, states_sent);
    assert_int_equal(au_share_mutate(w.sh[0], failing, "x", 1), AU_OK);
    assert_int_equal(au_share_mutate(w.sh[0], nothing, NULL, 0), AU_OK);
    au_sim_run(sim, AU_SEC(2));
    au_share_stats s0;
    au_share_stats_get(w.sh[0], &s0);
    assert_int_equal(s0.mutations_failed, 1);
    assert_int_equal(s0.mutations, 0);
    assert_int_equal(s0.clock, 0);
    assert_int_equal(SW_STAT(&w, deltas_sent) + SW_STAT(&w, states_sent), sent0);
    end_sim(&w);
}

/* ---- concurrency ------------------------------------------------------------------------------- */

enum { ACTORS = 16, EACH = 50 };
AU_LOCAL_ROOT(go_msg, (go, int32_t, AU_LOCAL));
typedef struct bumper { au_share *s; } bumper;
static void bumper_recv(au_ctx *ctx, bumper *self, go_msg *m) {
    for (int k = 0; k < m->go; k++) au_share_gcounter_inc((au_share_gcounter){ self->s }, 1);
    if (m->go > 1) au_send(au_self(ctx, go_msg), (go_msg){ .go = m->go - 1 }); /* more, later */
}
AU_ACTOR(bumper_actor, bumper, go_msg, .recv = bumper_recv);

static void many_actors_mutating_one_replica_at_once_lose_nothing(void **st) {
    static sw w;
    au_sim *sim = new_sim(&w, 206, 3);
    au_share_config pc = { .name = "many" };
    for (int i = 0; i < 3; i++) sw_start(&w, i, &CC, &au_gcounter_type, &pc);
    au_sim_run(sim, AU_SEC(1));
    /* 16 actors on node 0 and 16 on node 1, each adding 1+2+...+10 in bursts across turns */
    for (int n = 0; n < 2; n++)
        for (int a = 0; a < ACTORS; a++) {
            go_msg_lref l = au_spawn(w.node[n], bumper_actor, NULL, &(bumper){ w.sh[n] });
            assert_int_equal(au_send(l, (go_msg){ .go = 10 }), AU_OK);
        }
    sw_gc_goal g = { &w, 0, 3, 2 * ACTORS * 55 };
    assert_true(sim_until(&w, sw_gcounters_are, &g, AU_SEC(30)));
    end_sim(&w);
}

/* Eight actors on each of two nodes add their own elements and remove every other one of them,
 * all at once; then one node re-adds an element while another removes it, concurrently: every
 * replica ends with exactly the expected set, the concurrent add winning. */
typedef struct setter { au_share *s; int node, k; } setter;
static void setter_recv(au_ctx *ctx, setter *self, go_msg *m) {
    (void)ctx, (void)m;
    char e[32];
    au_share_orset h = { self->s };
    for (int i = 0; i < 20; i++) {
        snprintf(e, sizeof e, "n%d-a%d-%d", self->node, self->k, i);
        au_share_orset_add(h, e, strlen(e));
        if (i % 2) au_share_orset_remove(h, e, strlen(e));
    }
}
AU_ACTOR(setter_actor, setter, go_msg, .recv = setter_recv);
typedef struct set_goal { sw *w; int extra; } set_goal;
static bool sets_done(void *arg) {
    set_goal *g = arg;
    for (int i = 0; i < 3; i++) {
        au_share_orset h = { g->w->sh[i] };
        if (au_share_orset_size(h) != 2 * 8 * 10 + (size_t)g->extra) return false;
        if (g->extra && !au_share_orset_contains(h, "x", 1)) return false;
        if (au_share_orset_contains(h, "n0-a0-1", 7)) return false;    /* removed */
        if (!au_share_orset_contains(h, "n1-a7-18", 8)) return false;  /* kept */
    }
    return true;
}

static void many_actors_adding_and_removing_in_one_orset_converge_add_wins(void **st) {
    static sw w;
    au_sim *sim = new_sim(&w, 214, 3);
    au_share_config pc = { .name = "set" };
    for (int i = 0; i < 3; i++) sw_start(&w, i, &CC, &au_orset_type, &pc);
    au_sim_run(sim, AU_SEC(1));
    for (int n = 0; n < 2; n++)
        for (int k = 0; k < 8; k++) {
            go_msg_lref l = au_spawn(w.node[n], setter_actor, NULL, &(setter){ w.sh[n], n, k });
            assert_int_equal(au_send(l, (go_msg){ .go = 1 }), AU_OK);
        }
    set_goal g = { &w, 0 };
    assert_true(sim_until(&w, sets_done, &g, AU_SEC(30)));
    g.extra = 1;
    au_share_orset_add((au_share_orset){ w.sh[2] }, "x", 1);
    assert_true(sim_until(&w, sets_done, &g, AU_SEC(30))); /* everyone has x */
    au_share_orset_add((au_share_orset){ w.sh[0] }, "x", 1);    /* a new add ... */
    au_share_orset_remove((au_share_orset){ w.sh[1] }, "x", 1); /* ... and a remove not seeing it */
    au_sim_run(sim, AU_SEC(5));
    assert_true(sets_done(&g)); /* add-wins: x stays */
    end_sim(&w);
}

/* Real threads: four threads add to one replica at once while another thread reads. */
enum { THREADS = 4, PER_THREAD = 2000 };
typedef struct thr { au_share *s; au_share *set; int k; } thr;
static void *thread_bump(void *arg) {
    thr *t = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        while (au_share_gcounter_inc((au_share_gcounter){ t->s }, 1) != AU_OK)
            nanosleep(&(struct timespec){ 0, 1000000 }, NULL); /* a full mailbox: try again */
        if (i % 100 == 0) {
            char e[16];
            snprintf(e, sizeof e, "t%d-%d", t->k, i);
            while (au_share_orset_add((au_share_orset){ t->set }, e, strlen(e)) != AU_OK)
                nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
        }
    }
    return NULL;
}
typedef struct udp_goal { sw *w; au_share *sets[2]; } udp_goal;
static bool udp_done(void *arg) {
    udp_goal *g = arg;
    for (int i = 0; i < 2; i++) {
        if (au_share_gcounter_value((au_share_gcounter){ g->w->sh[i] }) != THREADS * PER_THREAD) return false;
        if (au_share_orset_size((au_share_orset){ g->sets[i] }) != THREADS * PER_THREAD / 100) return false;
    }
    return true;
}

static void many_threads_mutating_one_replica_over_udp_lose_nothing(void **st) {
    static sw w;
    sw_init(&w, NULL);
    for (int i = 0; i < 2; i++) sw_node(&w, i);
    au_share_config pc = { .name = "threads" };
    udp_goal g = { &w, { NULL, NULL } };
    for (int i = 0; i < 2; i++) {
        sw_start(&w, i, &(au_cluster_config){ .ping_timeout = AU_MSEC(100) }, &au_gcounter_type, &pc);
        assert_int_equal(au_share_start(w.node[i], w.cl[i], &au_orset_type,
                                        &(au_share_config){ .name = "tset" }, &g.sets[i]),
                         AU_OK);
    }
    pthread_t th[THREADS];
    thr args[THREADS];
    for (int k = 0; k < THREADS; k++) {
        args[k] = (thr){ w.sh[k % 2], g.sets[k % 2], k };
        assert_int_equal(pthread_create(&th[k], NULL, thread_bump, &args[k]), 0);
    }
    for (int k = 0; k < THREADS; k++) pthread_join(th[k], NULL);
    bool ok = sw_wait(udp_done, &g, sw_valgrind() ? 120 : 30);
    if (!ok)
        for (int i = 0; i < 2; i++)
            fprintf(stderr, "replica %d: %llu, set %zu\n", i,
                    (unsigned long long)au_share_gcounter_value((au_share_gcounter){ w.sh[i] }),
                    au_share_orset_size((au_share_orset){ g.sets[i] }));
    assert_true(ok);
    sw_stop(&w);
}

/* A node that crashes and restarts on the same port is a new member with a new id: the old
 * run's count stays (and is pruned into one survivor's entry once it was REPLACED), the new run
 * catches up, and no replica counts anything twice. */
typedef struct pn_goal { sw *w; int64_t want; } pn_goal;
static bool pncounters_are(void *arg) {
    pn_goal *g = arg;
    for (int i = 0; i < g->w->n; i++)
        if (g->w->node[i] && au_share_pncounter_value((au_share_pncounter){ g->w->sh[i] }) != g->want)
            return false;
    return true;
}

static void a_replica_restarted_on_the_same_port_counts_nothing_twice(void **st) {
    static sw w;
    au_sim *sim = new_sim(&w, 212, 3);
    au_share_config pc = { .name = "restart", .prune_delay = AU_SEC(2) };
    for (int i = 0; i < 3; i++) sw_start(&w, i, &CC, &au_pncounter_type, &pc);
    for (int i = 0; i < 3; i++) au_share_pncounter_add((au_share_pncounter){ w.sh[i] }, 10 * (i + 1));
    pn_goal g = { &w, 60 };
    assert_true(sim_until(&w, pncounters_are, &g, AU_SEC(20)));
    uint64_t old_id = au_share_replica(w.sh[2]);
    au_node_stop(w.node[2]), w.node[2] = NULL; /* a crash: no leave */
    assert_int_equal(au_node_start(&(au_node_config){ .driver = w.drv, .workers = 1, .no_spin = true,
                                                      .bind = w.addr[2] }, &w.node[2]), AU_OK);
    assert_string_equal(au_node_address(w.node[2]), w.addr[2]);
    sw_start(&w, 2, &CC, &au_pncounter_type, &pc);
    assert_true(au_share_replica(w.sh[2]) != old_id);
    au_share_pncounter_add((au_share_pncounter){ w.sh[2] }, -5);
    g.want = 55;
    assert_true(sim_until(&w, pncounters_are, &g, AU_SEC(30)));
    au_sim_run(sim, AU_SEC(10)); /* the REPLACED run is pruned meanwhile */
    assert_true(pncounters_are(&g));
    assert_true(SW_STAT(&w, pruned) >= 1);
    end_sim(&w);
}

/* ---- joining late, subscribers ----------------------------------------------------------------- */

static void mutations_made_while_the_seeds_are_down_spread_when_they_come_up(void **st) {
    static sw w;
    au_sim *sim = new_sim(&w, 207, 3);
    au_share_config pc = { .name = "late" };
    /* node 2 seeds nodes 0 and 1, whose clusters are not running yet */
    sw_start(&w, 2, &CC, &au_gcounter_type, &pc);
    assert_int_equal(au_share_gcounter_inc((au_share_gcounter){ w.sh[2] }, 4), AU_OK);
    au_sim_run(sim, AU_SEC(3)); /* it gave up and runs alone */
    assert_int_equal(au_share_gcounter_value((au_share_gcounter){ w.sh[2] }), 4);
    for (int i = 0; i < 2; i++)
        sw_start(&w, i, &(au_cluster_config){ .no_leave_on_stop = true }, &au_gcounter_type, &pc);
    assert_int_equal(au_share_gcounter_inc((au_share_gcounter){ w.sh[0] }, 1), AU_OK);
    sw_gc_goal g = { &w, 0, 3, 5 };
    assert_true(sim_until(&w, sw_gcounters_are, &g, AU_SEC(30)));
    end_sim(&w);
}

AU_LOCAL_ROOT(ch_msg, (changed, au_share_changed, AU_LOCAL));
typedef struct watcher { int *n; uint64_t *last; } watcher;
static void ch_recv(au_ctx *ctx, watcher *self, ch_msg *m) {
    (void)ctx;
    (*self->n)++;
    au_share_gcounter h = au_share_gcounter_of(&m->changed);
    if (h.s) *self->last = au_share_gcounter_value(h);
}
AU_ACTOR(ch_actor, watcher, ch_msg, .recv = ch_recv);

static void late_and_stopped_subscribers(void **st) {
    static sw w;
    au_sim *sim = new_sim(&w, 208, 2);
    au_share_config pc = { .name = "subs" };
    for (int i = 0; i < 2; i++) sw_start(&w, i, &CC, &au_gcounter_type, &pc);
    au_share_gcounter_inc((au_share_gcounter){ w.sh[0] }, 3);
    sw_gc_goal g = { &w, 0, 2, 3 };
    assert_true(sim_until(&w, sw_gcounters_are, &g, AU_SEC(10)));
    int n1 = 0, n2 = 0;
    uint64_t last1 = 0, last2 = 0;
    ch_msg_lref a = au_spawn(w.node[1], ch_actor, NULL, &(watcher){ &n1, &last1 });
    ch_msg_lref b = au_spawn(w.node[1], ch_actor, NULL, &(watcher){ &n2, &last2 });
    assert_int_equal(au_share_subscribe(w.sh[1], au_narrow_local(ch_msg, au_share_changed, a)), AU_OK);
    assert_int_equal(au_share_subscribe(w.sh[1], au_narrow_local(ch_msg, au_share_changed, b)), AU_OK);
    au_sim_run(sim, AU_MSEC(100));
    assert_true(n1 >= 1 && n2 >= 1); /* the state as it is, at once */
    assert_int_equal(last1, 3);
    au_stop(a);
    au_sim_run(sim, AU_MSEC(100));
    int before = n1;
    au_share_gcounter_inc((au_share_gcounter){ w.sh[0] }, 2);
    au_share_gcounter_inc((au_share_gcounter){ w.sh[1] }, 2);
    g.want = 7;
    assert_true(sim_until(&w, sw_gcounters_are, &g, AU_SEC(10)));
    au_sim_run(sim, AU_MSEC(200));
    assert_int_equal(n1, before);
    assert_int_equal(last2, 7);
    end_sim(&w);
}

/* A subscriber subscribed twice is one subscriber: it is told of each change once, as often as
 * one subscribed once (it was told twice, as if two changes had come). */
static void a_subscriber_subscribed_twice_is_told_once(void **st) {
    static sw w;
    au_sim *sim = new_sim(&w, 214, 2);
    au_share_config pc = { .name = "twice" };
    for (int i = 0; i < 2; i++) sw_start(&w, i, &CC, &au_gcounter_type, &pc);
    au_sim_run(sim, AU_SEC(1));
    int n1 = 0, n2 = 0;
    uint64_t last1 = 0, last2 = 0;
    ch_msg_lref a = au_spawn(w.node[1], ch_actor, NULL, &(watcher){ &n1, &last1 });
    ch_msg_lref b = au_spawn(w.node[1], ch_actor, NULL, &(watcher){ &n2, &last2 });
    assert_int_equal(au_share_subscribe(w.sh[1], au_narrow_local(ch_msg, au_share_changed, a)), AU_OK);
    assert_int_equal(au_share_subscribe(w.sh[1], au_narrow_local(ch_msg, au_share_changed, a)), AU_OK);
    assert_int_equal(au_share_subscribe(w.sh[1], au_narrow_local(ch_msg, au_share_changed, b)), AU_OK);
    au_sim_run(sim, AU_MSEC(100));
    assert_int_equal(n1, 1);
    assert_int_equal(n2, 1);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(au_share_gcounter_inc((au_share_gcounter){ w.sh[k % 2] }, 1), AU_OK);
        au_sim_run(sim, AU_MSEC(500));
    }
    sw_gc_goal g = { &w, 0, 2, 3 };
    assert_true(sim_until(&w, sw_gcounters_are, &g, AU_SEC(10)));
    au_sim_run(sim, AU_MSEC(200));
    assert_true(n2 >= 2);
    assert_int_equal(n1, n2);
    assert_int_equal(last1, 3);
    end_sim(&w);
}

/* ---- stopping with work in flight ------------------------------------------------------------- */

static void stopping_with_mutations_queued_and_dispersal_in_flight_frees_everything(void **st) {
    static sw w;
    au_sim *sim = new_sim(&w, 209, 5);
    for (int i = 0; i < 5; i++) sw_faults(&w, i, 0.3, AU_MSEC(5), AU_MSEC(20));
    au_share_config pc = { .name = "stop", .selector = AU_SHARE_OUT_OF_DATE };
    for (int i = 0; i < 5; i++) {
        sw_start(&w, i, &CC, &au_orset_type, &pc);
        for (int k = 0; k < 50; k++) {
            char e[16];
            snprintf(e, sizeof e, "n%d-%d", i, k);
            assert_int_equal(au_share_orset_add((au_share_orset){ w.sh[i] }, e, strlen(e)), AU_OK);
        }
    }
    au_node_stop(w.node[4]), w.node[4] = NULL; /* before it ran anything: mutations queued */
    au_sim_run(sim, AU_MSEC(300));             /* joins, full states, deltas in flight */
    for (int i = 0; i < 4; i++) au_share_orset_remove((au_share_orset){ w.sh[i] }, "n0-1", 4);
    au_node_stop(w.node[3]), w.node[3] = NULL;
    au_sim_run(sim, AU_MSEC(30));
    end_sim(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_name_with_two_types_is_refused_and_counted_not_mixed),
        cmocka_unit_test(the_sender_learns_the_type_mismatch_and_stops),
        cmocka_unit_test(null_empty_and_absurd_arguments_get_error_codes),
        cmocka_unit_test(a_replica_with_another_nodes_cluster_is_refused),
        cmocka_unit_test(a_replica_on_a_cluster_that_left_is_refused),
        cmocka_unit_test(a_replica_wrapped_as_another_type_is_refused),
        cmocka_unit_test(absurd_knobs_neither_hang_nor_crash),
        cmocka_unit_test(a_timeout_below_a_millisecond_is_refused_and_the_shortest_does_not_spin),
        cmocka_unit_test(failing_and_no_op_mutators_change_and_send_nothing),
        cmocka_unit_test(many_actors_mutating_one_replica_at_once_lose_nothing),
        cmocka_unit_test(many_actors_adding_and_removing_in_one_orset_converge_add_wins),
        cmocka_unit_test(many_threads_mutating_one_replica_over_udp_lose_nothing),
        cmocka_unit_test(a_replica_restarted_on_the_same_port_counts_nothing_twice),
        cmocka_unit_test(mutations_made_while_the_seeds_are_down_spread_when_they_come_up),
        cmocka_unit_test(late_and_stopped_subscribers),
        cmocka_unit_test(a_subscriber_subscribed_twice_is_told_once),
        cmocka_unit_test(stopping_with_mutations_queued_and_dispersal_in_flight_frees_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
