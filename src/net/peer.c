/* peer.c — the peer table: one entry per other node this one exchanges datagrams with, keyed by
 * address, created when something is to be sent there (a forged reference, or one that came in
 * a message), up to max_peers. Entries live until the node stops; what a peer holds (queue,
 * packer) is described in net.h. What the receive path knows of a sender is in senders.c. */
#include "net/net.h"

#include <stdlib.h>

static void peer_free(au_peer *p) {
    au_mnode *n;
    while ((n = au_runq_pop(&p->queue))) {
        au_outmsg *m = (au_outmsg *)n;
        au_pool_free(m->pool_class, m);
    }
    au_wire_packer_destroy(&p->packer);
    free(p);
}

au_peer *au_net_peer(au_net_t *net, const au_addr *addr, bool create) {
    uint64_t h = au_addr_hash(addr);
    pthread_mutex_lock(&net->lock);
    au_peer **bucket = &net->peers[h & (net->npeers_buckets - 1)];
    au_peer *p = *bucket;
    while (p && !au_addr_equal(&p->addr, addr)) p = p->next;
    if (!p && create && net->npeers < net->max_peers && (p = calloc(1, sizeof *p))) {
        p->net = net;
        p->addr = *addr;
        au_addr_format(addr, p->text, sizeof p->text);
        au_runq_init(&p->queue);
        au_seal_key *key = atomic_load_explicit(&net->primary, memory_order_acquire);
        if (au_wire_packer_init(&p->packer, &net->limits, net->incarnation, &net->ids, key,
                                au_net_emit, NULL) != AU_WIRE_OK) {
            free(p);
            p = NULL;
        } else {
            if (key) au_wire_packer_follow(&p->packer, &net->primary); /* rotation */
            p->next = *bucket;
            *bucket = p;
            net->npeers++;
        }
    }
    pthread_mutex_unlock(&net->lock);
    return p;
}

void au_net_peers_free(au_net_t *net) {
    for (size_t i = 0; i < net->npeers_buckets; i++) {
        for (au_peer *p = net->peers[i], *n; p; p = n) {
            n = p->next;
            peer_free(p);
        }
    }
    free(net->peers);
    net->peers = NULL;
}
