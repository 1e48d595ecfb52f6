/* share.c — the dispersal actor: one replica of a shared CRDT per node, kept in sync with the
 * other members by causal δ-dispersal (Almeida, Shoker, Baquero, algorithm 2) with redundancy
 * removal of received deltas, no back-propagation and vias (Enes et al.: do not send a peer what
 * it has). The algorithm and its knobs are described in include/aurum/crdt_share.h; this file
 * implements exactly that.
 *
 * Owns: the replica handles (au_share: the state X under a mutex, so any thread may read it,
 * and the statistics), one "crdt" layer per node (a process-wide list maps nodes to their layer
 * and replicas; the layer's free frees the handles), and each replica actor's private state
 * (delta buffer, ack table, subscribers, pending prunes), freed in post_stop.
 * Relies on: the public API only (aurum/cluster.h for membership and the ring, forged references
 * for the wire, timers, aurum/layer.h for the stop order) and util/.
 * Invariants: only the actor writes X, always under h->mu; the buffer holds the deltas of the
 * changes [gc, clock) in order, each already minus what X had when it was received; every
 * peer's acked ≤ clock; a buffered delta from member o is ⊑ the join of o's deltas below its
 * src_clock; a peer's rx means X ⊒ the join of its deltas below rx, and its kn entries only
 * what it vouched for (vias) — so a delta left out by has_it is one the peer has, and a
 * catching-up member's vouch (an ack without clock: our rx of that member, from a state's
 * sender's vias) acks only deltas its state holds; gc ≤
 * min(acked of the peers) unless the buffer hit BUF_MAX deltas or max_buffer bytes, when peers
 * below gc get the full state;
 * one tick timer chain at most (tick_armed), one pending flush at most (flush_pending), one ack
 * timer at most (ack_armed), set while some peer has an ack waiting (ack_clock != 0). */
#include <aurum/aurum.h>
#include <aurum/cluster.h>
#include <aurum/crdt.h>
#include <aurum/crdt_share.h>
#include <aurum/layer.h>
#include <aurum/log.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/stats.h"

#define LOG(level, ...) au_log(AU_LOG_CRDT, level, __VA_ARGS__)
#define NAME_MAX_ 48
#define ADDR_MAX 63
#define BUF_MAX 65536u     /* deltas buffered at most; beyond, the oldest go (peers: full state) */
#define BUF_BYTES_DEFAULT ((size_t)4 << 20) /* max_buffer's default: encoded bytes buffered */
#define PENDING_ACKS 4     /* out-of-order ack ranges remembered per peer */
#define MAX_MANAGERS 16
#define BACKOFF_MAX 1      /* an unresponsive peer is re-sent to every 2 × timeout */
#define SILENT_BACKOFF 6   /* ... one that never answered (silent()), every 64 × timeout */
#define PUSH_MAX 16        /* OUT_OF_DATE: groups a received delta is forwarded in, at most */
#define UNREACH_MAX RELAY_MAX /* members an origin says it cannot reach, remembered per origin */
#define RELAY_FANOUT 2     /* members asked to pass our deltas on to one we cannot reach */
#define STATE_INSTEAD 1024 /* a delta group above this many bytes goes as the state if that is
                              smaller (send_group) */
#define PRUNED_MAX 4096u   /* departed members remembered as pruned, the most recent (sh_pruned) */
#define PRUNED_SLOTS (2 * PRUNED_MAX) /* ... their hash index: a power of two, half full at most */
#define TYPE_NAME_MAX 255  /* a type refusal's type name, at most (on_ack) */
#define REFUSE_EVERY 16    /* a member is told our type differs once per 16 re-send waits at most */
#define FOREIGN_HOLD_WAITS 64 /* a type refusal holds for 64 re-send waits, and at least ... */
#define FOREIGN_HOLD_MIN AU_SEC(60) /* ... a minute (foreign_hold) */

#include "crdt/share_wire.h"

/* ---- the handle and the per-node layer ------------------------------------------------------- */

#define SHARE_STATS(X)                                                                             \
    X(clock) X(buffered) X(peers) X(mutations) X(mutations_failed) X(deltas_sent) X(states_sent)   \
    X(bytes_sent) X(received) X(redundant) X(acks_sent) X(acks_received) X(drops_decode)          \
    X(drops_type) X(drops_too_big) X(drops_invalid) X(drops_untyped) X(pruned)                    \
    X(bytes_received) X(redundant_bytes) X(bytes_forwarded) X(rewinds) X(wire_bytes)           \
    X(wire_messages) X(acks_again) X(drops_no_id) X(vouches_matched) X(relays_sent)             \
    X(relays_taken) X(buffered_bytes) X(collected_unacked) X(pruned_ids) X(peers_type_mismatch)

struct au_share {
    au_node *node;
    const au_crdt_type *type;
    uint64_t id;
    pthread_mutex_t mu;
    void *state;              /* X: written by the actor under mu; read by anyone under mu */
    sh_msg_lref actor;
    struct au_share *next;    /* in its node's list */
#define STAT_FIELD(n) _Atomic uint64_t n;
    SHARE_STATS(STAT_FIELD)
#undef STAT_FIELD
};

typedef struct sh_node {
    au_node *node;
    au_layer *layer;
    au_share *shares;
    struct sh_node *next;
} sh_node;

static pthread_mutex_t g_nodes_mu = PTHREAD_MUTEX_INITIALIZER;
static sh_node *g_nodes;

static void layer_free(void *arg) {
    sh_node *n = arg;
    pthread_mutex_lock(&g_nodes_mu);
    for (sh_node **p = &g_nodes; *p; p = &(*p)->next)
        if (*p == n) { *p = n->next; break; }
    pthread_mutex_unlock(&g_nodes_mu);
    for (au_share *s = n->shares, *nx; s; s = nx) {
        nx = s->next;
        if (s->type) s->type->free(s->state);
        pthread_mutex_destroy(&s->mu);
        free(s);
    }
    free(n);
}

/* ---- the actor's state ------------------------------------------------------------------------ */

typedef struct sh_dent {
    void *d;            /* a delta accumulator */
    uint64_t origin;    /* the member it came from (0: a local mutation or prune) */
    uint64_t src_clock; /* ... and that member's clock then: d ⊑ the join of its deltas
                           [0, src_clock) (UINT64_MAX: from a full state, no such bound) */
    unsigned pushes;    /* OUT_OF_DATE: groups it may still be forwarded in (relied_on) */
    size_t bytes;       /* its encoded size (buf_bytes, max_buffer) */
} sh_dent;

/* Knowledge of who has what, by member id: "every delta of member id below clock" (clock 0:
 * an empty entry). A peer's table says what it is known to have; a full table forgets its
 * lowest entry, which only costs a redundant send later. */
#define KN_MAX 8
#define VIA_MAX 8       /* entries sent with one delta group (VIA_MAX_RX accepted: share_wire.h) */

typedef struct sh_range { uint64_t base, clock; } sh_range;

typedef struct sh_peer {
    uint64_t id;
    char addr[ADDR_MAX + 1];
    sh_wire_ref ref;
    uint64_t acked;           /* highest clock of ours it acknowledged */
    uint64_t sent_clock;      /* clock of our last send to it */
    au_nanos sent_at, full_at, added_at;
    au_nanos first_sent_at;   /* when our first send to it left (silent) */
    bool priority;
    bool heard;               /* it has acked something of ours */
    bool vouched;             /* it vouched for our deltas (an ack without clock: on_ack) while
                                 catching up: it is served deltas from there, not held back */
    bool served;              /* it has sent us a delta (it knows us: no vouch needed) */
    unsigned vouches;         /* vouches we sent it (vouch_round) */
    au_nanos vouch_at;        /* ... the next one due no sooner */
    bool relied;              /* a delta it sent us was left out of a group (it sends to all) */
    uint64_t relied_lo;       /* ... the lowest buffer index of such a delta */
    uint64_t relied_src;      /* ... the highest src_clock of such a delta (every one of them
                                 is ⊑ the join of its deltas below relied_src) */
    au_nanos heard_at;        /* when it last acked something of ours */
    bool typed;               /* a delta from it named our type hash (it may omit it now) */
    bool meta;                /* the send being made carries our address and type hash */
    bool sent_anon;           /* our last delta to it omitted our member id */
    bool need_id;             /* our deltas to it always carry our id: one without went unacked
                                 for a timeout (it may not know us by our datagrams' source) */
    bool ack_id;              /* ... and our acks: it re-sent deltas we had acked without id */
    uint64_t ack_base, ack_clock; /* an ack for its deltas not sent yet (ack_clock 0: none) */
    uint64_t acked_to;        /* the highest clock of its we sent an ack for (a delta of its
                                 that ends there or below is a re-send: our ack was lost) */
    au_nanos ack_at;          /* ... waiting since */
    size_t full_bytes;        /* size of the last full state sent to it */
    uint64_t rx;              /* we have every delta of its below rx (through it or others) */
    sh_kn kn[KN_MAX];         /* what it has of other members' deltas (its vias, our sends) */
    sh_kn told[KN_MAX];       /* the rx of other members we told it (our vias to it) */
    au_nanos behind_at;       /* since when it has lacked deltas of ours we sent it, without
                                 a direct ack that moved (0: none outstanding; relay_round) */
    uint64_t behind_to;       /* ... our clock at the last send: a direct ack this far ends it */
    uint64_t relayers[RELAY_FANOUT]; /* while it is stuck: the members asked to pass our
                                 deltas on to it (kept while they are healthy) */
    au_nanos relay_since;     /* when relayers[1] was chosen, or last kept for progress ... */
    uint64_t relay_acked;     /* ... and how far it had acked then */
    sh_kn unreach[UNREACH_MAX]; /* members it says it cannot reach (on_relay): id, and until
                                 when (nanoseconds) we pass its deltas on to them */
    uint64_t popped_src;      /* the highest src_clock of its deltas our buffer collected */
    unsigned backoff;         /* re-sends without progress wait timeout << backoff (≤ BACKOFF_MAX) */
    bool big;                 /* our group from its ack did not fit max_message: it is served
                                 the full state instead (sendable) until its ack moves */
    bool foreign;             /* it holds this name as another CRDT type (its type refusal,
                                 on_ack): nothing is sent to it, no ack of it is waited for,
                                 until a delta of our type or an ack comes from it, or for
                                 foreign_hold (then it is tried again) */
    bool mismatch_told;       /* its refusal was counted and logged; cleared once it shows our
                                 type (not_foreign), so a refusal again after a hold is quiet */
    au_nanos foreign_at;      /* when its refusal made it foreign */
    au_nanos refused_at;      /* when we last told it that our type differs (refuse_type) */
    sh_range pend[PENDING_ACKS];
} sh_peer;

typedef struct sh_prune { uint64_t id; au_nanos due; bool held; } sh_prune;

/* The departed members pruned lately, so that one removed again (it came back meanwhile) is not
 * pruned twice: the PRUNED_MAX most recent, in order (ring, the oldest at head), with a hash
 * index (slot: open addressing, linear probing, 0 empty; member ids are never 0) for an O(1)
 * lookup. Allocated at the first prune. Forgetting the oldest is safe: a prune of a member the
 * state has retired already finds none of its entries (the retirement stays in the state: its
 * stale entries arriving again are absorbed, aurum/crdt.h "Pruning"), so it changes nothing. */
typedef struct sh_pruned {
    uint64_t ring[PRUNED_MAX];
    size_t head, n;
    uint64_t slot[PRUNED_SLOTS];
} sh_pruned;
typedef struct sh_fail { uint64_t id; au_nanos at; } sh_fail; /* a FAILED removal, not back */

typedef struct sh_state {
    au_share *h;
    au_node *node;
    au_cluster *cluster;
    const au_crdt_type *t;
    au_share_config cfg;
    char **prio;
    size_t nprio;
    char actor_name[NAME_MAX_ + 8];
    const char *addr;
    uint32_t type_hash;
    uint64_t me;
    sh_msg_lref self;
    au_ctx *ctx;              /* of the message being handled (sh_recv), for its origin */
    bool joined;
    uint64_t clock, gc;
    sh_dent *buf;             /* buf[start .. start + (clock - gc)) */
    size_t start, cap;
    size_t buf_bytes;         /* the sum of the buffered deltas' encoded sizes (≤ max_buffer,
                                 but for the newest delta alone) */
    au_buf scratch;           /* push_delta's encoding, to measure a delta of a type whose
                                 encode refuses a counter (reused) */
    sh_peer *peers;
    size_t npeers, peers_cap;
    au_ring *ring;
    au_share_changed_lref *subs;
    size_t nsubs, subs_cap;
    sh_prune *prunes;
    size_t nprunes, prunes_cap;
    sh_pruned *pruned;        /* NULL until the first prune */
    sh_fail *fails;           /* members removed as FAILED within prune_hold, not back since */
    size_t nfails, fails_cap;
    bool tick_armed, flush_pending, ack_armed;
    uint64_t cache_base, cache_clock; /* the encoded join of D[cache_base, cache_clock) ... */
    au_buf cache;                     /* ... (no origin excluded); valid while cache.len */
    bool cache_fwd;                   /* ... it holds a delta received from another member */
    bool cache_whole;                 /* ... nothing was left out for its sender (relied_on) */
    bool changed, changed_local;
    au_nanos vouch_until;     /* we installed a full state: vouch to the silent until then */
    uint64_t xgen;            /* +1 on every write of X (the digest cache's key) */
    size_t state_len;         /* X's encoded size when last encoded (a hint: X may have changed
                                 since; send_group) */
    uint64_t dig, dig_gen;    /* X's digest (vouch_digest) as of xgen dig_gen (0: none yet) */
    uint64_t log_drops;       /* drops logged so far (rate limit) */
    uint64_t relay_sig;       /* the set of members we last said we cannot reach (an XOR of
                                 their ids' hashes; 0: none) ... */
    au_nanos relay_at;        /* ... and when (relay_round) */
    size_t relay_turn;        /* where relay_round's choice of relayers starts (it rotates) */
} sh_state;

static au_nanos now_of(sh_state *s) { return au_node_now(s->node); }
static void stat_add(_Atomic uint64_t *x, uint64_t n) { au_stat_add(x, n); }
static void stat_set(_Atomic uint64_t *x, uint64_t v) {
    atomic_store_explicit(x, v, memory_order_relaxed); /* relaxed: a gauge, read as a number */
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = *cap ? *cap * 2 : 8;
    while (nc < need) nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np) return false;
    *p = np;
    *cap = nc;
    return true;
}

/* Logs the first drops and then every 1000th, so hostile traffic cannot flood the log. */
static bool log_drop(sh_state *s) { return s->log_drops++ < 16 || s->log_drops % 1000 == 0; }

/* ---- the buffer -------------------------------------------------------------------------------- */

static size_t buffered(sh_state *s) { return (size_t)(s->clock - s->gc); }
static sh_dent *dent(sh_state *s, uint64_t k) { return &s->buf[s->start + (size_t)(k - s->gc)]; }

static sh_peer *peer_by_id(sh_state *s, uint64_t id);

static void pop_front(sh_state *s) {
    sh_dent *e = &s->buf[s->start];
    sh_peer *o = e->origin ? peer_by_id(s, e->origin) : NULL;
    if (o && e->src_clock > o->popped_src) o->popped_src = e->src_clock; /* on_relay */
    s->buf_bytes -= e->bytes;
    s->t->free(s->buf[s->start].d);
    s->start++;
    s->gc++;
    if (s->gc == s->clock) s->start = 0;
}

static void buf_stats(sh_state *s) {
    stat_set(&s->h->buffered, buffered(s));
    stat_set(&s->h->buffered_bytes, s->buf_bytes);
}

/* Collects the oldest delta though some peer has not acked it (the buffer's bounds): the peers
 * behind it get the full state (sendable: acked < gc). */
static void pop_unacked(sh_state *s) {
    for (size_t i = 0; i < s->npeers; i++)
        if (s->peers[i].acked <= s->gc && !s->peers[i].foreign) {
            stat_add(&s->h->collected_unacked, 1);
            break;
        }
    pop_front(s);
}

/* Takes d (a delta accumulator): D[clock++] = d. On ENOMEM d is freed and the whole buffer
 * collected (X already has d, so the change is still counted: peers get it through a full
 * state). The buffer holds at most BUF_MAX deltas and max_buffer bytes of them (encoded; the
 * newest delta is kept whatever its size): beyond, the oldest are collected, acked or not, and
 * the peers that lacked them catch up by the full state — a member that never answers (silent)
 * holds at most that much. */
static void push_delta(sh_state *s, void *d, uint64_t origin, uint64_t src_clock) {
    /* measured by a size-only pass (nothing written, nothing allocated); a type whose encode
     * writes through the buffer's data is refused by the counter and encoded for real */
    au_buf c = au_buf_counter();
    size_t bytes = s->t->encode(d, &c) == AU_OK ? c.len : SIZE_MAX;
    if (bytes == SIZE_MAX) {
        s->scratch.len = 0;
        bytes = s->t->encode(d, &s->scratch) == AU_OK ? s->scratch.len : 0;
        if (s->scratch.cap > 65536) au_buf_free(&s->scratch); /* a large one: do not keep its room */
    }
    if (buffered(s) >= BUF_MAX) pop_unacked(s);
    while (buffered(s) && s->buf_bytes + bytes > s->cfg.max_buffer) pop_unacked(s);
    /* Compact only once the free front is at least as large as what moves, so that a full
     * buffer (each push popping one) costs O(1) amortised, not a BUF_MAX memmove per delta;
     * otherwise grow (cap stays below about 2 * BUF_MAX * the growth factor). */
    if (s->start && s->start + buffered(s) == s->cap && s->start >= buffered(s)) {
        memmove(s->buf, s->buf + s->start, buffered(s) * sizeof *s->buf);
        s->start = 0;
    }
    if (!grow((void **)&s->buf, &s->cap, s->start + buffered(s) + 1, sizeof *s->buf)) {
        /* no room for the delta: collect everything, peers behind get the full state */
        s->t->free(d);
        while (s->gc < s->clock) pop_unacked(s);
        s->clock++;
        s->gc = s->clock;
        s->start = 0;
        LOG(AU_LOG_WARN, "crdt %s: out of memory buffering a delta; peers get the full state",
            s->cfg.name);
        buf_stats(s);
        return;
    }
    unsigned pushes = origin && s->cfg.selector == AU_SHARE_OUT_OF_DATE ? s->cfg.pushes : 0;
    if (pushes > PUSH_MAX) pushes = PUSH_MAX;
    s->buf[s->start + buffered(s)] = (sh_dent){ d, origin, src_clock, pushes, bytes };
    s->buf_bytes += bytes;
    s->clock++;
    buf_stats(s);
}

/* Collects the deltas every peer has acknowledged. */
static void collect(sh_state *s) {
    uint64_t min = s->clock;
    for (size_t i = 0; i < s->npeers; i++)
        if (s->peers[i].acked < min && !s->peers[i].foreign) min = s->peers[i].acked;
    if (!s->joined) return; /* keep what was made before joining: the first peers get it */
    while (s->gc < min) pop_front(s);
    buf_stats(s);
}

/* ---- peers ------------------------------------------------------------------------------------- */

static uint64_t kn_get(const sh_kn *t, uint64_t id) {
    for (size_t i = 0; i < KN_MAX; i++)
        if (t[i].clock && t[i].id == id) return t[i].clock;
    return 0;
}

/* Raises id's entry to clock (a new entry takes an empty slot, else the lowest one). */
static void kn_raise(sh_kn *t, uint64_t id, uint64_t clock) {
    size_t low = 0;
    for (size_t i = 0; i < KN_MAX; i++) {
        if (t[i].clock && t[i].id == id) {
            if (clock > t[i].clock) t[i].clock = clock;
            return;
        }
        if (t[i].clock < t[low].clock) low = i;
    }
    if (clock > t[low].clock) t[low] = (sh_kn){ id, clock };
}

static sh_peer *peer_by_id(sh_state *s, uint64_t id) {
    for (size_t i = 0; i < s->npeers; i++)
        if (s->peers[i].id == id) return &s->peers[i];
    return NULL;
}

/* The member whose address is the source of the message being handled (a message that omits
 * its sender's id: docs/wire-format.md §1.6); NULL if none, if two members have that address
 * (an old and a new incarnation: the sender must name itself), or not from the network. */
static sh_peer *peer_by_origin(sh_state *s) {
    char o[ADDR_MAX + 2];
    size_t n = au_ctx_origin(s->ctx, o, sizeof o);
    if (n == 0 || n > ADDR_MAX) return NULL;
    sh_peer *found = NULL;
    for (size_t i = 0; i < s->npeers; i++)
        if (strcmp(s->peers[i].addr, o) == 0) {
            if (found) return NULL;
            found = &s->peers[i];
        }
    return found;
}

static bool is_prio(sh_state *s, const char *addr) {
    for (size_t i = 0; i < s->nprio; i++)
        if (strcmp(s->prio[i], addr) == 0) return true;
    return false;
}

static void add_peer(sh_state *s, const au_cluster_member *m) {
    if (m->address.len == 0 || m->address.len > ADDR_MAX) return;
    if (!grow((void **)&s->peers, &s->peers_cap, s->npeers + 1, sizeof *s->peers)) return;
    sh_peer *p = &s->peers[s->npeers];
    *p = (sh_peer){ .id = m->id, .added_at = now_of(s) };
    memcpy(p->addr, m->address.ptr, m->address.len);
    p->addr[m->address.len] = 0;
    p->ref = au_forge(sh_msg, sh_wire, s->node, s->actor_name, p->addr);
    if (au_ref_is_null(p->ref.raw)) return;
    p->priority = is_prio(s, p->addr);
    s->npeers++;
}

static void remove_peer_at(sh_state *s, size_t i) {
    s->peers[i] = s->peers[s->npeers - 1];
    s->npeers--;
}

/* Am I one of p's catch-up sources (its ring managers)? Without a ring: yes. */
static bool is_source(sh_state *s, const sh_peer *p) {
    if (!s->ring) return true;
    const au_cluster_member *mg[MAX_MANAGERS];
    size_t n = au_ring_managers(s->ring, p->addr, mg, MAX_MANAGERS);
    if (n == 0) return true;
    for (size_t i = 0; i < n; i++)
        if (mg[i]->id == s->me) return true;
    return false;
}

static void advance(sh_peer *p, uint64_t clock);
static void take_ack(sh_state *s, sh_peer *p, uint64_t base, uint64_t clock, bool heard,
                     bool direct);

/* How long a send waits for its ack before it is re-sent: the receiver may hold the ack for
 * ack_delay to let it ride on a delta of its own. */
static au_nanos resend_wait(sh_state *s) { return s->cfg.timeout + s->cfg.ack_delay; }

/* Has member p answered nothing since our first send to it, 64 re-send waits (11.2 s at the
 * defaults) and twice catchup_delay ago: no ack, no vouch, no delta of its own? A node of the
 * cluster that does not share this CRDT is such a member (the members are the cluster's), and
 * so is one our datagrams have never reached (relays serve it). It is sent to ever less often,
 * each send waiting twice as long as the last, up to 64 re-send waits (sendable, serve): else
 * every re-send wait it got the join of every delta it has not acked, the buffer's whole
 * content. Once it acks, vouches or sends a delta it is a member like any other. */
static bool silent(sh_state *s, const sh_peer *p, au_nanos now) {
    au_nanos after = 64 * resend_wait(s);
    if (after < 2 * s->cfg.catchup_delay) after = 2 * s->cfg.catchup_delay;
    return !p->heard && !p->vouched && !p->served && p->first_sent_at &&
           now - p->first_sent_at >= after;
}

/* How long a member may lack deltas we sent it, with no ack moving, before we take it for one
 * we cannot reach and ask the others to pass our deltas on to it (relay_round): cfg.relay_after,
 * by default 32 re-send waits (5.6 s): a link that works in neither or only the other direction
 * (the cluster keeps such a member: it probes it through others). At 30 % loss each way a
 * re-send is acked with p ≈ 0.49, so 16 or more in a row fail with p ≈ 2·10⁻⁵. */
static au_nanos relay_after(sh_state *s) { return s->cfg.relay_after; }
static au_nanos relay_after_default(const au_share_config *c) {
    return 32 * (c->timeout + c->ack_delay);
}

static au_nanos mul_sat(au_nanos a, unsigned k) { return a > UINT64_MAX / k ? UINT64_MAX : a * k; }
static au_nanos add_sat(au_nanos a, au_nanos b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* How long we pass an origin's deltas on after its last word: twice our relay_after (the
 * origin refreshes every relay_after / 2 of its own; the nodes of a cluster share the
 * setting), or twice the default if we never ask for relays ourselves. */
static au_nanos relay_hold(sh_state *s) {
    au_nanos after = relay_after(s) == AU_SHARE_RELAY_NEVER ? relay_after_default(&s->cfg)
                                                             : relay_after(s);
    return mul_sat(after, 2);
}

/* Does origin o say it cannot reach member id (and is that still recent)? */
static bool unreach_has(const sh_peer *o, uint64_t id, au_nanos now) {
    for (size_t i = 0; i < UNREACH_MAX; i++)
        if (o->unreach[i].id == id && o->unreach[i].clock > now) return true;
    return false;
}

/* Records that o cannot reach id until `until`: 1 if it was not listed (or had expired), 0 if
 * it was (refreshed), -1 if the table is full of live entries (not recorded). */
static int unreach_set(sh_peer *o, uint64_t id, au_nanos until, au_nanos now) {
    size_t slot = UNREACH_MAX;
    for (size_t i = 0; i < UNREACH_MAX; i++) {
        if (o->unreach[i].id == id && o->unreach[i].clock) {
            bool fresh = o->unreach[i].clock <= now;
            o->unreach[i].clock = until;
            return fresh;
        }
        if (o->unreach[i].clock <= now && slot == UNREACH_MAX) slot = i;
    }
    if (slot == UNREACH_MAX) return -1;
    o->unreach[slot] = (sh_kn){ id, until };
    return 1;
}

/* Is some origin's delta passed on to p (an origin said it cannot reach p)? */
static bool relaying_to(sh_state *s, const sh_peer *p, au_nanos now) {
    for (size_t i = 0; i < s->npeers; i++)
        if (&s->peers[i] != p && unreach_has(&s->peers[i], p->id, now)) return true;
    return false;
}

/* Our address and type hash go with a send to p until p has acked something of ours, and again
 * when an earlier send to p went unacked for a timeout (p may have dropped us from its member
 * set, or not have seen our type: it does not ack such a delta, on_delta). Saves ~20 B a send
 * in the steady state. */
static bool need_meta(sh_state *s, const sh_peer *p, au_nanos now) {
    return !p->heard || (p->sent_clock > p->acked && now - p->sent_at >= resend_wait(s));
}

/* ---- sending ------------------------------------------------------------------------------------ */

/* ---- what a message costs on the wire (docs/wire-format.md §1) -------------------------------- */

/* The transport's fixed framing, restated here (src/crdt may not include src/proto): a datagram
 * has a 20-byte header and an 8-byte checksum (plain) or a 24-byte nonce and a 16-byte tag
 * (sealed); a message travels in a message frame (3 bytes) holding a body header (18 bytes) and
 * the target actor's name before the CBOR payload, or, when it does not fit one datagram, in
 * fragment frames (19 bytes each). Datagrams are at most WIRE_MTU bytes (au_node_config.mtu's
 * default: a node with another mtu is counted as if at the default). */
#define WIRE_MTU 1400u
#define WIRE_DGRAM_PLAIN 28u
#define WIRE_DGRAM_SEALED 60u
#define WIRE_MSG_FRAME 3u
#define WIRE_FRAG_FRAME 19u
#define WIRE_BODY_HEADER 18u

/* The size of a CBOR head for an argument n (RFC 8949 §3). */
static size_t cbor_head(uint64_t n) {
    return n < 24 ? 1 : n <= 0xff ? 2 : n <= 0xffff ? 3 : n <= 0xffffffffu ? 5 : 9;
}

/* The datagram bytes msg takes to s->actor_name's peer, as if it went in datagrams of its own
 * (an upper bound: the transport may pack it with other messages to the same node, sharing one
 * header). The payload is encoded once more without its CRDT bytes (small), and the byte
 * strings' sizes added, so a large state is not encoded twice; 0 if that fails. */
static size_t wire_cost(sh_state *s, const sh_wire *msg) {
    sh_wire skel = *msg;
    size_t extra = 0;
    if (msg->tag == sh_wire_delta) {
        const sh_delta *d = &msg->delta;
        skel.delta.data = (au_bytes){ 0 };
        skel.delta.rest = (au_bytes_array){ 0 };
        extra = cbor_head(d->data.len) - 1 + d->data.len;
        if (d->rest.len) {
            extra += cbor_head(d->rest.len) - 1;
            for (uint32_t i = 0; i < d->rest.len; i++)
                extra += cbor_head(d->rest.ptr[i].len) + d->rest.ptr[i].len;
        }
    }
    au_buf b = { 0 };
    au_err e = au_value_encode(&au_type_sh_wire, &skel, &b);
    size_t payload = b.len + extra;
    au_buf_free(&b);
    if (e != AU_OK) return 0;
    size_t dgram = au_node_sealed(s->node) ? WIRE_DGRAM_SEALED : WIRE_DGRAM_PLAIN;
    size_t frames = WIRE_MTU - dgram;
    size_t body = WIRE_BODY_HEADER + strlen(s->actor_name) + payload;
    if (WIRE_MSG_FRAME + body <= frames) return dgram + WIRE_MSG_FRAME + body;
    size_t chunk = frames - WIRE_FRAG_FRAME, n = (body + chunk - 1) / chunk;
    return body + n * (WIRE_FRAG_FRAME + dgram);
}

/* Sends msg (moved) to `to`: AU_OK, or au_send's error (logged at DEBUG; the callers undo
 * what the send was to record). */
static au_err send_wire(sh_state *s, sh_wire_ref to, sh_wire msg) {
    if (au_ref_is_null(to.raw)) {
        if (msg.tag == sh_wire_delta) {
            au_bytes_free(&msg.delta.data);
            au_bytes_free(&msg.delta.via);
            for (uint32_t i = 0; i < msg.delta.rest.len; i++) au_bytes_free(&msg.delta.rest.ptr[i]);
            free(msg.delta.rest.ptr);
        }
        if (msg.tag == sh_wire_relay) au_bytes_free(&msg.relay.to);
        return AU_EINVAL;
    }
    size_t cost = wire_cost(s, &msg);
    au_err e = au_send(to, msg);
    if (e == AU_OK) {
        stat_add(&s->h->wire_bytes, cost);
        stat_add(&s->h->wire_messages, 1);
    }
    if (e != AU_OK)
        LOG(AU_LOG_DEBUG, "crdt %s: send failed: %s", s->cfg.name, au_strerror(e));
    return e;
}

/* 64-bit member ids and clocks on the wire, little endian (vias, relays). */
static void put_le(uint8_t *b, uint64_t v) {
    for (int k = 0; k < 8; k++) b[k] = (uint8_t)(v >> (8 * k));
}
static uint64_t get_le(const uint8_t *b) {
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v |= (uint64_t)b[k] << (8 * k);
    return v;
}

/* Appends q's entry (its id and rx) to a via being built. */
static void via_put(uint8_t *tmp, size_t *n, sh_peer *p, const sh_peer *q) {
    put_le(tmp + *n, q->id);
    *n += 8;
    uint64_t v = q->rx;
    do {
        tmp[(*n)++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    kn_raise(p->told, q->id, q->rx);
}

/* An ack for p's deltas [*base, *clock) about to leave (alone or riding), folded with our rx
 * of p (X ⊒ the join of p's deltas below rx): once rx reaches base we have every delta of p's
 * below max(clock, rx) outright, so the ack becomes that, unconditional (base 0: one byte), and
 * p's own via entry, which would say the same, is not sent (its told is raised). */
static void ack_fold(sh_peer *p, uint64_t *base, uint64_t *clock) {
    if (!*clock || p->rx < *base) return;
    *base = 0;
    if (p->rx > *clock) *clock = p->rx;
    kn_raise(p->told, p->id, *clock);
}

/* The vias for p: the members whose deltas we have further than we last told p (at most
 * VIA_MAX; the rest go with a later send). An entry for p itself tells p how far we have its
 * deltas, whoever brought them. Layout: count (1 byte), then per entry the id (8 bytes, little
 * endian) and the clock (LEB128). With own, p's own entry goes first, even if
 * told already (a vouch: vouch_round). */
static au_bytes make_via_(sh_state *s, sh_peer *p, bool own) {
    uint8_t tmp[1 + VIA_MAX * 18];
    size_t n = 1;
    uint8_t cnt = 0;
    if (own && p->rx) via_put(tmp, &n, p, p), cnt++;
    for (size_t i = 0; i < s->npeers && cnt < VIA_MAX; i++) {
        sh_peer *q = &s->peers[i];
        if ((own && q == p) || !q->rx || q->rx <= kn_get(p->told, q->id)) continue;
        via_put(tmp, &n, p, q);
        cnt++;
    }
    if (!cnt) return (au_bytes){ 0 };
    tmp[0] = cnt;
    return au_bytes_dup(tmp, n);
}
static au_bytes make_via(sh_state *s, sh_peer *p) { return make_via_(s, p, false); }

bool sh_read_via(const au_bytes *b, sh_kn *out, size_t *n) {
    *n = 0;
    if (!b->len) return true;
    const uint8_t *p = b->ptr, *end = b->ptr + b->len;
    size_t cnt = *p++;
    if (cnt > VIA_MAX_RX) return false;
    for (size_t i = 0; i < cnt; i++) {
        if (end - p < 9) return false;
        uint64_t id = get_le(p), v = 0;
        p += 8;
        for (int sh = 0;; sh += 7) {
            if (p == end || sh > 63) return false;
            uint8_t c = *p++;
            if (sh == 63 && c > 1) return false; /* more than 64 bits */
            v |= (uint64_t)(c & 0x7f) << sh;
            if (!(c & 0x80)) {
                if (c == 0 && sh) return false; /* non-minimal: one value, one encoding */
                break;
            }
        }
        if (!id || !v) return false;
        out[(*n)++] = (sh_kn){ id, v };
    }
    return p == end;
}

/* Logs a delta group or state of len bytes for p that is too big to send: above max_message
 * (limit), or above what the node's transport takes (the node's max_message_size below it). */
static void log_too_big(sh_state *s, sh_peer *p, bool full, size_t len, const char *what) {
    stat_add(&s->h->drops_too_big, 1);
    if (log_drop(s))
        LOG(AU_LOG_WARN, "crdt %s: %s of %zu bytes for %s exceeds %s; not sent", s->cfg.name,
            full ? "state" : "delta group", len, p->addr, what);
}

/* Sends an encoded delta group or state (buf, taken) to p: kind SH_GROUP, SH_WHOLE (a group of
 * every delta of [base, clock) that p may lack) or SH_FULL. AU_OK once sent; AU_ETOOBIG if it
 * is above max_message or the node's transport refuses it as too big (counted in
 * drops_too_big and logged); another error if au_send failed otherwise. A send that fails
 * leaves p as it was: the ack that would have ridden on it still waits, and nothing of it is
 * counted as sent. */
static au_err send_payload(sh_state *s, sh_peer *p, au_buf *b, uint64_t base, uint8_t kind,
                           bool fwd) {
    bool full = kind == SH_FULL;
    if (b->len > s->cfg.max_message) {
        char what[40];
        snprintf(what, sizeof what, "max_message (%zu)", s->cfg.max_message);
        log_too_big(s, p, full, b->len, what);
        au_buf_free(b);
        return AU_ETOOBIG;
    }
    size_t len = b->len;
    au_bytes data = au_bytes_dup(b->data, len < SH_CHUNK ? len : SH_CHUNK);
    au_bytes_array rest = { 0 };
    if (len > SH_CHUNK) {
        size_t n = (len - SH_CHUNK + SH_CHUNK - 1) / SH_CHUNK;
        rest.ptr = calloc(n, sizeof *rest.ptr);
        rest.owned = 1;
        for (size_t i = 0; rest.ptr && i < n; i++) {
            size_t off = SH_CHUNK * (i + 1), l = len - off < SH_CHUNK ? len - off : SH_CHUNK;
            rest.ptr[i] = au_bytes_dup(b->data + off, l);
            rest.len++;
            if (!rest.ptr[i].ptr) { free(rest.ptr); rest.ptr = NULL; }
        }
        if (!rest.ptr) {
            for (uint32_t i = 0; i + 1 < rest.len; i++) au_bytes_free(&rest.ptr[i]);
            au_bytes_free(&data);
            au_buf_free(b);
            return AU_ENOMEM;
        }
    }
    au_buf_free(b);
    if (!data.ptr && len) {
        for (uint32_t i = 0; i < rest.len; i++) au_bytes_free(&rest.ptr[i]);
        free(rest.ptr);
        return AU_ENOMEM;
    }
    /* an ack waiting for p rides along (it covers every delta of p's received since the last);
     * what the send records of p is kept, to be restored if it fails */
    sh_kn told[KN_MAX];
    memcpy(told, p->told, sizeof told);
    uint64_t ab = p->ack_base, ac = p->ack_clock;
    ack_fold(p, &ab, &ac);
    /* our id goes with our address, and always once an id-less send to p went unacked */
    bool id = p->meta || p->need_id;
    au_err e = send_wire(s, p->ref, (sh_wire){ .tag = sh_wire_delta, .delta = {
        .from = au_str_view(p->meta ? s->addr : ""), .id = id ? s->me : 0,
        .type = p->meta ? s->type_hash : 0, .base = base, .clock = s->clock, .ack_base = ab,
        .ack_clock = ac, .full = kind, .data = data, .rest = rest, .via = make_via(s, p) } });
    if (e != AU_OK) {
        memcpy(p->told, told, sizeof told); /* p was told nothing */
        if (e == AU_ETOOBIG) log_too_big(s, p, full, len, "the node's max_message_size");
        return e;
    }
    LOG(AU_LOG_DEBUG, "crdt %s: %016llx -> %s %s [%llu, %llu) %u bytes", s->cfg.name,
        (unsigned long long)s->me, p->addr, full ? "state" : "deltas", (unsigned long long)base,
        (unsigned long long)s->clock, (unsigned)len);
    if (!p->behind_at) p->behind_at = now_of(s); /* it lacks what we send it, until it acks */
    if (!p->first_sent_at) p->first_sent_at = now_of(s);
    p->behind_to = s->clock;
    stat_add(&s->h->bytes_sent, len);
    if (fwd) stat_add(&s->h->bytes_forwarded, len);
    stat_add(full ? &s->h->states_sent : &s->h->deltas_sent, 1);
    if (ac) stat_add(&s->h->acks_sent, 1);
    if (ac > p->acked_to) p->acked_to = ac;
    p->ack_base = p->ack_clock = 0;
    p->sent_anon = !id;
    return AU_OK;
}

/* Sends X, encoded in b (taken), to p: send_payload's result. The attempt is recorded either
 * way (full_at paces the next one, full_wait). */
static au_err send_state(sh_state *s, sh_peer *p, au_buf *b, au_nanos now) {
    p->full_at = now;
    p->sent_at = now;
    p->sent_clock = s->clock;
    p->full_bytes = b->len;
    return send_payload(s, p, b, 0, SH_FULL, false);
}

static au_err send_full(sh_state *s, sh_peer *p, au_nanos now) {
    au_buf b = { 0 };
    au_err e = s->t->encode(s->h->state, &b);
    if (e != AU_OK) { au_buf_free(&b); return e; }
    s->state_len = b.len;
    return send_state(s, p, &b, now);
}

/* A full state is re-sent no sooner than one timeout per 64 KiB of it: the peer needs time to
 * reassemble, decode and join a large state, and re-sending megabytes every timeout would only
 * fill its socket buffer. */
static au_nanos full_wait(sh_state *s, const sh_peer *p, au_nanos wait) {
    au_nanos by_size = s->cfg.timeout * (au_nanos)(1 + p->full_bytes / 65536);
    return by_size > wait ? by_size : wait;
}

/* The group for p is too big to send (above max_message, or above what the node's transport
 * takes; counted in drops_too_big and logged by the caller): p is served the full state
 * instead (p->big), which may be far smaller (a delta group keeps every element removed within
 * it as a tomb, the state keeps nothing of them) — now, unless a full state went to p within
 * full_wait, and from then on by sendable, as long as no ack of p's moves. A state too big as
 * well is not sent either (send_payload counts and logs it) and is tried again every
 * full_wait, so p catches up once the state has shrunk below the limit. */
static void group_too_big(sh_state *s, sh_peer *p, au_nanos now) {
    p->big = true;
    if (!p->full_at || now - p->full_at >= full_wait(s, p, resend_wait(s) << p->backoff))
        send_full(s, p, now);
}

/* A delta received from a member is not forwarded to every peer: that member sends it to every
 * member itself and re-sends until each one acks, so a forwarded copy would cross the wire only
 * to be found redundant (it was ~4/5 of the All traffic in a 6-node mesh, and 2/3 of
 * OUT_OF_DATE's payload). Under All it is not forwarded at all; under OUT_OF_DATE only in the
 * next `pushes` groups this replica sends (default 0: an epidemic push cost twice the bytes for
 * 3-27 % lower latency at 6-24 nodes, docs/benchmarks.md, "Pushes"). Deltas whose sender is
 * not (or no longer) a member are forwarded as before. If a sender we relied on is removed
 * before it reached everyone, a peer that acked past one of its deltas may lack it: on_update
 * then rewinds such peers (rewind_for: to the first delta left out while it is buffered, else to
 * 0, the catch-up from the buffer or a full state). If the sender says it cannot reach the
 * peer `to` (on_relay), its deltas are passed on to that peer. Every node must use the same
 * selector (include/aurum/crdt_share.h). */
static bool relied_on(sh_state *s, sh_dent *e, uint64_t k, const sh_peer *to, au_nanos now,
                      bool *pushed) {
    if (e->origin == 0 || (s->cfg.selector == AU_SHARE_OUT_OF_DATE && s->cfg.forward_all))
        return false;
    sh_peer *o = peer_by_id(s, e->origin);
    if (!o || unreach_has(o, to->id, now)) return false;
    if (s->cfg.selector != AU_SHARE_ALL && e->pushes) {
        e->pushes--;
        *pushed = true;
        return false;
    }
    if (!o->relied || k < o->relied_lo) o->relied_lo = k;
    if (!o->relied || e->src_clock > o->relied_src) o->relied_src = e->src_clock;
    o->relied = true;
    return true;
}

/* Does p have e already: it came from p, or from a member whose deltas p has as far as e's? */
static bool has_it(const sh_peer *p, const sh_dent *e) {
    if (e->origin == 0) return false;
    if (e->origin == p->id) return true; /* it sent it (no back-propagation) */
    return e->src_clock != UINT64_MAX && kn_get(p->kn, e->origin) >= e->src_clock;
}

/* The join of D[base, clock) less what p has (has_it), encoded and sent. A group that leaves
 * nothing out is the same for every such peer: the last one is kept encoded (re-sends to peers
 * that do not answer, and peers at the same clock, then cost a copy, not a join). */
static void send_group(sh_state *s, sh_peer *p, uint64_t base, au_nanos now) {
    /* a peer some origin cannot reach gets that origin's deltas too: its group is its own */
    bool from_p = relaying_to(s, p, now);
    for (uint64_t k = base; k < s->clock && !from_p; k++) from_p = has_it(p, dent(s, k));
    if (!from_p && s->cache.len && s->cache_base == base && s->cache_clock == s->clock) {
        au_buf b = { 0 };
        if (au_buf_append(&b, s->cache.data, s->cache.len) != AU_OK) return;
        p->sent_at = now;
        p->sent_clock = s->clock;
        if (send_payload(s, p, &b, base, s->cache_whole ? SH_WHOLE : SH_GROUP, s->cache_fwd) ==
            AU_ETOOBIG) {
            s->cache.len = 0;
            group_too_big(s, p, now);
        }
        return;
    }
    void *acc = s->t->create(s->t, true);
    if (!acc) return;
    bool any = false, fwd = false, whole = true, pushed = false;
    for (uint64_t k = base; k < s->clock; k++) {
        sh_dent *e = dent(s, k);
        if (has_it(p, e)) continue;
        if (relied_on(s, e, k, p, now, &pushed)) { whole = false; continue; } /* its sender sends it to p */
        if (s->t->join(acc, e->d) != AU_OK) { s->t->free(acc); return; }
        any = true;
        fwd |= e->origin != 0;
    }
    p->sent_at = now;
    p->sent_clock = s->clock;
    if (!any) {
        /* everything in the range came from p itself or is sent to p by its sender */
        if (base <= p->acked) advance(p, s->clock);
        /* nothing of ours left to send it (it has all we last sent, by its word through others
         * at least): not behind — unless relayers are at work for it, whose episode only a
         * direct ack ends (else each restart would cost it their full states again) */
        if (p->acked >= p->behind_to && !p->relayers[0] && !p->relayers[1]) p->behind_at = 0;
        s->t->free(acc);
        return;
    }
    au_buf b = { 0 };
    au_err e = s->t->encode(acc, &b);
    s->t->free(acc);
    if (e != AU_OK) { au_buf_free(&b); return; }
    if (b.len > STATE_INSTEAD && b.len > s->state_len) {
        /* A group can be far larger than the state: one element added again and again keeps a
         * tomb per add in it (orset.c), none in the state. Then p gets the state (X ⊒ the
         * group), once that is smaller. X is encoded for this only while the group is larger
         * than X was when last encoded, so a large state is not encoded for every group. */
        au_buf x = { 0 };
        if (s->t->encode(s->h->state, &x) == AU_OK) {
            s->state_len = x.len;
            if (x.len < b.len && x.len <= s->cfg.max_message) {
                au_buf_free(&b);
                /* refused as too big by the transport: so is the group, larger still; p is
                 * served the full state at its pace (big), as after a group too big below,
                 * not deltas from a clock it never got to */
                if (send_state(s, p, &x, now) == AU_ETOOBIG) group_too_big(s, p, now);
                return;
            }
        }
        au_buf_free(&x);
    }
    if (b.len > s->cfg.max_message) { /* never cached: the next peer would only try it again */
        char what[40];
        snprintf(what, sizeof what, "max_message (%zu)", s->cfg.max_message);
        log_too_big(s, p, false, b.len, what);
        au_buf_free(&b);
        group_too_big(s, p, now);
        return;
    }
    if (!from_p) {
        s->cache.len = 0;
        /* a group that used a push is not the one the next peer gets */
        if (!pushed && au_buf_append(&s->cache, b.data, b.len) == AU_OK) {
            s->cache_base = base;
            s->cache_clock = s->clock;
            s->cache_fwd = fwd;
            s->cache_whole = whole;
        } else {
            s->cache.len = 0;
        }
    }
    if (send_payload(s, p, &b, base, whole ? SH_WHOLE : SH_GROUP, fwd) == AU_ETOOBIG) {
        s->cache.len = 0; /* the next peer's transport would refuse it too */
        group_too_big(s, p, now);
    }
}

static void arm_tick(sh_state *s) {
    if (s->tick_armed) return;
    if (au_send_after(s->self, resend_wait(s), (sh_msg){ .tag = sh_msg_tick })) s->tick_armed = true;
}

/* How long a type refusal holds. Without a cluster key anyone who can send from a member's
 * address can forge one: it must not cut that member off for good, so it lapses, and the
 * member is tried again (a real mismatch refuses again: one send per hold; a forged refusal is
 * over). */
static au_nanos foreign_hold(sh_state *s) {
    au_nanos h = mul_sat(resend_wait(s), FOREIGN_HOLD_WAITS);
    return h > FOREIGN_HOLD_MIN ? h : FOREIGN_HOLD_MIN;
}

/* Is anything owed to a peer (the tick goes on while it is)? A foreign peer behind counts: the
 * tick is what tries it again once its refusal's hold is over (sendable). */
static bool outstanding(sh_state *s) {
    for (size_t i = 0; i < s->npeers; i++)
        if (s->peers[i].acked < s->clock) return true;
    return false;
}

/* Can p be sent to now, and what: 1 deltas, 2 full state, 0 nothing. A member that never
 * acked anything (new or returning) or fell behind the buffer is catching up: at first only its
 * catch-up sources serve it, the others once catchup_delay has passed (and then at most once per
 * catchup_delay each). One whose group did not fit max_message (big) gets the full state, at
 * the pace of full states (full_wait). */
static int sendable(sh_state *s, sh_peer *p, au_nanos now) {
    if (p->foreign && now - p->foreign_at >= foreign_hold(s)) p->foreign = false; /* try again */
    if (p->acked >= s->clock || p->foreign) return 0;
    bool behind = p->acked < s->gc;
    int what = behind || p->big ? 2 : 1; /* big: its group did not fit (group_too_big) */
    if (silent(s, p, now)) /* changes or not: only once its backed-off wait is over */
        return !p->sent_at || now - p->sent_at >= full_wait(s, p, resend_wait(s) << p->backoff)
                   ? what : 0;
    bool catching_up = behind || (!p->heard && !p->vouched);
    if (!catching_up || is_source(s, p)) {
        au_nanos wait = resend_wait(s) << p->backoff;
        if (what == 1) return (p->sent_clock < s->clock || now - p->sent_at >= wait) ? 1 : 0;
        return (!p->full_at || now - p->full_at >= full_wait(s, p, wait)) ? 2 : 0;
    }
    if (now - p->added_at >= s->cfg.catchup_delay &&
        (!p->sent_at || now - p->sent_at >= full_wait(s, p, resend_wait(s) << p->backoff)))
        return what;
    return 0;
}

static void serve(sh_state *s, sh_peer *p, int what, au_nanos now) {
    p->meta = need_meta(s, p, now);
    if (p->meta && p->heard && p->sent_anon) p->need_id = true;
    /* a re-send of what it had already been sent: back off until it answers */
    if (p->sent_clock >= s->clock) {
        /* what a buffer that is never collected needs to be told from a lossy link (debug) */
        LOG(AU_LOG_DEBUG, "crdt %s: %016llx re-sends to %s: acked %llu of %llu (gc %llu), heard %d,"
            " meta %d, backoff %u, pending acks [%llu, %llu) [%llu, %llu) [%llu, %llu) [%llu, %llu)",
            s->cfg.name, (unsigned long long)s->me, p->addr, (unsigned long long)p->acked,
            (unsigned long long)s->clock, (unsigned long long)s->gc, p->heard, p->meta, p->backoff,
            (unsigned long long)p->pend[0].base, (unsigned long long)p->pend[0].clock,
            (unsigned long long)p->pend[1].base, (unsigned long long)p->pend[1].clock,
            (unsigned long long)p->pend[2].base, (unsigned long long)p->pend[2].clock,
            (unsigned long long)p->pend[3].base, (unsigned long long)p->pend[3].clock);
        if (p->backoff < BACKOFF_MAX) p->backoff++;
    }
    if (silent(s, p, now) && p->backoff < SILENT_BACKOFF) p->backoff++; /* any send unanswered */
    if (what == 2) { send_full(s, p, now); return; }
    /* a recent send still in flight: only what is new since; else everything unacked */
    uint64_t base = p->acked;
    if (p->sent_clock > p->acked && p->sent_clock < s->clock && now - p->sent_at < resend_wait(s) &&
        p->sent_clock >= s->gc)
        base = p->sent_clock;
    send_group(s, p, base, now);
}

static int cmp_ood(const void *a, const void *b) {
    const sh_peer *x = *(sh_peer *const *)a, *y = *(sh_peer *const *)b;
    if (x->acked != y->acked) return x->acked < y->acked ? -1 : 1;
    if (x->sent_at != y->sent_at) return x->sent_at < y->sent_at ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* One dispersal round. */
static void disperse(sh_state *s) {
    if (!s->joined || !s->npeers) return;
    au_nanos now = now_of(s);
    sh_peer **cand = malloc(s->npeers * sizeof *cand);
    if (!cand) { arm_tick(s); return; }
    size_t nc = 0;
    for (size_t i = 0; i < s->npeers; i++) {
        sh_peer *p = &s->peers[i];
        int w = sendable(s, p, now);
        if (!w) continue;
        if (p->priority) { serve(s, p, w, now); continue; }
        cand[nc++] = p;
    }
    if (s->cfg.selector == AU_SHARE_ALL) {
        for (size_t i = 0; i < nc; i++) serve(s, cand[i], sendable(s, cand[i], now), now);
    } else {
        qsort(cand, nc, sizeof *cand, cmp_ood);
        for (size_t i = 0; i < nc && i < s->cfg.amount; i++)
            serve(s, cand[i], sendable(s, cand[i], now), now);
    }
    free(cand);
    collect(s);
    if (outstanding(s)) arm_tick(s);
}

static void want_flush(sh_state *s) {
    if (s->flush_pending) return;
    sh_msg m = { .tag = sh_msg_flush };
    if (s->cfg.coalesce ? au_send_after(s->self, s->cfg.coalesce, m) != 0
                        : au_send(s->self, m) == AU_OK)
        s->flush_pending = true;
}

/* ---- acks --------------------------------------------------------------------------------------- */

/* An ack alone; to a member p it carries our vias for it too (make_via). AU_OK once sent (a
 * failed send tells p nothing: its told is as before). */
static au_err send_ack(sh_state *s, sh_wire_ref to, sh_peer *p, uint64_t base, uint64_t clock) {
    LOG(AU_LOG_DEBUG, "crdt %s: %016llx acks [%llu, %llu) to %s", s->cfg.name,
        (unsigned long long)s->me, (unsigned long long)base, (unsigned long long)clock,
        p ? p->addr : "a sender that is not a member");
    if (au_ref_is_null(to.raw)) return AU_EINVAL;
    sh_kn told[KN_MAX];
    if (p) memcpy(told, p->told, sizeof told);
    /* the ack's from stays empty: the receiver finds us by id (on_ack), the address is unused */
    au_bytes via = p ? make_via(s, p) : (au_bytes){ 0 };
    au_err e = send_wire(s, to, (sh_wire){ .tag = sh_wire_ack, .ack = { .from = au_str_view(""),
        .id = p && !p->ack_id ? 0 : s->me, .base = base, .clock = clock, .via = via } });
    if (e == AU_OK) stat_add(&s->h->acks_sent, 1);
    else if (p) memcpy(p->told, told, sizeof told);
    return e;
}

/* Sends the ack waiting for p; one that cannot be sent keeps waiting (it rides on the next
 * delta to p, or goes with the next ack timer). */
static void flush_ack(sh_state *s, sh_peer *p) {
    if (!p->ack_clock) return;
    sh_kn told[KN_MAX];
    memcpy(told, p->told, sizeof told);
    uint64_t base = p->ack_base, clock = p->ack_clock;
    ack_fold(p, &base, &clock);
    if (send_ack(s, p->ref, p, base, clock) != AU_OK) {
        memcpy(p->told, told, sizeof told);
        return;
    }
    if (clock > p->acked_to) p->acked_to = clock;
    p->ack_base = p->ack_clock = 0;
}

/* p's deltas [base, clock) are in X: ack them within ack_delay, on a delta to p if one leaves
 * by then (send_payload), else alone (sh_msg_acktick). Overlapping or adjacent ranges merge:
 * "everything up to clock1 given base1" and "up to clock2 given base2" with base2 ≤ clock1 and
 * base1 ≤ clock2 give "up to max(clock1, clock2) given min(base1, base2)"; a range apart from
 * the waiting one sends that one first. */
static void queue_ack(sh_state *s, sh_peer *p, uint64_t base, uint64_t clock) {
    if (p->ack_clock && (base > p->ack_clock || p->ack_base > clock)) flush_ack(s, p);
    if (!p->ack_clock) {
        p->ack_base = base;
        p->ack_clock = clock;
        p->ack_at = now_of(s);
    } else {
        if (base < p->ack_base) p->ack_base = base;
        if (clock > p->ack_clock) p->ack_clock = clock;
    }
    if (s->cfg.ack_delay == 0) { flush_ack(s, p); return; }
    if (s->ack_armed) return;
    if (au_send_after(s->self, s->cfg.ack_delay, (sh_msg){ .tag = sh_msg_acktick }))
        s->ack_armed = true;
    else
        flush_ack(s, p);
}

/* Sends the acks that have waited ack_delay; the timer is re-armed for the next one due (an
 * ack queued just before the tick still gets its chance to ride). */
static void on_acktick(sh_state *s) {
    s->ack_armed = false;
    au_nanos now = now_of(s), next = 0;
    for (size_t i = 0; i < s->npeers; i++) {
        sh_peer *p = &s->peers[i];
        if (!p->ack_clock) continue;
        if (now - p->ack_at >= s->cfg.ack_delay) { flush_ack(s, p); continue; }
        au_nanos left = p->ack_at + s->cfg.ack_delay - now;
        if (!next || left < next) next = left;
    }
    if (!next) return;
    if (au_send_after(s->self, next, (sh_msg){ .tag = sh_msg_acktick })) s->ack_armed = true;
    else
        for (size_t i = 0; i < s->npeers; i++) flush_ack(s, &s->peers[i]);
}

/* ---- vouching while catching up ----------------------------------------------------------------- */

/* A full state (or whole group) from p told us how far we have other members' deltas: their
 * rx, from p's vias ("p has every delta of m below clock": p's X ⊒ the join of m's buffer
 * positions below it, whoever brought them to m; having joined p's state, so does ours). A
 * member m we have not heard from yet (we are catching up: new or returning) would serve us its
 * full state once catchup_delay has passed. Instead we vouch to it: an ack without clock (base
 * and clock 0) with our id (it may not know our source address) whose via names m itself with
 * our rx for it. m counts its deltas below that as acked (take_via) and serves deltas from
 * there — or nothing — at once; only if its buffer no longer reaches back that far (its gc is
 * above our rx) does it still need the full state, as before. A vouch is a claim about X alone,
 * so it is as sound as the vias it repeats. It is re-sent (the first may be lost, or reach m
 * before m has us as a member, and then be ignored) every resend_wait, doubling up to 8×, while
 * m stays silent (no ack, no delta from it), until catchup_delay after our last full state:
 * a lost vouch costs only that full state. Not to a member at our own address (an earlier run
 * of this node). */
/* X's digest for a vouch (never 0: 0 on the wire means "none"), cached until X changes; 0 if
 * the type has no digest. */
static uint64_t vouch_digest(sh_state *s) {
    if (!s->t->digest) return 0;
    if (!s->dig || s->dig_gen != s->xgen) {
        uint64_t d = s->t->digest(s->h->state);
        s->dig = d ? d : 1;
        s->dig_gen = s->xgen;
    }
    return s->dig;
}

static void vouch_round(sh_state *s, au_nanos now) {
    if (!s->vouch_until || now >= s->vouch_until) { s->vouch_until = 0; return; }
    bool pending = false;
    for (size_t i = 0; i < s->npeers; i++) {
        sh_peer *q = &s->peers[i];
        if (q->heard || q->served || q->foreign || strcmp(q->addr, s->addr) == 0) continue;
        uint64_t dig = vouch_digest(s);
        if (!q->rx && !dig) continue;
        pending = true;
        if (q->vouch_at > now) continue;
        sh_kn told[KN_MAX];
        memcpy(told, q->told, sizeof told);
        au_bytes via = make_via_(s, q, true);
        if (!via.len && !dig) continue;
        LOG(AU_LOG_DEBUG, "crdt %s: %016llx vouches to %s for its deltas below %llu, digest %016llx",
            s->cfg.name, (unsigned long long)s->me, q->addr, (unsigned long long)q->rx,
            (unsigned long long)dig);
        if (send_wire(s, q->ref, (sh_wire){ .tag = sh_wire_ack, .ack = { .from = au_str_view(""),
                .id = s->me, .base = dig, .clock = 0, .via = via } }) != AU_OK) {
            memcpy(q->told, told, sizeof told);
            continue; /* tried again at the next tick (pending) */
        }
        stat_add(&s->h->acks_sent, 1);
        unsigned k = q->vouches < 3 ? q->vouches : 3;
        q->vouches++;
        q->vouch_at = now + (resend_wait(s) << k);
    }
    if (pending) arm_tick(s);
}

/* ---- receiving -------------------------------------------------------------------------------- */

static void take_via(sh_state *s, sh_peer *p, const sh_kn *via, size_t nvia, bool vouch);

bool sh_delta_ok(const sh_delta *d, sh_kn *via, size_t *nvia) {
    return d->from.len <= ADDR_MAX && d->base <= d->clock && d->full <= SH_WHOLE &&
           (d->full != SH_FULL || d->base == 0) && sh_read_via(&d->via, via, nvia);
}

au_err sh_delta_payload(const au_crdt_type *t, size_t max_message, const sh_delta *d,
                        size_t *total, void **obj) {
    *obj = NULL;
    size_t n = d->data.len;
    for (uint32_t i = 0; i < d->rest.len; i++) n += d->rest.ptr[i].len;
    *total = n;
    if (n > max_message) return AU_ETOOBIG;
    const uint8_t *bytes = d->data.ptr;
    uint8_t *joined = NULL;
    if (d->rest.len) {
        if (!(joined = malloc(n ? n : 1))) return AU_ENOMEM;
        size_t off = d->data.len;
        if (d->data.len) memcpy(joined, d->data.ptr, d->data.len);
        for (uint32_t i = 0; i < d->rest.len; i++) {
            if (d->rest.ptr[i].len) memcpy(joined + off, d->rest.ptr[i].ptr, d->rest.ptr[i].len);
            off += d->rest.ptr[i].len;
        }
        bytes = joined;
    }
    au_err err = t->decode(t, bytes, n, obj);
    free(joined);
    if (err == AU_OK && !*obj) err = AU_EDECODE;
    if (err == AU_ENOMEM || err == AU_ETOOBIG) err = AU_EDECODE; /* a decoder's own refusal */
    return err;
}

/* A delta of another CRDT type came from member p: tell it, so that it stops sending and
 * buffering for us (on_refusal) — once, and again at most every REFUSE_EVERY re-send waits
 * while its deltas keep coming (the first answer may be lost). A type refusal is an ack with
 * base and clock 0 whose `from`, empty in every other ack, holds our CRDT type's name
 * (docs/wire-format.md §1.6); a replica that does not know it takes it for an empty vouch,
 * which changes nothing. */
static void refuse_type(sh_state *s, sh_peer *p) {
    au_nanos now = now_of(s);
    if (p->refused_at && now - p->refused_at < mul_sat(resend_wait(s), REFUSE_EVERY)) return;
    const char *name = s->t->name;
    size_t len = strlen(name);
    if (len == 0 || len > TYPE_NAME_MAX) return;
    if (send_wire(s, p->ref, (sh_wire){ .tag = sh_wire_ack,
            .ack = { .from = au_str_view(name), .id = s->me, .base = 0, .clock = 0,
                     .via = { 0 } } }) == AU_OK)
        p->refused_at = now;
}

/* Member p told us it holds this name as another CRDT type (refuse_type): believed only from
 * p's own address (without a cluster key anyone could write p's id) and for a name whose hash
 * is not ours. From then on nothing is sent to p and the buffer is not held for its acks
 * (foreign); counted once (peers_type_mismatch) and logged once, until p shows our type. */
static void on_refusal(sh_state *s, sh_peer *p, const sh_ack *a) {
    if (a->from.len > TYPE_NAME_MAX || a->base || a->clock || !a->id || peer_by_origin(s) != p ||
        (uint32_t)XXH3_64bits(a->from.ptr, a->from.len) == s->type_hash) {
        stat_add(&s->h->drops_invalid, 1);
        if (log_drop(s)) LOG(AU_LOG_WARN, "crdt %s: malformed or misdirected type refusal dropped", s->cfg.name);
        return;
    }
    if (p->foreign) return;
    p->foreign = true;
    p->foreign_at = now_of(s);
    p->behind_at = 0; /* nothing outstanding: no relays for it */
    memset(p->relayers, 0, sizeof p->relayers);
    p->ack_base = p->ack_clock = 0;
    if (!p->mismatch_told) { /* once: a refusal again after a hold is the same mismatch */
        p->mismatch_told = true;
        stat_add(&s->h->peers_type_mismatch, 1);
        LOG(AU_LOG_WARN, "crdt %s: member %s holds this name as CRDT type %.*s, this node as %s: "
            "nothing more is sent to it, nor buffered for it (tried again every %llu ms)",
            s->cfg.name, p->addr, (int)a->from.len, a->from.ptr, s->t->name,
            (unsigned long long)(foreign_hold(s) / AU_MSEC(1)));
    }
    collect(s);
}

/* Member p sent a delta of our type, or acked ours: whatever it told us before, it shares this
 * CRDT now (its replica was restarted with our type): it is served again. */
static void not_foreign(sh_state *s, sh_peer *p) {
    if (!p->foreign && !p->mismatch_told) return;
    p->foreign = p->mismatch_told = false;
    LOG(AU_LOG_INFO, "crdt %s: member %s now holds this name as %s: served again", s->cfg.name,
        p->addr, s->t->name);
    want_flush(s);
}

static void on_delta(sh_state *s, sh_delta *d) {
    sh_kn via[VIA_MAX_RX];
    size_t nvia;
    if (!sh_delta_ok(d, via, &nvia)) {
        stat_add(&s->h->drops_invalid, 1);
        if (log_drop(s)) LOG(AU_LOG_WARN, "crdt %s: malformed delta dropped", s->cfg.name);
        return;
    }
    sh_peer *p;
    if (d->id == 0) {
        /* id omitted: the sender is the member at the datagram's source address */
        if (!(p = peer_by_origin(s))) {
            stat_add(&s->h->drops_no_id, 1);
            LOG(AU_LOG_DEBUG, "crdt %s: delta without id from a source that is no member; "
                "not acked", s->cfg.name);
            return;
        }
        d->id = p->id;
    }
    if (d->id == s->me) return; /* our own, looped back */
    p = peer_by_id(s, d->id);
    if (d->type == 0 && !(p && p->typed)) {
        /* no type hash, and none seen from this sender yet: not joined, not acked; it re-sends
         * with its type (and address) when no ack came for a timeout (need_meta) */
        stat_add(&s->h->drops_untyped, 1);
        LOG(AU_LOG_DEBUG, "crdt %s: delta without type from %016llx not checked yet; not acked",
            s->cfg.name, (unsigned long long)d->id);
        return;
    }
    if (d->type != 0 && d->type != s->type_hash) {
        if (p) p->typed = false;
        stat_add(&s->h->drops_type, 1);
        if (log_drop(s))
            LOG(AU_LOG_WARN, "crdt %s: delta from %.*s of another CRDT type dropped", s->cfg.name,
                (int)d->from.len, d->from.ptr);
        if (p) refuse_type(s, p);
        return;
    }
    size_t total;
    void *obj = NULL;
    au_err de = sh_delta_payload(s->t, s->cfg.max_message, d, &total, &obj);
    if (de == AU_ETOOBIG) {
        stat_add(&s->h->drops_too_big, 1);
        if (log_drop(s))
            LOG(AU_LOG_WARN, "crdt %s: delta of %zu bytes from %.*s above max_message dropped",
                s->cfg.name, total, (int)d->from.len, d->from.ptr);
        return;
    }
    if (de == AU_ENOMEM) return; /* not acked: the sender resends */
    if (de != AU_OK) {
        stat_add(&s->h->drops_decode, 1);
        if (log_drop(s))
            LOG(AU_LOG_WARN, "crdt %s: delta from %.*s does not decode; dropped, not acked",
                s->cfg.name, (int)d->from.len, d->from.ptr);
        return;
    }
    stat_add(&s->h->received, 1);
    stat_add(&s->h->bytes_received, total);
    if (p && d->type) p->typed = true;
    if (p) not_foreign(s, p);
    if (p && !p->served && p->backoff > BACKOFF_MAX) p->backoff = BACKOFF_MAX; /* not silent */
    if (p) p->served = true;
    if (p && d->ack_clock) take_ack(s, p, d->ack_base, d->ack_clock, true, true);
    if (p) take_via(s, p, via, nvia, false);
    /* redundancy removal: keep only what X lacks (on ENOMEM obj is still a valid delta ⊑ input,
     * and the join below is still right; only the buffer holds more than needed) */
    (void)s->t->delta_minus(obj, s->h->state);
    bool fresh = !s->t->is_bottom(obj);
    if (fresh) {
        pthread_mutex_lock(&s->h->mu);
        au_err e = s->t->join(s->h->state, obj);
        s->xgen++;
        pthread_mutex_unlock(&s->h->mu);
        if (e != AU_OK) {
            /* X is still valid and at most the join; do not ack, the sender resends */
            s->t->free(obj);
            return;
        }
        push_delta(s, obj, d->id, d->full == SH_FULL ? UINT64_MAX : d->clock);
        s->changed = true;
        stat_set(&s->h->clock, s->clock);
        want_flush(s);
    } else {
        stat_add(&s->h->redundant, 1);
        stat_add(&s->h->redundant_bytes, total);
        s->t->free(obj);
    }
    /* X now has everything p had at d->clock if this was its whole state, or a whole group
     * starting where we already had p's deltas: then it also has what p vouched for */
    if (p && (d->full == SH_FULL || (d->full == SH_WHOLE && d->base <= p->rx))) {
        if (d->clock > p->rx) p->rx = d->clock;
        for (size_t i = 0; i < nvia; i++) {
            sh_peer *q = via[i].id == s->me ? NULL : peer_by_id(s, via[i].id);
            if (q && q != p && via[i].clock > q->rx) q->rx = via[i].clock;
        }
        /* a full state: we are catching up; tell the silent members what we have of theirs */
        if (d->full == SH_FULL) {
            s->vouch_until = now_of(s) + s->cfg.catchup_delay;
            vouch_round(s, now_of(s));
        }
    }
    /* ack: a member's within ack_delay (queue_ack), a sender this node does not know as a member
     * yet at once, to the address it gave */
    sh_wire_ref to;
    if (p) to = p->ref;
    else if (d->from.len == 0) {
        /* not a member (to us) and no address: it cannot be acked now; its sender sends its
         * address again when no ack came for a timeout (send_payload), and that one is acked */
        LOG(AU_LOG_DEBUG, "crdt %s: delta from unknown %016llx without address not acked",
            s->cfg.name, (unsigned long long)d->id);
        return;
    } else {
        char addr[ADDR_MAX + 1];
        memcpy(addr, d->from.ptr, d->from.len);
        addr[d->from.len] = 0;
        to = au_forge(sh_msg, sh_wire, s->node, s->actor_name, addr);
    }
    LOG(AU_LOG_DEBUG, "crdt %s: %016llx <- deltas [%llu, %llu) from %016llx %.*s (%s, %s)", s->cfg.name,
        (unsigned long long)s->me, (unsigned long long)d->base, (unsigned long long)d->clock,
        (unsigned long long)d->id, (int)d->from.len, d->from.ptr, fresh ? "new" : "redundant",
        p ? "member" : "unknown");
    /* a re-send of what we acked already (nothing new, ending at or below our last ack to p):
     * our ack was lost, and p re-sends every timeout + ack_delay until one arrives — ack now
     * rather than hold it for a delta of ours to ride on */
    bool resent = p && !fresh && d->clock <= p->acked_to;
    if (resent) p->ack_id = true; /* it may not know us by source address: name ourselves */
    if (p) queue_ack(s, p, d->base, d->clock);
    else send_ack(s, to, NULL, d->base, d->clock);
    if (resent && p->ack_clock) {
        stat_add(&s->h->acks_again, 1);
        flush_ack(s, p);
    }
}

/* p has everything of ours below clock: record it, with the out-of-order acks it completes. */
static void advance(sh_peer *p, uint64_t clock) {
    if (clock <= p->acked) return;
    p->acked = clock;
    p->backoff = 0;
    p->big = false; /* a group from the new ack may fit */
    for (bool more = true; more;) {
        more = false;
        for (size_t i = 0; i < PENDING_ACKS; i++)
            if (p->pend[i].clock > p->acked && p->pend[i].base <= p->acked) {
                p->acked = p->pend[i].clock;
                p->pend[i] = (sh_range){ 0, 0 };
                more = true;
            }
    }
}

static void on_ack(sh_state *s, sh_ack *a) {
    sh_peer *p = a->id ? peer_by_id(s, a->id) : peer_by_origin(s);
    if (!p) { /* not (or no longer) a member: nothing to track */
        if (!a->id) stat_add(&s->h->drops_no_id, 1);
        return;
    }
    if (a->from.len) { /* acks carry no address: a type refusal (refuse_type) */
        on_refusal(s, p, a);
        return;
    }
    sh_kn via[VIA_MAX_RX];
    size_t nvia;
    if (!sh_read_via(&a->via, via, &nvia)) {
        stat_add(&s->h->drops_invalid, 1);
        if (log_drop(s)) LOG(AU_LOG_WARN, "crdt %s: malformed ack dropped", s->cfg.name);
        return;
    }
    if (a->clock) not_foreign(s, p); /* it took deltas of ours: it has our type */
    /* an ack without clock is a vouch (vouch_round): p catching up says what it has of ours,
     * by its vias and, in base, its state's digest: equal to ours, its X is our X, which holds
     * every delta of ours below our clock */
    bool vouch = a->clock == 0;
    if (!vouch) take_ack(s, p, a->base, a->clock, true, true);
    take_via(s, p, via, nvia, vouch);
    if (vouch && a->base && a->base == vouch_digest(s)) {
        LOG(AU_LOG_DEBUG, "crdt %s: %016llx: %s has our state (digest %016llx): acked to %llu",
            s->cfg.name, (unsigned long long)s->me, p->addr, (unsigned long long)a->base,
            (unsigned long long)s->clock);
        stat_add(&s->h->vouches_matched, 1);
        p->vouched = true;
        take_ack(s, p, 0, s->clock, false, false);
    }
}

/* Member p vouches for what it has: ours (an ack, whoever brought them to it) and others'.
 * From a vouch alone (an ack without clock) it has not heard from us: our sends to it keep our
 * type hash and address (need_meta), but it is served deltas from there at once (sendable). */
static void take_via(sh_state *s, sh_peer *p, const sh_kn *via, size_t nvia, bool vouch) {
    for (size_t i = 0; i < nvia; i++) {
        if (via[i].id == s->me) {
            if (vouch && via[i].clock <= s->clock) {
                if (!p->vouched && p->backoff > BACKOFF_MAX) p->backoff = BACKOFF_MAX; /* not silent */
                p->vouched = true;
            }
            take_ack(s, p, 0, via[i].clock, !vouch, false);
        } else if (via[i].id != p->id) {
            kn_raise(p->kn, via[i].id, via[i].clock);
        }
    }
}

/* An ack from member p, alone (on_ack) or riding on a delta (on_delta); heard: p has been
 * sent something of ours (not a vouch alone); direct: an ack of what we sent it ourselves (not
 * a via entry saying it has our deltas, whoever brought them, nor a vouch): only that shows
 * our link to it works (behind_at, relay_round). */
static void take_ack(sh_state *s, sh_peer *p, uint64_t base, uint64_t clock, bool heard,
                     bool direct) {
    sh_range r = { base, clock };
    sh_range *a = &r;
    if (a->clock > s->clock || a->base > a->clock) {
        stat_add(&s->h->drops_invalid, 1);
        if (log_drop(s)) LOG(AU_LOG_WARN, "crdt %s: ack beyond our clock dropped", s->cfg.name);
        return;
    }
    stat_add(&s->h->acks_received, 1);
    LOG(AU_LOG_DEBUG, "crdt %s: %016llx <- ack [%llu, %llu) from %s (acked %llu)", s->cfg.name,
        (unsigned long long)s->me, (unsigned long long)a->base, (unsigned long long)a->clock,
        p->addr, (unsigned long long)p->acked);
    if (heard) {
        p->heard = true;
        p->heard_at = now_of(s);
    }
    if (direct && p->behind_at) {
        if (a->clock >= p->behind_to) { /* all we sent it: not behind */
            p->behind_at = 0;
            memset(p->relayers, 0, sizeof p->relayers);
        } else if (a->clock > p->acked) {
            p->behind_at = now_of(s); /* it moved: not stuck */
        }
    }
    if (a->clock <= p->acked) return;
    if (a->base > p->acked) {
        /* out of order: remember it until the range before it is acked */
        size_t slot = 0;
        for (size_t i = 0; i < PENDING_ACKS; i++)
            if (p->pend[i].clock < p->pend[slot].clock) slot = i;
        p->pend[slot] = (sh_range){ a->base, a->clock };
        return;
    }
    advance(p, a->clock);
    collect(s);
}

static void on_mutate(sh_state *s, sh_mut *m) {
    void *delta = s->t->create(s->t, true);
    if (!delta) { stat_add(&s->h->mutations_failed, 1); return; }
    pthread_mutex_lock(&s->h->mu);
    au_err e;
    if (m->tramp)
        e = m->tramp(m->fn, s->h->state, delta, s->me, m->arg.ptr, m->arg.len);
    else
        e = ((au_share_mutator)m->fn)(s->h->state, delta, s->me, m->arg.ptr, m->arg.len);
    s->xgen++;
    pthread_mutex_unlock(&s->h->mu);
    if (e != AU_OK) {
        stat_add(&s->h->mutations_failed, 1);
        /* on ENOMEM the delta may hold part of a change X does not have: drop it */
        s->t->free(delta);
        return;
    }
    if (s->t->is_bottom(delta)) { s->t->free(delta); return; }
    push_delta(s, delta, 0, 0);
    stat_add(&s->h->mutations, 1);
    stat_set(&s->h->clock, s->clock);
    s->changed = s->changed_local = true;
    want_flush(s);
}

/* ---- membership and pruning --------------------------------------------------------------------- */

static size_t pruned_home(uint64_t id) {
    return (size_t)XXH3_64bits(&id, sizeof id) & (PRUNED_SLOTS - 1);
}

/* id's slot in the index, or the empty slot where it would go. */
static size_t pruned_find(const sh_pruned *t, uint64_t id) {
    size_t i = pruned_home(id);
    while (t->slot[i] && t->slot[i] != id) i = (i + 1) & (PRUNED_SLOTS - 1);
    return i;
}

static bool was_pruned(sh_state *s, uint64_t id) {
    return s->pruned && id && s->pruned->slot[pruned_find(s->pruned, id)] == id;
}

/* Removes id from the index (backward shift: the entries after it in its probe run move up,
 * so no lookup stops short at the hole). */
static void pruned_unindex(sh_pruned *t, uint64_t id) {
    size_t i = pruned_find(t, id);
    if (t->slot[i] != id) return;
    for (size_t j = i;;) {
        t->slot[i] = 0;
        for (;;) {
            j = (j + 1) & (PRUNED_SLOTS - 1);
            if (!t->slot[j]) return;
            size_t h = pruned_home(t->slot[j]);
            /* the entry at j may fill the hole at i unless its home lies cyclically in (i, j] */
            if (i <= j ? (h <= i || h > j) : (h <= i && h > j)) break;
        }
        t->slot[i] = t->slot[j];
        i = j;
    }
}

/* Remembers id as pruned (the oldest is forgotten beyond PRUNED_MAX). */
static void note_pruned(sh_state *s, uint64_t id) {
    if (!id || was_pruned(s, id)) return;
    if (!s->pruned && !(s->pruned = calloc(1, sizeof *s->pruned))) return; /* a prune again later */
    sh_pruned *t = s->pruned;
    if (t->n == PRUNED_MAX) {
        pruned_unindex(t, t->ring[t->head]);
        t->head = (t->head + 1) % PRUNED_MAX;
        t->n--;
    }
    t->ring[(t->head + t->n++) % PRUNED_MAX] = id;
    t->slot[pruned_find(t, id)] = id;
    stat_set(&s->h->pruned_ids, t->n);
}

static void schedule_prune(sh_state *s, uint64_t id, au_nanos delay) {
    if (!s->t->prune || was_pruned(s, id)) return;
    for (size_t i = 0; i < s->nprunes; i++)
        if (s->prunes[i].id == id) { s->prunes[i].due = now_of(s) + delay; return; }
    if (!grow((void **)&s->prunes, &s->prunes_cap, s->nprunes + 1, sizeof *s->prunes)) return;
    s->prunes[s->nprunes++] = (sh_prune){ id, now_of(s) + delay, false };
    arm_tick(s);
}

/* P3 holds only if this replica's "lowest live member" is everyone's: a member removed as FAILED
 * may be alive on the other side of a partition, whose lowest member would fold the departed
 * count too (counted twice after the heal). So a fold waits while a member removed as FAILED
 * within prune_hold has not come back (ADDED again, as a healed partition's members are);
 * the FAILED removals older than that are forgotten here. Returns the removal that holds it. */
static const sh_fail *fold_hold(sh_state *s, uint64_t departed, au_nanos now) {
    const sh_fail *hold = NULL;
    for (size_t i = 0; i < s->nfails;) {
        if (now - s->fails[i].at >= s->cfg.prune_hold) {
            s->fails[i] = s->fails[--s->nfails];
            continue;
        }
        if (s->fails[i].id != departed && !hold) hold = &s->fails[i];
        i++;
    }
    return hold;
}

static void note_failed(sh_state *s, uint64_t id, bool failed) {
    for (size_t i = 0; i < s->nfails; i++)
        if (s->fails[i].id == id) {
            if (failed) s->fails[i].at = now_of(s);
            else s->fails[i] = s->fails[--s->nfails];
            return;
        }
    if (!failed || s->cfg.prune_hold == AU_SHARE_PRUNE_HOLD_NONE || !s->t->prune_once) return;
    if (s->nfails >= 4096) { /* bounded: past it the oldest is dropped, an earlier fold the cost */
        size_t o = 0;
        for (size_t i = 1; i < s->nfails; i++)
            if (s->fails[i].at < s->fails[o].at) o = i;
        s->fails[o] = s->fails[--s->nfails];
    }
    if (!grow((void **)&s->fails, &s->fails_cap, s->nfails + 1, sizeof *s->fails)) return;
    s->fails[s->nfails++] = (sh_fail){ id, now_of(s) };
}

static void run_prunes(sh_state *s) {
    au_nanos now = now_of(s);
    for (size_t i = 0; i < s->nprunes;) {
        sh_prune *pr = &s->prunes[i];
        if (peer_by_id(s, pr->id)) { s->prunes[i] = s->prunes[--s->nprunes]; continue; } /* back */
        if (pr->due > now) { i++; continue; }
        uint64_t id = pr->id;
        const sh_fail *f = s->t->prune_once ? fold_hold(s, id, now) : NULL;
        if (f) {
            if (!pr->held)
                LOG(AU_LOG_INFO, "crdt %s: the fold of departed member %016llx waits: member "
                    "%016llx was removed as FAILED %.1f s ago (a partition, on whose other side "
                    "it could be folded too?)", s->cfg.name, (unsigned long long)id,
                    (unsigned long long)f->id, (double)(now - f->at) / 1e9);
            pr->held = true;
            i++;
            continue;
        }
        s->prunes[i] = s->prunes[--s->nprunes];
        bool mine = true;
        if (s->t->prune_once)
            for (size_t k = 0; k < s->npeers; k++)
                if (s->peers[k].id < s->me) mine = false;
        note_pruned(s, id);
        if (!mine) continue; /* the lowest live member prunes and ships the delta (P3) */
        void *delta = s->t->prune_once ? s->t->create(s->t, true) : NULL;
        if (s->t->prune_once && !delta) continue;
        /* a fold changes the entries; one that finds nothing to fold (the member was retired
         * here already: pruned before, and forgotten since, sh_pruned) leaves them, and its
         * delta, a retirement alone, is not shipped. The built-in counters leave such a delta
         * bottom (aurum/crdt.h, "Pruning"); for a type of one's own the digest tells, two
         * passes over the state per prune (they made a mass departure quadratic for the
         * built-ins: 40,000 departures within prune_delay, 58 s of CPU, 2/3 of it digests) */
        uint64_t before = delta && !s->t->causal_ && s->t->digest ? s->t->digest(s->h->state) : 0;
        pthread_mutex_lock(&s->h->mu);
        au_err e = s->t->prune(s->h->state, delta, id, s->me);
        s->xgen++;
        pthread_mutex_unlock(&s->h->mu);
        if (e == AU_OK && before && s->t->digest(s->h->state) == before) {
            s->t->free(delta);
            delta = NULL;
        }
        if (e != AU_OK) {
            LOG(AU_LOG_WARN, "crdt %s: pruning member %016llx failed (%d)", s->cfg.name,
                (unsigned long long)id, (int)e);
            if (delta) s->t->free(delta);
            continue;
        }
        stat_add(&s->h->pruned, 1);
        LOG(AU_LOG_INFO, "crdt %s: pruned the entries of departed member %016llx", s->cfg.name,
            (unsigned long long)id);
        if (delta && !s->t->is_bottom(delta)) {
            push_delta(s, delta, 0, 0);
            s->changed = s->changed_local = true;
            stat_set(&s->h->clock, s->clock);
            want_flush(s);
        } else if (delta) {
            s->t->free(delta);
        }
    }
}

/* Sends p again what we sent it from clock `to` on (its ack lowered to there, the acks held
 * out of order forgotten). */
static void rewind_to(sh_peer *p, uint64_t to) {
    p->acked = to;
    if (p->sent_clock > to) p->sent_clock = to;
    p->behind_at = 0;
    memset(p->pend, 0, sizeof p->pend);
}

/* Lowers p's ack to the first delta of o's we left out of a group (else to 0: the buffer's
 * start or the full state), unless p is known to have o's deltas that far: p may lack what we
 * relied on o to send it. True if it was lowered. */
static bool rewind_peer(sh_state *s, const sh_peer *o, sh_peer *p) {
    uint64_t to = o->relied_lo >= s->gc ? o->relied_lo : 0;
    if (!o->relied || p == o || p->acked <= to) return false;
    if (o->relied_src != UINT64_MAX && kn_get(p->kn, o->id) >= o->relied_src) return false;
    rewind_to(p, to);
    p->sent_at = 0; /* at once, even a full state (the member relied on is gone) */
    return true;
}

/* Member o, whose deltas we left out of groups because it sends them to everyone itself
 * (relied_on), is gone: a peer that acked past one of them may lack it, if o did not reach it.
 * Only such peers are rewound: not one that vouched for o's deltas as far as every left-out one
 * (kn, from its vias), and not below the first left-out delta while that is still buffered (the
 * re-send then forwards o's deltas, o being no longer a member). If one was collected already,
 * the peer is rewound to 0 (the buffer from 0 if it is still whole, else the full state). */
static void rewind_for(sh_state *s, const sh_peer *o) {
    uint64_t to = o->relied_lo >= s->gc ? o->relied_lo : 0;
    size_t n = 0;
    for (size_t i = 0; i < s->npeers; i++) n += rewind_peer(s, o, &s->peers[i]);
    stat_add(&s->h->rewinds, n);
    LOG(AU_LOG_INFO, "crdt %s: member %016llx relied on to send its deltas left; %zu of %zu peers "
        "re-sent from %llu", s->cfg.name, (unsigned long long)o->id, n, s->npeers,
        (unsigned long long)to);
}

/* ---- relays: an origin that cannot reach a member ------------------------------------------------ */

/* Relying on origins (relied_on) fails where an origin cannot reach a member that stays one (a
 * link cut one way, or a member the cluster keeps because others reach it). The origin sees it:
 * the member lacks deltas it was sent, and no direct ack of its has moved for relay_after. It
 * then asks RELAY_FANOUT others to pass its deltas on to that member (a relay naming it and how
 * far it has acked): one of the member's ring managers (its catch-up sources) and one in turn,
 * kept while healthy and told again every relay_after / 2 while it lasts; they pass the
 * origin's deltas on to it for relay_hold after the last word (on_relay). A member that came
 * back only costs redundant deltas. */
static bool stuck(const sh_peer *p, au_nanos now, au_nanos after) {
    return p->behind_at && now - p->behind_at >= after;
}

static void relay_to(sh_state *s, sh_peer *q, const sh_peer *c) {
    uint8_t to[16];
    put_le(to, c->id);
    put_le(to + 8, c->acked);
    if (send_wire(s, q->ref, (sh_wire){ .tag = sh_wire_relay,
                                        .relay = { .id = s->me, .to = au_bytes_dup(to, sizeof to) } }) ==
        AU_OK)
        stat_add(&s->h->relays_sent, 1);
}

/* Is some member behind on what we sent it (so relay_round must keep looking, even with every
 * ack in: through relayers, a cut-off member's acks can catch up while our link stays cut)? */
static bool behind_any(sh_state *s) {
    if (relay_after(s) == AU_SHARE_RELAY_NEVER) return false;
    for (size_t i = 0; i < s->npeers; i++)
        if (s->peers[i].behind_at) return true;
    return false;
}

static bool is_relayer(const sh_peer *c, uint64_t id) {
    for (size_t j = 0; j < RELAY_FANOUT; j++)
        if (c->relayers[j] == id) return true;
    return false;
}

static void relay_round(sh_state *s, au_nanos now) {
    if (relay_after(s) == AU_SHARE_RELAY_NEVER || s->npeers < 2) return;
    sh_peer *cut[RELAY_MAX];
    size_t n = 0;
    uint64_t sig = 0;
    size_t turn = s->relay_turn++;
    for (size_t i = 0; i < s->npeers; i++) { /* more than 8: those served go in turn */
        sh_peer *p = &s->peers[(turn + i) % s->npeers];
        if (!stuck(p, now, relay_after(s))) continue;
        sig ^= XXH3_64bits(&p->id, sizeof p->id); /* the set, whatever the turn */
        if (n < RELAY_MAX) cut[n++] = p;
    }
    if (!n) { s->relay_sig = 0; return; }
    if (sig == s->relay_sig && now - s->relay_at < relay_after(s) / 2) return;
    if (sig != s->relay_sig)
        LOG(AU_LOG_INFO, "crdt %s: %016llx: %zu member(s) have not acked our deltas for %.1f s: "
            "asking others to pass them on", s->cfg.name, (unsigned long long)s->me, n,
            (double)relay_after(s) / 1e9);
    s->relay_sig = sig;
    s->relay_at = now;
    for (size_t k = 0; k < n; k++) {
        sh_peer *c = cut[k];
        /* healthy relayers: not stuck themselves (they would not be reached either), not c. The
         * ones asked before are kept while healthy (each new one may cost c a full state); an
         * empty place goes to one of c's ring managers, else to the next member in turn. */
#define RELAYER_OK(q) ((q) && (q) != c && !(q)->foreign && !stuck((q), now, relay_after(s) / 2))
#define CHOSEN(q) is_relayer(c, (q)->id)
        for (size_t j = 0; j < RELAY_FANOUT; j++) {
            sh_peer *q = c->relayers[j] ? peer_by_id(s, c->relayers[j]) : NULL;
            if (!RELAYER_OK(q)) c->relayers[j] = 0;
        }
        /* The second one changes when c has shown no progress for 8 × relay_after since it was
         * chosen (c may be reachable through some members only; but c's word of what it has
         * of ours comes only when it sends us something, so a working relay can look idle:
         * slowly, since each new relayer may cost c a full state). */
        uint64_t dropped = 0;
        if (c->relayers[1] && now - c->relay_since >= mul_sat(relay_after(s), 8)) {
            if (c->acked == c->relay_acked) dropped = c->relayers[1], c->relayers[1] = 0;
            c->relay_since = now; /* the next window */
            c->relay_acked = c->acked;
        }
        for (size_t j = 0; j < RELAY_FANOUT; j++) {
            if (c->relayers[j]) continue;
            sh_peer *pick = NULL;
            if (s->ring && j == 0) { /* the first: one of c's ring managers; the second in turn */
                const au_cluster_member *mg[MAX_MANAGERS];
                size_t nm = au_ring_managers(s->ring, c->addr, mg, MAX_MANAGERS);
                for (size_t m = 0; m < nm && !pick; m++) {
                    sh_peer *q = mg[m]->id == s->me ? NULL : peer_by_id(s, mg[m]->id);
                    if (RELAYER_OK(q) && !CHOSEN(q)) pick = q;
                }
            }
            for (size_t i = 0; i < s->npeers && !pick; i++) {
                sh_peer *q = &s->peers[(turn + i) % s->npeers];
                if (RELAYER_OK(q) && !CHOSEN(q) && q->id != dropped) pick = q;
            }
            if (pick) c->relayers[j] = pick->id;
            if (pick && j == 1) {
                c->relay_since = now;
                c->relay_acked = c->acked;
            }
        }
#undef CHOSEN
#undef RELAYER_OK
        for (size_t j = 0; j < RELAY_FANOUT; j++) {
            sh_peer *q = c->relayers[j] ? peer_by_id(s, c->relayers[j]) : NULL;
            if (q) relay_to(s, q, c);
        }
    }
}

/* Where to send o's deltas to q from again, q having acked o's own sends up to `acked` (it has
 * every delta of o's below that): from the first buffered delta of o's beyond it; from 0 (the
 * full state, if the buffer no longer starts at 0) if one beyond it was already collected; none
 * (UINT64_MAX) if no such delta was ever buffered. */
static uint64_t relay_from(sh_state *s, const sh_peer *o, const sh_peer *q, uint64_t acked) {
    uint64_t has = kn_get(q->kn, o->id);
    if (has > acked) acked = has;
    if (o->popped_src > acked) return 0;
    for (uint64_t k = s->gc; k < s->clock; k++) {
        const sh_dent *e = dent(s, k);
        if (e->origin == o->id && e->src_clock > acked) return k;
    }
    return UINT64_MAX;
}

/* Member o says it cannot reach the members listed: its deltas go to them through us. Only o
 * can say so (the message's source must be o's address); ids that are no member, us, or o are
 * skipped. */
static void on_relay(sh_state *s, sh_relay *r) {
    sh_peer *o = peer_by_id(s, r->id), *src = peer_by_origin(s);
    if (r->to.len % 16 || r->to.len / 16 > RELAY_MAX || (o && src && src != o)) {
        stat_add(&s->h->drops_invalid, 1);
        if (log_drop(s))
            LOG(AU_LOG_WARN, "crdt %s: malformed relay, or one for another member, dropped", s->cfg.name);
        return;
    }
    /* from no member we know (yet, or any more), or a source address two members share */
    if (!o || !src) return;
    au_nanos now = now_of(s), until = add_sat(now, relay_hold(s));
    for (size_t k = 0; k < r->to.len / 16; k++) {
        uint64_t id = get_le(r->to.ptr + 16 * k), acked = get_le(r->to.ptr + 16 * k + 8);
        sh_peer *q = id == s->me || id == o->id ? NULL : peer_by_id(s, id);
        if (!q || unreach_set(o, id, until, now) != 1) continue;
        stat_add(&s->h->relays_taken, 1);
        uint64_t from = relay_from(s, o, q, acked);
        bool rewound = false;
        if (from != UINT64_MAX && q->acked > from) {
            rewind_to(q, from);
            rewound = true;
        }
        LOG(AU_LOG_INFO, "crdt %s: %016llx cannot reach %s: its deltas go there through us%s",
            s->cfg.name, (unsigned long long)o->id, q->addr,
            !rewound ? "" : from < s->gc ? " (our full state first)" : " (from the first it lacks)");
    }
    want_flush(s);
}

static void on_update(sh_state *s, au_cluster_update *u) {
    for (uint32_t i = 0; i < u->events.len; i++) {
        const au_cluster_event *e = &u->events.ptr[i];
        switch (e->kind) {
        case AU_CLUSTER_ALONE:
        case AU_CLUSTER_JOINED: s->joined = true; break;
        case AU_CLUSTER_LEFT: s->joined = false; break;
        case AU_CLUSTER_ADDED: note_failed(s, e->member.id, false); break;
        case AU_CLUSTER_REMOVED:
            if (e->member.id == s->me) break;
            if (e->reason == AU_CLUSTER_FAILED) note_failed(s, e->member.id, true);
            if (e->reason == AU_CLUSTER_LEAVING || e->reason == AU_CLUSTER_REPLACED)
                schedule_prune(s, e->member.id, s->cfg.prune_delay);
            else if (s->cfg.prune_failed)
                schedule_prune(s, e->member.id, s->cfg.prune_failed);
            break;
        default: break;
        }
    }
    if (u->ring.ring) {
        au_ring_release(s->ring);
        s->ring = au_ring_retain(u->ring.ring);
    }
    if (!s->joined) {
        s->npeers = 0;
    } else {
        /* the ack table follows the member set: new members start at 0, gone ones are dropped */
        for (size_t i = 0; i < s->npeers;) {
            bool found = false;
            for (uint32_t k = 0; k < u->members.len && !found; k++) found = u->members.ptr[k].id == s->peers[i].id;
            if (found) { i++; continue; }
            sh_peer gone = s->peers[i];
            remove_peer_at(s, i);
            if (gone.relied) rewind_for(s, &gone);
        }
        s->cache.len = 0; /* a group's content depends on the member set (relied_on) */
        for (uint32_t k = 0; k < u->members.len; k++) {
            const au_cluster_member *m = &u->members.ptr[k];
            if (m->id != s->me && !peer_by_id(s, m->id)) add_peer(s, m);
        }
    }
    stat_set(&s->h->peers, s->npeers);
    collect(s);
    want_flush(s);
}

/* ---- the actor ------------------------------------------------------------------------------- */

static void notify(sh_state *s) {
    bool local = s->changed_local;
    s->changed = s->changed_local = false;
    for (size_t i = 0; i < s->nsubs;) {
        au_err e = au_send_control(s->subs[i], (au_share_changed){ .share = s->h, .clock = s->clock,
                                                                   .local = local });
        if (e == AU_ESTOPPED || e == AU_EINVAL) s->subs[i] = s->subs[--s->nsubs];
        else i++;
    }
}

/* The replica subscribes to the cluster from au_share_start (which refuses a cluster that has
 * stopped), not here. */
static void sh_pre_start(au_ctx *ctx, sh_state *s) { s->self = au_self(ctx, sh_msg); }

static void sh_recv(au_ctx *ctx, sh_state *s, sh_msg *m) {
    switch (m->tag) {
    case sh_msg_wire:
        s->ctx = ctx;
        if (m->wire.tag == sh_wire_delta) on_delta(s, &m->wire.delta);
        else if (m->wire.tag == sh_wire_ack) on_ack(s, &m->wire.ack);
        else if (m->wire.tag == sh_wire_relay) on_relay(s, &m->wire.relay);
        s->ctx = NULL;
        break;
    case sh_msg_update: on_update(s, &m->update); break;
    case sh_msg_mutate: on_mutate(s, &m->mutate); break;
    case sh_msg_subscribe: {
        bool known = false; /* subscribing again is a no-op: one subscriber, told once */
        for (size_t i = 0; i < s->nsubs && !known; i++)
            known = au_ref_equal(s->subs[i].raw, m->subscribe.raw);
        if (known) break;
        if (grow((void **)&s->subs, &s->subs_cap, s->nsubs + 1, sizeof *s->subs)) {
            s->subs[s->nsubs++] = m->subscribe;
            (void)au_send_control(m->subscribe, (au_share_changed){ .share = s->h,
                                                                     .clock = s->clock });
        }
        break;
    }
    case sh_msg_flush:
        s->flush_pending = false;
        disperse(s);
        break;
    case sh_msg_acktick: on_acktick(s); break;
    case sh_msg_tick:
        s->tick_armed = false;
        run_prunes(s);
        disperse(s);
        relay_round(s, now_of(s));
        vouch_round(s, now_of(s));
        if (s->nprunes || behind_any(s)) arm_tick(s);
        break;
    default: break;
    }
    if (s->changed) notify(s);
}

static void sh_post_stop(au_ctx *ctx, sh_state *s) {
    (void)ctx;
    while (s->gc < s->clock) pop_front(s);
    free(s->buf);
    au_buf_free(&s->scratch);
    free(s->peers);
    free(s->subs);
    free(s->prunes);
    free(s->pruned);
    free(s->fails);
    au_ring_release(s->ring);
    au_buf_free(&s->cache);
    for (size_t i = 0; i < s->nprio; i++) free(s->prio[i]);
    free(s->prio);
    free((char *)s->cfg.name);
}

AU_ACTOR(share_actor, sh_state, sh_msg, .pre_start = sh_pre_start, .recv = sh_recv,
         .post_stop = sh_post_stop);

/* ---- the API ---------------------------------------------------------------------------------- */

/* Whether a vtable has everything the replica calls (prune is optional: no pruning). */
static bool vtable_ok(const au_crdt_type *t) {
    return t && t->name && t->create && t->free && t->join && t->is_bottom && t->encode && t->decode &&
           t->copy && t->delta_minus;
}

au_err au_share_start(au_node *node, au_cluster *cluster, const au_crdt_type *type,
                      const au_share_config *cfg, au_share **out) {
    if (!node || !cluster || !vtable_ok(type) || !cfg || !out || !cfg->name || !*cfg->name ||
        strlen(cfg->name) > NAME_MAX_ || (cfg->npriority && !cfg->priority))
        return AU_EINVAL;
    const char *addr = au_node_address(node);
    if (!addr || !*addr) return AU_EINVAL;
    /* another node's cluster: the replica would take that node's id as its own */
    if (au_cluster_id(cluster) != au_node_incarnation(node)) return AU_EINVAL;
    *out = NULL;
    sh_state st = { .node = node, .cluster = cluster, .t = type, .cfg = *cfg, .addr = addr };
    if (!st.cfg.amount) st.cfg.amount = 1;
    if (!st.cfg.timeout) st.cfg.timeout = AU_MSEC(50);
    if (st.cfg.timeout < AU_MSEC(1)) return AU_EINVAL; /* shorter: the re-send timer only spins */
    if (!st.cfg.catchup_delay) st.cfg.catchup_delay = 8 * st.cfg.timeout;
    if (!st.cfg.max_message) st.cfg.max_message = (16u << 20) - 4096;
    if (!st.cfg.max_buffer) st.cfg.max_buffer = BUF_BYTES_DEFAULT;
    if (!st.cfg.prune_delay) st.cfg.prune_delay = AU_SEC(10);
    if (!st.cfg.prune_hold) st.cfg.prune_hold = AU_SEC(60);
    /* 100 ms: a change reaches the others that much later, and a burst or a steady stream of
     * changes costs one delta group per peer per window instead of one per change (the bytes
     * per update of docs/benchmarks.md, "coalesce 100 ms as the default"). */
    if (st.cfg.coalesce == AU_SHARE_COALESCE_NONE) st.cfg.coalesce = 0;
    else if (!st.cfg.coalesce) st.cfg.coalesce = AU_MSEC(100);
    if (st.cfg.ack_delay == AU_SHARE_ACK_NOW) st.cfg.ack_delay = 0;
    else if (!st.cfg.ack_delay) st.cfg.ack_delay = st.cfg.timeout / 2 + st.cfg.coalesce;
    if (st.cfg.ack_delay > st.cfg.timeout + st.cfg.coalesce)
        st.cfg.ack_delay = st.cfg.timeout + st.cfg.coalesce;
    if (!st.cfg.relay_after) st.cfg.relay_after = relay_after_default(&st.cfg);
    st.cfg.priority = NULL;
    snprintf(st.actor_name, sizeof st.actor_name, "crdt:%s", cfg->name);
    st.type_hash = (uint32_t)XXH3_64bits(type->name, strlen(type->name));
    if (st.type_hash == 0) st.type_hash = 1; /* 0 on the wire: omitted */
    st.me = au_cluster_id(cluster);
    au_share *h = calloc(1, sizeof *h);
    st.cfg.name = strdup(cfg->name);
    st.prio = calloc(cfg->npriority ? cfg->npriority : 1, sizeof *st.prio);
    if (!h || !st.cfg.name || !st.prio) goto nomem;
    for (size_t i = 0; i < cfg->npriority; i++) {
        if (!cfg->priority[i]) continue;
        if (!(st.prio[st.nprio] = strdup(cfg->priority[i]))) goto nomem;
        st.nprio++;
    }
    h->node = node;
    h->type = type;
    h->id = st.me;
    if (!(h->state = type->create(type, false))) goto nomem;
    pthread_mutex_init(&h->mu, NULL);
    st.h = h;

    pthread_mutex_lock(&g_nodes_mu);
    sh_node *n = g_nodes;
    while (n && n->node != node) n = n->next;
    if (!n) {
        n = calloc(1, sizeof *n);
        if (n) {
            n->node = node;
            n->layer = au_layer_attach(node, &(au_layer_def){ .name = "crdt", .free = layer_free,
                                                             .arg = n });
            if (!n->layer) {
                au_err e = au_last_error();
                pthread_mutex_unlock(&g_nodes_mu);
                free(n);
                pthread_mutex_destroy(&h->mu);
                type->free(h->state);
                h->state = NULL;
                for (size_t i = 0; i < st.nprio; i++) free(st.prio[i]);
                free(st.prio);
                free((char *)st.cfg.name);
                free(h);
                return e ? e : AU_EFULL;
            }
            n->next = g_nodes;
            g_nodes = n;
        }
    }
    if (!n) { pthread_mutex_unlock(&g_nodes_mu); pthread_mutex_destroy(&h->mu); goto nomem; }
    /* Term from this node only: the name is known ("crdt:<name>"), and without a cluster key one
     * forged Term stopped the replica, which then took no change from anywhere (aurum/actor.h,
     * AU_TERM_LOCAL) */
    h->actor = au_spawn_with(node, share_actor,
                             au_opts(.name = st.actor_name, .layer = n->layer, .term = AU_TERM_LOCAL),
                             &st);
    if (au_ref_is_null(h->actor.raw)) {
        au_err e = au_last_error();
        pthread_mutex_unlock(&g_nodes_mu);
        pthread_mutex_destroy(&h->mu);
        type->free(h->state);
        for (size_t i = 0; i < st.nprio; i++) free(st.prio[i]);
        free(st.prio);
        free((char *)st.cfg.name);
        free(h);
        return e ? e : AU_EEXIST;
    }
    h->next = n->shares; /* freed with the layer from now on */
    n->shares = h;
    pthread_mutex_unlock(&g_nodes_mu);
    /* A cluster that has left (its actor stopped) would never tell the replica of a member: it
     * could not join, ever. Refused; the replica's actor stops (h goes with the layer). */
    au_err e = au_cluster_subscribe(cluster, au_narrow_local(sh_msg, au_cluster_update, h->actor));
    if (e != AU_OK) {
        LOG(AU_LOG_WARN, "crdt %s: cannot subscribe to the cluster (stopped?): not started", cfg->name);
        (void)au_stop(h->actor);
        return e == AU_ENOMEM ? e : AU_ESTOPPED;
    }
    *out = h;
    return AU_OK;
nomem:
    if (h && h->state) type->free(h->state);
    for (size_t i = 0; i < st.nprio; i++) free(st.prio[i]);
    free(st.prio);
    free((char *)st.cfg.name);
    free(h);
    return AU_ENOMEM;
}

sh_msg_lref sh_actor(au_share *s) { return s->actor; }

const au_crdt_type *au_share_type(const au_share *s) { return s ? s->type : NULL; }
uint64_t au_share_replica(const au_share *s) { return s ? s->id : 0; }

au_err au_share_mutate_typed_(au_share *s, void (*fn)(void), au_share_tramp_ tramp,
                              const void *arg, size_t len) {
    if (!s || !fn || (len && !arg) || len > UINT32_MAX) return AU_EINVAL;
    au_bytes b = { 0 };
    if (len) {
        b = au_bytes_dup(arg, len);
        if (!b.ptr) return AU_ENOMEM;
    }
    return au_send(s->actor, (sh_msg){ .tag = sh_msg_mutate, .mutate = { .fn = fn, .tramp = tramp,
                                                                         .arg = b } });
}

au_err au_share_mutate(au_share *s, au_share_mutator fn, const void *arg, size_t len) {
    return au_share_mutate_typed_(s, (void (*)(void))fn, NULL, arg, len);
}

void au_share_read(au_share *s, void (*fn)(const void *state, void *arg), void *arg) {
    if (!s || !fn) return;
    pthread_mutex_lock(&s->mu);
    fn(s->state, arg);
    pthread_mutex_unlock(&s->mu);
}

void au_share_read_typed_(au_share *s, void (*fn)(void), au_share_rtramp_ tramp, void *arg) {
    if (!s || !fn || !tramp) return;
    pthread_mutex_lock(&s->mu);
    tramp(fn, s->state, arg);
    pthread_mutex_unlock(&s->mu);
}

au_err au_share_snapshot(au_share *s, void **out) {
    if (!s || !out) return AU_EINVAL;
    pthread_mutex_lock(&s->mu);
    au_err e = s->type->copy(s->state, out);
    pthread_mutex_unlock(&s->mu);
    return e;
}

au_err au_share_subscribe(au_share *s, au_share_changed_lref subscriber) {
    if (!s || au_ref_is_null(subscriber.raw)) return AU_EINVAL;
    return au_send(s->actor, (sh_msg){ .tag = sh_msg_subscribe, .subscribe = subscriber });
}

void au_share_stats_get(au_share *s, au_share_stats *out) {
    if (!out) return;
    *out = (au_share_stats){ 0 };
    if (!s) return;
#define STAT_READ(n) out->n = au_stat_read(&s->n);
    SHARE_STATS(STAT_READ)
#undef STAT_READ
}

/* ---- typed conveniences ---------------------------------------------------------------------- */

static au_err m_gcounter_inc(au_gcounter *st, au_gcounter *d, uint64_t r, const void *a, size_t l) {
    uint64_t n;
    if (l != sizeof n) return AU_EINVAL;
    memcpy(&n, a, sizeof n);
    return au_gcounter_inc(st, d, r, n);
}
au_err au_share_gcounter_inc(au_share_gcounter h, uint64_t n) {
    return au_share_gcounter_mutate(h, m_gcounter_inc, &n, sizeof n);
}
static void r_gcounter(const au_gcounter *st, void *arg) { *(uint64_t *)arg = au_gcounter_value(st); }
uint64_t au_share_gcounter_value(au_share_gcounter h) {
    uint64_t v = 0;
    au_share_gcounter_read(h, r_gcounter, &v);
    return v;
}

static au_err m_pncounter_add(au_pncounter *st, au_pncounter *d, uint64_t r, const void *a, size_t l) {
    int64_t n;
    if (l != sizeof n) return AU_EINVAL;
    memcpy(&n, a, sizeof n);
    return au_pncounter_add(st, d, r, n);
}
au_err au_share_pncounter_add(au_share_pncounter h, int64_t n) {
    return au_share_pncounter_mutate(h, m_pncounter_add, &n, sizeof n);
}
static void r_pncounter(const au_pncounter *st, void *arg) { *(int64_t *)arg = au_pncounter_value(st); }
int64_t au_share_pncounter_value(au_share_pncounter h) {
    int64_t v = 0;
    au_share_pncounter_read(h, r_pncounter, &v);
    return v;
}

static au_err m_orset_add(au_orset *st, au_orset *d, uint64_t r, const void *a, size_t l) {
    return au_orset_add(st, d, r, a, l);
}
static au_err m_orset_remove(au_orset *st, au_orset *d, uint64_t r, const void *a, size_t l) {
    (void)r;
    return au_orset_remove(st, d, a, l);
}
au_err au_share_orset_add(au_share_orset h, const void *elem, size_t len) {
    if (len > 65536) return AU_EINVAL;
    return au_share_orset_mutate(h, m_orset_add, elem, len);
}
au_err au_share_orset_remove(au_share_orset h, const void *elem, size_t len) {
    if (len > 65536) return AU_EINVAL;
    return au_share_orset_mutate(h, m_orset_remove, elem, len);
}
typedef struct orset_q { const void *e; size_t len; bool in; size_t n; } orset_q;
static void r_orset(const au_orset *st, void *arg) {
    orset_q *q = arg;
    /* (NULL, 0) is the empty element, as au_share_orset_add takes it */
    q->in = q->e || !q->len ? au_orset_contains(st, q->e ? q->e : "", q->len) : false;
    q->n = au_orset_size(st);
}
bool au_share_orset_contains(au_share_orset h, const void *elem, size_t len) {
    orset_q q = { elem, len, false, 0 };
    au_share_orset_read(h, r_orset, &q);
    return q.in;
}
size_t au_share_orset_size(au_share_orset h) {
    orset_q q = { 0 };
    au_share_orset_read(h, r_orset, &q);
    return q.n;
}

typedef struct pn_ctx { uint64_t replica; int64_t n; } pn_ctx;
static au_err v_pn_add(au_pncounter *v, au_pncounter *dv, void *arg) {
    pn_ctx *c = arg;
    return au_pncounter_add(v, dv, c->replica, c->n);
}
static au_err m_ormap_pn_add(au_ormap_pncounter st, au_ormap_pncounter d, uint64_t r,
                             const void *a, size_t l) {
    int64_t n;
    if (l < sizeof n) return AU_EINVAL;
    memcpy(&n, a, sizeof n);
    pn_ctx c = { r, n };
    return au_ormap_pncounter_update(st, d, (const uint8_t *)a + sizeof n, l - sizeof n, v_pn_add, &c);
}
static au_err m_ormap_pn_remove(au_ormap_pncounter st, au_ormap_pncounter d, uint64_t r,
                                const void *a, size_t l) {
    (void)r;
    return au_ormap_pncounter_remove(st, d, a, l);
}
au_err au_share_ormap_pncounter_add(au_share_ormap_pncounter h, const void *key, size_t klen,
                                    int64_t n) {
    if (klen > 65536 || (klen && !key)) return AU_EINVAL;
    uint8_t stackbuf[256];
    uint8_t *b = klen + sizeof n <= sizeof stackbuf ? stackbuf : malloc(klen + sizeof n);
    if (!b) return AU_ENOMEM;
    memcpy(b, &n, sizeof n);
    if (klen) memcpy(b + sizeof n, key, klen);
    au_err e = au_share_ormap_pncounter_mutate(h, m_ormap_pn_add, b, klen + sizeof n);
    if (b != stackbuf) free(b);
    return e;
}
au_err au_share_ormap_pncounter_remove(au_share_ormap_pncounter h, const void *key, size_t klen) {
    if (klen > 65536) return AU_EINVAL;
    return au_share_ormap_pncounter_mutate(h, m_ormap_pn_remove, key, klen);
}
typedef struct ormap_q { const void *k; size_t len; bool in; int64_t v; size_t n; } ormap_q;
static void r_ormap_pn(au_ormap_pncounter st, void *arg) {
    ormap_q *q = arg;
    q->n = au_ormap_pncounter_size(st);
    if (!q->k && q->len) return;
    const au_pncounter *v = au_ormap_pncounter_get(st, q->k, q->len);
    q->in = v != NULL;
    q->v = v ? au_pncounter_value(v) : 0;
}
bool au_share_ormap_pncounter_get(au_share_ormap_pncounter h, const void *key, size_t klen,
                                  int64_t *value) {
    ormap_q q = { key, klen, false, 0, 0 };
    au_share_ormap_pncounter_read(h, r_ormap_pn, &q);
    if (value) *value = q.v;
    return q.in;
}
size_t au_share_ormap_pncounter_size(au_share_ormap_pncounter h) {
    ormap_q q = { NULL, 1, false, 0, 0 };
    au_share_ormap_pncounter_read(h, r_ormap_pn, &q);
    return q.n;
}
