/* test_remote_watch.c — remote death watch at actor granularity (net/watch.c), over real UDP on
 * 127.0.0.1 with two or three nodes in this process: a watched actor on another node that stops
 * while its node stays up is reported once, to every local watcher, with the watched reference
 * as `who`; an actor that is not there (never was, or stopped already) is reported at once; an
 * unwatch or the watcher stopping ends the watch and frees the target node's entry; a node
 * declared gone afterwards reports nothing twice; sealed; with 30 % of the datagrams lost each
 * way; and a hostile peer flooding watch requests is capped and counted, while a legitimate
 * watcher still gets its entry and its notice. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "proto/wire.h"

static const uint8_t SECRET[AU_KEY_SIZE] = "remote-watch-test-secret-32-byte";

/* The watched actors. */
AU_ROOT(job_msg, (ping, int64_t, AU_REMOTE));
typedef struct job { int unused; } job;
static void job_recv(au_ctx *ctx, job *self, job_msg *m) {}
AU_ACTOR(job_actor, job, job_msg, .recv = job_recv);

/* The watchers: they watch and unwatch on request and report to a probe: 100 for a call that
 * succeeded, 200 for terminated with the watched reference as `who`, 299 for any other who. */
AU_ROOT(report_msg, (n, int64_t, AU_REMOTE));
AU_ROOT(watcher_msg, (watch, job_msg_ref, AU_PLAIN), (unwatch, job_msg_ref, AU_PLAIN));
typedef struct watcher {
    int64_t_ref report;
    job_msg_ref watched;
} watcher;
static void watcher_recv(au_ctx *ctx, watcher *self, watcher_msg *m) {
    au_err err;
    if (m->tag == watcher_msg_watch) {
        self->watched = m->watch;
        err = au_watch(ctx, m->watch);
    } else {
        err = au_unwatch(ctx, m->unwatch);
    }
    au_send(self->report, (int64_t)(err == AU_OK ? 100 : err));
}
static void watcher_terminated(au_ctx *ctx, watcher *self, au_ref who) {
    au_send(self->report, (int64_t)(au_ref_equal(who, self->watched.raw) ? 200 : 299));
}
AU_ACTOR(watcher_actor, watcher, watcher_msg, .recv = watcher_recv,
         .terminated = watcher_terminated);

/* ---- helpers ------------------------------------------------------------------------------- */

static au_node *start(const au_node_config *base, bool sealed) {
    au_node_config cfg = base ? *base : (au_node_config){ 0 };
    if (!cfg.bind) cfg.bind = "127.0.0.1:0";
    cfg.workers = 2;
    if (sealed) cfg.secret = SECRET;
    au_node *n;
    assert_int_equal(au_node_start(&cfg, &n), AU_OK);
    return n;
}

static au_node_stats stats_of(au_node *n) {
    au_node_stats s;
    au_node_stats_get(n, &s);
    return s;
}

#define STAT(node, field) (stats_of(node).field)

static void nap(void) { nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL); }

/* Waits (sleeping between looks) until the statistic reaches `want`; fails after `timeout`. */
#define WAIT_STAT(node, field, want, timeout)                                                  \
    do {                                                                                       \
        au_nanos until_ = au_node_now(node) + (timeout);                                       \
        while (STAT(node, field) != (uint64_t)(want) && au_node_now(node) < until_) nap();     \
        assert_int_equal(STAT(node, field), (uint64_t)(want));                                 \
    } while (0)

typedef struct watching {
    au_probe *probe;
    watcher_msg_ref w;
} watching;

static watching watcher_on(au_node *n) {
    watching x = { .probe = au_probe_new(n, report_msg) };
    x.w = au_spawn(n, watcher_actor, NULL,
                   &(watcher){ .report = au_narrow(report_msg, int64_t, au_probe_ref(x.probe, report_msg)) });
    assert_false(au_ref_is_null(x.w.raw));
    return x;
}

static int64_t next_report(watching *x, au_nanos timeout) {
    report_msg got;
    if (au_probe_expect(x->probe, report_msg, &got, timeout) != AU_OK) return -1;
    return got.n;
}

static void watch(watching *x, job_msg_ref target) {
    assert_int_equal(au_send(x->w, ((watcher_msg){ .tag = watcher_msg_watch, .watch = target })), AU_OK);
    assert_int_equal(next_report(x, AU_SEC(5)), 100);
}

static void unwatch(watching *x, job_msg_ref target) {
    assert_int_equal(au_send(x->w, ((watcher_msg){ .tag = watcher_msg_unwatch, .unwatch = target })), AU_OK);
    assert_int_equal(next_report(x, AU_SEC(5)), 100);
}

static job_msg_ref job_on(au_node *n, const char *name) {
    job_msg_ref j = au_spawn(n, job_actor, name, NULL);
    assert_false(au_ref_is_null(j.raw));
    return j;
}

/* ---- the watched actor stops while its node stays up ------------------------------------------ */

static void stop_is_reported_once_to_each_watcher(bool sealed) {
    au_node *a = start(NULL, sealed), *b = start(NULL, sealed);
    job_msg_ref local = job_on(b, "job");
    job_msg_ref remote = au_forge(job_msg, job_msg, a, "job", au_node_address(b));
    watching x = watcher_on(a), y = watcher_on(a);
    watch(&x, remote);
    watch(&y, remote);
    /* One entry on b for node a, however many actors there watch; one watch on a. */
    WAIT_STAT(b, remote_watched, 1, AU_SEC(5));
    assert_int_equal(STAT(a, remote_watches), 1);
    assert_int_equal(next_report(&x, AU_MSEC(200)), -1); /* nothing while it lives */

    assert_int_equal(au_stop(local), AU_OK);
    assert_int_equal(next_report(&x, AU_SEC(5)), 200);
    assert_int_equal(next_report(&y, AU_SEC(5)), 200);
    WAIT_STAT(b, remote_watched, 0, AU_SEC(5)); /* the notice was acknowledged */
    assert_int_equal(STAT(a, remote_watches), 0);
    assert_int_equal(STAT(a, watch_terminated_received), 1);
    /* The node declared gone afterwards: no second notification. */
    assert_int_equal(au_peer_gone(a, au_node_address(b)), AU_OK);
    assert_int_equal(next_report(&x, AU_MSEC(300)), -1);
    assert_int_equal(next_report(&y, AU_MSEC(10)), -1);
    assert_int_equal(STAT(b, watch_refused), 0);

    au_probe_free(x.probe);
    au_probe_free(y.probe);
    au_node_stop(a);
    au_node_stop(b);
}

static void a_remote_actor_that_stops_is_reported_once(void **s) {
    stop_is_reported_once_to_each_watcher(false);
}

static void a_remote_actor_that_stops_is_reported_once_sealed(void **s) {
    stop_is_reported_once_to_each_watcher(true);
}

/* ---- nothing there to watch ------------------------------------------------------------------ */

static void an_actor_that_is_not_there_is_reported_at_once(void **s) {
    au_node *a = start(NULL, false), *b = start(NULL, false);
    watching x = watcher_on(a);
    /* Never existed. */
    au_nanos t0 = au_node_now(a);
    watch(&x, au_forge(job_msg, job_msg, a, "nobody", au_node_address(b)));
    assert_int_equal(next_report(&x, AU_SEC(5)), 200);
    assert_true(au_node_now(a) - t0 < AU_SEC(2)); /* promptly: one round trip, not a timeout */
    /* Existed, stopped already. */
    job_msg_ref gone = job_on(b, "gone");
    assert_int_equal(au_stop(gone), AU_OK);
    WAIT_STAT(b, actors_stopped, 1, AU_SEC(5));
    watch(&x, au_forge(job_msg, job_msg, a, "gone", au_node_address(b)));
    assert_int_equal(next_report(&x, AU_SEC(5)), 200);
    /* Registered under another root type: not the actor the reference names either. */
    job_on(b, "other");
    watch(&x, (job_msg_ref){ .raw = au_forge(report_msg, report_msg, a, "other", au_node_address(b)).raw });
    assert_int_equal(next_report(&x, AU_SEC(5)), 200);
    assert_int_equal(next_report(&x, AU_MSEC(200)), -1);
    /* b keeps no state for any of them. */
    assert_int_equal(STAT(b, remote_watched), 0);
    assert_int_equal(STAT(b, watch_notices_sent) >= 3, true);
    WAIT_STAT(a, remote_watches, 0, AU_SEC(5));
    au_probe_free(x.probe);
    au_node_stop(a);
    au_node_stop(b);
}

/* ---- the watch ends before the actor ---------------------------------------------------------- */

static void after_unwatch_a_stop_is_not_reported(void **s) {
    au_node *a = start(NULL, false), *b = start(NULL, false);
    job_msg_ref local = job_on(b, "job");
    job_msg_ref remote = au_forge(job_msg, job_msg, a, "job", au_node_address(b));
    watching x = watcher_on(a);
    watch(&x, remote);
    WAIT_STAT(b, remote_watched, 1, AU_SEC(5));
    unwatch(&x, remote);
    WAIT_STAT(b, remote_watched, 0, AU_SEC(5)); /* the unwatch reached b */
    WAIT_STAT(a, remote_watches, 0, AU_SEC(5)); /* and its acknowledgement a */
    assert_int_equal(au_stop(local), AU_OK);
    WAIT_STAT(b, actors_stopped, 1, AU_SEC(5));
    assert_int_equal(next_report(&x, AU_MSEC(500)), -1);
    assert_int_equal(STAT(b, watch_notices_sent), 0);
    /* Watching again afterwards works: the actor is gone now, so at once. */
    watch(&x, remote);
    assert_int_equal(next_report(&x, AU_SEC(5)), 200);
    au_probe_free(x.probe);
    au_node_stop(a);
    au_node_stop(b);
}

static void a_watcher_that_stops_frees_the_entry_on_the_target_node(void **s) {
    au_node *a = start(NULL, false), *b = start(NULL, false), *c = start(NULL, false);
    job_msg_ref local = job_on(b, "job");
    watching x = watcher_on(a), y = watcher_on(c);
    watch(&x, au_forge(job_msg, job_msg, a, "job", au_node_address(b)));
    watch(&y, au_forge(job_msg, job_msg, c, "job", au_node_address(b)));
    WAIT_STAT(b, remote_watched, 2, AU_SEC(5)); /* one per watching node */
    assert_int_equal(au_stop(x.w), AU_OK);
    WAIT_STAT(b, remote_watched, 1, AU_SEC(5)); /* a's entry is gone, c's stays */
    WAIT_STAT(a, remote_watches, 0, AU_SEC(5));
    assert_int_equal(au_stop(local), AU_OK);
    assert_int_equal(next_report(&y, AU_SEC(5)), 200);
    WAIT_STAT(b, remote_watched, 0, AU_SEC(5));
    assert_int_equal(STAT(b, watch_notices_sent), 1); /* to c only */
    assert_int_equal(STAT(a, watch_terminated_received), 0);
    au_probe_free(x.probe);
    au_probe_free(y.probe);
    au_node_stop(a);
    au_node_stop(b);
    au_node_stop(c);
}

/* ---- loss ------------------------------------------------------------------------------------- */

#define LOSSY_JOBS 24

static void with_30_percent_loss_every_stop_is_reported_once(void **s) {
    au_driver faulty = au_faults_driver(NULL);
    au_node_config cfg = { .driver = &faulty };
    au_node *a = start(&cfg, false), *b = start(&cfg, false);
    au_faults_seed(a, 11);
    au_faults_seed(b, 12);
    job_msg_ref locals[LOSSY_JOBS];
    watching xs[LOSSY_JOBS];
    for (int i = 0; i < LOSSY_JOBS; i++) {
        char name[16];
        snprintf(name, sizeof name, "job%d", i);
        locals[i] = job_on(b, name);
        xs[i] = watcher_on(a);
    }
    assert_int_equal(au_faults_set(a, NULL, &(au_faults){ .drop = 0.3 }), AU_OK);
    assert_int_equal(au_faults_set(b, NULL, &(au_faults){ .drop = 0.3 }), AU_OK);
    for (int i = 0; i < LOSSY_JOBS; i++) {
        char name[16];
        snprintf(name, sizeof name, "job%d", i);
        watch(&xs[i], au_forge(job_msg, job_msg, a, name, au_node_address(b)));
    }
    WAIT_STAT(b, remote_watched, LOSSY_JOBS, AU_SEC(20));
    for (int i = 0; i < LOSSY_JOBS; i++) { /* apart, so that each notice has its own datagrams */
        assert_int_equal(au_stop(locals[i]), AU_OK);
        nap();
    }
    for (int i = 0; i < LOSSY_JOBS; i++) assert_int_equal(next_report(&xs[i], AU_SEC(20)), 200);
    WAIT_STAT(b, remote_watched, 0, AU_SEC(20)); /* every notice acknowledged in the end */
    WAIT_STAT(a, remote_watches, 0, AU_SEC(20));
    for (int i = 0; i < LOSSY_JOBS; i++) assert_int_equal(next_report(&xs[i], AU_MSEC(i ? 10 : 500)), -1);
    assert_int_equal(STAT(a, watch_terminated_received), LOSSY_JOBS); /* once each */
    au_faults_stats fa, fb;
    au_faults_stats_get(a, &fa);
    au_faults_stats_get(b, &fb);
    assert_true(fa.dropped > 0 && fb.dropped > 0);
    assert_true(STAT(a, watch_retransmits) + STAT(b, watch_retransmits) > 0);
    print_message("30 %% loss: %llu + %llu datagrams dropped, %llu + %llu retransmissions\n",
                  (unsigned long long)fa.dropped, (unsigned long long)fb.dropped,
                  (unsigned long long)STAT(a, watch_retransmits),
                  (unsigned long long)STAT(b, watch_retransmits));
    for (int i = 0; i < LOSSY_JOBS; i++) au_probe_free(xs[i].probe);
    au_node_stop(a);
    au_node_stop(b);
}

/* ---- the watched node restarts ------------------------------------------------------------------ */

/* b dies without a word (its notices blocked), a new run binds its address and talks to a: the
 * watches of the past run's actors end, once, though the new run has an actor of that name. */
static void a_restarted_node_ends_the_watches_of_its_past_run(void **s) {
    au_driver faulty = au_faults_driver(NULL);
    au_node *a = start(NULL, true);
    au_node *b = start(&(au_node_config){ .driver = &faulty }, true);
    char addr[80];
    snprintf(addr, sizeof addr, "%s", au_node_address(b));
    job_on(b, "job");
    watching x = watcher_on(a);
    watch(&x, au_forge(job_msg, job_msg, a, "job", addr));
    WAIT_STAT(b, remote_watched, 1, AU_SEC(5));
    /* a has heard b's run (b's answer to the watch may still be on its way: a message of b's
     * that a has received says so), so that a datagram of a later run is a restart to a */
    au_probe *inbox = au_probe_new_with(a, report_msg, &(au_probe_opts){ .name = "inbox" });
    report_msg got;
    assert_int_equal(au_send(au_forge(report_msg, int64_t, b, "inbox", au_node_address(a)), (int64_t)0), AU_OK);
    assert_int_equal(au_probe_expect(inbox, report_msg, &got, AU_SEC(5)), AU_OK);
    assert_int_equal(au_faults_block(b, au_node_address(a), true), AU_OK);
    au_node_stop(b);
    assert_int_equal(next_report(&x, AU_MSEC(300)), -1); /* its notice never left */

    au_node *b2 = start(&(au_node_config){ .bind = addr }, true);
    job_on(b2, "job");
    assert_int_equal(au_send(au_forge(report_msg, int64_t, b2, "inbox", au_node_address(a)), (int64_t)1), AU_OK);
    assert_int_equal(au_probe_expect(inbox, report_msg, &got, AU_SEC(5)), AU_OK);
    assert_int_equal(next_report(&x, AU_SEC(5)), 200);
    assert_int_equal(STAT(a, remote_watches), 0);
    assert_int_equal(au_peer_gone(a, addr), AU_OK); /* and not again */
    assert_int_equal(next_report(&x, AU_MSEC(300)), -1);
    au_probe_free(inbox);
    au_probe_free(x.probe);
    au_node_stop(a);
    au_node_stop(b2);
}

/* ---- a hostile peer ----------------------------------------------------------------------------- */

#define HOSTILE_JOBS 40
#define HOSTILE_CAP 16    /* max_remote_watches: a watching node gets a quarter, 4 */
#define HOSTILE_SOCKETS 5

typedef struct raw {
    int fd;
    struct sockaddr_in to;
    au_wire_packer packer;
    au_wire_ids ids;
    uint8_t out[AU_WIRE_MAX_MTU];
    size_t out_len;
} raw;

static void raw_emit(void *user, const uint8_t *dgram, size_t len) {
    raw *r = user;
    assert_int_equal(sendto(r->fd, dgram, len, 0, (const struct sockaddr *)&r->to, sizeof r->to),
                     (ssize_t)len);
}

static void raw_open(raw *r, const char *target) {
    memset(r, 0, sizeof *r);
    r->fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(r->fd >= 0);
    struct sockaddr_in me = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(r->fd, (struct sockaddr *)&me, sizeof me), 0);
    const char *colon = strrchr(target, ':');
    r->to = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    au_wire_ids_init(&r->ids);
    au_wire_limits limits = au_wire_limits_default();
    assert_int_equal(au_wire_packer_init(&r->packer, &limits, 0x1234, &r->ids, NULL, raw_emit, r),
                     AU_WIRE_OK);
}

static void raw_close(raw *r) {
    au_wire_packer_destroy(&r->packer);
    close(r->fd);
}

/* A WATCH request (op 1) for `name`, watch id `id`, as the protocol sends it. */
static void raw_watch(raw *r, const char *name, uint64_t root, uint64_t id) {
    uint8_t op = 1;
    au_wire_dest d = { .kind = AU_WIRE_KIND_SYSTEM, .name = (const uint8_t *)name,
                       .name_len = strlen(name), .root_type = root, .iface_type = id };
    assert_int_equal(au_wire_packer_add(&r->packer, &d, &op, 1), AU_WIRE_OK);
}

static void a_flood_of_watch_requests_is_capped_and_counted(void **s) {
    au_node *a = start(NULL, false);
    au_node *b = start(&(au_node_config){ .max_remote_watches = HOSTILE_CAP }, false);
    job_msg_ref last = { 0 };
    for (int i = 0; i < HOSTILE_JOBS; i++) {
        char name[16];
        snprintf(name, sizeof name, "job%d", i);
        last = job_on(b, name);
    }
    uint64_t root = au_type_id(&au_type_job_msg);
    raw hostile[HOSTILE_SOCKETS];
    for (int h = 0; h < HOSTILE_SOCKETS; h++) raw_open(&hostile[h], au_node_address(b));

    /* One hostile node watches every actor, twice: a quarter of the table, the rest refused. */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < HOSTILE_JOBS; i++) {
            char name[16];
            snprintf(name, sizeof name, "job%d", i);
            raw_watch(&hostile[0], name, root, 1000 + (uint64_t)i);
        }
        au_wire_packer_flush(&hostile[0].packer);
    }
    WAIT_STAT(b, watch_refused, 2 * (HOSTILE_JOBS - HOSTILE_CAP / 4), AU_SEC(5));
    assert_int_equal(STAT(b, remote_watched), HOSTILE_CAP / 4);

    /* A legitimate watcher still has room, and its notice comes. */
    watching x = watcher_on(a);
    watch(&x, au_forge(job_msg, job_msg, a, "job39", au_node_address(b)));
    WAIT_STAT(b, remote_watched, HOSTILE_CAP / 4 + 1, AU_SEC(5));

    /* More hostile nodes fill the rest of the table, no further. */
    for (int h = 1; h < HOSTILE_SOCKETS; h++) {
        for (int i = 0; i < HOSTILE_JOBS; i++) {
            char name[16];
            snprintf(name, sizeof name, "job%d", i);
            raw_watch(&hostile[h], name, root, 1000 + (uint64_t)i);
        }
        au_wire_packer_flush(&hostile[h].packer);
    }
    uint64_t accepted = HOSTILE_CAP - (HOSTILE_CAP / 4 + 1);
    WAIT_STAT(b, watch_refused,
              2 * (HOSTILE_JOBS - HOSTILE_CAP / 4) + (HOSTILE_SOCKETS - 1) * HOSTILE_JOBS - accepted,
              AU_SEC(5));
    assert_int_equal(STAT(b, remote_watched), HOSTILE_CAP);

    /* Requests for actors that are not there keep no state at all. */
    uint64_t notices = STAT(b, watch_notices_sent);
    for (int i = 0; i < 200; i++) {
        char name[16];
        snprintf(name, sizeof name, "none%d", i);
        raw_watch(&hostile[0], name, root, 5000 + (uint64_t)i);
    }
    au_wire_packer_flush(&hostile[0].packer);
    au_nanos until = au_node_now(b) + AU_SEC(5);
    while (STAT(b, watch_notices_sent) < notices + 200 && au_node_now(b) < until) nap();
    assert_true(STAT(b, watch_notices_sent) >= notices + 200);
    assert_int_equal(STAT(b, remote_watched), HOSTILE_CAP);

    assert_int_equal(au_stop(last), AU_OK);
    assert_int_equal(next_report(&x, AU_SEC(5)), 200);
    au_probe_free(x.probe);
    for (int h = 0; h < HOSTILE_SOCKETS; h++) raw_close(&hostile[h]);
    au_node_stop(a);
    au_node_stop(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_remote_actor_that_stops_is_reported_once),
        cmocka_unit_test(a_remote_actor_that_stops_is_reported_once_sealed),
        cmocka_unit_test(an_actor_that_is_not_there_is_reported_at_once),
        cmocka_unit_test(after_unwatch_a_stop_is_not_reported),
        cmocka_unit_test(a_watcher_that_stops_frees_the_entry_on_the_target_node),
        cmocka_unit_test(with_30_percent_loss_every_stop_is_reported_once),
        cmocka_unit_test(a_restarted_node_ends_the_watches_of_its_past_run),
        cmocka_unit_test(a_flood_of_watch_requests_is_capped_and_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
