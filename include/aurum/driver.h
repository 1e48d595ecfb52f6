/* aurum/driver.h — the node driver: the seam between a node's runtime and the world.
 *
 * A node gets four things from its driver: its clock, its timer wake-ups, how its actors are run
 * (the node's own worker threads, or stepped one turn at a time by the driver), and datagram I/O.
 * The runtime never asks whether it is simulated or faulted: it only calls its driver.
 *
 *   - The default driver (au_driver_default(), used when au_node_config.driver is NULL) is real
 *     time (CLOCK_MONOTONIC), one event-loop thread (libuv) for timers and the UDP socket, and the
 *     node's worker pool.
 *   - The simulator (testkit.h, au_sim_driver) is a driver: a virtual clock, actors stepped from
 *     one thread, an in-memory network.
 *   - Fault injection (testkit.h, au_faults_driver) is a driver that wraps another driver, so the
 *     same faults apply on real UDP and in simulation.
 *
 * A driver is a value: an ops table plus the driver's own data (and, for a wrapper, the driver it
 * wraps). au_node_start copies the chain of au_driver values, so they may live on the caller's
 * stack; what `data` points to must outlive every node started with it. For each node the driver
 * makes one instance (open), whose first member is `const au_driver_ops *ops` — like SQLite's
 * sqlite3_file — so that a layer can recognise its own instance on a node (au_node_driver).
 *
 * Threads: now, wake_at and send may be called from any thread of the node at any time between
 * start and close; schedule from any thread too. A stepping driver (schedule != NULL) runs every
 * turn, timer and delivery of its nodes on one thread and so needs no locks of its own.
 *
 * Versioning: AU_DRIVER_VERSION grows when an op is added at the end; a node refuses (AU_ECONFIG)
 * a driver whose version it does not know. */
#ifndef AURUM_DRIVER_H
#define AURUM_DRIVER_H

#include <aurum/export.h>
#include <aurum/node.h>

#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The driver interface version this header describes. */
#define AU_DRIVER_VERSION 1u

typedef struct au_driver au_driver;
typedef struct au_driver_ops au_driver_ops;

/** A driver's state for one node. Drivers embed it as the first member of their own struct. */
typedef struct au_driver_node {
    const au_driver_ops *ops; /**< the ops of the driver that made this instance */
} au_driver_node;

/** A runnable actor, handed to a stepping driver's schedule (opaque). */
typedef struct au_task au_task;

/** One outgoing datagram. */
typedef struct au_datagram {
    const struct sockaddr *to; /**< destination address (IPv4 or IPv6) */
    socklen_t to_len;          /**< its length */
    const void *data;          /**< the bytes (valid during the call only) */
    size_t len;                /**< their count */
} au_datagram;

/** What a driver does. Ops marked optional may be NULL. */
struct au_driver_ops {
    uint32_t version; /**< AU_DRIVER_VERSION */
    const char *name; /**< for log lines ("udp", "sim", "faults") */

    /** Makes the driver's instance for `node` (called first in au_node_start; no thread may start
     *  yet). drv is the node's copy of the driver value. */
    au_err (*open)(const au_driver *drv, au_node *node, au_driver_node **out);
    /** Starts what runs on its own (threads, the event loop): the node is fully built. Optional. */
    au_err (*start)(au_driver_node *dn);
    /** Stops what start started and frees the instance. Every actor has stopped, timers no longer
     *  fire and no send is under way. */
    void (*close)(au_driver_node *dn);

    /** Now, in monotonic nanoseconds. */
    au_nanos (*now)(au_driver_node *dn);
    /** 64 random bits (seeds, hash keys): real entropy, or seeded for reproducible runs. */
    uint64_t (*random)(au_driver_node *dn);
    /** A new incarnation id for the node: unique, and greater than the id of any earlier run of
     *  a node at the same address, so that peers can refuse a past run's datagrams (real
     *  drivers: wall-clock milliseconds in the high 48 bits, random low bits). */
    uint64_t (*incarnation)(au_driver_node *dn);
    /** The node's earliest timer is due at `deadline` (node clock; 0: none): the driver calls
     *  au_node_run_timers(node) at or after it, on the thread that runs the node's timers. */
    void (*wake_at)(au_driver_node *dn, au_nanos deadline);

    /** Optional: NULL runs actors on the node's worker threads. Otherwise the node hands every
     *  actor that becomes runnable to the driver, which later calls au_task_run for it; such a
     *  node starts no worker thread, and dedicated actors run like pooled ones. */
    void (*schedule)(au_driver_node *dn, au_task *task);
    /** With schedule: runs the driver's events until done(arg) holds (the node waits for its
     *  actors to stop). Without: NULL, and the node blocks on a condition instead. */
    void (*run_until)(au_driver_node *dn, bool (*done)(void *arg), void *arg);

    /** Binds the node's datagram endpoint to `addr` (port 0: the driver picks) and returns the
     *  bound address. Called once, from au_node_start, unless the node has no network. After it
     *  the driver delivers every datagram that arrives with au_node_receive. */
    au_err (*bind)(au_driver_node *dn, const struct sockaddr *addr, socklen_t len,
                   struct sockaddr_storage *bound, socklen_t *bound_len);
    /** Sends n datagrams; returns how many of them failed (no route, a buffer still full after
     *  a short wait): the node counts those as drops_send_failed and the others as sent. May
     *  block the calling thread briefly while the socket is full (the default driver: up to
     *  50 ms per call, then drops); never sends a datagram twice. */
    size_t (*send)(au_driver_node *dn, const au_datagram *d, size_t n);

    /** Optional: decides the fate of one outgoing message (not datagram) to `to` before it is
     *  packed: returns how many copies to send (0, 1 or 2) with each copy's delay in delay[]
     *  (0: now). NULL: one copy, now. Used by per-message fault injection. */
    unsigned (*message_fate)(au_driver_node *dn, const struct sockaddr *to, socklen_t to_len,
                             au_nanos delay[2]);
};

/** A driver: its ops, its own data, and for a wrapping driver the driver it wraps. */
struct au_driver {
    const au_driver_ops *ops; /**< the driver's operations */
    void *data;               /**< the driver's own (e.g. the simulation); not owned by the node */
    const au_driver *inner;   /**< wrappers only: the wrapped driver; NULL: the default */
};

/** The default driver: real time, a libuv event loop thread, UDP sockets, worker threads. */
AU_API const au_driver *au_driver_default(void);

/** The instance of the node's outermost driver (the one named in its config). */
AU_API au_driver_node *au_node_driver(au_node *node);

/** Parses "host:port" or "[v6]:port" and resolves host (an IP literal or a name, through the
 *  system resolver) into *out and *len. AU_EINVAL for malformed text (the port must be decimal
 *  digits only) or a NULL argument, AU_ERESOLVE when the host does not resolve. */
AU_API au_err au_address_resolve(const char *text, struct sockaddr_storage *out, socklen_t *len);

/** Whether two IPv4 or IPv6 socket addresses are the same (family, address and port); false
 *  when either is NULL. */
AU_API bool au_address_equal(const struct sockaddr *a, const struct sockaddr *b);

/* ---- what a driver calls ------------------------------------------------------------------- */

/** Fires every timer of the node due now; returns the next deadline (0: none). Call from the
 *  driver's timer thread only (never concurrently for one node). */
AU_API au_nanos au_node_run_timers(au_node *node);

/** A datagram arrived for the node from `from`. The buffer may be modified (decryption in
 *  place) and is the driver's again when the call returns. Call from one thread at a time. */
AU_API void au_node_receive(au_node *node, void *data, size_t len, const struct sockaddr *from,
                            socklen_t from_len);

/** Runs one turn of a scheduled actor (stepping drivers). Returns true if the actor has more to
 *  do: schedule it again (behind others, for fairness). */
AU_API bool au_task_run(au_task *task);

/** The node of a task. */
AU_API au_node *au_task_node(const au_task *task);

/** The spawn number of the task's actor within its node: stable across identical runs (traces). */
AU_API uint32_t au_task_serial(const au_task *task);

/** Calls fn(node, arg) on the node's timer thread at `deadline` (node clock). If the node stops
 *  first, discard(arg) is called instead (discard may be NULL). Returns the timer (cancel with
 *  au_timer_cancel, which then calls discard) or 0 when the node is stopping or out of memory
 *  (then the caller still owns arg). For library layers: drivers, cluster protocols, ... */
AU_API au_timer au_node_call_at(au_node *node, au_nanos deadline,
                                void (*fn)(au_node *node, void *arg), void (*discard)(void *arg),
                                void *arg);

#ifdef __cplusplus
}
#endif
#endif
