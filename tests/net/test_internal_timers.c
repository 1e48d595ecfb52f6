/* test_internal_timers.c — the runtime's own timers have no handle: au_timer_cancel given any
 * value below a fresh handle (handles are a process-wide counter, easy to guess) cancels none
 * of them, and the remote death watch keeps retransmitting its request to a peer that never
 * answers (a plain UDP socket of this test) after every such guess. */
#include <aurum/aurum.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

AU_ROOT(job_msg, (ping, int64_t, AU_REMOTE));
typedef struct job { int unused; } job;
static void job_recv(au_ctx *ctx, job *self, job_msg *m) {}
AU_ACTOR(job_actor, job, job_msg, .recv = job_recv);

AU_ROOT(watcher_msg, (watch, job_msg_ref, AU_PLAIN));
typedef struct watcher { int unused; } watcher;
static void watcher_recv(au_ctx *ctx, watcher *self, watcher_msg *m) { au_watch(ctx, m->watch); }
static void watcher_terminated(au_ctx *ctx, watcher *self, au_ref who) {}
AU_ACTOR(watcher_actor, watcher, watcher_msg, .recv = watcher_recv,
         .terminated = watcher_terminated);

/* A UDP socket on 127.0.0.1 that receives and never answers; its address in `addr`. */
static int silent_peer(char *addr, size_t size) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(addr, size, "127.0.0.1:%u", ntohs(sa.sin_port));
    return fd;
}

/* Waits up to timeout_ms for one datagram; true if one came. */
static bool datagram_within(int fd, int timeout_ms) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, timeout_ms) != 1) return false;
    char buf[2048];
    return recv(fd, buf, sizeof buf, 0) > 0;
}

static void guessed_handles_cancel_no_timer_of_the_runtime(void **s) {
    char addr[64];
    int peer = silent_peer(addr, sizeof addr);
    au_node *node;
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:0", .workers = 2 }, &node),
                     AU_OK);
    job_msg_ref far = au_forge(job_msg, job_msg, node, "job", addr);
    assert_false(au_ref_is_null(far.raw));
    watcher_msg_ref w = au_spawn(node, watcher_actor, NULL, &(watcher){ 0 });
    assert_int_equal(au_send(w, ((watcher_msg){ .tag = watcher_msg_watch, .watch = far })), AU_OK);
    assert_true(datagram_within(peer, 30000)); /* the watch request: its retransmission is armed */

    job_msg_ref sink = au_spawn(node, job_actor, NULL, &(job){ 0 });
    au_timer mine = au_send_after(au_narrow(job_msg, int64_t, sink), AU_SEC(3600), (int64_t)1);
    assert_true(mine != 0);
    for (au_timer t = 1; t < mine; t++) assert_int_equal(au_timer_cancel(node, t), AU_ENOTFOUND);
    assert_int_equal(au_timer_cancel(node, mine), AU_OK);

    /* Retransmitted still (200 ms doubling to 3.2 s): two more in 15 s at most, whatever was
     * in flight when the handles were tried. */
    assert_true(datagram_within(peer, 15000));
    assert_true(datagram_within(peer, 15000));
    au_node_stop(node);
    close(peer);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(guessed_handles_cancel_no_timer_of_the_runtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
