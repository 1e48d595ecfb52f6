/* timer.c — the node's timers: one min-heap for every timer kind, fired through the node driver.
 *
 * Timers live in a binary min-heap (util/heap.h) ordered by deadline (node clock), guarded by a mutex, plus an
 * id → timer map for cancellation. Cancelling marks the timer and removes it from the map; the
 * heap entry is skipped when it surfaces (O(log n) lazily instead of an O(n) search now).
 * The driver is told the earliest deadline (wake_at) whenever a timer is added earlier than the
 * one it was last told; it then calls au_node_run_timers on its timer thread, which fires what
 * is due and returns the next deadline. Firing happens outside the lock.
 *
 * Receive timeouts re-arm lazily (see actor.c): a message does not touch the heap, it only moves
 * the cell's last-activity time; the timer, when it fires, re-arms itself for the remainder. */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/heap.h"
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
    au_heap heap;          /* of tentry *, earliest deadline first */
    au_u64map by_id; /* SEND and CALL timers, the ones with a handle (by_id) */
    au_nanos armed; /* deadline the driver was last asked to wake for; 0 = none */
    bool quit;      /* guarded by lock: no new timer */
    _Atomic bool quiesced; /* the node is stopping: due timers are discarded */
} au_timers;

static bool earlier(const void *a, const void *b, void *ctx) {
    return (*(tentry *const *)a)->deadline < (*(tentry *const *)b)->deadline;
}

/* Frees a timer that will never fire, with what it owns. */
static void entry_discard(tentry *e) {
    if (e->kind == AU_TIMER_SEND && !e->cancelled && e->type) au_value_free(e->type, e->msg);
    if ((e->kind == AU_TIMER_CALL || e->kind == AU_TIMER_INTERNAL_CALL) && !e->cancelled &&
        e->discard)
        e->discard(e->arg);
    free(e);
}

/* ---- firing ------------------------------------------------------------------------------------- */

static void fire(au_node *node, tentry *e) {
    if (atomic_load_explicit(&node->timers->quiesced, memory_order_acquire)) {
        entry_discard(e); /* the node is stopping: nothing may be sent any more */
        return;
    }
    if (e->kind == AU_TIMER_SEND) {
        au_stat_add(&node->stats.timers_fired, 1);
        au_ref_send_(e->ref, e->msg);
    } else if (e->kind == AU_TIMER_CALL || e->kind == AU_TIMER_INTERNAL_CALL) {
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

/* Whether the timer has a handle au_timer_cancel may be given: the ones a caller asked for
 * (au_send_after, au_node_call_at). Receive timeouts and the runtime's own calls have none:
 * handles are a counter, easy to guess, and a layer whose timer vanished would never know. */
static bool by_id(const tentry *e) { return e->kind == AU_TIMER_SEND || e->kind == AU_TIMER_CALL; }

au_nanos au_node_run_timers(au_node *node) {
    au_timers *t = node->timers;
    for (;;) {
        au_nanos now = au_node_now(node);
        tentry *due = NULL;
        pthread_mutex_lock(&t->lock);
        tentry **top;
        while ((top = au_heap_peek(&t->heap)) && (*top)->cancelled) {
            free(*top);
            au_heap_pop(&t->heap, NULL);
        }
        /* UINT64_MAX is "never" (a saturated deadline): even a simulated clock that reaches
         * the end of time does not fire it; it waits to be cancelled or the node to stop. */
        if (top && (*top)->deadline <= now && (*top)->deadline != UINT64_MAX) {
            au_heap_pop(&t->heap, &due);
            if (by_id(due)) au_u64map_take(&t->by_id, due->id);
        }
        top = au_heap_peek(&t->heap);
        au_nanos next = top && (*top)->deadline != UINT64_MAX ? (*top)->deadline : 0;
        t->armed = next;
        pthread_mutex_unlock(&t->lock);
        if (!due) return next;
        au_node *outer = au_own_work_begin(node); /* its callback must not stop this node */
        fire(node, due);
        au_own_work_end(outer);
    }
}

/* ---- API ---------------------------------------------------------------------------------------- */

au_err au_timers_start(au_node *node) {
    au_timers *t = calloc(1, sizeof *t);
    if (!t) return AU_ENOMEM;
    pthread_mutex_init(&t->lock, NULL);
    au_heap_init(&t->heap, sizeof(tentry *), earlier, NULL, NULL);
    node->timers = t;
    return AU_OK;
}

void au_timers_stop(au_node *node) {
    au_timers *t = node->timers;
    if (!t) return;
    for (size_t i = 0; i < au_heap_len(&t->heap); i++) entry_discard(*(tentry **)au_heap_at(&t->heap, i));
    au_heap_destroy(&t->heap);
    au_u64map_free(&t->by_id);
    pthread_mutex_destroy(&t->lock);
    free(t);
    node->timers = NULL;
}

void au_timers_quiesce(au_node *node) {
    au_timers *t = node->timers;
    if (!t) return;
    pthread_mutex_lock(&t->lock);
    t->quit = true;
    pthread_mutex_unlock(&t->lock);
    /* release: the timer thread that sees it will not fire after this point; a fire already
     * under way finishes before the driver closes (au_node_stop closes the driver after). */
    atomic_store_explicit(&t->quiesced, true, memory_order_release);
}

static _Atomic uint64_t next_timer_id = 1;

static au_timer add(au_node *node, tentry *e) {
    au_timers *t = node->timers;
    pthread_mutex_lock(&t->lock);
    if (t->quit) {
        pthread_mutex_unlock(&t->lock);
        return 0;
    }
    /* Handles are unique in the process, not per node: one node's handle given to another
     * node's au_timer_cancel finds nothing there instead of cancelling an unrelated timer. */
    e->id = atomic_fetch_add_explicit(&next_timer_id, 1, memory_order_relaxed);
    bool mapped = !by_id(e) || au_u64map_put(&t->by_id, e->id, e);
    if (!mapped || !au_heap_push(&t->heap, &e)) {
        if (mapped && by_id(e)) au_u64map_take(&t->by_id, e->id);
        pthread_mutex_unlock(&t->lock);
        return 0;
    }
    bool wake = e->deadline != UINT64_MAX && (t->armed == 0 || e->deadline < t->armed);
    if (wake) t->armed = e->deadline;
    au_timer id = e->id; /* once unlocked, the entry may fire and be freed */
    au_nanos deadline = e->deadline;
    pthread_mutex_unlock(&t->lock);
    if (wake) node->driver->ops->wake_at(node->driver, deadline);
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

static au_timer add_call(au_node *node, au_timer_kind kind, au_nanos deadline,
                         void (*call)(au_node *, void *), void (*discard)(void *), void *arg) {
    tentry *e = entry_new(kind, deadline, 0);
    if (!e) return 0;
    e->call = call;
    e->discard = discard;
    e->arg = arg;
    return submit(node, e);
}

bool au_timers_add_call(au_node *node, au_nanos deadline, void (*call)(au_node *, void *),
                        void (*discard)(void *), void *arg) {
    return add_call(node, AU_TIMER_INTERNAL_CALL, deadline, call, discard, arg) != 0;
}

au_err au_timer_cancel(au_node *node, au_timer timer) {
    if (!node || !timer) return AU_EINVAL;
    au_timers *t = node->timers;
    pthread_mutex_lock(&t->lock);
    tentry *e = au_u64map_take(&t->by_id, timer);
    void (*discard)(void *) = NULL;
    void *arg = NULL;
    if (e) {
        /* Under the lock: once unlocked, au_node_run_timers may free the entry. */
        e->cancelled = true;
        if (e->type) au_value_free(e->type, e->msg);
        e->type = NULL;
        discard = e->discard;
        arg = e->arg;
        e->discard = NULL;
    }
    pthread_mutex_unlock(&t->lock);
    if (!e) return AU_ENOTFOUND;
    if (discard) discard(arg);
    au_stat_add(&node->stats.timers_cancelled, 1);
    return AU_OK;
}

au_timer au_node_call_at(au_node *node, au_nanos deadline, void (*fn)(au_node *, void *),
                         void (*discard)(void *), void *arg) {
    if (!node || !fn) return 0;
    return add_call(node, AU_TIMER_CALL, deadline, fn, discard, arg);
}
