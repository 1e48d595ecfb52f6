/* channel.c — the datagram channel: the remote path's datagrams through the node driver's
 * datagram I/O (bind, send; arrivals come back through au_node_receive). A stream channel would
 * implement the same table (net.h) with its own framing. */
#include "net/net.h"

static au_err dgram_open(au_net_t *net, const au_addr *bind, au_addr *bound) {
    au_driver_node *dn = net->node->driver;
    return dn->ops->bind(dn, (const struct sockaddr *)&bind->sa, bind->len, &bound->sa, &bound->len);
}

static size_t dgram_send(au_net_t *net, const au_datagram *dgrams, size_t n) {
    au_driver_node *dn = net->node->driver;
    return dn->ops->send(dn, dgrams, n); /* the driver batches (sendmmsg) */
}

const au_channel_ops au_channel_datagram = { "datagram", dgram_open, dgram_send };
