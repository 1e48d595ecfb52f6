/* scheduler.c — the M:N scheduler: a fixed pool of worker threads runs actors' turns.
 *
 * Each worker owns a run queue (intrusive MPSC, the same algorithm as Vyukov's queue with a stub)
 * that any thread may push a cell onto. An actor becomes runnable when its mailbox goes from
 * empty to non-empty (see mailbox.h) and is pushed to one worker; it runs a bounded batch and, if
 * messages remain, is scheduled again behind the others, for fairness.
 *
 * Placement: a cell made runnable by an actor takes its worker's run-next slot — an owner-only
 * pointer, no atomics — and runs right after the current turn on a warm cache with no wake-up
 * (ping-pong and rings stay on one core at a few tens of nanoseconds a hop); at most 32 turns in
 * a row come from that slot, so queued cells are not starved. Otherwise it goes to the current
 * worker's queue when that is empty, or, if it already has work and another worker sleeps, to
 * the sleeper, which is woken. There is no stealing: the trade-off is simpler queues against
 * slower rebalancing of long queues (a producer that sends millions of messages in one turn
 * runs before its consumer does). */
#include "core/internal.h"
#include "util/mpsc.h"

#include <sched.h>
#include <stdlib.h>
#include <time.h>

static _Thread_local au_worker *current;

#define RUN_NEXT_STREAK 32
#define WORKER_SPIN_NS 100000u /* spin before sleeping, see worker_main */

/* Real time for the spin decision (CPU policy, not the application's clock). */
static uint64_t spin_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

au_worker *au_current_worker(void) { return current; }

/* ---- placement and wake-up ------------------------------------------------------------------ */

static void wake(au_worker *w) {
    pthread_mutex_lock(&w->lock);
    atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void push_to(au_worker *w, au_cell *cell) {
    au_runq_push(&w->q, &cell->run);
    /* seq_cst pair with the sleeper (store sleeping=1, then load pending): either it sees our
     * pending work or we see it asleep and wake it. */
    atomic_fetch_add_explicit(&w->pending, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&w->sleeping, memory_order_seq_cst)) wake(w);
}

static au_worker *find_spinner(au_node *node) {
    if (atomic_load_explicit(&node->spinners, memory_order_relaxed) == 0) return NULL;
    for (unsigned i = 0; i < node->nworkers; i++)
        if (atomic_load_explicit(&node->workers[i].spinning, memory_order_relaxed))
            return &node->workers[i];
    return NULL;
}

static au_worker *find_sleeper(au_node *node) {
    if (atomic_load_explicit(&node->sleepers, memory_order_relaxed) == 0) return NULL;
    for (unsigned i = 0; i < node->nworkers; i++)
        if (atomic_load_explicit(&node->workers[i].sleeping, memory_order_relaxed))
            return &node->workers[i];
    return NULL;
}

/* Where a runnable cell goes when it does not take the run-next slot. */
static void place(au_node *node, au_cell *cell) {
    au_worker *w = current;
    if (w && w->node == node) {
        if (atomic_load_explicit(&w->pending, memory_order_relaxed) == 0) {
            push_to(w, cell);
            return;
        }
        au_worker *s = find_sleeper(node);
        push_to(s ? s : w, cell);
        return;
    }
    /* From outside the pool (the event loop, a plain thread): a spinning worker picks it up
     * fastest, then a sleeping one (woken), else any. */
    au_worker *s = find_spinner(node);
    if (!s) s = find_sleeper(node);
    if (!s) {
        /* relaxed: only spreads load; any worker is correct. */
        unsigned i = atomic_fetch_add_explicit(&node->next_worker, 1, memory_order_relaxed);
        s = &node->workers[i % node->nworkers];
    }
    push_to(s, cell);
}

void au_schedule(au_cell *cell) {
    if (cell->node->stepped) { /* the driver runs the turns */
        cell->node->driver->ops->schedule(cell->node->driver, (au_task *)cell);
        return;
    }
    if (cell->flags & AU_CELL_DEDICATED) {
        au_dedicated_wake(cell);
        return;
    }
    au_node *node = cell->node;
    au_worker *w = current;
    /* Made runnable by an actor on this worker: run it right after the current turn, from a
     * plain owner-only slot (no atomics: a message hop in a ping-pong or a ring costs no locked
     * instruction here). The streak bound keeps the run queue from starving. */
    if (w && w->node == node && !w->next && w->next_streak < RUN_NEXT_STREAK) {
        w->next = cell;
        return;
    }
    place(node, cell);
}

/* ---- workers ------------------------------------------------------------------------------------ */

static void sleep_until_work(au_worker *w) {
    au_node *node = w->node;
    atomic_fetch_add_explicit(&node->sleepers, 1, memory_order_relaxed);
    pthread_mutex_lock(&w->lock);
    atomic_store_explicit(&w->sleeping, 1, memory_order_seq_cst);
    while (atomic_load_explicit(&w->sleeping, memory_order_relaxed) &&
           atomic_load_explicit(&w->pending, memory_order_seq_cst) == 0 &&
           !atomic_load_explicit(&node->workers_exit, memory_order_acquire))
        pthread_cond_wait(&w->cond, &w->lock);
    atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
    pthread_mutex_unlock(&w->lock);
    atomic_fetch_sub_explicit(&node->sleepers, 1, memory_order_relaxed);
}

static void *worker_main(void *arg) {
    au_worker *w = arg;
    au_node *node = w->node;
    current = w;
    unsigned batch = node->cfg.batch;
    while (!atomic_load_explicit(&node->workers_exit, memory_order_acquire)) {
        au_cell *cell = w->next;
        if (cell) {
            w->next = NULL;
            w->next_streak++;
            /* A batch that ended with messages left goes behind the others, not next. */
            if (au_cell_run(cell, batch)) place(node, cell);
            continue;
        }
        w->next_streak = 0;
        au_mnode *n = au_runq_pop(&w->q);
        if (!n) {
            /* Spin a little before sleeping: work often follows soon (a reply from another core
             * or another node), and a sleeping thread takes tens of microseconds to wake on a
             * virtual machine. sched_yield leaves the core to any thread that has work. */
            if (atomic_load_explicit(&w->pending, memory_order_relaxed) == 0) {
                bool found = false;
                /* One spinner per node: more would only take turns yielding to each other. */
                if (!node->cfg.no_spin) {
                    if (atomic_fetch_add_explicit(&node->spinners, 1, memory_order_relaxed) == 0) {
                        atomic_store_explicit(&w->spinning, 1, memory_order_relaxed);
                        uint64_t until = spin_now() + WORKER_SPIN_NS;
                        while (!found && spin_now() < until) {
                            sched_yield();
                            found = atomic_load_explicit(&w->pending, memory_order_acquire) != 0;
                        }
                        atomic_store_explicit(&w->spinning, 0, memory_order_relaxed);
                    }
                    atomic_fetch_sub_explicit(&node->spinners, 1, memory_order_relaxed);
                }
                if (!found) sleep_until_work(w);
            }
            continue;
        }
        atomic_fetch_sub_explicit(&w->pending, 1, memory_order_relaxed);
        cell = (au_cell *)((char *)n - offsetof(au_cell, run));
        if (au_cell_run(cell, batch)) place(node, cell);
    }
    au_pool_thread_flush();
    current = NULL;
    return NULL;
}

au_err au_scheduler_start(au_node *node) {
    node->workers = calloc(node->nworkers, sizeof *node->workers);
    if (!node->workers) return AU_ENOMEM;
    for (unsigned i = 0; i < node->nworkers; i++) {
        au_worker *w = &node->workers[i];
        w->node = node;
        w->index = i;
        au_runq_init(&w->q);
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
    }
    for (unsigned i = 0; i < node->nworkers; i++) {
        if (pthread_create(&node->workers[i].thread, NULL, worker_main, &node->workers[i]) != 0) {
            atomic_store_explicit(&node->workers_exit, 1, memory_order_release);
            for (unsigned j = 0; j < i; j++) wake(&node->workers[j]);
            for (unsigned j = 0; j < i; j++) pthread_join(node->workers[j].thread, NULL);
            for (unsigned j = 0; j < node->nworkers; j++) {
                pthread_mutex_destroy(&node->workers[j].lock);
                pthread_cond_destroy(&node->workers[j].cond);
            }
            free(node->workers);
            node->workers = NULL;
            return AU_ENOMEM;
        }
    }
    return AU_OK;
}

void au_scheduler_join(au_node *node) {
    if (!node->workers || atomic_load_explicit(&node->workers_exit, memory_order_relaxed)) return;
    /* release: workers that see the flag see everything done before stop. */
    atomic_store_explicit(&node->workers_exit, 1, memory_order_release);
    for (unsigned i = 0; i < node->nworkers; i++) wake(&node->workers[i]);
    for (unsigned i = 0; i < node->nworkers; i++) pthread_join(node->workers[i].thread, NULL);
}

void au_scheduler_stop(au_node *node) {
    if (!node->workers) return;
    au_scheduler_join(node);
    for (unsigned i = 0; i < node->nworkers; i++) {
        pthread_mutex_destroy(&node->workers[i].lock);
        pthread_cond_destroy(&node->workers[i].cond);
    }
    free(node->workers);
    node->workers = NULL;
}
