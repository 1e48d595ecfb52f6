/* test_contracts.c — what the headers promise a newcomer about ownership and reach, held to it:
 *  - a string moved out of a received message, as actor.h shows, outlives recv (whether the
 *    message came from another node, owned, or from a local sender, a view to copy);
 *  - a promise's reply is the caller's, freed with au_value_free (ASan and valgrind see a leak
 *    or a double free if either side got this wrong);
 *  - any reference stops its actor: one forged on another node for one interface only (ref.h);
 *  - au_watch on a remote reference reports that actor stopping, once, though its node lives on
 *    and is later declared gone too (actor.h). */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "support/recorder.h"

/* ---- moving a field out of a received message ------------------------------------------------ */

AU_RECORD(blob, (au_str, text), (au_bytes, data));
AU_ROOT(keeper_msg, (keep, au_str, AU_REMOTE), (show, au_str_ref, AU_PLAIN),
        (both, blob_ref, AU_PLAIN));

typedef struct keeper {
    au_str kept;
} keeper;

static void keeper_recv(au_ctx *ctx, keeper *self, keeper_msg *msg) {
    switch (msg->tag) {
    case keeper_msg_keep: /* exactly the pattern of actor.h */
        au_str_free(&self->kept);
        self->kept = msg->keep.owned ? msg->keep : au_str_dup(msg->keep.ptr, msg->keep.len);
        msg->keep = (au_str){ 0 };
        break;
    case keeper_msg_show:
        au_send(msg->show, au_str_dup(self->kept.ptr, self->kept.len));
        break;
    case keeper_msg_both:
        au_send(msg->both, ((blob){ au_str_dup(self->kept.ptr, self->kept.len),
                                    au_bytes_dup("\x01\x02\x03", 3) }));
        break;
    }
}
static void keeper_stop(au_ctx *ctx, keeper *self) { au_str_free(&self->kept); }
AU_ACTOR(keeper_actor, keeper, keeper_msg, .recv = keeper_recv, .post_stop = keeper_stop);

/* Asks the keeper what it holds, from this thread; the reply is ours to free. */
static void expect_kept(keeper_msg_ref k, au_node *node, const char *want) {
    au_str_promise p = au_promise_new(node, au_str);
    assert_non_null(p.raw);
    au_send(k, ((keeper_msg){ .tag = keeper_msg_show, .show = au_promise_ref(p, au_str) }));
    au_str got = { 0 };
    assert_int_equal(au_promise_wait(p, au_str, &got, AU_SEC(5)), AU_OK);
    assert_string_equal(got.ptr, want);
    assert_int_equal(got.owned, 1);
    au_value_free(&au_type_au_str, &got);
}

static void a_string_moved_out_of_a_message_outlives_recv(void **s) {
    au_node *node;
    assert_int_equal(au_node_start(NULL, &node), AU_OK);
    keeper_msg_ref k = au_spawn(node, keeper_actor, "keeper", NULL);
    keeper_msg_ref far = au_forge(keeper_msg, keeper_msg, node, "keeper", au_node_address(node));
    assert_false(au_ref_is_null(far.raw));

    /* From the network: decoded, owned, moved out. */
    au_send(au_narrow(keeper_msg, au_str, far), au_str_dup("from afar", 9));
    expect_kept(far, node, "from afar");
    /* From this node: a view of the sender's buffer, copied; the buffer is then changed. */
    char buf[16] = "local view";
    au_send(au_narrow(keeper_msg, au_str, k), au_str_view(buf));
    expect_kept(k, node, "local view");
    memcpy(buf, "CHANGED!!!", 10);
    expect_kept(k, node, "local view");
    au_node_stop(node); /* post_stop frees what it kept */
}

static void a_promise_reply_is_the_callers_to_free(void **s) {
    au_node *node;
    assert_int_equal(au_node_start(NULL, &node), AU_OK);
    keeper_msg_ref k = au_spawn(node, keeper_actor, "keeper", NULL);
    keeper_msg_ref far = au_forge(keeper_msg, keeper_msg, node, "keeper", au_node_address(node));
    au_send(au_narrow(keeper_msg, au_str, k), au_str_lit("kept"));
    for (int remote = 0; remote < 2; remote++) {
        blob_promise p = au_promise_new(node, blob);
        au_send(remote ? far : k,
                ((keeper_msg){ .tag = keeper_msg_both, .both = au_promise_ref(p, blob) }));
        blob got = { 0 };
        assert_int_equal(au_promise_wait(p, blob, &got, AU_SEC(5)), AU_OK);
        assert_string_equal(got.text.ptr, "kept");
        assert_int_equal(got.data.len, 3);
        assert_memory_equal(got.data.ptr, "\x01\x02\x03", 3);
        au_value_free(&au_type_blob, &got); /* both fields, as actor.h says */
    }
    /* A timed-out wait leaves *out as it was: nothing to free. */
    blob_promise never = au_promise_new(node, blob);
    blob untouched = { .text = au_str_lit("mine") };
    assert_int_equal(au_promise_wait(never, blob, &untouched, AU_MSEC(20)), AU_ETIMEDOUT);
    assert_string_equal(untouched.text.ptr, "mine");
    au_node_stop(node);
}

/* ---- any reference stops its actor ------------------------------------------------------------ */

AU_ROOT(victim_msg, (ping, int64_t, AU_REMOTE), (note, au_str, AU_REMOTE));

typedef struct victim {
    recorder *log;
} victim;
static void victim_recv(au_ctx *ctx, victim *self, victim_msg *m) { recorder_add(self->log, 1); }
static void victim_stop(au_ctx *ctx, victim *self) { recorder_add(self->log, -1); }
AU_ACTOR(victim_actor, victim, victim_msg, .recv = victim_recv, .post_stop = victim_stop);

static void a_reference_forged_for_one_interface_can_stop_the_actor(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *a, *b;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    au_spawn(a, victim_actor, "victim", &(victim){ &log });
    /* b knows the name and forges the narrowest reference there is: one interface. */
    int64_t_ref ping = au_forge(victim_msg, int64_t, b, "victim", au_node_address(a));
    assert_int_equal(au_send(ping, (int64_t)1), AU_OK);
    assert_true(recorder_wait(&log, 1, 5000));
    assert_int_equal(au_stop(ping), AU_OK);
    assert_true(recorder_wait(&log, 2, 5000));
    assert_int_equal(recorder_at(&log, 1), -1); /* post_stop ran: it stopped */
    au_node_stop(b);
    au_node_stop(a);
    recorder_destroy(&log);
}

/* ---- au_watch on a remote reference ----------------------------------------------------------- */

AU_ROOT(watcher_msg, (watch, victim_msg_ref, AU_PLAIN));

typedef struct watcher {
    int64_t_ref report;
} watcher;
static void watcher_recv(au_ctx *ctx, watcher *self, watcher_msg *m) {
    au_send(self->report, (int64_t)au_watch(ctx, m->watch)); /* AU_OK: 0 */
}
static void watcher_terminated(au_ctx *ctx, watcher *self, au_ref who) {
    au_send(self->report, (int64_t)200);
}
AU_ACTOR(watcher_actor, watcher, watcher_msg, .recv = watcher_recv,
         .terminated = watcher_terminated);

static void a_remote_watch_reports_the_actor_once(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *a, *b;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    victim_msg_ref on_b = au_spawn(b, victim_actor, "victim", &(victim){ &log });
    au_probe *p = au_probe_new(a, int64_t);
    watcher_msg_ref w = au_spawn(a, watcher_actor, NULL, &(watcher){ au_probe_ref(p, int64_t) });
    victim_msg_ref far = au_forge(victim_msg, victim_msg, a, "victim", au_node_address(b));
    au_send(w, ((watcher_msg){ .tag = watcher_msg_watch, .watch = far }));
    int64_t got;
    assert_int_equal(au_probe_expect(p, int64_t, &got, AU_SEC(5)), AU_OK);
    assert_int_equal(got, AU_OK);

    /* The actor stops on b, which lives on: a is told, once. */
    assert_int_equal(au_stop(on_b), AU_OK);
    assert_true(recorder_wait(&log, 1, 5000));
    assert_int_equal(recorder_at(&log, 0), -1);
    assert_int_equal(au_probe_expect(p, int64_t, &got, AU_SEC(5)), AU_OK);
    assert_int_equal(got, 200);
    assert_int_equal(au_probe_expect_none(p, AU_MSEC(200)), AU_OK);

    /* b is declared gone afterwards: nothing more. */
    assert_int_equal(au_peer_gone(a, au_node_address(b)), AU_OK);
    assert_int_equal(au_probe_expect_none(p, AU_MSEC(200)), AU_OK);
    au_probe_free(p);
    au_node_stop(a);
    au_node_stop(b);
    recorder_destroy(&log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_string_moved_out_of_a_message_outlives_recv),
        cmocka_unit_test(a_promise_reply_is_the_callers_to_free),
        cmocka_unit_test(a_reference_forged_for_one_interface_can_stop_the_actor),
        cmocka_unit_test(a_remote_watch_reports_the_actor_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
