/* peer.c — the peer table: one entry per other node this one sends to, keyed by address (a keyed
 * hash: addresses arrive in hostile messages), created when a remote slot needs it (a forged
 * reference, or one that came in a message).
 *
 * A peer is referenced by the remote slots that point to it (refs, under net->lock). One that no
 * slot points to is idle: nothing can queue to it any more, so once its queue has drained it may
 * be evicted, oldest idle first, when the table is full. A full table of busy peers refuses a
 * new one (AU_EFULL to whoever needed it), never an existing sender. The tables' buckets grow
 * with the table (load at most 1). What a peer holds (its queue; the packer is the draining
 * thread's, send.c) is described in net.h; what the receive path knows of a sender is in senders.c.
 * A sender caches the peer of its address (au_net_peer_heard): net->peer_evictions counts the
 * peers freed, and a cache taken at another count is never dereferenced. */
#include "net/net.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define PEER_ALIGN 64
_Static_assert(offsetof(au_peer, heard) + sizeof(au_nanos) <= PEER_ALIGN,
               "au_net_peer_heard's fields fit in the peer's first cache line");

static size_t bucket_of(au_net_t *net, const au_addr *addr) {
    return XXH3_64bits_withSeed(&addr->sa, addr->len, net->hash_seed) & (net->npeers_buckets - 1);
}

static void peer_free(au_peer *p) {
    au_mnode *n;
    while ((n = au_runq_pop(&p->queue))) {
        au_outmsg *m = (au_outmsg *)n;
        au_net_remote_unpin(m->to);
        au_pool_free(m->pool_class, m);
    }
    if (p->dkey) { /* a device's key (device_keys.c) */
        au_seal_key_wipe(p->dkey);
        free(p->dkey);
    }
    free(p);
}

static void idle_unlink(au_net_t *net, au_peer *p) {
    if (p->idle_prev) p->idle_prev->idle_next = p->idle_next;
    else if (net->idle_oldest == p) net->idle_oldest = p->idle_next;
    if (p->idle_next) p->idle_next->idle_prev = p->idle_prev;
    else if (net->idle_newest == p) net->idle_newest = p->idle_prev;
    p->idle_next = p->idle_prev = NULL;
}

static void idle_append(au_net_t *net, au_peer *p) {
    p->idle_prev = net->idle_newest;
    p->idle_next = NULL;
    if (net->idle_newest) net->idle_newest->idle_next = p;
    else net->idle_oldest = p;
    net->idle_newest = p;
}

static void table_remove(au_net_t *net, au_peer *victim) {
    for (au_peer **pp = &net->peers[bucket_of(net, &victim->addr)]; *pp; pp = &(*pp)->next) {
        if (*pp == victim) {
            *pp = victim->next;
            break;
        }
    }
    net->npeers--;
}

/* Evicts the longest-idle peer whose queue has drained. With net->lock. */
static bool evict_idle(au_net_t *net) {
    for (au_peer *p = net->idle_oldest; p; p = p->idle_next) {
        /* seq_cst: pairs with the holds taken in send.c. With refs == 0 no thread can newly
         * reach this peer (pointers to it come from pinned slots, and a holder takes its hold
         * before its pin goes), so what is seen idle and unheld stays so. */
        if (atomic_load_explicit(&p->holds, memory_order_seq_cst) ||
            atomic_load_explicit(&p->queued, memory_order_seq_cst) ||
            atomic_load_explicit(&p->sending, memory_order_seq_cst))
            continue;
        idle_unlink(net, p);
        table_remove(net, p);
        peer_free(p);
        net->peer_evictions++; /* senders' cached peers (au_net_peer_heard) may be this one */
        au_stat_sub(&net->stats.peers, 1);
        au_stat_add(&net->stats.peers_evicted, 1);
        return true;
    }
    return false;
}

/* Doubles the buckets once the table holds as many peers as buckets (up to the power of two at
 * or above max_peers). With net->lock. Out of memory, it keeps the table as it is: longer
 * chains, still correct. */
static void grow(au_net_t *net) {
    if (net->npeers < net->npeers_buckets || net->npeers_buckets >= net->max_peers) return;
    size_t old = net->npeers_buckets;
    au_peer **b = calloc(old * 2, sizeof *b), **was = net->peers;
    if (!b) return;
    net->peers = b;
    net->npeers_buckets = old * 2;
    for (size_t i = 0; i < old; i++) {
        for (au_peer *p = was[i], *n; p; p = n) {
            n = p->next;
            size_t k = bucket_of(net, &p->addr);
            p->next = b[k];
            b[k] = p;
        }
    }
    free(was);
}

static au_peer *peer_new(au_net_t *net, const au_addr *addr) {
    /* Aligned to a cache line: its head (address, unanswered, heard) is then one line, all
     * that au_net_peer_heard touches for each datagram received. */
    size_t size = (sizeof(au_peer) + PEER_ALIGN - 1) / PEER_ALIGN * PEER_ALIGN;
    au_peer *p = aligned_alloc(PEER_ALIGN, size);
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    p->net = net;
    p->addr = *addr;
    au_runq_init(&p->queue);
    p->created = au_node_now(net->node);
    return p; /* its packer is made per drain (send.c) */
}

au_peer *au_net_peer_acquire(au_net_t *net, const au_addr *addr, bool create, au_err *why) {
    pthread_mutex_lock(&net->lock);
    au_peer *p = net->peers[bucket_of(net, addr)];
    while (p && !au_addr_equal(&p->addr, addr)) p = p->next;
    if (!p && create) {
        if (net->npeers >= net->max_peers && !evict_idle(net)) {
            if (why) *why = AU_EFULL;
        } else if (!(p = peer_new(net, addr))) {
            if (why) *why = AU_ENOMEM; /* not a full table: a room the caller cannot make */
        } else {
            size_t b = bucket_of(net, addr);
            p->next = net->peers[b];
            net->peers[b] = p;
            net->npeers++;
            au_stat_add(&net->stats.peers, 1);
            grow(net);
        }
    } else if (p && p->refs == 0) {
        idle_unlink(net, p);
    }
    if (p) p->refs++;
    pthread_mutex_unlock(&net->lock);
    return p;
}

void au_net_peer_release_locked(au_net_t *net, au_peer *peer) {
    if (--peer->refs == 0) idle_append(net, peer);
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

/* ---- who answers ------------------------------------------------------------------------------ */

#define SILENT_AFTER AU_SEC(5)     /* no datagram back for this long... */
#define SILENT_DATAGRAMS 16        /* ...after at least this many sent: say so */
#define SILENT_REPEAT AU_SEC(30)   /* and again at most this often */

/* Once per datagram received, on the receive thread: the sender remembers its peer, so the
 * table's bucket (a hash and a cache miss in a table of 100,000 devices) is looked up only when
 * the cache cannot be trusted: no peer cached yet, a peer freed since (peer_evictions moved: the
 * pointer may dangle, so it is not even read), or the datagram came from another address (a
 * sealed sender that moved). Creating peers frees none, so a cached one stays valid then. */
void au_net_peer_heard(au_net_t *net, au_sender *s, const au_addr *addr) {
    pthread_mutex_lock(&net->lock);
    au_peer *p = s->peer_epoch == net->peer_evictions ? s->peer : NULL;
    if (!p || !au_addr_equal(&p->addr, addr)) {
        for (p = net->peers[bucket_of(net, addr)]; p && !au_addr_equal(&p->addr, addr);) p = p->next;
        s->peer = p;
        s->peer_epoch = net->peer_evictions;
    }
    if (p) {
        /* relaxed: advisory counters for a warning, nothing is published through them. */
        atomic_store_explicit(&p->unanswered, 0, memory_order_relaxed);
        atomic_store_explicit(&p->heard, au_node_now(net->node), memory_order_relaxed);
    }
    pthread_mutex_unlock(&net->lock);
}

void au_net_peer_sent(au_net_t *net, au_peer *peer, size_t n) {
    uint64_t unanswered = atomic_fetch_add_explicit(&peer->unanswered, n, memory_order_relaxed) + n;
    if (unanswered < SILENT_DATAGRAMS) return;
    au_nanos now = au_node_now(net->node), heard = atomic_load_explicit(&peer->heard, memory_order_relaxed);
    au_nanos since = heard ? heard : peer->created;
    au_nanos warned = atomic_load_explicit(&peer->warned, memory_order_relaxed);
    if (now - since < SILENT_AFTER || (warned && now - warned < SILENT_REPEAT)) return;
    if (!atomic_compare_exchange_strong_explicit(&peer->warned, &warned, now, memory_order_relaxed,
                                                 memory_order_relaxed))
        return; /* another thread is saying it */
    char text[64];
    au_addr_format(&peer->addr, text, sizeof text);
    au_log(AU_LOG_NET, AU_LOG_WARN,
           "no answer from %s: %llu datagrams sent, nothing received from it for %.1f s (is it "
           "running, on that address and port, with the same cluster key?)",
           text, (unsigned long long)unanswered, (double)(now - since) / 1e9);
}

void au_net_peer_unsent(au_peer *peer, size_t n) {
    /* saturating: an answer may have reset the count to 0 since au_net_peer_sent */
    uint64_t v = atomic_load_explicit(&peer->unanswered, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&peer->unanswered, &v, v > n ? v - n : 0,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

uint64_t au_node_unanswered(au_node *node, const char *address) {
    au_net_t *net = node ? node->net : NULL;
    au_addr addr;
    if (!net || !address || au_addr_resolve(address, &addr)) return 0;
    pthread_mutex_lock(&net->lock);
    au_peer *p = net->peers[bucket_of(net, &addr)];
    while (p && !au_addr_equal(&p->addr, &addr)) p = p->next;
    uint64_t n = p ? atomic_load_explicit(&p->unanswered, memory_order_relaxed) : 0;
    pthread_mutex_unlock(&net->lock);
    return n;
}
