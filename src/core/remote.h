/* remote.h — what the core needs from the remote path (src/net/), as one table of operations.
 *
 * The core knows that a reference may point to another node (AU_REF_F_REMOTE) but not how such
 * a message travels: it calls through au_remote_layer(), which the remote layer sets when a node
 * with a network starts (au_net_start, called by src/node/start.c, which composes the layers). A
 * process in which no networked node ever started has no remote reference at all, so the table
 * is then never used. The core calls nothing of the network layer by name. */
#ifndef AU_CORE_REMOTE_H
#define AU_CORE_REMOTE_H

#include <aurum/driver.h>

#include <stdatomic.h>

struct au_ctx;
struct au_envelope;
struct au_cell;

typedef struct au_remote_ops {
    /* Encodes msg (NULL with signal: Term) on this thread and queues it for its peer. */
    au_err (*send)(au_ref ref, const void *msg, bool signal);
    au_ref (*forge)(au_node *node, const char *name, const char *addr, au_type *root,
                    uint16_t variant, au_type *iface);
    /* Undoes one forge of a remote reference's target (au_unforge). */
    au_err (*unforge)(au_ref ref);
    size_t (*format)(au_ref ref, char *buf, size_t size);
    bool (*equal)(au_ref a, au_ref b);
    au_node *(*node_of)(au_ref ref);
    /* Decodes an AU_ENV_REMOTE envelope on the receiving actor's worker and runs recv. */
    au_err (*deliver)(struct au_ctx *ctx, struct au_envelope *env, const au_actor_def *def);
    /* A datagram for the node arrived (the driver's receive thread). */
    void (*receive)(au_node *node, void *data, size_t len, const struct sockaddr *from,
                    socklen_t from_len);
    void (*stats)(au_node *node, au_node_stats *out);
    /* Whether a remote reference points to an actor at `addr`. */
    bool (*is_at)(au_ref ref, const struct sockaddr *addr);
    /* Keeps a remote reference's target in place while something holds it (a watch); false if
     * the reference is already stale. */
    bool (*pin)(au_ref ref);
    void (*unpin)(au_ref ref);
    /* Remote death watch (net/watch.c). watch: the first local watcher of a remote slot (ref
     * pinned by the caller) arrived, ask its node; unwatch: the last one left. Both are called
     * under the core's watch table lock and never call back into it. */
    void (*watch)(au_ref ref);
    void (*unwatch)(au_ref ref);
    /* A local actor stopped: tell the nodes watching it (after its gen changed). */
    void (*watched_stopped)(au_node *node, struct au_cell *cell, uint32_t gen);
    /* The node at addr is gone or restarted: forget the watch state with it, sending nothing. */
    void (*watch_gone)(au_node *node, const struct sockaddr *addr);
    /* Frees the node's remote state; no thread sends or receives any more. */
    void (*stop)(au_node *node);
} au_remote_ops;

/* Set once by the first au_net_start (au_remote_layer_set); constant afterwards. */
extern _Atomic(const au_remote_ops *) au_remote_layer_;

/* The remote layer's table. acquire: pairs with the release in au_remote_layer_set, so the
 * table is visible (it is static const, but the pointer travels between threads). */
static inline const au_remote_ops *au_remote_layer(void) {
    return atomic_load_explicit(&au_remote_layer_, memory_order_acquire);
}

/* Sets the table once; later calls (every networked node starts with the same one) do nothing. */
void au_remote_layer_set(const au_remote_ops *ops);

#endif
