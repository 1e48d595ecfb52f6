/* test_ring.c — the ring scenario: 20 actors, each spawning the next in pre_start; a ball passed
 * 100 rounds with the exact (hop, sender) sequence asserted; then a cascade stop whose post_stop
 * order is asserted. Four variants: registered or anonymous × pooled or dedicated threads. The
 * message type is local-only (it carries the successor's local reference). */
#include <aurum/aurum.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "support/recorder.h"

enum { MEMBERS = 20, ROUNDS = 100, HOPS = MEMBERS * ROUNDS };

AU_RECORD(ring_ball, (uint32_t, hop), (uint32_t, sender));
AU_LOCAL_ROOT(ring_msg,
              (ball, ring_ball, AU_PLAIN),
              (start, au_unit, AU_PLAIN),
              (successor, ring_msg_lref, AU_LOCAL));

typedef struct ring_member {
    uint32_t index;
    ring_msg_lref leader;      /* member 0's successor */
    ring_msg_lref successor;
    recorder *hops;            /* hop * 100 + sender, in arrival order */
    recorder *deaths;          /* member index, in post_stop order */
    bool registered, dedicated;
} ring_member;

static void member_pre_start(au_ctx *ctx, ring_member *self);

static void member_recv(au_ctx *ctx, ring_member *self, ring_msg *msg) {
    switch (msg->tag) {
    case ring_msg_start:
        au_send(self->successor, ((ring_msg){ .tag = ring_msg_ball,
                                              .ball = { .hop = 1, .sender = self->index } }));
        break;
    case ring_msg_ball:
        recorder_add(self->hops, (int64_t)msg->ball.hop * 100 + msg->ball.sender);
        if (msg->ball.hop < HOPS)
            au_send(self->successor, ((ring_msg){ .tag = ring_msg_ball,
                .ball = { .hop = msg->ball.hop + 1, .sender = self->index } }));
        break;
    case ring_msg_successor:
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

static ring_msg_lref spawn_member(au_node *node, ring_member *st) {
    char name[32];
    snprintf(name, sizeof name, "ring-member-%u", (unsigned)st->index);
    return au_spawn_with(node, member_actor,
                         au_opts(.name = st->registered ? name : NULL, .dedicated = st->dedicated),
                         st);
}

static void member_pre_start(au_ctx *ctx, ring_member *self) {
    if (self->index == MEMBERS - 1) self->leader = au_self(ctx, ring_msg);
    if (self->index == 0) {
        self->successor = self->leader;
        return;
    }
    ring_member next = *self;
    next.index = self->index - 1;
    self->successor = spawn_member(au_ctx_node(ctx), &next);
    assert_false(au_ref_is_null(self->successor.raw));
}

static bool all_stopped(void *node) {
    au_node_stats st;
    au_node_stats_get(node, &st);
    return st.actors_live == 0;
}

static void run_ring(bool registered, bool dedicated) {
    recorder hops, deaths;
    recorder_init(&hops);
    recorder_init(&deaths);
    au_node *node;
    assert_int_equal(au_node_start(&(au_node_config){ .no_network = true }, &node), AU_OK);

    ring_member leader = { .index = MEMBERS - 1, .hops = &hops, .deaths = &deaths,
                           .registered = registered, .dedicated = dedicated };
    ring_msg_lref l = spawn_member(node, &leader);
    assert_false(au_ref_is_null(l.raw));
    au_send(l, ((ring_msg){ .tag = ring_msg_start }));

    assert_true(recorder_wait(&hops, HOPS, 30000));
    for (uint32_t h = 1; h <= HOPS; h++) {
        uint32_t sender = (MEMBERS - 1 + MEMBERS - ((h - 1) % MEMBERS)) % MEMBERS;
        assert_int_equal(recorder_at(&hops, h - 1), (int64_t)h * 100 + sender);
    }

    assert_int_equal(au_stop(l), AU_OK);
    assert_true(recorder_wait(&deaths, MEMBERS, 30000));
    for (uint32_t i = 0; i < MEMBERS; i++)
        assert_int_equal(recorder_at(&deaths, i), MEMBERS - 1 - i);

    /* post_stop runs before the actor is counted as stopped: wait for the counter. */
    assert_true(wait_until(all_stopped, node, 10000));
    au_node_stats st;
    au_node_stats_get(node, &st);
    assert_int_equal(st.actors_spawned, MEMBERS);
    au_node_stop(node);
    assert_int_equal(recorder_count(&hops), HOPS);
    assert_int_equal(recorder_count(&deaths), MEMBERS);
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
