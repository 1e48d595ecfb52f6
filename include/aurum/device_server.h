/* aurum/device_server.h — the device server: tracks devices outside the cluster (device clients,
 * aurum/device_client.h) from every cluster node.
 *
 * Each device is owned by one node: the ring owner of its 64-bit id (au_ring_owner over the id's
 * 8 little-endian bytes). The owner polls it with numbered heartbeat requests at the device's
 * interval, decides whether it is up or down, and is the path for user messages to and from it.
 * Any node accepts a device's announce and forwards it to the owner, again until the owner
 * acknowledges it (to the owner of its latest ring: a forward lost, or sent to an owner that died
 * meanwhile, is not the end of the announce); the owner keeps a standby
 * copy of each device's record on the next replica_copies members of the ring (au_ring_replicas),
 * so when the owner dies the member the ring gives the device to already knows it and starts
 * polling as soon as its ring changes. When the ring changes (a node joins, leaves or fails),
 * every node re-evaluates the devices it knows: a device whose ring owner is now another node is
 * handed to it (the record travels; the old owner stops polling at once), and the new owner
 * starts polling on receipt, or at its own ring change if that comes later.
 *
 *   au_device_server *ds;
 *   au_device_server_start(node, cluster, NULL, &ds);                  // endpoint "au.devices"
 *   au_device_server_subscribe(ds, au_narrow_local(my_msg, au_device_event, me));   // up/down/moved
 *   au_device_server_receive(ds, au_narrow_local(my_msg, au_device_message, me));   // uplink data
 *   au_device_send(ds, device_id, reading_cmd, &cmd);                  // typed, from any node
 *
 * Liveness: a device is down when none of the requests sent to it in down_after intervals was
 * echoed. After a request goes unanswered for a quarter interval the owner re-sends every
 * eighth of an interval until an echo comes, so a loss burst does not read as a death (at 25 %
 * loss each way a device is declared down falsely with a probability near 1e-6 per interval;
 * at 5 %, near 1e-17). A heartbeat counts only if it echoes a request number sent in the last 64
 * and not yet echoed: a replayed or forged heartbeat proves nothing (drops_unsolicited).
 *
 * Overload: a node that is late itself (its polling timer runs later than due, or devices are
 * polled later than due; both say how long an echo arriving now waits behind the node's own
 * work) holds downs back by that lateness, at most down_after more intervals, instead of
 * declaring down the devices whose echoes it has not got to yet (downs_held, late_ns). The
 * lateness is measured at every tick and decays at the rate of real time once the node keeps up.
 *
 * The Devices CRDT: every server keeps a replica of a table device -> (owner, incarnation,
 * interval, state), written by the owners and shared by CRDT dispersal (see below).
 *
 * Events (au_device_event) come from the node that owns the device, to that node's subscribers:
 * subscribe on every node to see every device. User messages from a device reach the receivers
 * of every member (the owner delivers and relays to the other members).
 *
 * Bounds: at most max_devices records (owned and standby) per node, and at most new_per_second
 * devices not known before admitted per second (a token bucket; with a cluster key it does not
 * apply to the hand-overs and copies of other servers: a re-balance is not cut at one second's
 * burst); announcements beyond either are dropped, counted (au_device_server_stats) and logged
 * at most once per second. Known devices
 * that go down are forgotten after forget_after; a device that never answered its owner (at
 * that incarnation) is forgotten at its down deadline instead (forgotten_silent). A datagram from anywhere that is not a valid
 * device message is dropped and counted by the node's transport first (au_node_stats).
 *
 * Sealing: device keys (docs/devices.md §4, §8) are the node's: give the node
 * au_node_config.device_keys or device_master_key, and a device sealed with its key reaches only
 * this server's endpoint (device_endpoint must equal cfg->name) and gets its downlink sealed
 * with it. Devices without a key travel under the node's own mode (plain, or the cluster key,
 * which must then not be given to devices: it authorises cluster traffic).
 *
 * Threads: every au_device_server_* call may be made from any thread. */
#ifndef AURUM_DEVICE_SERVER_H
#define AURUM_DEVICE_SERVER_H

#include <aurum/actor.h>
#include <aurum/cluster.h>
#include <aurum/device_protocol.h>
#include <aurum/export.h>
#include <aurum/node.h>
#include <aurum/schema.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Device server settings; zero means the default for every field. Every node of a cluster
 *  should use the same name and replica_copies. */
typedef struct au_device_server_config {
    const char *name;          /**< the devices' endpoint (a device's server_name), 1 to 64
                                    bytes; default AU_DEVICE_SERVER_NAME ("au.devices").
                                    The servers talk to each other through "<name>.peer" */
    uint32_t max_devices;      /**< device records kept per node, owned and standby; default
                                    1,000,000 */
    uint32_t new_per_second;   /**< devices not known before admitted per second (burst: one
                                    second's worth); default 20,000. With a cluster key,
                                    hand-overs and standby copies from other servers are not
                                    held to it (max_devices bounds them); plain, they are */
    uint32_t down_after;       /**< intervals without an echoed request before "down"; default 3
                                    (at least 2) */
    uint32_t min_interval_ms;  /**< a device asking for less is polled at this, but no slower
                                    than it takes (AU_DC_MAX_GRANT_MS of what it asked: 64 times
                                    that or 60 s, whichever is more); default 10 ms */
    unsigned replica_copies;   /**< standby copies of each record on the ring's next members;
                                    default 1 (0 is taken as the default; the maximum is 3) */
    au_nanos forget_after;     /**< a down device is forgotten after this; default 60 s */
    au_nanos tick;             /**< the polling timer's period; default 5 ms (at least 1 ms) */
    bool no_table;             /**< do not keep the Devices CRDT (au_device_server_table);
                                    default false: kept */
    unsigned shards;           /**< polling actors: the device table is split by device id into
                                    this many shards, each with its own actor, lock and timing
                                    wheel, so that polling runs on several workers at once;
                                    default 1, at most 64. Nodes of one cluster may differ in
                                    it. On a 2-core machine shared with other work, 2 shards on
                                    2 workers held fewer devices than 1 (docs/benchmarks.md,
                                    "branch devshard"): try it where the node has cores to
                                    itself */
    unsigned lease;            /**< heartbeats a device sends per request, its answer
                                    included: it answers each request (beat 0) and then sends
                                    beats 1 .. lease - 1 unprompted, one interval apart; the
                                    owner sends its next request when the lease ends, or as
                                    soon as a beat is a quarter interval late. 1: a request
                                    every interval (the seed's polling); k: a request every k
                                    intervals, about (k + 1) / 2k of the datagrams (the
                                    server's cost per device falls with its sends;
                                    docs/benchmarks.md, "Leases"). Detection is the same: down
                                    after down_after intervals without a heartbeat (for a
                                    device clock up to 3 % fast; docs/devices.md §8). Default
                                    1, at most AU_DC_MAX_BEATS (16) */
} au_device_server_config;

/** What happened to a device. */
typedef enum au_device_event_kind {
    AU_DEVICE_UP = 1,  /**< it answers its owner (the first echo after an announce, or after down) */
    AU_DEVICE_DOWN,    /**< no request echoed for down_after intervals (a device that never
                            answered at its incarnation is forgotten instead, without an
                            event: stats forgotten_silent) */
    AU_DEVICE_MOVED,   /**< a new owner took it over (previous: the old owner's id, 0 if none
                            known) and polls it now */
} au_device_event_kind;

/** A device event, sent by the owner to its node's subscribers. owner is the owning node's
 *  cluster id (au_cluster_id), owner_address its "host:port". */
AU_RECORD(au_device_event, (int32_t, kind), (uint64_t, device), (uint64_t, incarnation),
          (uint64_t, owner), (au_str, owner_address), (uint64_t, previous));

/** A user message from a device: type is the id of its user type, payload its CBOR (decode it
 *  with au_device_message_decode); owner the node that received it from the device. */
AU_RECORD(au_device_message, (uint64_t, device), (uint64_t, incarnation), (uint64_t, type),
          (au_bytes, payload), (uint64_t, owner));

/** A node's device server (opaque; owned by the node, freed after au_node_stop). */
typedef struct au_device_server au_device_server;

/** Counters of one node's device server (all since start but the gauges owned and standby). */
typedef struct au_device_server_stats {
    uint64_t owned;              /**< gauge: devices this node polls */
    uint64_t standby;            /**< gauge: records kept for devices other nodes own */
    uint64_t announces;          /**< announces received from devices */
    uint64_t forwarded;          /**< announces and messages forwarded to the ring owner
                                      (re-sent announces included, see forward_retries) */
    uint64_t requests_sent;      /**< heartbeat requests sent (retries included) */
    uint64_t heartbeats;         /**< heartbeats counted for liveness: answers echoing an
                                      outstanding request, and beats of the lease of the last
                                      request or the one before (beats included) */
    uint64_t drops_unsolicited;  /**< heartbeats counted for nothing: answers echoing no
                                      outstanding request, beats past the lease, of an older
                                      request, or heard already (replays, duplicates) */
    uint64_t drops_not_owned;    /**< heartbeats or data for a device this node does not own */
    uint64_t drops_stale;        /**< messages naming an older incarnation than the known one */
    uint64_t drops_table_full;   /**< announces refused: max_devices records */
    uint64_t drops_rate;         /**< announces of new devices refused: new_per_second */
    uint64_t drops_invalid;      /**< malformed device or peer messages (device id 0, ...),
                                      and the node's own messages (ring updates, uplinks,
                                      ticks) sent to the peer endpoint from the network */
    uint64_t drops_too_big;      /**< downlink messages larger than the device's max_datagram
                                      or the owner node's mtu allows (one datagram) */
    uint64_t ups, downs, moves;  /**< events emitted */
    uint64_t handovers;          /**< records handed to a new owner on a ring change */
    uint64_t conflicts;          /**< conflict reports received from devices */
    uint64_t messages_in;        /**< user messages from devices delivered here */
    uint64_t messages_out;       /**< user messages sent to devices */
    uint64_t downs_held;         /**< downs held back because this node was late itself (see
                                      "Overload" above): counted once per device and episode */
    uint64_t late_ns;            /**< gauge: how late this node is polling, in nanoseconds (the
                                      hold added to down deadlines; 0 when on time) */
    uint64_t forward_retries;    /**< forwarded announces sent again: not acknowledged by the
                                      owner within half an interval (50 ms to 1 s), or after a
                                      ring change, to the owner of the new ring */
    uint64_t forwards_untracked; /**< announces forwarded without being kept for re-sending (1024
                                      already awaiting their owner): left to the device's own
                                      re-announcing */
    uint64_t beats;              /**< of heartbeats, the unprompted beats of a lease */
    uint64_t drops_clock_far;    /**< announces naming an interval clock more than
                                      AU_DC_CLOCK_WINDOW (65,536) from the device's record,
                                      either way (a forged one, in plain mode: far ahead, it
                                      would hold the record's interval against the device's own
                                      announces); a device that really is that far off is
                                      taken up from its heartbeats, which carry its clock */
    uint64_t claims;             /**< plain: announces of another incarnation than the one
                                      polled, while that one is live: held as a claim (its
                                      address probed with a request), not taken at once, so
                                      that a forged one cannot replace the device's record
                                      (docs/devices.md §4.3). A claim travels with the record
                                      in hand-overs and standby copies: the next owner probes
                                      it as soon as it polls the device */
    uint64_t claims_taken;       /**< claims that replaced the incarnation polled: answered at
                                      the claimed incarnation from the claimed address, or the
                                      one polled silent for down_after intervals */
    uint64_t forgotten_silent;   /**< records forgotten at their down deadline because the device
                                      never answered at that incarnation (no heartbeat since its
                                      announce, here or at an earlier owner): not declared down
                                      and polled until forget_after, so that an announce from an
                                      address where no device answers (plain: a spoofed one)
                                      costs that address down_after intervals of requests, not
                                      forget_after's worth */
    uint64_t id_conflicts;       /**< two live devices configured with one id, seen by the
                                      owner. Plain: times the record went back to the
                                      incarnation it had left (a claim of it answered from its
                                      address within 64 intervals of leaving it, while the run
                                      it replaced answered too): the two (or a device and a
                                      forger answering for it) take the record from each other
                                      at every announce. Sealed or keyed: times an older
                                      incarnation announced again from another address than
                                      the record's, while the run polled is up, 2 intervals to
                                      64 intervals or 64 s (the longer) after its last announce
                                      (the higher incarnation keeps the record; the other's
                                      announces are dropped as stale). A device that reboots
                                      never goes back to, nor keeps announcing, an incarnation
                                      it left. Each is logged (WARN, at most once per second
                                      per shard) with the id, both incarnations and both
                                      addresses; give each device its own id */
} au_device_server_stats;

/** Starts the device server on `node`, following `cluster`'s ring (both must be running, and the
 *  cluster must be the node's own, else AU_EINVAL; one device server per node). cfg may be
 *  NULL. AU_EINVAL for a bad argument, AU_EEXIST when the node has a device server already
 *  (of any endpoint name: refused before anything starts) or the endpoint name is taken, AU_ESTOPPED when the
 *  cluster has left (au_cluster_leave), AU_EFULL without a layer slot, AU_ENOMEM. A refused
 *  start leaves no actor running; one refused after its first actors were spawned (a name
 *  taken by another actor, a cluster that has left) keeps its layer slot until au_node_stop.
 *  The server's actors (the endpoint, "<name>.peer" and the shards) take Term from their own
 *  node only (AU_TERM_LOCAL): a remote one is refused and counted in the node's
 *  drops_term_refused (au_node_stats). */
AU_API au_err au_device_server_start(au_node *node, au_cluster *cluster,
                                     const au_device_server_config *cfg, au_device_server **out);

/** Adds a subscriber to this node's device events (at most 16 subscribers whose actors have not
 *  stopped). AU_EFULL beyond. Subscribing it again changes nothing: it is told each event once. */
AU_API au_err au_device_server_subscribe(au_device_server *ds, au_device_event_lref subscriber);

/** Adds a receiver of user messages from devices (at most 16 not stopped). AU_EFULL beyond.
 *  Adding it again changes nothing: it gets each message once. */
AU_API au_err au_device_server_receive(au_device_server *ds, au_device_message_lref receiver);

/** Sends a user message (type id, CBOR payload, copied) to a device through its owner, from
 *  any node. Delivery is at most once; a device no node knows, or a message larger than one
 *  datagram of the device's max_datagram and the owner node's mtu allows, is dropped and
 *  counted on the owner (drops_too_big). AU_ETOOBIG at once for a payload no datagram can carry
 *  (above 65,367 bytes: 65,507, the largest UDP payload and mtu, less 140 for the frame), nothing
 *  sent; AU_EINVAL for a NULL ds, device 0, or a NULL payload with len > 0. */
AU_API au_err au_device_server_send(au_device_server *ds, uint64_t device, uint64_t type,
                                    const void *payload, size_t len);

/** Sends *value, of the serializable type T, to a device: au_device_send(ds, id, T, &v). */
#define au_device_send(ds, device, T, value) \
    au_device_send_((ds), (device), &au_type_##T, _Generic((value), T *: (value), const T *: (value)))

/** Decodes a device message of type T into *out (AU_ETYPE if its type id is not T's;
 *  AU_EDECODE for bad CBOR); free *out with au_value_free(&au_type_T, out). */
#define au_device_message_decode(msg, T, out) \
    au_device_message_decode_((msg), &au_type_##T, _Generic((out), T *: (out)))

/** Fills *out with this node's counters (all zero for a NULL ds; nothing for a NULL out). */
AU_API void au_device_server_stats_get(au_device_server *ds, au_device_server_stats *out);

/** The node (cluster id) that owns `device` according to this node's ring now, 0 for an empty
 *  ring. */
AU_API uint64_t au_device_server_owner_of(au_device_server *ds, uint64_t device);

/** Whether this node polls `device` now (it owns the device's record; a device declared down
 *  is still polled, once per interval, until forget_after). */
AU_API bool au_device_server_polls(au_device_server *ds, uint64_t device);

/** What this node knows of `device`: 0 if it does not own it, AU_DEVICE_UP if it owns it and
 *  the device is up (or not yet declared down after an announce or a hand-over),
 *  AU_DEVICE_DOWN if it owns it and declared it down. */
AU_API int au_device_server_state(au_device_server *ds, uint64_t device);

/* ---- the Devices CRDT ---------------------------------------------------------------------- */

/* Every server keeps a replica of the Devices CRDT, shared under the endpoint's name
 * (aurum/crdt_share.h; in the node's "crdt" layer): an LWWMap from a device id (its 8 bytes,
 * little-endian) to an au_device_entry (AU_DEVICE_ENTRY_SIZE bytes, au_device_entry_decode). The
 * owner writes a device's entry when it starts owning it and at every up, down or move event,
 * and removes it when it forgets the device, so once the cluster is quiet every replica holds
 * the same entries: the owner and incarnation of every device known up or down. It is a view
 * for users (which node owns a device, from any node, without asking); ownership itself follows
 * the ring, and the standby copies (not the table) let an heir take over at once. */

/** A device's entry in the Devices CRDT. */
typedef struct au_device_entry {
    uint64_t owner;       /**< the owning node's cluster id */
    uint64_t incarnation; /**< the device's incarnation the owner polls */
    uint32_t interval_ms; /**< the interval it is polled at */
    uint8_t state;        /**< AU_DEVICE_UP or AU_DEVICE_DOWN (au_device_entry_decode
                               refuses any other) */
} au_device_entry;

/** Bytes of an encoded au_device_entry (owner 8, incarnation 8, interval 4, little-endian, then
 *  the state). */
#define AU_DEVICE_ENTRY_SIZE 21u

/** The replica of the Devices CRDT on this node (an LWWMap: read it with au_share_read or
 *  au_share_snapshot and au_lwwmap_get / au_lwwmap_next), NULL with no_table. */
AU_API struct au_share *au_device_server_table(au_device_server *ds);
/** Encodes *e as stored in the table (its state byte as it is: an owner writes only
 *  AU_DEVICE_UP or AU_DEVICE_DOWN). A NULL e writes AU_DEVICE_ENTRY_SIZE zero bytes, which
 *  au_device_entry_decode refuses (state 0); a NULL out writes nothing. */
AU_API void au_device_entry_encode(const au_device_entry *e, uint8_t out[AU_DEVICE_ENTRY_SIZE]);
/** Decodes a table value into *out; false, *out left as it was, if it is not an entry: not
 *  AU_DEVICE_ENTRY_SIZE bytes, or a state byte other than AU_DEVICE_UP (1) or AU_DEVICE_DOWN
 *  (2) (0 included: all-zero bytes are no entry), or a NULL bytes or out. A caller that
 *  switches on state sees only those two, whatever bytes a corrupt or forged value holds. */
AU_API bool au_device_entry_decode(const void *bytes, size_t len, au_device_entry *out);

AU_API au_err au_device_send_(au_device_server *ds, uint64_t device, au_type *type, const void *value);
AU_API au_err au_device_message_decode_(const au_device_message *msg, au_type *type, void *out);

#ifdef __cplusplus
}
#endif
#endif
