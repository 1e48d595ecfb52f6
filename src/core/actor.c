/* actor.c — actor cells: spawn, the turn that runs an actor's envelopes, stop, and the hooks'
 * context. Relies on scheduler.c to run cells and timer.c for receive timeouts.
 *
 * Invariants: only the party that holds the cell's "scheduled" token (see mailbox.h) runs a
 * turn, so hooks of one actor never run concurrently; a cell's fields other than the mailbox and
 * `gen` are read only after checking that `gen` matches the envelope being processed.
 *
 * Bounded mailboxes ("bounded mailboxes" below): a bounded cell's memory carries an au_bound
 * (internal.h); every user message to it is counted before it is pushed and uncounted after it
 * is popped, and only counted envelopes are ever refused or dropped. An unbounded cell's send
 * path tests one fixed flag bit more than before and touches nothing else. */
#include "core/internal.h"
#include "util/clock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STATE_ALIGN 16

static _Thread_local au_err last_error;

au_err au_last_error(void) { return last_error; }
void au_set_last_error_(au_err err) { last_error = err; }

static size_t cell_header_size(void) {
    return (sizeof(au_cell) + STATE_ALIGN - 1) & ~(size_t)(STATE_ALIGN - 1);
}

/* ---- cell memory -------------------------------------------------------------------------- */

/* Cells come in slabs; the slab list is also how node stop finds every cell. */
typedef struct slab {
    struct slab *next;
    size_t stride;
    unsigned count;
    unsigned kind; /* the cells' AU_CELL_* flags */
    _Alignas(16) unsigned char mem[];
} slab;

#define FOR_EACH_CELL(node, c)                                                                \
    for (slab *s_ = (node)->slabs; s_; s_ = s_->next)                                          \
        for (unsigned i_ = 0; i_ < s_->count; i_++)                                            \
            for (au_cell *c = (au_cell *)(s_->mem + s_->stride * i_); c; c = NULL)

#define SLAB_CELLS 64

static void bound_init(au_bound *b) {
    atomic_init(&b->depth, 0);
    atomic_init(&b->capacity, 0);
    atomic_init(&b->low_water, 0);
    atomic_init(&b->policy, 0);
    atomic_init(&b->waiting, 0);
    pthread_mutex_init(&b->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* au_send_wait's deadline */
    pthread_cond_init(&b->cond, &attr);
    pthread_condattr_destroy(&attr);
    b->actors = NULL;
    b->nactors = b->actors_cap = 0;
}

/* A free cell of the class and kind (AU_CELL_DEDICATED | AU_CELL_BOUNDED), or a new slab's
 * worth. Called with node->lock held. */
static au_cell *cell_take(au_node *node, unsigned cls, unsigned kind) {
    bool dedicated = kind & AU_CELL_DEDICATED;
    au_cell **list = &node->free_cells[kind][cls];
    if (!*list) {
        size_t stride = au_cell_class_size[cls] + (dedicated ? sizeof(au_dedicated) : 0);
        stride = (stride + 15) & ~(size_t)15;
        if (kind & AU_CELL_BOUNDED) stride += (sizeof(au_bound) + 15) & ~(size_t)15;
        unsigned n = dedicated ? 4 : SLAB_CELLS;
        slab *s = calloc(1, sizeof(slab) + stride * n);
        if (!s) return NULL;
        s->next = node->slabs;
        s->stride = stride;
        s->count = n;
        s->kind = kind;
        node->slabs = s;
        for (unsigned i = 0; i < n; i++) {
            au_cell *c = (au_cell *)(s->mem + stride * i);
            au_mailbox_init(&c->mbox);
            atomic_init(&c->gen, 0);
            atomic_init(&c->autonamed, 0);
            atomic_init(&c->def, NULL);
            c->flags = (uint8_t)kind;
            c->size_class = (uint8_t)cls;
            c->node = node;
            if (dedicated) {
                au_dedicated *d = au_cell_dedicated(c);
                pthread_mutex_init(&d->lock, NULL);
                pthread_cond_init(&d->cond, NULL);
            }
            if (kind & AU_CELL_BOUNDED) bound_init(au_cell_bound(c));
            c->free_next = *list;
            *list = c;
        }
    }
    au_cell *c = *list;
    *list = c->free_next;
    c->free_next = NULL;
    return c;
}

static void cell_release(au_cell *cell) {
    au_node *node = cell->node;
    pthread_mutex_lock(&node->lock);
    unsigned kind = cell->flags & (AU_CELL_DEDICATED | AU_CELL_BOUNDED);
    cell->free_next = node->free_cells[kind][cell->size_class];
    node->free_cells[kind][cell->size_class] = cell;
    pthread_mutex_unlock(&node->lock);
}

static unsigned class_for_state(size_t state_size, bool *inline_state) {
    size_t total = cell_header_size() + state_size;
    for (unsigned c = 0; c < AU_CELL_SIZE_CLASSES; c++) {
        if (total <= au_cell_class_size[c]) {
            *inline_state = true;
            return c;
        }
    }
    *inline_state = false;
    return 0;
}

static bool state_is_inline(au_cell *cell) {
    return cell->state == (char *)cell + cell_header_size();
}

/* ---- sending into a cell ------------------------------------------------------------------ */

/* The pooled turn running on this thread (see "turns" and "the outbox" below). */
#define TURN_DEFERRED 16
static _Thread_local struct {
    unsigned depth;
    uint64_t sends; /* user messages sent through the outbox in this turn */
    size_t n;
    struct { void (*flush)(void *); void *arg; } at[TURN_DEFERRED];
} turn;

static _Thread_local struct {
    au_cell *prev; /* the target of the previous user message (of this turn, inside one) */
    au_cell *cell; /* the run's target (== prev); NULL: no run */
    au_mnode *first, *last;
    unsigned n;
} outbox;

static void outbox_flush(void);

/* A seqlock read: gen, then def, then gen again; any thread, lock-free.
 *  - first gen load, acquire: pairs with spawn's seq_cst (so also release) store of this gen,
 *    which comes after spawn's store of def: if gen matches, def is this incarnation's or newer.
 *  - def load, acquire (in place of an acquire fence after a relaxed load, which ThreadSanitizer
 *    does not model): it keeps the def load before the second gen load. If the def read is a
 *    later incarnation's (the cell stopped and was reused meanwhile), the stop's gen change
 *    happened before that def was written, and the acquire makes it visible to the second load,
 *    which then fails. That takes spawn's def store being a release.
 *  - second gen load, relaxed: ordered after the def load by that acquire. */
const au_actor_def *au_cell_def_if_alive(au_cell *cell, uint32_t gen) {
    if (atomic_load_explicit(&cell->gen, memory_order_acquire) != gen) return NULL;
    const au_actor_def *def = atomic_load_explicit(&cell->def, memory_order_acquire);
    if (atomic_load_explicit(&cell->gen, memory_order_relaxed) != gen) return NULL;
    return def;
}

/* The send path's last step, any thread. The mailbox push (an acq_rel exchange, then a release
 * link) publishes env and everything this thread wrote before it to the worker that pops it.
 * When it reports the empty bit, this thread holds the scheduled token: the exchange's acquire
 * gave it the actor's last turn, and au_schedule passes both on through the run queue's
 * release push and the worker's acquire pop (or the run-next slot, on this same thread; or a
 * stepping driver, whose schedule op must order the same way). */
void au_cell_push(au_cell *cell, au_envelope *env) {
    if (outbox.cell) outbox_flush(); /* a run held back goes first: pair order (Term after it) */
    if (au_mailbox_push(&cell->mbox, &env->node)) au_schedule(cell);
}

/* ---- the outbox: a turn's run of messages to one actor ------------------------------------- *
 *
 * Inside a pooled actor's turn, consecutive user messages to the same unbounded actor after the
 * first (which is pushed at once, so a turn that sends one message pays nothing here) are linked
 * into a run with plain stores and pushed with one exchange (au_mailbox_push_chain) when the run
 * reaches OUTBOX_RUN, when the turn sends to another actor or pushes anything else (au_cell_push
 * flushes first, so every sender→receiver pair keeps its order), and when the turn ends. A
 * producer's burst then pays one atomic exchange, and its consumer one schedule, per run instead
 * of per message. A run is held back at most until the end of the turn that made it.
 *
 * A turn that has sent LONG_TURN messages is streaming: the actors it makes runnable from then
 * on go to an idle worker (au_schedule_away) rather than its own run-next slot, and the one
 * already waiting there is handed over, so the consumer runs in parallel with the producer
 * instead of after its whole turn (and the producer's memory is recycled as it goes, instead
 * of a backlog of every message being built first). */
#define OUTBOX_RUN 64
#define LONG_TURN 256

/* Out of line: the sends that are not part of a run keep a frameless fast path. */
static __attribute__((noinline)) void outbox_flush(void) {
    au_cell *cell = outbox.cell;
    outbox.cell = NULL;
    bool streaming = turn.sends >= LONG_TURN;
    if (au_mailbox_push_chain(&cell->mbox, outbox.first, outbox.last)) {
        if (streaming)
            au_schedule_away(cell);
        else
            au_schedule(cell);
    } else if (streaming) {
        /* No worker was idle when the turn began streaming: look again once per run. */
        au_schedule_hand_off_next();
    }
}

void au_cell_send(au_cell *cell, au_envelope *env) {
    /* Outside a turn (a plain thread, a dedicated actor), or the first of a run: pushed now, so
     * a turn that sends one message (a request, a reply) pays nothing for the outbox. */
    if (cell != outbox.prev) {
        if (__builtin_expect(outbox.cell != NULL, 0)) outbox_flush();
        outbox.prev = cell; /* outside a turn too: the run path below checks for one */
        if (au_mailbox_push(&cell->mbox, &env->node)) au_schedule(cell);
        return;
    }
    if (!turn.depth) {
        if (au_mailbox_push(&cell->mbox, &env->node)) au_schedule(cell);
        return;
    }
    if (outbox.cell != cell) {
        outbox.cell = cell;
        outbox.first = &env->node;
        outbox.n = 0;
    } else {
        /* relaxed: the run is this thread's until the flush's exchange publishes it. */
        atomic_store_explicit(&outbox.last->next, &env->node, memory_order_relaxed);
    }
    outbox.last = &env->node;
    if (++outbox.n == OUTBOX_RUN) outbox_flush();
    if (++turn.sends == LONG_TURN) au_schedule_hand_off_next();
}

au_ref au_cell_ref(au_cell *cell, uint32_t gen, au_type *iface, uint16_t variant) {
    return (au_ref){ .target = cell, .iface = iface, .gen = gen, .variant = variant, .flags = 0 };
}

/* ---- bounded mailboxes -------------------------------------------------------------------- */

/* Room and its announcement, the argument. Senders raise depth (a CAS that never passes the
 * limit, so the bound is exact) before pushing; the consumer lowers it by one after each
 * counted envelope; so every fall of depth from above low_water to at most low_water is one
 * decrement that lands exactly on low_water, and that decrement is where waiting senders are
 * told (room_announce). A sender that must wait does: waiting += 1, then tries depth again, and
 * waits only if that fails; the consumer does: depth -= 1, then reads waiting. All four are
 * seq_cst, so (as in the scheduler's sleep handshake) either the sender's second try sees the
 * room or the consumer sees the waiter, and no waiter is left behind a drained mailbox. Blocked
 * threads check and sleep under b->lock, and room_announce broadcasts under it, so the wake-up
 * itself cannot fall between a check and the wait. An actor's registration is made and
 * re-checked under the same lock, and the announcement takes the whole list under it: each
 * registration is announced exactly once (or withdrawn by its own re-check). The stop of the
 * incarnation announces too (finish_stop), after its gen change, so a registration made after
 * that sees the gen changed in its re-check. */

/* Highest depth seen, node-wide: rarely raised, so a relaxed look first. */
static void note_high_water(au_node *node, uint32_t depth) {
    _Atomic uint64_t *hw = &node->stats.mailbox_high_water;
    uint64_t cur = atomic_load_explicit(hw, memory_order_relaxed);
    while (depth > cur &&
           !atomic_compare_exchange_weak_explicit(hw, &cur, depth, memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

/* Takes one unit of room if depth is below limit. seq_cst: the waiter's half of the handshake
 * above (for the other callers it costs nothing more on x86: a CAS is a full barrier). */
static bool room_take(au_node *node, au_bound *b, uint32_t limit) {
    uint32_t d = atomic_load_explicit(&b->depth, memory_order_relaxed);
    while (d < limit) {
        if (atomic_compare_exchange_weak_explicit(&b->depth, &d, d + 1, memory_order_seq_cst,
                                                  memory_order_relaxed)) {
            note_high_water(node, d + 1);
            return true;
        }
    }
    return false;
}

/* Tells every waiting sender that there is room (or that the actor stopped): wakes the blocked
 * threads and sends one AU_ENV_WRITABLE to each registered actor. Any thread. */
static void room_announce(au_cell *cell, au_bound *b) {
    pthread_mutex_lock(&b->lock);
    pthread_cond_broadcast(&b->cond);
    au_room_waiter *list = b->actors;
    uint32_t n = b->nactors;
    b->actors = NULL;
    b->nactors = b->actors_cap = 0;
    /* seq_cst like every update of waiting (see above); the blocked threads' own counts stay. */
    if (n) atomic_fetch_sub_explicit(&b->waiting, n, memory_order_seq_cst);
    pthread_mutex_unlock(&b->lock);
    for (uint32_t i = 0; i < n; i++) {
        au_envelope *env = au_envelope_new(AU_ENV_WRITABLE, sizeof(au_ref));
        if (!env) continue; /* out of memory: that sender is not told (logged nowhere; rare) */
        au_ref target = au_cell_ref(cell, list[i].target_gen, list[i].root, AU_WHOLE);
        memcpy(env->payload, &target, sizeof target);
        env->gen = list[i].gen;
        au_cell_push(list[i].cell, env);
    }
    free(list);
}

/* The consumer's half: one counted envelope is done with. */
static void room_release(au_cell *cell, au_bound *b) {
    uint32_t d = atomic_fetch_sub_explicit(&b->depth, 1, memory_order_seq_cst) - 1;
    if (d == atomic_load_explicit(&b->low_water, memory_order_relaxed) &&
        atomic_load_explicit(&b->waiting, memory_order_seq_cst))
        room_announce(cell, b);
}

__attribute__((noinline)) void au_cell_room_return(au_cell *cell) {
    room_release(cell, au_cell_bound(cell));
}

static bool room_alive(au_cell *cell, uint32_t gen) {
    return atomic_load_explicit(&cell->gen, memory_order_seq_cst) == gen;
}

/* Registers the running actor for one AU_ENV_WRITABLE from cell (AU_EFULL), unless its re-check
 * finds room (AU_OK, room taken) or the incarnation gone (AU_ESTOPPED). */
static au_err room_register(au_cell *cell, au_bound *b, uint32_t gen, au_ctx *ctx) {
    au_node *node = cell->node;
    uint32_t cap = atomic_load_explicit(&b->capacity, memory_order_relaxed);
    const au_actor_def *def = au_cell_def_if_alive(cell, gen);
    if (!def) return AU_ESTOPPED;
    pthread_mutex_lock(&b->lock);
    if (b->nactors == b->actors_cap) {
        uint32_t ncap = b->actors_cap ? b->actors_cap * 2 : 8;
        au_room_waiter *a = realloc(b->actors, ncap * sizeof *a);
        if (!a) {
            pthread_mutex_unlock(&b->lock);
            return AU_ENOMEM;
        }
        b->actors = a;
        b->actors_cap = ncap;
    }
    b->actors[b->nactors++] = (au_room_waiter){ .cell = ctx->cell, .gen = ctx->gen,
                                                .target_gen = gen, .root = def->root };
    atomic_fetch_add_explicit(&b->waiting, 1, memory_order_seq_cst);
    au_err err = AU_EFULL;
    if (!room_alive(cell, gen))
        err = AU_ESTOPPED;
    else if (room_take(node, b, cap))
        err = AU_OK;
    if (err != AU_EFULL) { /* withdrawn: still the last entry, the lock was held throughout */
        b->nactors--;
        atomic_fetch_sub_explicit(&b->waiting, 1, memory_order_seq_cst);
    }
    pthread_mutex_unlock(&b->lock);
    return err;
}

/* Blocks the calling thread until room (AU_OK, taken), the deadline (AU_ETIMEDOUT) or the
 * incarnation's end (AU_ESTOPPED). */
static au_err room_wait(au_cell *cell, au_bound *b, uint32_t gen, uint64_t deadline) {
    au_node *node = cell->node;
    uint32_t cap = atomic_load_explicit(&b->capacity, memory_order_relaxed);
    struct timespec ts = { .tv_sec = (time_t)(deadline / 1000000000u),
                           .tv_nsec = (long)(deadline % 1000000000u) };
    au_err err;
    pthread_mutex_lock(&b->lock);
    atomic_fetch_add_explicit(&b->waiting, 1, memory_order_seq_cst);
    for (;;) {
        if (!room_alive(cell, gen)) {
            err = AU_ESTOPPED;
            break;
        }
        if (room_take(node, b, cap)) {
            err = AU_OK;
            break;
        }
        if (deadline) {
            if (pthread_cond_timedwait(&b->cond, &b->lock, &ts) == ETIMEDOUT) {
                err = room_take(node, b, cap) ? AU_OK : AU_ETIMEDOUT;
                break;
            }
        } else {
            pthread_cond_wait(&b->cond, &b->lock);
        }
    }
    atomic_fetch_sub_explicit(&b->waiting, 1, memory_order_seq_cst);
    pthread_mutex_unlock(&b->lock);
    return err;
}

au_err au_cell_room(au_cell *cell, uint32_t gen, au_send_mode mode, uint64_t deadline,
                    au_ctx *ctx, bool *dropped) {
    au_node *node = cell->node;
    au_bound *b = au_cell_bound(cell);
    *dropped = false;
    /* relaxed: this incarnation's (see spawn) or, for a stale sender, a past one's: either is a
     * bound the envelope's gen check then settles. */
    uint32_t cap = atomic_load_explicit(&b->capacity, memory_order_relaxed);
    if (room_take(node, b, cap)) return AU_OK;
    switch (mode) {
    case AU_SEND_PLAIN:
        switch ((au_mailbox_policy)atomic_load_explicit(&b->policy, memory_order_relaxed)) {
        case AU_MAILBOX_REJECT:
            au_stat_add(&node->stats.mailbox_refused, 1);
            return AU_EFULL;
        case AU_MAILBOX_DROP_OLDEST:
            /* The consumer drops the oldest as it reads; up to 2 × capacity may be queued. */
            if (room_take(node, b, cap > UINT32_MAX / 2 ? UINT32_MAX : 2 * cap)) return AU_OK;
            break;
        case AU_MAILBOX_DROP_NEWEST:
            break;
        }
        au_stat_add(&node->stats.drops_mailbox_newest, 1);
        *dropped = true;
        return AU_OK;
    case AU_SEND_CONTROL:
        return AU_OK; /* not reached: control sends take no room */
    case AU_SEND_TRY:
        au_stat_add(&node->stats.mailbox_full_waits, 1);
        return AU_EFULL;
    case AU_SEND_WAIT:
        au_stat_add(&node->stats.mailbox_full_waits, 1);
        /* A driver that runs the actors (a simulation) does so on the caller's own thread:
         * nothing would drain while it blocks. */
        if (node->stepped) return AU_ESTATE;
        return room_wait(cell, b, gen, deadline);
    case AU_SEND_NOTIFY:
        au_stat_add(&node->stats.mailbox_full_waits, 1);
        return room_register(cell, b, gen, ctx);
    }
    return AU_EINVAL;
}

void au_cell_push_counted(au_cell *cell, au_envelope *env) {
    env->eflags |= AU_ENVF_COUNTED;
    au_cell_push(cell, env);
}

void au_cell_deliver_remote(au_cell *cell, au_envelope *env) {
    if (!(cell->flags & AU_CELL_BOUNDED) || env->kind != AU_ENV_REMOTE) { /* Term: control */
        au_cell_push(cell, env);
        return;
    }
    bool dropped;
    if (au_cell_room(cell, env->gen, AU_SEND_PLAIN, 0, NULL, &dropped) != AU_OK || dropped) {
        au_envelope_free(env); /* refused or dropped: counted by au_cell_room */
        return;
    }
    au_cell_push_counted(cell, env);
}

/* A counted envelope popped by the consumer, before it is processed: true if a drop-oldest
 * mailbox is over its capacity, so this (the oldest) is dropped instead. */
static __attribute__((noinline)) bool drop_as_oldest(au_cell *cell, au_envelope *env) {
    au_bound *b = au_cell_bound(cell);
    if (atomic_load_explicit(&b->policy, memory_order_relaxed) != AU_MAILBOX_DROP_OLDEST ||
        atomic_load_explicit(&b->depth, memory_order_relaxed) <=
            atomic_load_explicit(&b->capacity, memory_order_relaxed))
        return false;
    au_stat_add(&cell->node->stats.drops_mailbox_oldest, 1);
    au_envelope_free_payload(env);
    return true;
}

uint64_t au_cells_bounded_depth(au_node *node) {
    uint64_t sum = 0;
    pthread_mutex_lock(&node->lock);
    for (slab *s = node->slabs; s; s = s->next) {
        if (!(s->kind & AU_CELL_BOUNDED)) continue;
        for (unsigned i = 0; i < s->count; i++) {
            au_cell *c = (au_cell *)(s->mem + s->stride * i);
            sum += atomic_load_explicit(&au_cell_bound(c)->depth, memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&node->lock);
    return sum;
}

/* ---- spawn ------------------------------------------------------------------------------------ */

static void *dedicated_main(void *arg);

au_ref au_spawn_(au_node *node, const au_actor_def *def, const void *state,
                 const au_spawn_opts *o) {
    au_spawn_opts none = { 0 };
    if (!o) o = &none;
    if (def && (!def->recv || (def->recv_set && !def->recv_set()))) {
        /* AU_ACTOR rejects a missing .recv at compile time; this is `.recv = NULL`. */
        au_log(AU_LOG_CORE, AU_LOG_WARN, "spawn of %s refused: it has no recv hook", def->name);
        def = NULL;
    }
    if (o->name && o->name[0] == '~') {
        /* Reserved for the names the node generates for anonymous actors ("~Xq3v-9aKc_0"): a
         * user's "~..." could take one of them, or be refused later for a name it never chose. */
        au_log(AU_LOG_CORE, AU_LOG_WARN, "spawn of %s as '%.32s' refused: names beginning with '~' "
               "are reserved", def ? def->name : "(null)", o->name);
        au_set_last_error_(AU_EINVAL);
        return (au_ref){ 0 };
    }
    if (!node || !def || (o->name && (!o->name[0] || strlen(o->name) > AU_NAME_MAX)) ||
        (o->layer && o->layer->node != node) ||
        (o->capacity && (o->low_water >= o->capacity || (unsigned)o->policy > AU_MAILBOX_DROP_OLDEST)) ||
        (unsigned)o->term > AU_TERM_LOCAL ||
        (!o->capacity && (o->low_water || o->policy))) {
        au_set_last_error_(AU_EINVAL);
        return (au_ref){ 0 };
    }
    bool inline_state;
    unsigned cls = class_for_state(def->state_size, &inline_state);
    void *heap_state = NULL;
    if (!inline_state && !(heap_state = calloc(1, def->state_size))) {
        au_set_last_error_(AU_ENOMEM);
        return (au_ref){ 0 };
    }
    au_cell_extra *extra = NULL;
    if (o->name || o->receive_timeout) {
        extra = calloc(1, sizeof *extra);
        if (!extra || (o->name && !(extra->name = strdup(o->name)))) {
            if (extra) free(extra);
            free(heap_state);
            au_set_last_error_(AU_ENOMEM);
            return (au_ref){ 0 };
        }
        extra->receive_timeout = o->receive_timeout;
    }

    au_spawn_opts pooled;
    if (o->dedicated && node->stepped) { /* the driver runs every actor: no thread of its own */
        pooled = *o;
        pooled.dedicated = false;
        o = &pooled;
    }
    if (o->dedicated) au_dedicated_join_ended(node); /* threads of stopped dedicated actors */
    pthread_mutex_lock(&node->lock);
    au_cell *cell = NULL;
    au_err err = AU_OK;
    if (atomic_load_explicit(&node->stopping, memory_order_relaxed))
        err = AU_ESTOPPED;
    else if (!(cell = cell_take(node, cls, (o->dedicated ? AU_CELL_DEDICATED : 0u) |
                                               (o->capacity ? AU_CELL_BOUNDED : 0u))))
        err = AU_ENOMEM;
    else {
        cell->phase = o->layer ? (uint8_t)o->layer->phase : 0;
        node->live++;
        node->live_phase[cell->phase]++;
        cell->serial = node->spawns++;
        if (o->dedicated) au_cell_dedicated(cell)->running = true; /* guarded by node->lock */
    }
    pthread_mutex_unlock(&node->lock);
    au_envelope *start = err ? NULL : au_envelope_new(AU_ENV_START, 0);
    if (!err && !start) err = AU_ENOMEM;

    uint32_t gen = cell ? atomic_load_explicit(&cell->gen, memory_order_relaxed) + 1 : 0;
    if (err) {
        if (cell) {
            pthread_mutex_lock(&node->lock);
            node->live--;
            node->live_phase[cell->phase]--;
            if (o->dedicated) au_cell_dedicated(cell)->running = false;
            pthread_mutex_unlock(&node->lock);
            cell_release(cell);
        }
        au_pool_free(start ? start->pool_class : 0, start);
        if (extra) free(extra->name);
        free(extra);
        free(heap_state);
        au_set_last_error_(err);
        return (au_ref){ 0 };
    }

    cell->state = inline_state ? (char *)cell + cell_header_size() : heap_state;
    if (state)
        memcpy(cell->state, state, def->state_size);
    else
        memset(cell->state, 0, def->state_size);
    cell->extra = extra;
    cell->lifecycle = 0;
    if (o->capacity) {
        /* relaxed: published with the gen store below (seq_cst); a stale sender that reads them
         * meanwhile fails its gen check or sees a bound of this or the previous incarnation,
         * either of which is a valid bound. */
        au_bound *b = au_cell_bound(cell);
        atomic_store_explicit(&b->capacity, o->capacity, memory_order_relaxed);
        atomic_store_explicit(&b->low_water, o->low_water ? o->low_water : o->capacity / 2,
                              memory_order_relaxed);
        atomic_store_explicit(&b->policy, (uint32_t)o->policy, memory_order_relaxed);
    }
    atomic_store_explicit(&cell->autonamed, 0, memory_order_relaxed);
    /* relaxed: published with the gen store below, as the bound is. */
    atomic_store_explicit(&cell->term, (uint8_t)o->term, memory_order_relaxed);
    /* release: a stale sender's seqlock read (au_cell_def_if_alive) that sees this def must
     * also see the previous incarnation's stop (its gen change, which happened before the cell
     * was handed out again); its acquire fence synchronises only with a release. */
    atomic_store_explicit(&cell->def, def, memory_order_release);

    /* A named actor is inserted and published under the registry's write lock, so a remote
     * lookup sees it only once its START is queued (see registry.c). */
    bool named = extra && extra->name;
    if (named) {
        au_registry_write_lock(node);
        err = au_registry_insert_locked(node, extra->name, au_type_id(def->root), cell, gen);
        if (err) {
            au_registry_write_unlock(node);
            pthread_mutex_lock(&node->lock);
            node->live--;
            node->live_phase[cell->phase]--;
            if (o->dedicated) au_cell_dedicated(cell)->running = false;
            pthread_mutex_unlock(&node->lock);
            cell->extra = NULL;
            cell->state = NULL;
            cell_release(cell);
            au_pool_free(start->pool_class, start);
            free(extra->name);
            free(extra);
            free(heap_state);
            au_set_last_error_(err);
            return (au_ref){ 0 };
        }
    }
    /* Counted live before the actor can run, so that its stop's decrement comes after. */
    au_stat_add(&node->stats.actors_live, 1);
    /* seq_cst: a sender or consumer that sees this gen sees the fields written above; and
     * with au_actor_stop_all (stopping, then gens), either it sees this gen or this thread sees
     * `stopping` below. */
    atomic_store_explicit(&cell->gen, gen, memory_order_seq_cst);

    start->gen = gen;
    if (o->dedicated) {
        au_dedicated *d = au_cell_dedicated(cell);
        /* d->ready may be left true by a stale wake of a past incarnation: one extra loop. */
        /* The thread owns the cell's consumer side; it sees START in the mailbox. */
        au_mailbox_push(&cell->mbox, &start->node);
        if (pthread_create(&d->thread, NULL, dedicated_main, cell) != 0) {
            /* Nothing runs this cell: undo as a stop would (START stays queued and is dropped
             * by the next incarnation's gen check). */
            atomic_store_explicit(&cell->gen, gen + 1, memory_order_release);
            if (named) {
                au_registry_write_unlock(node);
                au_registry_remove(node, extra->name, au_type_id(def->root), cell);
            }
            if (extra) free(extra->name);
            free(extra);
            free(heap_state);
            au_stat_sub(&node->stats.actors_live, 1);
            pthread_mutex_lock(&node->lock);
            node->live--;
            node->live_phase[cell->phase]--;
            d->running = false;
            pthread_mutex_unlock(&node->lock);
            cell_release(cell);
            au_set_last_error_(AU_ENOMEM);
            return (au_ref){ 0 };
        }
    } else {
        au_cell_push(cell, start);
    }
    if (named) au_registry_write_unlock(node);
    au_stat_add(&node->stats.actors_spawned, 1);
    /* Spawned while the node began to stop, after its scan of the cells: stop it too, or the
     * stop would wait for it forever. A second NODE_STOP is harmless. */
    if (atomic_load_explicit(&node->stopping, memory_order_seq_cst)) {
        au_envelope *stop = au_envelope_new(AU_ENV_NODE_STOP, 0);
        if (stop) {
            stop->gen = gen;
            au_cell_push(cell, stop);
        }
    }
    return au_cell_ref(cell, gen, def->root, AU_WHOLE);
}

/* ---- the turn --------------------------------------------------------------------------------- */


static void arm_receive_timeout(au_cell *cell) {
    au_cell_extra *x = cell->extra;
    if (!x || !x->receive_timeout || x->timer_armed) return;
    x->timer_armed = true;
    x->timeout_seq++;
    au_timers_add_receive_timeout(cell->node,
                                  au_deadline_after(x->last_activity, x->receive_timeout), cell,
                                  atomic_load_explicit(&cell->gen, memory_order_relaxed),
                                  x->timeout_seq);
}

static void note_activity(au_cell *cell) {
    if (cell->extra && cell->extra->receive_timeout) {
        cell->extra->last_activity = au_node_now(cell->node);
        arm_receive_timeout(cell);
    }
}

static void finish_stop(au_ctx *ctx) {
    au_cell *cell = ctx->cell;
    au_node *node = cell->node;
    const au_actor_def *def = atomic_load_explicit(&cell->def, memory_order_relaxed);
    cell->lifecycle |= AU_LIFE_STOPPING;
    uint32_t gen = ctx->gen;
    /* The incarnation ends before post_stop runs: from then on every send to it fails at once
     * (AU_ESTOPPED) and its name is free, so anything post_stop triggers sees it gone. */
    if (cell->extra && cell->extra->name)
        au_registry_remove(node, cell->extra->name, au_type_id(def->root), cell);
    /* seq_cst: a sender that sees the even gen drops; and with au_registry_name_of, either it
     * sees this gen or this thread sees its `autonamed` flag. */
    atomic_store_explicit(&cell->gen, gen + 1, memory_order_seq_cst);
    if (atomic_load_explicit(&cell->autonamed, memory_order_seq_cst))
        au_registry_forget_cell(node, cell);
    if (cell->lifecycle & AU_LIFE_STARTED) def->post_stop(ctx, cell->state);
    au_watches_target_stopped(node, cell, gen);
    /* Senders waiting for room retry and see the actor gone (see "bounded mailboxes"). */
    if (cell->flags & AU_CELL_BOUNDED) room_announce(cell, au_cell_bound(cell));

    if (!state_is_inline(cell)) free(cell->state);
    cell->state = NULL;
    if (cell->extra) {
        free(cell->extra->name);
        free(cell->extra);
        cell->extra = NULL;
    }
    /* A dedicated cell is released by its thread once it has drained the mailbox. Released
     * before the counters change, so an observer that sees the actor counted as stopped can
     * rely on its cell being reusable. */
    unsigned phase = cell->phase;
    if (!(cell->flags & AU_CELL_DEDICATED)) cell_release(cell);
    au_stat_add(&node->stats.actors_stopped, 1);
    au_stat_sub(&node->stats.actors_live, 1);
    pthread_mutex_lock(&node->lock);
    node->live_phase[phase]--;
    if (--node->live == 0 || node->live_phase[phase] == 0) pthread_cond_broadcast(&node->cond);
    pthread_mutex_unlock(&node->lock);
}

static void drop(au_node *node, au_envelope *env) {
    if (env->kind == AU_ENV_MSG || env->kind == AU_ENV_REMOTE || env->kind == AU_ENV_CALL)
        au_stat_add(&node->stats.drops_dead_actor, 1);
    au_envelope_free_payload(env);
}

static bool run_batch(au_cell *cell, unsigned batch);

/* The node whose hook or callback this thread runs (NULL: none): au_node_stop refuses to stop
 * it from there, where it would wait for this very hook to return, or free the node under the
 * timer or event loop that called it. */
static _Thread_local au_node *hook_node;

bool au_in_hook_of(const au_node *node) { return node && hook_node == node; }

au_node *au_own_work_begin(au_node *node) {
    au_node *outer = hook_node;
    hook_node = node;
    return outer;
}

void au_own_work_end(au_node *outer) { hook_node = outer; }

/* Runs one envelope. */
static void process(au_cell *cell, au_envelope *env) {
    au_node *node = cell->node;
    if (atomic_load_explicit(&cell->gen, memory_order_acquire) != env->gen) {
        drop(node, env);
        return;
    }
    au_node *outer = hook_node; /* a stepping driver may run a turn inside another's hook */
    hook_node = node;
    const au_actor_def *def = atomic_load_explicit(&cell->def, memory_order_relaxed);
    au_ctx ctx = { .node = node, .cell = cell, .gen = env->gen, .stop_requested = false };
    bool node_stopping = atomic_load_explicit(&node->stopping, memory_order_relaxed);

    switch ((au_env_kind)env->kind) {
    case AU_ENV_START:
        cell->lifecycle |= AU_LIFE_STARTED;
        note_activity(cell);
        def->pre_start(&ctx, cell->state);
        break;
    case AU_ENV_MSG:
        if ((cell->lifecycle & AU_LIFE_STOPPING) || node_stopping) {
            au_stat_add(&node->stats.drops_node_stopping, 1);
            break;
        }
        note_activity(cell);
        def->recv(&ctx, cell->state, env->payload);
        break;
    case AU_ENV_REMOTE:
        if ((cell->lifecycle & AU_LIFE_STOPPING) || node_stopping) {
            au_stat_add(&node->stats.drops_node_stopping, 1);
            break;
        }
        note_activity(cell);
        au_remote_layer()->deliver(&ctx, env, def);
        break;
    case AU_ENV_TERM:
    case AU_ENV_NODE_STOP:
        ctx.stop_requested = true;
        break;
    case AU_ENV_TERMINATED:
        if (!(cell->lifecycle & AU_LIFE_STOPPING)) def->terminated(&ctx, cell->state, *(au_ref *)env->payload);
        break;
    case AU_ENV_CALL: {
        au_call *call = (au_call *)env->payload;
        if (!(cell->lifecycle & AU_LIFE_STOPPING))
            call->cb(&ctx, cell->state, call->err == AU_OK ? call->value : NULL, call->err);
        break;
    }
    case AU_ENV_WRITABLE:
        if (!(cell->lifecycle & AU_LIFE_STOPPING) && def->writable)
            def->writable(&ctx, cell->state, *(au_ref *)env->payload);
        break;
    case AU_ENV_SET_TIMEOUT:
        if (!(cell->lifecycle & AU_LIFE_STOPPING)) au_set_receive_timeout(&ctx, *(au_nanos *)env->payload);
        break;
    case AU_ENV_TIMEOUT: {
        au_cell_extra *x = cell->extra;
        if (!x || *(uint64_t *)env->payload != x->timeout_seq) break; /* stale timer */
        x->timer_armed = false;
        if (!x->receive_timeout || (cell->lifecycle & AU_LIFE_STOPPING)) break;
        au_nanos now = au_node_now(node);
        if (now < au_deadline_after(x->last_activity, x->receive_timeout)) {
            arm_receive_timeout(cell); /* activity since arming: wait for the rest */
            break;
        }
        x->last_activity = now;
        def->timeout(&ctx, cell->state);
        arm_receive_timeout(cell);
        break;
    }
    }
    au_envelope_free_payload(env);
    if (ctx.stop_requested && !(cell->lifecycle & AU_LIFE_STOPPING)) finish_stop(&ctx);
    hook_node = outer;
}

bool au_cell_run(au_cell *cell, unsigned batch) {
    /* A pooled actor's remote sends of this turn go out together at its end. Not a dedicated
     * actor's: it may block (waiting for the very reply its message asks for). */
    if (cell->flags & AU_CELL_DEDICATED) return run_batch(cell, batch);
    au_turn_begin();
    bool more = run_batch(cell, batch);
    au_turn_end();
    return more;
}

/* ---- turns ------------------------------------------------------------------------------------ */

void au_turn_begin(void) { turn.depth++; } /* sends and outbox.prev were reset by the last end */

bool au_turn_active(void) { return turn.depth > 0; }

void au_turn_end(void) {
    if (turn.depth == 1) {
        if (__builtin_expect(outbox.cell != NULL, 0)) outbox_flush(); /* still inside: a long
                                                                         turn's placement */
        outbox.prev = NULL;
        turn.sends = 0;
    }
    if (--turn.depth || !turn.n) return;
    /* A flush may defer again (it runs outside any turn now, so it cannot): take the list. */
    size_t n = turn.n;
    turn.n = 0;
    for (size_t i = 0; i < n; i++) turn.at[i].flush(turn.at[i].arg);
}

au_turn_deferral au_turn_defer(void (*flush)(void *), void *arg) {
    if (!turn.depth) return AU_TURN_NONE;
    for (size_t i = 0; i < turn.n; i++)
        if (turn.at[i].flush == flush && turn.at[i].arg == arg) return AU_TURN_ALREADY;
    if (turn.n == TURN_DEFERRED) return AU_TURN_NONE;
    turn.at[turn.n].flush = flush;
    turn.at[turn.n++].arg = arg;
    return AU_TURN_DEFERRED;
}

/* ---- tasks: actors run by a stepping driver -------------------------------------------------- */

bool au_task_run(au_task *task) {
    au_cell *cell = (au_cell *)task;
    return au_cell_run(cell, cell->node->cfg.batch);
}

au_node *au_task_node(const au_task *task) { return ((const au_cell *)task)->node; }

uint32_t au_task_serial(const au_task *task) { return ((const au_cell *)task)->serial; }

static bool run_batch(au_cell *cell, unsigned batch) {
    for (unsigned i = 0; i < batch; i++) {
        au_mnode *consumed;
        au_mnode *n = au_mailbox_pop(&cell->mbox, &consumed);
        if (consumed && consumed != &cell->mbox.stub)
            au_pool_free(((au_envelope *)consumed)->pool_class, consumed);
        if (!n) {
            au_mnode *recycled;
            if (au_mailbox_mark_empty(&cell->mbox, &recycled)) {
                if (recycled) au_pool_free(((au_envelope *)recycled)->pool_class, recycled);
                return false;
            }
            continue; /* a push is in progress: its node becomes visible shortly */
        }
        au_envelope *env = (au_envelope *)n;
        /* A bounded mailbox's user message: rare, out of line. */
        bool counted = __builtin_expect(env->eflags & AU_ENVF_COUNTED, 0);
        if (!counted || !drop_as_oldest(cell, env)) process(cell, env); /* one call: inlined */
        if (counted) au_cell_room_return(cell);
    }
    return true;
}

void au_cell_post_timeout(au_ref ref, au_nanos timeout) {
    if (!ref.target || (ref.flags & AU_REF_F_REMOTE)) return;
    au_envelope *env = au_envelope_new(AU_ENV_SET_TIMEOUT, sizeof(au_nanos));
    if (!env) return;
    env->gen = ref.gen;
    memcpy(env->payload, &timeout, sizeof timeout);
    au_cell_push(ref.target, env);
}

/* ---- dedicated threads ---------------------------------------------------------------------- */

static void *dedicated_main(void *arg) {
    au_cell *cell = arg;
    au_node *node = cell->node;
    au_dedicated *d = au_cell_dedicated(cell);
    uint32_t gen = atomic_load_explicit(&cell->gen, memory_order_acquire);
    unsigned batch = node->cfg.batch;
    for (;;) {
        if (au_cell_run(cell, batch)) continue;
        if (atomic_load_explicit(&cell->gen, memory_order_acquire) != gen) break;
        pthread_mutex_lock(&d->lock);
        while (!d->ready) pthread_cond_wait(&d->cond, &d->lock);
        d->ready = false;
        pthread_mutex_unlock(&d->lock);
    }
    au_pool_thread_flush();
    pthread_mutex_lock(&node->lock);
    d->running = false;
    if (node->nzombies == node->zombies_cap) {
        size_t cap = node->zombies_cap ? node->zombies_cap * 2 : 8;
        pthread_t *z = realloc(node->zombies, cap * sizeof *z);
        if (z) {
            node->zombies = z;
            node->zombies_cap = cap;
        }
    }
    /* If growing failed the thread is detached instead: it touches nothing after unlock. */
    if (node->nzombies < node->zombies_cap)
        node->zombies[node->nzombies++] = pthread_self();
    else
        pthread_detach(pthread_self());
    cell->free_next = node->free_cells[1][cell->size_class];
    node->free_cells[1][cell->size_class] = cell;
    pthread_cond_broadcast(&node->cond);
    pthread_mutex_unlock(&node->lock);
    return NULL;
}

void au_dedicated_wake(au_cell *cell) {
    au_dedicated *d = au_cell_dedicated(cell);
    pthread_mutex_lock(&d->lock);
    d->ready = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

/* ---- node stop ---------------------------------------------------------------------------- */

struct phase_wait { au_node *node; unsigned phase; };

static bool phase_done(void *arg) {
    struct phase_wait *w = arg;
    pthread_mutex_lock(&w->node->lock);
    bool none = w->node->live_phase[w->phase] == 0;
    pthread_mutex_unlock(&w->node->lock);
    return none;
}

/* Stops every live actor of one phase and waits until they are gone. Called with node->lock. */
static void stop_phase(au_node *node, unsigned phase) {
    /* Pushing may run the scheduler, which never takes node->lock, so holding it is safe. */
    FOR_EACH_CELL(node, c) {
        uint32_t gen = atomic_load_explicit(&c->gen, memory_order_seq_cst);
        if (!(gen & 1u) || c->phase != phase) continue;
        au_envelope *env = au_envelope_new(AU_ENV_NODE_STOP, 0);
        if (!env) continue; /* the actor still stops: its messages are dropped when stopping */
        env->gen = gen;
        au_cell_push(c, env);
    }
    if (node->stepped) { /* nothing runs unless the driver steps: step until they stopped */
        struct phase_wait w = { node, phase };
        pthread_mutex_unlock(&node->lock);
        node->driver->ops->run_until(node->driver, phase_done, &w);
        pthread_mutex_lock(&node->lock);
    }
    while (node->live_phase[phase] > 0) pthread_cond_wait(&node->cond, &node->lock);
}

void au_actor_stop_all(au_node *node) {
    pthread_mutex_lock(&node->lock);
    /* seq_cst: pairs with spawn's gen store and stopping load (see au_spawn_). From here on no
     * actor is spawned, so each phase's scan sees every actor of that phase. */
    atomic_store_explicit(&node->stopping, 1, memory_order_seq_cst);
    /* The user's actors first, then each layer's, the last attached first (aurum/layer.h). */
    stop_phase(node, 0);
    for (unsigned i = node->nlayers; i-- > 0;) {
        au_layer *l = &node->layers[i];
        if (l->def.stopping) {
            pthread_mutex_unlock(&node->lock);
            l->def.stopping(node, l->def.arg);
            pthread_mutex_lock(&node->lock);
        }
        stop_phase(node, l->phase);
    }
    /* Wait for dedicated threads to drain and return their cells. */
    for (;;) {
        bool running = false;
        FOR_EACH_CELL(node, c)
            if ((c->flags & AU_CELL_DEDICATED) && au_cell_dedicated(c)->running) running = true;
        if (!running) break;
        pthread_cond_wait(&node->cond, &node->lock);
    }
    pthread_mutex_unlock(&node->lock);
    au_dedicated_join_ended(node);
}

void au_dedicated_join_ended(au_node *node) {
    pthread_mutex_lock(&node->lock);
    pthread_t *z = node->zombies;
    size_t nz = node->nzombies;
    node->zombies = NULL;
    node->nzombies = node->zombies_cap = 0;
    pthread_mutex_unlock(&node->lock);
    for (size_t i = 0; i < nz; i++) pthread_join(z[i], NULL);
    free(z);
}

void au_cells_free_all(au_node *node) {
    /* Workers are gone: drain stray envelopes (sent to stopped actors) and free the slabs. */
    FOR_EACH_CELL(node, c) {
        au_mnode *consumed, *n;
        while ((n = au_mailbox_pop(&c->mbox, &consumed))) {
            if (consumed && consumed != &c->mbox.stub)
                au_pool_free(((au_envelope *)consumed)->pool_class, consumed);
            au_envelope_free_payload((au_envelope *)n);
        }
        if (c->mbox.tail != &c->mbox.stub)
            au_pool_free(((au_envelope *)c->mbox.tail)->pool_class, c->mbox.tail);
        if (c->flags & AU_CELL_DEDICATED) {
            au_dedicated *d = au_cell_dedicated(c);
            pthread_mutex_destroy(&d->lock);
            pthread_cond_destroy(&d->cond);
        }
        if (c->flags & AU_CELL_BOUNDED) {
            au_bound *b = au_cell_bound(c);
            free(b->actors);
            pthread_mutex_destroy(&b->lock);
            pthread_cond_destroy(&b->cond);
        }
    }
    for (slab *s = node->slabs, *n; s; s = n) {
        n = s->next;
        free(s);
    }
    node->slabs = NULL;
}

/* ---- context ---------------------------------------------------------------------------------- */

au_ref au_ctx_self_(au_ctx *ctx) {
    au_cell *c = ctx->cell;
    const au_actor_def *def = atomic_load_explicit(&c->def, memory_order_relaxed);
    return au_cell_ref(c, ctx->gen, def->root, AU_WHOLE);
}

au_ref au_self_(au_ctx *ctx, au_type *root) {
    if (!ctx || !root) {
        au_set_last_error_(AU_EINVAL);
        return (au_ref){ 0 };
    }
    au_ref self = au_ctx_self_(ctx);
    if (self.iface != root && au_type_id(self.iface) != au_type_id(root)) {
        /* The typed reference would claim a root the actor does not have. */
        au_log(AU_LOG_CORE, AU_LOG_WARN, "au_self(ctx, %s) in an actor of root %s: null reference",
               root->name, self.iface->name);
        au_set_last_error_(AU_ETYPE);
        return (au_ref){ 0 };
    }
    return self;
}

void au_stop_self(au_ctx *ctx) {
    if (ctx) ctx->stop_requested = true;
}

au_node *au_ctx_node(au_ctx *ctx) { return ctx ? ctx->node : NULL; }

const char *au_ctx_name(au_ctx *ctx) {
    return ctx && ctx->cell->extra ? ctx->cell->extra->name : NULL;
}

void au_set_receive_timeout(au_ctx *ctx, au_nanos timeout) {
    if (!ctx) return;
    au_cell *cell = ctx->cell;
    if (!cell->extra) {
        if (!timeout) return;
        cell->extra = calloc(1, sizeof *cell->extra);
        if (!cell->extra) return; /* no timeout rather than a crash; logged by the caller's test */
    }
    au_cell_extra *x = cell->extra;
    x->receive_timeout = timeout;
    x->timeout_seq++; /* any armed timer is now stale */
    x->timer_armed = false;
    x->last_activity = au_node_now(cell->node);
    arm_receive_timeout(cell);
}
