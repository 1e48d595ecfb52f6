/* timer.c — the node's timers and its event-loop thread (shared with the transport, whose
 * handles are added before the thread starts: au_timers_start, then au_loop_start).
 *
 * Timers live in a binary min-heap ordered by deadline (node clock), guarded by a mutex, plus an
 * id → timer map for cancellation. Cancelling marks the timer and removes it from the map; the
 * heap entry is skipped when it surfaces (O(log n) lazily instead of an O(n) search now).
 * The loop thread (libuv) sleeps until the earliest deadline; a timer added earlier than what the
 * loop waits for wakes it through a uv_async. Firing happens outside the lock.
 *
 * Receive timeouts re-arm lazily (see actor.c): a message does not touch the heap, it only moves
 * the cell's last-activity time; the timer, when it fires, re-arms itself for the remainder. */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sched.h>
#include <uv.h>

#include "util/u64map.h"

typedef struct tentry {
    au_nanos deadline;
    au_timer id;
    au_timer_kind kind;
    bool cancelled;
    au_ref ref;          /* SEND */
    au_type *type;       /* SEND: of msg */
    au_cell *cell;       /* RECEIVE_TIMEOUT */
    uint32_t gen;
    uint64_t seq;
    void (*call)(au_node *, void *);  /* CALL */
    void (*discard)(void *);          /* CALL: frees arg if the timer never fires */
    void *arg;
    _Alignas(16) unsigned char msg[];
} tentry;

typedef struct au_timers {
    pthread_mutex_t lock;
    tentry **heap;
    size_t n, cap;
    au_u64map by_id; /* SEND timers only: receive timeouts are never cancelled by id */
    uint64_t next_id;
    au_nanos armed; /* deadline the loop currently waits for; 0 = none */

    uv_loop_t loop;
    uv_async_t async;
    uv_timer_t timer;
    pthread_t thread;
    bool quit;    /* guarded by lock */
    bool closed;  /* loop thread only: the quit was handled, the loop ends */
    _Atomic bool quiesced; /* the node is stopping: due timers are discarded */
    bool running; /* the loop thread was started */
} au_timers;

/* ---- heap -------------------------------------------------------------------------------------- */

static void heap_swap(tentry **h, size_t a, size_t b) {
    tentry *t = h[a];
    h[a] = h[b];
    h[b] = t;
}

static bool heap_push(au_timers *t, tentry *e) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        tentry **h = realloc(t->heap, cap * sizeof *h);
        if (!h) return false;
        t->heap = h;
        t->cap = cap;
    }
    size_t i = t->n++;
    t->heap[i] = e;
    while (i > 0 && t->heap[(i - 1) / 2]->deadline > t->heap[i]->deadline) {
        heap_swap(t->heap, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return true;
}

static tentry *heap_pop(au_timers *t) {
    tentry *top = t->heap[0];
    t->heap[0] = t->heap[--t->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->n && t->heap[l]->deadline < t->heap[m]->deadline) m = l;
        if (r < t->n && t->heap[r]->deadline < t->heap[m]->deadline) m = r;
        if (m == i) break;
        heap_swap(t->heap, i, m);
        i = m;
    }
    return top;
}

/* Frees a timer that will never fire, with what it owns. */
static void entry_discard(tentry *e) {
    if (e->kind == AU_TIMER_SEND && !e->cancelled && e->type) au_value_free(e->type, e->msg);
    if (e->kind == AU_TIMER_CALL && e->discard) e->discard(e->arg);
    free(e);
}

/* ---- firing ------------------------------------------------------------------------------------- */

static au_nanos now_of(au_node *node) { return node->clock.now(node->clock.user); }

static void fire(au_node *node, tentry *e) {
    if (atomic_load_explicit(&node->timers->quiesced, memory_order_acquire)) {
        entry_discard(e); /* the node is stopping: nothing may be sent any more */
        return;
    }
    if (e->kind == AU_TIMER_SEND) {
        au_stat_inc(&node->stats.timers_fired);
        au_ref_send_(e->ref, e->msg);
    } else if (e->kind == AU_TIMER_CALL) {
        e->call(node, e->arg);
    } else {
        au_envelope *env = au_envelope_new(AU_ENV_TIMEOUT, sizeof(uint64_t));
        if (env) {
            env->gen = e->gen;
            memcpy(env->payload, &e->seq, sizeof e->seq);
            au_cell_push(e->cell, env);
        }
    }
    free(e);
}

/* Fires every timer due at `now`; returns the next deadline (0: none). */
static au_nanos run_due(au_node *node) {
    au_timers *t = node->timers;
    for (;;) {
        au_nanos now = now_of(node);
        tentry *due = NULL;
        pthread_mutex_lock(&t->lock);
        while (t->n && t->heap[0]->cancelled) free(heap_pop(t));
        if (t->n && t->heap[0]->deadline <= now) {
            due = heap_pop(t);
            if (due->kind == AU_TIMER_SEND) au_u64map_take(&t->by_id, due->id);
        }
        au_nanos next = t->n ? t->heap[0]->deadline : 0;
        t->armed = next;
        pthread_mutex_unlock(&t->lock);
        if (!due) return next;
        fire(node, due);
    }
}

static void on_timer(uv_timer_t *h);

static void rearm(au_node *node, au_nanos next) {
    au_timers *t = node->timers;
    if (!next) {
        uv_timer_stop(&t->timer);
        return;
    }
    au_nanos now = now_of(node);
    uint64_t ms = next > now ? (next - now + 999999) / 1000000 : 0; /* round up: never early */
    uv_timer_start(&t->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *h) {
    au_node *node = h->data;
    rearm(node, run_due(node));
}

static void on_async(uv_async_t *h) {
    au_node *node = h->data;
    au_timers *t = node->timers;
    pthread_mutex_lock(&t->lock);
    bool quit = t->quit;
    pthread_mutex_unlock(&t->lock);
    if (quit) {
        uv_close((uv_handle_t *)&t->timer, NULL);
        uv_close((uv_handle_t *)&t->async, NULL);
        uv_stop(&t->loop);
        t->closed = true;
        return;
    }
    rearm(node, run_due(node));
}

/* Real time for the spin decision only (not the node's clock: this is about CPU, not the
 * application's time). */
static uint64_t spin_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The loop polls without blocking for a while after each datagram, then blocks in epoll: a
 * blocked thread takes tens of microseconds to wake on a virtual machine, a polling one picks a
 * reply up in one or two. The cost is one core's polling for LOOP_SPIN_NS after the last
 * datagram; an idle node blocks. */
#define LOOP_SPIN_NS 200000u

static void *loop_main(void *arg) {
    au_node *node = arg;
    au_timers *t = node->timers;
    uint64_t seen = node->loop_activity, quiet_since = spin_now();
    while (!t->closed) {
        uv_run(&t->loop, UV_RUN_NOWAIT);
        if (node->loop_activity != seen) {
            seen = node->loop_activity;
            quiet_since = spin_now();
        } else if (node->cfg.no_spin || spin_now() - quiet_since > LOOP_SPIN_NS) {
            uv_run(&t->loop, UV_RUN_ONCE); /* block until the next event */
            quiet_since = spin_now();
        } else {
            sched_yield();
        }
    }
    /* Let the closed handles' callbacks run. */
    uv_run(&node->timers->loop, UV_RUN_NOWAIT);
    au_pool_thread_flush();
    return NULL;
}

/* ---- API ---------------------------------------------------------------------------------------- */

au_err au_timers_start(au_node *node) {
    au_timers *t = calloc(1, sizeof *t);
    if (!t) return AU_ENOMEM;
    pthread_mutex_init(&t->lock, NULL);
    t->next_id = 1;
    if (node->cfg.sim) { /* the simulation holds the timers and fires them: no loop */
        node->timers = t;
        return AU_OK;
    }
    if (uv_loop_init(&t->loop) != 0) {
        pthread_mutex_destroy(&t->lock);
        free(t);
        return AU_EIO;
    }
    uv_async_init(&t->loop, &t->async, on_async);
    uv_timer_init(&t->loop, &t->timer);
    t->async.data = node;
    t->timer.data = node;
    node->timers = t;
    return AU_OK;
}

au_err au_loop_start(au_node *node) {
    au_timers *t = node->timers;
    if (node->cfg.sim) return AU_OK;
    if (pthread_create(&t->thread, NULL, loop_main, node) != 0) return AU_ENOMEM;
    t->running = true;
    return AU_OK;
}

void au_timers_stop(au_node *node) {
    au_timers *t = node->timers;
    if (!t) return;
    pthread_mutex_lock(&t->lock);
    t->quit = true;
    pthread_mutex_unlock(&t->lock);
    if (node->cfg.sim) {
        /* au_sim_node_remove_ already handed back (and freed) every pending entry. */
    } else if (t->running) {
        uv_async_send(&t->async);
        pthread_join(t->thread, NULL);
    } else {
        uv_close((uv_handle_t *)&t->timer, NULL);
        uv_close((uv_handle_t *)&t->async, NULL);
        uv_run(&t->loop, UV_RUN_NOWAIT);
    }
    if (!node->cfg.sim) uv_loop_close(&t->loop);
    for (size_t i = 0; i < t->n; i++) entry_discard(t->heap[i]);
    free(t->heap);
    au_u64map_free(&t->by_id);
    pthread_mutex_destroy(&t->lock);
    free(t);
    node->timers = NULL;
}

void au_timers_quiesce(au_node *node) {
    /* release: the loop thread that sees it will not fire after this point... */
    if (node->timers) atomic_store_explicit(&node->timers->quiesced, true, memory_order_release);
    /* ...and a fire already under way finishes before the loop runs its next callback, which
     * the transport's close (au_net_stop_) waits for. */
}

uv_loop_t *au_node_loop_(au_node *node) { return node->cfg.sim ? NULL : &node->timers->loop; }

bool au_loop_running_(au_node *node) { return node->timers && node->timers->running; }

static au_timer add(au_node *node, tentry *e) {
    au_timers *t = node->timers;
    pthread_mutex_lock(&t->lock);
    if (t->quit) {
        pthread_mutex_unlock(&t->lock);
        return 0;
    }
    e->id = t->next_id++;
    bool mapped = e->kind != AU_TIMER_SEND || au_u64map_put(&t->by_id, e->id, e);
    if (mapped && node->cfg.sim) {
        if (!au_sim_timer_add_(node->cfg.sim, node, e, e->deadline)) {
            if (e->kind == AU_TIMER_SEND) au_u64map_take(&t->by_id, e->id);
            pthread_mutex_unlock(&t->lock);
            return 0;
        }
        au_timer id = e->id;
        pthread_mutex_unlock(&t->lock);
        return id;
    }
    if (!mapped || !heap_push(t, e)) {
        if (mapped && e->kind == AU_TIMER_SEND) au_u64map_take(&t->by_id, e->id);
        pthread_mutex_unlock(&t->lock);
        return 0;
    }
    bool wake = t->armed == 0 || e->deadline < t->armed;
    if (wake) t->armed = e->deadline;
    au_timer id = e->id; /* once unlocked, the entry may fire and be freed */
    pthread_mutex_unlock(&t->lock);
    if (wake) uv_async_send(&t->async);
    return id;
}

/* A zeroed entry with `extra` bytes of message room, or NULL. */
static tentry *entry_new(au_timer_kind kind, au_nanos deadline, size_t extra) {
    tentry *e = calloc(1, sizeof *e + extra);
    if (e) {
        e->kind = kind;
        e->deadline = deadline;
    }
    return e;
}

/* Adds e; on failure frees it (the caller still owns what e points to) and returns 0. */
static au_timer submit(au_node *node, tentry *e) {
    au_timer id = add(node, e);
    if (!id) free(e);
    return id;
}

au_timer au_timers_add_send(au_node *node, au_nanos deadline, au_ref ref, au_type *type,
                            const void *msg) {
    tentry *e = entry_new(AU_TIMER_SEND, deadline, type->size);
    if (!e) return 0;
    e->ref = ref;
    e->type = type;
    memcpy(e->msg, msg, type->size);
    return submit(node, e);
}

au_timer au_timers_add_receive_timeout(au_node *node, au_nanos deadline, au_cell *cell,
                                       uint32_t gen, uint64_t seq) {
    tentry *e = entry_new(AU_TIMER_RECEIVE_TIMEOUT, deadline, 0);
    if (!e) return 0;
    e->cell = cell;
    e->gen = gen;
    e->seq = seq;
    return submit(node, e);
}

void au_timers_fire_(au_node *node, void *timer) {
    tentry *e = timer;
    au_timers *t = node->timers;
    pthread_mutex_lock(&t->lock);
    bool cancelled = e->cancelled;
    if (!cancelled && e->kind == AU_TIMER_SEND) au_u64map_take(&t->by_id, e->id);
    pthread_mutex_unlock(&t->lock);
    if (cancelled)
        free(e);
    else
        fire(node, e);
}

void au_timers_discard_(au_node *node, void *timer) {
    tentry *e = timer;
    au_timers *t = node->timers;
    pthread_mutex_lock(&t->lock);
    if (e->kind == AU_TIMER_SEND) au_u64map_take(&t->by_id, e->id);
    pthread_mutex_unlock(&t->lock);
    entry_discard(e);
}

au_timer au_timers_add_call(au_node *node, au_nanos deadline, void (*call)(au_node *, void *),
                            void (*discard)(void *), void *arg) {
    tentry *e = entry_new(AU_TIMER_CALL, deadline, 0);
    if (!e) return 0;
    e->call = call;
    e->discard = discard;
    e->arg = arg;
    return submit(node, e);
}

au_err au_timer_cancel(au_node *node, au_timer timer) {
    if (!node || !timer) return AU_EINVAL;
    au_timers *t = node->timers;
    pthread_mutex_lock(&t->lock);
    tentry *e = au_u64map_take(&t->by_id, timer);
    if (e) {
        /* Under the lock: once unlocked, run_due may free the entry. */
        e->cancelled = true;
        au_value_free(e->type, e->msg);
        e->type = NULL;
    }
    pthread_mutex_unlock(&t->lock);
    if (!e) return AU_ENOTFOUND;
    au_stat_inc(&node->stats.timers_cancelled);
    return AU_OK;
}

/* ---- clock ---------------------------------------------------------------------------------------- */

static au_nanos monotonic_now(void *user) {
    (void)user;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (au_nanos)ts.tv_sec * 1000000000u + (au_nanos)ts.tv_nsec;
}

const au_clock au_monotonic_clock = { monotonic_now, NULL };

au_nanos au_node_now(const au_node *node) { return node->clock.now(node->clock.user); }
