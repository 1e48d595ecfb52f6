/* Tests of au_wait_for_signal (aurum/node.h): it returns the signal the process got, SIGINT or
 * SIGTERM, with nodes and their threads running; whichever thread the signal is delivered to; also
 * when every other thread blocks both signals; one waiter at a time; and the dispositions and the
 * mask it changed are restored when it returns.
 *
 * A sender thread waits (with a deadline) until the waiter's handler is installed before it
 * sends: a signal sent earlier would meet the default disposition and end the test process. */
#include <aurum/aurum.h>

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "support/recorder.h"

typedef enum route { TO_PROCESS, TO_SENDER_THREAD } route;
typedef struct sender {
    int sig;
    route how;
    bool installed; /* the waiter's handler was seen before the deadline */
} sender;

static bool handler_installed(void *arg) {
    struct sigaction cur;
    sigaction(*(int *)arg, NULL, &cur);
    return cur.sa_handler != SIG_DFL && cur.sa_handler != SIG_IGN;
}

static void *send_when_installed(void *arg) {
    sender *s = arg;
    s->installed = wait_until(handler_installed, &s->sig, 10000);
    if (!s->installed) return NULL; /* the wait never started (the test then hangs: ctest's
                                       timeout fails it) */
    if (s->how == TO_PROCESS)
        kill(getpid(), s->sig);           /* the kernel picks a thread that does not block it */
    else
        pthread_kill(pthread_self(), s->sig); /* taken on this thread, not on the waiter */
    return NULL;
}

static int wait_with_sender(int sig, route how) {
    sender s = { .sig = sig, .how = how };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_when_installed, &s), 0);
    int got = au_wait_for_signal();
    pthread_join(t, NULL);
    assert_true(s.installed);
    return got;
}

static void disposition_is(int sig, void (*want)(int)) {
    struct sigaction cur;
    assert_int_equal(sigaction(sig, NULL, &cur), 0);
    assert_true(cur.sa_handler == want);
}

static void returns_sigterm_and_sigint_with_nodes_running(void **unused) {
    au_node *a, *b;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 2 }, &a), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 2 }, &b), AU_OK);
    assert_int_equal(wait_with_sender(SIGTERM, TO_PROCESS), SIGTERM);
    disposition_is(SIGTERM, SIG_DFL);
    disposition_is(SIGINT, SIG_DFL);
    assert_int_equal(wait_with_sender(SIGINT, TO_PROCESS), SIGINT);
    disposition_is(SIGINT, SIG_DFL);
    au_node_stop(b);
    au_node_stop(a);
}

static void a_signal_taken_by_another_thread_wakes_the_waiter(void **unused) {
    assert_int_equal(wait_with_sender(SIGTERM, TO_SENDER_THREAD), SIGTERM);
    assert_int_equal(wait_with_sender(SIGINT, TO_SENDER_THREAD), SIGINT);
}

static void it_arrives_when_every_other_thread_blocks_both(void **unused) {
    sigset_t both, before, after;
    sigemptyset(&both);
    sigaddset(&both, SIGINT);
    sigaddset(&both, SIGTERM);
    /* Blocked before the node and the sender start: all their threads inherit the mask. */
    assert_int_equal(pthread_sigmask(SIG_BLOCK, &both, &before), 0);
    au_node *n;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 2 }, &n), AU_OK);
    assert_int_equal(wait_with_sender(SIGINT, TO_PROCESS), SIGINT);
    /* The waiter's mask is as it was: both still blocked. */
    assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &after), 0);
    assert_true(sigismember(&after, SIGINT) && sigismember(&after, SIGTERM));
    au_node_stop(n);
    assert_int_equal(pthread_sigmask(SIG_SETMASK, &before, NULL), 0);
}

static volatile sig_atomic_t own_handler_ran;
static void own_handler(int sig) { own_handler_ran = sig; }

static void the_programs_own_handlers_are_restored(void **unused) {
    struct sigaction mine = { .sa_handler = own_handler }, old_int, old_term;
    sigemptyset(&mine.sa_mask);
    assert_int_equal(sigaction(SIGINT, &mine, &old_int), 0);
    struct sigaction ign = { .sa_handler = SIG_IGN };
    sigemptyset(&ign.sa_mask);
    assert_int_equal(sigaction(SIGTERM, &ign, &old_term), 0);

    /* Ignored before the wait: taken during it all the same. The sender waits for the handler
     * of the wait, which is neither SIG_IGN nor own_handler... */
    sender s = { .sig = SIGTERM, .how = TO_PROCESS };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_when_installed, &s), 0);
    assert_int_equal(au_wait_for_signal(), SIGTERM);
    pthread_join(t, NULL);
    assert_true(s.installed);
    disposition_is(SIGTERM, SIG_IGN);
    disposition_is(SIGINT, own_handler);
    assert_int_equal(own_handler_ran, 0); /* ...and the program's handler did not see it */

    /* After the wait a signal goes to the program's handler again (raise: taken on this
     * thread before it returns). */
    raise(SIGINT);
    assert_int_equal(own_handler_ran, SIGINT);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
}

static void *first_waiter(void *arg) {
    *(int *)arg = au_wait_for_signal();
    return NULL;
}

static void one_waiter_at_a_time(void **unused) {
    sender s = { .sig = SIGTERM, .how = TO_PROCESS };
    int first = 0;
    pthread_t w, t;
    assert_int_equal(pthread_create(&w, NULL, first_waiter, &first), 0);
    int sig = SIGTERM;
    assert_true(wait_until(handler_installed, &sig, 10000)); /* the first waiter is waiting */
    assert_int_equal(au_wait_for_signal(), AU_ESTATE);       /* a second one is refused */
    assert_int_equal(pthread_create(&t, NULL, send_when_installed, &s), 0);
    pthread_join(t, NULL);
    pthread_join(w, NULL);
    assert_int_equal(first, SIGTERM);
    disposition_is(SIGTERM, SIG_DFL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(returns_sigterm_and_sigint_with_nodes_running),
        cmocka_unit_test(a_signal_taken_by_another_thread_wakes_the_waiter),
        cmocka_unit_test(it_arrives_when_every_other_thread_blocks_both),
        cmocka_unit_test(the_programs_own_handlers_are_restored),
        cmocka_unit_test(one_waiter_at_a_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
