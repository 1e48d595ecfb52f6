/* senders.c — the receive path's table of senders (net.h, au_sender): identity → replay windows
 * and partial messages, bounded, least recently used evicted first, and evicted once idle for
 * AU_SENDER_IDLE (a node that talked to most of a large cluster once keeps state only for those
 * it hears from now).
 *
 * Identities are either authenticated (the sealed nonce's sender id: an outsider without the key
 * cannot make new ones) or a hash of the source address keyed with a per-node random seed (an
 * outsider cannot aim them at one bucket). An evicted sender leaves a floor (24 bytes: its
 * newest incarnation and the highest sequence number accepted from it), and a sender made again
 * for that identity starts from it: every datagram at or below the floor, and (sealed) every
 * past incarnation, is refused as before the eviction. Floors are bounded too (max_peers of
 * them); past that, eviction forgets: with more live senders than that, a datagram of an
 * evicted sender captured earlier would be accepted once more. docs/security.md states that
 * limit; the default leaves room for thousands of nodes. */
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

typedef struct sender_floor {
    uint64_t id, incarnation, top;
} sender_floor;

/* Takes s out of the table, keeping its floor if there is room. */
static void evict(au_net_t *net, au_sender *s) {
    unlink_lru(net, s);
    au_u64map_take(&net->senders, map_key(s->id));
    net->nsenders--;
    au_stat_sub(&net->stats.senders, 1);
    au_stat_add(&net->stats.senders_evicted, 1);
    for (size_t i = 0; i < AU_SENDER_WINDOWS && net->nfloors < net->max_senders; i++) {
        if (!s->windows[i].last_used || s->windows[i].incarnation != s->incarnation ||
            !s->windows[i].window.started)
            continue;
        sender_floor *f = malloc(sizeof *f);
        if (!f) break;
        *f = (sender_floor){ s->id, s->incarnation, s->windows[i].window.top };
        sender_floor *old = au_u64map_take(&net->floors, map_key(s->id)); /* a hash twin's */
        if (old) {
            free(old);
            net->nfloors--;
        }
        if (au_u64map_put(&net->floors, map_key(s->id), f)) net->nfloors++;
        else free(f);
        break;
    }
    sender_free(net, s);
}

/* Evicts the senders idle for longer than AU_SENDER_IDLE, oldest first (a few per call: the
 * list is in order of use, so the walk stops at the first recent one). One with partial
 * messages waits for them to complete or expire. */
static void evict_idle(au_net_t *net, au_nanos now) {
    au_sender *s = net->oldest;
    for (int k = 0; s && k < 4 && now - s->last_seen > AU_SENDER_IDLE; k++) {
        au_sender *newer = s->newer;
        if (!s->reassembly || au_reassembly_partials(s->reassembly) == 0) evict(net, s);
        s = newer;
    }
}

au_sender *au_net_sender_find(au_net_t *net, uint64_t id) {
    au_nanos now = au_node_now(net->node);
    evict_idle(net, now);
    au_sender *s = au_u64map_get(&net->senders, map_key(id));
    if (s && s->id == id) s->last_seen = now;
    if (s && s->id == id && net->newest != s) {
        unlink_lru(net, s);
        push_newest(net, s);
    }
    return s && s->id == id ? s : NULL;
}

au_sender *au_net_sender_new(au_net_t *net, uint64_t id) {
    if (net->nsenders >= net->max_senders && net->oldest) evict(net, net->oldest);
    au_sender *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->id = id;
    s->last_seen = au_node_now(net->node);
    if (!au_u64map_put(&net->senders, map_key(id), s)) {
        free(s);
        return NULL;
    }
    sender_floor *f = au_u64map_take(&net->floors, map_key(id));
    if (f) net->nfloors--;
    if (f && f->id != id) { /* its hash twin's (ids 0 and 1): not this one's */
        free(f);
        f = NULL;
    }
    if (f) { /* it was here before: nothing at or below its floor is new */
        s->incarnation = f->incarnation;
        s->windows[0].incarnation = f->incarnation;
        s->windows[0].last_used = ++s->windows_clock;
        s->windows[0].window = (au_replay_window){ .top = f->top, .seen = ~(uint64_t)0, .started = 1 };
        free(f);
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
    for (size_t i = 0; i < net->floors.cap; i++)
        if (net->floors.keys[i]) free(net->floors.values[i]);
    au_u64map_free(&net->floors);
    net->nfloors = 0;
}
