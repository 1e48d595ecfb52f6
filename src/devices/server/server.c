/* server.c — the device server (aurum/device_server.h, docs/devices.md §5): ownership of devices
 * by the cluster's ring, polling with numbered heartbeat requests, liveness, hand-over on ring
 * changes, standby copies on replicas, events and user messages.
 *
 * Actors per node, all of the layer "devices":
 *   - the endpoint, registered under cfg.name ("au.devices") with root au_device_up exactly, as
 *     devices address it. It adds where the datagram came from (au_ctx_origin) and handles the
 *     message itself under its device's shard's lock when that lock is free (trylock: never
 *     waits), or else passes it on to that shard's actor, locally;
 *   - cfg.shards shard actors (root ds_msg), each with its part of the device table (the devices
 *     whose id shard_of maps to it), its own polling wheel, ring snapshot, forwarded announces
 *     and stats, under its own lock, so that the shards poll on several workers at once. Shard
 *     0 is the core, registered under "<name>.peer": the servers' protocol (forwarded announces
 *     and their acknowledgements, hand-overs, standby copies, user messages) arrives there and
 *     it passes each message on to the shard of its device; it takes the ring updates
 *     (au_cluster_subscribe) into ds->ring and tells the other shards, which take the ring from
 *     there. Each shard's timer tick runs every cfg.tick.
 *
 * Relies on: the public API (actors, forge, timers, au_ctx_origin), the cluster's ring
 * (au_cluster_subscribe updates, au_ring_owner / au_ring_replicas), util's u64map and timing wheel.
 *
 * Invariants: a record is OWNED (in its shard's polling wheel) exactly when its shard's ring makes
 * this node the device's owner, re-checked at every ring change and every conflict report;
 * otherwise it is STANDBY (a copy for when the ring gives it here) or gone. A device's record is
 * only ever in shard_of(its id). Records are created only by the shards, only within max_devices
 * (ds->ndevs, over all shards) and the node's new-device token bucket. sh->lock guards a shard's
 * table, wheel, ring and stats: its actor holds it during each hook, API calls from other
 * threads take it. ds->lock guards the latest ring, the subscribers, the receivers and the
 * bucket; it is taken alone or inside a shard's lock, never the other way round.
 * A down deadline includes the shard's own lateness (measure_lateness), which changes only at the
 * start of its tick: within a tick, a device polled and not declared down is due after now.
 * An announce this node accepted and forwarded stays in its shard's pending (PENDING_MAX over the
 * node, ds->npending) until the owner acknowledges it, this node owns the device, or
 * PENDING_TRIES re-sends: an accepted announce is not lost with one datagram or with an owner
 * that died in between. */
#include <aurum/device_server.h>
#include <aurum/device_client.h> /* AU_DC_MAX_BEATS: the longest lease a device takes */

#include <aurum/crdt.h>
#include <aurum/crdt_share.h>
#include <aurum/keys.h>
#include <aurum/layer.h>
#include <aurum/log.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/rng.h"
#include "util/wheel.h"
#include "util/u64map.h"

/* ---- messages between servers ------------------------------------------------------------ */

/* WHY_ACK: the owner's word to the node that accepted a forwarded announce that it has the
 * record (that node stops re-forwarding it). */
enum { WHY_FORWARD = 0, WHY_HANDOVER = 1, WHY_REPLICA = 2, WHY_FORGET = 3, WHY_ACK = 4 };
enum { MAX_HOPS = 2, MAX_SUBS = 16, PEER_CACHE = 64, MAX_EXACT = 32, REFRESH_INTERVALS = 10,
       REFRESH_MAX_INTERVALS = 15 };
/* Forwarded announces awaiting the owner's WHY_ACK: at most PENDING_MAX per node, each re-sent
 * (to the owner of the moment) up to PENDING_TRIES times, every half interval clamped to
 * [PENDING_MIN_MS, PENDING_MAX_MS], and at once after each ring change. */
enum { PENDING_MAX = 1024, PENDING_TRIES = 16, PENDING_MIN_MS = 50, PENDING_MAX_MS = 1000 };
/* What a downlink data datagram spends around its payload, sealed (the larger): header 20,
 * frame 3, body header 18, the name "au.device" 9, nonce and tag 40, CBOR heads and the four
 * u64 fields at most 50. */
#define AU_DEVICE_DOWN_OVERHEAD 140u

/* A device's record as it travels: forwarded announce, hand-over, standby copy, forget. A
 * hand-over or standby copy of a record that holds a claim (plain: another incarnation
 * announced while the one polled is live, claim_take) carries it in the claim_ fields, so that
 * the next owner goes on probing it (claim_incarnation 0: none; always 0 in other records). The
 * probe's number is not sent: each owner numbers its probes with its own secret. */
AU_RECORD(ds_record, (int32_t, why), (int32_t, hops), (uint64_t, device), (uint64_t, incarnation),
          (uint32_t, clock), (uint32_t, interval_ms), (uint32_t, max_datagram), (au_str, address),
          (uint64_t, from), (int32_t, up), (uint64_t, claim_incarnation), (uint32_t, claim_clock),
          (uint32_t, claim_interval_ms), (uint32_t, claim_max_datagram), (au_str, claim_address));
/* A device's message with the address it came from (endpoint -> core, local). */
AU_RECORD(ds_uplink, (au_str, from), (au_device_up, up));
/* A user message for a device, on its way to the owner. */
AU_RECORD(ds_send, (uint64_t, device), (uint64_t, type), (au_bytes, payload), (int32_t, hops));
AU_ROOT(ds_msg, (uplink, ds_uplink, AU_PLAIN), (record, ds_record, AU_PLAIN),
        (send, ds_send, AU_PLAIN), (message, au_device_message, AU_PLAIN),
        (tick, au_unit, AU_PLAIN), (update, au_cluster_update, AU_REMOTE),
        (ring, au_unit, AU_PLAIN));

/* ---- state ---------------------------------------------------------------------------------- */

enum { ROLE_STANDBY = 0, ROLE_OWNED = 1 };
enum { STATE_UNKNOWN = 0, STATE_UP = 1, STATE_DOWN = 2 };

typedef struct dev {
    uint64_t id, inc;
    uint32_t clock, interval_ms, max_dgram;
    uint8_t role, state, have_ref, retrying;
    uint8_t held;       /* a down was held back (the node was late) and not yet counted again */
    uint8_t beat;       /* the highest beat of request req_top heard (0: none past the answer) */
    uint8_t prev_beat;  /* the same for request req_top - 1 */
    char addr[64];
    au_device_down_ref ref;
    uint64_t req_top;   /* the last request number sent */
    uint64_t pending;   /* bit i: request req_top - i not echoed yet */
    uint64_t prev_owner;
    au_nanos last_ok;   /* last echo (or when this node began to own it) */
    au_nanos last_sent; /* last request */
    au_nanos copied_at; /* last standby copy sent to the replicas */
    au_nanos prev_sent; /* the request before last_sent */
    au_nanos heard;     /* when the last heartbeat of request req_top arrived (answer or beat) */
    au_wheel_entry poll; /* in ds->polls while owned: its due is the next look */
    /* Plain: another incarnation announced while this one is live (claim_take), not polled:
     * what its announce said, the request number its probe carries, when that last went. */
    uint64_t claim_inc, claim_req;
    uint32_t claim_clock, claim_interval, claim_dgram;
    uint8_t claim_copied; /* the standby copies have been sent this claim (claim_copy) */
    char claim_addr[64];
    au_nanos claim_probe;
    au_nanos claim_at;    /* when this node took the claim (claim_lapse) */
    uint8_t claim_outlived; /* the run polled answered a request sent after claim_at */
    /* The incarnation the last claim taken here replaced, and when; authenticated, when an
     * older incarnation last announced from another address (id_conflicts). */
    uint64_t left_inc;
    au_nanos left_at;
    au_nanos stale_at;
} dev;

/* An announce this node accepted from a device and forwarded to another node, kept until that
 * node's WHY_ACK (or PENDING_TRIES re-sends): one forward is one datagram, and it can be lost, or
 * go to an owner that died before this node's ring says so. */
typedef struct pend {
    uint64_t id, inc;
    uint32_t clock, interval_ms, max_dgram;
    uint8_t tries;
    char addr[64];
    au_nanos due; /* next re-send */
} pend;

typedef struct peer_ref {
    char addr[64];
    ds_msg_ref ref;
} peer_ref;

/* One shard of the device table: the devices whose id hashes to it (shard_of), polled by its own
 * actor on its own wheel, under its own lock, so that the shards poll on different workers at
 * once. Everything here is guarded by sh->lock. */
typedef struct shard {
    pthread_mutex_t lock;
    struct au_device_server *ds;
    unsigned index;
    ds_msg_lref local;       /* its actor (shard 0's is the core) */
    au_ring *ring;           /* this shard's ring snapshot, NULL until the first update */
    au_ring **without;       /* without[i]: the ring minus member i (NULL: not built), for up to
                                MAX_EXACT members: who would own a key if its owner failed */
    size_t nwithout;
    au_u64map devs;          /* id -> dev* */
    au_wheel polls;          /* owned devices by due (the next look), granule cfg.tick */
    au_u64map pending;       /* id -> pend*: forwarded announces not yet acknowledged */
    au_nanos pending_due;    /* the earliest pend.due (meaningful while pending.count) */
    peer_ref peers[PEER_CACHE];
    size_t npeers, peer_next;
    au_nanos log_at;
    uint64_t log_suppressed;
    au_nanos conflict_log_at;     /* the last id-conflict WARN (its own limit: one per second) */
    uint64_t conflict_suppressed;
    au_nanos tick_due;       /* when the pending tick message is due (0: none yet) */
    au_nanos late, late_at;  /* the shard's own lateness (the hold on downs), when measured */
    au_device_server_stats st;
} shard;

struct au_device_server {
    struct au_device_server *next_server; /* in g_servers (guarded by g_servers_mu) */
    pthread_mutex_t lock;    /* guards ring, subs, recvs, tokens; taken after a shard's lock */
    au_node *node;
    au_cluster *cluster;
    au_device_server_config cfg;
    char name[72], peer_name[80], self_addr[64];
    uint64_t self_id;
    uint64_t secret;         /* 64 random bits: the request numbers of claim probes */
    ds_msg_ref core;         /* the core actor (local): shard 0's, the servers' peer */
    ds_msg_lref core_local;
    au_ring *ring;           /* the latest ring the core received (the shards take it from here) */
    au_device_event_lref subs[MAX_SUBS];
    size_t nsubs;
    au_device_message_lref recvs[MAX_SUBS];
    size_t nrecvs;
    double tokens;           /* new-device admission bucket */
    au_nanos tokens_at;
    atomic_size_t ndevs;     /* records in all shards (max_devices) */
    atomic_size_t npending;  /* pending entries in all shards (PENDING_MAX) */
    au_share_lwwmap table;   /* the Devices CRDT (NULL .s: not kept); thread-safe itself */
    unsigned nshards;
    shard *shards;           /* [nshards] */
};

typedef struct core_state { shard *sh; } core_state;
typedef struct endpoint_state { au_device_server *ds; } endpoint_state;

/* The shard of a device: a multiplicative hash of its id (ids may be sequential). */
static unsigned shard_of(const au_device_server *ds, uint64_t id) {
    if (ds->nshards == 1) return 0;
    return (unsigned)(((id * 0x9E3779B97F4A7C15ull) >> 32) % ds->nshards);
}

/* ---- helpers -------------------------------------------------------------------------------- */

/* The polling queue is a timing wheel with the tick as its granule (util/wheel.h): a device is
 * re-keyed twice per interval (at its request and at its echo), which in a binary heap cost a
 * sift and an index write into each record it moved (log2 of the devices, scattered records);
 * in the wheel it is two list splices. At 20,000-30,000 devices the two measured about the same
 * (2-2.5 % of the server's samples, docs/benchmarks.md): the wheel's sweep is where each due
 * record is first touched. Within a tick devices come out by granule, not by exact due: the
 * tick polls all that are due anyway. */
enum { WHEEL_SLOTS = 4096 }; /* 20.5 s ahead at the 5 ms default tick; later dues wait a turn */

static dev *dev_of_poll(au_wheel_entry *e) {
    return (dev *)(void *)((char *)e - offsetof(dev, poll));
}

static au_nanos interval_ns(const dev *d) { return AU_MSEC(d->interval_ms); }

static const au_cluster_member *ring_owner_in(au_ring *ring, uint64_t id) {
    if (!ring) return NULL;
    uint8_t key[8];
    for (int i = 0; i < 8; i++) key[i] = (uint8_t)(id >> (8 * i));
    return au_ring_owner(ring, key, sizeof key);
}

static const au_cluster_member *ring_owner(shard *sh, uint64_t id) {
    return ring_owner_in(sh->ring, id);
}

static bool owner_is_me(shard *sh, uint64_t id) {
    const au_cluster_member *m = ring_owner(sh, id);
    return m && m->id == sh->ds->self_id;
}

static void without_free(shard *sh) {
    for (size_t i = 0; i < sh->nwithout; i++) au_ring_release(sh->without[i]);
    free(sh->without);
    sh->without = NULL;
    sh->nwithout = 0;
}

/* The ring without member i, built on first use after each ring change. */
static au_ring *ring_without(shard *sh, size_t i) {
    size_t n = au_ring_size(sh->ring);
    if (n < 2 || n > MAX_EXACT) return NULL;
    if (!sh->without) {
        sh->without = calloc(n, sizeof *sh->without);
        if (!sh->without) return NULL;
        sh->nwithout = n;
    }
    if (!sh->without[i]) {
        au_cluster_member m[MAX_EXACT];
        size_t k = 0;
        for (size_t j = 0; j < n; j++)
            if (j != i) m[k++] = *au_ring_member(sh->ring, j);
        sh->without[i] = au_ring_build(m, k, au_ring_replication_factor(sh->ring));
    }
    return sh->without[i];
}

/* The members that keep a standby copy of a device's record, up to replica_copies: first the
 * one the ring would give the device if its owner failed (exact for a single failure, for rings
 * up to MAX_EXACT members), then the next members clockwise. Returns how many. */
static size_t replicas(shard *sh, uint64_t id, const au_cluster_member **out) {
    if (!sh->ring) return 0;
    uint8_t key[8];
    for (int i = 0; i < 8; i++) key[i] = (uint8_t)(id >> (8 * i));
    const au_cluster_member *all[4];
    size_t n = au_ring_replicas(sh->ring, key, sizeof key, all, 1 + sh->ds->cfg.replica_copies);
    size_t k = 0;
    const au_cluster_member *heir = NULL;
    if (n) {
        long oi = au_ring_find(sh->ring, all[0]->address.ptr);
        au_ring *w = oi >= 0 ? ring_without(sh, (size_t)oi) : NULL;
        const au_cluster_member *h = w ? au_ring_owner(w, key, sizeof key) : NULL;
        long hi = h ? au_ring_find(sh->ring, h->address.ptr) : -1;
        if (hi >= 0) heir = au_ring_member(sh->ring, (size_t)hi);
    }
    if (heir) out[k++] = heir;
    for (size_t i = 1; i < n && k < sh->ds->cfg.replica_copies; i++)
        if (all[i] != heir && (!heir || all[i]->id != heir->id)) out[k++] = all[i];
    return k;
}

static bool is_replica(shard *sh, uint64_t id) {
    const au_cluster_member *r[3];
    size_t n = replicas(sh, id, r);
    for (size_t i = 0; i < n; i++)
        if (r[i]->id == sh->ds->self_id) return true;
    return false;
}

/* A reference to the core actor on the member at addr (forged once, cached). */
static ds_msg_ref peer(shard *sh, const char *addr, size_t len) {
    for (size_t i = 0; i < sh->npeers; i++)
        if (strlen(sh->peers[i].addr) == len && memcmp(sh->peers[i].addr, addr, len) == 0)
            return sh->peers[i].ref;
    char buf[64];
    snprintf(buf, sizeof buf, "%.*s", (int)len, addr);
    ds_msg_ref r = au_forge(ds_msg, ds_msg, sh->ds->node, sh->ds->peer_name, buf);
    if (au_ref_is_null(r.raw)) return r;
    size_t slot;
    if (sh->npeers < PEER_CACHE) {
        slot = sh->npeers++;
    } else { /* the entry it replaces is forgotten: its forge undone (au_unforge) */
        slot = sh->peer_next++ % PEER_CACHE;
        (void)au_unforge(sh->peers[slot].ref);
    }
    snprintf(sh->peers[slot].addr, sizeof sh->peers[slot].addr, "%s", buf);
    sh->peers[slot].ref = r;
    return r;
}

static ds_msg_ref member_ref(shard *sh, const au_cluster_member *m) {
    return peer(sh, m->address.ptr, m->address.len);
}

static void log_drop(shard *sh, const char *what, uint64_t device) {
    au_nanos now = au_node_now(sh->ds->node);
    if (sh->log_at && now - sh->log_at < AU_SEC(1)) {
        sh->log_suppressed++;
        return;
    }
    au_log(AU_LOG_DEVICES, AU_LOG_WARN, "device %016llx: %s (%llu similar drops not logged)",
           (unsigned long long)device, what, (unsigned long long)sh->log_suppressed);
    sh->log_at = now;
    sh->log_suppressed = 0;
}

/* Takes a token of the node's new-device bucket (new_per_second, one second's burst). */
static bool bucket_take(au_device_server *ds) {
    au_nanos now = au_node_now(ds->node);
    double rate = ds->cfg.new_per_second;
    pthread_mutex_lock(&ds->lock); /* the bucket is the node's, shared by the shards */
    ds->tokens += (double)(now - ds->tokens_at) * rate / 1e9;
    if (ds->tokens > rate) ds->tokens = rate;
    ds->tokens_at = now;
    bool ok = ds->tokens >= 1.0;
    if (ok) ds->tokens -= 1.0;
    pthread_mutex_unlock(&ds->lock);
    return ok;
}

/* Whether a new record may be made: the table's bound and, when rated, the admission bucket. */
static bool admit(shard *sh, uint64_t device, bool rated) {
    au_device_server *ds = sh->ds;
    if (rated && !bucket_take(ds)) {
        sh->st.drops_rate++;
        log_drop(sh, "announce dropped: too many new devices per second (new_per_second)", device);
        return false;
    }
    if (atomic_load(&ds->ndevs) >= ds->cfg.max_devices) {
        sh->st.drops_table_full++;
        log_drop(sh, "announce dropped: the device table is full (max_devices)", device);
        return false;
    }
    return true;
}

static dev *dev_new(shard *sh, uint64_t id) {
    dev *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->id = id;
    if (!au_u64map_put(&sh->devs, id, d)) {
        free(d);
        return NULL;
    }
    atomic_fetch_add(&sh->ds->ndevs, 1);
    sh->st.standby++;
    return d;
}

static void poll_out(shard *sh, dev *d) {
    au_wheel_remove(&sh->polls, &d->poll);
}

/* The device's downlink reference is forged per address: forgetting the address undoes the
 * forge, so the node's tables of remote references and peers do not fill with devices gone. */
static void drop_ref(dev *d) {
    if (d->have_ref) (void)au_unforge(d->ref);
    d->have_ref = 0;
}

static void dev_free(shard *sh, dev *d) {
    drop_ref(d);
    poll_out(sh, d);
    au_u64map_take(&sh->devs, d->id);
    atomic_fetch_sub(&sh->ds->ndevs, 1);
    if (d->role == ROLE_OWNED) sh->st.owned--;
    else sh->st.standby--;
    free(d);
}

static void set_due(shard *sh, dev *d, au_nanos due) {
    au_wheel_set(&sh->polls, &d->poll, due);
}

static void set_addr(dev *d, const char *addr, size_t len) {
    if (len >= sizeof d->addr) len = sizeof d->addr - 1;
    if (strlen(d->addr) == len && memcmp(d->addr, addr, len) == 0) return;
    memcpy(d->addr, addr, len);
    d->addr[len] = 0;
    drop_ref(d);
}

static bool downlink(shard *sh, dev *d, au_device_down msg) {
    if (!d->have_ref) {
        d->ref = au_forge(au_device_down, au_device_down, sh->ds->node, AU_DEVICE_CLIENT_NAME, d->addr);
        if (au_ref_is_null(d->ref.raw)) {
            au_value_free(&au_type_au_device_down, &msg);
            sh->st.drops_invalid++;
            return false;
        }
        d->have_ref = 1;
    }
    return au_send(d->ref, msg) == AU_OK;
}

static void table_put(shard *sh, const dev *d);
static void pending_put(shard *sh, const ds_record *r, au_nanos now);
static void pending_done(shard *sh, uint64_t device, uint64_t inc);
static void pending_run(shard *sh, au_nanos now, bool all_now);
static void forward(shard *sh, const ds_record *r, const au_cluster_member *o);
static void ack(shard *sh, const ds_record *r);
static void send_probe(shard *sh, dev *d, au_nanos now);
static void claim_copy(shard *sh, dev *d, au_nanos now);
static void claim_adopt(shard *sh, dev *d, bool answered, au_nanos now);

static void emit(shard *sh, int kind, const dev *d, uint64_t previous) {
    table_put(sh, d);
    if (kind == AU_DEVICE_UP) sh->st.ups++;
    else if (kind == AU_DEVICE_DOWN) sh->st.downs++;
    else sh->st.moves++;
    au_device_server *ds = sh->ds;
    pthread_mutex_lock(&ds->lock);
    for (size_t i = 0; i < ds->nsubs; i++)
        au_send(ds->subs[i], ((au_device_event){
                                 .kind = kind, .device = d->id, .incarnation = d->inc,
                                 .owner = ds->self_id,
                                 .owner_address = au_str_dup(ds->self_addr, strlen(ds->self_addr)),
                                 .previous = previous }));
    pthread_mutex_unlock(&ds->lock);
}

static ds_record record_of(shard *sh, const dev *d, int why) {
    ds_record r = { .why = why, .device = d->id, .incarnation = d->inc, .clock = d->clock,
                    .interval_ms = d->interval_ms, .max_datagram = d->max_dgram,
                    .address = au_str_dup(d->addr, strlen(d->addr)), .from = sh->ds->self_id,
                    .up = d->state };
    if (d->claim_inc && (why == WHY_HANDOVER || why == WHY_REPLICA)) {
        r.claim_incarnation = d->claim_inc;
        r.claim_clock = d->claim_clock;
        r.claim_interval_ms = d->claim_interval;
        r.claim_max_datagram = d->claim_dgram;
        r.claim_address = au_str_dup(d->claim_addr, strlen(d->claim_addr));
    }
    return r;
}

static void send_record(shard *sh, const au_cluster_member *to, ds_record r) {
    ds_msg_ref ref = member_ref(sh, to);
    if (au_ref_is_null(ref.raw)) {
        au_str_free(&r.address);
        au_str_free(&r.claim_address);
        return;
    }
    au_send(ref, ((ds_msg){ .tag = ds_msg_record, .record = r }));
}

static void send_replicas(shard *sh, const dev *d, int why) {
    const au_cluster_member *r[3];
    size_t n = replicas(sh, d->id, r);
    for (size_t i = 0; i < n; i++)
        if (r[i]->id != sh->ds->self_id) send_record(sh, r[i], record_of(sh, d, why));
}

/* ---- the Devices CRDT ------------------------------------------------------------------------ */

/* What a write to the table carries (copied by au_share_mutate). */
typedef struct table_write {
    uint64_t device;
    au_device_entry entry;
    bool remove;
} table_write;

static au_err table_apply(au_lwwmap *state, au_lwwmap *delta, uint64_t replica, const void *arg,
                          size_t len) {
    (void)len;
    const table_write *w = arg;
    uint8_t key[8];
    for (int i = 0; i < 8; i++) key[i] = (uint8_t)(w->device >> (8 * i));
    if (w->remove) return au_lwwmap_remove(state, delta, replica, 0, key, sizeof key);
    uint8_t v[AU_DEVICE_ENTRY_SIZE];
    au_device_entry_encode(&w->entry, v);
    return au_lwwmap_set(state, delta, replica, 0, key, sizeof key, v, sizeof v);
}

/* The owner's word on d in the shared table: owner, incarnation, interval, state. */
static void table_put(shard *sh, const dev *d) {
    if (!sh->ds->table.s) return;
    table_write w = { .device = d->id,
                      .entry = { .owner = sh->ds->self_id, .incarnation = d->inc,
                                 .interval_ms = d->interval_ms,
                                 .state = d->state == STATE_DOWN ? AU_DEVICE_DOWN : AU_DEVICE_UP } };
    au_share_lwwmap_mutate(sh->ds->table, table_apply, &w, sizeof w);
}

typedef struct table_look { uint64_t device; bool found; au_device_entry e; } table_look;

static void table_read(const au_lwwmap *m, void *arg) {
    table_look *l = arg;
    uint8_t key[8];
    for (int i = 0; i < 8; i++) key[i] = (uint8_t)(l->device >> (8 * i));
    au_crdt_bytes v;
    l->found = au_lwwmap_get(m, key, sizeof key, &v) && au_device_entry_decode(v.ptr, v.len, &l->e);
}

/* The owner re-asserts its entry if the table says otherwise: two owners' writes at the same
 * timestamp (a hand-over during which neither had seen the other's last write) are ordered by
 * the map's tie-break, which may keep the old owner's; the current owner's next write, made
 * after it has seen that one, supersedes it. */
static void table_check(shard *sh, const dev *d) {
    if (!sh->ds->table.s) return;
    table_look l = { .device = d->id };
    au_share_lwwmap_read(sh->ds->table, table_read, &l);
    uint8_t state = d->state == STATE_DOWN ? AU_DEVICE_DOWN : AU_DEVICE_UP;
    if (!l.found || l.e.owner != sh->ds->self_id || l.e.incarnation != d->inc || l.e.state != state ||
        l.e.interval_ms != d->interval_ms)
        table_put(sh, d);
}

static void table_remove(shard *sh, uint64_t device) {
    if (!sh->ds->table.s) return;
    table_write w = { .device = device, .remove = true };
    au_share_lwwmap_mutate(sh->ds->table, table_apply, &w, sizeof w);
}

/* ---- polling --------------------------------------------------------------------------------- */

static void send_request(shard *sh, dev *d, au_nanos now) {
    d->prev_sent = d->last_sent;
    d->req_top++;
    d->pending = (d->pending << 1) | 1u;
    d->last_sent = now;
    d->prev_beat = d->beat;
    d->beat = 0;
    sh->st.requests_sent++;
    downlink(sh, d, (au_device_down){ .tag = au_device_down_request,
                                      .request = { .device = d->id, .incarnation = d->inc,
                                                   .server = sh->ds->self_id, .request = d->req_top,
                                                   .clock = d->clock,
                                                   .interval_ms = d->interval_ms,
                                                   .beats = sh->ds->cfg.lease } });
}

/* down_after intervals of d, saturating at a quarter of the clock's range (146 years): any
 * down_after from 2 is accepted and a device may ask for an interval of up to 2^32 - 1 ms, so the
 * product may not fit 64 bits (it wrapped to a deadline just past the last echo, and a device
 * answering every request was declared down at once); a quarter leaves room for the last echo
 * and the hold added to it (down_deadline). */
static au_nanos down_span(const shard *sh, const dev *d) {
    au_nanos iv = interval_ns(d), most = UINT64_MAX / 4;
    uint64_t k = sh->ds->cfg.down_after;
    return iv > most / k ? most : iv * k;
}

/* When d is down unless an echo comes: down_after intervals after the last echoed request,
 * plus the node's own lateness (at most down_after intervals more). The lateness changes only at
 * the start of a tick, so within a tick a device not declared down has a deadline after now. */
static au_nanos down_deadline(const shard *sh, const dev *d) {
    au_nanos span = down_span(sh, d);
    return d->last_ok + span + (sh->late < span ? sh->late : span);
}

/* The next beat of d's lease is a quarter interval late (lease > 1, the request answered, beats
 * left): when it is, the owner asks again, as for an unanswered request. (Holding this retry
 * back by the node's own lateness, as downs are held, was tried: after a pause it pushed the
 * retries past the down deadlines, test_device_sim's paused_server.) */
static au_nanos beat_late_at(shard *sh, const dev *d) {
    au_nanos iv = interval_ns(d);
    if (d->state == STATE_DOWN || (d->pending & 1u) || d->beat + 1u >= sh->ds->cfg.lease)
        return UINT64_MAX;
    return d->heard + iv + iv / 4;
}

/* What beat j's proof of life is discounted by (on_heartbeat), 1/32 of an interval per beat, so
 * that a device clock up to 3 % fast cannot delay a down; a lease's next request leaves that much
 * before the lease's end for its last beat (request_due), so its answer keeps down_after - 1
 * intervals, as without a lease. */
static au_nanos beat_slack(const dev *d, unsigned j) { return interval_ns(d) / 32 * j; }

/* When d's next request is due: an unanswered one again after a quarter interval, an eighth
 * while retrying; a lease's next request at its end, or when a beat is late. */
static au_nanos request_due(shard *sh, const dev *d) {
    au_nanos iv = interval_ns(d);
    au_nanos at;
    if (d->state == STATE_DOWN) at = d->last_sent + iv;
    else if (d->pending & 1u) at = d->last_sent + (d->retrying ? iv / 8 : iv / 4);
    else at = d->last_sent + iv * sh->ds->cfg.lease - beat_slack(d, sh->ds->cfg.lease - 1);
    au_nanos late = beat_late_at(sh, d);
    return late < at ? late : at;
}

/* When d's standby copies are due for a refresh: at the first look at d REFRESH_INTERVALS
 * intervals after the last (with the request it sends, as a rule), and no later than
 * REFRESH_MAX_INTERVALS: a look for the refresh alone is made only when requests are further
 * apart than that (a lease above 5). */
static au_nanos refresh_due(const dev *d) {
    return d->copied_at + interval_ns(d) * REFRESH_INTERVALS;
}

/* When to look at d next: its next request, a refresh that no request would come in time for,
 * and never later than its down deadline. */
static au_nanos next_due(shard *sh, const dev *d) {
    au_nanos at = request_due(sh, d);
    au_nanos refresh = d->copied_at + interval_ns(d) * REFRESH_MAX_INTERVALS;
    if (refresh < at) at = refresh;
    au_nanos deadline = down_deadline(sh, d);
    if (d->state != STATE_DOWN && deadline < at) at = deadline;
    if (d->claim_inc && !d->claim_copied) { /* a claim's copy held back (claim_copy) */
        au_nanos copy = d->copied_at + interval_ns(d) / 8;
        if (copy < at) at = copy;
    }
    return at;
}

static void own(shard *sh, dev *d, au_nanos now, uint64_t previous, bool moved) {
    if (d->role == ROLE_OWNED) return;
    pending_done(sh, d->id, d->inc); /* polled here: nothing to forward any more */
    d->role = ROLE_OWNED;
    sh->st.standby--;
    sh->st.owned++;
    d->last_ok = now;
    d->pending = 0;
    d->retrying = 0;
    /* A device taken over from another owner is announced as moved and keeps the state it had
     * there (a down device stays down until it answers); any other becomes up with its first
     * echo here. */
    if (!previous) previous = d->prev_owner;
    if (previous == sh->ds->self_id) previous = 0;
    moved = moved || previous != 0;
    if (moved) emit(sh, AU_DEVICE_MOVED, d, previous);
    if (!moved) d->state = STATE_UNKNOWN;
    send_request(sh, d, now);
    if (d->claim_inc) send_probe(sh, d, now); /* a claim the previous owner held (claim_from) */
    d->copied_at = now; /* before next_due, which counts the next refresh from it */
    set_due(sh, d, next_due(sh, d));
    send_replicas(sh, d, WHY_REPLICA);
}

static void unown(shard *sh, dev *d) {
    if (d->role != ROLE_OWNED) return;
    poll_out(sh, d);
    d->claim_inc = 0; /* a claim is the poller's to settle */
    d->role = ROLE_STANDBY;
    sh->st.owned--;
    sh->st.standby++;
}

/* d's ring owner is another node: hand the record over, then keep it as standby or forget it. */
static void hand_over(shard *sh, dev *d, const au_cluster_member *to) {
    ds_record r = record_of(sh, d, WHY_HANDOVER); /* with its claim, which unown clears */
    unown(sh, d);
    sh->st.handovers++;
    send_record(sh, to, r);
    if (!is_replica(sh, d->id)) dev_free(sh, d);
}

/* d's device never answered at its incarnation (no heartbeat here since the announce, nor at an
 * earlier owner: hand-overs and copies carry the state) and its down deadline has come: the
 * record is forgotten, not declared down and polled once per interval until forget_after. An
 * announce is taken from any source address (plain: a spoofed one, or a forged peer record
 * naming any), and the polling that followed was a stream of requests to an address that never
 * asked for them, 6,000 per announce at the 10 ms minimum interval; a device that is there and
 * was not heard announces again (it is polled by no one). */
static void forget_silent(shard *sh, dev *d) {
    sh->st.forgotten_silent++;
    log_drop(sh, "device forgotten: it never answered a request", d->id);
    send_replicas(sh, d, WHY_FORGET);
    if (d->prev_owner) table_remove(sh, d->id); /* moved here: the table may name it */
    dev_free(sh, d);
}

/* A claim the run polled has outlasted: down_after intervals since it was taken here, and the
 * run polled has answered a request sent since (it is alive after the claim; a run silent since
 * before it leaves the claim to be taken at the run's down deadline, lateness included). A device that rebooted has its old run silent by then; this one is a forger's, or
 * a second device's with the same id: dropped, logged. It stood for as long as the run answered,
 * and its probe went with every poll to an address of the claimant's choosing (a forged
 * hand-over names any): one forged record had the owner send a request there every interval for
 * good. */
static void claim_lapse(shard *sh, dev *d) {
    d->claim_inc = 0;
    log_drop(sh, "claim dropped: the run polled kept answering for down_after intervals", d->id);
}

static void poll_one(shard *sh, dev *d, au_nanos now) {
    au_nanos iv = interval_ns(d);
    if (d->claim_inc && (d->state == STATE_DOWN || now >= down_deadline(sh, d))) {
        claim_adopt(sh, d, false, now); /* the run polled is silent: the claim is the device's */
        return;
    }
    if (d->claim_inc && d->claim_outlived && now - d->claim_at >= down_span(sh, d))
        claim_lapse(sh, d);
    if (d->claim_inc && now - d->claim_probe >= iv / 4) send_probe(sh, d, now);
    claim_copy(sh, d, now);
    if (d->state != STATE_DOWN && now - d->last_ok >= down_span(sh, d)) {
        if (now >= down_deadline(sh, d) && d->state == STATE_UNKNOWN) {
            forget_silent(sh, d);
            return;
        }
        if (now >= down_deadline(sh, d)) {
            d->state = STATE_DOWN;
            d->held = 0;
            emit(sh, AU_DEVICE_DOWN, d, 0);
            send_replicas(sh, d, WHY_REPLICA); /* the heirs hold it down too */
        } else if (!d->held) { /* it would be down, were this node on time */
            d->held = 1;
            sh->st.downs_held++;
        }
    }
    if (d->state == STATE_DOWN && now - d->last_ok >= sh->ds->cfg.forget_after) {
        send_replicas(sh, d, WHY_FORGET);
        table_remove(sh, d->id);
        dev_free(sh, d);
        return;
    }
    if (now >= request_due(sh, d)) {
        if (((d->pending & 1u) || now >= beat_late_at(sh, d)) && d->state != STATE_DOWN)
            d->retrying = 1;
        send_request(sh, d, now);
    }
    /* Copies travel at most once: refreshed every REFRESH_INTERVALS, a lost one is replaced
     * (all of k copies lost: 5 %^k at 5 % loss). */
    if (now >= refresh_due(d)) {
        d->copied_at = now;
        send_replicas(sh, d, WHY_REPLICA);
        if (d->state != STATE_UNKNOWN) table_check(sh, d);
    }
    set_due(sh, d, next_due(sh, d));
}

/* The node's lateness, from the tick now starting: how long after its due time the tick message
 * runs (it waited behind the mailbox: echoes that arrive now wait as long) and how overdue the
 * most overdue device is, less one tick period (normal). A lower sample lets the hold decay at
 * the rate of real time, so one late moment is remembered for as long as it lasted. */
static void measure_lateness(shard *sh, au_nanos now) {
    au_nanos sample = 0;
    if (sh->tick_due && now > sh->tick_due) sample = now - sh->tick_due;
    au_nanos top = au_wheel_earliest_due(&sh->polls, now);
    if (top != UINT64_MAX && now > top && now - top > sample) sample = now - top;
    sample = sample > sh->ds->cfg.tick ? sample - sh->ds->cfg.tick : 0;
    au_nanos decayed = sh->late_at && now - sh->late_at < sh->late ? sh->late - (now - sh->late_at)
                                                                   : 0;
    sh->late = sample > decayed ? sample : decayed;
    sh->late_at = now;
    sh->st.late_ns = (uint64_t)sh->late;
}

static void tick(shard *sh) {
    au_nanos now = au_node_now(sh->ds->node);
    au_wheel_entry *e;
    measure_lateness(sh, now);
    while ((e = au_wheel_pop_due(&sh->polls, now))) poll_one(sh, dev_of_poll(e), now);
    pending_run(sh, now, false);
}

/* ---- device messages ------------------------------------------------------------------------ */

/* Whether interval clock a is later than b. Clocks are compared by difference, modulo 2^32: a
 * device's clock wraps rather than saturating, so that no clock (a forged 2^32 - 1, plain) beats
 * every one the device can still announce. */
static bool clock_after(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

/* Applies an announce's fields to d (a new incarnation replaces the old run). */
static void apply(dev *d, uint64_t inc, uint32_t clock, uint32_t interval_ms, uint32_t max_dgram,
                  const char *addr, size_t addr_len, uint32_t min_interval) {
    /* no slower than the device takes (AU_DC_MAX_GRANT_MS): a longer grant counts as that
     * there, so it would take its owner for lost between polls and announce at every one */
    uint64_t most = AU_DC_MAX_GRANT_MS(interval_ms);
    if (min_interval > most) min_interval = (uint32_t)most;
    if (interval_ms < min_interval) interval_ms = min_interval;
    if (inc != d->inc) {
        d->inc = inc;
        d->clock = clock;
        d->interval_ms = interval_ms;
        d->req_top = 0;
        d->pending = 0;
        d->state = STATE_UNKNOWN;
    } else if (clock_after(clock, d->clock) || (clock == d->clock && interval_ms < d->interval_ms)) {
        d->clock = clock;
        d->interval_ms = interval_ms;
    }
    d->max_dgram = max_dgram;
    set_addr(d, addr, addr_len);
}

/* ---- plain: another device incarnation is a claim ----------------------------------------- */

/* Whether device id's messages reach this node authenticated: the node seals with a cluster
 * key, or holds the device's own key (its plain messages are dropped by the transport). */
static bool authenticated(shard *sh, uint64_t id) {
    return au_node_sealed(sh->ds->node) || au_node_device_keyed(sh->ds->node, id);
}

/* Whether the incarnation d is polled at may give way to inc at once: declared down, silent
 * for as long as a device may be (down_deadline: down_after intervals, the node's lateness
 * included), or, for a higher one, never heard here (no heartbeat of it counted yet). */
static bool run_yields(shard *sh, const dev *d, uint64_t inc, au_nanos now) {
    return d->state == STATE_DOWN || now >= down_deadline(sh, d) ||
           (inc > d->inc && d->state == STATE_UNKNOWN);
}

/* A request to the claimed incarnation at the claimed address, numbered by a keyed hash: its
 * answer, from that address at that incarnation and echoing that number, is what an off-path
 * forger cannot give (it never sees the request), and what a device that really rebooted there
 * gives within a round trip. Lease 1: only the answer is asked for. */
static void send_probe(shard *sh, dev *d, au_nanos now) {
    d->claim_probe = now;
    au_device_down_ref ref =
        au_forge(au_device_down, au_device_down, sh->ds->node, AU_DEVICE_CLIENT_NAME, d->claim_addr);
    if (au_ref_is_null(ref.raw)) {
        sh->st.drops_invalid++;
        return;
    }
    sh->st.requests_sent++;
    au_send(ref, ((au_device_down){ .tag = au_device_down_request,
                                    .request = { .device = d->id, .incarnation = d->claim_inc,
                                                 .server = sh->ds->self_id,
                                                 .request = d->claim_req,
                                                 .clock = d->claim_clock,
                                                 .interval_ms = d->claim_interval,
                                                 .beats = 1 } }));
    (void)au_unforge(ref); /* the message queued keeps the entry until it is sent */
}

/* The standby copies learn of a new claim at once, not at the next refresh (10 intervals on,
 * when the claim has long been settled): the heir of an owner that dies meanwhile goes on
 * probing it. At most one copy per eighth of an interval (a forger alternating incarnations
 * gets no more copies sent than probes); one held back goes with the claim's next probe
 * (poll_one). */
static void claim_copy(shard *sh, dev *d, au_nanos now) {
    if (!d->claim_inc || d->claim_copied || now - d->copied_at < interval_ns(d) / 8) return;
    d->copied_at = now;
    d->claim_copied = 1;
    send_replicas(sh, d, WHY_REPLICA);
}

/* Plain: an announce of d at another incarnation while the one polled is live. Anyone can send
 * one (plain announces are not authenticated), so it does not replace the record: a forged
 * higher incarnation had made the server poll the forger's run and refuse the device's own
 * announces as stale until the forged record was down and forgotten (forget_after). It is held
 * as the record's claim (a third incarnation replaces it) and its address probed
 * (send_probe); it takes the record's place when the probe is answered (on_heartbeat), or
 * when the incarnation polled has been silent for down_after intervals (poll_one), as a device
 * that rebooted is. The probe is repeated with the polls while the claim stands. */
static void claim_take(shard *sh, dev *d, const ds_record *r, au_nanos now) {
    sh->st.claims++;
    bool fresh = r->incarnation != d->claim_inc;
    if (fresh) {
        d->claim_inc = r->incarnation;
        d->claim_at = now;
        d->claim_outlived = 0;
        d->claim_req = au_splitmix64_at(sh->ds->secret ^ au_splitmix64_at(d->id ^ r->incarnation));
        log_drop(sh, "announce held as a claim: another incarnation than the live one polled", d->id);
    }
    d->claim_clock = r->clock;
    uint64_t most = AU_DC_MAX_GRANT_MS(r->interval_ms);
    uint32_t min = sh->ds->cfg.min_interval_ms > most ? (uint32_t)most : sh->ds->cfg.min_interval_ms;
    d->claim_interval = r->interval_ms < min ? min : r->interval_ms;
    d->claim_dgram = r->max_datagram;
    size_t len = r->address.len < sizeof d->claim_addr ? r->address.len : sizeof d->claim_addr - 1;
    memcpy(d->claim_addr, r->address.ptr, len);
    d->claim_addr[len] = 0;
    /* at most one probe per eighth of an interval, whatever incarnations are claimed: a forger
     * alternating them gets no more requests sent to its address than an announce ever did */
    if (now - d->claim_probe >= interval_ns(d) / 8) send_probe(sh, d, now);
    if (fresh) d->claim_copied = 0;
    claim_copy(sh, d, now);
    set_due(sh, d, next_due(sh, d)); /* a copy held back is due within an eighth interval */
}

/* A hand-over or standby copy's claim (claim_incarnation, ...), applied to d after the record
 * (apply): the previous owner's claim is d's, to be probed when this node polls d; none, or one
 * of the incarnation d now holds, clears d's. A claim without an interval or an address that
 * fits (1 to 63 bytes) is dropped and counted, the record kept. Sealed or keyed devices have no
 * claims (their announces are authenticated). */
static void claim_from(shard *sh, dev *d, const ds_record *r) {
    d->claim_inc = 0;
    if (!r->claim_incarnation || r->claim_incarnation == d->inc || authenticated(sh, d->id)) return;
    if (!r->claim_interval_ms || !r->claim_address.len ||
        r->claim_address.len >= sizeof d->claim_addr) {
        sh->st.drops_invalid++;
        log_drop(sh, "claim of a peer record dropped: no interval, or a bad address", d->id);
        return;
    }
    d->claim_inc = r->claim_incarnation;
    d->claim_req = au_splitmix64_at(sh->ds->secret ^ au_splitmix64_at(d->id ^ d->claim_inc));
    d->claim_clock = r->claim_clock;
    uint64_t most = AU_DC_MAX_GRANT_MS(r->claim_interval_ms);
    uint32_t min = sh->ds->cfg.min_interval_ms > most ? (uint32_t)most : sh->ds->cfg.min_interval_ms;
    d->claim_interval = r->claim_interval_ms < min ? min : r->claim_interval_ms;
    d->claim_dgram = r->claim_max_datagram;
    memcpy(d->claim_addr, r->claim_address.ptr, r->claim_address.len);
    d->claim_addr[r->claim_address.len] = 0;
    d->claim_probe = 0;
    d->claim_copied = 0; /* to this node's heirs, once it polls the device */
    d->claim_at = au_node_now(sh->ds->node); /* its own down_after intervals here */
    d->claim_outlived = 0;
}

/* Two devices configured with one id (and their own incarnations) take its record from each
 * other: each, no longer polled, announces again, its claim is probed and answered, and the
 * record goes back to the incarnation it left. A device that reboots goes to a new incarnation
 * and never back to the one it left, so a claim answered at the incarnation the last claim
 * replaced, within CONFLICT_INTERVALS intervals, while the run it replaces answered here (is
 * up), is two live devices behind one id: counted (id_conflicts) and logged with both
 * addresses, at most once per second per shard. Two words per record, a compare per claim
 * taken; nothing per announce. */
enum { CONFLICT_INTERVALS = 64 };
static void id_conflict(shard *sh, const dev *d, uint64_t other, const char *addr, size_t len,
                        const char *what, au_nanos now) {
    sh->st.id_conflicts++;
    if (sh->conflict_log_at && now - sh->conflict_log_at < AU_SEC(1)) {
        sh->conflict_suppressed++;
        return;
    }
    au_log(AU_LOG_DEVICES, AU_LOG_WARN,
           "device %016llx: two devices share this id: incarnation %llu at %s and %llu at %.*s %s "
           "(id_conflicts; %llu similar not logged)",
           (unsigned long long)d->id, (unsigned long long)d->inc, d->addr, (unsigned long long)other,
           (int)len, addr, what, (unsigned long long)sh->conflict_suppressed);
    sh->conflict_log_at = now;
    sh->conflict_suppressed = 0;
}

static void id_conflict_check(shard *sh, dev *d, bool answered, au_nanos now) {
    if (answered && d->left_inc && d->claim_inc == d->left_inc && d->state == STATE_UP &&
        now - d->left_at < interval_ns(d) * CONFLICT_INTERVALS)
        id_conflict(sh, d, d->claim_inc, d->claim_addr, strlen(d->claim_addr),
                    "take its record from each other at every announce", now);
    d->left_inc = d->inc;
    d->left_at = now;
}

/* Authenticated (sealed or keyed), the higher incarnation keeps the record and the other's
 * announces are dropped as stale, for good: the second device is polled by no one, announcing
 * at its backoff (up to announce_max_ms, 8 intervals or 30 s by default). A reboot's old run
 * falls silent; a stale announce from another address than the record's, while the run polled
 * is up, again 2 intervals to CONFLICT_INTERVALS intervals or 64 s (the longer) after the last
 * (the copies of one announce, through several nodes, come within a round trip) is the other
 * device's re-announce: counted and logged as above. */
static void stale_check(shard *sh, dev *d, const ds_record *r, au_nanos now) {
    if (r->why != WHY_FORWARD || d->role != ROLE_OWNED || d->state != STATE_UP ||
        !authenticated(sh, d->id) ||
        (strlen(d->addr) == r->address.len && memcmp(d->addr, r->address.ptr, r->address.len) == 0))
        return;
    au_nanos iv = interval_ns(d);
    if (d->stale_at && now - d->stale_at < 2 * iv) return; /* the same announce, another copy */
    au_nanos window = iv * CONFLICT_INTERVALS > AU_SEC(64) ? iv * CONFLICT_INTERVALS : AU_SEC(64);
    if (d->stale_at && now - d->stale_at < window)
        id_conflict(sh, d, r->incarnation, r->address.ptr, r->address.len,
                    "announce: the older one is dropped as stale at every announce", now);
    d->stale_at = now;
}

/* d's claim replaces the incarnation polled, as an announce of it would have: a new run,
 * polled from a request sent now. answered: the claim's probe was answered (else the run polled
 * fell silent). */
static void claim_adopt(shard *sh, dev *d, bool answered, au_nanos now) {
    sh->st.claims_taken++;
    id_conflict_check(sh, d, answered, now);
    apply(d, d->claim_inc, d->claim_clock, d->claim_interval, d->claim_dgram, d->claim_addr,
          strlen(d->claim_addr), sh->ds->cfg.min_interval_ms);
    d->claim_inc = 0;
    d->last_ok = now; /* the new run's down deadline counts from here, as at own() */
    d->held = 0;
    d->retrying = 0;
    send_replicas(sh, d, WHY_REPLICA);
    send_request(sh, d, now);
    set_due(sh, d, next_due(sh, d));
}

static void on_record(shard *sh, ds_record *r);

static void on_announce(shard *sh, const au_device_announce *a, const au_str *from) {
    sh->st.announces++;
    if (!a->device || !a->incarnation || !a->interval_ms || !from->len) {
        sh->st.drops_invalid++;
        return;
    }
    ds_record r = { .why = WHY_FORWARD, .device = a->device, .incarnation = a->incarnation,
                    .clock = a->clock, .interval_ms = a->interval_ms,
                    .max_datagram = a->max_datagram, .address = *from, .from = sh->ds->self_id };
    on_record(sh, &r); /* r.address is a view of from, which the message frees */
}

static void on_heartbeat(shard *sh, const au_device_heartbeat *h, const au_str *from) {
    dev *d = au_u64map_get(&sh->devs, h->device);
    if (!d || d->role != ROLE_OWNED) {
        sh->st.drops_not_owned++;
        return;
    }
    if (h->incarnation != d->inc) {
        if (d->claim_inc && h->incarnation == d->claim_inc && h->beat == 0 &&
            h->request == d->claim_req && strlen(d->claim_addr) == from->len &&
            memcmp(d->claim_addr, from->ptr, from->len) == 0) {
            claim_adopt(sh, d, true, au_node_now(sh->ds->node)); /* the probe answered */
            return;
        }
        sh->st.drops_stale++;
        return;
    }
    uint64_t back = d->req_top - h->request;
    au_nanos now = au_node_now(sh->ds->node);
    au_nanos alive;
    bool liveness_only = false;
    if (h->beat) {
        /* A beat of a lease: of the last request, past the last beat heard, within the lease;
         * or of the request before it, past its last beat heard (a beat that crossed a retry),
         * for liveness only. The device sent beat j j intervals after the request reached it, so
         * it was alive at the request's departure + j intervals by its clock; counted as
         * j * (1 - 1/32) intervals (the arrival caps it), death -> down stays within down_after
         * intervals whatever the delay, as for an answer, for a device clock up to 3 % fast. */
        bool current = h->request == d->req_top && h->beat > d->beat;
        bool previous = d->req_top >= 2 && h->request + 1 == d->req_top && h->beat > d->prev_beat;
        if (h->beat >= sh->ds->cfg.lease || !(current || previous)) {
            sh->st.drops_unsolicited++;
            return;
        }
        au_nanos after = interval_ns(d) * h->beat - beat_slack(d, h->beat);
        sh->st.beats++;
        if (current) {
            d->beat = (uint8_t)h->beat;
            d->pending &= ~1ull; /* the request came through, whether or not its answer did */
            d->heard = now;
        } else {
            d->prev_beat = (uint8_t)h->beat;
            liveness_only = true;
        }
        alive = (current ? d->last_sent : d->prev_sent) + after;
        if (alive > now) alive = now;
    } else {
        if (h->request > d->req_top || back >= 64 || !(d->pending & (1ull << back))) {
            sh->st.drops_unsolicited++;
            return;
        }
        d->pending &= ~(1ull << back);
        if (back == 0) d->heard = now;
        /* The device was alive when it answered, some time after the request went out: the
         * down deadline counts from the request's departure, so death -> down stays within
         * down_after intervals whatever the round trip. Departures are kept for the last two;
         * an older request left before the one before last, whose departure is taken (late by
         * at most the retries between them, where the arrival would be late by the whole delay). */
        alive = back == 0 ? d->last_sent : d->prev_sent;
    }
    sh->st.heartbeats++;
    if (alive > d->last_ok) d->last_ok = alive;
    if (d->claim_inc && alive >= d->claim_at) d->claim_outlived = 1; /* alive after the claim */
    d->held = 0;
    /* A beat of the request before last proves the device alive: the last request is still
     * unanswered (the retries go on), and the beat may come from where the device was, not
     * where it is (the address stays, once the last request has been heard of) ... */
    if (!liveness_only) d->retrying = 0;
    /* ... unless nothing has come for the last request yet: a device that moved answers from
     * its new address only once a retry reaches it there, and its beats (never older ones: each
     * must come after the last heard) are then the newest word of where it is */
    if (!liveness_only || ((d->pending & 1u) && d->heard < d->last_sent))
        set_addr(d, from->ptr, from->len);
    /* The device's clock, in a heartbeat that counted: a record at another clock (one an
     * announce forged it to, in plain mode, or one the device moved far past) goes to one
     * behind it, so that the request carries a clock the device does not have, it announces its
     * own (au_dc's on_request), and that announce is taken, whatever clock the record held. */
    if (!liveness_only && h->clock != d->clock) d->clock = h->clock - 1;
    if (d->state != STATE_UP) {
        d->state = STATE_UP;
        emit(sh, AU_DEVICE_UP, d, 0);
        /* up (again), for the heirs too: one that took the device over holding the copy made
         * at take-over ("not yet up") would forget it as never heard (forget_silent) if it did
         * not answer there in time, and its subscribers, told "up", would never hear "down" */
        send_replicas(sh, d, WHY_REPLICA);
    }
    set_due(sh, d, next_due(sh, d));
}

static void on_conflict(shard *sh, const au_device_conflict *c) {
    sh->st.conflicts++;
    dev *d = au_u64map_get(&sh->devs, c->device);
    if (!d || d->role != ROLE_OWNED) return;
    const au_cluster_member *o = ring_owner(sh, d->id);
    if (o && o->id != sh->ds->self_id) hand_over(sh, d, o);
}

/* A user message from a device: delivered here and relayed to every other member. */
static void deliver_message(shard *sh, au_device_message *m, bool relay) {
    sh->st.messages_in++;
    pthread_mutex_lock(&sh->ds->lock);
    for (size_t i = 0; i < sh->ds->nrecvs; i++)
        au_send(sh->ds->recvs[i], ((au_device_message){
                                  .device = m->device, .incarnation = m->incarnation,
                                  .type = m->type, .owner = m->owner,
                                  .payload = au_bytes_dup(m->payload.ptr, m->payload.len) }));
    pthread_mutex_unlock(&sh->ds->lock);
    if (!relay || !sh->ring) return;
    for (size_t i = 0; i < au_ring_size(sh->ring); i++) {
        const au_cluster_member *mb = au_ring_member(sh->ring, i);
        if (mb->id == sh->ds->self_id) continue;
        ds_msg_ref ref = member_ref(sh, mb);
        if (au_ref_is_null(ref.raw)) continue;
        au_send(ref, ((ds_msg){ .tag = ds_msg_message,
                                .message = { .device = m->device, .incarnation = m->incarnation,
                                             .type = m->type, .owner = m->owner,
                                             .payload = au_bytes_dup(m->payload.ptr,
                                                                     m->payload.len) } }));
    }
}

/* owner 0: from a device, not yet through its owner. */
static void on_message(shard *sh, au_device_message *m) {
    if (m->owner) {
        deliver_message(sh, m, false);
        return;
    }
    dev *d = au_u64map_get(&sh->devs, m->device);
    if (d && d->role == ROLE_OWNED) {
        if (m->incarnation != d->inc) {
            sh->st.drops_stale++;
            return;
        }
        m->owner = sh->ds->self_id;
        deliver_message(sh, m, true);
        return;
    }
    const au_cluster_member *o = ring_owner(sh, m->device);
    if (!o || o->id == sh->ds->self_id) { /* the owner, but the device is not known (yet) */
        sh->st.drops_not_owned++;
        return;
    }
    ds_msg_ref ref = member_ref(sh, o);
    if (au_ref_is_null(ref.raw)) return;
    sh->st.forwarded++;
    au_send(ref, ((ds_msg){ .tag = ds_msg_message,
                            .message = { .device = m->device, .incarnation = m->incarnation,
                                         .type = m->type, .owner = 0,
                                         .payload = au_bytes_dup(m->payload.ptr, m->payload.len) } }));
}

static void on_uplink(shard *sh, ds_uplink *u) {
    au_device_up *up = &u->up;
    switch (up->tag) {
    case au_device_up_announce: on_announce(sh, &up->announce, &u->from); break;
    case au_device_up_heartbeat: on_heartbeat(sh, &up->heartbeat, &u->from); break;
    case au_device_up_conflict: on_conflict(sh, &up->conflict); break;
    case au_device_up_data: {
        au_device_message m = { .device = up->data.device, .incarnation = up->data.incarnation,
                                .type = up->data.type, .payload = up->data.payload };
        on_message(sh, &m);
        break;
    }
    default: sh->st.drops_invalid++; break;
    }
}

/* ---- records between servers ---------------------------------------------------------------- */

static void on_record(shard *sh, ds_record *r) {
    if (!r->device || !r->incarnation || !r->interval_ms || !r->address.len) {
        sh->st.drops_invalid++;
        return;
    }
    if (r->why < WHY_FORWARD || r->why > WHY_ACK || r->up < STATE_UNKNOWN || r->up > STATE_DOWN ||
        r->hops < 0) {
        sh->st.drops_invalid++;
        log_drop(sh, "peer record dropped: a reason, state or hop count out of range", r->device);
        return;
    }
    au_nanos now = au_node_now(sh->ds->node);
    dev *d = au_u64map_get(&sh->devs, r->device);
    if (r->why == WHY_FORGET) {
        if (d && d->role == ROLE_STANDBY && d->inc <= r->incarnation) dev_free(sh, d);
        return;
    }
    if (r->why == WHY_ACK) {
        pending_done(sh, r->device, r->incarnation);
        return;
    }
    /* Plain, an announce of another incarnation than the live one polled is a claim (both
     * ways: a forged higher one may have been taken while the device's run was not heard yet,
     * and the device's own, lower, then wins it back); sealed, it is the device's (older
     * refused, newer adopted). */
    /* A hand-over to a node that polls the device already (views differed) is no more
     * authenticated than an announce: plain, anyone can send one to the peer endpoint, and a
     * forged one with a higher incarnation replaced the live run at once. */
    bool claimable = r->why == WHY_FORWARD || r->why == WHY_HANDOVER;
    if (d && claimable && r->incarnation != d->inc && !authenticated(sh, r->device)) {
        if (d->role == ROLE_OWNED && owner_is_me(sh, r->device) &&
            !run_yields(sh, d, r->incarnation, now)) {
            if (r->why == WHY_FORWARD) ack(sh, r); /* held here: nothing to re-send */
            claim_take(sh, d, r, now);
            return;
        }
        if (d->role == ROLE_OWNED) d->claim_inc = 0; /* taken at once (below) */
    }
    if (d && r->incarnation < d->inc &&
        !(r->why == WHY_FORWARD && d->role == ROLE_OWNED && owner_is_me(sh, r->device) &&
          !authenticated(sh, r->device))) {
        sh->st.drops_stale++;
        stale_check(sh, d, r, now);
        if (r->why == WHY_FORWARD) ack(sh, r); /* it has a later run: nothing to re-send */
        return;
    }
    /* An announce whose clock is far from the record's, either way (2^32 - 1 is behind 1): no
     * device gets that far by au_dc_set_interval between two of its announces, no reordered
     * announce is that far behind, and one far ahead, taken, would outrank every announce of
     * the device's own (in plain mode anyone can send one). Dropped; a device that really is
     * that far from the record says so in its heartbeats (on_heartbeat takes their clock). */
    if (d && r->why == WHY_FORWARD && r->incarnation == d->inc &&
        r->clock - d->clock > AU_DC_CLOCK_WINDOW && d->clock - r->clock > AU_DC_CLOCK_WINDOW) {
        sh->st.drops_clock_far++;
        log_drop(sh, "announce dropped: its interval clock is far from the device's", r->device);
        ack(sh, r); /* nothing to re-send: a re-sent copy would be dropped the same */
        return;
    }
    bool mine = owner_is_me(sh, r->device);
    if (r->why == WHY_FORWARD && !mine) {
        const au_cluster_member *o = ring_owner(sh, r->device);
        if (!o || r->hops >= MAX_HOPS) {
            sh->st.drops_not_owned++;
            return;
        }
        /* keep the standby copy current (plain: within its incarnation; the owner's copies
         * say which incarnation it polls, and a forged announce must not change that here) */
        if (d && d->role == ROLE_STANDBY &&
            (r->incarnation == d->inc || authenticated(sh, r->device)))
            apply(d, r->incarnation, r->clock, r->interval_ms, r->max_datagram, r->address.ptr,
                  r->address.len, sh->ds->cfg.min_interval_ms);
        /* Accepted here from the device: kept until the owner acknowledges it. */
        if (r->hops == 0 && r->from == sh->ds->self_id) pending_put(sh, r, now);
        forward(sh, r, o);
        return;
    }
    if (r->why == WHY_REPLICA && d && d->role == ROLE_OWNED) return; /* views differ: ours rules */
    if (!d) {
        if (r->why == WHY_REPLICA && !is_replica(sh, r->device) && !mine) return;
        /* The bucket is for announces of devices not known before. A hand-over or a copy is of
         * a device the cluster knows: with a cluster key (only members send records) it is
         * bounded by max_devices alone, so that a re-balance larger than one second's burst is
         * not dropped (its devices were polled by no one until they announced again); plain,
         * anyone can send one, and the bucket bounds them as it bounds announces. */
        bool rated = r->why == WHY_FORWARD || !au_node_sealed(sh->ds->node);
        if (!admit(sh, r->device, rated) || !(d = dev_new(sh, r->device))) return;
    }
    if (r->why == WHY_FORWARD && mine) ack(sh, r); /* the record is here from now on */
    bool was_owned = d->role == ROLE_OWNED;
    uint64_t inc_before = d->inc;
    uint32_t interval_before = d->interval_ms;
    apply(d, r->incarnation, r->clock, r->interval_ms, r->max_datagram, r->address.ptr,
          r->address.len, sh->ds->cfg.min_interval_ms);
    /* The owner's word on the state, in its hand-over or copy (of the same incarnation as well:
     * a copy made when it began to poll the device said "not yet up", and the heir that took
     * the device over then reported it up after it had been declared down) */
    if (r->why != WHY_FORWARD && (!was_owned || inc_before != r->incarnation))
        d->state = (uint8_t)r->up;
    if (r->why != WHY_FORWARD) d->prev_owner = r->from;
    if (r->why != WHY_FORWARD && !was_owned) claim_from(sh, d, r);
    if (!mine) return; /* standby until the ring gives it here */
    if (!was_owned) {
        own(sh, d, now, r->why == WHY_FORWARD ? 0 : r->from, r->why == WHY_HANDOVER);
        return;
    }
    if (inc_before != d->inc) { /* the run polled gave way at once (run_yields; sealed, to a newer) */
        d->left_inc = inc_before;
        d->left_at = now;
    }
    /* Already polling: an announce from the device is answered at once (it may have lost our
     * requests, or changed interval), at most every eighth of an interval. */
    if (inc_before != d->inc || interval_before != d->interval_ms) send_replicas(sh, d, WHY_REPLICA);
    /* A new interval goes into the Devices table now, not at the next refresh (10 intervals of
     * it later, when the table said the old one meanwhile). */
    if (inc_before == d->inc && interval_before != d->interval_ms && d->state != STATE_UNKNOWN)
        table_put(sh, d);
    if (r->why == WHY_FORWARD && now - d->last_sent >= interval_ns(d) / 8) {
        send_request(sh, d, now);
        set_due(sh, d, next_due(sh, d));
    }
}

/* ---- forwarded announces awaiting their owner ------------------------------------------------ */

static au_nanos pending_step(const pend *p) {
    uint32_t ms = p->interval_ms / 2;
    if (ms < PENDING_MIN_MS) ms = PENDING_MIN_MS;
    if (ms > PENDING_MAX_MS) ms = PENDING_MAX_MS;
    return AU_MSEC(ms);
}

static void forward(shard *sh, const ds_record *r, const au_cluster_member *o) {
    sh->st.forwarded++;
    ds_record f = *r;
    f.hops++;
    f.address = au_str_dup(r->address.ptr, r->address.len);
    f.claim_incarnation = 0; /* a forwarded announce has none */
    f.claim_address = (au_str){ 0 };
    send_record(sh, o, f);
}

/* Notes an announce accepted here and forwarded (a later announce of the device refreshes it).
 * A full table leaves it to the device's own re-announcing, counted. */
static void pending_put(shard *sh, const ds_record *r, au_nanos now) {
    pend *p = au_u64map_get(&sh->pending, r->device);
    /* sealed, a later run's announce is not given up for an older one; plain, the latest is
     * kept, whatever its incarnation (a forged higher one must not stop the device's own
     * being re-sent) */
    if (p && r->incarnation < p->inc && authenticated(sh, r->device)) return;
    if (!p) {
        if (atomic_load(&sh->ds->npending) >= PENDING_MAX || !(p = calloc(1, sizeof *p))) {
            sh->st.forwards_untracked++;
            return;
        }
        if (!au_u64map_put(&sh->pending, r->device, p)) {
            free(p);
            sh->st.forwards_untracked++;
            return;
        }
        atomic_fetch_add(&sh->ds->npending, 1);
        p->id = r->device;
    }
    p->inc = r->incarnation;
    p->clock = r->clock;
    p->interval_ms = r->interval_ms;
    p->max_dgram = r->max_datagram;
    size_t len = r->address.len < sizeof p->addr ? r->address.len : sizeof p->addr - 1;
    memcpy(p->addr, r->address.ptr, len);
    p->addr[len] = 0;
    p->tries = 0;
    p->due = now + pending_step(p);
    if (sh->pending.count == 1 || p->due < sh->pending_due) sh->pending_due = p->due;
}

/* The owner has the record of device (at incarnation inc or later): nothing more to send. */
static void pending_done(shard *sh, uint64_t device, uint64_t inc) {
    pend *p = au_u64map_get(&sh->pending, device);
    if (!p || p->inc > inc) return;
    au_u64map_take(&sh->pending, device);
    atomic_fetch_sub(&sh->ds->npending, 1);
    free(p);
}

/* The owner's acknowledgement of a forwarded announce, to the node that accepted it. */
static void ack(shard *sh, const ds_record *r) {
    if (r->from == sh->ds->self_id || !sh->ring) return;
    for (size_t i = 0; i < au_ring_size(sh->ring); i++) {
        const au_cluster_member *m = au_ring_member(sh->ring, i);
        if (m->id != r->from) continue;
        send_record(sh, m, (ds_record){ .why = WHY_ACK, .device = r->device,
                                        .incarnation = r->incarnation, .clock = r->clock,
                                        .interval_ms = r->interval_ms,
                                        .max_datagram = r->max_datagram,
                                        .address = au_str_dup(r->address.ptr, r->address.len),
                                        .from = sh->ds->self_id });
        return;
    }
}

/* Re-sends the pending forwards that are due (all of them when all_now: the ring changed), to
 * the owner the ring names now; one that this node owns now is taken here. */
static void pending_run(shard *sh, au_nanos now, bool all_now) {
    if (!sh->pending.count || (!all_now && now < sh->pending_due)) return;
    size_t n = sh->pending.count, k = 0;
    uint64_t *ids = malloc(n * sizeof *ids);
    if (!ids) return;
    for (size_t i = 0; i < sh->pending.cap && k < n; i++)
        if (sh->pending.keys[i]) ids[k++] = sh->pending.keys[i];
    au_nanos next = 0;
    for (size_t i = 0; i < k; i++) {
        pend *p = au_u64map_get(&sh->pending, ids[i]);
        if (!p) continue;
        if (all_now) p->tries = 0;
        if (all_now || p->due <= now) {
            const au_cluster_member *o = ring_owner(sh, p->id);
            bool mine = o && o->id == sh->ds->self_id;
            if (mine || p->tries >= PENDING_TRIES) {
                au_u64map_take(&sh->pending, p->id);
                atomic_fetch_sub(&sh->ds->npending, 1);
                ds_record r = { .why = WHY_FORWARD, .device = p->id, .incarnation = p->inc,
                                .clock = p->clock, .interval_ms = p->interval_ms,
                                .max_datagram = p->max_dgram,
                                .address = au_str_view(p->addr), .from = sh->ds->self_id };
                if (mine) on_record(sh, &r); /* the ring gives it here now */
                free(p);
                continue;
            }
            p->due = now + pending_step(p);
            if (o) {
                p->tries++;
                sh->st.forward_retries++;
                forward(sh,
                        &(ds_record){ .why = WHY_FORWARD, .device = p->id, .incarnation = p->inc,
                                      .clock = p->clock, .interval_ms = p->interval_ms,
                                      .max_datagram = p->max_dgram,
                                      .address = au_str_view(p->addr), .from = sh->ds->self_id },
                        o);
            }
        }
        if (!next || p->due < next) next = p->due;
    }
    sh->pending_due = next;
    free(ids);
}

/* The ring changed: this shard takes the latest one the core received (ds->ring) and re-checks
 * each of its records against it. A shard told twice of one ring does nothing the second time. */
static void on_ring(shard *sh) {
    au_device_server *ds = sh->ds;
    pthread_mutex_lock(&ds->lock);
    au_ring *latest = ds->ring;
    bool same = latest == sh->ring;
    if (!same && latest) au_ring_retain(latest);
    pthread_mutex_unlock(&ds->lock);
    if (same || !latest) return;
    au_ring *old = sh->ring;
    without_free(sh);
    sh->ring = latest;
    au_ring_release(old);
    au_nanos now = au_node_now(sh->ds->node);
    size_t n = sh->devs.count, k = 0;
    uint64_t *ids = n ? malloc(n * sizeof *ids) : NULL;
    if (n && !ids) return;
    for (size_t i = 0; i < sh->devs.cap && k < n; i++)
        if (sh->devs.keys[i]) ids[k++] = sh->devs.keys[i];
    for (size_t i = 0; i < k; i++) {
        dev *d = au_u64map_get(&sh->devs, ids[i]);
        if (!d) continue;
        const au_cluster_member *o = ring_owner(sh, d->id);
        if (!o) continue;
        if (o->id == sh->ds->self_id) {
            if (d->role == ROLE_OWNED) send_replicas(sh, d, WHY_REPLICA);
            else own(sh, d, now, d->prev_owner, true);
        } else if (d->role == ROLE_OWNED) {
            hand_over(sh, d, o);
        } else if (!is_replica(sh, d->id)) {
            dev_free(sh, d);
        }
    }
    free(ids);
    /* An announce forwarded under the old ring may have gone to a node that is gone now, or is
     * no longer the owner: to the owner of the new ring, at once. */
    pending_run(sh, now, true);
}

static void on_send(shard *sh, ds_send *s) {
    if (s->hops < 0) { /* it bounds the passing on: never below 0 */
        sh->st.drops_invalid++;
        log_drop(sh, "message for a device dropped: a negative hop count", s->device);
        return;
    }
    dev *d = au_u64map_get(&sh->devs, s->device);
    if (d && d->role == ROLE_OWNED) {
        /* one datagram, within the device's buffer and the node's mtu: beyond the mtu the node
         * sends fragments, which a device refuses (it does not reassemble) */
        size_t most = au_node_mtu(sh->ds->node);
        if (d->max_dgram < most) most = d->max_dgram;
        if ((size_t)s->payload.len + AU_DEVICE_DOWN_OVERHEAD > most) {
            sh->st.drops_too_big++;
            log_drop(sh, "message to the device dropped: larger than its max_datagram or the node's mtu",
                     d->id);
            return;
        }
        sh->st.messages_out++;
        au_bytes p = s->payload;
        s->payload = (au_bytes){ 0 };
        if (!p.owned) p = au_bytes_dup(p.ptr, p.len);
        downlink(sh, d, (au_device_down){ .tag = au_device_down_data,
                                          .data = { .device = d->id, .incarnation = d->inc,
                                                    .server = sh->ds->self_id, .type = s->type,
                                                    .payload = p } });
        return;
    }
    const au_cluster_member *o = ring_owner(sh, s->device);
    if (!o || o->id == sh->ds->self_id || s->hops >= MAX_HOPS) {
        sh->st.drops_not_owned++;
        return;
    }
    ds_msg_ref ref = member_ref(sh, o);
    if (au_ref_is_null(ref.raw)) return;
    sh->st.forwarded++;
    au_send(ref, ((ds_msg){ .tag = ds_msg_send,
                            .send = { .device = s->device, .type = s->type, .hops = s->hops + 1,
                                      .payload = au_bytes_dup(s->payload.ptr, s->payload.len) } }));
}

/* ---- the actors ------------------------------------------------------------------------------ */

/* Sends the next tick to the shard's actor, noting when it is due (measure_lateness). With
 * sh->lock. */
static void next_tick(au_ctx *ctx, shard *sh) {
    sh->tick_due = au_node_now(sh->ds->node) + sh->ds->cfg.tick;
    au_send_after(au_self(ctx, ds_msg), sh->ds->cfg.tick, ((ds_msg){ .tag = ds_msg_tick }));
}

static void core_pre_start(au_ctx *ctx, core_state *self) {
    pthread_mutex_lock(&self->sh->lock);
    next_tick(ctx, self->sh);
    pthread_mutex_unlock(&self->sh->lock);
}

/* An owned copy of s, leaving s empty when it owned its bytes (moved) or as it was (a view). */
static au_str take_str(au_str *s) {
    if (s->owned) {
        au_str out = *s;
        *s = (au_str){ 0 };
        return out;
    }
    return au_str_dup(s->ptr, s->len);
}

static au_bytes take_bytes(au_bytes *b) {
    if (b->owned) {
        au_bytes out = *b;
        *b = (au_bytes){ 0 };
        return out;
    }
    return au_bytes_dup(b->ptr, b->len);
}

/* The device a message to the core is about (0: none, or not a device message). */
static uint64_t device_of_up(const au_device_up *up) {
    switch (up->tag) {
    case au_device_up_announce: return up->announce.device;
    case au_device_up_heartbeat: return up->heartbeat.device;
    case au_device_up_conflict: return up->conflict.device;
    case au_device_up_data: return up->data.device;
    default: return 0;
    }
}

/* The core (shard 0) passes what belongs to another shard on to that shard's actor, moving the
 * message's heap parts. Returns whether it did. */
static bool route(au_device_server *ds, ds_msg *m) {
    uint64_t device;
    switch (m->tag) {
    case ds_msg_record: device = m->record.device; break;
    case ds_msg_send: device = m->send.device; break;
    case ds_msg_message: device = m->message.device; break;
    case ds_msg_uplink: device = device_of_up(&m->uplink.up); break;
    default: return false;
    }
    unsigned k = shard_of(ds, device);
    if (k == 0) return false;
    ds_msg out = *m;
    switch (m->tag) {
    case ds_msg_record:
        out.record.address = take_str(&m->record.address);
        out.record.claim_address = take_str(&m->record.claim_address);
        break;
    case ds_msg_send: out.send.payload = take_bytes(&m->send.payload); break;
    case ds_msg_message: out.message.payload = take_bytes(&m->message.payload); break;
    default:
        out.uplink.from = take_str(&m->uplink.from);
        if (m->uplink.up.tag == au_device_up_data)
            out.uplink.up.data.payload = take_bytes(&m->uplink.up.data.payload);
        break;
    }
    au_send(ds->shards[k].local, out);
    return true;
}

/* The core: shard 0's actor, and the servers' peer: it takes the ring updates (telling the
 * other shards) and passes on what is another shard's. */
static void core_recv(au_ctx *ctx, core_state *self, ds_msg *m) {
    shard *sh = self->sh;
    au_device_server *ds = sh->ds;
    /* The node's own messages (the endpoint's uplinks, ticks, the cluster's ring updates, ring
     * notices) come only from this node. From the network (the core is "<name>.peer", which
     * anyone who knows a server's address can reach, plain) a forged ring handed every device
     * to a made-up member, each forged tick started one more timer for good, and a forged
     * uplink named any source address: dropped, counted and logged. */
    /* A record naming this node as its sender never comes from the network (a node sends none
     * to itself): forged, one made this node keep and re-send an announce it never took
     * (pending_put), filling the bound that keeps real ones. */
    bool own_record = m->tag == ds_msg_record && m->record.from == ds->self_id;
    if (own_record || (m->tag != ds_msg_record && m->tag != ds_msg_send && m->tag != ds_msg_message)) {
        char origin[8];
        if (au_ctx_origin(ctx, origin, sizeof origin)) {
            pthread_mutex_lock(&sh->lock);
            sh->st.drops_invalid++;
            log_drop(sh, "peer message dropped: a node's own message, from the network", 0);
            pthread_mutex_unlock(&sh->lock);
            return;
        }
    }
    if (sh->index == 0 && ds->nshards > 1 && route(ds, m)) return;
    if (sh->index == 0 && m->tag == ds_msg_update) {
        pthread_mutex_lock(&ds->lock);
        au_ring *old = ds->ring;
        ds->ring = au_ring_retain(m->update.ring.ring);
        pthread_mutex_unlock(&ds->lock);
        au_ring_release(old);
        for (unsigned k = 1; k < ds->nshards; k++)
            au_send(ds->shards[k].local, ((ds_msg){ .tag = ds_msg_ring }));
    }
    pthread_mutex_lock(&sh->lock);
    switch (m->tag) {
    case ds_msg_uplink: on_uplink(sh, &m->uplink); break;
    case ds_msg_record: on_record(sh, &m->record); break;
    case ds_msg_send: on_send(sh, &m->send); break;
    case ds_msg_message: on_message(sh, &m->message); break;
    case ds_msg_update:
        if (sh->index == 0) on_ring(sh); /* others: only through the core */
        else sh->st.drops_invalid++;
        break;
    case ds_msg_ring: on_ring(sh); break;
    case ds_msg_tick:
        tick(sh);
        next_tick(ctx, sh);
        break;
    default: sh->st.drops_invalid++; break;
    }
    pthread_mutex_unlock(&sh->lock);
}
AU_ACTOR(core_actor, core_state, ds_msg, .pre_start = core_pre_start, .recv = core_recv);

static void endpoint_recv(au_ctx *ctx, endpoint_state *self, au_device_up *m) {
    au_device_server *ds = self->ds;
    char from[64];
    size_t n = au_ctx_origin(ctx, from, sizeof from);
    if (!n || n >= sizeof from) { /* sent on this node, or an address that cannot be one */
        pthread_mutex_lock(&ds->shards[0].lock);
        ds->shards[0].st.drops_invalid++;
        pthread_mutex_unlock(&ds->shards[0].lock);
        return;
    }
    shard *sh = &ds->shards[shard_of(ds, device_of_up(m))];
    /* The shard free (its actor between messages): handled here, in this turn, as its actor
     * would (on_uplink reads the message and copies what it keeps), without the hop through
     * the shard's mailbox (a copy of the address, an envelope, a turn). The shard busy (its
     * tick, which holds the lock for a whole sweep): passed on as before, never waited for. An
     * uplink handled here may overtake one of the same device still queued for the shard, as
     * two datagrams may overtake each other on the network. */
    if (pthread_mutex_trylock(&sh->lock) == 0) {
        ds_uplink u = { .from = { .ptr = from, .len = (uint32_t)n }, .up = *m };
        on_uplink(sh, &u);
        pthread_mutex_unlock(&sh->lock);
        return;
    }
    ds_msg out = { .tag = ds_msg_uplink, .uplink = { .from = au_str_dup(from, n), .up = *m } };
    if (m->tag == au_device_up_data) out.uplink.up.data.payload = take_bytes(&m->data.payload);
    au_send(sh->local, out);
}
AU_ACTOR(endpoint_actor, endpoint_state, au_device_up, .recv = endpoint_recv);

/* ---- the API ------------------------------------------------------------------------------- */

static void shard_free(shard *sh) {
    for (size_t i = 0; i < sh->devs.cap; i++)
        if (sh->devs.keys && sh->devs.keys[i]) free(sh->devs.values[i]);
    au_u64map_free(&sh->devs);
    for (size_t i = 0; i < sh->pending.cap; i++)
        if (sh->pending.keys && sh->pending.keys[i]) free(sh->pending.values[i]);
    au_u64map_free(&sh->pending);
    au_wheel_destroy(&sh->polls);
    without_free(sh);
    au_ring_release(sh->ring);
    pthread_mutex_destroy(&sh->lock);
}

/* The servers started in this process, by node: a second start on a node, of any endpoint name,
 * is refused before anything is spawned (with several shards, the actors spawned before a name
 * clash showed would otherwise keep the layer's slot until the node stops). */
static pthread_mutex_t g_servers_mu = PTHREAD_MUTEX_INITIALIZER;
static au_device_server *g_servers;

static bool server_on(au_node *node) {
    for (au_device_server *d = g_servers; d; d = d->next_server)
        if (d->node == node) return true;
    return false;
}

static void unlist_server(au_device_server *ds) {
    pthread_mutex_lock(&g_servers_mu);
    for (au_device_server **pp = &g_servers; *pp; pp = &(*pp)->next_server)
        if (*pp == ds) { *pp = ds->next_server; break; }
    pthread_mutex_unlock(&g_servers_mu);
}

/* A start refused after its first spawn: the actors spawned so far stop (ds stays with the
 * layer, which frees it at au_node_stop) and ds is no longer the node's server, so a later
 * start (on the node's next cluster, say) is not refused as a second one. */
static au_err refuse_started(au_device_server *ds, au_ref endpoint, au_err err) {
    unlist_server(ds);
    for (unsigned k = 1; k < ds->nshards; k++)
        if (!au_ref_is_null(ds->shards[k].local.raw)) (void)au_stop(ds->shards[k].local);
    if (!au_ref_is_null(ds->core.raw)) (void)au_stop(ds->core);
    if (!au_ref_is_null(endpoint)) (void)au_ref_stop_(endpoint);
    return err;
}

static void ds_free(void *arg) {
    au_device_server *ds = arg;
    unlist_server(ds);
    for (unsigned k = 0; ds->shards && k < ds->nshards; k++) shard_free(&ds->shards[k]);
    free(ds->shards);
    au_ring_release(ds->ring);
    pthread_mutex_destroy(&ds->lock);
    free(ds);
}

au_err au_device_server_start(au_node *node, au_cluster *cluster,
                              const au_device_server_config *cfg, au_device_server **out) {
    if (!node || !cluster || !out) return AU_EINVAL;
    if (au_cluster_id(cluster) != au_node_incarnation(node)) return AU_EINVAL; /* another node's */
    *out = NULL;
    au_device_server_config c = cfg ? *cfg : (au_device_server_config){ 0 };
    if (!c.name) c.name = AU_DEVICE_SERVER_NAME;
    if (!*c.name || strlen(c.name) > 64) return AU_EINVAL;
    if (!c.max_devices) c.max_devices = 1000000;
    if (!c.new_per_second) c.new_per_second = 20000;
    if (!c.down_after) c.down_after = 3;
    if (c.down_after < 2) return AU_EINVAL;
    if (!c.min_interval_ms) c.min_interval_ms = 10;
    if (!c.replica_copies) c.replica_copies = 1;
    if (c.replica_copies > 3) return AU_EINVAL;
    if (!c.forget_after) c.forget_after = AU_SEC(60);
    if (!c.tick) c.tick = AU_MSEC(5);
    if (c.tick < AU_MSEC(1)) return AU_EINVAL; /* a finer timer only spins */
    if (!c.shards) c.shards = 1; /* see the knob's comment: more measured worse under load */
    if (!c.lease) c.lease = 1;
    if (c.lease > AU_DC_MAX_BEATS) return AU_EINVAL;
    if (c.shards > 64) return AU_EINVAL;
    au_device_server *ds = calloc(1, sizeof *ds);
    if (!ds) return AU_ENOMEM;
    snprintf(ds->name, sizeof ds->name, "%s", c.name);
    ds->node = node;
    pthread_mutex_lock(&g_servers_mu);
    if (server_on(node)) { /* one per node (aurum/device_server.h) */
        pthread_mutex_unlock(&g_servers_mu);
        free(ds);
        return AU_EEXIST;
    }
    ds->next_server = g_servers; /* unlisted by ds_free */
    g_servers = ds;
    pthread_mutex_unlock(&g_servers_mu);
    pthread_mutex_init(&ds->lock, NULL);
    atomic_init(&ds->ndevs, 0);
    atomic_init(&ds->npending, 0);
    ds->shards = calloc(c.shards, sizeof *ds->shards);
    if (!ds->shards) {
        ds_free(ds);
        return AU_ENOMEM;
    }
    ds->cluster = cluster;
    ds->cfg = c;
    snprintf(ds->peer_name, sizeof ds->peer_name, "%s.peer", c.name);
    snprintf(ds->self_addr, sizeof ds->self_addr, "%s", au_node_address(node));
    ds->self_id = au_cluster_id(cluster);
    if (getrandom(&ds->secret, sizeof ds->secret, 0) != (ssize_t)sizeof ds->secret)
        ds->secret = au_splitmix64_at(ds->self_id ^ (uint64_t)au_node_now(node)); /* no kernel CSPRNG */
    ds->tokens = c.new_per_second;
    ds->tokens_at = au_node_now(node);
    for (unsigned k = 0; k < c.shards; k++) {
        shard *sh = &ds->shards[k];
        pthread_mutex_init(&sh->lock, NULL);
        sh->ds = ds;
        sh->index = k;
        ds->nshards = k + 1; /* ds_free frees the shards made so far */
        if (!au_wheel_init(&sh->polls, (uint64_t)c.tick, WHEEL_SLOTS, au_node_now(node))) {
            ds_free(ds);
            return AU_ENOMEM;
        }
    }
    if (!c.no_table) { /* first: the crdt layer must be attached before this one */
        /* No coalescing window: the table is the cluster's live view of its devices (owner,
         * up or down), so an owner's entry leaves with the turn that wrote it instead of up to
         * 100 ms later; its writes are one per device event, few enough to send as they come. */
        au_err err = au_share_lwwmap_start(node, cluster,
                                           &(au_share_config){ .name = ds->name,
                                                               .coalesce = AU_SHARE_COALESCE_NONE },
                                           &ds->table);
        if (err) {
            ds_free(ds);
            return err;
        }
    }
    au_layer *l = au_layer_attach(node, &(au_layer_def){ .name = "devices", .free = ds_free,
                                                         .arg = ds });
    if (!l) {
        au_err err = au_last_error();
        ds_free(ds);
        return err ? err : AU_EFULL;
    }
    /* From here the node owns ds (freed by the layer's free hook). */
    /* The other shards first: the core, once registered, may be sent to at once, and passes
     * messages on to them. Every actor of the server takes Term from this node only: the names
     * are known, and without a cluster key one forged Term stopped the server (aurum/actor.h,
     * AU_TERM_LOCAL). */
    for (unsigned k = 1; k < ds->nshards; k++) {
        ds_msg_ref r = au_spawn_with(node, core_actor, au_opts(.layer = l, .term = AU_TERM_LOCAL),
                                     &(core_state){ &ds->shards[k] });
        if (au_ref_is_null(r.raw)) return refuse_started(ds, (au_ref){ 0 }, au_last_error());
        ds->shards[k].local = (ds_msg_lref){ .raw = r.raw };
    }
    ds->core = au_spawn_with(node, core_actor,
                             au_opts(.name = ds->peer_name, .layer = l, .term = AU_TERM_LOCAL),
                             &(core_state){ &ds->shards[0] });
    if (au_ref_is_null(ds->core.raw)) {
        /* the name is taken (a second server on this node): with no actor of ours spawned yet,
         * the layer is taken back, so refused starts do not use up the node's slots */
        au_err err = au_last_error();
        if (ds->nshards == 1 && au_layer_detach(l) == AU_OK) ds_free(ds);
        else refuse_started(ds, (au_ref){ 0 }, err);
        return err;
    }
    ds->core_local = (ds_msg_lref){ .raw = ds->core.raw };
    ds->shards[0].local = ds->core_local;
    au_device_up_ref ep = au_spawn_with(node, endpoint_actor,
                                        au_opts(.name = ds->name, .layer = l, .term = AU_TERM_LOCAL),
                                        &(endpoint_state){ ds });
    if (au_ref_is_null(ep.raw)) return refuse_started(ds, (au_ref){ 0 }, au_last_error());
    /* a cluster that has left would never tell this server its ring: refused, and what was
     * spawned stops */
    au_err err = au_cluster_subscribe(cluster, au_narrow_local(ds_msg, au_cluster_update,
                                                                ds->core_local));
    if (err) return refuse_started(ds, ep.raw, err == AU_ENOMEM ? err : AU_ESTOPPED);
    *out = ds;
    return AU_OK;
}

/* Drops the entries of lrefs[0 .. *n) whose actor has stopped (their slots are free again). */
static void drop_stopped(au_ref *lrefs, size_t stride, size_t *n) {
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        au_ref *r = (au_ref *)((char *)lrefs + i * stride);
        uint32_t depth;
        if (au_mailbox_depth_(*r, &depth) == AU_ESTOPPED) continue;
        if (k != i) memcpy((char *)lrefs + k * stride, r, stride);
        k++;
    }
    *n = k;
}

/* Whether ref is among lrefs[0 .. n) already: subscribing it again changes nothing (as for the
 * cluster's and the CRDT shares' subscribers), rather than telling it everything twice and
 * taking a second of the MAX_SUBS slots. */
static bool listed(const au_ref *lrefs, size_t stride, size_t n, au_ref ref) {
    for (size_t i = 0; i < n; i++)
        if (au_ref_equal(*(const au_ref *)((const char *)lrefs + i * stride), ref)) return true;
    return false;
}

au_err au_device_server_subscribe(au_device_server *ds, au_device_event_lref subscriber) {
    if (!ds || au_ref_is_null(subscriber.raw)) return AU_EINVAL;
    pthread_mutex_lock(&ds->lock);
    if (listed(&ds->subs[0].raw, sizeof ds->subs[0], ds->nsubs, subscriber.raw)) {
        pthread_mutex_unlock(&ds->lock);
        return AU_OK;
    }
    if (ds->nsubs == MAX_SUBS) drop_stopped(&ds->subs[0].raw, sizeof ds->subs[0], &ds->nsubs);
    au_err err = ds->nsubs < MAX_SUBS ? AU_OK : AU_EFULL;
    if (!err) ds->subs[ds->nsubs++] = subscriber;
    pthread_mutex_unlock(&ds->lock);
    return err;
}

au_err au_device_server_receive(au_device_server *ds, au_device_message_lref receiver) {
    if (!ds || au_ref_is_null(receiver.raw)) return AU_EINVAL;
    pthread_mutex_lock(&ds->lock);
    if (listed(&ds->recvs[0].raw, sizeof ds->recvs[0], ds->nrecvs, receiver.raw)) {
        pthread_mutex_unlock(&ds->lock);
        return AU_OK;
    }
    if (ds->nrecvs == MAX_SUBS) drop_stopped(&ds->recvs[0].raw, sizeof ds->recvs[0], &ds->nrecvs);
    au_err err = ds->nrecvs < MAX_SUBS ? AU_OK : AU_EFULL;
    if (!err) ds->recvs[ds->nrecvs++] = receiver;
    pthread_mutex_unlock(&ds->lock);
    return err;
}

au_err au_device_server_send(au_device_server *ds, uint64_t device, uint64_t type,
                             const void *payload, size_t len) {
    if (!ds || !device || (len && !payload) || len > UINT32_MAX) return AU_EINVAL;
    /* one datagram, whatever node owns the device: no mtu is above 65,507 (UDP's largest) */
    if (len > 65507u - AU_DEVICE_DOWN_OVERHEAD) return AU_ETOOBIG;
    au_bytes p = au_bytes_dup(payload, len);
    if (!p.ptr && len) return AU_ENOMEM;
    return au_send(ds->shards[shard_of(ds, device)].local, ((ds_msg){ .tag = ds_msg_send,
                                              .send = { .device = device, .type = type,
                                                        .payload = p } }));
}

au_err au_device_send_(au_device_server *ds, uint64_t device, au_type *type, const void *value) {
    if (!ds || !type || !value) return AU_EINVAL;
    au_buf b = { 0 };
    au_err err = au_value_encode(type, value, &b);
    if (!err) err = au_device_server_send(ds, device, au_type_id(type), b.data, b.len);
    au_buf_free(&b);
    return err;
}

au_err au_device_message_decode_(const au_device_message *msg, au_type *type, void *out) {
    if (!msg || !type || !out) return AU_EINVAL;
    if (msg->type != au_type_id(type)) return AU_ETYPE;
    return au_value_decode(type, out, msg->payload.ptr, msg->payload.len);
}

void au_device_server_stats_get(au_device_server *ds, au_device_server_stats *out) {
    if (!out) return;
    if (!ds) {
        memset(out, 0, sizeof *out);
        return;
    }
    /* The sum of the shards' counters and gauges; late_ns, the latest shard's. */
    memset(out, 0, sizeof *out);
    for (unsigned k = 0; k < ds->nshards; k++) {
        shard *sh = &ds->shards[k];
        pthread_mutex_lock(&sh->lock);
        au_device_server_stats st = sh->st;
        pthread_mutex_unlock(&sh->lock);
        uint64_t *o = (uint64_t *)(void *)out;
        const uint64_t *v = (const uint64_t *)(const void *)&st;
        for (size_t i = 0; i < sizeof st / sizeof(uint64_t); i++)
            if (i != offsetof(au_device_server_stats, late_ns) / sizeof(uint64_t)) o[i] += v[i];
        if (st.late_ns > out->late_ns) out->late_ns = st.late_ns;
    }
}

uint64_t au_device_server_owner_of(au_device_server *ds, uint64_t device) {
    if (!ds) return 0;
    pthread_mutex_lock(&ds->lock);
    const au_cluster_member *m = ring_owner_in(ds->ring, device);
    uint64_t id = m ? m->id : 0;
    pthread_mutex_unlock(&ds->lock);
    return id;
}

bool au_device_server_polls(au_device_server *ds, uint64_t device) {
    if (!ds) return false;
    shard *sh = &ds->shards[shard_of(ds, device)];
    pthread_mutex_lock(&sh->lock);
    dev *d = au_u64map_get(&sh->devs, device);
    bool polls = d && d->role == ROLE_OWNED;
    pthread_mutex_unlock(&sh->lock);
    return polls;
}

int au_device_server_state(au_device_server *ds, uint64_t device) {
    if (!ds) return 0;
    shard *sh = &ds->shards[shard_of(ds, device)];
    pthread_mutex_lock(&sh->lock);
    dev *d = au_u64map_get(&sh->devs, device);
    int st = !d || d->role != ROLE_OWNED ? 0 : d->state == STATE_DOWN ? AU_DEVICE_DOWN : AU_DEVICE_UP;
    pthread_mutex_unlock(&sh->lock);
    return st;
}

au_share *au_device_server_table(au_device_server *ds) { return ds ? ds->table.s : NULL; }

void au_device_entry_encode(const au_device_entry *e, uint8_t out[AU_DEVICE_ENTRY_SIZE]) {
    if (!out) return;
    if (!e) {
        memset(out, 0, AU_DEVICE_ENTRY_SIZE);
        return;
    }
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(e->owner >> (8 * i));
    for (int i = 0; i < 8; i++) out[8 + i] = (uint8_t)(e->incarnation >> (8 * i));
    for (int i = 0; i < 4; i++) out[16 + i] = (uint8_t)(e->interval_ms >> (8 * i));
    out[20] = (uint8_t)e->state;
}

bool au_device_entry_decode(const void *bytes, size_t len, au_device_entry *out) {
    const uint8_t *p = bytes;
    if (!p || !out || len != AU_DEVICE_ENTRY_SIZE) return false;
    /* an owner writes only up or down: any other state byte (0 included: the zeros an encoded
     * NULL entry is) is not an entry, and *out is left as it was */
    if (p[20] != AU_DEVICE_UP && p[20] != AU_DEVICE_DOWN) return false;
    au_device_entry e = { .state = p[20] };
    for (int i = 0; i < 8; i++) e.owner |= (uint64_t)p[i] << (8 * i);
    for (int i = 0; i < 8; i++) e.incarnation |= (uint64_t)p[8 + i] << (8 * i);
    for (int i = 0; i < 4; i++) e.interval_ms |= (uint32_t)p[16 + i] << (8 * i);
    *out = e;
    return true;
}
