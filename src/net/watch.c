/* watch.c — remote death watch between nodes: au_watch on another node's actor reports that
 * actor stopping, not only its node going away.
 *
 * Two halves, one per role, under one lock (watch_lock, a leaf below the core's watch table and
 * senders_lock, above net->lock):
 *
 *   watcher side: one `owatch` per watched remote slot, however many local actors watch it (the
 *   core counts those, core/watch.c, and calls au_net_watch for the first, au_net_unwatch after
 *   the last). It pins the slot (so the slot, its name and its peer stay) and carries a watch
 *   id, fresh per watch epoch, that every message of the protocol names.
 *
 *   target side: one `iwatch` per (watched actor incarnation, watching node), the watching node
 *   a `wnode` (its address, its incarnation, a reference on its peer for the replies). Bounded:
 *   at most max_remote_watches entries, a quarter of them per watching node, and watching nodes
 *   (each pins its peer) at most half of max_peers; a request beyond
 *   is refused (watch_refused, a WARN line) and the watcher told so, so a hostile peer can
 *   neither grow the table nor fill it for everyone.
 *
 * The protocol: system messages (wire kind 2, docs/wire-format.md §1.5) naming the watched actor
 * (name, root type id) with the watch id in the interface field and a one-byte op as payload:
 *
 *   WATCH       → WATCH_ACK, or WATCH_REFUSED (table full), or TERMINATED (the actor is not
 *                 there: never was, or stopped already — answered at once, keeping no state)
 *   UNWATCH     → UNWATCH_ACK (the entry, active or notifying, is removed)
 *   TERMINATED  → TERMINATED_ACK (the watched actor stopped: the watcher's local watchers are
 *                 told, the target's entry goes when the ack arrives)
 *
 * Reliability: datagrams can be lost, so each request is retransmitted (200 ms, doubling to
 * 3.2 s) until its answer arrives — WATCH for as long as the watch lasts (a lost watch would
 * silently degrade to node-level), UNWATCH and TERMINATED for at most WATCH_GIVE_UP (60 s
 * without an answer means the other node is gone or does not speak this; counted in
 * watch_abandoned). Retransmitting the notice, rather than having the watcher poll, keeps the
 * steady state silent: an acknowledged watch costs nothing until its actor stops. Every
 * message is idempotent: a duplicate or late WATCH re-acks (or re-answers TERMINATED if the
 * actor is gone), a duplicate TERMINATED for a watch already ended is acked and ignored (the
 * id no longer matches anything), an UNWATCH for an entry already gone is acked; so loss,
 * duplication and reordering cost retransmissions, never a double or a lost notification.
 *
 * The end of a watch other than by the protocol: the watcher's or target's node declared gone
 * (au_peer_gone, which calls au_net_watch_gone through the core) or seen restarted with a new
 * incarnation (receive.c): both sides' state with that node is dropped without a message; the
 * core tells the local watchers. The node stopping: its actors stop first, so the nodes
 * watching them get TERMINATED while it can still send (then its timers stop).
 *
 * Answers are checked against the watch they name: an owatch answers only to its id, from the
 * address of its slot's peer, for its slot's name and root type; anything else is ignored
 * (and a TERMINATED still acked, so a retransmitting target stops). Target-side entries are
 * found by (watching node's address, id). */
#include "net/net.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "util/u64map.h"

enum {
    OP_WATCH = 1, OP_UNWATCH = 2, OP_TERMINATED = 3,
    OP_WATCH_ACK = 4, OP_UNWATCH_ACK = 5, OP_TERMINATED_ACK = 6, OP_WATCH_REFUSED = 7,
};

#define WATCH_RTO AU_MSEC(200)       /* first retransmission after this */
#define WATCH_RTO_MAX AU_MSEC(3200)  /* doubling up to this */
#define WATCH_GIVE_UP AU_SEC(60)     /* UNWATCH and TERMINATED: abandoned after this unanswered */
#define WATCH_TICK AU_MSEC(100)      /* the retransmission timer's period, while anything waits */
#define WATCH_DEFAULT_MAX 16384      /* max_remote_watches' default */

/* ---- the two tables ------------------------------------------------------------------------ */

enum { O_WATCHING, O_WATCHED, O_UNWATCHING };

typedef struct owatch {
    au_remote *slot;   /* pinned by this entry */
    uint32_t gen;
    uint64_t id;
    uint8_t state;
    unsigned tries;
    au_nanos due, first;
} owatch;

typedef struct wnode {
    au_addr addr;
    uint64_t key;      /* its key in by_node */
    uint64_t incarnation;
    au_peer *peer;     /* referenced (au_net_peer_acquire): the replies go there */
    size_t n;          /* its iwatch entries, active and notifying */
    struct wnode *next; /* same key (a 64-bit collision) */
} wnode;

enum { I_ACTIVE, I_NOTIFYING };

typedef struct iwatch {
    au_cell *cell;
    uint32_t gen;
    uint8_t state;
    uint8_t name_len;
    wnode *from;
    uint64_t id, root_id;
    unsigned tries;
    au_nanos due, first;
    struct iwatch *next; /* in its cell's list (active) or in `notifying` */
    char name[];
} iwatch;

struct au_net_watches {
    /* watcher side */
    au_u64map by_slot;  /* au_remote * → owatch */
    au_u64map by_id;    /* id → owatch */
    uint64_t next_id;
    size_t pending_out; /* owatches in O_WATCHING or O_UNWATCHING */
    /* target side */
    au_u64map by_cell;  /* au_cell * → iwatch list (active, this incarnation) */
    au_u64map by_node;  /* keyed address hash → wnode chain */
    iwatch *notifying;  /* TERMINATED sent, awaiting its ack */
    size_t count, max, per_node;
    size_t nodes;       /* wnodes: watching nodes, each pinning a peer; at most max_nodes() */
    bool armed;         /* the retransmission timer is pending */
};

static uint64_t key_of(const void *p) { return (uint64_t)(uintptr_t)p; }

/* Sets the value of a key present in m (NULL: removes it). Never allocates: after the take the
 * map holds one entry less than it held after some earlier put, which kept count * 2 <= cap. */
static void map_replace(au_u64map *m, uint64_t key, void *value) {
    au_u64map_take(m, key);
    if (value) au_u64map_put(m, key, value);
}

au_err au_net_watch_init(au_net_t *net, size_t max) {
    au_net_watches *w = calloc(1, sizeof *w);
    if (!w) return AU_ENOMEM;
    w->max = max ? max : WATCH_DEFAULT_MAX;
    w->per_node = w->max / 4 ? w->max / 4 : 1;
    au_driver_node *dn = net->node->driver;
    w->next_id = dn->ops->random(dn) | 1; /* not guessable from outside, never 0 */
    pthread_mutex_init(&net->watch_lock, NULL);
    net->watch = w;
    return AU_OK;
}

void au_net_watch_free(au_net_t *net) {
    au_net_watches *w = net->watch;
    if (!w) return;
    /* Peers and slots are freed wholesale by the caller: no pin or reference to give back. */
    for (size_t i = 0; i < w->by_id.cap; i++)
        if (w->by_id.keys[i]) free(w->by_id.values[i]);
    for (size_t i = 0; i < w->by_cell.cap; i++) {
        if (!w->by_cell.keys[i]) continue;
        for (iwatch *e = w->by_cell.values[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    }
    for (iwatch *e = w->notifying, *n; e; e = n) {
        n = e->next;
        free(e);
    }
    for (size_t i = 0; i < w->by_node.cap; i++) {
        if (!w->by_node.keys[i]) continue;
        for (wnode *x = w->by_node.values[i], *n; x; x = n) {
            n = x->next;
            free(x);
        }
    }
    au_u64map_free(&w->by_slot);
    au_u64map_free(&w->by_id);
    au_u64map_free(&w->by_cell);
    au_u64map_free(&w->by_node);
    pthread_mutex_destroy(&net->watch_lock);
    free(w);
    net->watch = NULL;
}

/* ---- sending ------------------------------------------------------------------------------- */

/* Queues one system message to `peer` (which the caller keeps referenced until it returns). */
static void sys_send(au_net_t *net, au_peer *peer, const char *name, size_t name_len,
                     uint64_t root_id, uint64_t id, uint8_t op) {
    size_t size = sizeof(au_outmsg) + name_len + 1;
    uint8_t cls = au_pool_class(size);
    au_outmsg *m = au_pool_alloc(cls, size);
    if (!m) {
        au_stat_add(&net->stats.drops_send_failed, 1);
        return;
    }
    m->pool_class = cls;
    m->kind = AU_WIRE_KIND_SYSTEM;
    m->fated = 0;
    m->payload_len = (uint32_t)(name_len + 1);
    m->iface_id = id;
    m->to = NULL;
    m->sys_root = root_id;
    m->sys_name_len = (uint8_t)name_len;
    memcpy(m->payload, name, name_len);
    m->payload[name_len] = op;
    au_net_enqueue(net, peer, m);
}

static void send_out(au_net_t *net, owatch *o, uint8_t op) {
    sys_send(net, o->slot->peer, o->slot->name, o->slot->name_len, o->slot->root_id, o->id, op);
}

static void send_in(au_net_t *net, iwatch *e, uint8_t op) {
    sys_send(net, e->from->peer, e->name, e->name_len, e->root_id, e->id, op);
}

/* An answer to a node this one keeps no watch state with: through a peer referenced for it. */
static void reply(au_net_t *net, const au_addr *to, const au_wire_message *m, uint8_t op) {
    au_peer *peer = au_net_peer_acquire(net, to, true, NULL);
    if (!peer) {
        au_stat_add(&net->stats.drops_peer_limit, 1);
        return;
    }
    sys_send(net, peer, (const char *)m->dest.name, m->dest.name_len, m->dest.root_type,
             m->dest.iface_type, op);
    pthread_mutex_lock(&net->lock);
    au_net_peer_release_locked(net, peer);
    pthread_mutex_unlock(&net->lock);
}

static au_nanos backoff(unsigned tries) {
    au_nanos d = WATCH_RTO;
    for (unsigned i = 0; i < tries && d < WATCH_RTO_MAX; i++) d *= 2;
    return d < WATCH_RTO_MAX ? d : WATCH_RTO_MAX;
}

/* ---- the retransmission timer -------------------------------------------------------------- */

static void arm(au_net_t *net);

/* With watch_lock: forgets an iwatch (already out of its list), and its wnode if it was the
 * last one. */
static void iwatch_free(au_net_t *net, iwatch *e) {
    au_net_watches *w = net->watch;
    wnode *x = e->from;
    free(e);
    w->count--;
    au_stat_sub(&net->stats.remote_watched, 1);
    if (--x->n) return;
    wnode *head = au_u64map_get(&w->by_node, x->key);
    if (head == x) {
        map_replace(&w->by_node, x->key, x->next);
    } else {
        for (wnode *p = head; p; p = p->next) {
            if (p->next == x) {
                p->next = x->next;
                break;
            }
        }
    }
    pthread_mutex_lock(&net->lock);
    au_net_peer_release_locked(net, x->peer);
    pthread_mutex_unlock(&net->lock);
    w->nodes--;
    free(x);
}

static void owatch_free(au_net_t *net, owatch *o) {
    au_net_watches *w = net->watch;
    au_u64map_take(&w->by_slot, key_of(o->slot));
    au_u64map_take(&w->by_id, o->id);
    if (o->state != O_WATCHED) w->pending_out--;
    au_net_remote_unpin(o->slot);
    au_stat_sub(&net->stats.remote_watches, 1);
    free(o);
}

static void on_tick(au_node *node, void *arg) {
    au_net_t *net = arg;
    au_net_watches *w = net->watch;
    au_nanos now = au_node_now(node);
    pthread_mutex_lock(&net->watch_lock);
    w->armed = false;
    if (w->pending_out) {
        for (size_t i = 0; i < w->by_id.cap; i++) {
            owatch *o = w->by_id.keys[i] ? w->by_id.values[i] : NULL;
            if (!o || o->state == O_WATCHED || o->due > now) continue;
            if (o->state == O_UNWATCHING && now - o->first >= WATCH_GIVE_UP) {
                au_stat_add(&net->stats.watch_abandoned, 1);
                owatch_free(net, o);
                i--; /* backward-shift deletion may have moved another entry here */
                continue;
            }
            send_out(net, o, o->state == O_WATCHING ? OP_WATCH : OP_UNWATCH);
            au_stat_add(&net->stats.watch_retransmits, 1);
            o->due = now + backoff(++o->tries);
        }
    }
    for (iwatch **p = &w->notifying; *p;) {
        iwatch *e = *p;
        if (now - e->first >= WATCH_GIVE_UP) {
            *p = e->next;
            au_stat_add(&net->stats.watch_abandoned, 1);
            iwatch_free(net, e);
            continue;
        }
        if (e->due <= now) {
            send_in(net, e, OP_TERMINATED);
            au_stat_add(&net->stats.watch_notices_sent, 1);
            au_stat_add(&net->stats.watch_retransmits, 1);
            e->due = now + backoff(++e->tries);
        }
        p = &e->next;
    }
    pthread_mutex_unlock(&net->watch_lock);
    arm(net);
}

static void on_tick_discard(void *arg) { (void)arg; } /* the node stops: nothing is owned */

/* Arms the timer if something waits for an answer. Takes watch_lock. */
static void arm(au_net_t *net) {
    au_net_watches *w = net->watch;
    pthread_mutex_lock(&net->watch_lock);
    if (!w->armed && (w->pending_out || w->notifying))
        w->armed = au_timers_add_call(net->node, au_node_now(net->node) + WATCH_TICK, on_tick,
                                      on_tick_discard, net);
    pthread_mutex_unlock(&net->watch_lock);
}

/* ---- watcher side: the core's calls -------------------------------------------------------- */

void au_net_watch(au_ref ref) {
    au_remote *r = ref.target;
    au_net_t *net = r->net;
    au_net_watches *w = net->watch;
    if (!au_net_remote_pin(ref)) return; /* stale: the core's own pin says otherwise, but be safe */
    au_nanos now = au_node_now(net->node);
    pthread_mutex_lock(&net->watch_lock);
    owatch *o = au_u64map_get(&w->by_slot, key_of(r));
    if (o && o->state != O_UNWATCHING) { /* watched already (cannot happen: the core counts) */
        pthread_mutex_unlock(&net->watch_lock);
        au_net_remote_unpin(r);
        return;
    }
    if (o) { /* an unwatch still unanswered: this watch is a new epoch of the same entry */
        au_u64map_take(&w->by_id, o->id);
        au_net_remote_unpin(r); /* o keeps the pin it has */
    } else if (!(o = calloc(1, sizeof *o)) || !au_u64map_put(&w->by_slot, key_of(r), o)) {
        free(o);
        pthread_mutex_unlock(&net->watch_lock);
        au_net_remote_unpin(r);
        return; /* out of memory: the watch stays node-level */
    } else {
        o->slot = r;
        o->gen = ref.gen;
        w->pending_out++;
        au_stat_add(&net->stats.remote_watches, 1);
    }
    o->id = w->next_id;
    w->next_id += 2;
    if (!au_u64map_put(&w->by_id, o->id, o)) {
        owatch_free(net, o);
        pthread_mutex_unlock(&net->watch_lock);
        return;
    }
    o->state = O_WATCHING;
    o->tries = 0;
    o->first = now;
    o->due = now + backoff(0);
    send_out(net, o, OP_WATCH);
    pthread_mutex_unlock(&net->watch_lock);
    arm(net);
}

void au_net_unwatch(au_ref ref) {
    au_remote *r = ref.target;
    au_net_t *net = r->net;
    au_net_watches *w = net->watch;
    au_nanos now = au_node_now(net->node);
    pthread_mutex_lock(&net->watch_lock);
    owatch *o = au_u64map_get(&w->by_slot, key_of(r));
    if (o && o->state != O_UNWATCHING) {
        if (o->state == O_WATCHED) w->pending_out++;
        o->state = O_UNWATCHING;
        o->tries = 0;
        o->first = now;
        o->due = now + backoff(0);
        send_out(net, o, OP_UNWATCH);
    }
    pthread_mutex_unlock(&net->watch_lock);
    arm(net);
}

/* ---- target side: a local actor stopped ---------------------------------------------------- */

void au_net_watched_stopped(au_node *node, au_cell *cell, uint32_t gen) {
    au_net_t *net = node->net;
    au_net_watches *w = net->watch;
    pthread_mutex_lock(&net->watch_lock);
    iwatch *e = w->count ? au_u64map_take(&w->by_cell, key_of(cell)) : NULL;
    if (!e) {
        pthread_mutex_unlock(&net->watch_lock);
        return;
    }
    au_nanos now = au_node_now(node);
    for (iwatch *n; e; e = n) {
        n = e->next;
        if (e->gen != gen) { /* cannot happen: entries leave with their incarnation */
            iwatch_free(net, e);
            continue;
        }
        e->state = I_NOTIFYING;
        e->first = now;
        e->tries = 0;
        e->due = now + backoff(0);
        e->next = w->notifying;
        w->notifying = e;
        send_in(net, e, OP_TERMINATED);
        au_stat_add(&net->stats.watch_notices_sent, 1);
    }
    pthread_mutex_unlock(&net->watch_lock);
    arm(net);
}

/* ---- the node at an address is gone --------------------------------------------------------- */

static uint64_t node_key(au_net_t *net, const au_addr *a) {
    uint64_t h = au_addr_hash(a);
    return XXH3_64bits_withSeed(&h, sizeof h, net->hash_seed) | 1; /* never 0 (empty) */
}

static wnode *wnode_find(au_net_t *net, const au_addr *a) {
    wnode *x = au_u64map_get(&net->watch->by_node, node_key(net, a));
    while (x && !au_addr_equal(&x->addr, a)) x = x->next;
    return x;
}

/* With watch_lock: every entry the node `x` holds here goes (x with the last one). */
static void drop_wnode(au_net_t *net, wnode *x) {
    au_net_watches *w = net->watch;
    size_t n = x->n;
    for (iwatch **p = &w->notifying; *p && n;) {
        iwatch *e = *p;
        if (e->from != x) {
            p = &e->next;
            continue;
        }
        *p = e->next;
        n--;
        iwatch_free(net, e);
    }
    for (size_t i = 0; i < w->by_cell.cap && n; i++) {
        if (!w->by_cell.keys[i]) continue;
        uint64_t key = w->by_cell.keys[i];
        iwatch *head = w->by_cell.values[i];
        for (iwatch **p = &head; *p && n;) {
            iwatch *e = *p;
            if (e->from != x) {
                p = &e->next;
                continue;
            }
            *p = e->next;
            n--;
            iwatch_free(net, e);
        }
        if (head) {
            w->by_cell.values[i] = head;
        } else {
            au_u64map_take(&w->by_cell, key);
            i--; /* backward-shift deletion may have moved another entry here */
        }
    }
}

void au_net_watch_gone(au_node *node, const struct sockaddr *sa) {
    au_net_t *net = node->net;
    au_net_watches *w = net->watch;
    au_addr a = { .len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                    : sizeof(struct sockaddr_in) };
    memcpy(&a.sa, sa, a.len);
    pthread_mutex_lock(&net->watch_lock);
    for (size_t i = 0; i < w->by_id.cap; i++) { /* our watches of its actors */
        owatch *o = w->by_id.keys[i] ? w->by_id.values[i] : NULL;
        if (o && au_addr_equal(&o->slot->peer->addr, &a)) {
            owatch_free(net, o);
            i--;
        }
    }
    wnode *x = wnode_find(net, &a); /* its watches of ours */
    if (x) drop_wnode(net, x);
    pthread_mutex_unlock(&net->watch_lock);
}

void au_net_watch_restarted(au_net_t *net, const au_addr *from) {
    au_watches_remote_gone(net->node, (const struct sockaddr *)&from->sa);
}

/* ---- arriving system messages --------------------------------------------------------------- */

/* The watcher's owatch an answer names, if the answer fits it. With watch_lock. */
static owatch *answered(au_net_t *net, const au_addr *from, const au_wire_message *m) {
    owatch *o = au_u64map_get(&net->watch->by_id, m->dest.iface_type);
    if (!o || !au_addr_equal(&o->slot->peer->addr, from) ||
        o->slot->root_id != m->dest.root_type || o->slot->name_len != m->dest.name_len ||
        memcmp(o->slot->name, m->dest.name, m->dest.name_len) != 0)
        return NULL;
    return o;
}

/* The target-side entry (from, id): active (in its actor's list) or notifying. With watch_lock;
 * unlinks it and returns it, or NULL. */
static iwatch *take_entry(au_net_t *net, wnode *x, const au_wire_message *m) {
    au_net_watches *w = net->watch;
    uint64_t id = m->dest.iface_type;
    for (iwatch **p = &w->notifying; *p; p = &(*p)->next) {
        if ((*p)->from == x && (*p)->id == id) {
            iwatch *e = *p;
            *p = e->next;
            return e;
        }
    }
    au_cell *cell;
    uint32_t gen;
    if (au_registry_find(net->node, (const char *)m->dest.name, m->dest.name_len,
                         m->dest.root_type, &cell, &gen, NULL) != AU_OK)
        return NULL;
    iwatch *head = au_u64map_get(&w->by_cell, key_of(cell));
    for (iwatch **p = &head; *p; p = &(*p)->next) {
        if ((*p)->from == x && (*p)->id == id) {
            iwatch *e = *p;
            *p = e->next;
            map_replace(&w->by_cell, key_of(cell), head);
            return e;
        }
    }
    return NULL;
}

static void on_watch(au_net_t *net, const au_addr *from, uint64_t incarnation,
                     const au_wire_message *m, const char *text) {
    au_net_watches *w = net->watch;
    wnode *x = wnode_find(net, from);
    if (x && incarnation != x->incarnation) {
        if (incarnation < x->incarnation) return; /* a datagram of a past run, arriving late */
        drop_wnode(net, x); /* the watcher restarted: what its past run watched is void */
        x = NULL;
    }
    au_cell *cell;
    uint32_t gen;
    if (au_registry_find(net->node, (const char *)m->dest.name, m->dest.name_len,
                         m->dest.root_type, &cell, &gen, NULL) != AU_OK ||
        !au_cell_def_if_alive(cell, gen)) {
        /* Not here (never was, stopped, another root type): terminated now, no state kept. A
         * lost answer is asked for again by the watcher's retransmission. */
        reply(net, from, m, OP_TERMINATED);
        au_stat_add(&net->stats.watch_notices_sent, 1);
        return;
    }
    iwatch *head = au_u64map_get(&w->by_cell, key_of(cell));
    for (iwatch *e = head; e && x; e = e->next) {
        if (e->from == x) { /* watched by that node already: a retransmission or a new epoch */
            e->id = m->dest.iface_type;
            send_in(net, e, OP_WATCH_ACK);
            return;
        }
    }
    /* A watching node pins its peer for as long as it watches, and a peer in use is never
     * evicted: watching nodes from as many source addresses as max_peers would take every peer
     * and leave no room to answer any new node. They hold at most half of them. */
    size_t max_nodes = net->max_peers / 2 ? net->max_peers / 2 : 1;
    if (w->count >= w->max || (x && x->n >= w->per_node) || (!x && w->nodes >= max_nodes)) {
        au_stat_add(&net->stats.watch_refused, 1);
        au_net_warn(net, text, AU_NET_WARN_WATCH_REFUSED, NULL); /* one line per peer */
        reply(net, from, m, OP_WATCH_REFUSED);
        return;
    }
    bool new_node = !x;
    if (new_node) {
        au_peer *peer = au_net_peer_acquire(net, from, true, NULL);
        if (!peer || !(x = calloc(1, sizeof *x))) {
            if (peer) {
                pthread_mutex_lock(&net->lock);
                au_net_peer_release_locked(net, peer);
                pthread_mutex_unlock(&net->lock);
            }
            au_stat_add(&net->stats.watch_refused, 1);
            return; /* no room for its peer: the watcher retransmits */
        }
        x->addr = *from;
        x->key = node_key(net, from);
        x->incarnation = incarnation;
        x->peer = peer;
    }
    iwatch *e = calloc(1, sizeof *e + m->dest.name_len);
    if (!e) goto fail;
    if (new_node) {
        x->next = au_u64map_get(&w->by_node, x->key);
        if (!au_u64map_put(&w->by_node, x->key, x)) goto fail;
    }
    e->next = head;
    if (!au_u64map_put(&w->by_cell, key_of(cell), e)) {
        if (new_node) map_replace(&w->by_node, x->key, x->next); /* undo: x is unreferenced */
        goto fail;
    }
    e->cell = cell;
    e->gen = gen;
    e->state = I_ACTIVE;
    e->name_len = (uint8_t)m->dest.name_len;
    memcpy(e->name, m->dest.name, m->dest.name_len);
    e->root_id = m->dest.root_type;
    e->id = m->dest.iface_type;
    e->from = x;
    x->n++;
    if (new_node) w->nodes++;
    w->count++;
    au_stat_add(&net->stats.remote_watched, 1);
    send_in(net, e, OP_WATCH_ACK);
    return;
fail:
    free(e);
    if (new_node) {
        pthread_mutex_lock(&net->lock);
        au_net_peer_release_locked(net, x->peer);
        pthread_mutex_unlock(&net->lock);
        free(x);
    }
}

void au_net_watch_receive(au_net_t *net, const au_addr *from, uint64_t incarnation,
                          const au_wire_message *m, const char *text) {
    if (m->payload_len != 1 || m->dest.iface_type == 0) {
        au_stat_add(&net->stats.drops_malformed, 1);
        au_log(AU_LOG_NET, AU_LOG_DEBUG, "system message from %s dropped: malformed", text);
        return;
    }
    uint8_t op = m->payload[0];
    au_remote *ended = NULL; /* a watch the target's node ended: its slot, pinned, and gen */
    uint32_t ended_gen = 0;
    pthread_mutex_lock(&net->watch_lock);
    au_net_watches *w = net->watch;
    switch (op) {
    case OP_WATCH:
        on_watch(net, from, incarnation, m, text);
        break;
    case OP_UNWATCH: {
        wnode *x = wnode_find(net, from);
        iwatch *e = x ? take_entry(net, x, m) : NULL;
        if (e) {
            send_in(net, e, OP_UNWATCH_ACK); /* before the free: it may take the wnode */
            iwatch_free(net, e);
        } else {
            reply(net, from, m, OP_UNWATCH_ACK);
        }
        break;
    }
    case OP_TERMINATED_ACK: {
        wnode *x = wnode_find(net, from);
        uint64_t id = m->dest.iface_type;
        for (iwatch **p = &w->notifying; x && *p; p = &(*p)->next) {
            if ((*p)->from == x && (*p)->id == id) {
                iwatch *e = *p;
                *p = e->next;
                iwatch_free(net, e);
                break;
            }
        }
        break;
    }
    case OP_TERMINATED: {
        owatch *o = answered(net, from, m);
        if (o) {
            send_out(net, o, OP_TERMINATED_ACK);
            if (o->state != O_UNWATCHING) {
                au_stat_add(&net->stats.watch_terminated_received, 1);
                ended = o->slot;
                ended_gen = o->gen;
                /* relaxed suffices: o's own pin keeps the slot in place while this is added */
                atomic_fetch_add_explicit(&ended->pins, 1, memory_order_relaxed);
            }
            owatch_free(net, o);
        } else {
            reply(net, from, m, OP_TERMINATED_ACK); /* stop the target retransmitting */
        }
        break;
    }
    case OP_WATCH_ACK:
    case OP_WATCH_REFUSED: {
        owatch *o = answered(net, from, m);
        if (o && o->state == O_WATCHING) {
            o->state = O_WATCHED;
            w->pending_out--;
            if (op == OP_WATCH_REFUSED) {
                au_stat_add(&net->stats.watch_refused_by_peer, 1);
                au_log(AU_LOG_NET, AU_LOG_WARN,
                       "%s refused to watch '%.*s' for this node (its max_remote_watches is "
                       "reached): only its node going away will be reported", text,
                       (int)o->slot->name_len, o->slot->name);
            }
        }
        break;
    }
    case OP_UNWATCH_ACK: {
        owatch *o = answered(net, from, m);
        if (o && o->state == O_UNWATCHING) owatch_free(net, o);
        break;
    }
    default:
        au_stat_add(&net->stats.drops_malformed, 1);
        au_log(AU_LOG_NET, AU_LOG_DEBUG, "system message from %s dropped: unknown op %u", text, op);
        break;
    }
    pthread_mutex_unlock(&net->watch_lock);
    if (ended) { /* the local watchers, told outside the lock (the core's table is above it) */
        au_watches_remote_stopped(net->node, ended, ended_gen);
        au_net_remote_unpin(ended);
    }
    arm(net);
}
