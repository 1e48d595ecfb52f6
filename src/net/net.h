/* net.h — the UDP transport's internal structures: peers, remote reference targets, and the
 * node's socket. Shared by transport.c (socket, send and receive paths), remote_ref.c (forging,
 * interning, references in messages) and remote_deliver.c (routing on arrival, decoding on the
 * receiving actor's worker). Not a public header.
 *
 * Threads: senders encode on their own thread and queue the bytes on the peer; the event-loop
 * thread packs queued messages into datagrams, sends them, receives, reassembles and routes.
 * A peer's packer, reassembly and replay window are loop-thread only. */
#ifndef AU_CORE_NET_H
#define AU_CORE_NET_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include "proto/codec.h"
#include "core/internal.h"
#include "proto/reassembly.h"
#include "util/mpsc.h"
#include "proto/seal.h"
#include "proto/wire.h"
#include <aurum/faults.h>

typedef struct au_net au_net_t;

/* A resolved UDP address. */
typedef struct au_addr {
    struct sockaddr_storage sa;
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

struct au_remote;

/* Failure injection (faults.c): one rule per destination, in an immutable table swapped
 * whole on every change; retired tables stay until the node stops, so a sender may keep using
 * the rule it looked up. */
typedef struct au_fault_rule {
    au_addr dest;
    bool any;          /* the default for destinations without a rule of their own */
    bool blocked;
    au_faults f;
} au_fault_rule;

typedef struct au_fault_table {
    struct au_fault_table *retired_next;
    uint64_t version;
    size_t n;
    au_fault_rule rules[];
} au_fault_table;

/* A message encoded by its sender, queued on the peer until a sender packs it. */
typedef struct au_outmsg {
    au_mnode node;
    uint8_t pool_class;
    uint8_t kind;              /* AU_WIRE_KIND_MESSAGE / _SIGNAL */
    uint8_t faulted;           /* faults were already applied to this message */
    uint32_t payload_len;
    uint64_t iface_id;
    struct au_remote *to;      /* name and root type id (interned: outlives the message) */
    _Alignas(16) unsigned char payload[];
} au_outmsg;

#define AU_PEER_WINDOWS 4 /* replay windows kept per peer, one per recent incarnation */

/* Another node, as seen from this one. */
typedef struct au_peer {
    au_addr addr;
    char text[64];
    au_runq queue;           /* au_outmsg waiting to be packed */
    _Atomic int sending;     /* 1 while a thread packs and sends for this peer */
    _Atomic uint64_t queued; /* messages pushed and not yet packed */
    au_wire_packer packer;   /* guarded by `sending` */
    uint64_t fault_version;  /* guarded by `sending`: the table fault_rule was taken from */
    const au_fault_rule *fault_rule;
    au_reassembly *reassembly; /* loop thread; created on the first fragment */
    struct {                   /* loop thread: one replay window per recent sender incarnation */
        uint64_t incarnation, last_used;
        au_replay_window window;
    } windows[AU_PEER_WINDOWS];
    uint64_t windows_clock;
    struct au_peer *next;    /* in the peer table's bucket */
} au_peer;

/* The target of a remote reference: (peer, actor name, root type id), interned per node so a
 * reference stays a small value and equality is a pointer compare. */
typedef struct au_remote {
    au_net_t *net;
    au_peer *peer;
    uint64_t root_id;
    uint64_t hash;
    struct au_remote *next;
    uint8_t name_len;
    char addr[64];           /* as it travels in references */
    char name[];
} au_remote;

typedef struct au_net_stats {
    _Atomic uint64_t datagrams_sent, datagrams_received, bytes_sent, bytes_received,
        messages_sent_remote, messages_received_remote, drops_malformed, drops_checksum,
        drops_unknown_actor, drops_wrong_root, drops_wrong_interface, drops_schema_mismatch,
        drops_decode, drops_too_big, drops_reassembly, drops_send_failed, drops_peer_limit,
        drops_duplicate, reassemblies_in_flight;
} au_net_stats;

#define AU_NET_BATCH 64              /* at most this many datagrams per sendmmsg */
#define AU_NET_BATCH_BYTES (128 << 10) /* per-thread send batch buffer */
#define AU_NET_RECV_SLOTS 32         /* datagrams per recvmmsg */

struct au_net {
    au_node *node;
    uv_loop_t *loop;
    uv_udp_t udp;
    uv_async_t wake;             /* queued messages, or quit */
    uv_timer_t expire_timer;     /* reassembly timeouts */
    au_addr bound;
    uint64_t incarnation;
    au_wire_limits limits;
    au_wire_ids ids;
    au_seal_key *key;            /* NULL: checksummed, not sealed */
    au_codec_refs refs;          /* how references in messages are encoded and decoded */
    int fd;                      /* the socket, for sendmmsg from any thread */
    _Atomic int quit;            /* the node is stopping: close the handles */
    size_t batch;                /* datagrams per sendmmsg: fits AU_NET_BATCH_BYTES */

    pthread_mutex_t lock;        /* guards the peer and remote tables */
    au_peer **peers;
    size_t npeers_buckets, npeers, max_peers;
    au_remote **remotes;
    size_t nremote_buckets, nremotes, max_remotes;

    uint8_t *in_buf;             /* receive buffer for recvmmsg (loop thread) */
    size_t in_size;
    pthread_mutex_t closed_lock;
    pthread_cond_t closed_cond;
    int open_handles;            /* guarded by closed_lock */
    bool expire_armed;           /* simulation: a reassembly-expiry timer is pending */

    au_net_stats stats;

    _Atomic(au_fault_table *) faults; /* NULL: no faults anywhere (the common case) */
    pthread_mutex_t fault_lock;       /* serialises changes */
    au_fault_table *retired;
    uint64_t fault_versions;          /* guarded by fault_lock */
    uint64_t fault_seed;
    _Atomic uint64_t fault_draws;
    _Atomic uint64_t faults_dropped, faults_duplicated, faults_delayed, faults_reordered,
        faults_blocked;
};

/* faults.c */
/* The rule for traffic to `peer` (NULL: none). Caller owns peer->sending. */
const au_fault_rule *au_faults_rule(au_net_t *net, au_peer *peer);
/* Decides the fate of one unit: how many copies to send (0, 1 or 2) and each copy's delay. */
unsigned au_faults_decide(au_net_t *net, const au_fault_rule *rule, au_nanos delay[2]);
void au_faults_free(au_net_t *net);

/* transport.c */
/* The peer for addr, created if `create` and under max_peers; NULL otherwise. */
au_peer *au_net_peer(au_net_t *net, const au_addr *addr, bool create);
/* Queues m and sends it (and whatever else is queued) unless another thread is doing so. */
void au_net_enqueue(au_net_t *net, au_peer *peer, au_outmsg *m);
/* Sends one datagram now, bypassing batches and faults (delayed datagrams). */
void au_net_transmit(au_net_t *net, const au_addr *to, const uint8_t *dgram, size_t len);

/* remote_ref.c */
void au_net_remotes_free(au_net_t *net);

/* remote_deliver.c: routes one received message (loop thread). */
void au_net_route(au_net_t *net, const au_wire_message *msg);

#endif
