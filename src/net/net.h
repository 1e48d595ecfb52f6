/* net.h — the remote path's internal structures: peers, remote reference targets, the channel
 * datagrams leave and arrive through. Shared by the files of src/net/:
 *
 *   net.c         start and stop, configuration, statistics, the table the core calls through
 *   channel.c     the channel interface and its datagram implementation (the node driver)
 *   peer.c        the peer table
 *   send.c        the send path: queue on the peer, pack into datagrams, send in batches
 *   receive.c     the receive path: validate, replay-check, reassemble, then route
 *   deliver.c     routing an arrived message to its actor, decoding it on the actor's worker
 *   remote_ref.c  remote references: forging, interning, references inside messages
 *   address.c     parsing, resolving and printing addresses
 *   watch.c       remote death watch: the protocol between watching and watched nodes
 *   device_keys.c device keys: opening device-sealed datagrams, confining them, downlink keys
 *
 * Not a public header. Threads: senders encode on their own thread and queue the bytes on the
 * peer; whichever thread finds the peer idle packs the queued messages into datagrams and sends
 * them. Datagrams arrive on the driver's receive thread, which validates, reassembles and
 * routes; a peer's reassembly and replay windows belong to that thread. */
#ifndef AU_CORE_NET_H
#define AU_CORE_NET_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "core/internal.h"
#include "proto/codec.h"
#include "proto/reassembly.h"
#include "util/stats.h"
#include "proto/seal.h"
#include "proto/wire.h"
#include "util/mpsc.h"

typedef struct au_net au_net_t;

/* A resolved UDP address: IPv4 or IPv6 only, so 32 bytes rather than a sockaddr_storage's 128
 * (one in every peer, and a node has one peer per node it talks to). */
typedef struct au_addr {
    union {
        struct sockaddr any;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } sa;
    socklen_t len;
} au_addr;

/* Parses "host:port" / "[v6]:port" and resolves host (IP literal or name). */
au_err au_addr_resolve(const char *text, au_addr *out);
/* The same; with numeric_only, a host name is refused (AU_ERESOLVE) instead of looked up:
 * for addresses that arrive in messages, which must not make a worker wait on DNS. */
au_err au_addr_parse(const char *text, au_addr *out, bool numeric_only);
/* "1.2.3.4:5" or "[::1]:5" into buf. */
void au_addr_format(const au_addr *a, char *buf, size_t size);
bool au_addr_equal(const au_addr *a, const au_addr *b);
uint64_t au_addr_hash(const au_addr *a);
uint16_t au_addr_port(const au_addr *a);

struct au_remote;

/* A message encoded by its sender, queued on the peer until a sender packs it. */
typedef struct au_outmsg {
    au_mnode node;
    uint8_t pool_class;
    uint8_t kind;              /* AU_WIRE_KIND_MESSAGE / _SIGNAL */
    uint8_t fated;             /* the driver's message_fate was applied already (a copy sent
                                  late): not again */
    uint32_t payload_len;
    uint64_t iface_id;         /* a system message's: its watch id */
    struct au_remote *to;      /* name and root type id (interned: outlives the message);
                                  NULL for a system message (watch.c), which carries its own */
    uint64_t sys_root;         /* a system message's root type id */
    uint8_t sys_name_len;      /* ... and its name, at the start of payload */
    _Alignas(16) unsigned char payload[];
} au_outmsg;

/* How deep a message's values may nest, in CBOR arrays (records, roots, arrays, references):
 * what a receiver decodes (deliver.c) and so what a sender encodes (au_net_send: AU_EENCODE
 * beyond, rather than a message sent and dropped on arrival). Both ends build it in. */
#define AU_NET_MAX_DEPTH AU_DECODE_DEFAULT_MAX_DEPTH
#define AU_SENDER_WINDOWS 4 /* replay windows kept per sender, one per recent incarnation */
#define AU_SENDER_IDLE AU_SEC(10) /* a sender silent this long is evicted, its floor kept */

/* A sender of datagrams, as the receive path knows it: the replay state and the partial
 * messages of one identity. Sealed, the identity is the sender id named in the authenticated
 * nonce, so a datagram replayed from another address meets the same windows; plain, it is a
 * keyed hash of the source address. Created only for a datagram that was authenticated (sealed)
 * or that carries a message for a live actor (plain), so traffic that proves nothing creates no
 * state; at most max_peers of them, the least recently used evicted first. */
typedef struct au_sender {
    uint64_t id;
    uint64_t incarnation;      /* the newest accepted: an older one is a past run (sealed) */
    struct {                   /* one replay window per recent incarnation */
        uint64_t incarnation, last_used;
        au_replay_window window;
    } windows[AU_SENDER_WINDOWS];
    uint64_t windows_clock;
    au_reassembly *reassembly; /* created on the first fragment */
    au_nanos last_seen;        /* its last datagram: idle senders are evicted (senders.c) */
    struct au_sender *newer, *older; /* LRU list */
    /* The peer its datagrams last came from, found by address (au_net_peer_heard): a cache that
     * is trusted only under net->lock while net->peer_evictions still equals peer_epoch (no
     * peer has been freed since) and the peer's address is the datagram's. */
    struct au_peer *peer;
    uint64_t peer_epoch;
} au_sender;

/* Another node, as seen from this one when sending. */
typedef struct au_peer {
    /* First, in one cache line (peers are allocated aligned to it): what the receive path reads
     * and writes for every datagram it gets from the peer (au_net_peer_heard). */
    au_addr addr;            /* the table's key; printed when needed (au_addr_format) */
    _Atomic uint64_t unanswered; /* datagrams sent since one last arrived from this address */
    _Atomic au_nanos heard;  /* when a datagram last arrived from it (0: never) */
    struct au_net *net;
    size_t refs;             /* guarded by net->lock: remote slots pointing here; 0 = idle */
    struct au_peer *idle_next, *idle_prev; /* guarded by net->lock: the idle list, oldest first */
    au_runq queue;           /* au_outmsg waiting to be packed */
    _Atomic int sending;     /* 1 while a thread packs and sends for this peer */
    _Atomic uint32_t holds;  /* threads (or turn-end flushes) that may still touch this peer
                                without a pinned slot: it is not evicted while > 0 */
    _Atomic uint64_t queued; /* messages pushed and not yet packed */
    au_nanos created;        /* when this entry was made */
    _Atomic au_nanos warned; /* the last "no answer" warning */
    uint64_t dkey_device;    /* guarded by `sending`: the device whose key downlink to this peer
                                is sealed with (device_keys.c), 0: none */
    au_seal_key *dkey;       /* ... and that key (allocated at the first; freed with the peer) */
    struct au_peer *next;    /* in the peer table's bucket */
    struct au_remote *slots; /* guarded by net->lock: the remote slots pointing here (refs
                                counts them, and the watches that hold the peer) */
    size_t forged_slots;     /* guarded by net->lock: how many of them have forges: while > 0
                                the peer cannot be left idle by reclaiming slots */
} au_peer;

/* The longest "host:port" au_forge takes: a host name of 255 bytes in brackets, and a port. */
#define AU_FORGE_ADDR_MAX (255 + 2 + 1 + 5 + 1)
/* Host names remembered as resolved (net->resolved), and for how long (ns). */
#define AU_RESOLVED_CACHE 8
#define AU_RESOLVED_TTL AU_SEC(10)

/* The target of a remote reference: (peer, actor name, root type id), interned per node so a
 * reference stays a small value and equality is a pointer compare.
 *
 * Slots are type-stable, like cells: never freed before the node stops, reused for another
 * target when the table is full (remote_ref.c). A reference carries the slot's gen; a slot that
 * was reused has another, so a stale reference fails (drops_stale_ref) instead of reaching the
 * new target. A forged slot (the application's: au_forge) is not reused while any au_forge of
 * its target is not yet undone by au_unforge; neither is a slot that is pinned (a message queued
 * through it, a watch on it). A slot that holds a target refers its peer (au_peer.refs), so a
 * slot that nothing uses is also reclaimed when the peer table is full (remote_ref.c). */
typedef struct au_remote {
    au_net_t *net;
    _Atomic uint32_t gen;        /* odd while the slot holds a target */
    _Atomic uint32_t pins;       /* queued messages and watches using it */
    _Atomic uint8_t used;        /* CLOCK bit: set on every use, cleared by the sweep */
    uint32_t forges;             /* guarded by net->lock: au_forge calls for the target not
                                    yet undone by au_unforge; while > 0 the slot is kept */
    uint8_t name_len;
    au_peer *peer;
    uint64_t root_id;
    uint64_t hash;
    struct au_remote *next;      /* in its bucket */
    struct au_remote *peer_next, *peer_prev; /* guarded by net->lock: in peer->slots */
    bool retired;                /* guarded by net->lock: its gen would wrap; never reused */
    char *name;                  /* name_short, or name_long for a longer name (not NUL-ended) */
    char *name_long;             /* AU_NAME_MAX + 1 bytes, made the first time the slot holds a
                                    name longer than name_short, kept until the node stops (a
                                    slot is type-stable: a stale reader never meets freed bytes) */
    char addr[64];               /* as it travels in references */
    char name_short[24];         /* most names fit: a slot per target a node talks to, so at
                                    thousands of peers the inline AU_NAME_MAX bytes were most of
                                    the transport's memory */
} au_remote;

/* The transport's statistics (AU_NODE_STATS_NET in aurum/node.h), bumped with au_stat_add /
 * au_stat_sub (util/stats.h) and copied out by net.c's net_stats. */
typedef struct au_net_stats {
#define AU_NET_STATS_FIELD_(name, kind, doc) _Atomic uint64_t name;
    AU_NODE_STATS_NET(AU_NET_STATS_FIELD_)
#undef AU_NET_STATS_FIELD_
} au_net_stats;

#define AU_NET_BATCH 64              /* at most this many datagrams per channel send */
#define AU_NET_BATCH_BYTES (128 << 10) /* per-thread send batch buffer */

/* Where datagrams go and come from. One implementation today, over the node driver's datagram
 * I/O (channel.c); a stream channel (TCP) is a second implementation of the same table. */
typedef struct au_channel_ops {
    const char *name;
    /* Binds the node's endpoint; *bound is the address actually bound. */
    au_err (*open)(struct au_net *net, const au_addr *bind, au_addr *bound);
    /* Sends n datagrams, each to its own address (dgrams[i].to); returns how many failed. Any
     * thread. */
    size_t (*send)(struct au_net *net, const au_datagram *dgrams, size_t n);
} au_channel_ops;

extern const au_channel_ops au_channel_datagram;

struct au_net {
    au_node *node;
    const au_channel_ops *channel;
    au_addr bound;
    uint64_t incarnation;
    au_wire_limits limits;
    au_wire_ids ids;
    _Atomic uint64_t seq;        /* datagram sequence numbers, node-wide (wire.h) */
    au_codec_refs refs;          /* how references in messages are encoded and decoded */
    uint64_t hash_seed;          /* per node, random: keys the hashes outsiders can choose */
    _Atomic uint64_t forge_warn_after; /* no WARN for an odd forged address before (mono ns) */

    /* keys.c: NULL ring = unauthenticated (checksummed, not sealed) */
    pthread_mutex_t key_lock;    /* serialises changes */
    const au_seal_ring *_Atomic ring;
    au_seal_key *_Atomic primary;
    uint64_t sender_id;          /* this node's identity in the nonces it seals */
    void **old_keys, **old_rings; /* everything ever published, freed at stop */
    size_t nold_keys, old_keys_cap, nold_rings, old_rings_cap;

    /* senders.c: receive thread and reassembly expiry, under senders_lock */
    pthread_mutex_t senders_lock;
    au_u64map senders;           /* identity → au_sender */
    au_sender *newest, *oldest;
    size_t nsenders, max_senders;
    au_u64map floors;            /* identity → replay floor of an evicted sender (senders.c) */
    size_t nfloors;

    pthread_mutex_t lock;        /* guards the peer and remote tables */
    au_peer **peers;             /* buckets: grown with the table (load ≤ 1), up to max_peers */
    size_t npeers_buckets, npeers, max_peers;
    uint64_t peer_evictions;     /* guarded by net->lock: peers freed so far (au_sender.peer) */
    au_peer *idle_oldest, *idle_newest; /* peers no remote slot points to: evicted first */
    au_remote **remotes;         /* buckets: grown with the table (load ≤ 1), up to max_remotes */
    size_t nremote_buckets, nremotes, max_remotes;
    au_remote **slots;           /* every slot made, for the CLOCK sweep and the final free;
                                    grown by doubling (slots_cap), up to max_remotes */
    size_t slots_cap;
    au_remote *spare;            /* slots taken for a target that then could not be interned */
    size_t remotes_retired;      /* guarded by net->lock: slots whose gen would have wrapped */
    _Atomic uint64_t resolves;   /* forged addresses handed to the resolver (a host name) */
    struct au_resolved {         /* guarded by net->lock: host names forged lately, as resolved
                                    (remote_ref.c: forging one again does not ask DNS) */
        char text[AU_FORGE_ADDR_MAX];
        au_addr addr;
        uint64_t at;             /* CLOCK_MONOTONIC ns of the resolution; 0: unused */
    } resolved[AU_RESOLVED_CACHE];
    size_t resolved_next;
    char self_canon[64];         /* this node's address as au_addr_format writes it (set once,
                                    before any message is decoded): references to this node
                                    that were forged from a host name carry this form */
    size_t nslots, clock_hand;
    bool expire_armed;           /* guarded by senders_lock: a reassembly-expiry timer is pending */
    au_reassembly_budget budget; /* node-wide reassembly bytes (used: stats.reassembly_bytes) */
#define TOO_BIG_RING 64
    uint64_t too_big[TOO_BIG_RING]; /* senders_lock: recently refused oversized messages */
    size_t too_big_next;

    au_net_stats stats;

    struct au_net_devkeys *devkeys; /* device_keys.c; NULL: no device keys */

    /* watch.c: a leaf lock below the core's watch table and senders_lock, above net->lock */
    pthread_mutex_t watch_lock;
    struct au_net_watches *watch;

    /* warn.c */
    pthread_mutex_t warn_lock;
    uint64_t warn_keys[64];
    au_nanos warn_last[64];
    uint64_t warn_suppressed[64];
    au_nanos warn_window;        /* start of the node-wide budget's window */
    unsigned warn_lines;         /* lines said in it */
};

/* net.c: the node's remote path: binds its endpoint through its driver, sets node->net (called
 * by src/node/start.c between the core's au_node_create and au_node_launch). */
au_err au_net_start(au_node *node);

/* keys.c */
/* The ring from keys[0..n) (keys[0] the primary); nothing for n == 0 (unauthenticated). */
au_err au_net_keys_start(au_net_t *net, const au_key *keys, size_t n);
void au_net_keys_free(au_net_t *net);

/* device_keys.c */
typedef struct au_net_devkeys au_net_devkeys;
/* The device keys of the configuration (after au_net_keys_start); nothing without any. */
au_err au_net_devkeys_start(au_net_t *net, const au_node_config *cfg);
void au_net_devkeys_free(au_net_t *net);
/* Whether device datagrams use that key id (no cluster key may take it). */
bool au_net_devkeys_uses_id(const au_net_t *net, uint8_t id);
/* Whether the device has a key here (its plain messages to the endpoint are dropped). */
bool au_net_device_keyed(const au_net_t *net, uint64_t device);
/* Whether a datagram is sealed with the device key id (then only au_net_device_open opens it). */
bool au_net_device_datagram(const au_net_t *net, const uint8_t *data, size_t len);
/* Opens a device datagram with its device's key; on failure it was counted and warned of. */
int au_net_device_open(au_net_t *net, uint8_t *data, size_t len, const au_addr *from,
                       au_wire_header *hdr, au_wire_reader *reader, uint64_t *device);
/* The sender identity (replay state) of a device: never a node's. */
uint64_t au_net_device_identity(const au_net_t *net, uint64_t device);
/* A plain datagram's message: false (counted, warned of) if it is for the device endpoint and
 * names a device that must seal. */
bool au_net_device_plain_ok(au_net_t *net, const au_wire_message *m, const char *from);
/* Whether a message of a device datagram may be routed (to the endpoint, naming the device);
 * else counted and warned of. */
bool au_net_device_admit(au_net_t *net, const au_wire_message *m, uint64_t device,
                         const char *from);
/* A fragment in a device datagram: counted and warned of. */
void au_net_device_fragment(au_net_t *net, const char *from);
/* Whether a message goes to a device's endpoint (AU_DEVICE_CLIENT_NAME). */
bool au_net_device_dest(const au_wire_dest *dest);
/* Before a message is packed for the peer (the caller owns peer->sending and the open
 * packer): a message to a device's endpoint needs that device's key if it has one (and the
 * node's own mode otherwise). 1: the peer's key changed (peer->dkey_device, peer->dkey; what
 * the packer held was flushed first), so the packer must be made again; 0: no change; -1 out
 * of memory. */
int au_net_device_downlink(au_net_t *net, au_peer *peer, au_wire_packer *packer,
                           const au_wire_dest *dest, const uint8_t *payload, size_t len);

/* senders.c (callers hold senders_lock) */
/* The sender of that identity, or NULL. A hit makes it the most recently used. Senders idle
 * for longer than AU_SENDER_IDLE are evicted first (keeping their replay floor). */
au_sender *au_net_sender_find(au_net_t *net, uint64_t id);
/* Makes a new sender, evicting the least recently used one if the table is full; NULL only
 * when out of memory. */
au_sender *au_net_sender_new(au_net_t *net, uint64_t id);
/* Expires timed-out partial messages of every sender; returns whether partials remain. */
bool au_net_senders_expire(au_net_t *net, au_nanos now);
void au_net_senders_free(au_net_t *net);

/* peer.c (the calls below take net->lock, except where said) */
/* The peer for addr, created if `create` (evicting the longest-idle peer when the table is
 * full), and referenced once more (au_net_peer_release drops it); NULL if not found, or if full
 * of busy peers, or out of memory. When it is NULL for want of a new peer, *why (if why is not
 * NULL) says which: AU_EFULL (full of busy peers) or AU_ENOMEM. */
au_peer *au_net_peer_acquire(au_net_t *net, const au_addr *addr, bool create, au_err *why);
/* Called with net->lock. */
void au_net_peer_release_locked(au_net_t *net, au_peer *peer);
void au_net_peers_free(au_net_t *net);
/* A datagram from addr was accepted from sender s: its peer (if any) has answered. Called with
 * senders_lock (s's cache of its peer is updated). */
void au_net_peer_heard(au_net_t *net, au_sender *s, const au_addr *addr);
/* n more datagrams go to the peer (counted before they leave): warns (rate-limited) when it
 * has not answered for long. */
void au_net_peer_sent(au_net_t *net, au_peer *peer, size_t n);
/* Takes back n datagrams counted by au_net_peer_sent that the channel failed to send. */
void au_net_peer_unsent(au_peer *peer, size_t n);

/* send.c */
/* The packers' output: a datagram joins the sending thread's batch (send.c sets it up). */
void au_net_emit(void *user, const uint8_t *dgram, size_t len);
/* Queues m and sends it (and whatever else is queued) unless another thread is doing so. */
void au_net_enqueue(au_net_t *net, au_peer *peer, au_outmsg *m);

/* receive.c: one datagram from the channel (the driver's receive thread). */
void au_net_receive(au_node *node, void *data, size_t len, const struct sockaddr *from,
                    socklen_t from_len);

/* remote_ref.c */
au_err au_net_refs_init(au_net_t *net);
void au_net_remotes_free(au_net_t *net);
au_err au_net_send(au_ref ref, const void *msg, bool signal);
au_ref au_net_forge(au_node *node, const char *name, const char *addr, au_type *root,
                    uint16_t variant, au_type *iface);
/* Undoes one au_net_forge of ref's target: AU_OK; AU_ESTATE if the reference is stale or its
 * target has no forge left to undo. */
au_err au_net_unforge(au_ref ref);
size_t au_net_format(au_ref ref, char *buf, size_t size);
bool au_net_equal(au_ref a, au_ref b);
au_node *au_net_node_of(au_ref ref);
/* Pins the live slot of a remote reference (a queued message, a watch): false if it is stale. */
bool au_net_remote_pin(au_ref ref);
void au_net_remote_unpin(au_remote *r);
void au_net_unpin_ref(au_ref ref);
bool au_net_is_at(au_ref ref, const struct sockaddr *addr);
/* The root variant an interface type id maps to (AU_WHOLE for the root itself), or -1. */
int au_net_variant_of(au_type *root, uint64_t iface_id, bool *schema_mismatch);

/* warn.c: one WARN per (peer, reason, actor) every 10 s at most, naming what was dropped. */
typedef enum au_net_warn_reason {
    AU_NET_WARN_UNKNOWN_ACTOR, AU_NET_WARN_WRONG_ROOT, AU_NET_WARN_WRONG_INTERFACE,
    AU_NET_WARN_SCHEMA, AU_NET_WARN_DECODE, AU_NET_WARN_TOO_BIG, AU_NET_WARN_SIGNAL,
    AU_NET_WARN_TERM_REFUSED,
    AU_NET_WARN_WATCH_REFUSED,
    AU_NET_WARN_DEVICE_UNKNOWN, AU_NET_WARN_DEVICE_SEAL, AU_NET_WARN_DEVICE_SENDER,
    AU_NET_WARN_DEVICE_ROUTE, AU_NET_WARN_DEVICE_PLAIN,
    /* datagrams whose seal does not match this node's keys: a misconfiguration is the usual
     * cause, so the person running the node is told which */
    AU_NET_WARN_NOT_SEALED, AU_NET_WARN_NO_KEY, AU_NET_WARN_UNKNOWN_KEY, AU_NET_WARN_BAD_SEAL,
} au_net_warn_reason;
void au_net_warn(au_net_t *net, const char *from, au_net_warn_reason reason,
                 const au_wire_dest *dest);

/* deliver.c */
/* Whether an actor lives under (name, root type) now: what lets a plain datagram create state. */
bool au_net_routable(au_net_t *net, const au_wire_dest *dest);
/* Routes one received message from `from` (an address, for log lines) to its actor (the
 * receive thread). */
void au_net_route(au_net_t *net, const au_wire_message *msg, const char *from);
/* Decodes an AU_ENV_REMOTE envelope on the receiving actor's worker and runs recv. */
au_err au_net_deliver(au_ctx *ctx, au_envelope *env, const au_actor_def *def);

/* watch.c */
typedef struct au_net_watches au_net_watches;
/* max: max_remote_watches (0: the default). */
au_err au_net_watch_init(au_net_t *net, size_t max);
void au_net_watch_free(au_net_t *net);
/* The core's calls (core/remote.h: watch, unwatch, watched_stopped, watch_gone). */
void au_net_watch(au_ref ref);
void au_net_unwatch(au_ref ref);
void au_net_watched_stopped(au_node *node, au_cell *cell, uint32_t gen);
void au_net_watch_gone(au_node *node, const struct sockaddr *addr);
/* A system message from `from` (the receive thread, senders_lock held). */
void au_net_watch_receive(au_net_t *net, const au_addr *from, uint64_t incarnation,
                          const au_wire_message *m, const char *text);
/* The sender at `from` is a new run: every watch with its past one ends (receive thread). */
void au_net_watch_restarted(au_net_t *net, const au_addr *from);

#endif
