/* channel.c — the datagram channel: the remote path's datagrams through the node driver's
 * datagram I/O (bind, send; arrivals come back through au_node_receive). A stream channel would
 * implement the same table (net.h) with its own framing. */
#include "net/net.h"

#include <string.h>

static au_err dgram_open(au_net_t *net, const au_addr *bind, au_addr *bound) {
    au_driver_node *dn = net->node->driver;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    au_err err = dn->ops->bind(dn, &bind->sa.any, bind->len, &ss, &len);
    if (err) return err;
    if (len > sizeof bound->sa || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
        return AU_EINVAL;
    memset(bound, 0, sizeof *bound);
    memcpy(&bound->sa, &ss, len);
    bound->len = len;
    return AU_OK;
}

static size_t dgram_send(au_net_t *net, const au_datagram *dgrams, size_t n) {
    au_driver_node *dn = net->node->driver;
    return dn->ops->send(dn, dgrams, n); /* the driver batches (sendmmsg) */
}

const au_channel_ops au_channel_datagram = { "datagram", dgram_open, dgram_send };
