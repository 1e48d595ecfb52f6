/* test_stats.c — the node statistics as a table (core/stats.c): every field of au_node_stats
 * is described once, by its own name, read back by index, and printed by name; and a node's
 * snapshot counts spawns, stops and live actors. */
#include <aurum/aurum.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support/recorder.h"

/* The field names as the struct spells them, written out: the table must agree with them. */
static const char *const expected_names[] = {
    "actors_spawned", "actors_stopped", "actors_live", "promise_waits", "drops_dead_actor", "drops_node_stopping",
    "timers_fired", "timers_cancelled", "drops_wrong_interface_local", "mailbox_depth",
    "mailbox_high_water", "mailbox_refused", "drops_mailbox_newest", "drops_mailbox_oldest",
    "mailbox_full_waits", "local_watches", "datagrams_sent",
    "datagrams_received", "bytes_sent",
    "bytes_received", "messages_sent_remote", "messages_received_remote", "drops_malformed",
    "drops_checksum", "drops_duplicate", "drops_unknown_actor", "drops_wrong_root",
    "drops_wrong_interface", "drops_schema_mismatch", "drops_decode", "drops_too_big",
    "drops_reassembly", "drops_send_failed", "drops_peer_limit", "reassemblies_in_flight",
    "drops_unknown_key", "drops_device_unknown", "drops_device_seal", "drops_device_sender",
    "drops_device_route", "drops_device_plain", "drops_stale_incarnation", "drops_stale_ref", "drops_term_refused", "senders",
    "senders_evicted", "peers", "peers_evicted", "remote_refs", "remote_refs_evicted",
    "reassembly_bytes", "remote_watches", "remote_watched", "watch_refused",
    "watch_refused_by_peer", "watch_notices_sent", "watch_terminated_received",
    "watch_retransmits", "watch_abandoned",
};

static void every_field_is_described_once_by_its_own_name(void **s) {
    assert_int_equal(AU_NODE_STATS_COUNT, sizeof expected_names / sizeof expected_names[0]);
    for (size_t i = 0; i < AU_NODE_STATS_COUNT; i++) {
        const au_node_stats_field *f = au_node_stats_describe(i);
        assert_non_null(f);
        assert_string_equal(f->name, expected_names[i]);
        assert_true(strlen(f->doc) > 0);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(f->name, au_node_stats_describe(j)->name);
    }
    assert_null(au_node_stats_describe(AU_NODE_STATS_COUNT));
    assert_null(au_node_stats_describe((size_t)-1));
}

static void only_the_levels_are_gauges(void **s) {
    size_t gauges = 0;
    for (size_t i = 0; i < AU_NODE_STATS_COUNT; i++) {
        const au_node_stats_field *f = au_node_stats_describe(i);
        if (!f->gauge) continue;
        gauges++;
        static const char *const levels[] = { "actors_live", "promise_waits", "mailbox_depth",
                                              "mailbox_high_water", "reassemblies_in_flight",
                                              "senders", "peers", "remote_refs",
                                              "reassembly_bytes", "remote_watches",
                                              "remote_watched", "local_watches" };
        bool known = false;
        for (size_t j = 0; j < sizeof levels / sizeof levels[0]; j++) known |= !strcmp(f->name, levels[j]);
        assert_true(known);
    }
    assert_int_equal(gauges, 12);
}

static void value_by_index_reads_the_named_field(void **s) {
    au_node_stats st;
    memset(&st, 0, sizeof st);
    st.actors_spawned = 11;
    st.actors_live = 33;
    st.timers_cancelled = 77;
    st.drops_decode = 2100;
    st.reassemblies_in_flight = 2600;
    for (size_t i = 0; i < AU_NODE_STATS_COUNT; i++) {
        const char *name = au_node_stats_describe(i)->name;
        uint64_t want = !strcmp(name, "actors_spawned")           ? 11
                        : !strcmp(name, "actors_live")            ? 33
                        : !strcmp(name, "timers_cancelled")       ? 77
                        : !strcmp(name, "drops_decode")           ? 2100
                        : !strcmp(name, "reassemblies_in_flight") ? 2600
                                                                  : 0;
        assert_int_equal(au_node_stats_value(&st, i), want);
    }
    assert_int_equal(au_node_stats_value(&st, AU_NODE_STATS_COUNT), 0);
    assert_int_equal(au_node_stats_value(NULL, 0), 0);
}

/* Prints s into a string (caller frees). */
static char *print_to_string(const au_node_stats *st) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    au_node_stats_print(st, f);
    assert_int_equal(fclose(f), 0);
    return text;
}

static void print_writes_every_field_by_name_with_its_value(void **s) {
    au_node_stats st;
    for (size_t i = 0; i < AU_NODE_STATS_COUNT; i++) ((uint64_t *)&st)[i] = 1000 + i;
    char *text = print_to_string(&st);
    size_t lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[64], tail[16] = "";
        unsigned long long v;
        int got = sscanf(line, "%63s %llu %15s", name, &v, tail);
        assert_true(got >= 2);
        assert_true(lines < AU_NODE_STATS_COUNT);
        const au_node_stats_field *f = au_node_stats_describe(lines);
        assert_string_equal(name, f->name);
        assert_int_equal(v, au_node_stats_value(&st, lines));
        assert_string_equal(tail, f->gauge ? "(gauge)" : "");
        lines++;
    }
    assert_int_equal(lines, AU_NODE_STATS_COUNT);
    free(text);
}

/* ---- a node's snapshot ----------------------------------------------------------------------- */

AU_ROOT(stats_msg, (stop_now, au_unit, AU_PLAIN));

typedef struct stopper {
    recorder *log;
} stopper;

static void stopper_recv(au_ctx *ctx, stopper *self, stats_msg *msg) { au_stop_self(ctx); }
static void stopper_post_stop(au_ctx *ctx, stopper *self) { recorder_add(self->log, 1); }

AU_ACTOR(stopper_actor, stopper, stats_msg, .recv = stopper_recv,
         .post_stop = stopper_post_stop);

typedef struct expect_stopped {
    au_node *node;
    uint64_t n;
} expect_stopped;

static bool stopped_counted(void *arg) {
    expect_stopped *e = arg;
    au_node_stats st;
    au_node_stats_get(e->node, &st);
    return st.actors_stopped >= e->n && st.actors_live == 0;
}

static void a_node_counts_spawned_stopped_and_live_actors(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *node = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 2, .no_network = true }, &node),
                     AU_OK);
    enum { N = 5 };
    stats_msg_ref refs[N];
    for (int i = 0; i < N; i++) refs[i] = au_spawn(node, stopper_actor, NULL, &(stopper){ &log });
    au_node_stats st;
    au_node_stats_get(node, &st);
    assert_int_equal(st.actors_spawned, N);
    assert_int_equal(st.actors_live + st.actors_stopped, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(au_send(refs[i], ((stats_msg){ .tag = stats_msg_stop_now })), AU_OK);
    assert_true(recorder_wait(&log, N, 5000));
    assert_true(wait_until(stopped_counted, &(expect_stopped){ node, N }, 5000));
    au_node_stats_get(node, &st);
    assert_int_equal(st.actors_spawned, N);
    assert_int_equal(st.actors_stopped, N);
    assert_int_equal(st.actors_live, 0);
    assert_int_equal(st.datagrams_sent, 0); /* a local node has no transport */

    char *text = print_to_string(&st);
    assert_non_null(strstr(text, "actors_spawned 5\n"));
    assert_non_null(strstr(text, "actors_live 0 (gauge)\n"));
    free(text);
    au_node_stop(node);
    recorder_destroy(&log);
}

static void a_null_node_reads_as_all_zero(void **s) {
    au_node_stats st;
    memset(&st, 0xff, sizeof st);
    au_node_stats_get(NULL, &st);
    for (size_t i = 0; i < AU_NODE_STATS_COUNT; i++)
        assert_int_equal(au_node_stats_value(&st, i), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_field_is_described_once_by_its_own_name),
        cmocka_unit_test(only_the_levels_are_gauges),
        cmocka_unit_test(value_by_index_reads_the_named_field),
        cmocka_unit_test(print_writes_every_field_by_name_with_its_value),
        cmocka_unit_test(a_node_counts_spawned_stopped_and_live_actors),
        cmocka_unit_test(a_null_node_reads_as_all_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
