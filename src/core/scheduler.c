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
 * slower rebalancing of long queues. One exception to run-next: a turn that streams (actor.c,
 * "the outbox": LONG_TURN messages sent in one turn) hands the cells it makes runnable to an
 * idle worker (au_schedule_away, au_schedule_hand_off_next), so a consumer runs beside a
 * long producer turn instead of after it. */
#include "core/internal.h"
#include "util/clock.h"
#include "util/mpsc.h"

#include <sched.h>
#include <stdlib.h>

static _Thread_local au_worker *current;

#define RUN_NEXT_STREAK 32
#define WORKER_SPIN_NS 100000u /* spin before sleeping, see worker_main */

au_worker *au_current_worker(void) { return current; }

/* ---- placement and wake-up ------------------------------------------------------------------ */

/* Sleep and wake-up, the argument. A pusher (push_to) does: push the cell; pending += 1
 * (seq_cst); load sleeping (seq_cst), and wakes the worker if it is 1. A worker going to sleep
 * (sleep_until_work) does, under w->lock: store sleeping = 1 (seq_cst); load pending (seq_cst),
 * and waits only if it is 0. All four are seq_cst, so they fall in one total order: if the
 * pusher's increment comes before the sleeper's load, the sleeper sees work and does not wait;
 * otherwise the sleeper's store, before its load, comes before the pusher's load of sleeping,
 * and the pusher sees 1 and wakes it. Either way no cell is left in the queue of a sleeping
 * worker. Release/acquire would not do: each side is a store followed by a load of the other
 * variable, and both loads could then read the old values (the store-buffer case of Dekker's
 * algorithm). On x86 the increment is a locked add and the store an xchg, both full barriers.
 * The wake itself cannot be lost between the sleeper's check and its wait: the sleeper checks
 * under w->lock and wake() clears `sleeping` and signals under the same lock.
 *
 * Everything else here is a hint (relaxed): the sleepers/spinners counts and the per-worker
 * `spinning` and `sleeping` reads that choose where a cell goes, and `pending` where it only
 * decides whether to look again. A stale hint places a cell less well or costs one empty pass
 * of a loop, never a lost cell, because every push ends in the handshake above. */

static void wake(au_worker *w) {
    pthread_mutex_lock(&w->lock);
    /* relaxed: under w->lock, which orders it for the sleeper's re-check; a pusher that still
     * reads 1 only takes the lock and signals once more. */
    atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void push_to(au_worker *w, au_cell *cell) {
    au_runq_push(&w->q, &cell->run);
    /* seq_cst, both: the pusher's half of the sleep handshake (see above). The increment comes
     * after the push, and as a release it makes the linked node visible to a worker that
     * acquires this value of `pending` (the spin loop), so that worker's pop finds the cell. */
    atomic_fetch_add_explicit(&w->pending, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&w->sleeping, memory_order_seq_cst)) wake(w);
}

/* relaxed loads: hints (see above); a worker that stopped spinning or sleeping meanwhile still
 * gets the cell through push_to's handshake. */
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
        /* relaxed: our own queue's length, as a hint for placement. */
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

/* An idle worker, spinning or else asleep: never the caller's own, which is running. */
static au_worker *find_idle(au_node *node) {
    au_worker *s = find_spinner(node);
    return s ? s : find_sleeper(node);
}

void au_schedule_away(au_cell *cell) {
    au_node *node = cell->node;
    au_worker *w = current;
    if (!node->stepped && !(cell->flags & AU_CELL_DEDICATED) && w && w->node == node) {
        au_worker *idle = find_idle(node);
        if (idle && idle != w) {
            push_to(idle, cell);
            return;
        }
    }
    au_schedule(cell);
}

void au_schedule_hand_off_next(void) {
    au_worker *w = current;
    if (!w || !w->next) return;
    au_worker *idle = find_idle(w->node);
    if (!idle || idle == w) return;
    au_cell *cell = w->next;
    w->next = NULL;
    push_to(idle, cell);
}

/* ---- workers ------------------------------------------------------------------------------------ */

/* The sleeper's half of the handshake (see "Sleep and wake-up" above). */
static void sleep_until_work(au_worker *w) {
    au_node *node = w->node;
    atomic_fetch_add_explicit(&node->sleepers, 1, memory_order_relaxed); /* relaxed: a hint */
    pthread_mutex_lock(&w->lock);
    /* seq_cst: the store, then the seq_cst load of pending in the loop, pair with push_to. */
    atomic_store_explicit(&w->sleeping, 1, memory_order_seq_cst);
    /* sleeping, relaxed: only wake() clears it, under w->lock, which we hold here.
     * workers_exit, acquire: pairs with the release store in au_scheduler_join (set before
     * its wake() takes this lock, so a check under the lock cannot miss it). */
    while (atomic_load_explicit(&w->sleeping, memory_order_relaxed) &&
           atomic_load_explicit(&w->pending, memory_order_seq_cst) == 0 &&
           !atomic_load_explicit(&node->workers_exit, memory_order_acquire))
        pthread_cond_wait(&w->cond, &w->lock);
    atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed); /* relaxed: under w->lock */
    pthread_mutex_unlock(&w->lock);
    atomic_fetch_sub_explicit(&node->sleepers, 1, memory_order_relaxed); /* relaxed: a hint */
}

static void *worker_main(void *arg) {
    au_worker *w = arg;
    au_node *node = w->node;
    current = w;
    unsigned batch = node->cfg.batch;
    /* acquire: pairs with au_scheduler_join's release store of workers_exit. */
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
             * virtual machine. sched_yield leaves the core to any thread that has work.
             * pending, relaxed: non-zero means a push is counted whose link we could not see
             * yet (or just a stale value): pop again; zero is re-checked before sleeping. */
            if (atomic_load_explicit(&w->pending, memory_order_relaxed) == 0) {
                bool found = false;
                /* One spinner per node: more would only take turns yielding to each other. */
                if (!node->cfg.no_spin) {
                    /* spinners and spinning, relaxed: placement hints (see above). */
                    if (atomic_fetch_add_explicit(&node->spinners, 1, memory_order_relaxed) == 0) {
                        atomic_store_explicit(&w->spinning, 1, memory_order_relaxed);
                        /* Real time (CPU policy, not the node's clock). */
                        uint64_t until = au_clock_monotonic_ns() + WORKER_SPIN_NS;
                        while (!found && au_clock_monotonic_ns() < until) {
                            sched_yield();
                            /* acquire: pairs with push_to's increment (a release), so the
                             * pushed cell's link is visible to the pop that follows. */
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
        /* relaxed: a count, publishing nothing. The pop may even come before the pusher's
         * increment (the count wraps below zero for a moment); that only makes this loop look
         * once more, and the handshake does not rely on the count, only on each push being
         * followed by its own increment and sleeping check. */
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
            /* release: as in au_scheduler_join. */
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
    /* relaxed: only the stopping thread stores workers_exit = 1 here; this reads its own store. */
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
