/* cluster.c — the cluster actor: join, dissemination, failure detection, leave, heal, events.
 *
 * One actor per node, registered under the configured name, holds the membership table
 * (members.c), the ring snapshot (ring.c), one detector per charge (detector.c), and drives
 * everything from one tick (every hb_interval, or req_timeout / 2 if that is shorter):
 *   - joining: a join round to the seeds every ping_timeout; after num_pings rounds, alone;
 *   - heartbeats to the managers (the next R members clockwise), carrying queued changes;
 *   - per charge, the seed's normal-CDF detector; when a heartbeat is overdue, req_tries rounds
 *     of a direct probe plus indirect_probes probes through other members (which answer with a
 *     receipt at once, and relay the target's ack); no answer: suspect — unless not even a
 *     receipt came, when this node doubts itself instead, for up to ISOLATION_HOLD;
 *   - suspicion timers on every node that hears a suspicion (Lifeguard: from suspicion_max down
 *     to suspicion_min as independent accusers confirm); unrefuted at expiry: dead, removed;
 *   - a gossip round of queued changes to gossip_fanout random members, while there are any;
 *   - every sync_interval a bounded digest (the next window of buckets, round-robin) to one
 *     random member, answered with the differing buckets' entries (bounded); every reconnect_interval a
 *     contact with one removed member or non-member seed (this is how partitions heal);
 *   - tombstones collected after tombstone_ttl; events flushed to subscribers.
 * Without a cluster key, answers of more than one small datagram (full streams, a digest's
 * answer, pushes) are paid from a per-node answer budget, so that requests with a spoofed
 * sender cannot turn the node into an amplifier (see answer_allowed).
 * Local health (0..max_health) multiplies detector, probe and suspicion timeouts: raised when
 * this node refutes a suspicion of itself, when its own accusation is refuted, when a request
 * phase got no receipt, and when the tick comes so late that the node itself must have been
 * paused (then every detector restarts, so a paused node does not accuse the members it could
 * not hear); lowered by acks and with time. A DEAD verdict about a member this node heard from
 * lately is not applied but forwarded to the member, which refutes it (see apply()).
 *
 * Relies on: the public API only (forged references to the other nodes' cluster actors, timers,
 * au_peer_gone, the layer stop order) and util/. Invariants: the table's self entry is always
 * live while the node is IN; events are only produced while IN (a joiner's first update is
 * JOINED, not one ADDED per member). */
#include <aurum/aurum.h>
#include <aurum/cluster.h>
#include <aurum/driver.h>
#include <aurum/layer.h>
#include <aurum/log.h>

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#include <xxhash.h>

#include "cluster/detector.h"
#include "cluster/members.h"
#include "cluster/protocol.h"
#include "util/rng.h"
#include "util/stats.h"

#define LOG(level, ...) au_log(AU_LOG_CLUSTER, level, __VA_ARGS__)
#define MAX_R 16
/* indirect_probes at most: each request round sends that many probe requests (picked at random
 * among the other members, so with few members the same one may be asked more than once) */
#define MAX_INDIRECT 64
/* After a leave, how many hb_intervals a subscriber whose full mailbox refused LEFT is offered
 * it again before the cluster actor stops anyway. */
#define LEAVE_WAIT_TICKS 20
#define LEAVE_WAIT_MAX AU_SEC(10) /* and no longer, whatever hb_interval (checked at each tick) */
#define MAX_RETRANSMIT_MULT 64 /* beyond it retransmit_mult·⌈log10(N+2)⌉ could wrap */
/* How long a node that seems cut off itself holds its verdicts (see isolated(), check_charges). */
#define ISOLATION_HOLD AU_SEC(3)
#define MAX_ADDR CL_MAX_ADDR
#define MAX_NAME 255 /* the longest actor name */
/* The answer budget of a node without a cluster key (see answer_allowed): datagrams per second
 * and the burst. A full-table chunk is at most CL_SYNC_ENTRIES entries, about 1.2 KB. */
#define ANSWER_RATE 128
#define ANSWER_BURST 512
#define WITHHELD_LOG_EVERY AU_SEC(10)
#define FORGE_RETRY AU_SEC(1) /* a member's failed forge is tried again after this (ref_of) */
/* How far past the incarnation this node holds for a member a claim about it may be (unless
 * the member says it itself): only the member raises its incarnation, one step per refutation,
 * so a greater jump is a forgery, and one that wraps the 32 bits would leave the member unable
 * to refute (see apply()). A node that lags more than this learns the member's incarnation from
 * the member itself (its own messages, probe answers). */
#define INC_WINDOW 64
/* A claim of this node itself more than INC_WINDOW past its own incarnation is refuted (or caught
 * up with) while it is below INC_FAR: the others may have been pushed past ours, INC_WINDOW at a
 * time, by claims we never heard, and an accusation at what they hold must still be refuted.
 * From INC_FAR on it is dropped: one forged claim at UINT32_MAX - 1 had taken this node to
 * UINT32_MAX, where no accusation of it is believed. Either way the top half of the range takes
 * 2^31 / (INC_WINDOW + 1) forged datagrams, a message naming each member once. */
#define INC_FAR 0x80000000u
/* A confirmation's nonce is made for the time window it is asked in (confirm_nonce), and an
 * answer is taken within that window or the next: at least CONFIRM_WINDOW after the probe. */
#define CONFIRM_WINDOW AU_SEC(2)
/* Set in every nonce: never 0 (no nonce), and encoded at one length whatever the draw. */
#define NONCE_BIT (UINT64_C(1) << 63)
#define GONE_PER_ROUND 64 /* removed members declared gone again per second (collect_tombstones) */

/* ---- the handle ------------------------------------------------------------------------------ */

#define CLUSTER_STATS(X)                                                                           \
    X(members) X(tombstones) X(messages_sent) X(messages_received) X(drops_invalid)                \
    X(drops_incompatible) X(suspicions) X(refutations) X(removals) X(health) X(pauses)          \
    X(updates_deferred) X(events_dropped) X(members_refused) X(answers_withheld) X(reconnects)  \
    X(queued)

typedef struct cl_layer cl_layer;

struct au_cluster {
    au_node *node;
    cl_msg_lref actor;
    uint64_t id;
    cl_layer *home;           /* the node layer its actor runs in */
    au_cluster *next_handle;  /* the other handles of that layer (all freed with it) */
    bool leave_sent;          /* au_cluster_leave was called (under calls_lock) */
    bool actor_stopped;       /* the cluster actor has stopped (under calls_lock) */
    /* the subscribers as the calls see them (under calls_lock): au_cluster_subscribe adds,
     * au_cluster_unsubscribe removes, and the actor sends an update only to a listed one, the
     * check and the send under the lock (send_update), so that after au_cluster_unsubscribe
     * returns nothing more is sent to it */
    struct cl_listed { au_cluster_update_lref ref; uint64_t gen; } *subs;
    size_t nsubs, subs_cap;
    uint64_t sub_gen;         /* numbers the subscriptions: a ref subscribed again is new */
#define STAT_FIELD(n) _Atomic uint64_t n;
    CLUSTER_STATS(STAT_FIELD)
#undef STAT_FIELD
};

/* ---- the node layers ------------------------------------------------------------------------
 * A node has AU_LAYERS_MAX layer slots, and a layer can only be taken back before any actor ran
 * in it; a cluster left and started again on one node (au_cluster_leave, au_cluster_start) took
 * a new slot each time, and the ninth start failed with AU_EFULL. So a start reuses a cluster
 * layer of the node whose cluster actors have all stopped (which also keeps the cluster's place
 * in the stop order, below the layers attached on top of it). The handles stay valid until the
 * node stops (aurum/cluster.h): each layer keeps every handle started in it and frees them with
 * itself. One process-wide list under one mutex: starts and stops are rare. */

struct cl_layer {
    cl_layer *next;
    au_node *node;
    au_layer *layer;
    au_cluster *handles;
    unsigned running;  /* cluster actors started in it and not yet stopped */
    bool stopped_once; /* a cluster actor of it has stopped: last_inc holds its incarnation */
    uint32_t last_inc; /* the highest incarnation a stopped cluster actor of it reached */
};

static pthread_mutex_t layers_lock = PTHREAD_MUTEX_INITIALIZER;
static cl_layer *layers; /* under layers_lock */

/* Orders a subscription against a leave: the actor stops when it handles the leave, and a
 * subscription queued behind it was dropped unseen, though au_cluster_subscribe had said AU_OK.
 * Once a leave is queued, a subscription is refused (AU_ESTOPPED) instead. It also guards each
 * handle's list of subscribers (au_cluster.subs). */
static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;

/* Whether sub is in h's list (under calls_lock); its index in *at. */
static bool sub_listed_locked(const au_cluster *h, au_ref sub, size_t *at) {
    for (size_t i = 0; i < h->nsubs; i++)
        if (au_ref_equal(h->subs[i].ref.raw, sub)) {
            if (at) *at = i;
            return true;
        }
    return false;
}

/* The subscription number of sub in h's list, or 0 if it is not listed (under calls_lock). */
static uint64_t sub_gen_locked(const au_cluster *h, au_ref sub) {
    size_t i;
    return sub_listed_locked(h, sub, &i) ? h->subs[i].gen : 0;
}

/* Takes sub out of h's list (under calls_lock); whether it was there. */
static bool sub_unlist_locked(au_cluster *h, au_ref sub) {
    size_t i;
    if (!sub_listed_locked(h, sub, &i)) return false;
    h->subs[i] = h->subs[--h->nsubs];
    return true;
}

static void cl_layer_free(void *arg) {
    cl_layer *l = arg;
    pthread_mutex_lock(&layers_lock);
    for (cl_layer **p = &layers; *p; p = &(*p)->next)
        if (*p == l) { *p = l->next; break; }
    pthread_mutex_unlock(&layers_lock);
    for (au_cluster *h = l->handles, *n; h; h = n) {
        n = h->next_handle;
        free(h->subs);
        free(h);
    }
    free(l);
}

/* A layer for a new cluster actor on node, with a place for it reserved (running counts it):
 * an idle one of the node's, or a new one. NULL with *err set when neither can be had. */
static cl_layer *layer_take(au_node *node, au_err *err) {
    pthread_mutex_lock(&layers_lock);
    cl_layer *l = layers;
    while (l && !(l->node == node && l->running == 0)) l = l->next;
    if (l) {
        l->running++;
        pthread_mutex_unlock(&layers_lock);
        return l;
    }
    pthread_mutex_unlock(&layers_lock);
    if (!(l = calloc(1, sizeof *l))) { *err = AU_ENOMEM; return NULL; }
    l->node = node;
    l->running = 1;
    l->layer = au_layer_attach(node, &(au_layer_def){ .name = "cluster", .free = cl_layer_free, .arg = l });
    if (!l->layer) {
        au_err e = au_last_error();
        *err = e ? e : AU_EFULL;
        free(l);
        return NULL;
    }
    pthread_mutex_lock(&layers_lock);
    l->next = layers;
    layers = l;
    pthread_mutex_unlock(&layers_lock);
    return l;
}

/* The cluster actor of h started (it is then kept with the layer), or did not (h is freed, and
 * a layer that never ran an actor is taken back). */
static void layer_started(cl_layer *l, au_cluster *h, bool started) {
    pthread_mutex_lock(&layers_lock);
    if (started) { /* h->home was set before the spawn: the actor reads it */
        h->next_handle = l->handles;
        l->handles = h;
        pthread_mutex_unlock(&layers_lock);
        return;
    }
    l->running--;
    bool unused = l->running == 0 && !l->handles;
    pthread_mutex_unlock(&layers_lock);
    free(h);
    if (unused && au_layer_detach(l->layer) == AU_OK) {
        pthread_mutex_lock(&layers_lock);
        for (cl_layer **p = &layers; *p; p = &(*p)->next)
            if (*p == l) { *p = l->next; break; }
        pthread_mutex_unlock(&layers_lock);
        free(l);
    } /* else it stays (another layer came since), idle, freed at au_node_stop */
}

static void layer_note_inc_locked(cl_layer *l, uint32_t inc) {
    if (!l->stopped_once || inc > l->last_inc) l->last_inc = inc;
    l->stopped_once = true;
}

/* A cluster actor of l has left at incarnation inc: noted before its subscribers are told LEFT
 * (leave()), since a start made on LEFT may begin (first_inc) before this actor's post_stop has
 * run: its name is free by then, and the start must still begin past the leave. */
static void layer_note_inc(cl_layer *l, uint32_t inc) {
    pthread_mutex_lock(&layers_lock);
    layer_note_inc_locked(l, inc);
    pthread_mutex_unlock(&layers_lock);
}

static void layer_stopped(cl_layer *l, uint32_t inc) {
    pthread_mutex_lock(&layers_lock);
    l->running--;
    layer_note_inc_locked(l, inc);
    pthread_mutex_unlock(&layers_lock);
}

/* The incarnation a cluster starting on node begins at: 0, or past the highest one a cluster
 * that stopped on this node reached. A start after a leave has the same run id (the node's),
 * and the others hold it at that incarnation (LEFT): starting past it, its ALIVE wins at once,
 * and a claim of itself more than INC_WINDOW ahead of its own is always a forgery (apply()). */
static uint32_t first_inc(au_node *node) {
    uint32_t inc = 0;
    bool any = false;
    pthread_mutex_lock(&layers_lock);
    for (cl_layer *l = layers; l; l = l->next)
        if (l->node == node && l->stopped_once && (!any || l->last_inc > inc)) inc = l->last_inc, any = true;
    pthread_mutex_unlock(&layers_lock);
    return !any ? 0 : inc < UINT32_MAX - 1 ? inc + 1 : UINT32_MAX - 1;
}

/* ---- the actor's state ---------------------------------------------------------------------- */

enum phase { JOINING, IN, REFUSED, LEFT };
enum charge_phase { RECEIVING, REQUESTING, ACCUSED };

typedef struct charge {
    uint64_t key, id;
    au_detector det;
    int phase;
    unsigned tries;
    au_nanos next;
    unsigned receipts;     /* intermediaries that confirmed our indirect probe requests */
    bool asked_others;     /* indirect probes were sent in this request phase */
    bool doubted;          /* health was raised for this silence already */
    au_nanos failing_since;/* first request of the current silence (0: none) */
} charge;

/* A subscriber. Its mailbox may be bounded: an update it refuses (AU_EFULL) is not lost, its
 * events wait in `backlog` (addresses owned) and are offered again, with later ones and the then
 * current members, every hb_interval until taken; at most CL_BACKLOG_MAX events (the oldest
 * beyond are dropped and counted: the member set each update carries stays whole). */
typedef struct cl_sub {
    au_cluster_update_lref ref;
    uint64_t gen;              /* the subscription it serves (au_cluster.subs) */
    au_cluster_event *backlog;
    size_t nbacklog, backlog_cap;
    bool behind;
} cl_sub;

enum { CL_BACKLOG_MAX = 1024 };

typedef struct cl_state {
    au_cluster *c;
    au_node *node;
    au_cluster_config cfg;
    char **seeds; /* each "as given\0as an address is advertised\0" (seed_canon) */
    size_t nseeds;
    uint64_t *seed_alias; /* per seed, the key of the member whose datagrams came from the seed's
                             address while advertising another one (a host name): 0 none
                             (note_seed_alias); NULL if it could not be allocated */
    char addr[MAX_ADDR + 1];
    size_t addr_len;
    cl_member *me;
    int phase;
    unsigned pings_left;
    au_nanos next_ping;
    cl_table t;
    uint64_t rng, compat;
    double z;
    au_ring *ring;
    size_t positions;            /* ring positions of the live members: counted at each ring
                                    build, and raised at each add in between (so at most over) */
    bool ring_dirty;
    au_nanos next_ring;          /* the tick rebuilds a dirty ring no earlier (ring_interval) */
    uint64_t managers[MAX_R];
    size_t nmanagers;
    charge *charges;
    size_t ncharges;
    uint64_t *suspects;          /* keys of members in state SUSPECT */
    size_t nsuspects, suspects_cap;
    cl_sub *subs;
    size_t nsubs, subs_cap;
    size_t nbehind;              /* subscribers with a backlog (their mailbox was full) */
    au_nanos next_retry;         /* when backlogs are offered again */
    au_cluster_event *events;    /* pending for subscribers; addresses owned */
    size_t nevents, events_cap;
    size_t gone_pos;             /* where collect_tombstones' next declarations start */
    size_t evict_pos;            /* where evict_tombstone's next search starts */
    unsigned sync_pos;           /* where the next digest window starts, in buckets of the
                                    finest level (CL_LEVELS bits): walked round-robin */
    au_nanos last_tick, next_hb, next_gossip, next_sync, next_reconnect, next_gc, next_decay;
    unsigned health;
    bool health_raised;
    size_t baseline;
    bool minority;
    /* left, and waiting for subscribers whose full mailboxes refused their LEFT: the actor stops
     * once none is behind, or at stop_by (LEAVE_WAIT_TICKS·hb_interval after the leave) */
    bool stopping;
    au_nanos stop_by;
    uint32_t seq;
    au_nanos heard_at;           /* the last cluster message from another node */
    bool sealed;                 /* the node holds a cluster key: no answer budget */
    double answer_tokens;        /* the answer budget left, in datagrams (answer_allowed) */
    au_nanos answer_at;          /* when answer_tokens was last refilled */
    uint64_t withheld_unlogged;  /* answer datagrams withheld since the last WARN about it */
    au_nanos withheld_logged_at;
    unsigned self_claims;        /* records of this node in the message being handled */
    uint64_t msg_no;             /* counts the messages handled (cl_member.msg_seen) */
    bool from_verified;          /* the message being handled comes from the address its `from`
                                    names (heard_from): what it says of its sender is believed */
    const au_str *proven_addr;   /* the message being handled is an ack that echoed the nonce of
                                    our confirmation of run proven_id at this address: that
                                    run's own record in it is believed (apply) */
    uint64_t proven_id;
    uint8_t confirm_key[crypto_shorthash_KEYBYTES]; /* confirm_nonce's key: random, never sent */
    uint64_t join_nonce;         /* in our joins; a refusal is believed when it echoes it */
} cl_state;

static au_nanos now_of(cl_state *s) { return au_node_now(s->node); }
static uint64_t rnd(cl_state *s) { return au_splitmix64_next(&s->rng); }
static void stat_add(_Atomic uint64_t *x, uint64_t n) { au_stat_add(x, n); }
static void stat_set(_Atomic uint64_t *x, uint64_t v) {
    atomic_store_explicit(x, v, memory_order_relaxed); /* relaxed: a gauge, read as a number */
}
/* Durations are taken as configured, however large (UINT64_MAX: never), so time arithmetic
 * saturates: d·(1 + health) wrapped (a suspicion timeout of 2^62 at health 3 was 0, an instant
 * removal) and so did a deadline past the end of time. */
static au_nanos sat_add(au_nanos a, au_nanos b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
static au_nanos sat_mul(au_nanos d, uint64_t k) { return k && d > UINT64_MAX / k ? UINT64_MAX : d * k; }
static au_nanos scaled(cl_state *s, au_nanos d) { return sat_mul(d, 1 + (uint64_t)s->health); }

static void health_up(cl_state *s) {
    if (s->health < s->cfg.max_health) s->health++;
    s->health_raised = true;
    stat_set(&s->c->health, s->health);
}
static void health_down(cl_state *s) {
    if (s->health) s->health--;
    stat_set(&s->c->health, s->health);
}

/* ---- events ------------------------------------------------------------------------------- */

static void event(cl_state *s, int kind, int reason, const char *addr, uint64_t id,
                  uint32_t vnodes) {
    if (s->phase != IN && kind != AU_CLUSTER_INCOMPATIBLE && kind != AU_CLUSTER_LEFT) return;
    if (s->nevents == s->events_cap) {
        size_t nc = s->events_cap ? s->events_cap * 2 : 16;
        au_cluster_event *p = realloc(s->events, nc * sizeof *p);
        if (!p) return;
        s->events = p;
        s->events_cap = nc;
    }
    au_str a = au_str_dup(addr, strlen(addr));
    if (!a.ptr) return;
    s->events[s->nevents++] = (au_cluster_event){
        .kind = kind, .reason = reason,
        .member = { .address = a, .id = id, .vnodes = vnodes } };
}

static void self_event(cl_state *s, int kind) {
    event(s, kind, 0, s->addr, s->c->id, s->me ? s->me->vnodes : s->cfg.vnodes);
}

static void clear_events(cl_state *s) {
    for (size_t i = 0; i < s->nevents; i++) au_str_free(&s->events[i].member.address);
    s->nevents = 0;
}

/* ---- the ring, managers and charges ------------------------------------------------------- */

static charge *find_charge(cl_state *s, uint64_t key) {
    for (size_t i = 0; i < s->ncharges; i++)
        if (s->charges[i].key == key) return &s->charges[i];
    return NULL;
}

static void charge_fresh(cl_state *s, charge *c, uint64_t id) {
    double initial = 2.0 * (double)s->cfg.hb_interval / 1e6;
    au_detector_reset(&c->det, s->cfg.capacity, s->cfg.times, initial, now_of(s));
    c->id = id;
    c->phase = RECEIVING;
    c->tries = 0;
    c->failing_since = 0;
    c->doubted = false;
}

static void rebuild_ring(cl_state *s) {
    if (!s->ring_dirty && s->ring) return;
    size_t n = s->t.nlive + 1;
    au_cluster_member *ms = malloc(n * sizeof *ms);
    if (!ms) return;
    ms[0] = (au_cluster_member){ au_str_view(s->addr), s->c->id, s->me ? s->me->vnodes : 1 };
    size_t positions = ms[0].vnodes ? ms[0].vnodes : 1;
    for (size_t i = 0; i < s->t.nlive; i++) {
        cl_member *m = s->t.live[i];
        ms[i + 1] = (au_cluster_member){ cl_member_addr(m), m->id, m->vnodes };
        positions += m->vnodes ? m->vnodes : 1;
    }
    s->positions = positions;
    au_ring *r = au_ring_build(ms, n, s->cfg.replication_factor);
    free(ms);
    if (!r) return;
    au_ring_release(s->ring);
    s->ring = r;
    s->ring_dirty = false;

    const au_cluster_member *got[MAX_R];
    size_t nm = au_ring_managers(r, s->addr, got, s->cfg.replication_factor);
    s->nmanagers = 0;
    for (size_t i = 0; i < nm; i++) s->managers[s->nmanagers++] = cl_key(got[i]->address.ptr, got[i]->address.len);

    /* charges: keep the detector of members that stay charges */
    size_t cap = au_ring_size(r);
    const au_cluster_member **ch = malloc((cap ? cap : 1) * sizeof *ch);
    if (!ch) return;
    size_t k = au_ring_charges(r, s->addr, ch, cap);
    charge *nc = calloc(k ? k : 1, sizeof *nc); /* a few: each holds a detector window */
    if (!nc) { free(ch); return; }
    for (size_t i = 0; i < k; i++) {
        uint64_t key = cl_key(ch[i]->address.ptr, ch[i]->address.len);
        charge *old = find_charge(s, key);
        if (old && old->id == ch[i]->id) nc[i] = *old;
        else {
            nc[i].key = key;
            charge_fresh(s, &nc[i], ch[i]->id);
        }
    }
    free(ch);
    free(s->charges);
    s->charges = nc;
    s->ncharges = k;
}

/* ---- sending ------------------------------------------------------------------------------ */

/* A forge can fail for a while (the node's tables of peers and remote references are full of
 * kept targets, until some are unforged): it is tried again, at most once per FORGE_RETRY,
 * instead of leaving the member unreachable for good. */
static bool ref_of(cl_state *s, cl_member *m, cl_wire_ref *out) {
    if (!m->forged) {
        au_nanos now = au_node_now(s->node);
        if (now < m->forge_retry_at) return false;
        m->ref = au_forge(cl_msg, cl_wire, s->node, s->cfg.name, m->addr);
        m->forged = !au_ref_is_null(m->ref.raw);
        if (!m->forged) m->forge_retry_at = now + FORGE_RETRY;
    }
    *out = m->ref;
    return m->forged;
}

/* Gives back a member's forged reference (au_unforge), so that the node's tables of remote
 * references and peers can take other targets once the member is gone. */
static void unforge_member(cl_member *m) {
    if (m->forged && !au_ref_is_null(m->ref.raw)) au_unforge(m->ref);
    m->forged = false;
    m->ref = (cl_wire_ref){ 0 };
}

static void send_ref(cl_state *s, cl_wire_ref to, cl_wire msg) {
    if (au_ref_is_null(to.raw)) return;
    if (au_send(to, msg) == AU_OK) stat_add(&s->c->messages_sent, 1);
}

static void send_to(cl_state *s, cl_member *m, cl_wire msg) {
    cl_wire_ref r;
    if (m == s->me || !ref_of(s, m, &r)) return;
    send_ref(s, r, msg);
}

/* To an address that may not be in the table (a joiner, a relay's origin). */
static void send_addr(cl_state *s, const char *addr, size_t len, cl_wire msg) {
    cl_member *m = cl_table_get(&s->t, addr, len);
    if (m) { send_to(s, m, msg); return; }
    if (len == s->addr_len && memcmp(addr, s->addr, len) == 0) return;
    /* Forged for this one message (a message queued through it keeps it in place): joiners and
     * relays' origins at ever new addresses leave nothing held behind in the node's tables. */
    cl_wire_ref to = au_forge(cl_msg, cl_wire, s->node, s->cfg.name, addr);
    send_ref(s, to, msg);
    if (!au_ref_is_null(to.raw)) au_unforge(to);
}

static unsigned retransmits(cl_state *s) {
    double n = (double)s->t.nlive + 2;
    unsigned l = (unsigned)ceil(log10(n));
    return s->cfg.retransmit_mult * (l ? l : 1);
}

static void queue(cl_state *s, cl_member *m) { cl_queue_push(&s->t, m, retransmits(s)); }

/* Queued changes for one outgoing message, into buf (which the message then borrows). */
static cl_update_array piggyback_counted(cl_state *s, cl_update *buf, bool count) {
    size_t n = cl_queue_take(&s->t, buf, s->cfg.max_piggyback, count);
    return (cl_update_array){ .ptr = buf, .len = (uint32_t)n };
}

static cl_update_array piggyback(cl_state *s, cl_update *buf) { return piggyback_counted(s, buf, true); }

static cl_member *random_live(cl_state *s, const cl_member *not1, const cl_member *not2) {
    if (s->t.nlive == 0) return NULL;
    for (int tries = 0; tries < 8; tries++) {
        cl_member *m = s->t.live[rnd(s) % s->t.nlive];
        if (m != not1 && m != not2) return m;
    }
    return NULL;
}

static void gossip_to(cl_state *s, cl_member *m, const cl_update *ups, size_t n) {
    send_to(s, m, (cl_wire){ .tag = cl_wire_gossip,
                             .gossip = { au_str_view(s->addr), s->c->id,
                                         { (cl_update *)ups, (uint32_t)n, 0 } } });
}

/* ---- merging updates -------------------------------------------------------------------------- */

static bool addr_ok(const au_str *a) { return cl_addr_ok(a); }
static bool update_ok(const cl_update *u) { return cl_update_ok(u); }

static void suspects_add(cl_state *s, uint64_t key) {
    for (size_t i = 0; i < s->nsuspects; i++)
        if (s->suspects[i] == key) return;
    if (s->nsuspects == s->suspects_cap) {
        size_t nc = s->suspects_cap ? s->suspects_cap * 2 : 8;
        uint64_t *p = realloc(s->suspects, nc * sizeof *p);
        if (!p) return;
        s->suspects = p;
        s->suspects_cap = nc;
    }
    s->suspects[s->nsuspects++] = key;
}

static void suspects_remove(cl_state *s, uint64_t key) {
    for (size_t i = 0; i < s->nsuspects; i++)
        if (s->suspects[i] == key) { s->suspects[i] = s->suspects[--s->nsuspects]; return; }
}

static void add_accuser(cl_member *m, uint64_t by) { cl_member_accuse(m, by); }

static void member_removed(cl_state *s, cl_member *m, int reason, uint64_t old_id) {
    m->removed_at = now_of(s);
    suspects_remove(s, m->key);
    s->ring_dirty = true;
    stat_add(&s->c->removals, 1);
    if (reason == AU_CLUSTER_LEAVING && s->baseline > 1) s->baseline--;
    event(s, AU_CLUSTER_REMOVED, reason, m->addr, old_id, m->vnodes);
    LOG(AU_LOG_INFO, "%s: %s (run %llx) removed: %s", s->addr, m->addr, (unsigned long long)old_id,
        reason == AU_CLUSTER_FAILED ? "failed" : reason == AU_CLUSTER_LEAVING ? "left" : "replaced");
    if (reason == AU_CLUSTER_FAILED) { /* if it is alive after all, it refutes at once */
        cl_update u = cl_member_update(m);
        m->told_at = m->removed_at;
        gossip_to(s, m, &u, 1);
    }
    au_peer_gone(s->node, m->addr);
}

static void member_added(cl_state *s, cl_member *m) {
    s->ring_dirty = true;
    event(s, AU_CLUSTER_ADDED, 0, m->addr, m->id, m->vnodes);
    if (s->t.nlive + 1 > s->baseline) s->baseline = s->t.nlive + 1;
}

/* This node is suspected or declared dead (at an incarnation not below its own, and below
 * UINT32_MAX: apply() believes no accusation at UINT32_MAX, so the refutation never wraps):
 * refute. A death (or a leave this node did not make) means the others removed it: once the
 * refutation is out it is back, and subscribers get JOINED again (aurum/cluster.h). */
static void refute(cl_state *s, uint32_t inc, uint8_t state, const au_str *from) {
    cl_table_set(&s->t, s->me, s->me->id, inc < UINT32_MAX ? inc + 1 : inc, CL_ALIVE, s->me->vnodes);
    queue(s, s->me);
    stat_add(&s->c->refutations, 1);
    health_up(s);
    if (!cl_is_live(state)) {
        self_event(s, AU_CLUSTER_JOINED);
        LOG(AU_LOG_INFO, "%s: removed by the others, refuted: rejoined", s->addr);
    }
    if (from && from->ptr) { /* the node that told us hears the answer at once */
        cl_update u = cl_member_update(s->me);
        send_addr(s, from->ptr, from->len,
                  (cl_wire){ .tag = cl_wire_gossip,
                             .gossip = { au_str_view(s->addr), s->c->id, { &u, 1, 0 } } });
    }
}

/* Whether the message being handled is m's own: its sender is m's address, and heard_from
 * found that address to be where the datagram came from (or the node holds a cluster key). */
static bool said_by_itself(cl_state *s, const au_str *from, const cl_member *m) {
    return s->from_verified && from && from->ptr && from->len == m->addr_len &&
           memcmp(from->ptr, m->addr, from->len) == 0;
}

/* Whether the update is the record of the run whose confirmation the message being handled
 * answered with the right nonce (on_probe): that run reached at m's address itself. */
static bool proven_run(cl_state *s, const cl_member *m, uint64_t id) {
    const au_str *a = s->proven_addr;
    return a && id == s->proven_id && a->len == m->addr_len && memcmp(a->ptr, m->addr, a->len) == 0;
}

/* The nonce of a confirmation of run `id` at addr, asked in time window `window`
 * (CONFIRM_WINDOW): SipHash-2-4 under a random key of this node's, so it is unpredictable to
 * anyone who does not see the probe, and no state is kept per question (a forged claim asked
 * about in between does not void the nonce of the real run's probe). */
static uint64_t confirm_nonce(const cl_state *s, const char *addr, size_t len, uint64_t id, uint64_t window) {
    uint8_t in[MAX_ADDR + 16], out[crypto_shorthash_BYTES];
    if (len > MAX_ADDR) len = MAX_ADDR;
    memcpy(in, &id, 8);
    memcpy(in + 8, &window, 8);
    memcpy(in + 16, addr, len);
    crypto_shorthash(out, in, 16 + len, s->confirm_key);
    uint64_t n;
    memcpy(&n, out, sizeof n);
    return n | NONCE_BIT; /* never 0 ("no nonce"), and always 8 bytes of CBOR */
}

/* Whether an answer's nonce is that of our confirmation of run id at addr asked within the last
 * one to two windows. */
static bool confirm_nonce_ok(cl_state *s, const au_str *addr, uint64_t id, uint64_t nonce) {
    uint64_t w = now_of(s) / CONFIRM_WINDOW;
    return nonce && (nonce == confirm_nonce(s, addr->ptr, addr->len, id, w) ||
                     (w && nonce == confirm_nonce(s, addr->ptr, addr->len, id, w - 1)));
}

static cl_probe probe_msg(cl_state *s, const au_str *target, uint64_t target_id, const au_str *origin,
                          uint32_t seq, cl_update *buf);

static bool answer_allowed(cl_state *s);
static void withheld(cl_state *s, const au_str *to, size_t n);

/* Asks the run `id` claimed for m's address (a newer run, or m's own run claimed far ahead of
 * the incarnation held) whether it exists and what it says: a probe with seq 0 and a nonce
 * (confirm_nonce), sent to that address, which that run alone answers, with its own record and
 * the nonce echoed; the answer is believed for the nonce, wherever its datagram comes from
 * (on_probe). At most once per req_timeout for one run, without
 * piggyback, and paid from the answer budget (answer_allowed): one forged datagram names up to
 * CL_MAX_UPDATES members, and each claim had sent a probe carrying max_piggyback updates, 64
 * datagrams out for one in. A claim it cannot pay is withheld (counted) and asked again when it
 * comes again; the run speaking for itself is believed anyway. */
static void confirm_run(cl_state *s, cl_member *m, uint64_t id) {
    au_nanos now = now_of(s);
    /* the wait is per claimed run: a forged claim repeated within req_timeout had kept the real
     * new run's claim from being asked, so a restart was taken late where heard indirectly */
    if (m->confirm_at && m->confirm_id == id && now - m->confirm_at < s->cfg.req_timeout) return;
    au_str target = cl_member_addr(m);
    if (!answer_allowed(s)) {
        withheld(s, &target, 1);
        return;
    }
    m->confirm_at = now;
    m->confirm_id = id;
    uint64_t nonce = confirm_nonce(s, m->addr, m->addr_len, id, now / CONFIRM_WINDOW);
    send_to(s, m, (cl_wire){ .tag = cl_wire_probe,
                             .probe = { au_str_view(s->addr), s->c->id, target, id, au_str_lit(""), 0,
                                        nonce, { NULL, 0, 0 } } });
}

#define EVICT_SEARCH 64 /* table slots evict_tombstone looks at, at most, for one newcomer */

/* The table is full (max_members) and an unknown live member is heard of: a tombstone makes
 * room for it, so that removed members (real ones, or phantoms that died) kept for
 * tombstone_ttl do not lock real members out. Looks at EVICT_SEARCH slots from where the last
 * search ended (bounded work per newcomer); returns whether one was dropped. */
static bool evict_tombstone(cl_state *s) {
    au_u64map *map = &s->t.by_key;
    if (s->t.ntombstones == 0 || map->cap == 0) return false;
    for (size_t k = 0; k < map->cap && k < EVICT_SEARCH; k++) {
        size_t i = (s->evict_pos + k) % map->cap;
        cl_member *m = map->keys[i] ? map->values[i] : NULL;
        if (m && !cl_is_live(m->state) && m != s->me) {
            s->evict_pos = i + 1;
            if (m->state == CL_DEAD && s->baseline > s->t.nlive + 1) s->baseline--;
            unforge_member(m);
            cl_table_drop(&s->t, m);
            return true;
        }
    }
    s->evict_pos += EVICT_SEARCH;
    return false;
}

/* Applies one update; returns true if the table changed. from: who sent it (may be NULL). */
static bool apply(cl_state *s, const cl_update *u, const au_str *from) {
    if (!update_ok(u)) {
        stat_add(&s->c->drops_invalid, 1);
        return false;
    }
    if (u->addr.len == s->addr_len && memcmp(u->addr.ptr, s->addr, s->addr_len) == 0) {
        if (u->id == s->c->id) {
            if (s->phase == LEFT) return false;
            if (s->self_claims++) {
                /* a message names each member once (gossip, sync, probes): a second record of
                 * ours is forged, and each one refuted raised our incarnation up to INC_WINDOW + 1
                 * (64 such records, 4,160 at once: 2^32 in a million datagrams) */
                stat_add(&s->c->drops_invalid, 1);
                return false;
            }
            if ((u->state != CL_ALIVE && u->inc == UINT32_MAX) || /* believed nowhere (below) */
                (u->inc > s->me->inc && u->inc - s->me->inc > INC_WINDOW && u->inc >= INC_FAR)) {
                /* far ahead of ours, in the top half (INC_FAR): refuting or catching up would
                 * take us towards UINT32_MAX, where no accusation of us is believed (a crash of
                 * ours then went unnoticed by all but our managers) */
                stat_add(&s->c->drops_invalid, 1);
                return false;
            }
            if (u->state != CL_ALIVE && u->inc >= s->me->inc) {
                refute(s, u->inc, u->state, from);
                return true;
            }
            if (u->inc > s->me->inc) { /* a forged ALIVE ahead of us: catch up, so we still win */
                cl_table_set(&s->t, s->me, s->me->id, u->inc, CL_ALIVE, s->me->vnodes);
                queue(s, s->me);
                return true;
            }
        } else if (u->id > s->c->id) {
            stat_add(&s->c->drops_invalid, 1); /* a "newer run" of this very node: not believed */
        }
        return false;
    }
    cl_member *m = cl_table_get(&s->t, u->addr.ptr, u->addr.len);
    if (!m) {
        if (!cl_is_live(u->state)) return false; /* unknown and gone: nothing to remember */
        size_t adds = u->vnodes ? u->vnodes : 1;
        if ((s->t.by_key.count >= s->cfg.max_members && !evict_tombstone(s)) ||
            s->positions + adds > AU_CLUSTER_MAX_POSITIONS) {
            /* phantoms: without a cluster key any datagram can name members that do not exist,
             * each a table entry, ring positions and a place among the managers; the table and
             * ring stop growing at the bound, a tombstone giving way to a live newcomer (a real
             * member beyond it is learned once others go: its news is repeated by gossip and
             * the sync) */
            stat_add(&s->c->members_refused, 1);
            return false;
        }
        s->positions += adds;
        m = cl_table_add(&s->t, u->addr.ptr, u->addr.len, u->id, u->inc, u->state, u->vnodes);
        if (!m) return false;
        m->msg_seen = s->msg_no;
        queue(s, m);
        if (u->state == CL_SUSPECT) {
            m->suspect_since = now_of(s);
            add_accuser(m, u->by);
            suspects_add(s, m->key);
        }
        member_added(s, m);
        return true;
    }
    if (m->msg_seen == s->msg_no) { /* a message names each member once: a second is forged */
        stat_add(&s->c->drops_invalid, 1);
        return false;
    }
    m->msg_seen = s->msg_no;
    bool itself = said_by_itself(s, from, m) || proven_run(s, m, u->id);
    if (u->id == m->id && !itself && u->state != CL_ALIVE && u->inc == UINT32_MAX) {
        /* an accusation the member could not refute (its incarnation cannot go past UINT32_MAX):
         * forged, not believed. (A member that really reached UINT32_MAX, after 2^32
         * refutations or 2^32 / INC_WINDOW forged accusations, is then accused only by each of
         * its managers for itself.) */
        stat_add(&s->c->drops_invalid, 1);
        return false;
    }
    if (u->id == m->id && !itself && u->inc > m->inc && u->inc - m->inc > INC_WINDOW) {
        /* a jump no run of refutations makes, heard from someone else: not taken (counted), but
         * the member is asked, as for a newer run (confirm_run), and its own record in an answer
         * that echoes the nonce is believed (proven_run): a member that really got that far
         * (many accusations refuted, a long partition) and sends from another address than it
         * advertises, or advertises a host name, was otherwise never believed. The answer
         * states the member's own incarnation, never the claim's, so forged pushes move
         * nothing. */
        stat_add(&s->c->drops_invalid, 1);
        confirm_run(s, m, u->id);
        return false;
    }
    if (u->id > m->id && !s->sealed && !itself) {
        /* a newer run at that address, heard from someone else: without a cluster key that is
         * only a claim, and believing it would replace the member (REPLACED), whose real, smaller
         * id would then always lose — one forged update with id UINT64_MAX locked a live member
         * out. So the claimed run is asked (a probe with its id; only that run answers, with its
         * own record first) and believed when its answer echoes the probe's nonce, or whenever
         * it speaks for itself from its own address. */
        confirm_run(s, m, u->id);
        return false;
    }
    bool heard_lately = m->heard_at && (m->state == CL_SUSPECT ? m->heard_at > m->suspect_since
                                                                : now_of(s) - m->heard_at < s->cfg.suspicion_max);
    if (u->state == CL_DEAD && cl_is_live(m->state) && u->id == m->id && u->inc >= m->inc && heard_lately &&
        !(from && from->len == m->addr_len && memcmp(from->ptr, m->addr, from->len) == 0)) {
        /* declared dead, but this node heard from it just now (while it was alive here, or since
         * it was suspected here): the verdict is likely a cut-off accuser's. Not applied here; the member is told, and refutes (which then overrides
         * the verdict everywhere). A true failure's verdict comes again (retransmissions, sync)
         * once this node's evidence is older than suspicion_max. */
        cl_update tell = *u;
        tell.addr = cl_member_addr(m);
        gossip_to(s, m, &tell, 1);
        return false;
    }
    if (!cl_update_wins(m, u->id, u->inc, u->state)) {
        if (u->id == m->id && u->inc == m->inc && u->state == CL_SUSPECT && m->state == CL_SUSPECT) {
            unsigned before = m->naccusers;
            add_accuser(m, u->by);
            if (m->naccusers != before) { queue(s, m); return true; } /* a confirmation */
        }
        return false;
    }
    size_t was = cl_is_live(m->state) ? (m->vnodes ? m->vnodes : 1) : 0;
    size_t will = cl_is_live(u->state) ? (u->vnodes ? u->vnodes : 1) : 0;
    if (will > was && s->positions + (will - was) > AU_CLUSTER_MAX_POSITIONS) {
        stat_add(&s->c->members_refused, 1); /* the ring's bound, as for phantoms (above) */
        return false;
    }
    if (will > was) s->positions += will - was;
    uint8_t old = m->state;
    uint64_t old_id = m->id;
    bool vnodes_changed = m->vnodes != u->vnodes;
    cl_table_set(&s->t, m, u->id, u->inc, u->state, u->vnodes);
    queue(s, m);
    if (old_id != u->id) { /* a newer run at that address */
        m->naccusers = 0;
        suspects_remove(s, m->key);
        if (cl_is_live(old)) member_removed(s, m, AU_CLUSTER_REPLACED, old_id);
        if (cl_is_live(u->state)) member_added(s, m);
        else m->removed_at = now_of(s);
    } else if (cl_is_live(old) && !cl_is_live(u->state)) {
        member_removed(s, m, u->state == CL_LEFT ? AU_CLUSTER_LEAVING : AU_CLUSTER_FAILED, old_id);
    } else if (!cl_is_live(old) && cl_is_live(u->state)) {
        member_added(s, m);
    } else if (vnodes_changed) {
        s->ring_dirty = true;
    }
    if (u->state == CL_SUSPECT) {
        if (old != CL_SUSPECT || old_id != u->id) m->naccusers = 0, m->suspect_since = now_of(s);
        add_accuser(m, u->by);
        suspects_add(s, m->key);
        /* heard from the accuser itself: tell the suspect at once, so it can refute even when
         * the accuser cannot reach it (the accuser may be the one cut off) */
        if (from && from->ptr && u->by == cl_key(from->ptr, from->len)) {
            cl_update tell = *u;
            tell.addr = cl_member_addr(m);
            gossip_to(s, m, &tell, 1);
        }
    } else if (old == CL_SUSPECT) {
        suspects_remove(s, m->key);
    }
    if (u->state == CL_ALIVE && old_id == u->id) { /* a refutation: its managers start afresh */
        charge *c = find_charge(s, m->key);
        if (c && c->phase == ACCUSED) charge_fresh(s, c, m->id);
        /* Lifeguard: a node whose accusations are refuted is likelier the problem itself (it
         * cannot hear the others) than they are: it slows its own verdicts */
        for (unsigned i = 0; i < m->naccusers; i++)
            if (m->accusers[i] == s->me->key) { health_up(s); break; }
        if (old == CL_SUSPECT) m->naccusers = 0;
    }
    return true;
}

static bool apply_all(cl_state *s, const cl_update_array *a, const au_str *from) {
    if (a->len > CL_MAX_UPDATES) {
        stat_add(&s->c->drops_invalid, 1);
        return false;
    }
    bool changed = false;
    for (uint32_t i = 0; i < a->len; i++) changed |= apply(s, &a->ptr[i], from);
    return changed;
}

/* ---- subscribers ------------------------------------------------------------------------------- */

static au_err make_update(cl_state *s, const au_cluster_event *evs, size_t n, au_cluster_update *out) {
    *out = (au_cluster_update){ 0 };
    size_t nm = s->phase == IN ? au_ring_size(s->ring) : 0; /* outside a cluster: no members */
    au_cluster_event *e = calloc(n ? n : 1, sizeof *e);
    au_cluster_member *m = calloc(nm ? nm : 1, sizeof *m);
    if (!e || !m) { free(e); free(m); return AU_ENOMEM; }
    out->events = (au_cluster_event_array){ e, (uint32_t)n, 1 };
    out->members = (au_cluster_member_array){ m, (uint32_t)nm, 1 };
    out->ring.ring = s->phase == IN ? au_ring_retain(s->ring) : NULL;
    for (size_t i = 0; i < n; i++) {
        e[i] = evs[i];
        e[i].member.address = au_str_dup(evs[i].member.address.ptr, evs[i].member.address.len);
    }
    for (size_t i = 0; i < nm; i++) {
        const au_cluster_member *r = au_ring_member(s->ring, i);
        m[i] = *r;
        m[i].address = au_str_dup(r->address.ptr, r->address.len);
    }
    return AU_OK;
}

static void backlog_clear(cl_sub *u) {
    for (size_t i = 0; i < u->nbacklog; i++) au_str_free(&u->backlog[i].member.address);
    u->nbacklog = 0;
}

/* Appends copies of evs to u's backlog, dropping its oldest beyond CL_BACKLOG_MAX. */
static void backlog_add(cl_state *s, cl_sub *u, const au_cluster_event *evs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (u->nbacklog == CL_BACKLOG_MAX) {
            au_str_free(&u->backlog[0].member.address);
            memmove(u->backlog, u->backlog + 1, (u->nbacklog - 1) * sizeof *u->backlog);
            u->nbacklog--;
            stat_add(&s->c->events_dropped, 1);
        }
        if (u->nbacklog == u->backlog_cap) {
            size_t nc = u->backlog_cap ? u->backlog_cap * 2 : 8;
            au_cluster_event *p = realloc(u->backlog, nc * sizeof *p);
            if (!p) { stat_add(&s->c->events_dropped, n - i); return; }
            u->backlog = p;
            u->backlog_cap = nc;
        }
        au_cluster_event *e = &u->backlog[u->nbacklog++];
        *e = evs[i];
        e->member.address = au_str_dup(evs[i].member.address.ptr, evs[i].member.address.len);
    }
}

/* Gives subscriber i the events evs (after its backlog, if it has one) and the current members.
 * A refused update (full mailbox, no memory) leaves the events in the backlog for later. */
static void send_update(cl_state *s, size_t i, const au_cluster_event *evs, size_t n) {
    cl_sub *u = &s->subs[i];
    if (u->behind) {
        backlog_add(s, u, evs, n);
        evs = u->backlog;
        n = u->nbacklog;
    }
    au_cluster_update m;
    au_err err = AU_ENOTFOUND;
    /* checked and sent under calls_lock: once au_cluster_unsubscribe has returned, nothing more
     * is sent to the ref (what was sent before stays in its mailbox) */
    pthread_mutex_lock(&calls_lock);
    if (u->gen && sub_gen_locked(s->c, u->ref.raw) == u->gen) {
        err = make_update(s, evs, n, &m);
        if (err == AU_OK) err = au_send(u->ref, m);
    }
    if (err == AU_ESTOPPED || err == AU_EINVAL) sub_unlist_locked(s->c, u->ref.raw);
    pthread_mutex_unlock(&calls_lock);
    if (err == AU_OK || err == AU_ESTOPPED || err == AU_EINVAL || err == AU_ENOTFOUND) {
        if (err != AU_OK) u->ref.raw.target = NULL; /* gone or unsubscribed: dropped */
        if (u->behind) s->nbehind--;
        u->behind = false;
        backlog_clear(u);
        return;
    }
    stat_add(&s->c->updates_deferred, 1);
    if (!u->behind) {
        u->behind = true;
        s->nbehind++;
        backlog_add(s, u, evs, n);
    }
}

/* Gives the pending events to every subscriber and, every hb_interval, offers the backlogs
 * again (also when there are no new events); drops subscribers that have stopped. */
static void flush(cl_state *s) {
    bool retry = s->nbehind && now_of(s) >= s->next_retry;
    if (s->nevents == 0 && !retry) return;
    if (s->nsubs) {
        rebuild_ring(s);
        for (size_t i = 0; i < s->nsubs; i++)
            if (s->nevents || s->subs[i].behind) send_update(s, i, s->events, s->nevents);
        size_t k = 0;
        for (size_t i = 0; i < s->nsubs; i++) {
            if (!au_ref_is_null(s->subs[i].ref.raw)) s->subs[k++] = s->subs[i];
            else free(s->subs[i].backlog);
        }
        s->nsubs = k;
    }
    if (s->nbehind) s->next_retry = sat_add(now_of(s), s->cfg.hb_interval);
    clear_events(s);
}

static void stats_gauges(cl_state *s) {
    stat_set(&s->c->members, s->phase == IN ? s->t.nlive + 1 : 0);
    stat_set(&s->c->tombstones, s->t.ntombstones);
    stat_set(&s->c->queued, s->t.nqueue);
}

/* ---- joining ---------------------------------------------------------------------------------- */

static void become_member(cl_state *s, int kind) {
    s->phase = IN;
    s->ring_dirty = true;
    s->baseline = s->t.nlive + 1;
    au_nanos now = now_of(s);
    s->next_gossip = sat_add(now, s->cfg.gossip_interval);
    s->next_sync = sat_add(now, s->cfg.sync_interval);
    s->sync_pos = (unsigned)(rnd(s) % (1u << CL_LEVELS)); /* nodes walk out of step */
    s->next_reconnect = sat_add(now, s->cfg.reconnect_interval);
    s->next_gc = now + AU_SEC(1);
    s->heard_at = now;
    queue(s, s->me);
    self_event(s, kind);
    LOG(AU_LOG_INFO, "%s: %s with %zu members", s->addr, kind == AU_CLUSTER_ALONE ? "alone" : "joined",
        s->t.nlive + 1);
}

/* This node's hello: in a join with our join nonce, in a refusal with the nonce of the join it
 * answers. */
static cl_hello hello(cl_state *s, uint64_t nonce) {
    return (cl_hello){ au_str_view(s->addr), s->c->id, s->me->inc, s->me->vnodes, s->compat, nonce };
}

static void join_round(cl_state *s) {
    for (size_t i = 0; i < s->nseeds; i++)
        send_addr(s, s->seeds[i], strlen(s->seeds[i]),
                  (cl_wire){ .tag = cl_wire_join, .join = hello(s, s->join_nonce) });
}

/* ---- the answer budget ------------------------------------------------------------------------
 * Without a cluster key every message's `from` is only a claim, and answers go there: one small
 * datagram naming another address (a join, a reconnect, a full request, a digest, a bucket
 * reply) would make this node send that address a whole member table or several chunks of
 * entries, an amplifier for spoofed traffic. (The datagram's source address, au_ctx_origin, is
 * no proof either: it can be spoofed just as well, and an answer to it reaches the victim the
 * same way.) So every datagram of such an answer — a chunk of a full stream, of a digest's
 * answer, of a push — is paid from one token bucket per node: ANSWER_RATE per second, at most
 * ANSWER_BURST saved. What it cannot pay is withheld and counted (answers_withheld); the
 * protocol repairs the loss as it repairs lost datagrams (the next digest, join round or
 * reconnect). Answers of one datagram no bigger than what asks for them (a reconnect's reply,
 * the short answer to a join) are free. A node with a cluster key answers only key holders: no
 * budget. */

static bool answer_allowed(cl_state *s) {
    if (s->sealed) return true;
    au_nanos now = now_of(s);
    if (now > s->answer_at) {
        s->answer_tokens += (double)(now - s->answer_at) * ANSWER_RATE / 1e9;
        if (s->answer_tokens > ANSWER_BURST) s->answer_tokens = ANSWER_BURST;
        s->answer_at = now;
    }
    if (s->answer_tokens < 1) return false;
    s->answer_tokens -= 1;
    return true;
}

/* n answer datagrams to `to` were not sent: counted, and a WARN at most every 10 s. */
static void withheld(cl_state *s, const au_str *to, size_t n) {
    if (n == 0) return;
    stat_add(&s->c->answers_withheld, n);
    s->withheld_unlogged += n;
    au_nanos now = now_of(s);
    if (s->withheld_logged_at && now - s->withheld_logged_at < WITHHELD_LOG_EVERY) return;
    LOG(AU_LOG_WARN, "%s: %llu answer datagrams withheld (the latest to %.*s): more asked for than %d per "
        "second (burst %d) without a cluster key; spoofed requests?",
        s->addr, (unsigned long long)s->withheld_unlogged, (int)to->len, to->ptr, ANSWER_RATE, ANSWER_BURST);
    s->withheld_unlogged = 0;
    s->withheld_logged_at = now;
}

/* Streams every live entry (and the receiver's own entry as known here) to `to`, as far as the
 * answer budget goes. A join's answer that the budget cannot pay at all is the short one: this
 * node and the joiner as known here, one datagram (the joiner is in; it learns the rest from
 * gossip and anti-entropy). */
/* One chunk of a full stream: n entries of buf, flagged CL_SYNC_FULL | flags. */
static void send_full_chunk(cl_state *s, const au_str *to, uint8_t flags, cl_update *buf, size_t n) {
    cl_wire w = { .tag = cl_wire_sync,
                  .sync = { .from = au_str_view(s->addr), .id = s->c->id, .compat = s->compat,
                            .flags = (uint8_t)(CL_SYNC_FULL | flags), .entries = { buf, (uint32_t)n, 0 } } };
    send_addr(s, to->ptr, to->len, w);
}

static void stream_full(cl_state *s, const au_str *to, uint8_t flags) {
    cl_update buf[CL_SYNC_ENTRIES];
    size_t n = 0, chunks = 0;
    cl_member *them = cl_table_get(&s->t, to->ptr, to->len);
    size_t total = (s->t.nlive + 1 + CL_SYNC_ENTRIES - 1) / CL_SYNC_ENTRIES; /* roughly: ±1 for them */
    buf[n++] = cl_member_update(s->me);
    if (them) buf[n++] = cl_member_update(them);
    for (size_t i = 0; i <= s->t.nlive; i++) {
        bool last = i == s->t.nlive;
        if (!last && s->t.live[i] != them) buf[n++] = cl_member_update(s->t.live[i]);
        if (n == CL_SYNC_ENTRIES || (last && n)) {
            if (!answer_allowed(s)) {
                withheld(s, to, total > chunks ? total - chunks : 1);
                if (chunks == 0 && (flags & CL_SYNC_JOIN)) {
                    n = them ? 2 : 1;
                    break;
                }
                return;
            }
            send_full_chunk(s, to, flags, buf, n);
            flags &= (uint8_t)~CL_SYNC_FULL_REQ;
            n = 0;
            chunks++;
        }
    }
    if (chunks == 0 && n) send_full_chunk(s, to, CL_SYNC_JOIN, buf, n); /* the short answer to a join */
}

static bool compatible(cl_state *s, uint64_t compat, const au_str *from) {
    if (compat == s->compat) return true;
    stat_add(&s->c->drops_incompatible, 1);
    LOG(AU_LOG_WARN, "%s: refusing %s: incompatible message types (compat %016llx, ours %016llx)",
        s->addr, from->ptr, (unsigned long long)compat, (unsigned long long)s->compat);
    return false;
}

/* Seed i as the node there advertises itself when it is bound at the address the seed resolved
 * to ("127.0.0.1:4000" for "localhost:4000"; "" when it could not be written). A member's
 * address is how it advertises itself, so a seed is recognised as a member, or as the sender
 * of a join, by either spelling. */
static const char *seed_canon(const cl_state *s, size_t i) { return s->seeds[i] + strlen(s->seeds[i]) + 1; }

static bool seed_is(const cl_state *s, size_t i, const char *addr, size_t len) {
    const char *c = seed_canon(s, i);
    return (strlen(s->seeds[i]) == len && memcmp(s->seeds[i], addr, len) == 0) ||
           (*c && strlen(c) == len && memcmp(c, addr, len) == 0);
}

/* The member this node holds for seed i, by either spelling (NULL: none). */
static cl_member *seed_member(cl_state *s, size_t i) {
    cl_member *m = cl_table_get(&s->t, s->seeds[i], strlen(s->seeds[i]));
    const char *c = seed_canon(s, i);
    if ((!m || !cl_is_live(m->state)) && *c) {
        cl_member *n = cl_table_get(&s->t, c, strlen(c));
        if (n) m = n;
    }
    if ((!m || !cl_is_live(m->state)) && s->seed_alias && s->seed_alias[i]) {
        cl_member *n = au_u64map_get(&s->t.by_key, s->seed_alias[i]);
        if (n) m = n;
    }
    return m;
}

static bool is_seed(cl_state *s, const au_str *addr) {
    for (size_t i = 0; i < s->nseeds; i++)
        if (seed_is(s, i, addr->ptr, addr->len)) return true;
    return false;
}

static void on_join(cl_state *s, const cl_hello *h) {
    if (!addr_ok(&h->from) || h->id == 0) { stat_add(&s->c->drops_invalid, 1); return; }
    if (s->phase == REFUSED || s->phase == LEFT) return;
    if (!compatible(s, h->compat, &h->from)) {
        event(s, AU_CLUSTER_INCOMPATIBLE, 0, h->from.ptr, 0, 0);
        send_addr(s, h->from.ptr, h->from.len, (cl_wire){ .tag = cl_wire_refuse, .refuse = hello(s, h->nonce) });
        return;
    }
    if (s->phase == JOINING && !is_seed(s, &h->from)) return; /* as the seed: only a seed of ours */
    cl_update u = { h->from, h->id, h->inc, CL_ALIVE, h->vnodes, 0 };
    apply(s, &u, &h->from); /* a restarted joiner's newer run is believed if it is its own word */
    /* mutual seeds: a joiner that is asked to admit another joiner forms a cluster with it
     * (the merge above, while still joining, produced no ADDED: the update says JOINED) */
    if (s->phase == JOINING) become_member(s, AU_CLUSTER_JOINED);
    stream_full(s, &h->from, CL_SYNC_JOIN);
}

/* A refusal ends the join for good, so it is believed only from a node that was asked (joins go
 * to the seeds only): it must echo our joins' nonce, which only the seeds were sent (an off-path
 * forger never sees it), whatever the datagram's source address (a seed bound to a wildcard
 * address, behind NAT or spelled as a name answers from an address of its own); and only when
 * its hash does differ from ours. Anything else is a forgery (or a stale answer) and is dropped
 * and counted. (It was believed from a seed's address as the datagram's source: a seed that
 * answers from another address could never refuse, and its joiners kept asking.) */
static void on_refuse(cl_state *s, const cl_hello *h) {
    if (s->phase != JOINING) return;
    if (!addr_ok(&h->from) || h->compat == s->compat || h->nonce != s->join_nonce) {
        stat_add(&s->c->drops_invalid, 1);
        return;
    }
    LOG(AU_LOG_WARN, "%s: join refused by %s: incompatible message types (theirs %016llx, ours %016llx)",
        s->addr, h->from.ptr, (unsigned long long)h->compat, (unsigned long long)s->compat);
    stat_add(&s->c->drops_incompatible, 1);
    s->phase = REFUSED;
    event(s, AU_CLUSTER_INCOMPATIBLE, 0, h->from.ptr, 0, 0);
}

/* ---- heartbeats, probes ----------------------------------------------------------------------- */

static void charge_heard(cl_state *s, const au_str *from, uint64_t id, bool is_ack) {
    charge *c = find_charge(s, cl_key(from->ptr, from->len));
    if (!c || c->id != id) return;
    if (c->phase == RECEIVING) au_detector_push(&c->det, now_of(s));
    else {
        if (c->phase == ACCUSED) { /* alive but not refuted yet: tell it */
            cl_member *m = cl_table_get(&s->t, from->ptr, from->len);
            if (m && m->state == CL_SUSPECT) {
                cl_update u = cl_member_update(m);
                gossip_to(s, m, &u, 1);
            }
        }
        charge_fresh(s, c, id); /* as the seed: a heartbeat after requests starts a new window */
    }
    if (is_ack) health_down(s);
}

/* A message from a member this node holds as removed (same run): tell it, at most once a second. */
static void tell_if_dead(cl_state *s, const au_str *from, uint64_t id) {
    cl_member *m = cl_table_get(&s->t, from->ptr, from->len);
    au_nanos now = now_of(s);
    if (!m || m->id != id || cl_is_live(m->state) || m->state == CL_LEFT) return;
    if (m->told_at && now - m->told_at < AU_SEC(1)) return;
    m->told_at = now;
    cl_update u = cl_member_update(m);
    gossip_to(s, m, &u, 1);
}

static void on_beat(cl_state *s, const cl_beat *b, bool heartbeat) {
    if (!addr_ok(&b->from)) { stat_add(&s->c->drops_invalid, 1); return; }
    if (heartbeat) charge_heard(s, &b->from, b->id, false);
    apply_all(s, &b->updates, &b->from);
    tell_if_dead(s, &b->from, b->id);
}

/* A view of a received string, for an outgoing message (sending frees what a message owns). */
static au_str borrow(au_str s) {
    s.owned = 0;
    return s;
}

static cl_probe probe_msg(cl_state *s, const au_str *target, uint64_t target_id, const au_str *origin,
                          uint32_t seq, cl_update *buf) {
    return (cl_probe){ au_str_view(s->addr), s->c->id, borrow(*target), target_id,
                       origin ? borrow(*origin) : au_str_lit(""), seq, 0, piggyback(s, buf) };
}

static void on_probe(cl_state *s, const cl_probe *p, int kind) {
    if (!addr_ok(&p->from) || !addr_ok(&p->target) || (p->origin.len && !addr_ok(&p->origin))) {
        stat_add(&s->c->drops_invalid, 1);
        return;
    }
    bool for_me = p->target.len == s->addr_len && memcmp(p->target.ptr, s->addr, s->addr_len) == 0;
    bool origin_me = p->origin.len == s->addr_len && memcmp(p->origin.ptr, s->addr, s->addr_len) == 0;
    /* the answer to our confirmation of run target_id at target (confirm_run), proven by the
     * nonce it echoes: it reached that address, wherever its datagram comes from (a wildcard
     * bind, NAT, another spelling of the address), and an off-path forger never sees the nonce.
     * That run's own record in it is believed as its own word is (apply). */
    bool proven = kind == cl_wire_ack && p->seq == 0 && p->target_id && (!p->origin.len || origin_me) &&
                  confirm_nonce_ok(s, &p->target, p->target_id, p->nonce);
    if (proven) s->proven_addr = &p->target, s->proven_id = p->target_id;
    apply_all(s, &p->updates, &p->from);
    s->proven_addr = NULL;
    if (proven) { /* heard from directly, as heard_from notes for a datagram from its address */
        cl_member *m = cl_table_get(&s->t, p->target.ptr, p->target.len);
        if (m && m->id == p->target_id) m->heard_at = s->heard_at;
    }
    cl_update buf[CL_MAX_UPDATES + 1]; /* + 1: an ack's own record before its piggyback */
    if (kind == cl_wire_probe) {
        /* a confirmation (seq 0: confirm_run) gets our own record first, what confirms this
         * run to an asker that heard of it only from others; then the usual piggyback. It is
         * answered while joining too: the asker may have heard of this run from our join. */
        bool confirming = p->seq == 0;
        if (!for_me || p->target_id != s->c->id || (s->phase != IN && !(confirming && s->phase == JOINING)))
            return; /* stale run: silence */
        cl_wire w = { .tag = cl_wire_ack,
                      .ack = probe_msg(s, &p->target, p->target_id, &p->origin, p->seq,
                                       confirming ? buf + 1 : buf) };
        w.ack.nonce = p->nonce; /* echoed: the proof that this answer comes from the target */
        if (confirming) {
            if (w.ack.updates.len == CL_MAX_UPDATES) w.ack.updates.len--;
            buf[0] = cl_member_update(s->me);
            w.ack.updates.ptr = buf;
            w.ack.updates.len++;
        }
        send_addr(s, p->from.ptr, p->from.len, w);
    } else if (kind == cl_wire_probe_req) {
        if (for_me) return;
        cl_wire w = { .tag = cl_wire_probe,
                      .probe = probe_msg(s, &p->target, p->target_id, &p->from, p->seq, buf) };
        w.probe.nonce = p->nonce;
        send_addr(s, p->target.ptr, p->target.len, w);
        /* a receipt (target_id 0): the asker learns that it can reach us (Lifeguard's nack, sent
         * at once rather than on the target's silence: no state here) */
        cl_wire r = { .tag = cl_wire_ack, .ack = probe_msg(s, &p->target, 0, NULL, p->seq, buf) };
        send_addr(s, p->from.ptr, p->from.len, r);
    } else { /* ack */
        if (p->target_id == 0) { /* a receipt from an intermediary */
            charge *c = find_charge(s, cl_key(p->target.ptr, p->target.len));
            if (c && c->phase == REQUESTING) c->receipts++;
            return;
        }
        if (p->origin.len && !origin_me) { /* relay to who asked */
            cl_wire w = { .tag = cl_wire_ack,
                          .ack = probe_msg(s, &p->target, p->target_id, &p->origin, p->seq, buf) };
            w.ack.nonce = p->nonce;
            send_addr(s, p->origin.ptr, p->origin.len, w);
            return;
        }
        charge_heard(s, &p->target, p->target_id, true);
    }
}

/* ---- anti-entropy ----------------------------------------------------------------------------- */

static unsigned digest_level(cl_state *s) {
    size_t n = s->t.nlive + 1;
    unsigned l = 0;
    while (l < CL_LEVELS && ((size_t)8 << l) < n) l++;
    return l;
}

/* Collects into buf (at most max) the entries (all states: a tombstone is what corrects a node
 * that still holds the member live) of the buckets marked in `marked` (one bit per bucket of
 * `level`). One pass over the table; the order is the table's. */
static size_t bucket_entries(cl_state *s, unsigned level, const uint8_t *marked, cl_update *buf,
                             size_t max) {
    size_t n = 0;
    au_u64map *map = &s->t.by_key;
    for (size_t i = 0; i < map->cap && n < max; i++) {
        if (!map->keys[i]) continue;
        cl_member *m = map->values[i];
        size_t b = cl_bucket(m->key, level);
        if (marked[b / 8] & (1u << (b % 8))) buf[n++] = cl_member_update(m);
    }
    return n;
}

static cl_wire sync_msg(cl_state *s, uint8_t flags, unsigned level, size_t start, uint64_t *digest,
                        size_t nd, cl_update *entries, size_t ne) {
    return (cl_wire){ .tag = cl_wire_sync,
                      .sync = { au_str_view(s->addr), s->c->id, s->compat, flags, (uint8_t)level,
                                (uint16_t)start, { digest, (uint32_t)nd, 0 },
                                { entries, (uint32_t)ne, 0 } } };
}

/* Sends entries in chunks of CL_SYNC_ENTRIES: the first chunk with `flags` and the bucket list
 * (digest[]), the rest as plain pushes (no reply). At least one message when flags ask for a
 * reply, even without entries. Each chunk is paid from the answer budget; what it cannot pay is
 * withheld. */
static void send_entries(cl_state *s, const au_str *to, uint8_t flags, unsigned level, size_t start,
                         uint64_t *list, size_t nl, cl_update *buf, size_t n) {
    size_t off = 0;
    do {
        size_t k = n - off < CL_SYNC_ENTRIES ? n - off : CL_SYNC_ENTRIES;
        if (!answer_allowed(s)) { /* the rest (all of it: at least one datagram) is withheld */
            withheld(s, to, (n - off + CL_SYNC_ENTRIES - 1) / CL_SYNC_ENTRIES + (n == off));
            return;
        }
        if (off == 0)
            send_addr(s, to->ptr, to->len, sync_msg(s, flags, level, start, list, nl, buf, k));
        else
            send_addr(s, to->ptr, to->len, sync_msg(s, CL_SYNC_PUSH, level, 0, NULL, 0, buf + off, k));
        off += k;
    } while (off < n);
}

/* One anti-entropy round: the digest of the next window of buckets (at most CL_DIGEST_MAX, taken
 * round-robin from sync_pos and wrapping, so every bucket is compared once every ⌈2^level / 64⌉
 * rounds of this node) to one random member. */
static void sync_round(cl_state *s) {
    cl_member *m = random_live(s, NULL, NULL);
    if (!m) return;
    unsigned level = digest_level(s);
    size_t nb = (size_t)1 << level, w = nb < CL_DIGEST_MAX ? nb : CL_DIGEST_MAX;
    size_t start = s->sync_pos >> (CL_LEVELS - level);
    uint64_t d[CL_DIGEST_MAX];
    for (size_t i = 0; i < w; i++) d[i] = cl_digest(&s->t, level, (start + i) % nb);
    /* the next round goes on after this window, unless the reply says it had to stop short */
    s->sync_pos = (unsigned)(((start + w) % nb) << (CL_LEVELS - level));
    send_to(s, m, sync_msg(s, CL_SYNC_DIGEST, level, start, d, w, NULL, 0));
}

/* A digest came: serves the differing buckets of its window in window order, as many whole
 * buckets as CL_SYNC_BUDGET entries hold (the first one even if it alone holds more: then its
 * first CL_SYNC_BUDGET), in chunks; the reply lists the buckets served (the initiator pushes its
 * entries of those) and, in `start`, the first differing bucket not served (the initiator's next
 * window starts there) or the window's end. No reply when nothing differs. */
static void on_digest(cl_state *s, const cl_sync *y) {
    size_t nb = (size_t)1 << y->level;
    uint64_t diff[CL_DIGEST_MAX];
    size_t nd = 0;
    for (uint32_t i = 0; i < y->digest.len; i++) {
        size_t b = ((size_t)y->start + i) % nb;
        if (cl_digest(&s->t, y->level, b) != y->digest.ptr[i]) diff[nd++] = b;
    }
    if (nd == 0) return;
    /* entries per differing bucket (all states), to know how many whole buckets fit */
    uint16_t count[CL_DIGEST_MAX] = { 0 };
    au_u64map *map = &s->t.by_key;
    for (size_t i = 0; i < map->cap; i++) {
        if (!map->keys[i]) continue;
        size_t b = cl_bucket(((cl_member *)map->values[i])->key, y->level);
        size_t off = (b + nb - y->start) % nb; /* the bucket's place in the window */
        if (off >= y->digest.len) continue;
        for (size_t j = 0; j < nd; j++)
            if (diff[j] == b) { if (count[j] < UINT16_MAX) count[j]++; break; }
    }
    uint8_t marked[(1u << CL_LEVELS) / 8] = { 0 };
    size_t served = 0, total = 0;
    while (served < nd && (served == 0 || total + count[served] <= CL_SYNC_BUDGET)) {
        total += count[served];
        marked[diff[served] / 8] |= (uint8_t)(1u << (diff[served] % 8));
        served++;
    }
    size_t resume = served < nd ? diff[served] : ((size_t)y->start + y->digest.len) % nb;
    cl_update buf[CL_SYNC_BUDGET];
    size_t n = bucket_entries(s, y->level, marked, buf, CL_SYNC_BUDGET);
    send_entries(s, &y->from, CL_SYNC_BUCKETS, y->level, resume, diff, served, buf, n);
}

static void reconnect_round(cl_state *s) {
    /* one candidate, uniformly among removed (failed) members and seeds that are not members */
    const char *pick = NULL;
    size_t seen = 0;
    for (size_t i = 0; i < s->nseeds; i++) {
        cl_member *m = seed_member(s, i);
        if (m && cl_is_live(m->state)) continue;
        if (rnd(s) % ++seen == 0) pick = s->seeds[i];
    }
    au_u64map *map = &s->t.by_key;
    if (s->t.ntombstones)
        for (size_t i = 0; i < map->cap; i++) {
            if (!map->keys[i]) continue;
            cl_member *m = map->values[i];
            /* only a member this node once heard from itself: a member it only ever heard of
             * may be a spoofed claim naming a victim, which the rounds would then contact once
             * a second from every node until its tombstone expires (a partition still heals:
             * members across it have exchanged heartbeats, probes or gossip, and seeds count) */
            if (m->state != CL_DEAD || !m->heard_at) continue;
            if (rnd(s) % ++seen == 0) pick = m->addr;
        }
    if (!pick) return;
    stat_add(&s->c->reconnects, 1);
    cl_update e[2];
    size_t n = 0;
    e[n++] = cl_member_update(s->me);
    cl_member *them = cl_table_get(&s->t, pick, strlen(pick));
    if (them) e[n++] = cl_member_update(them);
    send_addr(s, pick, strlen(pick), sync_msg(s, CL_SYNC_RECONNECT, 0, 0, NULL, 0, e, n));
}

static void on_sync(cl_state *s, const cl_sync *y) {
    if (!cl_sync_ok(y)) {
        stat_add(&s->c->drops_invalid, 1);
        return;
    }
    if (!compatible(s, y->compat, &y->from)) return;
    if (s->phase == REFUSED || s->phase == LEFT) return;
    if (s->phase == JOINING && !(y->flags & (CL_SYNC_FULL | CL_SYNC_JOIN))) return;
    cl_member *sender = cl_table_get(&s->t, y->from.ptr, y->from.len);
    bool sender_known = sender != NULL;
    apply_all(s, &y->entries, &y->from);
    if (s->phase == JOINING) become_member(s, AU_CLUSTER_JOINED); /* after the silent merge */
    if (y->flags & CL_SYNC_DIGEST) {
        on_digest(s, y);
    } else if (y->flags & CL_SYNC_BUCKETS) {
        /* the answer to this node's digest: push this node's entries of the buckets it served,
         * and start the next window where it had to stop */
        size_t nb = (size_t)1 << y->level;
        uint8_t marked[(1u << CL_LEVELS) / 8] = { 0 };
        for (uint32_t i = 0; i < y->digest.len; i++) {
            if (y->digest.ptr[i] >= nb) { stat_add(&s->c->drops_invalid, 1); return; }
            marked[y->digest.ptr[i] / 8] |= (uint8_t)(1u << (y->digest.ptr[i] % 8));
        }
        if (y->level == digest_level(s)) s->sync_pos = (unsigned)(y->start << (CL_LEVELS - y->level));
        cl_update buf[CL_SYNC_BUDGET];
        size_t n = bucket_entries(s, y->level, marked, buf, CL_SYNC_BUDGET);
        if (n) send_entries(s, &y->from, CL_SYNC_PUSH, y->level, 0, NULL, 0, buf, n);
    } else if (y->flags & CL_SYNC_RECONNECT) {
        cl_update e[2];
        size_t n = 0;
        e[n++] = cl_member_update(s->me);
        cl_member *them = cl_table_get(&s->t, y->from.ptr, y->from.len);
        if (them) e[n++] = cl_member_update(them);
        send_addr(s, y->from.ptr, y->from.len, sync_msg(s, CL_SYNC_RECONNECT_REPLY, 0, 0, NULL, 0, e, n));
        if (!sender_known) stream_full(s, &y->from, CL_SYNC_FULL_REQ); /* two clusters merge */
    } else if (y->flags & CL_SYNC_FULL_REQ) {
        stream_full(s, &y->from, 0);
    }
}

/* ---- the tick ------------------------------------------------------------------------------ */

static void suspect(cl_state *s, cl_member *m) {
    if (m->state == CL_SUSPECT) { /* suspected already: this is an independent confirmation */
        unsigned before = m->naccusers;
        add_accuser(m, s->me->key);
        if (m->naccusers != before) queue(s, m);
        return;
    }
    if (m->state != CL_ALIVE) return;
    cl_table_set(&s->t, m, m->id, m->inc, CL_SUSPECT, m->vnodes);
    m->naccusers = 0;
    m->suspect_since = now_of(s);
    add_accuser(m, s->me->key);
    suspects_add(s, m->key);
    queue(s, m);
    stat_add(&s->c->suspicions, 1);
    LOG(AU_LOG_INFO, "%s: suspecting %s", s->addr, m->addr);
    cl_update u = cl_member_update(m);
    gossip_to(s, m, &u, 1); /* so it can refute at once */
}

static void check_charges(cl_state *s, au_nanos now) {
    for (size_t i = 0; i < s->ncharges; i++) {
        charge *c = &s->charges[i];
        cl_member *m = au_u64map_get(&s->t.by_key, c->key);
        if (!m || m->id != c->id || !cl_is_live(m->state)) continue;
        if (c->phase == RECEIVING) {
            au_nanos t = au_detector_timeout(&c->det, s->z);
            if (now > sat_add(c->det.last, scaled(s, t))) {
                c->phase = REQUESTING, c->tries = s->cfg.req_tries, c->next = now;
                c->receipts = 0, c->asked_others = false;
                if (!c->failing_since) c->failing_since = now;
            }
        }
        if (c->phase != REQUESTING || now < c->next) continue;
        if (c->tries == 0) {
            if (c->asked_others && c->receipts == 0 &&
                now - c->failing_since < ISOLATION_HOLD && now - s->heard_at < ISOLATION_HOLD) {
                /* not even the intermediaries answered: the trouble is likelier ours than the
                 * charge's (Lifeguard) — doubt ourselves and ask again instead of accusing */
                if (!c->doubted) health_up(s), c->doubted = true; /* once per silence */
                c->tries = s->cfg.req_tries, c->receipts = 0, c->asked_others = false;
                c->next = sat_add(now, scaled(s, s->cfg.req_timeout));
                continue;
            }
            c->phase = ACCUSED;
            suspect(s, m);
            continue;
        }
        c->tries--;
        c->next = sat_add(now, scaled(s, s->cfg.req_timeout));
        uint32_t seq = ++s->seq ? s->seq : ++s->seq; /* 0 is confirm_run's */
        cl_update buf[CL_MAX_UPDATES];
        au_str target = cl_member_addr(m);
        send_to(s, m, (cl_wire){ .tag = cl_wire_probe, .probe = probe_msg(s, &target, m->id, NULL, seq, buf) });
        for (unsigned k = 0; k < s->cfg.indirect_probes; k++) {
            cl_member *via = random_live(s, m, NULL);
            if (!via) break;
            au_str me = au_str_view(s->addr);
            c->asked_others = true;
            send_to(s, via, (cl_wire){ .tag = cl_wire_probe_req,
                                       .probe_req = probe_msg(s, &target, m->id, &me, seq, buf) });
        }
    }
}

static au_nanos suspicion_timeout(cl_state *s, const cl_member *m) {
    /* K: the confirmations to expect, from the suspect's other managers (at most the members
     * besides it, less the first accuser); none to expect: the shortest timeout */
    size_t others = s->t.nlive; /* live members other than the suspect, self included */
    double k = (double)(others < s->cfg.replication_factor ? others : s->cfg.replication_factor) - 1;
    double c = m->naccusers > 1 ? m->naccusers - 1 : 0;
    double lo = (double)s->cfg.suspicion_min, hi = (double)s->cfg.suspicion_max;
    double t = k < 1 ? lo : hi - (hi - lo) * log(c + 1) / log(k + 1);
    if (t < lo) t = lo;
    return scaled(s, t >= 0x1p64 ? UINT64_MAX : (au_nanos)t); /* (au_nanos)2^64 is undefined */
}

/* Whether this node has heard from nobody for a while although it has two or more others to
 * hear from: then it is more likely cut off itself than that they all failed at once, and it
 * holds its verdicts (suspicions stay, nobody is declared dead) for up to ISOLATION_HOLD, so a
 * node that is stalled or cut off does not remove the rest of the cluster from its view and
 * then spread those removals when it is heard again. Past the hold it decides as usual (all the
 * others may really have failed). */
static bool isolated(cl_state *s, au_nanos now) {
    au_nanos window = sat_mul(s->cfg.hb_interval, 4) > s->cfg.suspicion_min ? sat_mul(s->cfg.hb_interval, 4)
                                                                             : s->cfg.suspicion_min;
    au_nanos silent = now > s->heard_at ? now - s->heard_at : 0;
    return s->t.nlive >= 2 && silent > window && silent < sat_add(window, scaled(s, ISOLATION_HOLD));
}

static void check_suspects(cl_state *s, au_nanos now) {
    if (isolated(s, now)) return;
    for (size_t i = 0; i < s->nsuspects;) {
        cl_member *m = au_u64map_get(&s->t.by_key, s->suspects[i]);
        if (!m || m->state != CL_SUSPECT) { s->suspects[i] = s->suspects[--s->nsuspects]; continue; }
        if (now < sat_add(m->suspect_since, suspicion_timeout(s, m))) { i++; continue; }
        uint64_t id = m->id;
        cl_table_set(&s->t, m, m->id, m->inc, CL_DEAD, m->vnodes);
        queue(s, m);
        member_removed(s, m, AU_CLUSTER_FAILED, id); /* removes it from suspects[] */
    }
}

static void gossip_round(cl_state *s) {
    if (s->t.nqueue == 0) return;
    for (unsigned k = 0; k < s->cfg.gossip_fanout && k < s->t.nlive; k++) {
        cl_member *m = random_live(s, NULL, NULL);
        if (!m) break;
        cl_update buf[CL_MAX_UPDATES];
        cl_update_array a = piggyback(s, buf);
        if (a.len == 0) break;
        gossip_to(s, m, a.ptr, a.len);
    }
}

/* Every second: tombstones past tombstone_ttl are forgotten, and the others are declared gone
 * again (au_peer_gone) while nothing was heard from their address since their removal: the
 * declaration at the removal ends the watches there were then, and a watch placed later
 * (au_watch on a reference to an actor there) would otherwise wait for an answer for ever. A
 * new run at that address that speaks to this node stops it (its watches of ours are dropped
 * with every declaration). With more than GONE_PER_ROUND such tombstones a late watch waits
 * a round per GONE_PER_ROUND of them. */
static void collect_tombstones(cl_state *s, au_nanos now) {
    if (s->t.ntombstones == 0) return;
    au_u64map *map = &s->t.by_key;
    /* at most GONE_PER_ROUND a round, walking the table round-robin: each declaration walks
     * the node's remote watches, and tombstones may be many (phantoms, churn) */
    size_t declared = 0;
    for (size_t k = 0; k < map->cap && declared < GONE_PER_ROUND; k++) {
        size_t i = (s->gone_pos + k) % map->cap;
        cl_member *m = map->keys[i] ? map->values[i] : NULL;
        if (m && !cl_is_live(m->state) && m != s->me && m->heard_at <= m->removed_at) {
            au_peer_gone(s->node, m->addr);
            if (++declared == GONE_PER_ROUND) s->gone_pos = i + 1;
        }
    }
    for (size_t i = 0; i < map->cap;) {
        cl_member *m = map->keys[i] ? map->values[i] : NULL;
        if (m && !cl_is_live(m->state) && m != s->me && now - m->removed_at > s->cfg.tombstone_ttl) {
            if (m->state == CL_DEAD && s->baseline > s->t.nlive + 1) s->baseline--;
            unforge_member(m);
            cl_table_drop(&s->t, m); /* backward-shift deletion: slot i holds another key now */
            continue;
        }
        i++;
    }
}

static void check_minority(cl_state *s) {
    size_t live = s->t.nlive + 1;
    bool minority = s->baseline > 1 && 2 * live <= s->baseline;
    if (minority == s->minority) return;
    s->minority = minority;
    self_event(s, minority ? AU_CLUSTER_MINORITY : AU_CLUSTER_MAJORITY);
    LOG(AU_LOG_WARN, "%s: %s: %zu of %zu members reachable", s->addr,
        minority ? "minority" : "majority again", live, s->baseline);
}

static void heartbeats(cl_state *s) {
    for (size_t i = 0; i < s->nmanagers; i++) {
        cl_member *m = au_u64map_get(&s->t.by_key, s->managers[i]);
        if (!m || !cl_is_live(m->state)) continue;
        cl_update buf[CL_MAX_UPDATES];
        send_to(s, m, (cl_wire){ .tag = cl_wire_hb,
                                 .hb = { au_str_view(s->addr), s->c->id, piggyback_counted(s, buf, false) } });
    }
}

static void paused(cl_state *s, au_nanos now, au_nanos gap) {
    stat_add(&s->c->pauses, 1);
    health_up(s);
    for (size_t i = 0; i < s->ncharges; i++) charge_fresh(s, &s->charges[i], s->charges[i].id);
    for (size_t i = 0; i < s->nsuspects; i++) {
        cl_member *m = au_u64map_get(&s->t.by_key, s->suspects[i]);
        if (m) m->suspect_since += gap;
    }
    LOG(AU_LOG_WARN, "%s: paused for %llu ms: detectors restarted", s->addr,
        (unsigned long long)(gap / 1000000));
}

/* The tick: often enough for heartbeats and for the request timeouts (a detector is only read
 * at a tick), at most every hb_interval. */
static au_nanos tick_interval(const cl_state *s) {
    au_nanos t = s->cfg.hb_interval, r = s->cfg.req_timeout / 2;
    if (r < t) t = r;
    return t < AU_CLUSTER_MIN_INTERVAL ? AU_CLUSTER_MIN_INTERVAL : t;
}

/* How often the tick may rebuild a ring that membership changes made dirty: every tick in a
 * small cluster, less often as it grows (a build sorts the N members, O(N log N), and while N
 * nodes join together every node's membership changes at nearly every tick, so rebuilding at
 * each one cost O(N² log N) per tick across a simulation). The ring only steers which members
 * this node heartbeats to and monitors, so it may lag membership by this much; subscribers'
 * snapshots are built at once (flush). */
static au_nanos ring_interval(const cl_state *s) {
    au_nanos t = sat_mul(tick_interval(s), 1 + (s->t.nlive + 1) / 128);
    return t > AU_SEC(1) ? AU_SEC(1) : t;
}

static void tick(au_ctx *ctx, cl_state *s) {
    au_nanos now = now_of(s);
    au_nanos gap = s->last_tick ? now - s->last_tick : 0;
    au_nanos every = tick_interval(s);
    au_nanos limit = sat_mul(every, 5) > AU_MSEC(250) ? sat_mul(every, 5) : AU_MSEC(250);
    s->last_tick = now;
    au_send_after(au_self(ctx, cl_msg), every, (cl_msg){ .tag = cl_msg_tick });
    if (s->phase == JOINING) {
        if (now < s->next_ping) return;
        if (s->pings_left == 0) {
            LOG(AU_LOG_INFO, "%s: last join round timed out, starting alone", s->addr);
            become_member(s, AU_CLUSTER_ALONE);
            return;
        }
        s->pings_left--;
        s->next_ping = sat_add(now, s->cfg.ping_timeout);
        join_round(s);
        return;
    }
    if (s->phase != IN) return;
    if (gap > limit) paused(s, now, gap - every);
    if (!s->ring || (s->ring_dirty && now >= s->next_ring)) {
        rebuild_ring(s);
        s->next_ring = sat_add(now, ring_interval(s));
    }
    if (now >= s->next_hb) {
        s->next_hb = sat_add(now, s->cfg.hb_interval);
        heartbeats(s);
    }
    check_charges(s, now);
    check_suspects(s, now);
    if (now >= s->next_gossip) { s->next_gossip = sat_add(now, s->cfg.gossip_interval); gossip_round(s); }
    if (now >= s->next_sync) { s->next_sync = sat_add(now, s->cfg.sync_interval); sync_round(s); }
    if (now >= s->next_reconnect) {
        s->next_reconnect = sat_add(now, s->cfg.reconnect_interval);
        reconnect_round(s);
    }
    if (now >= s->next_gc) { s->next_gc = now + AU_SEC(1); collect_tombstones(s, now); }
    if (now >= s->next_decay) {
        s->next_decay = sat_add(now, s->cfg.sync_interval);
        if (!s->health_raised) health_down(s);
        s->health_raised = false;
    }
    check_minority(s);
}

/* ---- leave ------------------------------------------------------------------------------------ */

static void leave(cl_state *s) {
    if (s->phase == LEFT) return;
    if (s->phase != IN) { /* joining or refused: nobody to tell but the subscribers, and... */
        if (s->phase == JOINING && s->me) {
            /* ...the seeds: one may have admitted us already (its answer still on its way, or
             * lost), and it would find us failed instead of gone */
            uint32_t inc = s->me->inc < UINT32_MAX ? s->me->inc + 1 : s->me->inc;
            cl_table_set(&s->t, s->me, s->me->id, inc, CL_LEFT, s->me->vnodes);
            cl_update u = cl_member_update(s->me);
            for (size_t i = 0; i < s->nseeds; i++)
                send_addr(s, s->seeds[i], strlen(s->seeds[i]),
                          (cl_wire){ .tag = cl_wire_gossip,
                                     .gossip = { au_str_view(s->addr), s->c->id, { &u, 1, 0 } } });
        }
        layer_note_inc(s->c->home, s->me ? s->me->inc : 0);
        self_event(s, AU_CLUSTER_LEFT);
        s->phase = LEFT;
        return;
    }
    /* at UINT32_MAX the leave stays there: LEFT outranks ALIVE at one incarnation */
    uint32_t inc = s->me->inc < UINT32_MAX ? s->me->inc + 1 : s->me->inc;
    cl_table_set(&s->t, s->me, s->me->id, inc, CL_LEFT, s->me->vnodes);
    cl_update u = cl_member_update(s->me);
    /* told directly, not gossiped: managers, charges, then random members, 2·fanout + 2R */
    for (size_t i = 0; i < s->nmanagers; i++) {
        cl_member *m = au_u64map_get(&s->t.by_key, s->managers[i]);
        if (m) gossip_to(s, m, &u, 1);
    }
    for (size_t i = 0; i < s->ncharges; i++) {
        cl_member *m = au_u64map_get(&s->t.by_key, s->charges[i].key);
        if (m) gossip_to(s, m, &u, 1);
    }
    size_t extra = 2 * (size_t)s->cfg.gossip_fanout + 2; /* size_t: UINT_MAX wrapped in unsigned */
    if (extra >= s->t.nlive)
        for (size_t i = 0; i < s->t.nlive; i++) gossip_to(s, s->t.live[i], &u, 1);
    else
        for (size_t i = 0; i < extra; i++) gossip_to(s, s->t.live[rnd(s) % s->t.nlive], &u, 1);
    LOG(AU_LOG_INFO, "%s: left the cluster", s->addr);
    layer_note_inc(s->c->home, inc);
    self_event(s, AU_CLUSTER_LEFT);
    s->phase = LEFT;
}

/* ---- the actor ------------------------------------------------------------------------------ */

static void initial_update(cl_state *s, size_t i) {
    au_cluster_event e;
    int kind = s->phase == REFUSED ? AU_CLUSTER_INCOMPATIBLE
               : s->t.nlive == 0   ? AU_CLUSTER_ALONE
                                   : AU_CLUSTER_JOINED;
    if (s->phase != IN && s->phase != REFUSED) return;
    rebuild_ring(s);
    e = (au_cluster_event){ kind, 0, { au_str_view(s->addr), s->c->id, s->me->vnodes } };
    send_update(s, i, &e, 1);
}

/* An IP literal ("1.2.3.4:p", "[::1]:p"), which a datagram's source address can be compared with;
 * a host name cannot (it is resolved): heard_from notes it on its word, but verifies it never. */
static bool numeric_addr(const au_str *a) {
    if (a->len && a->ptr[0] == '[') return true;
    for (uint32_t i = 0; i < a->len && a->ptr[i] != ':'; i++)
        if (a->ptr[i] != '.' && (a->ptr[i] < '0' || a->ptr[i] > '9')) return false;
    return true;
}

/* A seed given by the address its node binds (an IP literal) while the node advertises another
 * (a host name) was never found as a member by either spelling of the seed, so every reconnect
 * round contacted it again, once a second for good. Once a live member's datagram comes from
 * the seed's address, that member is the seed (seed_member): the source address is the
 * transport's, not a claim in the message. */
static void note_seed_alias(au_ctx *ctx, cl_state *s, const au_str *from) {
    if (!s->seed_alias || !from->len) return;
    char o[MAX_ADDR + 2];
    size_t n = au_ctx_origin(ctx, o, sizeof o);
    if (n == 0 || n > MAX_ADDR || (n == from->len && memcmp(o, from->ptr, n) == 0)) return;
    cl_member *m = cl_table_get(&s->t, from->ptr, from->len);
    if (!m || m == s->me || !cl_is_live(m->state)) return;
    for (size_t i = 0; i < s->nseeds; i++) {
        if (!seed_is(s, i, o, n)) continue;
        cl_member *k = seed_member(s, i);
        if (k && cl_is_live(k->state)) continue; /* matched already */
        s->seed_alias[i] = m->key;
    }
}

/* Notes when the sender of a message was last heard from directly: the reconnect rounds contact
 * only removed members heard from so. Without a cluster key the message's `from` is a claim
 * anyone can write, so an IP literal counts only from that datagram source address (a spoofed `from`
 * naming a victim does not make the victim a reconnect target; a host name is noted on its
 * word, and spoofing the source itself is still possible where the network allows it:
 * docs/security.md). Returns whether the sender is verified so (what the message says of its
 * sender itself — a newer run, an incarnation far ahead, a leave at UINT32_MAX — is believed
 * only then, or when it is the answer to a confirmation that echoes its nonce: apply(),
 * on_probe()). A node that sends from another address than it advertises (a wildcard bind,
 * NAT, another spelling of its address) or advertises a host name is never verified so; what
 * it says of itself is confirmed by nonce. Joins are verified too, but a joiner is not marked
 * heard from until it is a member. */
static bool heard_from(au_ctx *ctx, cl_state *s, const cl_wire *w) {
    const au_str *from = NULL;
    switch (w->tag) {
    case cl_wire_hb: from = &w->hb.from; break;
    case cl_wire_gossip: from = &w->gossip.from; break;
    case cl_wire_probe: from = &w->probe.from; break;
    case cl_wire_probe_req: from = &w->probe_req.from; break;
    case cl_wire_ack: from = &w->ack.from; break;
    case cl_wire_sync: from = &w->sync.from; break;
    case cl_wire_join: from = &w->join.from; break;
    case cl_wire_refuse: from = &w->refuse.from; break;
    default: return false;
    }
    if (!from->ptr) return false;
    if (w->tag != cl_wire_join && w->tag != cl_wire_refuse) note_seed_alias(ctx, s, from);
    bool verified = true;
    if (!s->sealed && numeric_addr(from)) {
        char o[MAX_ADDR + 2];
        size_t n = au_ctx_origin(ctx, o, sizeof o);
        if (n != from->len || memcmp(o, from->ptr, n) != 0) return false;
    } else if (!s->sealed) {
        /* a host name cannot be compared with the source: it is noted as heard from on its
         * word, as before, but what it says of itself is not believed for it (a forged restart
         * naming a member advertised by name replaced it at once); it is confirmed by nonce */
        verified = false;
    }
    cl_member *m = cl_table_get(&s->t, from->ptr, from->len);
    if (m && w->tag != cl_wire_join && w->tag != cl_wire_refuse) m->heard_at = s->heard_at;
    return verified;
}

static void cl_pre_start(au_ctx *ctx, cl_state *s) {
    s->node = au_ctx_node(ctx);
    s->sealed = au_node_sealed(s->node);
    s->answer_tokens = ANSWER_BURST;
    s->answer_at = now_of(s);
    cl_table_init(&s->t);
    s->me = cl_table_add(&s->t, s->addr, s->addr_len, s->c->id, first_inc(s->node), CL_ALIVE,
                         (uint16_t)s->cfg.vnodes);
    if (s->me) cl_table_mark_self(&s->t, s->me); /* self is not one of the others */
    s->z = au_detector_z(s->cfg.phi);
    s->seed_alias = s->nseeds ? calloc(s->nseeds, sizeof *s->seed_alias) : NULL;
    s->pings_left = s->cfg.num_pings;
    s->phase = JOINING;
    if (s->nseeds == 0) become_member(s, AU_CLUSTER_ALONE);
    tick(ctx, s);
    flush(s);
}

static void cl_recv(au_ctx *ctx, cl_state *s, cl_msg *msg) {
    switch (msg->tag) {
    case cl_msg_wire: {
        cl_wire *w = &msg->wire;
        if (s->phase == LEFT) break; /* stopping: it speaks for no member any more */
        stat_add(&s->c->messages_received, 1);
        s->heard_at = now_of(s); /* a cluster message can only come from another node */
        s->from_verified = heard_from(ctx, s, w);
        s->self_claims = 0;
        s->msg_no++;
        switch (w->tag) {
        case cl_wire_join: on_join(s, &w->join); break;
        case cl_wire_refuse: on_refuse(s, &w->refuse); break;
        case cl_wire_hb: on_beat(s, &w->hb, true); break;
        case cl_wire_gossip: on_beat(s, &w->gossip, false); break;
        case cl_wire_probe:
        case cl_wire_probe_req:
        case cl_wire_ack: on_probe(s, &w->probe, (int)w->tag); break;
        case cl_wire_sync: on_sync(s, &w->sync); break;
        default: stat_add(&s->c->drops_invalid, 1);
        }
        s->from_verified = false;
        break;
    }
    case cl_msg_tick: tick(ctx, s); break;
    case cl_msg_subscribe: {
        /* Subscribing again is a no-op: one subscriber, each event once. The message also
         * comes from au_cluster_unsubscribe: the entry is brought in line with the handle's
         * list (dropped if the ref is not listed, or listed for a later subscription: then made
         * anew, with a first update). */
        pthread_mutex_lock(&calls_lock);
        uint64_t gen = sub_gen_locked(s->c, msg->subscribe.raw);
        pthread_mutex_unlock(&calls_lock);
        size_t at = s->nsubs;
        for (size_t i = 0; i < s->nsubs && at == s->nsubs; i++)
            if (au_ref_equal(s->subs[i].ref.raw, msg->subscribe.raw)) at = i;
        if (at < s->nsubs && s->subs[at].gen != gen) { /* unsubscribed (and maybe again) since */
            cl_sub *u = &s->subs[at];
            if (u->behind) s->nbehind--;
            backlog_clear(u);
            free(u->backlog);
            s->subs[at] = s->subs[--s->nsubs];
            at = s->nsubs;
        }
        if (at < s->nsubs || !gen) break;
        if (s->nsubs == s->subs_cap) {
            size_t nc = s->subs_cap ? s->subs_cap * 2 : 4;
            cl_sub *p = realloc(s->subs, nc * sizeof *p);
            if (!p) break;
            s->subs = p;
            s->subs_cap = nc;
        }
        s->subs[s->nsubs++] = (cl_sub){ .ref = msg->subscribe, .gen = gen };
        initial_update(s, s->nsubs - 1);
        break;
    }
    case cl_msg_leave:
        leave(s);
        flush(s);
        if (s->nbehind && !s->stopping) { /* LEFT refused by a full mailbox: offered again */
            s->stopping = true;
            au_nanos wait = sat_mul(s->cfg.hb_interval, LEAVE_WAIT_TICKS);
            s->stop_by = sat_add(now_of(s), wait < LEAVE_WAIT_MAX ? wait : LEAVE_WAIT_MAX);
        }
        break;
    }
    if (s->phase == IN && s->nsubs && s->nevents) rebuild_ring(s);
    flush(s);
    stats_gauges(s);
    if (s->phase == LEFT && (!s->stopping || !s->nbehind || now_of(s) >= s->stop_by)) au_stop_self(ctx);
}

static void cl_post_stop(au_ctx *ctx, cl_state *s) {
    if (!s->cfg.no_leave_on_stop) leave(s);
    flush(s);
    pthread_mutex_lock(&calls_lock);
    s->c->actor_stopped = true;
    s->c->nsubs = 0;
    pthread_mutex_unlock(&calls_lock);
    stats_gauges(s);
    clear_events(s);
    free(s->events);
    for (size_t i = 0; i < s->nsubs; i++) {
        backlog_clear(&s->subs[i]);
        free(s->subs[i].backlog);
    }
    free(s->subs);
    free(s->charges);
    free(s->suspects);
    au_ring_release(s->ring);
    uint32_t inc = s->me ? s->me->inc : 0;
    for (size_t i = 0; i < s->t.by_key.cap; i++) /* a later start on this node forges anew */
        if (s->t.by_key.keys && s->t.by_key.keys[i]) unforge_member(s->t.by_key.values[i]);
    cl_table_free(&s->t);
    for (size_t i = 0; i < s->nseeds; i++) free(s->seeds[i]);
    free(s->seeds);
    free(s->seed_alias);
    free((char *)s->cfg.name);
    layer_stopped(s->c->home, inc); /* its layer may take the next start on this node */
}

AU_ACTOR(cluster_actor, cl_state, cl_msg, .pre_start = cl_pre_start, .recv = cl_recv,
         .post_stop = cl_post_stop);

/* ---- the public calls ---------------------------------------------------------------------- */

uint64_t au_cluster_compat(uint64_t seed, au_type *const *types, size_t n) {
    uint64_t h = seed;
    for (size_t i = 0; types && i < n; i++) {
        if (!types[i]) continue;
        uint64_t id = au_type_id(types[i]);
        h = XXH3_64bits_withSeed(&id, sizeof id, h);
    }
    return h;
}

static void defaults(au_cluster_config *c) {
#define DEF(field, value) if (!c->field) c->field = (value)
    DEF(name, "cluster");
    DEF(ping_timeout, AU_MSEC(300));
    DEF(num_pings, 5);
    DEF(hb_interval, AU_MSEC(50));
    DEF(replication_factor, 2);
    DEF(vnodes, 1);
    DEF(phi, 0.995);
    DEF(capacity, 10);
    DEF(times, 5);
    DEF(req_tries, 3);
    DEF(req_timeout, AU_MSEC(100));
    DEF(indirect_probes, 3);
    DEF(suspicion_min, AU_MSEC(200));
    DEF(suspicion_max, AU_MSEC(1500));
    DEF(gossip_interval, AU_MSEC(100));
    DEF(gossip_fanout, 3);
    DEF(retransmit_mult, 4);
    DEF(max_piggyback, 12);
    DEF(sync_interval, AU_SEC(2));
    DEF(reconnect_interval, AU_SEC(1));
    DEF(tombstone_ttl, AU_SEC(60));
    DEF(max_health, 8);
    DEF(max_members, 65536);
#undef DEF
}

/* A seed's port (0 names no node: refused). */
static unsigned port_of(const struct sockaddr_storage *ss) {
    if (ss->ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return 0;
}

/* An IPv4-mapped IPv6 address ([::ffff:a.b.c.d]:p) as the IPv4 address it maps; others as
 * they are. */
static struct sockaddr_storage unmapped(const struct sockaddr_storage *ss) {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
    if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) return *ss;
    struct sockaddr_storage out = { 0 };
    struct sockaddr_in *v4 = (struct sockaddr_in *)&out;
    v4->sin_family = AF_INET;
    v4->sin_port = v6->sin6_port;
    memcpy(&v4->sin_addr, &v6->sin6_addr.s6_addr[12], 4);
    return out;
}

static bool unspecified(const struct sockaddr_storage *ss) {
    if (ss->ss_family == AF_INET)
        return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    return ss->ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* A resolved seed written as a node bound there advertises itself (au_node_address: "a.b.c.d:p",
 * "[v6]:p"; an IPv4-mapped IPv6 address as IPv4) into out (size > 0; "" when it cannot be). */
static void canon_addr(const struct sockaddr_storage *ss, char *out, size_t size) {
    struct sockaddr_storage a = unmapped(ss);
    char ip[INET6_ADDRSTRLEN];
    out[0] = 0;
    if (a.ss_family == AF_INET &&
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&a)->sin_addr, ip, sizeof ip))
        snprintf(out, size, "%s:%u", ip, (unsigned)port_of(&a));
    else if (a.ss_family == AF_INET6 &&
             inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a)->sin6_addr, ip, sizeof ip))
        snprintf(out, size, "[%s]:%u", ip, (unsigned)port_of(&a));
}

/* Whether a seed names this node however spelled: its address, the same as an IPv4-mapped IPv6
 * literal, or the unspecified address (0.0.0.0, [::]: "this host") at its port. */
static bool names_self(const struct sockaddr_storage *seed, const struct sockaddr_storage *self) {
    struct sockaddr_storage a = unmapped(seed), b = unmapped(self);
    if (au_address_equal((struct sockaddr *)&a, (struct sockaddr *)&b)) return true;
    return unspecified(&a) && port_of(&a) == port_of(&b);
}

/* The knobs of AU_CLUSTER_MIN_INTERVAL: periods and timeouts acted on at the tick. */
static const struct { const char *name; size_t offset; } min_intervals[] = {
#define MIN_IV(f) { #f, offsetof(au_cluster_config, f) }
    MIN_IV(ping_timeout), MIN_IV(hb_interval), MIN_IV(req_timeout), MIN_IV(gossip_interval),
    MIN_IV(sync_interval), MIN_IV(reconnect_interval),
#undef MIN_IV
};

/* Whether every interval of c (defaults applied) is at least AU_CLUSTER_MIN_INTERVAL; logs the
 * first that is not. */
static bool intervals_ok(const au_cluster_config *c) {
    for (size_t i = 0; i < sizeof min_intervals / sizeof *min_intervals; i++) {
        au_nanos v;
        memcpy(&v, (const char *)c + min_intervals[i].offset, sizeof v);
        if (v < AU_CLUSTER_MIN_INTERVAL) {
            LOG(AU_LOG_ERROR, "au_cluster_start: %s of %llu ns is below the minimum of %llu ns "
                "(AU_CLUSTER_MIN_INTERVAL): refused", min_intervals[i].name, (unsigned long long)v,
                (unsigned long long)AU_CLUSTER_MIN_INTERVAL);
            return false;
        }
    }
    return true;
}

au_err au_cluster_start(au_node *node, const au_cluster_config *cfg, au_cluster **out) {
    au_cluster_config c = cfg ? *cfg : (au_cluster_config){ 0 };
    defaults(&c);
    if (!intervals_ok(&c)) return AU_EINVAL;
    const char *addr = au_node_address(node);
    if (!node || !out || !addr || !*addr || strlen(addr) > MAX_ADDR) return AU_EINVAL;
    if (!(c.phi > 0 && c.phi < 1) || c.capacity > AU_DETECTOR_MAX_CAPACITY || c.replication_factor > MAX_R ||
        c.vnodes > AU_RING_MAX_VNODES || c.max_piggyback > CL_MAX_UPDATES ||
        c.indirect_probes > MAX_INDIRECT ||
        c.retransmit_mult > MAX_RETRANSMIT_MULT || c.max_members > AU_CLUSTER_MAX_MEMBERS ||
        c.suspicion_min > c.suspicion_max || (c.nseeds && !c.seeds) || !*c.name ||
        strlen(c.name) > MAX_NAME)
        return AU_EINVAL;
    cl_state st = { .cfg = c };
    st.cfg.seeds = NULL;
    st.addr_len = strlen(addr);
    memcpy(st.addr, addr, st.addr_len + 1);
    st.seeds = calloc(c.nseeds ? c.nseeds : 1, sizeof *st.seeds);
    st.cfg.name = strdup(c.name);
    au_cluster *h = calloc(1, sizeof *h);
    /* the seeds kept, resolved: a seed listed again (however spelled) is skipped, else each
     * copy would get its own join and reconnect messages */
    struct sockaddr_storage *kept = calloc(c.nseeds ? c.nseeds : 1, sizeof *kept);
    if (!st.seeds || !st.cfg.name || !h || !kept) goto nomem;
    struct sockaddr_storage self;
    socklen_t self_len;
    bool self_ok = au_address_resolve(addr, &self, &self_len) == AU_OK;
    for (size_t i = 0; i < c.nseeds; i++) {
        struct sockaddr_storage ss;
        socklen_t len;
        if (!c.seeds[i] || au_address_resolve(c.seeds[i], &ss, &len) != AU_OK ||
            port_of(&ss) == 0) {
            for (size_t j = 0; j < st.nseeds; j++) free(st.seeds[j]);
            free(st.seeds);
            free((char *)st.cfg.name);
            free(h);
            free(kept);
            return AU_EINVAL;
        }
        /* own address, however spelled ("localhost:4000" for 127.0.0.1:4000): skipped */
        if (strcmp(c.seeds[i], addr) == 0 || (self_ok && names_self(&ss, &self)))
            continue;
        bool again = false;
        for (size_t j = 0; j < st.nseeds && !again; j++)
            again = au_address_equal((struct sockaddr *)&ss, (struct sockaddr *)&kept[j]);
        if (again) continue;
        char canon[INET6_ADDRSTRLEN + 16];
        canon_addr(&ss, canon, sizeof canon);
        if (strcmp(canon, c.seeds[i]) == 0) canon[0] = 0;
        size_t gl = strlen(c.seeds[i]), cl = strlen(canon);
        if (!(st.seeds[st.nseeds] = malloc(gl + cl + 2))) goto nomem;
        memcpy(st.seeds[st.nseeds], c.seeds[i], gl + 1);
        memcpy(st.seeds[st.nseeds] + gl + 1, canon, cl + 1);
        kept[st.nseeds++] = ss;
    }
    free(kept);
    kept = NULL;
    au_type *own[] = { &au_type_cl_msg };
    st.compat = au_cluster_compat(c.compat, own, 1);
    au_driver_node *dn = au_node_driver(node);
    st.rng = dn && dn->ops->random ? dn->ops->random(dn) : (uint64_t)(uintptr_t)h;
    /* the nonces' key and the join nonce: from the system's entropy (libsodium's randombytes),
     * never from rng, whose stream shows in what the node sends, and not from the driver's
     * random either: in the simulation that is the seeded stream every latency is drawn from,
     * and drawing from it here shifted every later run. Nothing depends on their values but
     * their equality, and they are encoded at one length (NONCE_BIT), so a simulated run
     * stays the same run (au_sim_trace_hash). */
    if (sodium_init() < 0) {
        for (size_t j = 0; j < st.nseeds; j++) free(st.seeds[j]);
        free(st.seeds);
        free((char *)st.cfg.name);
        free(h);
        return AU_EIO;
    }
    randombytes_buf(st.confirm_key, sizeof st.confirm_key);
    randombytes_buf(&st.join_nonce, sizeof st.join_nonce);
    st.join_nonce |= NONCE_BIT; /* never 0: a refusal without a nonce is no answer to ours */
    h->node = node;
    h->id = au_node_incarnation(node);
    if (!h->id) h->id = st.rng | 1;
    st.c = h;
    au_err lerr = AU_OK;
    cl_layer *home = layer_take(node, &lerr);
    if (!home) {
        for (size_t j = 0; j < st.nseeds; j++) free(st.seeds[j]);
        free(st.seeds);
        free((char *)st.cfg.name);
        free(h);
        return lerr;
    }
    h->home = home; /* before the spawn: the actor's post_stop may run at once */
    /* Term from this node only: without a cluster key anyone may send Term to a registered
     * name, and one forged Term made this node leave the cluster (aurum/actor.h, AU_TERM_LOCAL) */
    h->actor = au_spawn_with(node, cluster_actor,
                             au_opts(.name = st.cfg.name, .layer = home->layer, .term = AU_TERM_LOCAL), &st);
    if (au_ref_is_null(h->actor.raw)) {
        /* the state copy was never started (so that failed starts do not use up the node's
         * slots, a layer that never ran an actor is taken back: layer_started) */
        au_err e = au_last_error();
        for (size_t j = 0; j < st.nseeds; j++) free(st.seeds[j]);
        free(st.seeds);
        free((char *)st.cfg.name);
        layer_started(home, h, false);
        return e ? e : AU_EEXIST;
    }
    layer_started(home, h, true);
    *out = h;
    return AU_OK;
nomem:
    for (size_t j = 0; j < st.nseeds; j++) free(st.seeds[j]);
    free(st.seeds);
    free((char *)st.cfg.name);
    free(h);
    free(kept);
    return AU_ENOMEM;
}

/* The subscribe message tells the actor to bring its entry for the ref in line with the
 * handle's list: added (with its first update) if listed, taken out (its backlog freed) if not;
 * au_cluster_unsubscribe sends it too, so the protocol's local root is unchanged. */
au_err au_cluster_subscribe(au_cluster *c, au_cluster_update_lref subscriber) {
    if (!c || au_ref_is_null(subscriber.raw)) return AU_EINVAL;
    pthread_mutex_lock(&calls_lock);
    au_err e = AU_ESTOPPED;
    if (!c->leave_sent && !c->actor_stopped) {
        bool added = false;
        e = AU_OK;
        if (!sub_listed_locked(c, subscriber.raw, NULL)) {
            if (c->nsubs == c->subs_cap) {
                size_t nc = c->subs_cap ? c->subs_cap * 2 : 4;
                struct cl_listed *p = realloc(c->subs, nc * sizeof *p);
                if (!p) e = AU_ENOMEM;
                else c->subs = p, c->subs_cap = nc;
            }
            if (e == AU_OK) {
                c->subs[c->nsubs++] = (struct cl_listed){ subscriber, ++c->sub_gen };
                added = true;
            }
        }
        if (e == AU_OK) e = au_send(c->actor, (cl_msg){ .tag = cl_msg_subscribe, .subscribe = subscriber });
        if (e != AU_OK && added) c->nsubs--;
    }
    pthread_mutex_unlock(&calls_lock);
    return e;
}

au_err au_cluster_unsubscribe(au_cluster *c, au_cluster_update_lref subscriber) {
    if (!c || au_ref_is_null(subscriber.raw)) return AU_EINVAL;
    pthread_mutex_lock(&calls_lock);
    au_err e = AU_OK;
    if (c->actor_stopped) e = AU_ESTOPPED;
    else if (!sub_unlist_locked(c, subscriber.raw)) e = AU_ENOTFOUND;
    else /* the actor frees its entry; if this send fails, send_update drops it unsent */
        (void)au_send(c->actor, (cl_msg){ .tag = cl_msg_subscribe, .subscribe = subscriber });
    pthread_mutex_unlock(&calls_lock);
    return e;
}

au_err au_cluster_leave(au_cluster *c) {
    if (!c) return AU_EINVAL;
    pthread_mutex_lock(&calls_lock);
    c->leave_sent = true;
    au_err e = au_send(c->actor, (cl_msg){ .tag = cl_msg_leave });
    pthread_mutex_unlock(&calls_lock);
    return e;
}

uint64_t au_cluster_id(const au_cluster *c) { return c ? c->id : 0; }

void au_cluster_stats_get(const au_cluster *c, au_cluster_stats *out) {
    if (!out) return;
    *out = (au_cluster_stats){ 0 };
    if (!c) return;
#define STAT_READ(n) out->n = au_stat_read(&c->n);
    CLUSTER_STATS(STAT_READ)
#undef STAT_READ
}
