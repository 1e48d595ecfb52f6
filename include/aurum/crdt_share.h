/* aurum/crdt_share.h — sharing a CRDT across the cluster: one replica per node, kept in sync by a
 * dispersal actor (causal δ-dispersal after Almeida, Shoker and Baquero, "Delta state replicated
 * data types", algorithm 2, with the redundancy removal and no-back-propagation of Enes et al.,
 * "Efficient synchronization of state-based CRDTs").
 *
 *   AU_SHARE_OF(gcounter) is built in: au_share_gcounter is a replica of a GCounter.
 *   au_share_gcounter hits;
 *   au_share_gcounter_start(node, cluster, &(au_share_config){ .name = "hits" }, &hits);
 *   au_share_gcounter_inc(hits, 1);                 // any thread; applied by the actor
 *   uint64_t v = au_share_gcounter_value(hits);     // any thread; the replica's value now
 *
 * Every node that shares a CRDT starts a replica under the same name with the same type (the
 * type's name, e.g. "au.gcounter.1", travels with every delta; a mismatch is dropped and counted).
 * The replica is an actor registered under "crdt:<name>", in the node's "crdt" layer (stopped
 * before the cluster, after the user's actors); it lives until au_node_stop, which frees it.
 *
 * The algorithm, per replica (member id i, its cluster member id):
 *   - X: the state; c: a local clock counting the changes to X; D: a buffer of the deltas of
 *     changes [gc, c) (each remembering which peer it came from); A[j]: for every other member
 *     j, the highest clock of ours j has acknowledged.
 *   - a mutation m: d = m(X) (a δ-mutator), X ⊔= d, D[c++] = d.
 *   - a received delta d (from anyone, member or not: a joiner the local view does not know yet
 *     is answered too) with sender clock k: d' = d ∖ X (delta_minus: what X lacks); if d' is not
 *     bottom, X ⊔= d', D[c++] = d' (so it is passed on: transitive dispersal; when the sender is a
 *     live member, which sends it to everyone itself until acked: with ALL not at all, with
 *     OUT_OF_DATE only in this replica's next `pushes` groups, none by default, unless
 *     `forward_all`); then ack k to
 *     the sender: a member within `ack_delay`, riding on the next delta to it if one leaves by
 *     then, else alone (one ack covers every delta received from it meanwhile), but at once
 *     when d brought nothing new and ends where this replica had acked already (a re-send: the
 *     ack was lost); a sender this node does not know as a member at once. A delta carries the
 *     sender's address, member id and type hash until the receiver has acked, and again on a
 *     send after one went unacked for timeout + ack_delay (the id then always, to that
 *     receiver); without the id the sender is the member at the datagram's source address (an
 *     ack alone likewise omits it until the acked member re-sends acked deltas); one without
 *     address from a non-member is joined but not acked, one without type hash from a sender
 *     not yet checked and one without id from a source that is no member are ignored, until
 *     the re-send carries them. A delta that fails to decode, names another type, or is too large is dropped and
 *     counted, and not acked.
 *   - an ack (j, k): A[j] = max(A[j], k); D is collected below min_j A[j].
 *   - a dispersal round (`coalesce` after the first change, 100 ms by default — every mutation
 *     queued by then is in it; with AU_SHARE_COALESCE_NONE after each actor turn that changed
 *     X — and every T = timeout +
 *     ack_delay while some peer has not acked c): the targets are the priority peers plus,
 *     with OUT_OF_DATE, the `amount` peers with the lowest A[j] (ties: the longest unserved),
 *     or with ALL every peer (a peer whose ack is held is picked again, and then gets only
 *     what is new since: a cheap send that keeps one forwarding chain); each target j with A[j] < c gets the join of D[A[j] .. c) minus the
 *     deltas that came from j itself or that j is known to have (vias, below) (or, while an earlier send to it is still unacked and
 *     younger than T, only what is new since), or — if D no longer reaches back to A[j] (a
 *     member that fell behind), or if that join encodes to more than 1 KiB and more than X
 *     (one element added again and again keeps a tomb per add in the join, none in X) — the
 *     full state X. A peer that does not answer is re-sent to
 *     every T, then every 2 × T; a full state no sooner than one timeout per 64 KiB of it. A
 *     member that has answered nothing (no ack, vouch or delta of its own) for 64 × T and
 *     2 × catchup_delay since the first send to it — a node that does not share this CRDT,
 *     or one our datagrams never reach (relays serve it) — is sent to ever less often (each
 *     send waits twice as long, up to 64 × T); its first answer ends that (a node that starts
 *     the replica late catches up from the next send, within 64 × T). Such a member still
 *     holds D: up to the bounds below, beyond which it needs the full state. One timer chain
 *     per replica. The buffer holds at most 65,536 deltas and `max_buffer` bytes of them (their
 *     encoded size, 4 MiB by default; au_share_stats.buffered_bytes): beyond either, the oldest
 *     are collected, acked or not (collected_unacked), and the peers behind them get the full
 *     state — so a member that never acks holds at most that much, and catches up by the full
 *     state when it answers.
 *   - vias (Enes et al.'s "avoid sending what the peer has"): a delta or ack carries what its
 *     sender has of other members' deltas ("every delta of m below clock", docs/wire-format.md
 *     §1.6). An entry naming the receiver acks its deltas, whoever brought them; the others
 *     let the receiver leave out, for that sender, the deltas it forwarded from m up to there;
 *     after a group that left nothing out (or a full state) the receiver has them too.
 *   - catching up: a member that has never acked (new or returning) or fell behind is served
 *     at first only by its catch-up sources — its ring managers (au_ring_managers) — and by the
 *     other peers only once it has been a member for `catchup_delay` (so a joiner does not
 *     receive N full states at once; once it acks, it is served by deltas like everyone else).
 *     Having joined a full state, it vouches to each member m it has not heard from: an ack
 *     without clock naming m with how far it now has m's deltas (the state's sender's vias:
 *     "every delta of m below clock", counting all of m's buffer positions, the deltas m got
 *     from others too, so the claim is about X alone and holds for the joiner as for the
 *     sender). m counts them acked and serves deltas from there at once; it still sends its
 *     full state after catchup_delay only if its buffer no longer reaches back that far. The
 *     vouch is re-sent (backing off) while m stays silent, until catchup_delay after the state;
 *     a lost one costs that full state, never data. Vias are raised only by whole groups and
 *     states, so where every member wrote concurrently they often fall short of m's collected
 *     buffer; the vouch therefore also carries the digest of the joiner's state (the type's
 *     `digest`, aurum/crdt.h). If it equals the digest of m's own state, the joiner's state is
 *     m's, which holds every delta of m's below m's clock: m counts them all acked and sends no
 *     state (au_share_stats.vouches_matched). A state that differs (m changed since, or the
 *     joiner has more) matches nothing and costs only the vias' old behaviour; a type without
 *     a digest vouches by vias alone (docs/benchmarks.md, "Catching up").
 *   - membership (au_cluster_subscribe): ADDED j → A[j] = 0; REMOVED j → j is dropped from A
 *     (and D may be collected further); mutations made before the node joined are in X and D
 *     and are dispersed as soon as it joins (ALONE/JOINED).
 *   - relying on origins: a replica does not pass on a delta whose origin is a live member
 *     (ALL, and OUT_OF_DATE with `pushes` 0): that origin sends it to every member until each
 *     acks, and if it is removed first the replicas that relied on it rewind the peers that may
 *     lack it.
 *   - relays: an origin that cannot reach a member while both stay members (a link cut in one
 *     direction, or a member reachable only through others, which the cluster keeps as alive)
 *     sees it: the member lacks deltas it was sent, and no ack of the origin's own sends has
 *     come from it for `relay_after` (default 32 × (timeout + ack_delay), 5.6 s; loss alone
 *     rarely stalls acks that long). It asks two other members to pass its deltas on (a relay
 *     naming the member and how far it has acked the origin; relays_sent): one of the
 *     member's ring managers and one chosen in turn, kept while they are healthy and refreshed
 *     every relay_after / 2 while the cut lasts; the second is replaced when the member has
 *     shown no progress for 8 × relay_after (it may be reachable through some members only).
 *     Each relayer passes the origin's deltas on to it for 2 × relay_after after the last word
 *     (relays_taken), from the first delta of the origin's it holds beyond that ack, or with
 *     its full state if one was already collected from its buffer (the usual case at the first
 *     word). Only the origin can say it (the message must come from its address). Measured in
 *     simulation: a link cut one way between two of 3 or 6 nodes, 20 updates over 1 s: the
 *     cut-off member had all 20 4.9 s after the last; a 2-minute cut with 4 updates a second (a
 *     second writer among them): it lagged by 4 updates at most, 3 full states in all;
 *     reachable through one member alone: all 40 updates 86 s after the last (the second
 *     relayer replaced twice); 12 healthy nodes, 352 updates with idle gaps,
 *     streams and bursts, at 0 and 5 % loss: no relay. Cost left: a cut one way loses the
 *     origin's acks too, so a cut-off member that writes has its own deltas relayed to the
 *     origin (redundant, now and then a full state). `forward_all` (OUT_OF_DATE) passes
 *     everything on from the start instead, at 2–3× the bytes.
 *
 * Pruning (when the type keeps per-replica entries; see "Pruning" in aurum/crdt.h): a member
 * removed with reason LEAVING or REPLACED (its id never mutates again: P1) is pruned on this
 * replica `prune_delay` after the removal (P2: its last deltas had that long to arrive), unless
 * it came back meanwhile. A member removed as FAILED may come back with the same id after a
 * partition heals, so it is pruned only if `prune_failed` is set, `prune_failed` after the
 * removal (set it well above the cluster's tombstone_ttl). For prune_once types (the counters)
 * only the live member with the lowest id at that time prunes (P3) and ships the delta; the
 * others only join it. A pruned id that later shows up again (removed again after it came
 * back) is not pruned twice: the 4,096 most recently pruned ids are remembered (a hash set,
 * au_share_stats.pruned_ids), so churn costs a bounded table. One pruned longer ago is pruned
 * again, which changes nothing: the state keeps the retirement (aurum/crdt.h, "Pruning"), so
 * its entries arriving again from stale deltas or states are absorbed, neither back nor counted
 * twice, and a counter's second fold finds nothing to fold (and ships nothing).
 * P3 and partitions: "lowest" is this replica's view. If the cluster is split when a member
 * leaves and both sides see it leave (it could reach both), each side's lowest member would
 * fold its count, counted twice after the heal. So a fold waits while any member removed as
 * FAILED within `prune_hold` (60 s) has not come back: a split shows as such removals on both
 * sides, and once it heals its members are ADDED again and the one lowest member folds. A
 * split not yet detected at the fold is safe (every replica still sees the global lowest as
 * live). Left: a split that lasts longer than `prune_hold` and a leave seen on both sides of it
 * — raise `prune_hold` (with the cluster's tombstone_ttl) to the longest partition that must
 * stay exact. A real crash delays the folds of its time by `prune_hold`.
 *
 * One name, two types: a replica of name N on one node and a replica of N of another CRDT type
 * on another never mix: each drops the other's deltas (drops_type, a WARN there, rate-limited)
 * and answers the sender with a type refusal, its own type's name in an ack with base and clock
 * 0 (docs/wire-format.md §1.6), once and again at most every 16 × (timeout + ack_delay) while
 * that member's deltas keep coming. The sender, on a refusal from that member's own address
 * (and naming a type other than its own), stops sending to it and stops holding its buffer for
 * that member's acks (it re-sent with backoff, and held up to max_buffer for it): it counts the
 * member once in peers_type_mismatch and logs one WARN naming the member's address and both
 * type names. A delta of its own type, or an ack, from that member later (its replica was
 * restarted with the right type) ends it: the member is served again. A refusal holds for 64 ×
 * (timeout + ack_delay), at least a minute: then the member is tried again (one send; a real
 * mismatch refuses again, neither counted nor logged again), so a refusal forged from a
 * member's address without a cluster key cuts it off for that long, not for good. A replica of
 * an earlier version takes the refusal for an empty vouch and keeps re-sending with backoff.
 *
 * Size: a delta or state is sent as one message, its payload in chunks of 512 KiB (the codec
 * takes byte strings of at most 1 MiB); the transport fragments it into datagrams (docs/
 * wire-format.md). One whose encoding exceeds `max_message`, or that the node's transport
 * refuses as above its max_message_size, is not sent: counted in drops_too_big with a WARN log
 * line (rate-limited). A peer whose delta group is too big gets the
 * full state instead, which is often far smaller (a group keeps the elements removed within it
 * as tombs, the state keeps nothing of them), paced as full states are, until its ack moves (then
 * deltas again); a state too big as well is tried again no sooner than one timeout per 64 KiB of
 * it, so the peer stays behind until the state shrinks below the limit or the limit is raised,
 * and then catches up. The same holds when the state that went for a group larger than it is
 * refused: the peer gets full states at that pace, not the later changes from a clock it never
 * got to. Received ones above it are dropped likewise, and not acked.
 *
 * Bytes on the wire (docs/benchmarks.md, "CRDT sharing"; au_share_stats.wire_bytes counts a
 * replica's own): every delta message carries framing (59 bytes of datagram and transport frame
 * with the target's name "crdt:<name>" for a 5-byte name, and a record of 11–20 with the clocks,
 * 8 more while the sender's member id goes with it; docs/wire-format.md §1.6); acks ride on
 * deltas going the other way when one leaves within ack_delay, else cost a message of about 70
 * bytes. Updates made within `coalesce` share one round, so a steady stream or a burst costs
 * one message per peer per window. Measured on 6 nodes on loopback with one update per 20 ms
 * (sequential) or six (concurrent), at the defaults (three runs, docs/benchmarks.md,
 * "Pushes", counting exactly the replicas' own datagram bytes): with OUT_OF_DATE 5–9 bytes per
 * update *below* the delta itself on every row (a window's group is smaller than its deltas one
 * by one); with ALL 10–25 beyond it (concurrent: 1.56–1.70× the delta); one push per received
 * delta (`pushes` = 1) about doubles OUT_OF_DATE's bytes, forward_all triples them. With
 * AU_SHARE_COALESCE_NONE every update is a message to every peer: 45–180 bytes with ALL and
 * 70–260 with OUT_OF_DATE (measured before forward_all existed).
 *
 * Threads: every au_share_* call may be made from any thread. Mutations are queued to the actor
 * and applied in call order per calling thread; reads (au_share_read, the typed value
 * functions) take the replica's lock and see the state as of the last applied change. */
#ifndef AURUM_CRDT_SHARE_H
#define AURUM_CRDT_SHARE_H

#include <aurum/actor.h>
#include <aurum/cluster.h>
#include <aurum/crdt.h>
#include <aurum/export.h>
#include <aurum/node.h>
#include <aurum/schema.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration -------------------------------------------------------------------------- */

/** Which peers a dispersal round sends to (besides the priority peers). */
typedef enum au_share_selector {
    AU_SHARE_OUT_OF_DATE = 0, /**< the `amount` peers with the lowest acknowledged clock */
    AU_SHARE_ALL,             /**< every peer that has not acknowledged the current clock;
                                   deltas received from a live member are not forwarded (it
                                   sends them to every member itself), so every node must use
                                   ALL if one does; when such a member is removed, the peers
                                   that may lack its deltas (acked past one left out for them
                                   and did not vouch for them) are re-sent from the first such
                                   delta still buffered, else get the full state */
} au_share_selector;

/** Settings of one replica. Zero means the default for every field; durations are nanoseconds
 *  (AU_MSEC(..)). Every node sharing the CRDT must use the same name and type. */
typedef struct au_share_config {
    const char *name;               /**< the CRDT's name (required; at most 48 bytes); the
                                         replica actor is registered as "crdt:<name>" */
    au_share_selector selector;     /**< default AU_SHARE_OUT_OF_DATE */
    unsigned amount;                /**< OUT_OF_DATE: peers per round besides the priority
                                         peers; default 1 */
    const char *const *priority;    /**< "host:port" of peers served in every round (those not
                                         members are skipped); copied; default none (NULL) */
    size_t npriority;               /**< entries in priority; default 0 */
    au_nanos timeout;               /**< re-send interval while a peer has not acked (plus
                                         ack_delay), and the shortest interval between rounds;
                                         default 50 ms, at least 1 ms */
    au_nanos catchup_delay;         /**< how long a member needing the full state waits for its
                                         ring managers before other peers send it theirs, and the
                                         interval between full states from one peer; default
                                         8 × timeout */
    size_t max_message;             /**< largest encoded delta or state sent or accepted, bytes
                                         (a delta group above it: the full state instead, "Size"
                                         above); keep it ≤ the node's max_message_size; default
                                         16 MiB minus 4 KiB */
    au_nanos prune_delay;           /**< wait after a LEAVING/REPLACED removal before pruning
                                         the member's entries; default 10 s */
    au_nanos prune_failed;          /**< wait after a FAILED removal before pruning; default 0 =
                                         never prune failed members */
    au_nanos prune_hold;            /**< the counters (prune_once types): while a member removed
                                         as FAILED within this long has not come back, folds
                                         wait (it may be a partition, whose other side would
                                         fold the same count); keep it ≥ the cluster's
                                         tombstone_ttl; default 60 s; AU_SHARE_PRUNE_HOLD_NONE:
                                         never wait */
    au_nanos ack_delay;             /**< how long an ack for a member's deltas may wait to ride
                                         on a delta going to it (one ack then covers every
                                         delta received from it meanwhile); a sender re-sends
                                         after timeout + ack_delay. Default timeout / 2 +
                                         coalesce (the next round's deltas then carry it);
                                         at most timeout + coalesce; AU_SHARE_ACK_NOW acks
                                         every delta at once */
    au_nanos coalesce;              /**< how long a change waits for more before its dispersal
                                         round (changes within it share one delta group per
                                         peer: fewer, larger messages for that much latency);
                                         default 100 ms; AU_SHARE_COALESCE_NONE: the round
                                         follows the actor turn (lowest latency, most bytes) */
    bool forward_all;               /**< OUT_OF_DATE: a delta received from a live member goes
                                         to every peer that has not acked it, as in the
                                         reference algorithm (transitive dispersal, 2–3× the
                                         bytes); default false: only in this replica's next
                                         `pushes` groups, and its origin, which sends it to
                                         every member until acked, delivers the rest */
    unsigned pushes;                /**< OUT_OF_DATE without forward_all: in how many of this
                                         replica's next delta groups a delta received from a
                                         live member is passed on (an epidemic push); default
                                         0, at most 16. Measured in simulation (6–24 nodes, one
                                         writer or all, amount 1; docs/benchmarks.md,
                                         "Pushes"), one push each cost 2.2× the bytes for a
                                         mean delivery latency 3–27 % lower, the worst one
                                         unchanged: the origin serves every member anyway */
    au_nanos relay_after;           /**< how long a member may lack this replica's deltas with
                                         no ack of its moving before the others are asked to
                                         pass them on to it ("relays" above); default 32 ×
                                         (timeout + ack_delay), 5.6 s at the defaults;
                                         AU_SHARE_RELAY_NEVER: never (the origin alone serves
                                         its deltas, as forward_all = false did before) */
    size_t max_buffer;              /**< bytes of deltas (their encoded size) the buffer holds
                                         for peers that have not acked them: beyond, the oldest
                                         are collected and the peers that lacked them get the
                                         full state ("the buffer" above); the newest delta is
                                         kept whatever its size. Bounds what a member that never
                                         answers holds; default 4 MiB */
} au_share_config;

/** coalesce: no window; each actor turn's changes leave at once in their own round. */
#define AU_SHARE_COALESCE_NONE UINT64_MAX

/** ack_delay: ack each delta as soon as it is received (no delay, no riding). */
#define AU_SHARE_ACK_NOW UINT64_MAX

/** prune_hold: fold the counters' departed members without waiting for FAILED removals. */
#define AU_SHARE_PRUNE_HOLD_NONE UINT64_MAX

/** relay_after: never ask the others to pass this replica's deltas on. */
#define AU_SHARE_RELAY_NEVER UINT64_MAX

/* ---- the replica ------------------------------------------------------------------------------ */

/** A replica of a shared CRDT (opaque; owned by its node, freed after au_node_stop). */
typedef struct au_share au_share;
/** A replica as a local message field (au_share_changed.share): a borrowed pointer, valid until
 *  au_node_stop of the replica's node. */
typedef au_share *au_share_ptr;
AU_LOCAL_TYPE(au_share_ptr);

/** What subscribers receive after each change of the replica (local or remote): the replica
 *  (read it with au_share_read or the typed reads: the state may have moved on since), the
 *  replica's clock after the change, and whether it came from a local mutation. Changes may be
 *  coalesced: one notification per actor turn at most. */
AU_LOCAL_RECORD(au_share_changed, (au_share_ptr, share), (uint64_t, clock), (bool, local));

/** Statistics of one replica. (bytes_received, redundant_bytes and bytes_forwarded: where the
 *  bytes of a CRDT's traffic go; share_bench prints them.) */
typedef struct au_share_stats {
    uint64_t clock;            /**< the local clock (changes to the state so far) */
    uint64_t buffered;         /**< deltas in the buffer now */
    uint64_t peers;            /**< members in the ack table now */
    uint64_t mutations;        /**< local mutations applied (that changed the state) */
    uint64_t mutations_failed; /**< mutators that returned an error (state unchanged) */
    uint64_t deltas_sent;      /**< delta groups sent */
    uint64_t states_sent;      /**< full states sent */
    uint64_t bytes_sent;       /**< encoded CRDT bytes sent (deltas and states) */
    uint64_t received;         /**< deltas and states received and decoded */
    uint64_t redundant;        /**< ... of which had nothing new (bottom after delta_minus) */
    uint64_t acks_sent;        /**< acks sent (alone or riding on a delta) */
    uint64_t acks_received;    /**< acks received from members */
    uint64_t drops_decode;     /**< received deltas that failed to decode (not acked) */
    uint64_t drops_type;       /**< received deltas naming another CRDT type (not acked) */
    uint64_t drops_too_big;    /**< delta groups and states not sent or not accepted: above
                                    max_message, or (sent) refused by the node's transport as
                                    above its max_message_size (a group too big to send is
                                    replaced by the full state, itself counted if it is too
                                    big as well) */
    uint64_t drops_invalid;    /**< malformed protocol messages (bad sender, clock) */
    uint64_t drops_untyped;    /**< deltas without type hash from a sender whose type was not
                                    checked yet (ignored, not acked: a sender re-sends with the
                                    hash after timeout + ack_delay; a few are normal while
                                    members join) */
    uint64_t pruned;           /**< departed members pruned */
    uint64_t bytes_received;   /**< encoded CRDT bytes received and decoded (deltas, states) */
    uint64_t redundant_bytes;  /**< ... of which in deltas and states that had nothing new */
    uint64_t bytes_forwarded;  /**< of bytes_sent, those in delta groups holding a delta this
                                    replica received from another (not only its own changes) */
    uint64_t rewinds;          /**< peers whose ack was lowered because a member whose deltas
                                    this replica left out of its groups (it sends them to every
                                    member itself) was removed: each gets the part it may lack
                                    again, from the buffer or as the full state */
    uint64_t wire_bytes;       /**< datagram bytes of every message this replica sent (deltas,
                                    states, acks): the CRDT bytes and the protocol's record, the
                                    transport's body header with the actor name, message or
                                    fragment frames, and the datagram header and trailer
                                    (docs/wire-format.md §1), counted as if each message went in
                                    datagrams of its own at the default mtu (1400 B; plain, or
                                    sealed when the node seals) — an upper bound where the
                                    transport packs it with other messages to the same node */
    uint64_t wire_messages;    /**< messages counted in wire_bytes */
    uint64_t acks_again;       /**< acks sent at once, not held for ack_delay, because a member
                                    re-sent deltas this replica had acked already (its ack was
                                    lost) */
    uint64_t drops_no_id;      /**< deltas and acks without the sender's member id (omitted once
                                    the receiver knows the sender) whose source address is no
                                    member's: ignored, not acked; the sender names itself again
                                    after timeout + ack_delay */
    uint64_t vouches_matched;  /**< vouches from members catching up whose state digest equalled
                                    this replica's: everything acked to them at once, no full
                                    state sent (crdt_share.h, "catching up") */
    uint64_t relays_sent;      /**< relay messages sent: a member that lacked this replica's
                                    deltas with no ack moving for relay_after, named to another
                                    member so that it passes them on ("relays" above) */
    uint64_t relays_taken;     /**< (origin, member) pairs this replica began to pass an
                                    origin's deltas on to, on the origin's word */
    uint64_t buffered_bytes;   /**< the encoded size of the deltas in the buffer now, bytes (at
                                    most max_buffer, but for a newest delta larger alone) */
    uint64_t collected_unacked; /**< deltas collected from the buffer before every peer had
                                    acked them (above max_buffer bytes or 65,536 deltas, or out
                                    of memory): the peers that lacked them get the full state */
    uint64_t pruned_ids;       /**< departed members remembered as pruned now (at most 4,096,
                                    the most recent: "Pruning" above) */
    uint64_t peers_type_mismatch; /**< members found to hold this name as another CRDT type
                                    (their type refusal: "One name, two types" above), each
                                    counted once until it shows this type again */
} au_share_stats;

/** Starts a replica of a CRDT of vtable `type` on `node`, in `cluster` (au_cluster_start on the
 *  same node, else AU_EINVAL; the replica subscribes to it: AU_ESTOPPED if that cluster has left
 *  or stopped). AU_EINVAL for a bad configuration
 *  (no name, name too long, timeout below 1 ms) or a vtable without one of name, create, free,
 *  join, is_bottom, encode, decode, copy, delta_minus; AU_EEXIST when a replica of that name
 *  exists on the node; AU_ENOMEM; AU_EFULL without a layer slot. The first replica on a node
 *  attaches the "crdt" layer. The replica's actor, named "crdt:<name>", takes Term from its own
 *  node only (AU_TERM_LOCAL): a remote one is refused and counted in the node's
 *  drops_term_refused (au_node_stats). */
AU_API au_err au_share_start(au_node *node, au_cluster *cluster, const au_crdt_type *type,
                             const au_share_config *cfg, au_share **out);

/** The vtable the replica was started with. */
AU_API const au_crdt_type *au_share_type(const au_share *s);
/** The replica id its mutators get (this node's cluster member id). */
AU_API uint64_t au_share_replica(const au_share *s);

/** A mutation for generic code: applied by the actor to the replica's state, with its delta
 *  accumulator, the replica id (pass it to the type's mutators) and a copy of the argument bytes
 *  given to au_share_mutate. Returns AU_OK or an error (then state and delta must be unchanged). */
typedef au_err (*au_share_mutator)(void *state, void *delta, uint64_t replica, const void *arg,
                                   size_t len);

/** Queues a mutation: fn runs on the actor with a copy of arg's len bytes (so arg may hold
 *  values, not pointers to memory that may go away), before any mutation queued later by the
 *  same thread. AU_OK once queued; AU_ESTOPPED if the node stops; AU_EINVAL for a NULL fn;
 *  AU_ENOMEM. A mutation that changes nothing is not dispersed; one that fails is counted in
 *  mutations_failed. The handle (and states read through it) stay valid until au_node_stop of
 *  its node returns. */
AU_API au_err au_share_mutate(au_share *s, au_share_mutator fn, const void *arg, size_t len);

/** Calls fn(state, arg) with the replica's current state, under the replica's lock (fn must not
 *  call au_share_* functions on the same replica, and must not keep pointers into the state). */
AU_API void au_share_read(au_share *s, void (*fn)(const void *state, void *arg), void *arg);

/** A deep copy of the current state into *out (free it with the type's free). */
AU_API au_err au_share_snapshot(au_share *s, void **out);

/** Adds a subscriber: it gets an au_share_changed at once (the state as it is) and after each
 *  change (subscribing it again changes nothing: it is told once). A subscriber that has
 *  stopped is dropped. */
AU_API au_err au_share_subscribe(au_share *s, au_share_changed_lref subscriber);

/** Fills *out with the replica's statistics (all zero for a NULL s; nothing for a NULL out). */
AU_API void au_share_stats_get(au_share *s, au_share_stats *out);

/* ---- typed replicas ------------------------------------------------------------------------ */

/* Internal: the untyped halves of the typed wrappers. */
typedef au_err (*au_share_tramp_)(void (*fn)(void), void *state, void *delta, uint64_t replica,
                                  const void *arg, size_t len);
typedef void (*au_share_rtramp_)(void (*fn)(void), const void *state, void *arg);
AU_API au_err au_share_mutate_typed_(au_share *s, void (*fn)(void), au_share_tramp_ tramp,
                                     const void *arg, size_t len);
AU_API void au_share_read_typed_(au_share *s, void (*fn)(void), au_share_rtramp_ tramp, void *arg);

/* AU_SHARE_OF(T) declares au_share_T, a handle distinct for every T (a struct wrapping
 * au_share *), so that a replica of one type passed where another is expected does not compile:
 *   au_share_T_start(node, cluster, cfg, &out)   with au_T_type
 *   au_share_T_mutate(h, fn, arg, len)           fn(au_T *state, au_T *delta, uint64_t replica,
 *                                                   const void *arg, size_t len)
 *   au_share_T_read(h, fn, arg)                  fn(const au_T *state, void *arg)
 *   au_share_T_snapshot(h, &copy)                an au_T * to free with au_T_free
 *   au_share_T_subscribe(h, lref), au_share_T_stats(h, &st), au_share_T_of(changed) (the
 *   replica of a notification as an au_share_T; .s is NULL if it is of another type).
 * A handle built by hand around a replica of another type is refused: mutate and snapshot
 * return AU_ETYPE (the snapshot NULL), read calls nothing, and so the built-in conveniences
 * below return AU_ETYPE, 0 or false.
 * For the typed ORMaps (whose handles are structs) use AU_SHARE_OF_MAP(T), T as in AU_ORMAP_OF;
 * the handle is au_share_ormap_T and the state is passed as au_ormap_T. */
#define AU_SHARE_OF_COMMON_(H, ST, CST, WRAP, CWRAP, VT)                                          \
    typedef struct H { au_share *s; } H;                                                          \
    typedef au_err (*H##_mutator)(ST state, ST delta, uint64_t replica, const void *arg,         \
                                  size_t len);                                                    \
    static inline au_err H##_start(au_node *node, au_cluster *cluster, const au_share_config *cfg, \
                                   H *out) {                                                      \
        out->s = NULL;                                                                            \
        return au_share_start(node, cluster, &(VT), cfg, &out->s);                               \
    }                                                                                             \
    static inline au_err H##_tramp_(void (*fn)(void), void *st, void *d, uint64_t r,             \
                                    const void *arg, size_t len) {                                \
        return ((H##_mutator)fn)(WRAP(st), WRAP(d), r, arg, len);                                \
    }                                                                                             \
    static inline au_err H##_mutate(H h, H##_mutator fn, const void *arg, size_t len) {          \
        if (h.s && au_share_type(h.s) != &(VT)) return AU_ETYPE;                                  \
        return au_share_mutate_typed_(h.s, (void (*)(void))fn, H##_tramp_, arg, len);            \
    }                                                                                             \
    static inline void H##_rtramp_(void (*fn)(void), const void *st, void *arg) {                \
        ((void (*)(CST, void *))fn)(CWRAP(st), arg);                                              \
    }                                                                                             \
    static inline void H##_read(H h, void (*fn)(CST state, void *arg), void *arg) {              \
        if (h.s && au_share_type(h.s) != &(VT)) return;                                           \
        au_share_read_typed_(h.s, (void (*)(void))fn, H##_rtramp_, arg);                         \
    }                                                                                             \
    static inline au_err H##_snapshot(H h, ST *out) {                                            \
        void *v = NULL;                                                                           \
        au_err e = h.s && au_share_type(h.s) != &(VT) ? AU_ETYPE : au_share_snapshot(h.s, &v);    \
        *out = WRAP(v);                                                                           \
        return e;                                                                                 \
    }                                                                                             \
    static inline au_err H##_subscribe(H h, au_share_changed_lref sub) {                         \
        return au_share_subscribe(h.s, sub);                                                      \
    }                                                                                             \
    static inline void H##_stats(H h, au_share_stats *out) { au_share_stats_get(h.s, out); }     \
    static inline H H##_of(const au_share_changed *c) {                                          \
        return (H){ c && au_share_type(c->share) == &(VT) ? c->share : NULL };                   \
    }                                                                                             \
    AU_DECL_END_

#define AU_SHARE_PTR_WRAP_(T) (au_##T *)
#define AU_SHARE_CPTR_WRAP_(T) (const au_##T *)
#define AU_SHARE_OF(T)                                                                             \
    AU_SHARE_OF_COMMON_(au_share_##T, au_##T *, const au_##T *, AU_SHARE_PTR_WRAP_(T),             \
                        AU_SHARE_CPTR_WRAP_(T), au_##T##_type)
#define AU_SHARE_MAP_WRAP_(T, p) ((au_ormap_##T){ (au_ormap *)(p) })
#define AU_SHARE_OF_MAP(T)                                                                         \
    static inline au_ormap_##T au_share_ormap_##T##_wrap_(void *p) {                              \
        return AU_SHARE_MAP_WRAP_(T, p);                                                           \
    }                                                                                              \
    static inline au_ormap_##T au_share_ormap_##T##_cwrap_(const void *p) {                       \
        return AU_SHARE_MAP_WRAP_(T, (void *)(uintptr_t)p);                                        \
    }                                                                                              \
    AU_SHARE_OF_COMMON_(au_share_ormap_##T, au_ormap_##T, au_ormap_##T,                            \
                        au_share_ormap_##T##_wrap_, au_share_ormap_##T##_cwrap_,                   \
                        au_ormap_##T##_type)

/* ---- built-in typed replicas and their common operations ------------------------------------ */

AU_SHARE_OF(gcounter);
AU_SHARE_OF(pncounter);
AU_SHARE_OF(gset);
AU_SHARE_OF(twopset);
AU_SHARE_OF(orset);
AU_SHARE_OF(lwwreg);
AU_SHARE_OF(mvreg);
AU_SHARE_OF(ewflag);
AU_SHARE_OF(dwflag);
AU_SHARE_OF(lwwmap);
AU_SHARE_OF_MAP(gcounter);
AU_SHARE_OF_MAP(pncounter);
AU_SHARE_OF_MAP(orset);

/* The built-in typed replicas' mutate and read check the callback's type exactly: a mutator of
 * another CRDT (or of another signature) is a hard compile error, where passing it to the
 * function itself would only be a warning before C23-era compilers (GCC 14, Clang 16). The
 * macros have the functions' names, so the functions are still there to take the address of. */
#define AU_SHARE_CHECK_(F, fn) _Generic((fn), F: (fn))
#define au_share_gcounter_mutate(h, fn, arg, len) \
    au_share_gcounter_mutate((h), AU_SHARE_CHECK_(au_share_gcounter_mutator, fn), (arg), (len))
#define au_share_gcounter_read(h, fn, arg) \
    au_share_gcounter_read((h), AU_SHARE_CHECK_(void (*)(const au_gcounter *, void *), fn), (arg))
#define au_share_pncounter_mutate(h, fn, arg, len) \
    au_share_pncounter_mutate((h), AU_SHARE_CHECK_(au_share_pncounter_mutator, fn), (arg), (len))
#define au_share_pncounter_read(h, fn, arg) \
    au_share_pncounter_read((h), AU_SHARE_CHECK_(void (*)(const au_pncounter *, void *), fn), (arg))
#define au_share_gset_mutate(h, fn, arg, len) \
    au_share_gset_mutate((h), AU_SHARE_CHECK_(au_share_gset_mutator, fn), (arg), (len))
#define au_share_gset_read(h, fn, arg) \
    au_share_gset_read((h), AU_SHARE_CHECK_(void (*)(const au_gset *, void *), fn), (arg))
#define au_share_twopset_mutate(h, fn, arg, len) \
    au_share_twopset_mutate((h), AU_SHARE_CHECK_(au_share_twopset_mutator, fn), (arg), (len))
#define au_share_twopset_read(h, fn, arg) \
    au_share_twopset_read((h), AU_SHARE_CHECK_(void (*)(const au_twopset *, void *), fn), (arg))
#define au_share_orset_mutate(h, fn, arg, len) \
    au_share_orset_mutate((h), AU_SHARE_CHECK_(au_share_orset_mutator, fn), (arg), (len))
#define au_share_orset_read(h, fn, arg) \
    au_share_orset_read((h), AU_SHARE_CHECK_(void (*)(const au_orset *, void *), fn), (arg))
#define au_share_lwwreg_mutate(h, fn, arg, len) \
    au_share_lwwreg_mutate((h), AU_SHARE_CHECK_(au_share_lwwreg_mutator, fn), (arg), (len))
#define au_share_lwwreg_read(h, fn, arg) \
    au_share_lwwreg_read((h), AU_SHARE_CHECK_(void (*)(const au_lwwreg *, void *), fn), (arg))
#define au_share_mvreg_mutate(h, fn, arg, len) \
    au_share_mvreg_mutate((h), AU_SHARE_CHECK_(au_share_mvreg_mutator, fn), (arg), (len))
#define au_share_mvreg_read(h, fn, arg) \
    au_share_mvreg_read((h), AU_SHARE_CHECK_(void (*)(const au_mvreg *, void *), fn), (arg))
#define au_share_ewflag_mutate(h, fn, arg, len) \
    au_share_ewflag_mutate((h), AU_SHARE_CHECK_(au_share_ewflag_mutator, fn), (arg), (len))
#define au_share_ewflag_read(h, fn, arg) \
    au_share_ewflag_read((h), AU_SHARE_CHECK_(void (*)(const au_ewflag *, void *), fn), (arg))
#define au_share_dwflag_mutate(h, fn, arg, len) \
    au_share_dwflag_mutate((h), AU_SHARE_CHECK_(au_share_dwflag_mutator, fn), (arg), (len))
#define au_share_dwflag_read(h, fn, arg) \
    au_share_dwflag_read((h), AU_SHARE_CHECK_(void (*)(const au_dwflag *, void *), fn), (arg))
#define au_share_lwwmap_mutate(h, fn, arg, len) \
    au_share_lwwmap_mutate((h), AU_SHARE_CHECK_(au_share_lwwmap_mutator, fn), (arg), (len))
#define au_share_lwwmap_read(h, fn, arg) \
    au_share_lwwmap_read((h), AU_SHARE_CHECK_(void (*)(const au_lwwmap *, void *), fn), (arg))
#define au_share_ormap_gcounter_mutate(h, fn, arg, len) \
    au_share_ormap_gcounter_mutate((h), AU_SHARE_CHECK_(au_share_ormap_gcounter_mutator, fn), (arg), (len))
#define au_share_ormap_gcounter_read(h, fn, arg) \
    au_share_ormap_gcounter_read((h), AU_SHARE_CHECK_(void (*)(au_ormap_gcounter, void *), fn), (arg))
#define au_share_ormap_pncounter_mutate(h, fn, arg, len) \
    au_share_ormap_pncounter_mutate((h), AU_SHARE_CHECK_(au_share_ormap_pncounter_mutator, fn), (arg), (len))
#define au_share_ormap_pncounter_read(h, fn, arg) \
    au_share_ormap_pncounter_read((h), AU_SHARE_CHECK_(void (*)(au_ormap_pncounter, void *), fn), (arg))
#define au_share_ormap_orset_mutate(h, fn, arg, len) \
    au_share_ormap_orset_mutate((h), AU_SHARE_CHECK_(au_share_ormap_orset_mutator, fn), (arg), (len))
#define au_share_ormap_orset_read(h, fn, arg) \
    au_share_ormap_orset_read((h), AU_SHARE_CHECK_(void (*)(au_ormap_orset, void *), fn), (arg))

/** Adds n to this replica's entry of a shared GCounter. */
AU_API au_err au_share_gcounter_inc(au_share_gcounter h, uint64_t n);
/** The shared GCounter's value on this replica now. */
AU_API uint64_t au_share_gcounter_value(au_share_gcounter h);
/** Adds n (negative: subtracts) to a shared PNCounter. */
AU_API au_err au_share_pncounter_add(au_share_pncounter h, int64_t n);
/** The shared PNCounter's value on this replica now. */
AU_API int64_t au_share_pncounter_value(au_share_pncounter h);
/** Adds elem (len bytes, at most 64 KiB) to a shared ORSet (add-wins). */
AU_API au_err au_share_orset_add(au_share_orset h, const void *elem, size_t len);
/** Removes elem (the adds of it this replica has seen when the actor applies it). */
AU_API au_err au_share_orset_remove(au_share_orset h, const void *elem, size_t len);
/** True if elem is in the shared ORSet on this replica now. */
AU_API bool au_share_orset_contains(au_share_orset h, const void *elem, size_t len);
/** Elements of the shared ORSet on this replica now. */
AU_API size_t au_share_orset_size(au_share_orset h);
/** Adds n to the PNCounter at key (klen bytes, at most 64 KiB) of a shared ORMap of PNCounters. */
AU_API au_err au_share_ormap_pncounter_add(au_share_ormap_pncounter h, const void *key,
                                           size_t klen, int64_t n);
/** Removes key from a shared ORMap of PNCounters (a concurrent update keeps it: add-wins). */
AU_API au_err au_share_ormap_pncounter_remove(au_share_ormap_pncounter h, const void *key,
                                              size_t klen);
/** The value at key (false, *value 0, if absent) of a shared ORMap of PNCounters now. */
AU_API bool au_share_ormap_pncounter_get(au_share_ormap_pncounter h, const void *key, size_t klen,
                                         int64_t *value);
/** Keys of a shared ORMap of PNCounters now. */
AU_API size_t au_share_ormap_pncounter_size(au_share_ormap_pncounter h);

#ifdef __cplusplus
}
#endif
#endif
