/* watch.c — death watch between local actors.
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

typedef struct au_watches {
    pthread_mutex_t lock;
    au_u64map by_cell;
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

au_err au_watch_(au_ctx *ctx, au_ref target) {
    if (!ctx || !target.target) return AU_EINVAL;
    if (target.flags & AU_REF_F_REMOTE) return AU_ESTATE; /* remote watch: cluster layer */
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
    if (target.flags & AU_REF_F_REMOTE) return AU_ESTATE;
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
