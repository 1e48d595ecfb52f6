/* senders.c — the receive path's table of senders (net.h, au_sender): identity → replay windows
 * and partial messages, bounded, least recently used evicted first.
 *
 * Identities are either authenticated (the sealed nonce's sender id: an outsider without the key
 * cannot make new ones) or a hash of the source address keyed with a per-node random seed (an
 * outsider cannot aim them at one bucket). Eviction forgets a sender's replay windows: with
 * more live senders than max_peers, a datagram of an evicted sender captured earlier would be
 * accepted once more. docs/security.md states that limit; the default leaves room for thousands
 * of nodes. */
#include "net/net.h"

#include <stdlib.h>
#include <string.h>

static void unlink_lru(au_net_t *net, au_sender *s) {
    if (s->newer) s->newer->older = s->older;
    else net->newest = s->older;
    if (s->older) s->older->newer = s->newer;
    else net->oldest = s->newer;
    s->newer = s->older = NULL;
}

static void push_newest(au_net_t *net, au_sender *s) {
    s->older = net->newest;
    s->newer = NULL;
    if (net->newest) net->newest->newer = s;
    net->newest = s;
    if (!net->oldest) net->oldest = s;
}

static uint64_t map_key(uint64_t id) { return id ? id : 1; } /* the map's keys are nonzero */

static void sender_free(au_net_t *net, au_sender *s) {
    if (s->reassembly) {
        size_t partials = au_reassembly_partials(s->reassembly);
        if (partials) {
            au_stat_add(&net->stats.drops_reassembly, partials);
            au_stat_sub(&net->stats.reassemblies_in_flight, partials);
        }
        au_reassembly_destroy(s->reassembly);
    }
    free(s);
}

au_sender *au_net_sender_find(au_net_t *net, uint64_t id) {
    au_sender *s = au_u64map_get(&net->senders, map_key(id));
    if (s && s->id == id && net->newest != s) {
        unlink_lru(net, s);
        push_newest(net, s);
    }
    return s && s->id == id ? s : NULL;
}

au_sender *au_net_sender_new(au_net_t *net, uint64_t id) {
    if (net->nsenders >= net->max_senders && net->oldest) {
        au_sender *victim = net->oldest;
        unlink_lru(net, victim);
        au_u64map_take(&net->senders, map_key(victim->id));
        net->nsenders--;
        au_stat_sub(&net->stats.senders, 1);
        au_stat_add(&net->stats.senders_evicted, 1);
        sender_free(net, victim);
    }
    au_sender *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->id = id;
    if (!au_u64map_put(&net->senders, map_key(id), s)) {
        free(s);
        return NULL;
    }
    push_newest(net, s);
    net->nsenders++;
    au_stat_add(&net->stats.senders, 1);
    return s;
}

bool au_net_senders_expire(au_net_t *net, au_nanos now) {
    bool remain = false;
    for (au_sender *s = net->newest; s; s = s->older) {
        if (!s->reassembly) continue;
        size_t before = au_reassembly_partials(s->reassembly);
        size_t n = au_reassembly_expire(s->reassembly, now);
        if (n) {
            au_stat_add(&net->stats.drops_reassembly, n);
            au_stat_sub(&net->stats.reassemblies_in_flight, before - au_reassembly_partials(s->reassembly));
        }
        remain |= au_reassembly_partials(s->reassembly) > 0;
    }
    return remain;
}

void au_net_senders_free(au_net_t *net) {
    for (au_sender *s = net->newest, *n; s; s = n) {
        n = s->older;
        sender_free(net, s);
    }
    net->newest = net->oldest = NULL;
    au_u64map_free(&net->senders);
}
