/* test_ring.c — the ring scenario: 20 actors, each spawning the next in pre_start; a ball passed
 * 100 rounds with the exact (hop, sender) sequence asserted; then a cascade stop whose post_stop
 * order is asserted. Four variants: registered or anonymous × pooled or dedicated threads, and
 * each variant is checked for what makes it one:
 *   registered  every member is in the registry under "ring-member-<i>" (the cell and generation
 *               the member reports as its own), au_ctx_name says so, and spawning a running name
 *               again fails with AU_EEXIST; anonymous: no such name exists, and it can be taken
 *   dedicated   each member runs every turn on one thread of its own: 20 distinct threads, none
 *               of them the test's; pooled: all turns share the node's 2 worker threads
 * The message type is local-only: member 0 learns its successor (the leader) only from a
 * `successor` message carrying the leader's local reference, sent by member 1.
 * Actors never assert (cmocka's asserts belong to the test thread): they record what they see
 * and count anything wrong; the test thread asserts on the record. */
#include <aurum/aurum.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/internal.h"
#include "support/recorder.h"

enum { MEMBERS = 20, ROUNDS = 100, HOPS = MEMBERS * ROUNDS, WORKERS = 2 };

AU_RECORD(ring_ball, (uint32_t, hop), (uint32_t, sender));
AU_LOCAL_ROOT(ring_msg,
              (ball, ring_ball, AU_PLAIN),
              (start, au_unit, AU_PLAIN),
              (successor, ring_msg_lref, AU_LOCAL));

/* What the members saw, written by them under `lock`, read by the test thread. */
typedef struct ring_obs {
    pthread_mutex_t lock;
    au_ref self[MEMBERS];          /* each member's own reference, from pre_start */
    char name[MEMBERS][32];        /* au_ctx_name in pre_start ("" if anonymous) */
    pthread_t thread[MEMBERS];     /* the thread of the member's first ball */
    bool has_thread[MEMBERS];
    unsigned moved[MEMBERS];       /* balls handled on another thread than the first */
    unsigned faults;               /* anything a member found wrong (see fault_text) */
    char fault_text[160];
} ring_obs;

typedef struct ring_member {
    uint32_t index;
    ring_msg_lref leader;      /* carried down to member 1, which sends it to member 0 */
    ring_msg_lref successor;
    recorder *hops;            /* hop * 100 + sender, in arrival order */
    recorder *deaths;          /* member index, in post_stop order */
    ring_obs *obs;
    bool registered, dedicated;
} ring_member;

static void fault(ring_obs *o, const char *what, uint32_t index) {
    pthread_mutex_lock(&o->lock);
    if (o->faults++ == 0) snprintf(o->fault_text, sizeof o->fault_text, "member %u: %s", index, what);
    pthread_mutex_unlock(&o->lock);
}

static void note_thread(ring_obs *o, uint32_t i) {
    pthread_t me = pthread_self();
    pthread_mutex_lock(&o->lock);
    if (!o->has_thread[i]) {
        o->thread[i] = me;
        o->has_thread[i] = true;
    } else if (!pthread_equal(o->thread[i], me)) {
        o->moved[i]++;
    }
    pthread_mutex_unlock(&o->lock);
}

static void member_pre_start(au_ctx *ctx, ring_member *self);

static void pass_ball(ring_member *self, uint32_t hop) {
    if (au_ref_is_null(self->successor.raw)) {
        fault(self->obs, "a ball arrived before the successor was known", self->index);
        return;
    }
    if (au_send(self->successor, ((ring_msg){ .tag = ring_msg_ball,
                                              .ball = { .hop = hop, .sender = self->index } })) != AU_OK)
        fault(self->obs, "sending the ball failed", self->index);
}

static void member_recv(au_ctx *ctx, ring_member *self, ring_msg *msg) {
    switch (msg->tag) {
    case ring_msg_start:
        pass_ball(self, 1);
        break;
    case ring_msg_ball:
        note_thread(self->obs, self->index);
        recorder_add(self->hops, (int64_t)msg->ball.hop * 100 + msg->ball.sender);
        if (msg->ball.hop < HOPS) pass_ball(self, msg->ball.hop + 1);
        break;
    case ring_msg_successor:
        if (self->index != 0 || !au_ref_is_null(self->successor.raw))
            fault(self->obs, "an unexpected successor message", self->index);
        self->successor = msg->successor;
        break;
    }
}

static void member_post_stop(au_ctx *ctx, ring_member *self) {
    recorder_add(self->deaths, self->index);
    if (self->index > 0) au_stop(self->successor); /* the cascade: 19, 18, ..., 0 */
}

AU_ACTOR(member_actor, ring_member, ring_msg, .pre_start = member_pre_start, .recv = member_recv,
         .post_stop = member_post_stop);

static void member_name(uint32_t index, char *buf, size_t size) {
    snprintf(buf, size, "ring-member-%u", (unsigned)index);
}

static ring_msg_lref spawn_member(au_node *node, ring_member *st) {
    char name[32];
    member_name(st->index, name, sizeof name);
    return au_spawn_with(node, member_actor,
                         au_opts(.name = st->registered ? name : NULL, .dedicated = st->dedicated),
                         st);
}

static void member_pre_start(au_ctx *ctx, ring_member *self) {
    ring_obs *o = self->obs;
    const char *name = au_ctx_name(ctx);
    pthread_mutex_lock(&o->lock);
    o->self[self->index] = au_self(ctx, ring_msg).raw;
    snprintf(o->name[self->index], sizeof o->name[self->index], "%s", name ? name : "");
    pthread_mutex_unlock(&o->lock);

    if (self->index == MEMBERS - 1) self->leader = au_self(ctx, ring_msg);
    if (self->index == 0) {
        /* Knows nobody yet: its successor comes as a message. */
        if (!au_ref_is_null(self->successor.raw) || !au_ref_is_null(self->leader.raw))
            fault(o, "member 0 was spawned knowing its successor", 0);
        return;
    }
    ring_member next = *self;
    next.index = self->index - 1;
    next.successor = (ring_msg_lref){ 0 };
    if (next.index == 0) next.leader = (ring_msg_lref){ 0 };
    self->successor = spawn_member(au_ctx_node(ctx), &next);
    if (au_ref_is_null(self->successor.raw)) {
        fault(o, "spawning the next member failed", self->index);
        return;
    }
    if (next.index == 0 &&
        au_send(self->successor, ((ring_msg){ .tag = ring_msg_successor, .successor = self->leader })) != AU_OK)
        fault(o, "sending member 0 its successor failed", self->index);
}

/* Another actor of the same root type, for spawning under a member's name. */
static void idle_recv(au_ctx *ctx, ring_member *self, ring_msg *msg) {}
AU_ACTOR(idle_actor, ring_member, ring_msg, .recv = idle_recv);

static bool all_stopped(void *node) {
    au_node_stats st;
    au_node_stats_get(node, &st);
    return st.actors_live == 0;
}

/* The registry's entry for member i's name: AU_OK with its cell and generation, or an error. */
static au_err lookup(au_node *node, uint32_t i, au_cell **cell, uint32_t *gen) {
    char name[32];
    member_name(i, name, sizeof name);
    uint64_t other = 0;
    return au_registry_find(node, name, strlen(name), au_type_id(&au_type_ring_msg), cell, gen, &other);
}

static void check_names(au_node *node, ring_obs *obs, bool registered) {
    for (uint32_t i = 0; i < MEMBERS; i++) {
        char want[32];
        member_name(i, want, sizeof want);
        au_cell *cell = NULL;
        uint32_t gen = 0;
        au_err err = lookup(node, i, &cell, &gen);
        if (registered) {
            assert_string_equal(obs->name[i], want);
            assert_int_equal(err, AU_OK);
            assert_ptr_equal(cell, obs->self[i].target); /* the name leads to that very member */
            assert_int_equal(gen, obs->self[i].gen);
        } else {
            assert_string_equal(obs->name[i], "");
            assert_int_equal(err, AU_ENOTFOUND);
        }
    }
    /* A running member's name cannot be taken again; an anonymous ring leaves it free. */
    char name[32];
    member_name(7, name, sizeof name);
    ring_msg_lref again = au_spawn(node, idle_actor, name, NULL);
    if (registered) {
        assert_true(au_ref_is_null(again.raw));
        assert_int_equal(au_last_error(), AU_EEXIST);
    } else {
        assert_false(au_ref_is_null(again.raw));
        assert_int_equal(au_stop(again), AU_OK);
    }
}

static void check_threads(ring_obs *obs, bool dedicated) {
    pthread_t distinct[MEMBERS];
    size_t n = 0;
    for (uint32_t i = 0; i < MEMBERS; i++) {
        assert_true(obs->has_thread[i]);
        assert_false(pthread_equal(obs->thread[i], pthread_self()));
        bool seen = false;
        for (size_t k = 0; k < n; k++) seen = seen || pthread_equal(distinct[k], obs->thread[i]);
        if (!seen) distinct[n++] = obs->thread[i];
        if (dedicated) assert_int_equal(obs->moved[i], 0); /* its own thread, every turn */
    }
    print_message("%zu distinct threads ran the %d members\n", n, MEMBERS);
    if (dedicated) assert_int_equal(n, MEMBERS);
    else assert_true(n >= 1 && n <= WORKERS);
}

static void run_ring(bool registered, bool dedicated) {
    recorder hops, deaths;
    recorder_init(&hops);
    recorder_init(&deaths);
    ring_obs obs;
    memset(&obs, 0, sizeof obs);
    pthread_mutex_init(&obs.lock, NULL);
    au_node *node;
    assert_int_equal(au_node_start(&(au_node_config){ .no_network = true, .workers = WORKERS }, &node), AU_OK);

    ring_member leader = { .index = MEMBERS - 1, .hops = &hops, .deaths = &deaths, .obs = &obs,
                           .registered = registered, .dedicated = dedicated };
    ring_msg_lref l = spawn_member(node, &leader);
    assert_false(au_ref_is_null(l.raw));
    assert_int_equal(au_send(l, ((ring_msg){ .tag = ring_msg_start })), AU_OK);

    bool complete = recorder_wait(&hops, HOPS, 60000);
    pthread_mutex_lock(&obs.lock);
    if (obs.faults) print_error("%u fault(s) in the actors, first: %s\n", obs.faults, obs.fault_text);
    assert_int_equal(obs.faults, 0);
    pthread_mutex_unlock(&obs.lock);
    assert_true(complete);
    for (uint32_t h = 1; h <= HOPS; h++) {
        uint32_t sender = (MEMBERS - 1 + MEMBERS - ((h - 1) % MEMBERS)) % MEMBERS;
        assert_int_equal(recorder_at(&hops, h - 1), (int64_t)h * 100 + sender);
    }
    pthread_mutex_lock(&obs.lock);
    check_names(node, &obs, registered);
    check_threads(&obs, dedicated);
    pthread_mutex_unlock(&obs.lock);

    assert_int_equal(au_stop(l), AU_OK);
    assert_true(recorder_wait(&deaths, MEMBERS, 60000));
    for (uint32_t i = 0; i < MEMBERS; i++)
        assert_int_equal(recorder_at(&deaths, i), MEMBERS - 1 - i);

    /* post_stop runs before the actor is counted as stopped: wait for the counter. */
    assert_true(wait_until(all_stopped, node, 30000));
    au_node_stats st;
    au_node_stats_get(node, &st);
    assert_int_equal(st.actors_spawned, MEMBERS + (registered ? 0 : 1)); /* + the idle one */
    for (uint32_t i = 0; i < MEMBERS; i++) { /* a stopped member's name is gone with it */
        au_cell *cell;
        uint32_t gen;
        assert_int_equal(lookup(node, i, &cell, &gen), AU_ENOTFOUND);
    }
    au_node_stop(node);
    assert_int_equal(recorder_count(&hops), HOPS);
    assert_int_equal(recorder_count(&deaths), MEMBERS);
    assert_int_equal(obs.faults, 0);
    pthread_mutex_destroy(&obs.lock);
    recorder_destroy(&hops);
    recorder_destroy(&deaths);
}

static void ring_registered_pooled(void **s) { run_ring(true, false); }
static void ring_anonymous_pooled(void **s) { run_ring(false, false); }
static void ring_registered_dedicated(void **s) { run_ring(true, true); }
static void ring_anonymous_dedicated(void **s) { run_ring(false, true); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ring_registered_pooled),
        cmocka_unit_test(ring_anonymous_pooled),
        cmocka_unit_test(ring_registered_dedicated),
        cmocka_unit_test(ring_anonymous_dedicated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
