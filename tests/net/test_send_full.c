/* test_send_full.c — a socket whose send buffer is full for a moment (EAGAIN, ENOBUFS) delays
 * the sending thread instead of dropping the burst; one that stays full drops what it cannot
 * send, counted in drops_send_failed, and later sends do not wait again until one goes through.
 *
 * This program is linked with --wrap=sendmmsg and --wrap=poll (tests/CMakeLists.txt): the
 * statically linked library's sendmmsg calls reach __wrap_sendmmsg below, which fails the calls
 * to one destination port (node b's) as the test's `mode` says and passes the others to the
 * real one; its poll calls (only the driver's wait for room uses poll) are counted. */
#define _GNU_SOURCE /* sendmmsg */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "net/echo_actor.h"
#include "support/recorder.h"

enum { PASS, FLICKER, FULL }; /* FLICKER: of every three calls, one EAGAIN and one ENOBUFS */
static _Atomic int mode = PASS;
static _Atomic unsigned victim_port;     /* network order; the calls to it follow mode */
static atomic_uint calls, refused, polls;

int __real_sendmmsg(int fd, struct mmsghdr *m, unsigned n, int flags);
int __wrap_sendmmsg(int fd, struct mmsghdr *m, unsigned n, int flags);
int __wrap_sendmmsg(int fd, struct mmsghdr *m, unsigned n, int flags) {
    const struct sockaddr_in *to = n ? m[0].msg_hdr.msg_name : NULL;
    int how = atomic_load(&mode);
    if (how != PASS && to && to->sin_family == AF_INET && to->sin_port == atomic_load(&victim_port)) {
        unsigned i = atomic_fetch_add(&calls, 1);
        if (how == FULL || i % 3 != 0) {
            atomic_fetch_add(&refused, 1);
            errno = how == FULL || i % 3 == 1 ? EAGAIN : ENOBUFS;
            return -1;
        }
    }
    return __real_sendmmsg(fd, m, n, flags);
}

int __real_poll(struct pollfd *p, nfds_t n, int timeout);
int __wrap_poll(struct pollfd *p, nfds_t n, int timeout);
int __wrap_poll(struct pollfd *p, nfds_t n, int timeout) {
    atomic_fetch_add(&polls, 1);
    return __real_poll(p, n, timeout);
}

AU_ROOT(box_msg, (value, int64_t, AU_REMOTE));

typedef struct pair {
    au_node *a, *b;
    au_probe *box; /* on b */
    int64_t_ref far; /* from a */
} pair;

static pair pair_up(void) {
    pair p;
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:0" }, &p.a), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:0" }, &p.b), AU_OK);
    const char *colon = strrchr(au_node_address(p.b), ':');
    assert_non_null(colon);
    atomic_store(&victim_port, htons((uint16_t)atoi(colon + 1)));
    p.box = au_probe_new_with(p.b, box_msg, &(au_probe_opts){ .name = "box" });
    assert_non_null(p.box);
    p.far = au_forge(box_msg, int64_t, p.a, "box", au_node_address(p.b));
    assert_false(au_ref_is_null(p.far.raw));
    return p;
}

static void pair_down(pair *p) {
    au_probe_free(p->box);
    au_node_stop(p->a);
    au_node_stop(p->b);
    atomic_store(&mode, PASS);
}

/* Sends first..first+n-1 and expects each at the probe, in order. */
static void burst_arrives(pair *p, int64_t first, int64_t n) {
    for (int64_t i = 0; i < n; i++) assert_int_equal(au_send(p->far, first + i), AU_OK);
    for (int64_t i = 0; i < n; i++) {
        box_msg got;
        assert_int_equal(au_probe_expect(p->box, box_msg, &got, AU_SEC(20)), AU_OK);
        assert_int_equal(got.value, first + i);
    }
}

static au_node *stalled_node;
static bool dropped_some(void *arg) {
    return stats_of(stalled_node).drops_send_failed >= (uint64_t)(uintptr_t)arg;
}

static void a_socket_full_for_a_moment_delays_the_burst_and_drops_nothing(void **s) {
    (void)s;
    pair p = pair_up();
    atomic_store(&calls, 0);
    atomic_store(&refused, 0);
    atomic_store(&mode, FLICKER);
    burst_arrives(&p, 1, 300);
    assert_true(atomic_load(&refused) >= 100); /* the socket really was full, often */
    assert_int_equal(stats_of(p.a).drops_send_failed, 0);
    pair_down(&p);
}

static void a_socket_that_stays_full_drops_counted_and_later_sends_do_not_wait(void **s) {
    (void)s;
    pair p = pair_up();
    atomic_store(&mode, FULL);
    stalled_node = p.a;
    unsigned polls_before = atomic_load(&polls);
    assert_int_equal(au_send(p.far, (int64_t)1), AU_OK);
    assert_true(wait_until(dropped_some, (void *)(uintptr_t)1, 20000));
    unsigned polls_stalled = atomic_load(&polls);
    assert_true(polls_stalled > polls_before); /* it waited for room before dropping */

    /* Still full: every later send is dropped at once, without another wait. */
    for (int64_t i = 2; i <= 50; i++) assert_int_equal(au_send(p.far, i), AU_OK);
    assert_true(wait_until(dropped_some, (void *)(uintptr_t)2, 20000));
    assert_int_equal(au_probe_expect_none(p.box, AU_MSEC(20)), AU_OK);
    au_node_stop(p.a);
    assert_int_equal(atomic_load(&polls), polls_stalled);
    au_probe_free(p.box);
    au_node_stop(p.b);
    atomic_store(&mode, PASS);
}

static void after_a_stall_the_first_send_that_goes_through_restores_waiting(void **s) {
    (void)s;
    pair p = pair_up();
    atomic_store(&mode, FULL);
    stalled_node = p.a;
    assert_int_equal(au_send(p.far, (int64_t)0), AU_OK);
    assert_true(wait_until(dropped_some, (void *)(uintptr_t)1, 20000));
    uint64_t drops = stats_of(p.a).drops_send_failed;

    atomic_store(&mode, PASS); /* the interface caught up */
    burst_arrives(&p, 1, 1);
    atomic_store(&refused, 0);
    atomic_store(&mode, FLICKER); /* and the next bursts are waited out again */
    burst_arrives(&p, 2, 200);
    assert_true(atomic_load(&refused) >= 50);
    assert_int_equal(stats_of(p.a).drops_send_failed, drops);
    pair_down(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_socket_full_for_a_moment_delays_the_burst_and_drops_nothing),
        cmocka_unit_test(a_socket_that_stays_full_drops_counted_and_later_sends_do_not_wait),
        cmocka_unit_test(after_a_stall_the_first_send_that_goes_through_restores_waiting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
