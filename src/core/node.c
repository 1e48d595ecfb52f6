/* node.c — node start and stop, configuration, statistics.
 *
 * Start order: pool, registry, watches, timers (the event loop, not yet running), workers,
 * network (its handles join the loop), then the loop thread. Stop order is the reverse, after
 * every actor has stopped: no thread may run a hook, fire a timer or deliver a datagram into
 * memory that is being freed. */
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const au_clock au_monotonic_clock;

/* The transport (transport.c). */
au_err au_net_start_(au_node *node);
void au_net_stop_(au_node *node);
void au_net_stats_(au_node *node, au_node_stats *out);

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
    return AU_OK;
}

au_err au_node_start(const au_node_config *in, au_node **out) {
    if (!out) return AU_EINVAL;
    *out = NULL;
    au_node *node = calloc(1, sizeof *node);
    if (!node) return AU_ENOMEM;
    au_err err = validate(in, &node->cfg);
    if (err) {
        free(node);
        return err;
    }
    node->clock = node->cfg.clock ? *node->cfg.clock : au_monotonic_clock;
    if (node->cfg.sim) {
        node->clock = au_sim_clock_(node->cfg.sim);
        node->sim_port = au_sim_node_add_(node->cfg.sim, node);
        if (!node->sim_port) {
            free(node);
            return AU_EFULL;
        }
    }
    node->nworkers = node->cfg.workers;
    pthread_mutex_init(&node->lock, NULL);
    pthread_cond_init(&node->cond, NULL);
    au_pool_acquire();

    if ((err = au_registry_create(node)) || (err = au_watches_create(node)) ||
        (err = au_timers_start(node)) || (err = au_scheduler_start(node)) ||
        (!node->cfg.no_network && (err = au_net_start_(node))) ||
        (err = au_loop_start(node))) {
        au_node_stop(node);
        return err;
    }
    *out = node;
    return AU_OK;
}

void au_node_stop(au_node *node) {
    if (!node) return;
    if (node->workers || node->cfg.sim) au_actor_stop_all(node);
    /* No thread may send once the transport is gone: timers stop firing, workers (which may be
     * flushing a last turn's remote sends) return, then the socket closes. */
    au_timers_quiesce(node);
    au_scheduler_join(node);
    if (node->net) au_net_stop_(node);
    if (node->cfg.sim) au_sim_node_remove_(node->cfg.sim, node); /* hands back its timers */
    au_timers_stop(node);
    au_scheduler_stop(node);
    au_cells_free_all(node);
    au_watches_destroy(node);
    au_registry_destroy(node);
    au_promise_defs_free_(node);
    free(node->zombies);
    pthread_mutex_destroy(&node->lock);
    pthread_cond_destroy(&node->cond);
    free(node);
    au_pool_release();
}

const char *au_node_address(const au_node *node) { return node ? node->address : ""; }

void au_node_stats_get(au_node *node, au_node_stats *out) {
    memset(out, 0, sizeof *out);
    if (!node) return;
    /* relaxed: a snapshot of independent counters. */
#define LOAD(f) out->f = atomic_load_explicit(&node->stats.f, memory_order_relaxed)
    LOAD(actors_spawned);
    LOAD(actors_stopped);
    LOAD(drops_dead_actor);
    LOAD(drops_node_stopping);
    LOAD(timers_fired);
    LOAD(timers_cancelled);
#undef LOAD
    out->actors_live = out->actors_spawned - out->actors_stopped;
    if (node->net) au_net_stats_(node, out);
}
