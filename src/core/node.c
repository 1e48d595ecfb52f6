/* node.c — the core's part of a node's life: making it (configuration, the driver's instance,
 * pool, registry, watches, timers, workers), launching the driver, stopping and freeing it,
 * statistics. src/node/start.c composes a node from this and the remote path.
 *
 * Start order: the driver's instance (open), pool, registry, watches, timers, workers (unless
 * the driver steps the actors), [the remote path: src/node/start.c], then the driver's own
 * threads (start). Stop order is the reverse, after every actor has stopped: no thread may run a
 * hook, fire a timer or deliver a datagram into memory that is being freed. */
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Atomic(const au_remote_ops *) au_remote_layer_;

void au_remote_layer_set(const au_remote_ops *ops) {
    const au_remote_ops *none = NULL;
    /* release: pairs with au_remote_layer()'s acquire. */
    atomic_compare_exchange_strong_explicit(&au_remote_layer_, &none, ops, memory_order_release,
                                            memory_order_relaxed);
}

/* ---- the nodes alive in the process ------------------------------------------------------ *
 *
 * A local reference may name an actor of another node of this process (au_spawn there), and a
 * watch through it is kept by the watched actor's node (watch.c), which may outlive the
 * watcher's node. Such a watch names the watcher's node by id, not by address (a freed node's
 * memory may hold a new node), and its notice goes through au_node_push_if_live. A node joins
 * this list when made and leaves it first thing in au_node_stop, before any of its memory is
 * freed: a notice pushed under the lock reaches a node that is not freed until it is unlocked,
 * and none is pushed to it after. Nodes are few and such notices rare: a list and one mutex. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static au_node *live_nodes;   /* guarded by live_lock */
static uint64_t live_next_id; /* guarded by live_lock */

static void live_join(au_node *node) {
    pthread_mutex_lock(&live_lock);
    node->id = ++live_next_id;
    node->live_next = live_nodes;
    live_nodes = node;
    pthread_mutex_unlock(&live_lock);
}

static void live_leave(au_node *node) {
    pthread_mutex_lock(&live_lock);
    for (au_node **p = &live_nodes; *p; p = &(*p)->live_next) {
        if (*p == node) {
            *p = node->live_next;
            break;
        }
    }
    pthread_mutex_unlock(&live_lock);
}

void au_node_push_if_live(uint64_t node_id, au_cell *cell, au_envelope *env) {
    pthread_mutex_lock(&live_lock);
    au_node *n = live_nodes;
    while (n && n->id != node_id) n = n->live_next;
    /* Under the lock: the push (a mailbox push and a schedule) takes only that node's worker
     * or driver locks, never this one. */
    if (n) au_cell_push(cell, env);
    pthread_mutex_unlock(&live_lock);
    if (!n) au_envelope_free(env);
}

bool au_node_with_live(uint64_t node_id, void (*fn)(au_node *node, void *arg), void *arg) {
    pthread_mutex_lock(&live_lock);
    au_node *n = live_nodes;
    while (n && n->id != node_id) n = n->live_next;
    if (n) fn(n, arg);
    pthread_mutex_unlock(&live_lock);
    return n != NULL;
}

static au_err validate(const au_node_config *in, au_node_config *cfg) {
    *cfg = in ? *in : (au_node_config){ 0 };
    if (!cfg->workers) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->workers = n > 0 ? (unsigned)n : 1;
    }
    if (cfg->workers > 1024) {
        au_log(AU_LOG_CORE, AU_LOG_ERROR, "config: workers = %u (at most 1024)", cfg->workers);
        return AU_ECONFIG;
    }
    if (!cfg->batch) cfg->batch = 64;
    if (!cfg->mtu) cfg->mtu = 1400;
    if (cfg->mtu < 96 || cfg->mtu > 65507) {
        au_log(AU_LOG_CORE, AU_LOG_ERROR, "config: mtu = %zu (must be 96..65507)", cfg->mtu);
        return AU_ECONFIG;
    }
    if (!cfg->max_message_size) cfg->max_message_size = 16u << 20;
    if (!cfg->bind) cfg->bind = "127.0.0.1:0";
    if (cfg->clock && !cfg->clock->now) {
        au_log(AU_LOG_CORE, AU_LOG_ERROR, "config: a clock without a now function");
        return AU_ECONFIG;
    }
    return AU_OK;
}

/* Copies the configured driver chain into the node (the caller's values may be temporaries). */
static au_err copy_drivers(au_node *node, const au_driver *d) {
    for (unsigned i = 0; d; i++, d = d->inner) {
        if (i == AU_DRIVER_DEPTH) {
            au_log(AU_LOG_CORE, AU_LOG_ERROR, "config: more than %d drivers stacked", AU_DRIVER_DEPTH);
            return AU_ECONFIG;
        }
        const au_driver_ops *ops = d->ops;
        if (!ops || ops->version == 0 || ops->version > AU_DRIVER_VERSION || !ops->open ||
            !ops->close || !ops->now || !ops->random || !ops->incarnation || !ops->wake_at || !ops->bind || !ops->send ||
            (ops->schedule && !ops->run_until)) {
            au_log(AU_LOG_CORE, AU_LOG_ERROR, "config: driver %s is incomplete or of version %u (this "
                   "library knows up to %u)", ops && ops->name ? ops->name : "?",
                   ops ? ops->version : 0, AU_DRIVER_VERSION);
            return AU_ECONFIG;
        }
        node->drivers[i] = *d;
        if (i) node->drivers[i - 1].inner = &node->drivers[i];
    }
    return AU_OK;
}

static au_nanos driver_now(void *user) {
    au_node *node = user;
    return node->driver->ops->now(node->driver);
}

static au_err open_driver(au_node *node) {
    const au_driver *d = node->cfg.driver ? node->cfg.driver : au_driver_default();
    au_err err = copy_drivers(node, d);
    if (err) return err;
    if ((err = node->drivers[0].ops->open(&node->drivers[0], node, &node->driver))) {
        au_log(AU_LOG_CORE, AU_LOG_ERROR, "driver %s: %s", node->drivers[0].ops->name,
               au_strerror(err));
        return err;
    }
    node->stepped = node->driver->ops->schedule != NULL;
    node->clock = node->cfg.clock ? *node->cfg.clock : (au_clock){ driver_now, node };
    return AU_OK;
}

au_err au_node_create(const au_node_config *in, au_node **out) {
    *out = NULL;
    au_node *node = calloc(1, sizeof *node);
    if (!node) return AU_ENOMEM;
    au_err err = validate(in, &node->cfg);
    if (err) {
        free(node);
        return err;
    }
    if ((err = open_driver(node))) {
        free(node);
        return err;
    }
    node->nworkers = node->cfg.workers;
    live_join(node);
    pthread_mutex_init(&node->lock, NULL);
    pthread_cond_init(&node->cond, NULL);
    au_pool_acquire();

    if ((err = au_registry_create(node)) || (err = au_watches_create(node)) ||
        (err = au_timers_start(node)) || (!node->stepped && (err = au_scheduler_start(node)))) {
        au_node_stop(node);
        return err;
    }
    *out = node;
    return AU_OK;
}

au_err au_node_launch(au_node *node) {
    return node->driver->ops->start ? node->driver->ops->start(node->driver) : AU_OK;
}

void au_node_stop(au_node *node) {
    if (!node) return;
    if (au_in_hook_of(node)) {
        /* It would wait for the very hook it is called from: the worker (or the actor's own
         * thread) would hang, and with it every later au_node_stop of this node; from a timer
         * or peer-event callback it freed the node under the loop that runs the callback. */
        au_log(AU_LOG_CORE, AU_LOG_ERROR, "au_node_stop from a hook of one of the node's own "
                                          "actors or a callback it runs refused (call it from "
                                          "outside the node)");
        return;
    }
    if (atomic_exchange_explicit(&node->stop_entered, 1, memory_order_acq_rel)) {
        /* From within this very stop: a layer's stopping hook, a discard callback of a timer it
         * discards, a layer's free. Going on would stop everything again and free the node
         * twice (a stopping hook recursed until the stack ran out). */
        au_log(AU_LOG_CORE, AU_LOG_ERROR, "au_node_stop from within the node's own stop (a "
                                          "layer's stopping or free hook, a discard callback) "
                                          "refused: the node is stopping already");
        return;
    }
    /* First: from now on no other node's watch notice reaches this one (see live_join). */
    live_leave(node);
    if (node->workers || node->stepped) au_actor_stop_all(node);
    /* No thread may send once the transport is gone: timers stop firing, workers (which may be
     * flushing a last turn's remote sends) return, then the driver stops its threads (no more
     * datagram arrives), then the remote path is freed. */
    au_timers_quiesce(node);
    au_scheduler_join(node);
    if (node->driver) node->driver->ops->close(node->driver);
    node->driver = NULL;
    au_timers_stop(node); /* pending entries are discarded: some still point into the net */
    if (node->net) au_remote_layer()->stop(node);
    au_scheduler_stop(node);
    au_cells_free_all(node);
    au_watches_destroy(node);
    au_registry_destroy(node);
    au_promise_defs_free(node);
    for (unsigned i = node->nlayers; i-- > 0;)
        if (node->layers[i].def.free) node->layers[i].def.free(node->layers[i].def.arg);
    free(node->zombies);
    pthread_mutex_destroy(&node->lock);
    pthread_cond_destroy(&node->cond);
    free(node);
    au_pool_release();
}

const char *au_node_address(const au_node *node) { return node ? node->address : ""; }

void au_node_stats_get(au_node *node, au_node_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!node) return;
#define LOAD(name, kind, doc) out->name = au_stat_read(&node->stats.name);
    AU_NODE_STATS_CORE(LOAD)
#undef LOAD
    out->mailbox_depth = au_cells_bounded_depth(node); /* summed now, not kept per send */
    if (node->net) au_remote_layer()->stats(node, out);
}

au_nanos au_node_now(const au_node *node) { return node ? node->clock.now(node->clock.user) : 0; }

au_driver_node *au_node_driver(au_node *node) { return node ? node->driver : NULL; }

void au_node_receive(au_node *node, void *data, size_t len, const struct sockaddr *from,
                     socklen_t from_len) {
    if (node->net) au_remote_layer()->receive(node, data, len, from, from_len);
}

uint64_t au_node_incarnation(const au_node *node) { return node ? node->incarnation : 0; }

size_t au_node_mtu(const au_node *node) { return node ? node->cfg.mtu : 0; }

/* ---- layers and peer events ---------------------------------------------------------------- */

au_layer *au_layer_attach(au_node *node, const au_layer_def *def) {
    if (!node || !def) {
        au_set_last_error_(AU_EINVAL);
        return NULL;
    }
    au_err err = AU_OK;
    au_layer *l = NULL;
    pthread_mutex_lock(&node->lock);
    if (atomic_load_explicit(&node->stopping, memory_order_relaxed))
        err = AU_ESTOPPED;
    else if (node->nlayers == AU_LAYERS_MAX)
        err = AU_EFULL;
    else {
        l = &node->layers[node->nlayers];
        l->node = node;
        l->phase = ++node->nlayers;
        l->def = *def;
        snprintf(l->name, sizeof l->name, "%s", def->name ? def->name : "layer");
        l->def.name = l->name;
    }
    pthread_mutex_unlock(&node->lock);
    if (err) au_set_last_error_(err);
    return l;
}

au_err au_layer_detach(au_layer *l) {
    if (!l || !l->node) return AU_EINVAL;
    au_node *node = l->node;
    au_err err = AU_OK;
    pthread_mutex_lock(&node->lock);
    if (atomic_load_explicit(&node->stopping, memory_order_relaxed))
        err = AU_ESTOPPED;
    else if (node->nlayers == 0 || l != &node->layers[node->nlayers - 1] ||
             node->live_phase[l->phase] > 0) /* its live actors need its stop phase */
        err = AU_ESTATE;
    else {
        node->nlayers--;
        memset(l, 0, sizeof *l);
    }
    pthread_mutex_unlock(&node->lock);
    return err;
}

au_err au_peer_subscribe(au_node *node, au_peer_fn fn, void *arg) {
    if (!node || !fn) return AU_EINVAL;
    au_err err = AU_OK;
    pthread_mutex_lock(&node->lock);
    bool again = false; /* the same (fn, arg) again: changes nothing, as other subscriptions */
    for (unsigned i = 0; i < node->npeer_subs && !again; i++)
        again = node->peer_subs[i].fn == fn && node->peer_subs[i].arg == arg;
    if (again)
        err = AU_OK;
    else if (node->npeer_subs == AU_PEER_SUBSCRIBERS)
        err = AU_EFULL;
    else {
        node->peer_subs[node->npeer_subs].fn = fn;
        node->peer_subs[node->npeer_subs++].arg = arg;
    }
    pthread_mutex_unlock(&node->lock);
    return err;
}

void au_peer_event_emit(au_node *node, const au_peer_event *event) {
    /* Copied out so that callbacks run without the lock (they may send, spawn, ...). */
    pthread_mutex_lock(&node->lock);
    unsigned n = node->npeer_subs;
    struct { au_peer_fn fn; void *arg; } subs[AU_PEER_SUBSCRIBERS];
    memcpy(subs, node->peer_subs, n * sizeof subs[0]);
    pthread_mutex_unlock(&node->lock);
    au_node *outer = au_own_work_begin(node); /* a callback must not stop this node */
    for (unsigned i = 0; i < n; i++) subs[i].fn(node, event, subs[i].arg);
    au_own_work_end(outer);
}
