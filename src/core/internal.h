/* internal.h — the structures shared by the core runtime's files: envelopes, actor cells,
 * workers and the node. Not a public header.
 *
 * Cell lifetime: cells live in slabs owned by their node and are reused for new actors, but only
 * as cells (type-stable memory), so a stale reference can always read a cell's `gen` safely.
 * `gen` is odd while an incarnation is alive and even once it has stopped; a reference and every
 * envelope carry the gen they were made for, and anything with a different gen is dropped. */
#ifndef AU_CORE_INTERNAL_H
#define AU_CORE_INTERNAL_H

#include <aurum/aurum.h>
#include <aurum/driver.h>

#include <pthread.h>
#include <stdatomic.h>

#include "core/mailbox.h"
#include "util/pool.h"
#include "core/remote.h"
#include "util/stats.h"
#include "util/u64map.h"

typedef struct au_cell au_cell;
typedef struct au_worker au_worker;

/* ---- envelopes ------------------------------------------------------------------------------ */

typedef enum au_env_kind {
    AU_ENV_START,      /* run pre_start */
    AU_ENV_MSG,        /* payload: a root message of `type` */
    AU_ENV_TERM,       /* the Term signal */
    AU_ENV_NODE_STOP,  /* the node is stopping */
    AU_ENV_TERMINATED, /* payload: au_ref of a watched actor that stopped */
    AU_ENV_CALL,       /* payload: au_call (an ask continuation) */
    AU_ENV_TIMEOUT,    /* payload: uint64_t receive-timeout sequence number */
    AU_ENV_REMOTE,     /* payload: au_remote_payload (decoded on the receiving worker) */
    AU_ENV_SET_TIMEOUT, /* payload: au_nanos, the new receive timeout (set from outside) */
    AU_ENV_WRITABLE,   /* payload: au_ref of a bounded mailbox that has room again */
} au_env_kind;

enum {
    /* Counted against the target's bounded mailbox (au_bound.depth): a user message. Only such
     * envelopes are ever dropped or refused by a bound; control envelopes never carry it. */
    AU_ENVF_COUNTED = 1u << 0,
};

typedef struct au_envelope {
    au_mnode node;
    au_type *type;      /* of the payload, to free it (MSG, CALL) */
    uint32_t gen;       /* incarnation of the target cell */
    uint8_t kind;       /* au_env_kind */
    uint8_t pool_class; /* AU_POOL_LARGE: malloc'd */
    uint8_t eflags;     /* AU_ENVF_* */
    uint8_t padding;
    _Alignas(16) unsigned char payload[];
} au_envelope;

typedef struct au_call {
    au_ask_fn cb;
    au_err err;
    _Alignas(16) unsigned char value[]; /* the reply, of envelope->type, when err == AU_OK */
} au_call;

au_envelope *au_envelope_new(au_env_kind kind, size_t payload_size);
/* Frees the envelope's payload (what it owns) and the envelope. */
void au_envelope_free(au_envelope *env);
/* Frees only what the payload owns (the envelope memory itself stays, as a mailbox stub). */
void au_envelope_free_payload(au_envelope *env);

/* ---- cells ------------------------------------------------------------------------------------ */

enum {
    AU_CELL_DEDICATED = 1u << 0, /* memory of a dedicated-thread cell (fixed for its lifetime) */
    AU_CELL_BOUNDED = 1u << 1,   /* followed by an au_bound (fixed for the memory's lifetime) */
    AU_CELL_KINDS = 4,           /* free lists: one per combination of the two bits above */
};

typedef struct au_dedicated {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool ready;      /* guarded by lock: something was pushed to an empty mailbox */
    bool running;    /* a thread is serving this cell */
} au_dedicated;

/* A bounded mailbox's accounting (actor.c, "bounded mailboxes"), after the cell's memory (and
 * its au_dedicated, if any). Type-stable like the cell: it lives as long as the cell memory,
 * across incarnations, so a sender holding a stale reference may read it safely.
 *
 * depth counts AU_ENVF_COUNTED envelopes that a sender has reserved room for and no consumer has
 * finished with yet; senders raise it before pushing, the consumer lowers it after popping. The
 * envelopes of past incarnations still queued are counted until popped, so depth is never reset.
 * capacity, low_water and policy are the current incarnation's, written at spawn before its gen
 * is published. */
typedef struct au_room_waiter {
    au_cell *cell;       /* the actor to send AU_ENV_WRITABLE to, and its incarnation */
    uint32_t gen;
    uint32_t target_gen; /* the incarnation of the full actor it sent to, and its root */
    au_type *root;
} au_room_waiter;

typedef struct au_bound {
    _Atomic uint32_t depth;
    _Atomic uint32_t capacity;   /* > 0 */
    _Atomic uint32_t low_water;  /* < capacity: room is announced when depth falls to it */
    _Atomic uint32_t policy;     /* au_mailbox_policy */
    _Atomic uint32_t waiting;    /* threads blocked in au_send_wait + actors in `actors` */
    pthread_mutex_t lock;        /* guards actors; blocked threads wait on cond under it */
    pthread_cond_t cond;         /* CLOCK_MONOTONIC */
    au_room_waiter *actors;      /* one entry per AU_EFULL of au_send_or_notify */
    uint32_t nactors, actors_cap;
} au_bound;

/* Per-incarnation data that most actors do not need, allocated only when used, so that an idle
 * actor costs one cell (see AU_CELL_SIZE_CLASSES). */
typedef struct au_cell_extra {
    char *name;                /* registered name, or NULL */
    au_nanos receive_timeout;  /* 0: none */
    au_nanos last_activity;    /* clock time of the last message, for the receive timeout */
    uint64_t timeout_seq;      /* identifies the armed receive-timeout timer */
    bool timer_armed;
} au_cell_extra;

/* 80 bytes: with the smallest state inline, an idle actor is one 96-byte block. */
struct au_cell {
    au_mailbox mbox;
    _Atomic uint32_t gen;                /* odd: alive */
    uint8_t flags;                       /* AU_CELL_*, fixed for the memory's lifetime */
    uint8_t size_class;                  /* index in the node's cell free lists */
    uint8_t lifecycle;                   /* AU_LIFE_*; consumer-owned */
    _Atomic uint8_t autonamed;           /* a generated name was registered (registry.c) */
    _Atomic(const au_actor_def *) def;   /* read by senders under the gen check */
    au_node *node;
    au_mnode run;                        /* link in a worker's run queue */
    void *state;                         /* inline after the cell when it fits the class */
    union {
        au_cell_extra *extra;            /* alive: consumer-owned; NULL if unused */
        struct au_cell *free_next;       /* free: in the node's free list */
    };
    uint32_t serial;                     /* spawn number within the node (simulation traces) */
    uint8_t phase;                       /* stop phase: 0 user actor, k the k-th layer's actor */
    _Atomic uint8_t term;                /* au_term_policy of this incarnation (net/ reads it) */
};

enum { AU_LIFE_STARTED = 1u << 0, AU_LIFE_STOPPING = 1u << 1 };

/* Cell memory classes: a cell plus inline state fits in one of these sizes; a dedicated cell
 * is followed by its au_dedicated. Larger states are allocated separately. */
#define AU_CELL_SIZE_CLASSES 5
static const size_t au_cell_class_size[AU_CELL_SIZE_CLASSES] = { 96, 128, 256, 512, 1024 };

/* A dedicated cell's thread control block, right after the cell's class-sized memory. */
static inline au_dedicated *au_cell_dedicated(au_cell *c) {
    return (au_dedicated *)((char *)c + au_cell_class_size[c->size_class]);
}

/* A bounded cell's accounting: after the class-sized memory and the au_dedicated, if any. */
static inline au_bound *au_cell_bound(au_cell *c) {
    size_t off = au_cell_class_size[c->size_class] +
                 ((c->flags & AU_CELL_DEDICATED) ? sizeof(au_dedicated) : 0);
    return (au_bound *)((char *)c + ((off + 15) & ~(size_t)15));
}

/* The context of a running hook. */
struct au_ctx {
    au_node *node;
    au_cell *cell;
    uint32_t gen;          /* the incarnation running the hook */
    bool stop_requested;
};

/* ---- workers and node ------------------------------------------------------------------------ */

struct au_worker {
    au_node *node;
    unsigned index;
    pthread_t thread;
    au_runq q;
    _Atomic uint32_t pending;  /* cells pushed and not yet popped */
    au_cell *next;             /* owner-only: runs right after the current turn */
    unsigned next_streak;      /* consecutive turns taken from `next` */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    _Atomic int sleeping;
    _Atomic int spinning;      /* idle but polling its queue: gets new work without a wake-up */
};

/* The actor runtime's statistics (AU_NODE_STATS_CORE in aurum/node.h), bumped with
 * au_stat_add / au_stat_sub (util/stats.h) and copied out by au_node_stats_get. */
typedef struct au_stats_atomic {
#define AU_STATS_ATOMIC_FIELD_(name, kind, doc) _Atomic uint64_t name;
    AU_NODE_STATS_CORE(AU_STATS_ATOMIC_FIELD_)
#undef AU_STATS_ATOMIC_FIELD_
} au_stats_atomic;

/* A library layer attached to a node (aurum/layer.h). */
struct au_layer {
    au_node *node;
    unsigned phase;              /* 1 + its index: its actors' stop phase */
    au_layer_def def;
    char name[32];
};

#define AU_PEER_SUBSCRIBERS 8

struct au_timers;
struct au_registry;
struct au_watches;
struct au_net;

/* Drivers a node can stack (a wrapper around a wrapper around a driver). */
#define AU_DRIVER_DEPTH 4

struct au_node {
    au_node_config cfg;
    au_clock clock;
    au_driver_node *driver;          /* the outermost driver's instance */
    au_driver drivers[AU_DRIVER_DEPTH]; /* the node's copy of the configured driver chain */
    bool stepped;                    /* the driver runs the actors (no worker threads) */
    unsigned nworkers;
    au_worker *workers;
    _Atomic unsigned next_worker;    /* round-robin for schedules from outside the pool */
    _Atomic int sleepers;            /* workers asleep */
    _Atomic int spinners;            /* workers spinning (at most one: more only compete) */
    _Atomic int stopping;            /* au_node_stop has begun */
    _Atomic int stop_entered;        /* au_node_stop is running: a call from within it refused */
    _Atomic int workers_exit;        /* workers must return */

    pthread_mutex_t lock;            /* guards the fields below */
    pthread_cond_t cond;             /* live actors reached 0; a dedicated thread ended */
    uint64_t live;                   /* actors alive (started or not) */
    uint64_t live_phase[AU_LAYERS_MAX + 1]; /* of them, by stop phase */
    struct au_layer layers[AU_LAYERS_MAX];
    unsigned nlayers;
    struct { au_peer_fn fn; void *arg; } peer_subs[AU_PEER_SUBSCRIBERS];
    unsigned npeer_subs;
    uint32_t spawns;                 /* actors ever spawned: the next cell serial */
    au_cell *free_cells[AU_CELL_KINDS][AU_CELL_SIZE_CLASSES]; /* [cell flags][size class] */
    void *slabs;                     /* cell slabs: every cell of the node (actor.c) */
    pthread_t *zombies;              /* dedicated threads that ended, to join */
    size_t nzombies, zombies_cap;

    struct au_timers *timers;
    struct au_registry *registry;
    struct au_watches *watches;
    struct au_net *net;
    uint64_t incarnation;            /* set by the remote path at start; 0 without a network */
    au_u64map promise_defs;          /* type id → promise actor def; guarded by lock */
    struct au_promise *unwaited;     /* au_promise_new's not yet waited on; guarded by lock */
    au_stats_atomic stats;
    char address[80];
    uint64_t id;                     /* unique in the process, never reused (node.c's live list) */
    struct au_node *live_next;       /* in node.c's list of live nodes; guarded by its lock */
};

/* node.c: a node in two steps, for src/node/start.c to put the remote path between them. */
/* Makes the node (config validated, driver opened, runtime started; no driver thread yet). On
 * failure everything is undone. */
au_err au_node_create(const au_node_config *cfg, au_node **out);
/* Starts the driver's own threads: from here on datagrams may arrive and timers fire. */
au_err au_node_launch(au_node *node);

/* scheduler.c */
au_err au_scheduler_start(au_node *node);
void au_scheduler_stop(au_node *node);  /* joins (if not yet) and frees the workers */
void au_scheduler_join(au_node *node);  /* the worker threads return; their queues remain */
void au_schedule(au_cell *cell);
/* Like au_schedule, but from a streaming turn: onto an idle other worker when there is one. */
void au_schedule_away(au_cell *cell);
/* A streaming turn began: the cell in this worker's run-next slot moves to an idle worker. */
void au_schedule_hand_off_next(void);
au_worker *au_current_worker(void);

/* actor.c */
/* Runs up to `batch` envelopes; returns true if the cell must be scheduled again. */
bool au_cell_run(au_cell *cell, unsigned batch);
/* A user message into an unbounded cell: the second and later of a pooled turn's consecutive
 * messages to one actor join the turn's outbox (a run pushed at once, see actor.c); any other
 * is pushed now. */
void au_cell_send(au_cell *cell, au_envelope *env);
/* Pushes env (made for `gen`) into cell's mailbox and schedules the cell if needed; never
 * refused or dropped by a bound (control envelopes, and user messages already given room). */
void au_cell_push(au_cell *cell, au_envelope *env);
/* How a user message asks for room in a bounded mailbox (au_cell_room). */
typedef enum au_send_mode {
    AU_SEND_PLAIN,   /* au_send: the mailbox's policy decides */
    AU_SEND_CONTROL, /* au_send_control: never counted, dropped or refused */
    AU_SEND_TRY,     /* au_try_send: full is AU_EFULL, whatever the policy */
    AU_SEND_WAIT,    /* au_send_wait: a plain thread blocks for room until a deadline */
    AU_SEND_NOTIFY,  /* au_send_or_notify: full is AU_EFULL plus one `writable` turn later */
} au_send_mode;
/* Takes room for one user message to a bounded local cell whose incarnation is `gen`, before
 * the envelope is made. AU_OK and *dropped false: push the envelope with au_cell_push_counted
 * (or give the room back with au_cell_room_return). AU_OK and *dropped true: the policy drops
 * this message (drop newest; counted here): the caller frees it and reports success. AU_EFULL:
 * no room (refused by the policy, or full for a back-pressure mode). AU_ETIMEDOUT, AU_ESTOPPED,
 * AU_ESTATE (au_send_wait inside a pooled actor's turn) as documented in aurum/ref.h.
 * `deadline`: AU_SEND_WAIT's, monotonic ns (0: none); `ctx`: AU_SEND_NOTIFY's sender. */
au_err au_cell_room(au_cell *cell, uint32_t gen, au_send_mode mode, uint64_t deadline,
                    au_ctx *ctx, bool *dropped);
/* Pushes an envelope that au_cell_room gave room for. */
void au_cell_push_counted(au_cell *cell, au_envelope *env);
/* Gives back room taken by au_cell_room when no envelope follows (out of memory). */
void au_cell_room_return(au_cell *cell);
/* A remote message for a local cell (net/deliver.c): counted and subject to the policy when the
 * mailbox is bounded (a refusal is a drop: there is no sender to tell). */
void au_cell_deliver_remote(au_cell *cell, au_envelope *env);
/* Sum of the depths of the node's bounded mailboxes (for au_node_stats_get). */
uint64_t au_cells_bounded_depth(au_node *node);
/* Reads a cell's def if its incarnation is still `gen` (seqlock-style), else NULL. */
const au_actor_def *au_cell_def_if_alive(au_cell *cell, uint32_t gen);
void au_actor_stop_all(au_node *node);
void au_cells_free_all(au_node *node);
void au_dedicated_wake(au_cell *cell);
/* Sets a local actor's receive timeout from outside it (queued like a message). */
void au_cell_post_timeout(au_ref ref, au_nanos timeout);
void au_promise_defs_free(au_node *node); /* and the promises never waited on */
void au_dedicated_join_ended(au_node *node);
au_ref au_cell_ref(au_cell *cell, uint32_t gen, au_type *iface, uint16_t variant);

/* timer.c — every timer of the node; fired through the driver (au_node_run_timers) */
au_err au_timers_start(au_node *node);
void au_timers_quiesce(au_node *node);   /* from now on due timers are dropped, not fired */
void au_timers_stop(au_node *node);      /* frees the timers still pending */
/* AU_TIMER_CALL: au_node_call_at's (a handle au_timer_cancel knows); AU_TIMER_INTERNAL_CALL:
 * the runtime's own layers' (no handle: nothing cancels it, so a layer that keeps an "armed"
 * flag can rely on the call coming, or discard at node stop). */
typedef enum au_timer_kind {
    AU_TIMER_SEND, AU_TIMER_RECEIVE_TIMEOUT, AU_TIMER_CALL, AU_TIMER_INTERNAL_CALL
} au_timer_kind;
/* Calls call(node, arg) on the loop thread at `deadline`; if the node stops first, discard(arg).
 * For the runtime's layers (net/): it cannot be cancelled. False on failure (the node is
 * stopping, or out of memory; then the caller still owns arg). */
bool au_timers_add_call(au_node *node, au_nanos deadline, void (*call)(au_node *, void *),
                        void (*discard)(void *), void *arg);
au_timer au_timers_add_send(au_node *node, au_nanos deadline, au_ref ref, au_type *type,
                            const void *msg);
au_timer au_timers_add_receive_timeout(au_node *node, au_nanos deadline, au_cell *cell,
                                       uint32_t gen, uint64_t seq);

/* registry.c */
au_err au_registry_create(au_node *node);
void au_registry_destroy(au_node *node);
au_err au_registry_add(au_node *node, const char *name, uint64_t root_id, au_cell *cell,
                       uint32_t gen);
/* Spawn holds the write lock across insert and publication (see registry.c). */
void au_registry_write_lock(au_node *node);
void au_registry_write_unlock(au_node *node);
au_err au_registry_insert_locked(au_node *node, const char *name, uint64_t root_id,
                                 au_cell *cell, uint32_t gen);
void au_registry_remove(au_node *node, const char *name, uint64_t root_id, au_cell *cell);
/* Finds (name, root id): AU_OK with *cell and *gen, AU_ENOTFOUND, or AU_ETYPE if the name is
 * registered only with other root types. */
au_err au_registry_find(au_node *node, const char *name, size_t name_len, uint64_t root_id,
                        au_cell **cell, uint32_t *gen, uint64_t *other_root);
/* The name of a live cell (generating and registering one for an anonymous actor, so that a
 * reference to it can travel: '~' and AU_GENERATED_NAME_LEN - 1 characters that only the node's
 * secret key predicts, registry.c); 0 if the cell is gone. */
#define AU_GENERATED_NAME_LEN 12u
/* Sets the secret key of the generated names (AU_NAME_KEY_SIZE bytes, SipHash-2-4's key): the
 * remote path's, at start, before any reference travels. */
#define AU_NAME_KEY_SIZE 16u
void au_registry_set_name_key(au_node *node, const uint8_t key[AU_NAME_KEY_SIZE]);
size_t au_registry_name_of(au_node *node, au_cell *cell, uint32_t gen, uint64_t root_id,
                           char *buf, size_t size);
/* Removes whatever name the cell has. */
void au_registry_forget_cell(au_node *node, au_cell *cell);
/* Whether a name of name_len bytes, longer than AU_REGISTRY_PREFIX, that begins with these
 * AU_REGISTRY_PREFIX bytes is registered with that root type: for the receive path, which may
 * see only the start of a destination's name (a first fragment at a small mtu). */
#define AU_REGISTRY_PREFIX 31u
bool au_registry_has_prefix(au_node *node, const char *prefix, size_t name_len,
                            uint64_t root_id);

/* The longest actor name (one byte on the wire). */
#define AU_NAME_MAX 255

/* node.c: pushes env to a cell of the node with that id (au_node.id) if that node is still
 * live (not yet in au_node_stop), under the process's lock of live nodes, so that node cannot be
 * stopped and freed meanwhile; else frees env. For notices that cross from one node of the
 * process to another and are kept past the sender's knowledge of the receiver (watches). */
void au_node_push_if_live(uint64_t node_id, au_cell *cell, au_envelope *env);
/* node.c: runs fn on the node with that id if it is still live, under the same lock, so it is
 * not stopped and freed meanwhile; whether it ran. fn may take that node's locks (its watch
 * table), never this one: it must not call au_node_push_if_live. */
bool au_node_with_live(uint64_t node_id, void (*fn)(au_node *node, void *arg), void *arg);
/* node.c: tells the node's peer subscribers (any thread; callbacks run on it). */
void au_peer_event_emit(au_node *node, const au_peer_event *event);

/* watch.c */
au_err au_watches_create(au_node *node);
void au_watches_destroy(au_node *node);
/* Called when a cell's incarnation stops: notifies and forgets its watchers (local ones here,
 * other nodes' through the remote layer), and ends its own remote watches. */
void au_watches_target_stopped(au_node *node, au_cell *cell, uint32_t gen);
/* The node at addr is gone (au_peer_gone) or restarted: every watch on its actors ends in
 * terminated, and the remote layer forgets its watch state with that node. */
void au_watches_remote_gone(au_node *node, const struct sockaddr *addr);
/* The node of a remote slot said the watched actor stopped (the remote path, net/watch.c):
 * every local watch through that slot (same gen) ends in terminated. */
void au_watches_remote_stopped(au_node *node, void *slot, uint32_t gen);

/* actor.c: a turn of a pooled actor. Work deferred during it (au_turn_defer) runs at its end:
 * the remote path sends a turn's messages to one peer together. */
void au_turn_begin(void);
void au_turn_end(void);
/* True inside a pooled actor's turn on this thread (where nothing may block). */
bool au_turn_active(void);
/* Whether this thread is running a hook of one of node's actors, or a callback the node runs
 * (timers of au_node_call_at, peer events): au_node_stop refuses there. */
bool au_in_hook_of(const au_node *node);
/* Marks the node's own work (a callback) on this thread until au_own_work_end(the result). */
au_node *au_own_work_begin(au_node *node);
void au_own_work_end(au_node *outer);
/* Runs flush(arg) when the current turn ends, once per (flush, arg): AU_TURN_DEFERRED (newly),
 * AU_TURN_ALREADY (an earlier call deferred the same), or AU_TURN_NONE when no turn is running
 * on this thread or too much is deferred already (then the caller flushes now). */
typedef enum au_turn_deferral { AU_TURN_NONE, AU_TURN_DEFERRED, AU_TURN_ALREADY } au_turn_deferral;
au_turn_deferral au_turn_defer(void (*flush)(void *arg), void *arg);

/* ref.c */
#define AU_REF_F_REMOTE 1u

#endif
