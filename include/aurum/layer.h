/* aurum/layer.h — what a library layer built on a node (cluster membership, CRDT sharing, device
 * tracking, or a user's own) needs from the core: a place in the node's stop order for its system
 * actors, the node's incarnation id, events about peers, and the hook that ends remote death
 * watches when the layer declares a peer gone.
 *
 *   au_layer *l = au_layer_attach(node, &(au_layer_def){ .name = "cluster", .arg = state,
 *                                                         .free = state_free });
 *   au_spawn_with(node, cluster_actor, au_opts(.name = "cluster", .layer = l), &init);
 *   au_peer_subscribe(node, on_peer, state);          // a peer restarted (new incarnation)
 *   au_peer_gone(node, "10.0.0.7:4000");              // failure detected: watchers told
 *
 * Stop order (au_node_stop): user actors first (spawned without .layer), then each layer's
 * actors, the layer attached last first (devices before CRDT before cluster), each layer's
 * `stopping` hook running just before its actors get the stop; the remote path is still up all
 * along, so a system actor's post_stop can still say goodbye to other nodes. Then the transport
 * closes, and every layer's `free` runs.
 *
 * Bounded mailboxes (aurum/actor.h) never drop or refuse the runtime's own signals; a layer's
 * protocol messages to actors that may be bounded (a user's actor told of membership, say) go
 * with au_send_control (aurum/ref.h), which is outside every bound. A layer's own actors are
 * unbounded unless it spawns them with a capacity. */
#ifndef AURUM_LAYER_H
#define AURUM_LAYER_H

#include <aurum/export.h>
#include <aurum/node.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A library layer attached to a node (opaque; owned by the node). */
typedef struct au_layer au_layer;

/** Most layers a node takes. */
#define AU_LAYERS_MAX 8

/** How a layer takes part in its node's life. */
typedef struct au_layer_def {
    const char *name;                           /**< for log lines; copied */
    void (*stopping)(au_node *node, void *arg); /**< optional: at au_node_stop, after the user's
                                                     actors stopped, before this layer's actors
                                                     get the stop; on the stopping thread
                                                     (au_node_stop from it: refused, logged) */
    void (*free)(void *arg);                    /**< optional: once the node stopped everything */
    void *arg;                                  /**< the layer's state, passed to both */
} au_layer_def;

/** Attaches a layer; its system actors are spawned with au_spawn_opts.layer set to the result.
 *  NULL on failure: AU_EFULL beyond AU_LAYERS_MAX, AU_ESTOPPED while the node stops, AU_EINVAL
 *  (see au_last_error()). */
AU_API au_layer *au_layer_attach(au_node *node, const au_layer_def *def);

/** Takes back the layer attached last when no actor was ever spawned in it (a layer's start
 *  that failed after attaching: a name already taken, say), so that failed starts do not use up
 *  the AU_LAYERS_MAX slots. Its free hook is not called: the caller frees its state. AU_ESTATE
 *  if another layer was attached since, or an actor spawned in it still lives (the layer then
 *  stays, and its free runs at au_node_stop), AU_ESTOPPED while the node stops, AU_EINVAL for
 *  NULL or a layer taken back already (until another attach reuses its slot). */
AU_API au_err au_layer_detach(au_layer *layer);

/** The node's incarnation id: 64 random bits drawn at start from its driver, carried in every
 *  datagram it sends, so peers can tell a restarted node from the one before. 0 for a node
 *  without a network. */
AU_API uint64_t au_node_incarnation(const au_node *node);

/** The largest datagram the node sends, in bytes (au_node_config.mtu after its default: 1400);
 *  0 for a NULL node. For layers whose peers take a message only whole, in one datagram (the
 *  device server's downlink). */
AU_API size_t au_node_mtu(const au_node *node);

/** What happened to a peer. */
typedef enum au_peer_event_kind {
    AU_PEER_INCARNATION, /**< datagrams from `address` now come from another incarnation */
    AU_PEER_GONE,        /**< a layer declared the node at `address` gone (au_peer_gone) */
} au_peer_event_kind;

/** An event about another node. */
typedef struct au_peer_event {
    au_peer_event_kind kind;
    const char *address;   /**< "host:port" of the peer; valid during the callback */
    uint64_t incarnation;  /**< INCARNATION: the new one */
    uint64_t previous;     /**< INCARNATION: the one before */
} au_peer_event;

/** A peer-event callback. It runs on the node's receive thread (INCARNATION) or on the thread
 *  that called au_peer_gone (GONE), so it must not block: send a message to an actor. */
typedef void (*au_peer_fn)(au_node *node, const au_peer_event *event, void *arg);

/** Calls fn(node, event, arg) for every later peer event; at most 8 subscribers per node.
 *  AU_EFULL beyond that; AU_EINVAL for a NULL fn. The same (fn, arg) again changes nothing
 *  (AU_OK: fn is called once per event, and takes one of the 8). */
AU_API au_err au_peer_subscribe(au_node *node, au_peer_fn fn, void *arg);

/** Declares the node at `address` ("host:port") gone, as a failure detector or a graceful leave
 *  decides: every au_watch of this node's actors on a reference to an actor there delivers
 *  `terminated` (once; the watch ends), and subscribers get AU_PEER_GONE. AU_EINVAL or
 *  AU_ERESOLVE for a bad address; AU_ESTATE on a node without a network. */
AU_API au_err au_peer_gone(au_node *node, const char *address);

/** From a recv hook: the "host:port" the message being handled came from (the source address of
 *  its datagram), written NUL-terminated into buf (truncated to size); returns its full length.
 *  0 (and "") when the message was sent on this node, or outside a recv hook. For layers that
 *  answer peers which are not nodes (the device server: a device is reached where it sends from). */
AU_API size_t au_ctx_origin(au_ctx *ctx, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
