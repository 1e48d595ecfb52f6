/* aurum/cluster.h — cluster membership, failure detection, a consistent-hash ring, and events.
 *
 * One cluster actor per node (au_cluster_start) keeps the node's view of the cluster: who is a
 * member, who is suspected, who has failed or left. It joins through seeds, spreads changes as
 * small piggybacked deltas (each retransmitted a bounded number of times) plus a rate-limited
 * anti-entropy sync of one bounded digest, and detects failures with the seed's heartbeats to
 * ring managers and normal-CDF detector, followed by direct and indirect probes, a SWIM-style
 * suspicion that the suspect refutes by raising its incarnation, Lifeguard's suspicion timeouts
 * that shrink with independent confirmations, and a local-health multiplier that slows a node's
 * own accusations when it is itself slow or cut off. Removed members are tombstones for a while
 * (so a partition heals: both sides keep contacting them and the seeds) and are then collected.
 *
 *   au_cluster *c;
 *   au_cluster_start(node, &(au_cluster_config){ .seeds = (const char *[]){ "10.0.0.1:4000" },
 *                                                .nseeds = 1 }, &c);
 *   au_cluster_subscribe(c, au_probe_lref(p, au_cluster_update));   // or any actor's lref
 *   ...                                                   // au_cluster_unsubscribe: no more
 *   ...
 *   au_node_stop(node);          // a graceful leave: the others see Removed (reason LEFT) at once
 *
 * Subscribers get au_cluster_update messages: the events since the last update, in order, the
 * current member set (alive and suspected members, self included) and a snapshot of the ring.
 * The first update a subscriber gets ends with ALONE or JOINED (INCOMPATIBLE if the join was
 * refused, LEFT if the node left before it joined); whenever this node rejoins (after being
 * removed) an update ends with JOINED again.
 *
 * Compatibility: nodes exchange a hash of their message-type tables at join (and in every sync);
 * the cluster protocol's own type ids are always in it, and applications fold theirs in with
 * au_cluster_compat (au_cluster_config.compat). A node whose hash differs is refused: the joiner
 * gets an INCOMPATIBLE event and a WARN log line, and is not made a member anywhere.
 *
 * Security: cluster messages are ordinary remote messages; with a cluster key configured on the
 * node (au_node_config.secret / keys) only key holders can send them, so only they can change the
 * membership. Malformed cluster messages are dropped and counted (au_cluster_stats), as the
 * transport drops and counts undecodable datagrams. Without a key, what a message says about a
 * member is weighed by who says it: a newer run of a member's address is believed only from
 * that address itself (a message from it, or its answer to a probe for that run), a refusal
 * only from a seed, and no accusation that its member could not refute (at incarnation
 * UINT32_MAX, or beyond 64 incarnations ahead of the one held) is believed at all. The cluster
 * actor takes Term from its own node only (AU_TERM_LOCAL): a Term from the network, which
 * without a key anyone can send to its name, is refused and counted (drops_term_refused in
 * au_node_stats_get) instead of making the node leave.
 *
 * Remote death watch: au_watch on a remote actor is answered by that actor's node (the
 * transport's watch protocol, aurum/actor.h): `terminated` comes when the actor stops while its
 * node stays a member. The cluster adds the node level: when a member is removed (failed, left,
 * or replaced by a new run on its address) it calls au_peer_gone for its address, so every
 * au_watch on references to actors there delivers `terminated` too — once per watch, whichever
 * comes first — and again every second while the removed member stays silent (until its
 * tombstone is collected; 64 such members a second), so a watch placed after the removal also
 * gets `terminated`, within a second (of every 64 silent removed members).
 *
 * Threads: the au_cluster_* calls may be made from any thread; ring functions read an immutable
 * snapshot and are safe from any thread. */
#ifndef AURUM_CLUSTER_H
#define AURUM_CLUSTER_H

#include <aurum/actor.h>
#include <aurum/export.h>
#include <aurum/node.h>
#include <aurum/schema.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration -------------------------------------------------------------------------- */

/** Cluster settings. Zero means the default for every field; every node of a cluster should use
 *  the same name, replication_factor and compat. Durations are nanoseconds (AU_MSEC(..)), any
 *  size: the arithmetic on them saturates, so a duration near UINT64_MAX (also once multiplied
 *  by 1 + health) means never, not a wrapped short time. */
typedef struct au_cluster_config {
    const char *name;              /**< registered name of the cluster actor on every node;
                                        default "cluster"; 1 to 255 bytes */
    const char *const *seeds;      /**< "host:port" of nodes to join through; this node's own
                                        address (however spelled: a host name, an IPv4-mapped
                                        IPv6 literal, 0.0.0.0 or [::] at its port) is skipped,
                                        and duplicates are joined once; a seed spelled otherwise
                                        than its node advertises itself (a host name) is known
                                        as that member by the address it resolves to, and a
                                        seed given by address whose node advertises a host
                                        name as the member whose datagrams come from it; none:
                                        start alone */
    size_t nseeds;                 /**< entries in seeds */
    au_nanos ping_timeout;         /**< wait between join rounds to the seeds; default 300 ms,
                                        at least AU_CLUSTER_MIN_INTERVAL (10 ms) */
    unsigned num_pings;            /**< join rounds before starting alone; default 5 */
    au_nanos hb_interval;          /**< period of heartbeats to this node's managers, and of the
                                        cluster actor's tick; default 50 ms, at least
                                        AU_CLUSTER_MIN_INTERVAL (10 ms) */
    unsigned replication_factor;   /**< managers per node (R: the next R distinct members
                                        clockwise on the ring watch it); default 2, at most 16 */
    unsigned vnodes;               /**< this node's ring positions (its relative share); default 1
                                        (the seed's), at most AU_RING_MAX_VNODES; with 100 on
                                        every node the largest share is within 1.10 of the
                                        mean (AU_RING_PROBES) */
    double phi;                    /**< detector: the normal-CDF probability of the silence so far
                                        at which a manager starts requesting heartbeats; default
                                        0.995 */
    unsigned capacity;             /**< detector: inter-arrival samples kept; default 10, at
                                        most 64 */
    unsigned times;                /**< detector: synthetic (2·interval, 0) sample pairs at start;
                                        default 5 */
    unsigned req_tries;            /**< heartbeat requests (each also sent through
                                        indirect_probes other members) before suspecting; default 3 */
    au_nanos req_timeout;          /**< wait after each request; default 100 ms, at least
                                        AU_CLUSTER_MIN_INTERVAL (10 ms) */
    unsigned indirect_probes;      /**< members asked to probe a silent charge for us (SWIM's k);
                                        default 3, at most 64 */
    au_nanos suspicion_min;        /**< suspicion timeout once every expected confirmation (R - 1
                                        other managers) arrived; default 200 ms */
    au_nanos suspicion_max;        /**< suspicion timeout with no confirmation (Lifeguard: the
                                        timeout shrinks from max to min as confirmations arrive,
                                        logarithmically); default 1.5 s */
    au_nanos gossip_interval;      /**< period of gossip rounds (only when there is news);
                                        default 100 ms, at least AU_CLUSTER_MIN_INTERVAL
                                        (10 ms) */
    unsigned gossip_fanout;        /**< random members per gossip round; default 3 */
    unsigned retransmit_mult;      /**< each change is sent retransmit_mult·⌈log10(N+1)⌉ times
                                        (piggybacked or gossiped); default 4, at most 64 */
    unsigned max_piggyback;        /**< changes carried per message at most; default 12, at
                                        most 64 */
    au_nanos sync_interval;        /**< period of anti-entropy syncs with one random member (a
                                        digest of at most 64 bucket hashes, the windows walked
                                        round-robin, then only differing buckets' entries: at
                                        most 96 each way, 24 per message); default 2 s, at
                                        least AU_CLUSTER_MIN_INTERVAL (10 ms) */
    au_nanos reconnect_interval;   /**< period of contacting one removed member or seed that is
                                        not a member, so partitions heal; default 1 s, at least
                                        AU_CLUSTER_MIN_INTERVAL (10 ms) */
    au_nanos tombstone_ttl;        /**< removed members are forgotten after this; default 60 s */
    unsigned max_health;           /**< Lifeguard local-health multiplier's cap: detector and
                                        probe timeouts scale by (1 + health); default 8 */
    uint64_t compat;               /**< the application's compatibility hash (au_cluster_compat);
                                        default 0 (the protocol's own types only) */
    bool no_leave_on_stop;         /**< at au_node_stop, stop silently (others detect a failure)
                                        instead of leaving gracefully; default false */
    unsigned max_members;          /**< members this node's table holds at most (alive, suspected
                                        and removed, self included); an unknown member heard of
                                        beyond it, or beyond AU_CLUSTER_MAX_POSITIONS ring
                                        positions in all, is not added (members_refused), but a
                                        live one takes the place of a removed member's tombstone
                                        if there is one: without a cluster key anyone can name
                                        phantom members; default 65536, at most
                                        AU_CLUSTER_MAX_MEMBERS */
} au_cluster_config;

/** The shortest ping_timeout, hb_interval, req_timeout, gossip_interval, sync_interval and
 *  reconnect_interval au_cluster_start takes (shorter, but not 0, which is the default:
 *  AU_EINVAL, and one ERROR log line naming the field): 10 ms, in nanoseconds. The cluster
 *  actor's tick, at which all of them are acted on, never comes more often, so a shorter value
 *  could not be honoured; a 1 ns heartbeat period was taken and made a node send a heartbeat
 *  at every tick. The suspicion timeouts and tombstone_ttl send nothing by themselves and have
 *  no minimum. */
#define AU_CLUSTER_MIN_INTERVAL AU_MSEC(10)

/** The largest au_cluster_config.max_members (larger: AU_EINVAL). */
#define AU_CLUSTER_MAX_MEMBERS 1048576

/** Most ring positions (the sum of max(1, vnodes) over the live members) a node admits unknown
 *  members up to: 4,194,304, 40,000 members of 100 vnodes (about 64 MB of ring). */
#define AU_CLUSTER_MAX_POSITIONS 4194304

/** Folds the type ids of n message types into a compatibility hash (start with seed 0; chain
 *  calls to add more). Two nodes that register the same types at the same versions get the same
 *  hash; order matters, so list them in a fixed order. NULL entries are skipped; a NULL types
 *  returns seed. */
AU_API uint64_t au_cluster_compat(uint64_t seed, au_type *const *types, size_t n);

/* ---- members, events, updates --------------------------------------------------------------- */

/** A member: one run of a node. A node that restarts on the same address is a new member (a new
 *  id; ids of later runs are greater). */
AU_RECORD(au_cluster_member, (au_str, address), (uint64_t, id), (uint32_t, vnodes));
AU_ARRAY(au_cluster_member);

/** What happened. */
typedef enum au_cluster_event_kind {
    AU_CLUSTER_ALONE = 1,     /**< this node started a cluster of its own (member: self) */
    AU_CLUSTER_JOINED,        /**< this node joined, or rejoined after being removed (self) */
    AU_CLUSTER_ADDED,         /**< another member appeared (or came back after a heal) */
    AU_CLUSTER_REMOVED,       /**< another member failed, left or was replaced (see reason) */
    AU_CLUSTER_LEFT,          /**< this node left (au_cluster_leave, or au_node_stop) */
    AU_CLUSTER_MINORITY,      /**< this node reaches at most half of the last agreed membership:
                                   stop taking writes (member: self) */
    AU_CLUSTER_MAJORITY,      /**< more than half again (member: self) */
    AU_CLUSTER_INCOMPATIBLE,  /**< a node with another compatibility hash (member: that node,
                                   id 0): on the joiner, the join was refused and is abandoned */
} au_cluster_event_kind;

/** Why a member was removed. */
typedef enum au_cluster_reason {
    AU_CLUSTER_NO_REASON = 0,
    AU_CLUSTER_FAILED,        /**< suspected, not refuted in time */
    AU_CLUSTER_LEAVING,       /**< it left gracefully */
    AU_CLUSTER_REPLACED,      /**< a newer run of the node at its address joined */
} au_cluster_reason;

/** One event: kind (au_cluster_event_kind), reason (au_cluster_reason, REMOVED only), member. */
AU_RECORD(au_cluster_event, (int32_t, kind), (int32_t, reason), (au_cluster_member, member));
AU_ARRAY(au_cluster_event);

/** An immutable snapshot of the ring (opaque, reference counted). */
typedef struct au_ring au_ring;

/** The ring as a message field: a reference to a snapshot, released when the message is freed.
 *  It encodes as its members and replication factor, so it can also cross the network. */
typedef struct au_cluster_ring { au_ring *ring; } au_cluster_ring;
AU_API extern const au_custom_codec au_cluster_ring_codec;
AU_CUSTOM_TYPE(au_cluster_ring, &au_cluster_ring_codec);

/** What subscribers receive: the events since the last update (in order), the member set now
 *  (alive and suspected members, self included, sorted by address) and the ring of those. */
AU_RECORD(au_cluster_update, (au_cluster_event_array, events), (au_cluster_member_array, members),
          (au_cluster_ring, ring));

/* ---- the cluster ------------------------------------------------------------------------------ */

/** A node's cluster membership (opaque; owned by the node: freed after au_node_stop). */
typedef struct au_cluster au_cluster;

/** Statistics of one node's cluster actor. */
typedef struct au_cluster_stats {
    uint64_t members;          /**< alive and suspected members now, self included */
    uint64_t tombstones;       /**< removed members remembered now */
    uint64_t messages_sent;    /**< cluster messages sent */
    uint64_t messages_received;/**< cluster messages received and accepted */
    uint64_t drops_invalid;    /**< malformed or forged cluster updates dropped (bad address,
                                    state, sizes, a claimed newer run of this node, an
                                    accusation at incarnation UINT32_MAX or more than 64 past
                                    the one held, a refusal not from a seed or with our own
                                    hash) */
    uint64_t drops_incompatible;/**< joins and syncs refused for another compatibility hash */
    uint64_t suspicions;       /**< suspicions this node raised */
    uint64_t refutations;      /**< suspicions of this node it refuted */
    uint64_t removals;         /**< members this node saw removed */
    uint64_t health;           /**< the local-health multiplier now (0: healthy) */
    uint64_t pauses;           /**< times the tick came so late that this node must have been
                                    paused (its detectors then restart instead of accusing) */
    uint64_t updates_deferred; /**< updates a subscriber's full mailbox refused: their events
                                    are kept and offered again every hb_interval */
    uint64_t events_dropped;   /**< events dropped from a backlog over 1024 events (the oldest;
                                    the member set in the next update is still whole) */
    uint64_t members_refused;  /**< unknown members heard of and not added: the table held
                                    max_members, or the ring AU_CLUSTER_MAX_POSITIONS */
    uint64_t answers_withheld; /**< datagrams of answers not sent (chunks of a full member
                                    table, of a digest's answer, of a push) because, without a
                                    cluster key, they exceeded this node's answer budget of 128
                                    datagrams per second with a burst of 512 — the bound on what
                                    spoofed requests can make one node send to any address
                                    (docs/security.md) */
    uint64_t reconnects;       /**< contacts the reconnect rounds made (one removed member or
                                    seed that is not a member per reconnect_interval): none
                                    while every seed is a member and no member was removed */
    uint64_t queued;           /**< member records still to be disseminated now (piggybacked on
                                    gossip and heartbeats, each retransmit_mult·⌈log10(N+2)⌉
                                    times): 0 at steady state; after N members join at once
                                    about N, draining at gossip_fanout·max_piggyback records per
                                    gossip_interval */
} au_cluster_stats;

/** Starts the cluster actor on `node` (which must have a network) and attaches the cluster layer.
 *  cfg may be NULL (all defaults). AU_EINVAL for a bad configuration (an empty or too long
 *  name, a knob out of range; an interval below AU_CLUSTER_MIN_INTERVAL also logs an ERROR
 *  line naming the field) or a seed address that does not resolve or has port 0; AU_EEXIST
 *  when the name is taken; AU_EFULL without a layer slot (a cluster that left, au_cluster_leave,
 *  gives its slot to the next start on the node, so leave and start may repeat without end);
 *  AU_EIO when libsodium, the source of its nonces' key, cannot be initialised. */
AU_API au_err au_cluster_start(au_node *node, const au_cluster_config *cfg, au_cluster **out);

/** Adds a subscriber: it soon gets an update (ALONE or JOINED, once the node is in a cluster),
 *  then one per batch of events (subscribing it again changes nothing: it gets each once). A
 *  subscriber with a bounded mailbox loses no event to it: an update its full mailbox refuses
 *  is offered again every hb_interval, joined with the events since and the then current
 *  members, until taken (updates_deferred; beyond 1024 waiting events the oldest are dropped,
 *  events_dropped). A stopped subscriber is dropped. AU_EINVAL for a NULL c or subscriber;
 *  AU_ENOMEM when the handle's list of subscribers cannot grow;
 *  AU_ESTOPPED once au_cluster_leave was called (a subscription queued behind the leave would
 *  never be served) or the cluster actor has stopped. */
AU_API au_err au_cluster_subscribe(au_cluster *c, au_cluster_update_lref subscriber);

/** Removes a subscriber (the ref given to au_cluster_subscribe, or an equal one, au_ref_equal).
 *  Once it has returned AU_OK the cluster actor sends that ref no further update, not even one
 *  it has already built or a deferred one (its backlog is dropped): the check and the send are
 *  made under one lock. Updates sent before the call returned may still wait in the
 *  subscriber's mailbox and are delivered (a subscriber that unsubscribes from its own handler
 *  may still take the ones queued behind the message it is handling): nothing is taken back
 *  out of a mailbox. Subscribing it again later gives it a first update again, as any new
 *  subscriber. Callable from any thread, also after au_cluster_leave (then it does not get
 *  LEFT). AU_OK when removed; AU_ENOTFOUND when the ref is not subscribed (never was, was
 *  removed already, or was dropped because it had stopped); AU_EINVAL for a NULL c or
 *  subscriber; AU_ESTOPPED once the cluster actor has stopped (nothing is sent any more). */
AU_API au_err au_cluster_unsubscribe(au_cluster *c, au_cluster_update_lref subscriber);

/** Leaves gracefully: the others are told at once (REMOVED, reason LEAVING; a node still
 *  joining tells its seeds, which may have admitted it already), subscribers get LEFT (also
 *  when the node is still joining, or was refused), and the cluster actor stops —
 *  once every subscriber has taken LEFT: one whose full mailbox refused it is offered it again
 *  every hb_interval, as any update, for up to 20 hb_intervals (1 s by default; at most 10 s),
 *  and the actor stops then without it (at au_node_stop nothing waits).
 *  It returns at once (AU_OK: the request is queued to the cluster actor, AU_ESTOPPED: it has
 *  stopped); until the actor has handled it and stopped, its name is still taken, so an
 *  au_cluster_start of the same name on the node gets AU_EEXIST: start again once subscribers
 *  got LEFT (on a threaded node LEFT may arrive just before the actor is gone: retry an
 *  AU_EEXIST), or in a simulation after au_sim_run. */
AU_API au_err au_cluster_leave(au_cluster *c);

/** This node's member (its address and id; the id changes on no account during a run). */
AU_API uint64_t au_cluster_id(const au_cluster *c);

/** Fills *out with the cluster's statistics (all zero for a NULL c; nothing for a NULL out). */
AU_API void au_cluster_stats_get(const au_cluster *c, au_cluster_stats *out);

/* ---- the ring (consistent hashing with virtual nodes) ----------------------------------------- */

/** Hash probes per key: a key's owner is the member whose position follows the closest of the
 *  key's AU_RING_PROBES hashes (multi-probe consistent hashing), which evens out the shares: with
 *  100 vnodes per member the largest share stays within 1.10 of the mean. */
#define AU_RING_PROBES 8

/** Most ring positions a member may have (au_cluster_config.vnodes, au_ring_build). */
#define AU_RING_MAX_VNODES 4096

/** Most ring positions in all (the sum over members of max(1, vnodes)) of a ring received in a
 *  message (au_cluster_ring decoded): a larger one is undecodable, and the transport drops and
 *  counts the message (drops_decode), so a small message cannot make the receiver build a huge
 *  ring. 131072: 1,310 members of 100 vnodes. Rings built locally (au_ring_build) have no such
 *  bound. */
#define AU_RING_MAX_DECODED_POSITIONS 131072

/** Builds a ring of n members (copied; duplicates by address keep the first; a NULL address is
 *  ""), each at max(1, vnodes) positions hashed with XXH3 from (address, id, vnode);
 *  replication_factor 0 means 2, and any larger than the member count costs as much as the
 *  member count. NULL when out of memory, when members is NULL with n > 0, or when a member's
 *  vnodes exceeds AU_RING_MAX_VNODES. */
AU_API au_ring *au_ring_build(const au_cluster_member *members, size_t n,
                              unsigned replication_factor);
/** Takes another reference to a snapshot; returns it. */
AU_API au_ring *au_ring_retain(au_ring *ring);
/** Drops a reference; the last one frees the snapshot. Safe with NULL. */
AU_API void au_ring_release(au_ring *ring);
/** Members in the ring. */
AU_API size_t au_ring_size(const au_ring *ring);
/** The i-th member, sorted by address (i < au_ring_size). */
AU_API const au_cluster_member *au_ring_member(const au_ring *ring, size_t i);
/** The replication factor the ring was built with. */
AU_API unsigned au_ring_replication_factor(const au_ring *ring);
/** The owner of a key (any bytes), or NULL for an empty ring (or a NULL key with len > 0). The
 *  functions below write nothing and return 0 for a NULL out. */
AU_API const au_cluster_member *au_ring_owner(const au_ring *ring, const void *key, size_t len);
/** The replica set of a key: the owner, then the next distinct members clockwise; up to max,
 *  and never more than 64 (a larger max gets 64). Returns how many were written. */
AU_API size_t au_ring_replicas(const au_ring *ring, const void *key, size_t len,
                               const au_cluster_member **out, size_t max);
/** A member's managers: the next R distinct members clockwise from its first position (the
 *  members it heartbeats to). Returns how many (0 if the address is not in the ring). */
AU_API size_t au_ring_managers(const au_ring *ring, const char *address,
                               const au_cluster_member **out, size_t max);
/** A member's charges: the members whose managers include it (exactly the inverse of
 *  au_ring_managers; the members it watches). Returns how many were written. */
AU_API size_t au_ring_charges(const au_ring *ring, const char *address,
                              const au_cluster_member **out, size_t max);
/** The index of the member at `address` (au_ring_member), or -1. */
AU_API long au_ring_find(const au_ring *ring, const char *address);

#ifdef __cplusplus
}
#endif
#endif
