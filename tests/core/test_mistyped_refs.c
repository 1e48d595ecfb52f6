/* test_mistyped_refs.c — references whose bytes lie about their type never reinterpret memory:
 * forged raw au_refs, references reinterpreted through a void *, a narrowing narrowed again,
 * au_self with another root and an actor without recv are refused (a counted drop, a null
 * reference or a failed spawn, each with a log line), and nothing reaches the actor. */
#include <aurum/aurum.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "support/recorder.h"

/* A local root with a pointer variant: the reinterpretation the review found was an integer
 * received as this FILE *. */
typedef FILE *file_ptr;
AU_LOCAL_TYPE(file_ptr);
AU_LOCAL_ROOT(sink_msg,
              (count, int64_t, AU_REMOTE),
              (file, file_ptr, AU_LOCAL),
              (note, au_unit, AU_PLAIN),
              (check_self, au_unit, AU_PLAIN));

/* Two remote roots, the first exposing the second as an interface. */
AU_ROOT(inner_msg,
        (hello, uint32_t, AU_REMOTE),
        (num, int64_t, AU_REMOTE));
AU_ROOT(outer_msg,
        (small, uint8_t, AU_REMOTE),
        (inner, inner_msg, AU_REMOTE));

/* Events: tag * 1000 + value. */
#define EV(tag, v) ((int64_t)(tag) * 1000 + (v))
enum { SELF_OWN_OK = 1, SELF_OTHER_NULL = 2, SELF_OTHER_ETYPE = 3 };

typedef struct sink {
    recorder *log;
} sink;

static void sink_recv(au_ctx *ctx, sink *self, sink_msg *m) {
    switch (m->tag) {
    case sink_msg_count: recorder_add(self->log, EV(sink_msg_count, m->count)); break;
    case sink_msg_file: recorder_add(self->log, EV(sink_msg_file, m->file == stderr)); break;
    case sink_msg_note: recorder_add(self->log, EV(sink_msg_note, 0)); break;
    case sink_msg_check_self: {
        sink_msg_lref own = au_self(ctx, sink_msg);
        outer_msg_ref other = au_self(ctx, outer_msg);
        au_err err = au_last_error();
        recorder_add(self->log, EV(m->tag, SELF_OWN_OK * !au_ref_is_null(own.raw)));
        recorder_add(self->log, EV(m->tag, SELF_OTHER_NULL * au_ref_is_null(other.raw)));
        recorder_add(self->log, EV(m->tag, SELF_OTHER_ETYPE * (err == AU_ETYPE)));
        break;
    }
    default: recorder_add(self->log, -1); break;
    }
}
AU_ACTOR(sink_actor, sink, sink_msg, .recv = sink_recv);

typedef struct outer {
    recorder *log;
} outer;

static void outer_recv(au_ctx *ctx, outer *self, outer_msg *m) {
    (void)ctx;
    if (m->tag == outer_msg_small) recorder_add(self->log, EV(outer_msg_small, m->small));
    else if (m->tag == outer_msg_inner && m->inner.tag == inner_msg_hello)
        recorder_add(self->log, EV(100 + inner_msg_hello, m->inner.hello));
    else if (m->tag == outer_msg_inner && m->inner.tag == inner_msg_num)
        recorder_add(self->log, EV(100 + inner_msg_num, m->inner.num));
    else
        recorder_add(self->log, -1);
}
AU_ACTOR(outer_actor, outer, outer_msg, .recv = outer_recv);

/* An explicit `.recv = NULL` compiles (the missing hook does not, see tests/compile_fail). */
AU_ACTOR(no_recv_actor, sink, sink_msg, .recv = NULL);

/* ---- helpers --------------------------------------------------------------------------------- */

/* Log lines of the core module, kept for assertions. */
typedef struct log_capture {
    pthread_mutex_t lock;
    char lines[16][256];
    int n;
} log_capture;

static log_capture captured = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void capture_sink(void *user, au_log_module module, au_log_level level, const char *file,
                         int line, const char *message) {
    (void)user, (void)file, (void)line;
    if (module != AU_LOG_CORE || level < AU_LOG_WARN) return;
    pthread_mutex_lock(&captured.lock);
    if (captured.n < 16) snprintf(captured.lines[captured.n++], 256, "%s", message);
    pthread_mutex_unlock(&captured.lock);
}

static bool logged(const char *needle) {
    pthread_mutex_lock(&captured.lock);
    bool found = false;
    for (int i = 0; i < captured.n && !found; i++)
        found = strstr(captured.lines[i], needle) != NULL;
    pthread_mutex_unlock(&captured.lock);
    return found;
}

static int setup(void **state) {
    (void)state;
    pthread_mutex_lock(&captured.lock);
    captured.n = 0;
    pthread_mutex_unlock(&captured.lock);
    au_log_set_sink(capture_sink, NULL);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    au_log_set_sink(NULL, NULL);
    return 0;
}

static au_node *start_node(bool network) {
    au_node *node = NULL;
    au_node_config cfg = { .workers = 2, .no_network = !network };
    assert_int_equal(au_node_start(&cfg, &node), AU_OK);
    return node;
}

static uint64_t wrong_interface_drops(au_node *node) {
    au_node_stats st;
    au_node_stats_get(node, &st);
    return st.drops_wrong_interface_local;
}

static bool one_wrong_interface_drop(void *node) { return wrong_interface_drops(node) == 1; }

/* A local reference to the sink whose raw interface and variant are set by hand. */
static au_ref forged(sink_msg_lref s, uint16_t variant, au_type *iface) {
    au_ref raw = s.raw;
    raw.variant = variant;
    raw.iface = iface;
    return raw;
}

/* Sends a well-typed count through the sink's own interface and waits until the sink has seen
 * `expected` events: FIFO from one sender, so anything forged before it would be there first. */
static void sync_with_sink(recorder *log, sink_msg_lref s, int64_t value, size_t expected) {
    assert_int_equal(au_send(au_narrow_local(sink_msg, int64_t, s), value), AU_OK);
    assert_true(recorder_wait(log, expected, 5000));
}

/* ---- forged and reinterpreted references ----------------------------------------------------- */

static void an_integer_forged_into_a_pointer_variant_is_dropped_and_counted(void **state) {
    (void)state;
    au_node *node = start_node(false);
    recorder log;
    recorder_init(&log);
    sink_msg_lref s = au_spawn(node, sink_actor, NULL, &(sink){ .log = &log });
    assert_false(au_ref_is_null(s.raw));

    /* An int64_t reference claiming the file_ptr variant (both are 8 bytes). */
    int64_t_lref bad = { .raw = forged(s, sink_msg_file, &au_type_int64_t) };
    assert_int_equal(au_send(bad, (int64_t)0x1234), AU_ETYPE);
    assert_int_equal(wrong_interface_drops(node), 1);
    assert_true(logged("does not fit root sink_msg"));

    sync_with_sink(&log, s, 7, 1);
    assert_int_equal(recorder_count(&log), 1);
    assert_int_equal(recorder_at(&log, 0), EV(sink_msg_count, 7));
    au_node_stop(node);
    recorder_destroy(&log);
}

static void forged_variant_indexes_out_of_range_or_plain_are_dropped_and_counted(void **state) {
    (void)state;
    au_node *node = start_node(false);
    recorder log;
    recorder_init(&log);
    sink_msg_lref s = au_spawn(node, sink_actor, NULL, &(sink){ .log = &log });

    /* A variant the root does not have. */
    int64_t_lref beyond = { .raw = forged(s, 9, &au_type_int64_t) };
    assert_int_equal(au_send(beyond, (int64_t)1), AU_ETYPE);
    /* A plain variant, through exactly its payload type: plain variants are no interfaces. */
    au_unit_lref plain = { .raw = forged(s, sink_msg_note, &au_type_au_unit) };
    assert_int_equal(au_send(plain, ((au_unit){ 0 })), AU_ETYPE);
    /* The whole root, through a reference claiming another root of the same size class. */
    inner_msg_lref whole = { .raw = forged(s, AU_WHOLE, &au_type_inner_msg) };
    assert_int_equal(au_send(whole, ((inner_msg){ .tag = inner_msg_num, .num = 5 })), AU_ETYPE);
    assert_int_equal(wrong_interface_drops(node), 3);

    sync_with_sink(&log, s, 8, 1);
    assert_int_equal(recorder_count(&log), 1);
    assert_int_equal(recorder_at(&log, 0), EV(sink_msg_count, 8));
    au_node_stop(node);
    recorder_destroy(&log);
}

static void a_forged_reference_in_a_timer_is_dropped_and_counted_when_it_fires(void **state) {
    (void)state;
    au_node *node = start_node(false);
    recorder log;
    recorder_init(&log);
    sink_msg_lref s = au_spawn(node, sink_actor, NULL, &(sink){ .log = &log });

    int64_t_lref bad = { .raw = forged(s, sink_msg_file, &au_type_int64_t) };
    assert_int_not_equal(au_send_after(bad, AU_MSEC(1), (int64_t)3), 0);
    /* The drop happens when the timer fires: wait for the counter, with a deadline. */
    assert_true(wait_until(one_wrong_interface_drop, node, 5000));
    sync_with_sink(&log, s, 9, 1);
    assert_int_equal(recorder_count(&log), 1);
    assert_int_equal(recorder_at(&log, 0), EV(sink_msg_count, 9));
    au_node_stop(node);
    recorder_destroy(&log);
}

static void a_reference_reinterpreted_through_void_ptr_is_dropped_and_counted(void **state) {
    (void)state;
    au_node *node = start_node(false);
    recorder log;
    recorder_init(&log);
    sink_msg_lref s = au_spawn(node, sink_actor, NULL, &(sink){ .log = &log });

    /* No cast needed in C: the root reference read back as an int64_t reference. */
    void *slot = &s;
    int64_t_lref *as_int = slot;
    assert_int_equal(au_send(*as_int, (int64_t)0x1234), AU_ETYPE);
    assert_int_equal(au_send_after(*as_int, AU_MSEC(1), (int64_t)0x1234), 0);
    assert_int_equal(wrong_interface_drops(node), 2);
    assert_true(logged("reinterpreted as another type"));

    sync_with_sink(&log, s, 10, 1);
    assert_int_equal(recorder_count(&log), 1);
    assert_int_equal(recorder_at(&log, 0), EV(sink_msg_count, 10));
    au_node_stop(node);
    recorder_destroy(&log);
}

/* ---- narrowing ------------------------------------------------------------------------------- */

static void narrowing_a_narrowed_reference_again_gives_a_null_reference(void **state) {
    (void)state;
    au_node *node = start_node(false);
    recorder log;
    recorder_init(&log);
    outer_msg_ref o = au_spawn(node, outer_actor, NULL, &(outer){ .log = &log });

    inner_msg_ref in = au_narrow(outer_msg, inner_msg, o);
    assert_false(au_ref_is_null(in.raw));
    au_set_last_error_(AU_OK);
    int64_t_ref num = au_narrow(inner_msg, int64_t, in);
    assert_true(au_ref_is_null(num.raw));
    assert_int_equal(au_last_error(), AU_ETYPE);
    assert_int_equal(au_send(num, (int64_t)0x1234567), AU_EINVAL);
    assert_true(logged("narrowing to int64_t refused: the reference is itself a narrowing"));

    /* The narrowing itself delivers into the outer variant that carries inner_msg. */
    assert_int_equal(au_send(in, ((inner_msg){ .tag = inner_msg_num, .num = 11 })), AU_OK);
    assert_int_equal(au_send(au_narrow(outer_msg, uint8_t, o), (uint8_t)4), AU_OK);
    assert_true(recorder_wait(&log, 2, 5000));
    assert_int_equal(recorder_at(&log, 0), EV(100 + inner_msg_num, 11));
    assert_int_equal(recorder_at(&log, 1), EV(outer_msg_small, 4));
    assert_int_equal(wrong_interface_drops(node), 0);
    au_node_stop(node);
    recorder_destroy(&log);
}

static void narrowing_a_forged_narrowing_again_gives_a_null_reference(void **state) {
    (void)state;
    au_node *node = start_node(true);
    /* Forged for root outer_msg as its inner_msg interface: the same lie, across the network. */
    inner_msg_ref far = au_forge(outer_msg, inner_msg, node, "outer", au_node_address(node));
    assert_false(au_ref_is_null(far.raw));
    int64_t_ref num = au_narrow(inner_msg, int64_t, far);
    assert_true(au_ref_is_null(num.raw));
    assert_int_equal(au_last_error(), AU_ETYPE);
    /* A reference forged for inner_msg itself narrows as usual. */
    inner_msg_ref direct = au_forge(inner_msg, inner_msg, node, "inner", au_node_address(node));
    assert_false(au_ref_is_null(au_narrow(inner_msg, int64_t, direct).raw));
    au_node_stop(node);
}

/* ---- au_self and spawn ----------------------------------------------------------------------- */

static void self_as_another_root_is_a_null_reference_with_etype(void **state) {
    (void)state;
    au_node *node = start_node(false);
    recorder log;
    recorder_init(&log);
    sink_msg_lref s = au_spawn(node, sink_actor, NULL, &(sink){ .log = &log });
    assert_int_equal(au_send(s, ((sink_msg){ .tag = sink_msg_check_self })), AU_OK);
    assert_true(recorder_wait(&log, 3, 5000));
    assert_int_equal(recorder_at(&log, 0), EV(sink_msg_check_self, SELF_OWN_OK));
    assert_int_equal(recorder_at(&log, 1), EV(sink_msg_check_self, SELF_OTHER_NULL));
    assert_int_equal(recorder_at(&log, 2), EV(sink_msg_check_self, SELF_OTHER_ETYPE));
    assert_true(logged("au_self(ctx, outer_msg) in an actor of root sink_msg"));
    au_node_stop(node);
    recorder_destroy(&log);
}

static void an_actor_whose_recv_is_null_is_not_spawned(void **state) {
    (void)state;
    au_node *node = start_node(false);
    sink_msg_lref s = au_spawn(node, no_recv_actor, "no-recv", NULL);
    assert_true(au_ref_is_null(s.raw));
    assert_int_equal(au_last_error(), AU_EINVAL);
    assert_true(logged("spawn of no_recv_actor refused"));
    au_node_stats st;
    au_node_stats_get(node, &st);
    assert_int_equal(st.actors_spawned, 0);
    au_node_stop(node);
}

#define WITH_LOG_CAPTURE(test) cmocka_unit_test_setup_teardown(test, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        WITH_LOG_CAPTURE(an_integer_forged_into_a_pointer_variant_is_dropped_and_counted),
        WITH_LOG_CAPTURE(forged_variant_indexes_out_of_range_or_plain_are_dropped_and_counted),
        WITH_LOG_CAPTURE(a_forged_reference_in_a_timer_is_dropped_and_counted_when_it_fires),
        WITH_LOG_CAPTURE(a_reference_reinterpreted_through_void_ptr_is_dropped_and_counted),
        WITH_LOG_CAPTURE(narrowing_a_narrowed_reference_again_gives_a_null_reference),
        WITH_LOG_CAPTURE(narrowing_a_forged_narrowing_again_gives_a_null_reference),
        WITH_LOG_CAPTURE(self_as_another_root_is_a_null_reference_with_etype),
        WITH_LOG_CAPTURE(an_actor_whose_recv_is_null_is_not_spawned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
