/* aurum/node.h — a node: the worker pool that runs actors, the registry of named actors, the
 * clock and timers, and (for remote messages) one datagram endpoint, all through its driver.
 *
 * Many nodes may live in one process (tests do exactly that). au_node_stop stops every actor
 * (post_stop runs), joins every thread and frees everything the node allocated.
 *
 * The main of a server (this example is compiled as it stands by
 * tests/compile_fail/header_example.sh):
 *
 *   int main(void) {
 *       au_node *node;
 *       au_err err = au_node_start(&(au_node_config){ .bind = "127.0.0.1:0" }, &node);
 *       if (err) { // the reason is logged; see au_node_start for the codes
 *           fprintf(stderr, "au_node_start: %s (%s)\n", au_err_name(err), au_strerror(err));
 *           return 1;
 *       }
 *       printf("listening on %s\n", au_node_address(node)); // the port the OS picked
 *       // ... spawn the server's actors ...
 *       int sig = au_wait_for_signal(); // until SIGINT (Ctrl-C) or SIGTERM
 *       au_node_stop(node);             // actors stop, post_stop runs, threads joined
 *       return sig > 0 ? 0 : 1;
 *   }
 */
#ifndef AURUM_NODE_H
#define AURUM_NODE_H

#include <aurum/actor.h>
#include <aurum/error.h>
#include <aurum/export.h>
#include <aurum/keys.h>

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A time source. Every read of time and every timer of a node goes through its clock, so a
 *  simulation can substitute a virtual one. */
typedef struct au_clock {
    au_nanos (*now)(void *user); /**< monotonic nanoseconds */
    void *user;
} au_clock;

typedef struct au_driver au_driver;

/** Node configuration. Zero means "the default" for every field. */
typedef struct au_node_config {
    const char *bind;         /**< "host:port" to bind UDP to; default "127.0.0.1:0" (OS picks) */
    const char *advertise;    /**< "host:port" other nodes use to reach this one; default: bound.
                                   References to this node's actors carry it; a receiving node
                                   accepts only IP literals there (no DNS on its workers), so
                                   advertise an IP address if references are to travel. Port 0:
                                   the port bound (the OS's pick for a bind port of 0), and the
                                   host as the IP address it resolves to */
    unsigned workers;         /**< worker threads; default: number of cores */
    unsigned batch;           /**< messages an actor handles per turn before yielding; default 64 */
    const au_clock *clock;    /**< overrides the driver's clock for timers and au_node_now;
                                   default: the driver's (CLOCK_MONOTONIC for the default) */
    size_t mtu;               /**< largest datagram sent; default 1400 */
    size_t max_message_size;  /**< largest message accepted or sent, in bytes as the wire carries
                                   it: the encoded payload plus 18 bytes of header plus the
                                   target's name (au_send to a remote actor returns AU_ETOOBIG
                                   beyond it); at least 18, at most 4 GiB - 1; default 16 MiB.
                                   Local sends are not limited */
    size_t max_partials;      /**< messages being reassembled per peer at once; default 64 */
    size_t max_reassembly_bytes; /**< reassembly memory per peer, in bytes; default 64 MiB.
                                      One fragmented message takes its size plus 1/8 (its
                                      bitmap): below what max_message_size needs, larger
                                      messages are sent (AU_OK) yet never arrive (dropped,
                                      drops_reassembly); the node starts and logs one WARN at
                                      start naming both values */
    size_t max_reassembly_total; /**< reassembly memory of the whole node, all peers together,
                                      fragments counted by the buffer they reserve; partials
                                      beyond it are dropped (drops_reassembly); default 256 MiB,
                                      at least max_reassembly_bytes */
    au_nanos reassembly_timeout; /**< a partial message is dropped after this; default 1 s */
    size_t max_peers;         /**< nodes this one keeps transport state for, each way: senders
                                   it keeps replay state for (least recently used evicted) and
                                   peers it sends to (idle ones evicted); default 4096 */
    size_t max_remote_refs;   /**< distinct remote actors referenced; when full, references that
                                   came in messages and are not in use are reused (forged ones
                                   are kept until unforged: au_unforge, aurum/ref.h); default
                                   65536 */
    size_t max_remote_watches; /**< watches other nodes may hold on this node's actors, one per
                                   (actor, watching node) however many actors there watch it
                                   (au_watch, aurum/actor.h); one watching node gets at most a
                                   quarter of them (at least 1), and at most half of max_peers
                                   nodes may watch at a time (each holds a peer while it
                                   watches, so watchers never take every peer). A request
                                   beyond is refused (watch_refused, a rate-limited WARN) and
                                   its watcher told, so
                                   that watch reports only its node going away; default 16384
                                   (about 100 bytes each) */
    const uint8_t *secret;    /**< a 32-byte cluster key of id 0 (the same as one entry in
                                   keys): seal every datagram (AEAD), accept only sealed ones,
                                   key replay protection by the sender's authenticated identity.
                                   No secret, keys or key_file: unauthenticated, integrity
                                   checksum only (logged at start; see docs/security.md) */
    const au_key *keys;       /**< the key ring (aurum/keys.h), keys[0] the primary: sealed
                                   with, the others accepted too; at most AU_KEYS_MAX */
    size_t nkeys;             /**< entries in keys */
    const char *key_file;     /**< read the key ring from this file (au_key_file_read); its
                                   keys come after those of secret and keys */
    const au_device_key *device_keys; /**< per-device keys (aurum/keys.h), copied at start:
                                   a datagram sealed with key id device_key_id whose nonce names
                                   one of these devices is opened with its key and may carry
                                   only messages to device_endpoint from that device; default
                                   none */
    size_t ndevice_keys;      /**< entries in device_keys */
    const uint8_t *device_master_key; /**< a 32-byte fleet master key, copied at start: a device
                                   of id in [device_master_first, device_master_last] without an
                                   entry in device_keys must seal with au_device_key_derive(
                                   master, its id); default none */
    uint64_t device_master_first; /**< the first device id the master key covers; default 1 */
    uint64_t device_master_last;  /**< the last; default 0: UINT64_MAX. A device with a key
                                   (either way) must seal: its plain messages are dropped
                                   (drops_device_plain); other devices may be plain where the
                                   node is */
    uint8_t device_key_id;    /**< the key id devices seal with (au_dc_config.key_id); default
                                   0; with cluster keys it must differ from all of theirs */
    const char *device_endpoint; /**< the only actor name device-sealed datagrams may address:
                                   the device server's (au_device_server_config.name); default
                                   "au.devices" */
    bool no_network;          /**< local-only node: no socket is bound */
    bool no_spin;             /**< idle threads block at once instead of polling briefly (100 µs
                                   for a worker, 200 µs for the event loop after a datagram): less
                                   CPU, slower wake-ups (tens of µs on virtual machines) */
    const au_driver *driver;  /**< the node driver: clock, timers, how actors run, datagram I/O
                                   (aurum/driver.h); default au_driver_default(): real time,
                                   threads, libuv, UDP. A simulation or fault injection is a
                                   driver (aurum/testkit.h: au_sim_driver, au_faults_driver) */
} au_node_config;

/** Starts a node: validates cfg (NULL: every default), starts its threads and binds its socket.
 *  On success *out is the node. On failure *out is NULL, nothing is left running, one ERROR line
 *  (module core or net) names the value at fault, and the code says what kind of fault it is:
 *    AU_EINVAL    out is NULL
 *    AU_ECONFIG   bind or advertise is not "host:port", "[v6]:port" with a port of 0..65535 and
 *                 a host: "garbage", "1.2.3.4:99999", "127.0.0.1:abc", ":1" (the line says so)
 *    AU_ERESOLVE  the host of bind or advertise does not resolve:
 *                 "host-that-does-not-resolve.invalid:1"
 *    AU_EBIND     the socket cannot be bound there: "1.2.3.4:1" (not an address of this host),
 *                 a port in use, a privileged port
 *    AU_ECONFIG   a wildcard bind ("0.0.0.0:4000") without advertise; a field out of its range
 *                 (workers above 1024, mtu outside 96..65507, reassembly limits); nkeys without
 *                 keys; a driver that is incomplete or too new; a clock without now; a key file
 *                 with bad content or permissions (au_key_file_read)
 *    AU_EIO       a key file that cannot be opened; libsodium failed to initialise
 *    AU_ENOMEM    an allocation failed
 *  tests/core/test_node_start.c holds these to what they say. */
AU_API au_err au_node_start(const au_node_config *cfg, au_node **out);

/** Stops the node: every actor stops (messages still queued are dropped, post_stop runs), then
 *  every thread is joined and all memory freed, promises never waited on included (so none may
 *  be waited on afterwards). Waits for hooks that are running to return; threads blocked in
 *  au_promise_wait on this node return AU_ESTOPPED. Safe to call with NULL; once only for a
 *  node (the first call frees it: set your pointer to NULL).
 *  From a hook of one of the node's own actors, or a callback the node runs (au_node_call_at,
 *  au_peer_subscribe in aurum/layer.h), it stops nothing: it logs an ERROR and returns (it would
 *  wait for that very hook, or free the node under it), and the node must then be stopped from
 *  outside it. From within the stop itself (a layer's stopping or free hook, a discard callback
 *  of au_node_call_at run as the node stops) it also logs an ERROR and returns: the stop under
 *  way goes on. Must not be called while other (non-actor) threads still send through the node
 *  or start waiting on its promises. */
AU_API void au_node_stop(au_node *node);

/** The address other nodes reach this node at ("127.0.0.1:40123"), or "" for a local node. */
AU_API const char *au_node_address(const au_node *node);

/** Datagrams this node sent to the node at `address` ("host:port") since it last received one
 *  from that address: a peer that is not running, or listens elsewhere, or holds another key,
 *  shows here (and in a rate-limited WARN line after 5 s of silence). 0 for an address this
 *  node never sent to. */
AU_API uint64_t au_node_unanswered(au_node *node, const char *address);

/** Whether the node seals its traffic (it holds a cluster key: secret, keys or key_file), so
 *  that only key holders' datagrams reach its actors. false for a node without a network. */
AU_API bool au_node_sealed(au_node *node);

/** Now, on the node's clock; 0 for a NULL node. */
AU_API au_nanos au_node_now(const au_node *node);

/** Every statistic of a node, as X(name, kind, doc) in the order of au_node_stats's fields:
 *  kind COUNTER counts since the node started and never decreases; GAUGE is a current level.
 *  The list is the union of two, one per layer that keeps them: the actor runtime's and the
 *  transport's (all zero on a local node). Example, a table of names and docs:
 *
 *      #define ROW(name, kind, doc) { #name, doc },
 *      static const struct { const char *name, *doc; } rows[] = { AU_NODE_STATS(ROW) };  */
#define AU_NODE_STATS(X) AU_NODE_STATS_CORE(X) AU_NODE_STATS_NET(X)

/** The statistics kept by the actor runtime (spawn, stop, delivery, timers). */
#define AU_NODE_STATS_CORE(X)                                                                      \
    X(actors_spawned, COUNTER, "actors spawned")                                                   \
    X(actors_stopped, COUNTER, "actors that have stopped")                                         \
    X(actors_live, GAUGE, "actors alive: spawned and not yet stopped")                             \
    X(promise_waits, GAUGE, "threads blocked in au_promise_wait now")                             \
    X(drops_dead_actor, COUNTER, "messages sent to an actor that had stopped")                     \
    X(drops_node_stopping, COUNTER, "messages sent while the node was stopping")                   \
    X(timers_fired, COUNTER, "au_send_after timers that fired")                                    \
    X(timers_cancelled, COUNTER, "timers cancelled (au_timer_cancel) before they fired")          \
    X(drops_wrong_interface_local, COUNTER,                                                        \
      "local sends through a reference whose interface does not fit its actor (see au_send)")    \
    X(mailbox_depth, GAUGE, "user messages queued in bounded mailboxes, all of them together")     \
    X(mailbox_high_water, GAUGE, "the highest depth any bounded mailbox of the node has reached")  \
    X(mailbox_refused, COUNTER, "messages a full reject-policy mailbox refused (AU_EFULL)")        \
    X(drops_mailbox_newest, COUNTER, "new messages dropped by a full bounded mailbox")             \
    X(drops_mailbox_oldest, COUNTER, "queued messages dropped by a full drop-oldest mailbox")      \
    X(mailbox_full_waits, COUNTER,                                                                 \
      "back-pressure sends that found a bounded mailbox full (au_try_send, au_send_wait, "         \
      "au_send_or_notify)")                                                                        \
    X(local_watches, GAUGE,                                                                        \
      "watches held on this node's actors through local references (au_watch): one per "          \
      "(watcher, watched actor), ended by au_unwatch or either one stopping")

/** The statistics kept by the UDP transport (sent, received, dropped on arrival). */
#define AU_NODE_STATS_NET(X)                                                                       \
    X(datagrams_sent, COUNTER, "UDP datagrams sent")                                               \
    X(datagrams_received, COUNTER, "UDP datagrams received")                                       \
    X(bytes_sent, COUNTER, "bytes of the datagrams sent")                                          \
    X(bytes_received, COUNTER, "bytes of the datagrams received")                                  \
    X(messages_sent_remote, COUNTER, "messages packed into datagrams for another node")            \
    X(messages_received_remote, COUNTER, "messages from other nodes queued to a local actor")      \
    X(drops_malformed, COUNTER, "datagrams or frames that failed validation")                      \
    X(drops_checksum, COUNTER, "datagrams with a bad checksum or seal")                            \
    X(drops_duplicate, COUNTER, "datagrams seen before (network duplicates, replays)")             \
    X(drops_unknown_actor, COUNTER, "no actor registered under that (name, root type)")            \
    X(drops_wrong_root, COUNTER, "name registered, but with another root type id")                 \
    X(drops_wrong_interface, COUNTER, "interface type id not declared by the root")                \
    X(drops_schema_mismatch, COUNTER, "a type of the same name at another version")                \
    X(drops_decode, COUNTER, "payload undecodable")                                                \
    X(drops_too_big, COUNTER, "message above max_message_size, or datagram above mtu")               \
    X(drops_reassembly, COUNTER, "fragments or partial messages dropped (timeout, limits)")        \
    X(drops_send_failed, COUNTER, "datagrams not sent: no route, or socket full for 50 ms")        \
    X(drops_peer_limit, COUNTER, "datagrams from a peer beyond max_peers, needing state")          \
    X(reassemblies_in_flight, GAUGE, "large messages being reassembled now")                      \
    X(drops_unknown_key, COUNTER, "sealed with a key id the key ring does not hold")               \
    X(drops_device_unknown, COUNTER, "sealed with the device key id by a device with no key here") \
    X(drops_device_seal, COUNTER, "sealed with the device key id, failing its device's key")      \
    X(drops_device_sender, COUNTER,                                                                \
      "device-sealed messages naming a device other than the nonce's sender id")                  \
    X(drops_device_route, COUNTER,                                                                 \
      "device-sealed messages or fragments for anything but the device endpoint")                 \
    X(drops_device_plain, COUNTER,                                                                 \
      "plain messages to the device endpoint naming a device that has a key")                     \
    X(drops_stale_incarnation, COUNTER, "from a past incarnation of a sender (a replayed run)")     \
    X(drops_stale_ref, COUNTER, "sent through a remote reference whose entry was evicted")         \
    X(drops_term_refused, COUNTER,                                                                 \
      "Term signals from another node refused by an actor spawned with .term = AU_TERM_LOCAL")     \
    X(senders, GAUGE, "senders with replay state (authenticated, or routed to a live actor)")      \
    X(senders_evicted, COUNTER, "sender states evicted, least recently used first")               \
    X(peers, GAUGE, "peers with send state (queue, packer)")                                       \
    X(peers_evicted, COUNTER, "idle peer states evicted, least recently used first")              \
    X(remote_refs, GAUGE, "remote references interned")                                            \
    X(remote_refs_evicted, COUNTER, "remote references decoded from messages, evicted when full")  \
    X(reassembly_bytes, GAUGE, "bytes reserved by partial messages, node-wide")                  \
    X(remote_watches, GAUGE,                                                                       \
      "remote actors this node watches (au_watch): one per watched actor, however many local "    \
      "actors watch it")                                                                           \
    X(remote_watched, GAUGE,                                                                       \
      "watches other nodes hold on this node's actors: one per (actor, watching node), notices "  \
      "awaiting acknowledgement included")                                                         \
    X(watch_refused, COUNTER, "watch requests from other nodes refused: max_remote_watches full")  \
    X(watch_refused_by_peer, COUNTER,                                                              \
      "watch requests of this node another node refused (its table full): node-level only")       \
    X(watch_notices_sent, COUNTER,                                                                 \
      "terminated notices sent to watching nodes (an actor stopped or is not here), repeats "     \
      "included")                                                                                  \
    X(watch_terminated_received, COUNTER, "terminated notices from other nodes that ended a watch")\
    X(watch_retransmits, COUNTER,                                                                  \
      "watch, unwatch and terminated messages sent again for want of an answer")                  \
    X(watch_abandoned, COUNTER,                                                                    \
      "unwatch requests and terminated notices given up after 60 s without an answer")

/** A snapshot of a node's statistics, one uint64_t per entry of AU_NODE_STATS (see there for
 *  what each counts). Fields are read one by one, so two fields need not be from one instant. */
typedef struct au_node_stats {
#define AU_NODE_STATS_FIELD_(name, kind, doc) uint64_t name;
    AU_NODE_STATS(AU_NODE_STATS_FIELD_)
#undef AU_NODE_STATS_FIELD_
} au_node_stats;

/** How many fields au_node_stats has. */
enum {
#define AU_NODE_STATS_ONE_(name, kind, doc) +1
    AU_NODE_STATS_COUNT = 0 AU_NODE_STATS(AU_NODE_STATS_ONE_)
#undef AU_NODE_STATS_ONE_
};

/** What field i of au_node_stats is (fields numbered 0 .. AU_NODE_STATS_COUNT - 1 in
 *  declaration order). */
typedef struct au_node_stats_field {
    const char *name; /**< the field's name, e.g. "drops_decode" */
    const char *doc;  /**< one line: what it counts */
    bool gauge;       /**< a current level (GAUGE); false: a count since start (COUNTER) */
} au_node_stats_field;

/** Fills *out with the node's statistics (all zero for a NULL node; nothing for a NULL out). */
AU_API void au_node_stats_get(au_node *node, au_node_stats *out);

/** The description of field i, or NULL when i >= AU_NODE_STATS_COUNT. Static. */
AU_API const au_node_stats_field *au_node_stats_describe(size_t i);

/** The value of field i in *s; 0 when i >= AU_NODE_STATS_COUNT. */
AU_API uint64_t au_node_stats_value(const au_node_stats *s, size_t i);

/** Writes every field of *s to out, one "name value" line each, in declaration order (gauges
 *  are followed by " (gauge)"). */
AU_API void au_node_stats_print(const au_node_stats *s, FILE *out);

/* ---- server programs ---------------------------------------------------------------------- */

/** Blocks the calling thread until the process receives SIGINT (Ctrl-C) or SIGTERM (kill, a
 *  service manager) and returns which one, so a server's main can end with
 *      int sig = au_wait_for_signal();  au_node_stop(node);
 *  Safe with any number of running nodes, and needs no setup before they start: while it waits,
 *  both signals are handled by a handler that only wakes the waiter, so it makes no difference
 *  which thread the kernel delivers them to (a node's worker, the event loop, main), and the
 *  calling thread unblocks them for itself, so they arrive even if every other thread blocks
 *  them. The previous dispositions (SIG_DFL, SIG_IGN or a handler of the program's) and the
 *  caller's signal mask are restored before it returns: a signal before the call, or a second
 *  one after it returned (during a slow shutdown), does what it did before (by default: ends the
 *  process). Returns SIGINT or SIGTERM; AU_ESTATE if another thread is already waiting;
 *  AU_EIO if the handler could not be installed. */
AU_API int au_wait_for_signal(void);

#ifdef __cplusplus
}
#endif
#endif
