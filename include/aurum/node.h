/* aurum/node.h — a node: the worker pool that runs actors, the registry of named actors, the
 * clock and timers, and (for remote messages) one datagram endpoint, all through its driver.
 *
 * Many nodes may live in one process (tests do exactly that). au_node_stop stops every actor
 * (post_stop runs), joins every thread and frees everything the node allocated. */
#ifndef AURUM_NODE_H
#define AURUM_NODE_H

#include <aurum/actor.h>
#include <aurum/error.h>
#include <aurum/export.h>

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
                                   advertise an IP address if references are to travel */
    unsigned workers;         /**< worker threads; default: number of cores */
    unsigned batch;           /**< messages an actor handles per turn before yielding; default 64 */
    const au_clock *clock;    /**< overrides the driver's clock for timers and au_node_now;
                                   default: the driver's (CLOCK_MONOTONIC for the default) */
    size_t mtu;               /**< largest datagram sent; default 1400 */
    size_t max_message_size;  /**< largest message accepted or sent; default 16 MiB */
    size_t max_partials;      /**< messages being reassembled per peer at once; default 64 */
    size_t max_reassembly_bytes; /**< reassembly memory per peer; default 64 MiB */
    au_nanos reassembly_timeout; /**< a partial message is dropped after this; default 1 s */
    size_t max_peers;         /**< nodes this one keeps transport state for; default 4096 */
    size_t max_remote_refs;   /**< distinct remote actors referenced; default 65536 */
    const uint8_t *secret;    /**< 32-byte cluster secret: seal every datagram (AEAD) and
                                   reject replays; NULL: integrity checksum only */
    bool no_network;          /**< local-only node: no socket is bound */
    bool no_spin;             /**< idle threads block at once instead of polling briefly (100 µs
                                   for a worker, 200 µs for the event loop after a datagram): less
                                   CPU, slower wake-ups (tens of µs on virtual machines) */
    const au_driver *driver;  /**< the node driver: clock, timers, how actors run, datagram I/O
                                   (aurum/driver.h); default au_driver_default(): real time,
                                   threads, libuv, UDP. A simulation or fault injection is a
                                   driver (aurum/testkit.h: au_sim_driver, au_faults_driver) */
} au_node_config;

/** Starts a node: validates cfg (AU_ECONFIG with a logged reason), starts its threads and binds
 *  its socket. On success *out is the node. */
AU_API au_err au_node_start(const au_node_config *cfg, au_node **out);

/** Stops the node: every actor stops (messages still queued are dropped, post_stop runs), then
 *  every thread is joined and all memory freed. Waits for hooks that are running to return;
 *  threads blocked in au_promise_wait on this node return AU_ESTOPPED. Safe to call with NULL.
 *  Must not be called from one of the node's own actors, nor while other (non-actor) threads
 *  still send through the node or start waiting on its promises. */
AU_API void au_node_stop(au_node *node);

/** The address other nodes reach this node at ("127.0.0.1:40123"), or "" for a local node. */
AU_API const char *au_node_address(const au_node *node);

/** Now, on the node's clock. */
AU_API au_nanos au_node_now(const au_node *node);

/** Counters of a node (monotonic since start, except the gauges marked so). */
typedef struct au_node_stats {
    uint64_t actors_spawned, actors_stopped, actors_live /* gauge */;
    uint64_t drops_dead_actor;        /**< sent to an actor that had stopped */
    uint64_t drops_node_stopping;     /**< sent while the node was stopping */
    uint64_t timers_fired, timers_cancelled;
    uint64_t datagrams_sent, datagrams_received, bytes_sent, bytes_received;
    uint64_t messages_sent_remote, messages_received_remote;
    uint64_t drops_malformed;         /**< datagrams or frames that failed validation */
    uint64_t drops_checksum;          /**< datagrams with a bad checksum or seal */
    uint64_t drops_duplicate;         /**< datagrams seen before (network duplicates, replays) */
    uint64_t drops_unknown_actor;     /**< no actor registered under that (name, root type) */
    uint64_t drops_wrong_root;        /**< name registered, but with another root type id */
    uint64_t drops_wrong_interface;   /**< interface type id not declared by the root */
    uint64_t drops_schema_mismatch;   /**< a type of the same name at another version */
    uint64_t drops_decode;            /**< payload undecodable */
    uint64_t drops_too_big;           /**< message above max_message_size */
    uint64_t drops_reassembly;        /**< fragments or partial messages dropped (timeout, limits) */
    uint64_t drops_send_failed;       /**< datagrams the socket refused (buffer full, no route) */
    uint64_t drops_peer_limit;        /**< datagrams from a peer beyond max_peers, needing state */
    uint64_t reassemblies_in_flight;  /**< gauge */
} au_node_stats;

/** Fills *out with the node's counters. */
AU_API void au_node_stats_get(au_node *node, au_node_stats *out);

#ifdef __cplusplus
}
#endif
#endif
