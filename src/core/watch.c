/* watch.c — death watch: between local actors, and on remote actors until a layer declares
 * their node gone (au_peer_gone).
 *
 * A node-wide table, guarded by one mutex, maps a watched cell to its incarnation and watchers.
 * Watches are rare next to messages, so one lock is the simple choice. The order that makes it
 * race-free: a stopping actor changes its gen *before* it takes the table (target_stopped), and
 * au_watch checks the gen *under* the table lock, so a watch either lands in the table before the
 * stop collects it, or sees the actor gone and is answered at once. */
#include "core/internal.h"

#include <stdlib.h>

#include "util/u64map.h"

typedef struct watch_entry {
    uint32_t gen;
    size_t n, cap;
    au_ref *watchers; /* local cell references (cell + gen) */
} watch_entry;

/* A local actor watching a remote one. Remote watches are few (one per monitored peer actor),
 * so a flat array scanned on watch, unwatch and peer loss is enough. */
typedef struct remote_watch {
    au_ref watcher; /* local cell reference */
    au_ref target;  /* remote reference */
} remote_watch;

typedef struct au_watches {
    pthread_mutex_t lock;
    au_u64map by_cell;
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
    free(w->remote);
    pthread_mutex_destroy(&w->lock);
    free(w);
    node->watches = NULL;
}

static void notify(au_ref watcher, au_ref who) {
    au_envelope *env = au_envelope_new(AU_ENV_TERMINATED, sizeof(au_ref));
    if (!env) return;
    env->gen = watcher.gen;
    *(au_ref *)env->payload = who;
    au_cell_push(watcher.target, env);
}

static au_err watch_remote(au_watches *w, au_ref self, au_ref target) {
    if (!au_remote_layer()->pin(target)) return AU_ESTOPPED; /* its slot was reused: stale */
    pthread_mutex_lock(&w->lock);
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
    w->remote[w->nremote++] = (remote_watch){ self, target };
    pthread_mutex_unlock(&w->lock);
    return AU_OK;
}

static au_err unwatch_remote(au_watches *w, au_ref self, au_ref target) {
    au_err result = AU_ENOTFOUND;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->nremote; i++) {
        remote_watch *r = &w->remote[i];
        if (r->watcher.target == self.target && r->watcher.gen == self.gen &&
            au_ref_equal(r->target, target)) {
            *r = w->remote[--w->nremote];
            result = AU_OK;
            break;
        }
    }
    pthread_mutex_unlock(&w->lock);
    if (!result) au_remote_layer()->unpin(target);
    return result;
}

au_err au_peer_gone(au_node *node, const char *address) {
    if (!node || !address) return AU_EINVAL;
    if (!node->net) return AU_ESTATE;
    struct sockaddr_storage addr;
    socklen_t len;
    au_err err = au_address_resolve(address, &addr, &len);
    if (err) return err;
    au_watches *w = node->watches;
    /* Taken out under the lock, told outside it (a push may schedule). */
    remote_watch *gone = NULL;
    size_t ngone = 0;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->nremote;) {
        if (au_remote_layer()->is_at(w->remote[i].target, (const struct sockaddr *)&addr)) {
            remote_watch *g = realloc(gone, (ngone + 1) * sizeof *g);
            if (!g) break; /* the rest stay watched: a later au_peer_gone tells them */
            gone = g;
            gone[ngone++] = w->remote[i];
            w->remote[i] = w->remote[--w->nremote];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < ngone; i++) {
        notify(gone[i].watcher, gone[i].target);
        au_remote_layer()->unpin(gone[i].target);
    }
    free(gone);
    au_peer_event_emit(node, &(au_peer_event){ .kind = AU_PEER_GONE, .address = address });
    return AU_OK;
}

au_err au_watch_(au_ctx *ctx, au_ref target) {
    if (!ctx || !target.target) return AU_EINVAL;
    if (target.flags & AU_REF_F_REMOTE)
        return watch_remote(ctx->node->watches, au_ctx_self_(ctx), target);
    au_watches *w = ctx->node->watches;
    au_cell *tc = target.target;
    au_ref self = au_ctx_self_(ctx);
    pthread_mutex_lock(&w->lock);
    if (!au_cell_def_if_alive(tc, target.gen)) {
        pthread_mutex_unlock(&w->lock);
        notify(self, target);
        return AU_OK;
    }
    watch_entry *e = au_u64map_get(&w->by_cell, (uint64_t)(uintptr_t)tc);
    if (e && e->gen != target.gen) { /* stale entry of a past incarnation */
        e->n = 0;
        e->gen = target.gen;
    }
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e || !au_u64map_put(&w->by_cell, (uint64_t)(uintptr_t)tc, e)) {
            free(e);
            pthread_mutex_unlock(&w->lock);
            return AU_ENOMEM;
        }
        e->gen = target.gen;
    }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 4;
        au_ref *ws = realloc(e->watchers, cap * sizeof *ws);
        if (!ws) {
            pthread_mutex_unlock(&w->lock);
            return AU_ENOMEM;
        }
        e->watchers = ws;
        e->cap = cap;
    }
    e->watchers[e->n++] = self;
    pthread_mutex_unlock(&w->lock);
    return AU_OK;
}

au_err au_unwatch_(au_ctx *ctx, au_ref target) {
    if (!ctx || !target.target) return AU_EINVAL;
    if (target.flags & AU_REF_F_REMOTE)
        return unwatch_remote(ctx->node->watches, au_ctx_self_(ctx), target);
    au_watches *w = ctx->node->watches;
    au_ref self = au_ctx_self_(ctx);
    au_err result = AU_ENOTFOUND;
    pthread_mutex_lock(&w->lock);
    watch_entry *e = au_u64map_get(&w->by_cell, (uint64_t)(uintptr_t)target.target);
    if (e && e->gen == target.gen) {
        for (size_t i = 0; i < e->n; i++) {
            if (e->watchers[i].target == self.target && e->watchers[i].gen == self.gen) {
                e->watchers[i] = e->watchers[--e->n];
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
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->nremote;) { /* the stopped actor's own remote watches end */
        if (w->remote[i].watcher.target == cell && w->remote[i].watcher.gen == gen) {
            au_remote_layer()->unpin(w->remote[i].target);
            w->remote[i] = w->remote[--w->nremote];
        } else {
            i++;
        }
    }
    watch_entry *e = au_u64map_take(&w->by_cell, (uint64_t)(uintptr_t)cell);
    pthread_mutex_unlock(&w->lock);
    if (!e) return;
    if (e->gen == gen) {
        const au_actor_def *def = atomic_load_explicit(&cell->def, memory_order_relaxed);
        au_ref who = au_cell_ref(cell, gen, def->root, AU_WHOLE);
        for (size_t i = 0; i < e->n; i++) notify(e->watchers[i], who);
    }
    free(e->watchers);
    free(e);
}
