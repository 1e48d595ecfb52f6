/* test_remoting.c — the remoting scenario: one node, one registered actor whose root type has a
 * plain variant and two remote interfaces (a string and an integer); three forged references
 * with no local shortcut, so everything crosses UDP; 10 + 15 + 20 messages received as a set;
 * then a remote Term and the post_stop notification. Each to a pooled and to a dedicated-thread
 * actor (the thread of every turn is recorded and checked), also with a tiny MTU (the string
 * messages are fragmented and reassembled: the datagram count has a lower bound computed from
 * the wire sizes), and between two OS processes. */
#include <aurum/aurum.h>

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "proto/wire.h"
#include "support/recorder.h"

AU_ROOT(remote_logger_msg,
        (info, au_str, AU_PLAIN),
        (warning, au_str, AU_REMOTE),
        (error, int32_t, AU_REMOTE));

/* Recorded events: info i → 1000 + i, warning i → 2000 + i, error i → 3000 + i, post_stop → -1.
 * Strings are "<kind> <i>" followed by padding to `pad` characters. */
/* The thread of each turn of the logger (messages and post_stop), in order. */
typedef struct thread_log {
    pthread_mutex_t lock;
    pthread_t t[64];
    size_t n;
} thread_log;

static void log_thread(thread_log *tl) {
    if (!tl) return;
    pthread_mutex_lock(&tl->lock);
    if (tl->n < sizeof tl->t / sizeof tl->t[0]) tl->t[tl->n++] = pthread_self();
    pthread_mutex_unlock(&tl->lock);
}

typedef struct logger {
    recorder *log;
    thread_log *threads; /* NULL: not recorded */
} logger;

static int64_t parse(const au_str *s, int64_t base) {
    int i = -1;
    sscanf(s->ptr, "%*s %d", &i);
    return base + i;
}

static void logger_recv(au_ctx *ctx, logger *self, remote_logger_msg *m) {
    log_thread(self->threads);
    switch (m->tag) {
    case remote_logger_msg_info: recorder_add(self->log, parse(&m->info, 1000)); break;
    case remote_logger_msg_warning: recorder_add(self->log, parse(&m->warning, 2000)); break;
    case remote_logger_msg_error: recorder_add(self->log, 3000 + m->error); break;
    }
}

static void logger_post_stop(au_ctx *ctx, logger *self) {
    log_thread(self->threads);
    recorder_add(self->log, -1);
}

AU_ACTOR(logger_actor, logger, remote_logger_msg, .recv = logger_recv, .post_stop = logger_post_stop);

static au_str text(const char *kind, int i, size_t pad) {
    char buf[2048];
    int n = snprintf(buf, sizeof buf, "%s %d ", kind, i);
    while ((size_t)n < pad && (size_t)n < sizeof buf - 1) buf[n++] = 'x';
    buf[n] = 0;
    return au_str_dup(buf, (size_t)n);
}

/* Sends the scenario's 45 messages from `from` to the logger at `addr`; returns 0 on success. */
static int send_all(au_node *from, const char *addr, size_t pad) {
    remote_logger_msg_ref root = au_forge(remote_logger_msg, remote_logger_msg, from, "logger", addr);
    int32_t_ref errors = au_forge(remote_logger_msg, int32_t, from, "logger", addr);
    au_str_ref warnings = au_forge(remote_logger_msg, au_str, from, "logger", addr);
    if (au_ref_is_null(root.raw) || au_ref_is_null(errors.raw) || au_ref_is_null(warnings.raw)) return 1;
    if (au_ref_is_local(root.raw)) return 2; /* forged: always through the network */
    int failures = 0;
    for (int i = 0; i < 10; i++) failures += au_send(errors, (int32_t)i) != AU_OK;
    for (int i = 0; i < 15; i++) failures += au_send(warnings, text("warning", i, pad)) != AU_OK;
    for (int i = 0; i < 20; i++)
        failures += au_send(root, ((remote_logger_msg){ .tag = remote_logger_msg_info,
                                                         .info = text("info", i, pad) })) != AU_OK;
    return failures;
}

static void expect_the_45_as_a_set(recorder *log) {
    assert_true(recorder_wait(log, 45, 30000));
    bool seen[3][20] = { { false } };
    for (size_t i = 0; i < 45; i++) {
        int64_t v = recorder_at(log, i);
        int kind = (int)(v / 1000) - 1, n = (int)(v % 1000);
        assert_true(kind >= 0 && kind < 3 && n >= 0 && n < 20);
        assert_false(seen[kind][n]); /* no duplicates */
        seen[kind][n] = true;
    }
    for (int i = 0; i < 20; i++) assert_true(seen[0][i]);
    for (int i = 0; i < 15; i++) assert_true(seen[1][i]);
    for (int i = 0; i < 10; i++) assert_true(seen[2][i]);
}

/* The pooled or dedicated variant is observable: the logger records the thread of every turn,
 * and a pooled "marker" on the same one-worker node records the worker's thread. A dedicated
 * logger runs every turn on one thread that is not the worker; a pooled one on the worker. */
AU_ROOT(marker_msg, (ping, int64_t, AU_REMOTE));
typedef struct marker { pthread_t *thread; _Atomic int *pinged; } marker;
static void marker_recv(au_ctx *ctx, marker *self, marker_msg *m) {
    *self->thread = pthread_self(); /* published to the test thread by the atomic below */
    atomic_store(self->pinged, 1);
}
AU_ACTOR(marker_actor, marker, marker_msg, .recv = marker_recv);

static bool pinged(void *flag) { return atomic_load((_Atomic int *)flag) != 0; }

/* The least number of datagrams `count` messages of `body` bytes each can take at this mtu:
 * every fragment carries at most mtu - header - checksum - fragment header bytes of a body. */
static uint64_t least_datagrams(size_t count, size_t body, size_t mtu) {
    size_t chunk = mtu - AU_WIRE_HEADER_SIZE - AU_WIRE_CHECKSUM_SIZE - AU_WIRE_FRAGMENT_FRAME_HEADER;
    return (uint64_t)((count * body + chunk - 1) / chunk);
}

static void run_single_node(size_t mtu, size_t pad, bool dedicated) {
    recorder log;
    recorder_init(&log);
    thread_log threads = { .n = 0 };
    pthread_mutex_init(&threads.lock, NULL);
    au_node *node;
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:0", .mtu = mtu, .workers = 1 },
                                   &node), AU_OK);
    remote_logger_msg_ref l = au_spawn_with(node, logger_actor, au_opts(.name = "logger", .dedicated = dedicated),
                                            &(logger){ .log = &log, .threads = &threads });
    assert_false(au_ref_is_null(l.raw));
    pthread_t worker;
    _Atomic int marked = 0;
    marker_msg_ref m = au_spawn(node, marker_actor, NULL, &(marker){ .thread = &worker, .pinged = &marked });
    assert_int_equal(au_send(au_narrow(marker_msg, int64_t, m), (int64_t)1), AU_OK);
    assert_true(wait_until(pinged, &marked, 30000));

    assert_int_equal(send_all(node, au_node_address(node), pad), 0);
    expect_the_45_as_a_set(&log);

    /* A remote Term: the actor stops and its post_stop reports. */
    remote_logger_msg_ref root = au_forge(remote_logger_msg, remote_logger_msg, node, "logger",
                                          au_node_address(node));
    assert_int_equal(au_stop(root), AU_OK);
    assert_true(recorder_wait(&log, 46, 30000));
    assert_int_equal(recorder_at(&log, 45), -1);

    au_node_stats st;
    au_node_stats_get(node, &st);
    assert_int_equal(st.messages_received_remote, 46);
    assert_int_equal(st.drops_decode + st.drops_unknown_actor + st.drops_wrong_interface, 0);
    assert_int_equal(st.drops_reassembly + st.drops_malformed + st.drops_checksum, 0);
    assert_int_equal(st.reassemblies_in_flight, 0);
    if (pad > mtu) {
        /* 35 string messages of at least body header + "logger" + pad bytes each, fragmented. */
        uint64_t least = least_datagrams(35, AU_WIRE_BODY_HEADER + 6 + pad, mtu);
        print_message("%llu datagrams received, at least %llu for the fragments\n",
                      (unsigned long long)st.datagrams_received, (unsigned long long)least);
        assert_true(st.datagrams_received >= least);
    } else {
        assert_true(st.datagrams_received <= 46); /* nothing fragmented: at most one each */
    }
    au_node_stop(node);

    /* 46 turns: 45 messages and post_stop, each on the thread that ran it. */
    assert_int_equal(threads.n, 46);
    for (size_t i = 1; i < threads.n; i++) assert_true(pthread_equal(threads.t[i], threads.t[0]));
    if (dedicated) assert_false(pthread_equal(threads.t[0], worker)); /* a thread of its own */
    else assert_true(pthread_equal(threads.t[0], worker));            /* the one worker */
    pthread_mutex_destroy(&threads.lock);
    recorder_destroy(&log);
}

static void remoting_scenario_over_udp(void **s) { run_single_node(0, 0, false); }

static void remoting_scenario_over_udp_to_a_dedicated_actor(void **s) { run_single_node(0, 0, true); }

static void remoting_scenario_with_a_tiny_mtu_fragments_and_reassembles(void **s) {
    run_single_node(96, 400, false); /* every string message is split into 9 or more fragments */
}

static void remoting_scenario_with_a_tiny_mtu_to_a_dedicated_actor(void **s) {
    run_single_node(96, 400, true);
}

static void remoting_scenario_between_two_processes(void **s) {
    int to_child[2];
    assert_int_equal(pipe(to_child), 0);
    pid_t pid = fork(); /* before any node exists in this process: no threads to lose */
    assert_true(pid >= 0);
    if (pid == 0) {
        close(to_child[1]);
        char addr[80] = { 0 };
        ssize_t n = read(to_child[0], addr, sizeof addr - 1);
        if (n <= 0) _exit(10);
        au_node *node;
        if (au_node_start(&(au_node_config){ .bind = "127.0.0.1:0" }, &node)) _exit(11);
        int rc = send_all(node, addr, 0);
        au_node_stop(node); /* sends already went out: au_send returns after the sendmmsg */
        _exit(rc ? 12 : 0);
    }
    close(to_child[0]);
    recorder log;
    recorder_init(&log);
    au_node *node;
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:0" }, &node), AU_OK);
    au_spawn(node, logger_actor, "logger", &(logger){ .log = &log });
    const char *addr = au_node_address(node);
    assert_int_equal(write(to_child[1], addr, strlen(addr)), (ssize_t)strlen(addr));
    close(to_child[1]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    expect_the_45_as_a_set(&log);
    au_node_stop(node);
    recorder_destroy(&log);
}

/* ---- references inside messages ------------------------------------------------------------ */

AU_RECORD(query, (int64_t, n), (int64_t_ref, reply_to));
AU_ROOT(echo_msg, (ask, query, AU_REMOTE));
typedef struct echo { int unused; } echo;
static void echo_recv(au_ctx *ctx, echo *self, echo_msg *m) {
    au_send(m->ask.reply_to, m->ask.n * 2); /* a reference that came over the network */
}
AU_ACTOR(echo_actor, echo, echo_msg, .recv = echo_recv);

static void a_reference_sent_to_another_node_works_there(void **s) {
    au_node *a, *b;
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:0" }, &a), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:0" }, &b), AU_OK);
    au_spawn(b, echo_actor, "echo", NULL);
    query_ref far = au_forge(echo_msg, query, a, "echo", au_node_address(b));
    /* The reply reference is an anonymous promise on node a: it gets a generated name when it
     * leaves the node, and b's reply comes back over UDP to it. */
    for (int64_t i = 1; i <= 20; i++) {
        int64_t_promise p = au_promise_new(a, int64_t);
        assert_int_equal(au_send(far, ((query){ .n = i, .reply_to = au_promise_ref(p, int64_t) })), AU_OK);
        int64_t answer = 0;
        assert_int_equal(au_promise_wait(p, int64_t, &answer, AU_SEC(30)), AU_OK);
        assert_int_equal(answer, 2 * i);
    }
    au_node_stats st;
    au_node_stats_get(a, &st);
    assert_int_equal(st.messages_received_remote, 20);
    au_node_stop(a);
    au_node_stop(b);
}

static void a_reference_to_a_local_actor_comes_back_local(void **s) {
    au_node *a;
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:0" }, &a), AU_OK);
    au_spawn(a, echo_actor, "echo", NULL);
    query_ref self = au_forge(echo_msg, query, a, "echo", au_node_address(a));
    int64_t_promise p = au_promise_new(a, int64_t);
    /* Forged to our own address: it crosses the socket, and the reply reference decoded there
     * names a live local actor, so the reply is a local send. */
    assert_int_equal(au_send(self, ((query){ .n = 21, .reply_to = au_promise_ref(p, int64_t) })), AU_OK);
    int64_t answer = 0;
    assert_int_equal(au_promise_wait(p, int64_t, &answer, AU_SEC(30)), AU_OK);
    assert_int_equal(answer, 42);
    au_node_stats st;
    au_node_stats_get(a, &st);
    assert_int_equal(st.messages_received_remote, 1); /* the query only */
    au_node_stop(a);
}

/* A dedicated actor may block: here on a remote ask, whose request must leave before the turn
 * ends (a pooled actor's remote sends are held until its turn ends). */
AU_ROOT(blocker_msg, (go, int64_t, AU_REMOTE));
typedef struct blocker { query_ref far; recorder *log; } blocker;
static void blocker_recv(au_ctx *ctx, blocker *self, blocker_msg *m) {
    int64_t_promise p = au_promise_new(au_ctx_node(ctx), int64_t);
    au_send(self->far, ((query){ .n = m->go, .reply_to = au_promise_ref(p, int64_t) }));
    int64_t answer = -1;
    au_err err = au_promise_wait(p, int64_t, &answer, AU_SEC(30));
    recorder_add(self->log, err == AU_OK ? answer : -1000 + err);
}
AU_ACTOR(blocker_actor, blocker, blocker_msg, .recv = blocker_recv);

static void a_dedicated_actor_can_block_on_a_remote_ask(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *a, *b;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    au_spawn(b, echo_actor, "echo", NULL);
    blocker_msg_ref bl = au_spawn_with(a, blocker_actor, au_opts(.dedicated = true),
        &(blocker){ .far = au_forge(echo_msg, query, a, "echo", au_node_address(b)), .log = &log });
    au_send(au_narrow(blocker_msg, int64_t, bl), (int64_t)21);
    assert_true(recorder_wait(&log, 1, 30000));
    assert_int_equal(recorder_at(&log, 0), 42);
    au_node_stop(a);
    au_node_stop(b);
    recorder_destroy(&log);
}

/* ---- registration racing arrivals ------------------------------------------------------------ */

AU_ROOT(seq_msg, (n, int64_t, AU_REMOTE));
typedef struct seq_sink { recorder *log; } seq_sink;
static void seq_recv(au_ctx *ctx, seq_sink *self, seq_msg *m) { recorder_add(self->log, m->n); }
AU_ACTOR(seq_actor, seq_sink, seq_msg, .recv = seq_recv);

typedef struct pacer {
    int64_t_ref to;
    _Atomic int64_t sent;
    _Atomic int stop;
} pacer;

static void *pacer_main(void *arg) {
    pacer *p = arg;
    for (int64_t i = 0; !atomic_load(&p->stop) && i < 200000; i++) {
        au_send(p->to, i);
        atomic_store(&p->sent, i + 1);
        struct timespec d = { 0, 20000 }; /* 20 us: a steady stream, well within socket buffers */
        nanosleep(&d, NULL);
    }
    return NULL;
}

typedef struct sent_goal { pacer *p; int64_t n; } sent_goal;
static bool sent_at_least(void *arg) {
    sent_goal *g = arg;
    return atomic_load(&g->p->sent) >= g->n;
}

static void messages_arriving_while_the_name_is_registered_are_not_lost(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *a, *b;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    pacer p = { .to = au_forge(seq_msg, int64_t, b, "late", au_node_address(a)) };
    pthread_t t;
    pthread_create(&t, NULL, pacer_main, &p);
    sent_goal g = { &p, 200 };
    assert_true(wait_until(sent_at_least, &g, 30000));
    au_spawn(a, seq_actor, "late", &(seq_sink){ .log = &log }); /* while messages stream in */
    int64_t sent_at_spawn = atomic_load(&p.sent);
    g.n = sent_at_spawn + 500;
    bool streamed = wait_until(sent_at_least, &g, 30000);
    atomic_store(&p.stop, 1);
    pthread_join(t, NULL);
    assert_true(streamed);
    int64_t last = atomic_load(&p.sent) - 1;
    /* Everything from the first delivered message on arrives, in order, without a gap; and the
     * first delivered one was begun no later than the spawn returned. sent_at_spawn counts the
     * sends that had returned: message sent_at_spawn itself may have been inside au_send then,
     * already out and dropped before the name was registered, so the first delivered may be the
     * next; every later one was begun after the spawn returned. */
    assert_true(recorder_wait(&log, 1, 30000));
    int64_t first = recorder_at(&log, 0);
    assert_true(first <= sent_at_spawn + 1);
    assert_true(recorder_wait(&log, (size_t)(last - first + 1), 30000));
    for (int64_t i = first; i <= last; i++) assert_int_equal(recorder_at(&log, (size_t)(i - first)), i);
    au_node_stats st;
    au_node_stats_get(a, &st);
    /* Every message is either delivered or counted as sent to a name not yet registered. */
    assert_int_equal(st.drops_unknown_actor + (uint64_t)(last - first + 1), (uint64_t)last + 1);
    au_node_stop(a);
    au_node_stop(b);
    recorder_destroy(&log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(remoting_scenario_over_udp),
        cmocka_unit_test(remoting_scenario_over_udp_to_a_dedicated_actor),
        cmocka_unit_test(remoting_scenario_with_a_tiny_mtu_fragments_and_reassembles),
        cmocka_unit_test(remoting_scenario_with_a_tiny_mtu_to_a_dedicated_actor),
        cmocka_unit_test(remoting_scenario_between_two_processes),
        cmocka_unit_test(a_reference_sent_to_another_node_works_there),
        cmocka_unit_test(a_reference_to_a_local_actor_comes_back_local),
        cmocka_unit_test(a_dedicated_actor_can_block_on_a_remote_ask),
        cmocka_unit_test(messages_arriving_while_the_name_is_registered_are_not_lost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
