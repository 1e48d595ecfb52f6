/* test_contracts.c — what the headers promise a newcomer about ownership and reach, held to it:
 *  - a string moved out of a received message, as actor.h shows, outlives recv (whether the
 *    message came from another node, decoded, or from a local sender's view, copied by au_send);
 *  - a promise's reply is the caller's, freed with au_value_free (ASan and valgrind see a leak
 *    or a double free if either side got this wrong);
 *  - any reference stops its actor: one forged on another node for one interface only (ref.h),
 *    unless the actor opted out with .term = AU_TERM_LOCAL: then a Term over UDP is refused,
 *    counted and logged, its messages still arrive, and a local au_stop still stops it;
 *  - au_watch on a remote reference reports that actor stopping, once, though its node lives on
 *    and is later declared gone too (actor.h);
 *  - a local send has the value semantics of a remote one (ref.h): the sender overwriting the
 *    buffers its message borrowed (strings, bytes, an array) after au_send, or after
 *    au_send_after, changes nothing the receiver sees, and what arrives owns all it holds. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
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
        self->kept = msg->keep;
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

/* The WARN lines of the net module, captured through the log sink. */
static pthread_mutex_t lines_lock = PTHREAD_MUTEX_INITIALIZER;
static char lines[64][512];
static size_t nlines;
static void capture(void *user, au_log_module module, au_log_level level, const char *file,
                    int line, const char *message) {
    pthread_mutex_lock(&lines_lock);
    if (nlines < 64 && level == AU_LOG_WARN) snprintf(lines[nlines++], sizeof lines[0], "%s", message);
    pthread_mutex_unlock(&lines_lock);
}
static bool logged(const char *a, const char *b) {
    bool found = false;
    pthread_mutex_lock(&lines_lock);
    for (size_t i = 0; i < nlines && !found; i++) found = strstr(lines[i], a) && strstr(lines[i], b);
    pthread_mutex_unlock(&lines_lock);
    return found;
}

/* Waits (sleeping between looks) until node's drops_term_refused reaches n, or 5 s pass. */
static bool refused_reaches(au_node *node, uint64_t n) {
    for (int i = 0; i < 1000; i++) {
        au_node_stats st;
        au_node_stats_get(node, &st);
        if (st.drops_term_refused >= n) return st.drops_term_refused == n;
        nanosleep(&(struct timespec){ 0, 5000000 }, NULL);
    }
    return false;
}

static void an_actor_spawned_term_local_refuses_a_remote_term(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *a, *b;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    nlines = 0;
    au_log_set_sink(capture, NULL);
    victim_msg_ref local = au_spawn_with(a, victim_actor,
                                         au_opts(.name = "guarded", .term = AU_TERM_LOCAL),
                                         &(victim){ &log });
    assert_false(au_ref_is_null(local.raw));
    victim_msg_ref far = au_forge(victim_msg, victim_msg, b, "guarded", au_node_address(a));
    int64_t_ref ping = au_forge(victim_msg, int64_t, b, "guarded", au_node_address(a));

    /* Term over UDP, through the whole root and through one interface: sent, refused there. */
    assert_int_equal(au_stop(far), AU_OK);
    assert_true(refused_reaches(a, 1));
    assert_int_equal(au_stop(ping), AU_OK);
    assert_true(refused_reaches(a, 2));
    /* Still alive: a message sent after the refused Terms arrives (same sender, in order). */
    assert_int_equal(au_send(ping, (int64_t)1), AU_OK);
    assert_true(recorder_wait(&log, 1, 5000));
    assert_int_equal(recorder_at(&log, 0), 1);
    /* The WARN names the actor and says why. */
    assert_true(logged("guarded", "AU_TERM_LOCAL"));

    /* Its own node can still stop it. */
    assert_int_equal(au_stop(local), AU_OK);
    assert_true(recorder_wait(&log, 2, 5000));
    assert_int_equal(recorder_at(&log, 1), -1);
    au_log_set_sink(NULL, NULL);

    /* The default stays as it was: the same remote Term stops an actor spawned without it. */
    au_node_stats st;
    au_node_stats_get(a, &st);
    assert_int_equal(st.drops_term_refused, 2);
    recorder open;
    recorder_init(&open);
    au_spawn(a, victim_actor, "open", &(victim){ &open });
    assert_int_equal(au_stop(au_forge(victim_msg, victim_msg, b, "open", au_node_address(a))), AU_OK);
    assert_true(recorder_wait(&open, 1, 5000));
    assert_int_equal(recorder_at(&open, 0), -1);
    au_node_stats_get(a, &st);
    assert_int_equal(st.drops_term_refused, 2);

    /* A policy out of range is refused at spawn. */
    victim_msg_ref bad = au_spawn_with(a, victim_actor, au_opts(.term = (au_term_policy)7),
                                       &(victim){ &log });
    assert_true(au_ref_is_null(bad.raw));
    assert_int_equal(au_last_error(), AU_EINVAL);
    au_node_stop(b);
    au_node_stop(a);
    recorder_destroy(&open);
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

/* ---- local sends copy what the message borrows ------------------------------------------------ */

AU_ARRAY(int32_t);
AU_RECORD(parcel, (au_str, label), (au_bytes, data), (int32_t_array, nums), (int64_t, n));

/* A probe keeps each message as delivered, unprocessed, until expected: what it hands back is
 * what the receiver saw, however long after the send it looks. */
static void a_local_send_does_not_see_the_senders_later_writes(void **s) {
    au_node *node;
    assert_int_equal(au_node_start(NULL, &node), AU_OK);
    au_probe *p = au_probe_new(node, parcel);
    parcel_ref to = au_probe_ref(p, parcel);
    assert_true(au_ref_is_local(to.raw));

    for (int delayed = 0; delayed < 2; delayed++) {
        char text[32] = "original text";
        uint8_t data[4] = { 1, 2, 3, 4 };
        int32_t nums[3] = { 10, 20, 30 };
        parcel m = { au_str_view(text), { data, sizeof data, 0 }, { nums, 3, 0 }, 7 };
        if (delayed)
            assert_int_not_equal(au_send_after(to, AU_MSEC(1), m), 0);
        else
            assert_int_equal(au_send(to, m), AU_OK);
        /* The sender reuses its buffers at once. */
        memcpy(text, "OVERWRITTEN!!", 13);
        memset(data, 0xEE, sizeof data);
        nums[0] = nums[1] = nums[2] = -1;

        parcel got;
        assert_int_equal(au_probe_expect(p, parcel, &got, AU_SEC(5)), AU_OK);
        assert_string_equal(got.label.ptr, "original text");
        assert_int_equal(got.label.len, 13);
        assert_int_equal(got.data.len, 4);
        assert_memory_equal(got.data.ptr, "\x01\x02\x03\x04", 4);
        assert_int_equal(got.nums.len, 3);
        assert_int_equal(got.nums.ptr[0], 10);
        assert_int_equal(got.nums.ptr[2], 30);
        assert_int_equal(got.n, 7);
        /* The copies are the receiver's, as a decoded remote message's would be. */
        assert_true(got.label.owned && got.data.owned && got.nums.owned);
        assert_ptr_not_equal(got.label.ptr, text);
        assert_ptr_not_equal(got.data.ptr, data);
        assert_ptr_not_equal(got.nums.ptr, nums);
        au_value_free(&au_type_parcel, &got);
    }

    /* Owned parts are moved, not copied: the pointer the sender gave up is the one that arrives. */
    au_str owned = au_str_dup("moved", 5);
    const char *where = owned.ptr;
    assert_int_equal(au_send(to, ((parcel){ .label = owned })), AU_OK);
    parcel got;
    assert_int_equal(au_probe_expect(p, parcel, &got, AU_SEC(5)), AU_OK);
    assert_ptr_equal(got.label.ptr, where);
    au_value_free(&au_type_parcel, &got);

    /* A part with a length but no pointer cannot be copied: refused as a remote send would be,
     * and nothing arrives (the owned parts of the message are freed: ASan/valgrind check). */
    parcel bad = { .label = au_str_dup("freed", 5), .data = { NULL, 9, 0 } };
    assert_int_equal(au_send(to, bad), AU_EENCODE);
    assert_int_equal(au_probe_expect_none(p, AU_MSEC(50)), AU_OK);
    au_probe_free(p);
    au_node_stop(node);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_string_moved_out_of_a_message_outlives_recv),
        cmocka_unit_test(a_promise_reply_is_the_callers_to_free),
        cmocka_unit_test(a_reference_forged_for_one_interface_can_stop_the_actor),
        cmocka_unit_test(an_actor_spawned_term_local_refuses_a_remote_term),
        cmocka_unit_test(a_remote_watch_reports_the_actor_once),
        cmocka_unit_test(a_local_send_does_not_see_the_senders_later_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
