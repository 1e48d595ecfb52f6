/* start.c — au_node_start: a node composed from its layers. The core makes the node and its
 * runtime (src/core/node.c: au_node_create), the remote path binds its endpoint through the
 * node's driver (src/net/net.c: au_net_start), then the driver's threads start
 * (au_node_launch). This file is the one place that names both layers, so neither names the
 * other: the core reaches the remote path only through the table of core/remote.h.
 *
 * Stopping needs no composition: au_node_stop (core) stops the remote path through that table. */
#include "core/internal.h"
#include "net/net.h"

au_err au_node_start(const au_node_config *cfg, au_node **out) {
    if (!out) return AU_EINVAL;
    au_node *node;
    au_err err = au_node_create(cfg, &node);
    if (err) {
        *out = NULL;
        return err;
    }
    if ((!node->cfg.no_network && (err = au_net_start(node))) || (err = au_node_launch(node))) {
        au_node_stop(node);
        *out = NULL;
        return err;
    }
    *out = node;
    return AU_OK;
}
