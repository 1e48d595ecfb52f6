/* watch.c — death watch: between local actors, and the local half of watches on remote actors.
 *
 * A remote watch is kept here as (local watcher, remote reference), its slot pinned; the remote
 * path (net/watch.c, through the remote layer's watch/unwatch) runs the protocol with the
 * target's node, once per watched remote slot: it is told when the first local watcher of a
 * slot arrives and when the last one leaves (unwatch, or the watcher stopping), and it calls
 * au_watches_remote_stopped when that node says the actor stopped. A node declared gone
 * (au_peer_gone) or seen restarted ends every watch on its actors (au_watches_remote_gone).
 * Each remote watch is told at most once: whichever of these comes first takes it out of the
 * table under the lock, the others find nothing.
 *
 * A node-wide table, guarded by one mutex, maps a watched cell of this node to its incarnation
 * and watchers, which may be actors of other nodes of the process (a local reference from
 * au_spawn on this node): the table of the watched actor's node, the one its stop reads.
 * Watches are rare next to messages, so one lock is the simple choice. A watch ends when its
 * watcher stops, wherever it is kept: the watcher's node finds its watches in its own table
 * (by_watcher, its remote watches) and in the tables of the other nodes it noted (foreign),
 * each taken alone while that node is still live. The order that makes it
 * race-free: a stopping actor changes its gen *before* it takes the table (target_stopped), and
 * au_watch checks the gen *under* the table lock, so a watch either lands in the table before the
 * stop collects it, or sees the actor gone and is answered at once. */
#include "core/internal.h"

#include <stdlib.h>

#include "util/u64map.h"

/* A watcher of a local actor: an actor of this node or of another node of the process (a
 * local reference may come from au_spawn on another node). Kept by the watched actor's node,
 * which is the one that sees it stop; the watcher's node is named by id (au_node_push_if_live),
 * as it may be stopped and freed first. */
typedef struct local_watcher {
    au_ref ref;       /* cell + gen */
    uint64_t node_id; /* of the watcher's node */
} local_watcher;

typedef struct watch_entry {
    uint32_t gen;
    size_t n, cap;
    local_watcher *watchers;
} watch_entry;

/* A local actor watching a remote one. Remote watches are few (one per monitored peer actor),
 * so a flat array scanned on watch, unwatch and peer loss is enough. Kept by the node the
 * remote reference sends through (the one whose transport runs the watch and hears the
 * notice), which may be another node of the process than the watcher's: the watcher's node is
 * then named by id, as for a local watcher. */
typedef struct remote_watch {
    au_ref watcher;           /* local cell reference */
    uint64_t watcher_node;    /* the id of the watcher's node */
    au_ref target;            /* remote reference */
} remote_watch;

/* The actors of this node a watcher watches (its by_cell entries), so its stop ends them:
 * without it a short-lived watcher of a long-lived actor would stay in that actor's list until
 * the actor stops, and the list would grow with every watcher spawned. The watcher may be of
 * another node of the process; cells are distinct while they live, so its cell is the key and
 * (gen, node_id) tell a stale list from its own. */
typedef struct watched_list {
    uint32_t gen;     /* of the watcher */
    uint64_t node_id; /* of the watcher's node */
    size_t n, cap;
    au_ref *targets;  /* cell + gen of each watched actor */
} watched_list;

/* The other nodes of the process whose tables hold watches of a watcher of this node (a local
 * watch of their actor, or a remote watch through their remote reference), so its stop can
 * reach them: each listed once, by id (one may stop first; au_node_with_live). */
typedef struct foreign_list {
    uint32_t gen; /* of the watcher */
    size_t n, cap;
    uint64_t *nodes;
} foreign_list;

typedef struct au_watches {
    pthread_mutex_t lock;
    au_u64map by_cell;
    au_u64map by_watcher; /* watcher cell (of any node of the process) -> watched_list */
    au_u64map foreign;    /* watcher cell (of this node) -> foreign_list */
    remote_watch *remote;
    size_t nremote, remote_cap;
} au_watches;

au_err au_watches_create(au_node *node) {
    au_watches *w = calloc(1, sizeof *w);
    if (!w) return AU_ENOMEM;
    pthread_mutex_init(&w->lock, NULL);
    node->watches = w;
    return AU_OK;
}

void au_watches_destroy(au_node *node) {
    au_watches *w = node->watches;
    if (!w) return;
    for (size_t i = 0; i < w->by_cell.cap; i++) {
        watch_entry *e = w->by_cell.values[i];
        if (w->by_cell.keys[i] && e) {
            free(e->watchers);
            free(e);
        }
    }
    au_u64map_free(&w->by_cell);
    for (size_t i = 0; i < w->by_watcher.cap; i++) {
        watched_list *l = w->by_watcher.values[i];
        if (w->by_watcher.keys[i] && l) {
            free(l->targets);
            free(l);
        }
    }
    au_u64map_free(&w->by_watcher);
    for (size_t i = 0; i < w->foreign.cap; i++) {
        foreign_list *f = w->foreign.values[i];
        if (w->foreign.keys[i] && f) {
            free(f->nodes);
            free(f);
        }
    }
    au_u64map_free(&w->foreign);
    free(w->remote);
    pthread_mutex_destroy(&w->lock);
    free(w);
    node->watches = NULL;
}

static au_envelope *terminated_new(au_ref watcher, au_ref who) {
    au_envelope *env = au_envelope_new(AU_ENV_TERMINATED, sizeof(au_ref));
    if (!env) return NULL;
    env->gen = watcher.gen;
    *(au_ref *)env->payload = who;
    return env;
}

/* Tells a watcher of this node. */
static void notify(au_ref watcher, au_ref who) {
    au_envelope *env = terminated_new(watcher, who);
    if (env) au_cell_push(watcher.target, env);
}

/* Tells a watcher of `node` or of another node of the process, if that one still runs. */
static void notify_local_watcher(const au_node *node, const local_watcher *lw, au_ref who) {
    if (lw->node_id == node->id) {
        notify(lw->ref, who);
        return;
    }
    au_envelope *env = terminated_new(lw->ref, who);
    if (env) au_node_push_if_live(lw->node_id, lw->ref.target, env);
}

static bool is_watcher(const local_watcher *lw, au_ref self, uint64_t node_id) {
    return lw->ref.target == self.target && lw->ref.gen == self.gen && lw->node_id == node_id;
}

/* Local watches of the remote slot of `target` (same slot, same gen). With w->lock. */
static size_t remote_watchers(const au_watches *w, au_ref target) {
    size_t n = 0;
    for (size_t i = 0; i < w->nremote; i++)
        n += w->remote[i].target.target == target.target && w->remote[i].target.gen == target.gen;
    return n;
}

static au_err watch_remote(au_watches *w, au_ref self, uint64_t self_node, au_ref target) {
    if (!au_remote_layer()->pin(target)) {
        /* Its slot was reused: whatever it named is not reachable through it any more, as if
         * it had stopped. Told at once, like a watch on a local actor that is gone. */
        notify(self, target);
        return AU_OK;
    }
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->nremote; i++) {
        const remote_watch *r = &w->remote[i];
        if (r->watcher.target == self.target && r->watcher.gen == self.gen &&
            r->watcher_node == self_node &&
            au_ref_equal(r->target, target)) { /* watched already: one watch, one notice */
            pthread_mutex_unlock(&w->lock);
            au_remote_layer()->unpin(target);
            return AU_OK;
        }
    }
    if (w->nremote == w->remote_cap) {
        size_t cap = w->remote_cap ? w->remote_cap * 2 : 8;
        remote_watch *r = realloc(w->remote, cap * sizeof *r);
        if (!r) {
            pthread_mutex_unlock(&w->lock);
            au_remote_layer()->unpin(target);
            return AU_ENOMEM;
        }
        w->remote = r;
        w->remote_cap = cap;
    }
    w->remote[w->nremote++] = (remote_watch){ self, self_node, target };
    /* The first local watcher of that actor: the remote path asks its node to watch it. Under
     * the lock, so first and last are seen in order (the remote path never calls back into
     * this table while holding its own lock). */
    if (remote_watchers(w, target) == 1) au_remote_layer()->watch(target);
    pthread_mutex_unlock(&w->lock);
    return AU_OK;
}

static au_err unwatch_remote(au_watches *w, au_ref self, uint64_t self_node, au_ref target) {
    au_err result = AU_ENOTFOUND;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->nremote; i++) {
        remote_watch *r = &w->remote[i];
        if (r->watcher.target == self.target && r->watcher.gen == self.gen &&
            r->watcher_node == self_node && au_ref_equal(r->target, target)) {
            *r = w->remote[--w->nremote];
            result = AU_OK;
            break;
        }
    }
    if (!result && remote_watchers(w, target) == 0) au_remote_layer()->unwatch(target);
    pthread_mutex_unlock(&w->lock);
    if (!result) au_remote_layer()->unpin(target);
    return result;
}

/* Takes out (under the lock) the remote watches matching `match`, then tells each watcher and
 * unpins (outside it: a push may schedule). */
static void end_remote_watches(au_node *node, bool (*match)(const remote_watch *, const void *),
                               const void *arg) {
    au_watches *w = node->watches;
    remote_watch *gone = NULL;
    size_t ngone = 0;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->nremote;) {
        if (match(&w->remote[i], arg)) {
            remote_watch *g = realloc(gone, (ngone + 1) * sizeof *g);
            if (!g) break; /* the rest stay watched: a later notice or au_peer_gone tells them */
            gone = g;
            gone[ngone++] = w->remote[i];
            w->remote[i] = w->remote[--w->nremote];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < ngone; i++) {
        local_watcher lw = { gone[i].watcher, gone[i].watcher_node };
        notify_local_watcher(node, &lw, gone[i].target);
        au_remote_layer()->unpin(gone[i].target);
    }
    free(gone);
}

static bool at_address(const remote_watch *r, const void *addr) {
    return au_remote_layer()->is_at(r->target, addr);
}

void au_watches_remote_gone(au_node *node, const struct sockaddr *addr) {
    end_remote_watches(node, at_address, addr);
    /* The remote path forgets its watches of that node's actors (nothing is sent: the node is
     * gone) and the watches that node held here. */
    au_remote_layer()->watch_gone(node, addr);
}

typedef struct slot_gen {
    void *slot;
    uint32_t gen;
} slot_gen;

static bool on_slot(const remote_watch *r, const void *arg) {
    const slot_gen *sg = arg;
    return r->target.target == sg->slot && r->target.gen == sg->gen;
}

void au_watches_remote_stopped(au_node *node, void *slot, uint32_t gen) {
    end_remote_watches(node, on_slot, &(slot_gen){ slot, gen });
}

au_err au_peer_gone(au_node *node, const char *address) {
    if (!node || !address) return AU_EINVAL;
    if (!node->net) return AU_ESTATE;
    struct sockaddr_storage addr;
    socklen_t len;
    au_err err = au_address_resolve(address, &addr, &len);
    if (err) return err;
    au_watches_remote_gone(node, (const struct sockaddr *)&addr);
    au_peer_event_emit(node, &(au_peer_event){ .kind = AU_PEER_GONE, .address = address });
    return AU_OK;
}

/* Records that `watcher` (of node watcher_node) watches `target` (of this node). With w->lock. */
static bool watched_add(au_watches *w, au_ref watcher, uint64_t watcher_node, au_ref target) {
    uint64_t key = (uint64_t)(uintptr_t)watcher.target;
    watched_list *l = au_u64map_get(&w->by_watcher, key);
    if (l && (l->gen != watcher.gen || l->node_id != watcher_node))
        l->n = 0; /* a past incarnation's, left by a stop that could not reach this table */
    if (!l) {
        l = calloc(1, sizeof *l);
        if (!l || !au_u64map_put(&w->by_watcher, key, l)) {
            free(l);
            return false;
        }
    }
    l->gen = watcher.gen;
    l->node_id = watcher_node;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 2;
        au_ref *t = realloc(l->targets, cap * sizeof *t);
        if (!t) {
            if (l->n == 0) {
                au_u64map_take(&w->by_watcher, key);
                free(l->targets);
                free(l);
            }
            return false;
        }
        l->targets = t;
        l->cap = cap;
    }
    l->targets[l->n++] = target;
    return true;
}

/* Forgets that `watcher` (of node watcher_node) watches `target` (the actor stopped, or was
 * unwatched). With w->lock. */
static void watched_remove(au_watches *w, au_ref watcher, uint64_t watcher_node, au_cell *target,
                           uint32_t gen) {
    uint64_t key = (uint64_t)(uintptr_t)watcher.target;
    watched_list *l = au_u64map_get(&w->by_watcher, key);
    if (!l || l->gen != watcher.gen || l->node_id != watcher_node) return;
    for (size_t i = 0; i < l->n; i++) {
        if (l->targets[i].target == target && l->targets[i].gen == gen) {
            l->targets[i] = l->targets[--l->n];
            break;
        }
    }
    if (l->n == 0) {
        au_u64map_take(&w->by_watcher, key);
        free(l->targets);
        free(l);
    }
}

/* Removes watcher i of entry e (of watched actor `cell`), keeping by_watcher and the gauge. With
 * w->lock. */
static void entry_remove(au_node *node, au_watches *w, watch_entry *e, au_cell *cell, size_t i) {
    local_watcher lw = e->watchers[i];
    e->watchers[i] = e->watchers[--e->n];
    watched_remove(w, lw.ref, lw.node_id, cell, e->gen);
    au_stat_sub(&node->stats.local_watches, 1);
}

/* Notes in the watcher's own table (own) that the table of node `other` holds a watch of it, so
 * its stop reaches that table (leave_foreign). Takes own->lock: called with no other table's
 * lock held. Without memory the watch stays there until its target stops, as it always did. */
static void foreign_add(au_watches *own, au_ref watcher, uint64_t other) {
    uint64_t key = (uint64_t)(uintptr_t)watcher.target;
    pthread_mutex_lock(&own->lock);
    foreign_list *f = au_u64map_get(&own->foreign, key);
    if (f && f->gen != watcher.gen) f->n = 0; /* a past incarnation's */
    if (!f) {
        f = calloc(1, sizeof *f);
        if (!f || !au_u64map_put(&own->foreign, key, f)) {
            free(f);
            pthread_mutex_unlock(&own->lock);
            return;
        }
    }
    f->gen = watcher.gen;
    for (size_t i = 0; i < f->n; i++)
        if (f->nodes[i] == other) {
            pthread_mutex_unlock(&own->lock);
            return;
        }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 2;
        uint64_t *nodes = realloc(f->nodes, cap * sizeof *nodes);
        if (!nodes) {
            pthread_mutex_unlock(&own->lock);
            return;
        }
        f->nodes = nodes;
        f->cap = cap;
    }
    f->nodes[f->n++] = other;
    pthread_mutex_unlock(&own->lock);
}

/* Ends the watches that watcher (cell, gen) of node watcher_node holds in node's table: its
 * remote watches through node's remote references, and its place in the lists of node's actors.
 * With node->watches->lock. */
static void leave_watches(au_node *node, au_cell *cell, uint32_t gen, uint64_t watcher_node) {
    au_watches *w = node->watches;
    for (size_t i = 0; i < w->nremote;) {
        if (w->remote[i].watcher.target == cell && w->remote[i].watcher.gen == gen &&
            w->remote[i].watcher_node == watcher_node) {
            au_ref target = w->remote[i].target;
            w->remote[i] = w->remote[--w->nremote];
            if (remote_watchers(w, target) == 0) au_remote_layer()->unwatch(target);
            au_remote_layer()->unpin(target);
        } else {
            i++;
        }
    }
    watched_list *l = au_u64map_get(&w->by_watcher, (uint64_t)(uintptr_t)cell);
    if (!l || l->gen != gen || l->node_id != watcher_node) return;
    au_u64map_take(&w->by_watcher, (uint64_t)(uintptr_t)cell);
    au_ref self = { .target = cell, .gen = gen };
    for (size_t k = 0; k < l->n; k++) {
        watch_entry *t = au_u64map_get(&w->by_cell, (uint64_t)(uintptr_t)l->targets[k].target);
        if (!t || t->gen != l->targets[k].gen) continue;
        for (size_t i = 0; i < t->n; i++) {
            if (is_watcher(&t->watchers[i], self, watcher_node)) {
                t->watchers[i] = t->watchers[--t->n]; /* its by_watcher list is gone already */
                au_stat_sub(&node->stats.local_watches, 1);
                break;
            }
        }
    }
    free(l->targets);
    free(l);
}

typedef struct leaving {
    au_cell *cell;
    uint32_t gen;
    uint64_t watcher_node;
} leaving;

static void leave_locked(au_node *node, void *arg) { /* under the lock of live nodes */
    const leaving *g = arg;
    pthread_mutex_lock(&node->watches->lock);
    leave_watches(node, g->cell, g->gen, g->watcher_node);
    pthread_mutex_unlock(&node->watches->lock);
}

/* The stopped watcher's watches held in other nodes' tables end too (those still live). Each
 * table is taken alone, under the lock of live nodes, never inside another table's lock. */
static void leave_foreign(foreign_list *f, au_cell *cell, uint32_t gen, uint64_t watcher_node) {
    if (f->gen == gen)
        for (size_t i = 0; i < f->n; i++)
            au_node_with_live(f->nodes[i], leave_locked,
                              &(leaving){ .cell = cell, .gen = gen, .watcher_node = watcher_node });
    free(f->nodes);
    free(f);
}

au_err au_watch_(au_ctx *ctx, au_ref target) {
    if (!ctx || !target.target) return AU_EINVAL;
    if (target.flags & AU_REF_F_REMOTE) { /* in the node it sends through, as below */
        au_node *via = au_remote_layer()->node_of(target);
        au_err err = watch_remote(via->watches, au_ctx_self_(ctx), ctx->node->id, target);
        if (err == AU_OK && via != ctx->node)
            foreign_add(ctx->node->watches, au_ctx_self_(ctx), via->id);
        return err;
    }
    au_cell *tc = target.target;
    /* In the target's node (maybe another node of the process): its stop reads that table. */
    au_watches *w = tc->node->watches;
    au_ref self = au_ctx_self_(ctx);
    uint64_t self_node = ctx->node->id;
    pthread_mutex_lock(&w->lock);
    if (!au_cell_def_if_alive(tc, target.gen)) {
        pthread_mutex_unlock(&w->lock);
        notify(self, target);
        return AU_OK;
    }
    watch_entry *e = au_u64map_get(&w->by_cell, (uint64_t)(uintptr_t)tc);
    if (e && e->gen != target.gen) /* stale entry of a past incarnation */
        while (e->n) entry_remove(tc->node, w, e, tc, e->n - 1);
    if (e) e->gen = target.gen;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || !au_u64map_put(&w->by_cell, (uint64_t)(uintptr_t)tc, e)) {
            free(e);
            pthread_mutex_unlock(&w->lock);
            return AU_ENOMEM;
        }
        e->gen = target.gen;
    }
    for (size_t i = 0; i < e->n; i++) {
        if (is_watcher(&e->watchers[i], self, self_node)) {
            pthread_mutex_unlock(&w->lock); /* watched already: one watch, one notice */
            return AU_OK;
        }
    }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 4;
        local_watcher *ws = realloc(e->watchers, cap * sizeof *ws);
        if (!ws) {
            pthread_mutex_unlock(&w->lock);
            return AU_ENOMEM;
        }
        e->watchers = ws;
        e->cap = cap;
    }
    /* The watcher is found again when it stops (by_watcher); one of another node of the
     * process through its own table, which notes this one (foreign_add, after this lock: the
     * watcher runs this turn, so it cannot stop in between). */
    if (!watched_add(w, self, self_node, target)) {
        pthread_mutex_unlock(&w->lock);
        return AU_ENOMEM;
    }
    e->watchers[e->n++] = (local_watcher){ self, self_node };
    au_stat_add(&tc->node->stats.local_watches, 1);
    pthread_mutex_unlock(&w->lock);
    if (self_node != tc->node->id) foreign_add(ctx->node->watches, self, tc->node->id);
    return AU_OK;
}

au_err au_unwatch_(au_ctx *ctx, au_ref target) {
    if (!ctx || !target.target) return AU_EINVAL;
    if (target.flags & AU_REF_F_REMOTE)
        return unwatch_remote(au_remote_layer()->node_of(target)->watches, au_ctx_self_(ctx),
                              ctx->node->id, target);
    au_cell *tc = target.target;
    au_watches *w = tc->node->watches; /* where au_watch put it */
    au_ref self = au_ctx_self_(ctx);
    au_err result = AU_ENOTFOUND;
    pthread_mutex_lock(&w->lock);
    watch_entry *e = au_u64map_get(&w->by_cell, (uint64_t)(uintptr_t)tc);
    if (e && e->gen == target.gen) {
        for (size_t i = 0; i < e->n; i++) {
            if (is_watcher(&e->watchers[i], self, ctx->node->id)) {
                entry_remove(tc->node, w, e, tc, i);
                result = AU_OK;
                break;
            }
        }
    }
    pthread_mutex_unlock(&w->lock);
    return result;
}

void au_watches_target_stopped(au_node *node, au_cell *cell, uint32_t gen) {
    au_watches *w = node->watches;
    /* Other nodes watching this actor are told (the remote path's table; nothing to do on a
     * local node). After the gen changed (actor.c), so a watch request arriving meanwhile
     * either is in that table already or sees the actor gone. */
    if (node->net) au_remote_layer()->watched_stopped(node, cell, gen);
    pthread_mutex_lock(&w->lock);
    /* The stopped actor's own watches end: its remote watches and its places in the lists of
     * this node's actors here; those in other nodes' tables below (leave_foreign). */
    leave_watches(node, cell, gen, node->id);
    foreign_list *f = au_u64map_take(&w->foreign, (uint64_t)(uintptr_t)cell);
    watch_entry *e = au_u64map_take(&w->by_cell, (uint64_t)(uintptr_t)cell);
    /* Its own watchers: told below; their lists here forget it. */
    if (e)
        for (size_t i = 0; i < e->n; i++) {
            watched_remove(w, e->watchers[i].ref, e->watchers[i].node_id, cell, e->gen);
            au_stat_sub(&node->stats.local_watches, 1);
        }
    pthread_mutex_unlock(&w->lock);
    if (f) leave_foreign(f, cell, gen, node->id);
    if (!e) return;
    if (e->gen == gen) {
        const au_actor_def *def = atomic_load_explicit(&cell->def, memory_order_relaxed);
        au_ref who = au_cell_ref(cell, gen, def->root, AU_WHOLE);
        for (size_t i = 0; i < e->n; i++) notify_local_watcher(node, &e->watchers[i], who);
    }
    free(e->watchers);
    free(e);
}
