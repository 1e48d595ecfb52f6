/* signal.c — au_wait_for_signal(): block the calling thread until SIGINT or SIGTERM.
 *
 * Relies on: nothing but POSIX signals and a semaphore. The node's threads need no setup: the
 * handler installed for the wait may run on any thread the kernel picks (a worker, the event
 * loop), and it only records the signal and posts the semaphore, both async-signal-safe. The
 * waiting thread unblocks the two signals for itself, so a process in which every other thread
 * blocks them (they inherited a blocked mask) still takes them, on the waiter.
 *
 * Invariants: one wait at a time (wait_lock); the previous dispositions and the waiter's signal
 * mask are restored before it returns, so a second Ctrl-C during a slow shutdown does what it did
 * before the wait (by default: ends the process). */
#include <aurum/node.h>

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>

static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t sem_once = PTHREAD_ONCE_INIT;
static sem_t posted;
/* Written by the handler, which may run on any thread: a lock-free atomic, not a volatile
 * sig_atomic_t (that is safe only for a handler on the thread that reads it). */
static atomic_int caught;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "a lock-free int, usable from a signal handler");

static void sem_setup(void) { sem_init(&posted, 0, 0); }

static void on_signal(int sig) {
    int saved = errno;
    int none = 0;
    atomic_compare_exchange_strong(&caught, &none, sig); /* the first of several wins */
    sem_post(&posted);
    errno = saved;
}

int au_wait_for_signal(void) {
    if (pthread_mutex_trylock(&wait_lock) != 0) return AU_ESTATE;
    pthread_once(&sem_once, sem_setup);
    while (sem_trywait(&posted) == 0) {} /* posts left by a past wait that saw two signals */
    atomic_store(&caught, 0);

    struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART }, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    if (sigaction(SIGINT, &sa, &old_int) != 0) {
        pthread_mutex_unlock(&wait_lock);
        return AU_EIO;
    }
    if (sigaction(SIGTERM, &sa, &old_term) != 0) {
        sigaction(SIGINT, &old_int, NULL);
        pthread_mutex_unlock(&wait_lock);
        return AU_EIO;
    }
    sigset_t both, old_mask;
    sigemptyset(&both);
    sigaddset(&both, SIGINT);
    sigaddset(&both, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &both, &old_mask); /* a pending one is taken right here */

    while (sem_wait(&posted) != 0 && errno == EINTR) {}
    int sig = atomic_load(&caught);

    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    pthread_mutex_unlock(&wait_lock);
    return sig;
}
