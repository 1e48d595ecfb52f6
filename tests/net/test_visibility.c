/* test_visibility.c — a send into the void leaves a trace a user finds: a rate-limited WARN on
 * the receiving node naming what was dropped, why and from where (a name that never was, an
 * actor that has stopped, another root type); a "no answer" count on the
 * sender; INFO lines for bind and stop; a too-big message counted once, not per datagram; a
 * forge to port 0 refused; a datagram sealed with keys that do not match the receiver's warned
 * with the mismatch (unsealed, no key here, unknown key id, failing authentication); a send to
 * an address the socket refuses (IPv6 from IPv4, broadcast) warned with the address; reassembly
 * memory too small for max_message_size warned at start. The lines are captured through the
 * log sink. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support/recorder.h"

#define WAIT_MS 10000

AU_ROOT(store_msg, (put, int64_t, AU_REMOTE), (blob, au_bytes, AU_REMOTE));
AU_ROOT(other_msg, (put, int64_t, AU_REMOTE));

typedef struct store {
    recorder *log;
} store;

static void store_recv(au_ctx *ctx, store *self, store_msg *m) {
    recorder_add(self->log, m->tag == store_msg_put ? m->put : (int64_t)m->blob.len);
}
AU_ACTOR(store_actor, store, store_msg, .recv = store_recv);

/* ---- the captured log ---------------------------------------------------------------------- */

static pthread_mutex_t lines_lock = PTHREAD_MUTEX_INITIALIZER;
static char lines[256][512];
static size_t nlines;

static void capture(void *user, au_log_module module, au_log_level level, const char *file,
                    int line, const char *message) {
    pthread_mutex_lock(&lines_lock);
    if (nlines < 256) snprintf(lines[nlines++], sizeof lines[0], "%s %s", au_log_level_name(level), message);
    pthread_mutex_unlock(&lines_lock);
}

static void capture_start(au_log_level level) {
    nlines = 0;
    au_log_set_level(AU_LOG_NET, level);
    au_log_set_sink(capture, NULL);
}

static void capture_stop(void) {
    au_log_set_sink(NULL, NULL);
    au_log_set_level(AU_LOG_NET, AU_LOG_WARN);
}

/* How many captured lines contain every one of the given words. */
static size_t lines_with(const char *a, const char *b, const char *c) {
    size_t k = 0;
    pthread_mutex_lock(&lines_lock);
    for (size_t i = 0; i < nlines; i++)
        k += strstr(lines[i], a) && (!b || strstr(lines[i], b)) && (!c || strstr(lines[i], c));
    pthread_mutex_unlock(&lines_lock);
    return k;
}

typedef struct words { const char *a, *b, *c; } words;
static bool logged(void *arg) {
    words *w = arg;
    return lines_with(w->a, w->b, w->c) > 0;
}

static au_node_stats stats_of(au_node *n) {
    au_node_stats s;
    au_node_stats_get(n, &s);
    return s;
}

/* ---- silent failures made visible ----------------------------------------------------------- */

static void each_kind_of_dropped_send_is_warned_once_with_the_sender_and_the_reason(void **s) {
    capture_start(AU_LOG_WARN);
    au_node *a, *b;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    recorder log;
    recorder_init(&log);
    au_spawn(b, store_actor, "store", &(store){ &log });
    /* No such actor (a typo in the name), twenty times: one line. */
    int64_t_ref typo = au_forge(store_msg, int64_t, a, "stroe", au_node_address(b));
    for (int i = 0; i < 20; i++) assert_int_equal(au_send(typo, (int64_t)i), AU_OK);
    assert_true(wait_until(logged, &(words){ "WARN", "'stroe'", "no actor" }, WAIT_MS));
    /* The right name, another root type. */
    int64_t_ref wrong = au_forge(other_msg, int64_t, a, "store", au_node_address(b));
    assert_int_equal(au_send(wrong, (int64_t)1), AU_OK);
    assert_true(wait_until(logged, &(words){ "WARN", "'store'", "another root type" }, WAIT_MS));
    /* And the real traffic still arrives. */
    assert_int_equal(au_send(au_forge(store_msg, int64_t, a, "store", au_node_address(b)), (int64_t)7), AU_OK);
    assert_true(recorder_wait(&log, 1, WAIT_MS));
    au_node_stats st = stats_of(b);
    assert_int_equal(st.drops_unknown_actor, 20);
    assert_int_equal(st.drops_wrong_root, 1);
    /* The sender's address is named; the twenty became one line. */
    assert_int_equal(lines_with("WARN", "'stroe'", au_node_address(a)), 1);
    capture_stop();
    au_node_stop(a);
    au_node_stop(b);
    recorder_destroy(&log);
}

static bool one_stopped(void *node) { return stats_of(node).actors_stopped >= 1; }
static bool five_unknown(void *node) { return stats_of(node).drops_unknown_actor >= 5; }

/* A send to an actor that was there and has stopped: the same trace as a name that never was. */
static void a_send_to_a_stopped_actor_is_warned_with_its_name_and_the_sender(void **s) {
    capture_start(AU_LOG_WARN);
    au_node *a, *b;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    recorder log;
    recorder_init(&log);
    store_msg_ref gone = au_spawn(b, store_actor, "gone", &(store){ &log });
    int64_t_ref far = au_forge(store_msg, int64_t, a, "gone", au_node_address(b));
    assert_int_equal(au_send(far, (int64_t)1), AU_OK);
    assert_true(recorder_wait(&log, 1, WAIT_MS));              /* it was there */
    assert_int_equal(au_stop(gone), AU_OK);
    assert_true(wait_until(one_stopped, b, WAIT_MS));
    for (int i = 0; i < 5; i++) assert_int_equal(au_send(far, (int64_t)i), AU_OK);
    assert_true(wait_until(logged, &(words){ "WARN", "'gone'", "no actor" }, WAIT_MS));
    assert_true(wait_until(five_unknown, b, WAIT_MS));
    assert_int_equal(stats_of(b).drops_unknown_actor, 5);
    assert_int_equal(lines_with("WARN", "'gone'", au_node_address(a)), 1);   /* five: one line */
    assert_int_equal(recorder_count(&log), 1);
    capture_stop();
    au_node_stop(a);
    au_node_stop(b);
    recorder_destroy(&log);
}

static bool received_100(void *node) { return stats_of(node).datagrams_received >= 100; }

static void a_message_above_the_receivers_limit_is_counted_once_and_warned(void **s) {
    capture_start(AU_LOG_WARN);
    au_node *a, *b;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .max_message_size = 64 << 10 }, &b), AU_OK);
    recorder log;
    recorder_init(&log);
    au_spawn(b, store_actor, "store", &(store){ &log });
    au_bytes_ref far = au_forge(store_msg, au_bytes, a, "store", au_node_address(b));
    size_t n = 200 << 10; /* 200 KiB: about 150 datagrams */
    uint8_t *big = calloc(1, n);
    assert_int_equal(au_send(far, ((au_bytes){ .ptr = big, .len = n })), AU_OK);
    free(big);
    assert_true(wait_until(logged, &(words){ "WARN", "max_message_size", au_node_address(a) }, WAIT_MS));
    assert_true(wait_until(received_100, b, WAIT_MS));
    au_node_stats st = stats_of(b);
    assert_int_equal(st.drops_too_big, 1);          /* one message, not one per datagram */
    capture_stop();
    au_node_stop(a);
    au_node_stop(b);
    recorder_destroy(&log);
}

typedef struct unanswered_at_least {
    au_node *node;
    const char *addr;
    uint64_t n;
} unanswered_at_least;

static bool unanswered(void *arg) {
    unanswered_at_least *u = arg;
    return au_node_unanswered(u->node, u->addr) >= u->n;
}

static void sends_to_a_node_that_never_answers_are_counted_on_the_sender(void **s) {
    au_node *a, *b;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    char gone[64];
    snprintf(gone, sizeof gone, "%s", au_node_address(b));
    au_node_stop(b); /* nobody listens there any more */
    int64_t_ref void_ref = au_forge(store_msg, int64_t, a, "store", gone);
    for (int i = 0; i < 30; i++) assert_int_equal(au_send(void_ref, (int64_t)i), AU_OK);
    assert_true(wait_until(unanswered, &(unanswered_at_least){ a, gone, 30 }, WAIT_MS));
    assert_int_equal(au_node_unanswered(a, "127.0.0.1:1"), 0); /* never sent there */
    /* A peer that answers is not counted: one message each way resets it. */
    au_node *c;
    assert_int_equal(au_node_start(NULL, &c), AU_OK);
    recorder log;
    recorder_init(&log);
    au_spawn(a, store_actor, "store", &(store){ &log });
    au_spawn(c, store_actor, "store", &(store){ &log });
    assert_int_equal(au_send(au_forge(store_msg, int64_t, a, "store", au_node_address(c)), (int64_t)1), AU_OK);
    assert_int_equal(au_send(au_forge(store_msg, int64_t, c, "store", au_node_address(a)), (int64_t)2), AU_OK);
    assert_true(recorder_wait(&log, 2, WAIT_MS));
    assert_int_equal(au_node_unanswered(a, au_node_address(c)), 0);
    au_node_stop(c);
    au_node_stop(a);
    recorder_destroy(&log);
}

static void bind_and_stop_are_logged_at_info_and_a_forge_to_port_zero_is_refused(void **s) {
    capture_start(AU_LOG_INFO);
    au_node *a;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    char addr[64];
    snprintf(addr, sizeof addr, "%s", au_node_address(a));
    assert_true(lines_with("INFO", addr, "bound") == 1);
    int64_t_ref zero = au_forge(store_msg, int64_t, a, "store", "127.0.0.1:0");
    assert_true(au_ref_is_null(zero.raw));
    assert_int_equal(au_last_error(), AU_EINVAL);
    au_node_stop(a);
    assert_true(lines_with("INFO", addr, "stopped") == 1);
    capture_stop();
}

/* Keys that do not match are the usual misconfiguration of a sealed cluster, and its datagrams
 * vanish before any actor is named: the receiving node says which mismatch it is, once. */
static void datagrams_whose_seal_does_not_match_the_keys_are_warned_with_the_cause(void **s) {
    capture_start(AU_LOG_WARN);
    au_key k0, k0_other, k7;
    assert_int_equal(au_key_generate(&k0, 0), AU_OK);
    assert_int_equal(au_key_generate(&k0_other, 0), AU_OK); /* the same id, another secret */
    assert_int_equal(au_key_generate(&k7, 7), AU_OK);
    au_node *keyed, *plain, *other_id, *other_secret;
    assert_int_equal(au_node_start(&(au_node_config){ .keys = &k0, .nkeys = 1 }, &keyed), AU_OK);
    assert_int_equal(au_node_start(NULL, &plain), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .keys = &k7, .nkeys = 1 }, &other_id), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .keys = &k0_other, .nkeys = 1 }, &other_secret),
                     AU_OK);
    recorder log;
    recorder_init(&log);
    au_spawn(keyed, store_actor, "store", &(store){ &log });
    au_spawn(plain, store_actor, "store", &(store){ &log });
    const char *at_keyed = au_node_address(keyed);
    for (int i = 0; i < 5; i++) {
        au_send(au_forge(store_msg, int64_t, plain, "store", at_keyed), (int64_t)i);
        au_send(au_forge(store_msg, int64_t, other_id, "store", at_keyed), (int64_t)i);
        au_send(au_forge(store_msg, int64_t, other_secret, "store", at_keyed), (int64_t)i);
        au_send(au_forge(store_msg, int64_t, keyed, "store", au_node_address(plain)), (int64_t)i);
    }
    assert_true(wait_until(logged, &(words){ "WARN", au_node_address(plain), "unsealed" }, WAIT_MS));
    assert_true(wait_until(logged, &(words){ "WARN", au_node_address(other_id), "key id" }, WAIT_MS));
    assert_true(wait_until(logged, &(words){ "WARN", au_node_address(other_secret),
                                             "failing authentication" }, WAIT_MS));
    assert_true(wait_until(logged, &(words){ "WARN", at_keyed, "no cluster key" }, WAIT_MS));
    /* Five datagrams from each: one line each (rate-limited per sender and cause). */
    assert_int_equal(lines_with("WARN", au_node_address(plain), "unsealed"), 1);
    assert_int_equal(lines_with("WARN", au_node_address(other_secret), "failing"), 1);
    assert_int_equal(recorder_count(&log), 0); /* nothing was delivered */
    capture_stop();
    au_node_stop(keyed);
    au_node_stop(plain);
    au_node_stop(other_id);
    au_node_stop(other_secret);
    recorder_destroy(&log);
}

/* A name is bytes of the sender's choosing: one with a newline and an escape sequence, sent to
 * a node that has no such actor, is warned on one line with those characters written as \xNN,
 * not as a forged line of its own. */
/* Sends the same number to two references in one turn: their datagrams leave in one batch. */
AU_ROOT(pair_msg, (n, int64_t, AU_REMOTE));
typedef struct pair { int64_t_ref first, second; } pair;
static void pair_recv(au_ctx *ctx, pair *self, pair_msg *m) {
    (void)ctx;
    au_send(self->first, m->n);
    au_send(self->second, m->n);
}
AU_ACTOR(pair_actor, pair, pair_msg, .recv = pair_recv);

static bool send_failed(void *node) { return stats_of(node).drops_send_failed > 0; }

/* A forge to an address this node's socket cannot send to (IPv6 from an IPv4 node, broadcast)
 * succeeds and so do its sends; the datagrams fail in the kernel. That was a count in
 * drops_send_failed and nothing else, and the datagrams to other peers that shared their
 * sendmmsg batch were dropped with them. Now: a rate-limited WARN naming the address, and the
 * other peers' datagrams go. */
static void sends_to_an_address_the_socket_refuses_are_warned_with_it(void **s) {
    capture_start(AU_LOG_WARN);
    const char *bad[] = { "[::1]:9", "255.255.255.255:9" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        au_node *a, *b;
        assert_int_equal(au_node_start(NULL, &a), AU_OK);
        assert_int_equal(au_node_start(NULL, &b), AU_OK);
        recorder log;
        recorder_init(&log);
        au_spawn(b, store_actor, "store", &(store){ &log });
        int64_t_ref nowhere = au_forge(store_msg, int64_t, a, "store", bad[i]);
        assert_false(au_ref_is_null(nowhere.raw));
        int64_t_ref good = au_forge(store_msg, int64_t, a, "store", au_node_address(b));
        pair_msg_ref both = au_spawn(a, pair_actor, NULL, &(pair){ nowhere, good });
        for (int k = 0; k < 3; k++) {
            assert_int_equal(au_send(both, ((pair_msg){ .tag = pair_msg_n, .n = k })), AU_OK);
            assert_true(recorder_wait(&log, (size_t)k + 1, WAIT_MS)); /* the good one went */
        }
        assert_int_equal(au_send(nowhere, (int64_t)9), AU_OK); /* and a plain send: AU_OK */
        assert_true(wait_until(send_failed, a, WAIT_MS));
        assert_true(wait_until(logged, &(words){ "WARN", bad[i], "not sent" }, WAIT_MS));
        assert_true(lines_with("WARN", bad[i], au_node_address(a)) == 1); /* one line: limited */
        au_node_stop(a);
        au_node_stop(b);
        recorder_destroy(&log);
    }
    capture_stop();
}

/* A forge to an address where no single node answers (unspecified, multicast) is made, as
 * before, but warned at once: its sends may even go out without an error (0.0.0.0 reaches
 * this host), so nothing else would tell. One line per 10 s for the node. */
static void a_forge_to_an_address_of_no_single_node_is_warned(void **s) {
    capture_start(AU_LOG_WARN);
    au_node *a;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    int64_t_ref any = au_forge(store_msg, int64_t, a, "store", "0.0.0.0:9");
    assert_false(au_ref_is_null(any.raw));
    assert_int_equal(lines_with("WARN", "0.0.0.0:9", "unspecified"), 1);
    int64_t_ref group = au_forge(store_msg, int64_t, a, "store", "224.0.0.1:9");
    assert_false(au_ref_is_null(group.raw));
    assert_int_equal(lines_with("WARN", "224.0.0.1:9", NULL), 0); /* within the 10 s */
    int64_t_ref fine = au_forge(store_msg, int64_t, a, "store", "127.0.0.1:9");
    assert_false(au_ref_is_null(fine.raw));
    assert_int_equal(lines_with("WARN", "127.0.0.1:9", NULL), 0);
    au_node_stop(a);
    capture_stop();
}

/* max_reassembly_bytes too small for max_message_size: messages between the two sizes can never
 * arrive fragmented. The node still starts (each limit is fine alone) but says so once, at
 * start, naming both values; a consistent pair says nothing. */
static void reassembly_memory_below_the_message_size_is_warned_at_start(void **s) {
    capture_start(AU_LOG_WARN);
    au_node *n;
    assert_int_equal(au_node_start(&(au_node_config){ .max_reassembly_bytes = 65536 }, &n), AU_OK);
    au_node_stop(n);
    assert_int_equal(lines_with("WARN", "max_reassembly_bytes = 65536", "max_message_size = 16777216"), 1);
    nlines = 0;
    assert_int_equal(au_node_start(&(au_node_config){ .max_reassembly_bytes = 65536,
                                                      .max_message_size = 58248 }, &n), AU_OK);
    au_node_stop(n);
    assert_int_equal(lines_with("WARN", "max_reassembly_bytes", NULL), 0); /* 58248 + 1/8 fits */
    assert_int_equal(au_node_start(&(au_node_config){ .max_reassembly_bytes = 65536,
                                                      .max_message_size = 58249 }, &n), AU_OK);
    au_node_stop(n);
    assert_int_equal(lines_with("WARN", "max_reassembly_bytes = 65536", "at most 58248 bytes"), 1);
    nlines = 0;
    assert_int_equal(au_node_start(NULL, &n), AU_OK); /* the defaults agree */
    au_node_stop(n);
    assert_int_equal(lines_with("WARN", "max_reassembly_bytes", NULL), 0);
    capture_stop();
}

static void a_name_from_the_network_cannot_forge_a_log_line(void **s) {
    capture_start(AU_LOG_WARN);
    au_node *a, *b;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    int64_t_ref evil = au_forge(store_msg, int64_t, a, "evil\nERROR forged line\033[2J",
                                au_node_address(b));
    assert_false(au_ref_is_null(evil.raw));
    assert_int_equal(au_send(evil, (int64_t)1), AU_OK);
    assert_true(wait_until(logged, &(words){ "WARN", "'evil\\x0aERROR forged line\\x1b[2J'", "no actor" },
                           WAIT_MS));
    pthread_mutex_lock(&lines_lock);
    for (size_t i = 0; i < nlines; i++) {
        assert_null(strchr(lines[i], '\n'));
        assert_null(strchr(lines[i], '\033'));
    }
    pthread_mutex_unlock(&lines_lock);
    capture_stop();
    au_node_stop(a);
    au_node_stop(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_kind_of_dropped_send_is_warned_once_with_the_sender_and_the_reason),
        cmocka_unit_test(a_send_to_a_stopped_actor_is_warned_with_its_name_and_the_sender),
        cmocka_unit_test(a_message_above_the_receivers_limit_is_counted_once_and_warned),
        cmocka_unit_test(sends_to_a_node_that_never_answers_are_counted_on_the_sender),
        cmocka_unit_test(bind_and_stop_are_logged_at_info_and_a_forge_to_port_zero_is_refused),
        cmocka_unit_test(datagrams_whose_seal_does_not_match_the_keys_are_warned_with_the_cause),
        cmocka_unit_test(a_name_from_the_network_cannot_forge_a_log_line),
        cmocka_unit_test(reassembly_memory_below_the_message_size_is_warned_at_start),
        cmocka_unit_test(sends_to_an_address_the_socket_refuses_are_warned_with_it),
        cmocka_unit_test(a_forge_to_an_address_of_no_single_node_is_warned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
