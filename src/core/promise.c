/* promise.c — ask: one-shot reply targets.
 *
 * A promise is a small actor whose root type is the reply type itself, so any T_ref (local or,
 * once serialized, remote) can reach it. The first reply wins; the receive timeout (on the node's
 * clock, so simulations can drive it) delivers AU_ETIMEDOUT instead. For a plain thread the
 * outcome is handed over under a mutex; for an actor it is posted back as an AU_ENV_CALL
 * envelope, so the callback runs as one of the asker's own turns.
 *
 * Ownership: the waiter and the promise actor each hold one reference to the au_promise; the
 * last to let go frees it. */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

struct au_promise {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs;            /* guarded by lock */
    bool done;           /* guarded by lock */
    bool completed;      /* the promise actor's own: the outcome was delivered */
    bool waiting;        /* guarded by lock: a thread is blocked in au_promise_wait (counted in
                            the node's promise_waits until the outcome arrives) */
    au_err err;
    au_type *type;
    au_ref ref;          /* the promise actor, as T_ref */
    au_ref asker;        /* for au_ask: the actor to call back; null for a waiting thread */
    au_ask_fn cb;
    au_nanos timeout;
    _Alignas(16) unsigned char *value; /* the reply, owned until taken */
    au_node *node;       /* for au_promise_new's: on node->unwaited until waited on */
    struct au_promise *prev, *next; /* that list, guarded by node->lock */
};

typedef struct promise_state {
    au_promise *p;
} promise_state;

static void release(au_promise *p) {
    pthread_mutex_lock(&p->lock);
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->lock);
    if (!last) return;
    if (p->value) {
        au_value_free(p->type, p->value);
        free(p->value);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}

/* Delivers the outcome once: to the asker as a CALL, or to the waiting thread. */
static void complete(au_promise *p, void *reply, au_err err) {
    if (p->completed) { /* once: a reply, a timeout, or the node stopping, whichever is first */
        if (reply) au_value_free(p->type, reply);
        return;
    }
    p->completed = true;
    if (p->asker.target) {
        au_envelope *env = au_envelope_new(AU_ENV_CALL, sizeof(au_call) + p->type->size);
        if (!env) {
            if (reply) au_value_free(p->type, reply);
            return;
        }
        au_call *call = (au_call *)env->payload;
        call->cb = p->cb;
        call->err = err;
        if (reply) memcpy(call->value, reply, p->type->size);
        env->type = p->type;
        env->gen = p->asker.gen;
        au_cell_push(p->asker.target, env);
        return;
    }
    pthread_mutex_lock(&p->lock);
    if (reply) {
        p->value = malloc(p->type->size);
        if (p->value)
            memcpy(p->value, reply, p->type->size);
        else {
            au_value_free(p->type, reply);
            err = AU_ENOMEM;
        }
    }
    p->err = err;
    p->done = true;
    if (p->waiting) { /* here, on the node's side: a woken waiter may outlive the node */
        p->waiting = false;
        au_stat_sub(&((au_cell *)p->ref.target)->node->stats.promise_waits, 1);
    }
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static void promise_pre_start(au_ctx *ctx, void *s) {
    promise_state *st = s;
    if (st->p->timeout) au_set_receive_timeout(ctx, st->p->timeout);
}

static void promise_recv(au_ctx *ctx, void *s, void *msg) {
    promise_state *st = s;
    au_promise *p = st->p;
    /* Move the reply out: the runtime frees the message after recv, so zero what we took. */
    unsigned char *copy = malloc(p->type->size);
    if (copy) {
        memcpy(copy, msg, p->type->size);
        memset(msg, 0, p->type->size);
        complete(p, copy, AU_OK);
        free(copy);
    } else {
        complete(p, NULL, AU_ENOMEM);
    }
    au_stop_self(ctx);
}

static void promise_timeout(au_ctx *ctx, void *s) {
    promise_state *st = s;
    complete(st->p, NULL, AU_ETIMEDOUT);
    au_stop_self(ctx);
}

static void promise_post_stop(au_ctx *ctx, void *s) {
    promise_state *st = s;
    complete(st->p, NULL, AU_ESTOPPED); /* the node stops first: a waiter must not hang */
    release(st->p);
}

static void no_terminated(au_ctx *c, void *s, au_ref w) {}

/* The promise actor definition for reply type `type`: one per type and node, kept until the node
 * stops (a definition must outlive every incarnation that used it). */
static const au_actor_def *def_for(au_node *node, au_type *type) {
    static const au_actor_def base = {
        .name = "promise", .state_size = sizeof(promise_state), .pre_start = promise_pre_start,
        .recv = promise_recv, .post_stop = promise_post_stop, .timeout = promise_timeout,
        .terminated = no_terminated,
    };
    uint64_t id = au_type_id(type);
    pthread_mutex_lock(&node->lock);
    au_actor_def *def = au_u64map_get(&node->promise_defs, id);
    if (!def && (def = malloc(sizeof *def))) {
        *def = base;
        def->root = type;
        if (!au_u64map_put(&node->promise_defs, id, def)) {
            free(def);
            def = NULL;
        }
    }
    pthread_mutex_unlock(&node->lock);
    return def;
}

void au_promise_defs_free(au_node *node) {
    /* A promise nobody waited on holds the waiter's reference still (its actor has stopped and
     * dropped its own): freed here, or it would outlive the node for ever. */
    while (node->unwaited) {
        au_promise *p = node->unwaited;
        node->unwaited = p->next;
        release(p);
    }
    for (size_t i = 0; i < node->promise_defs.cap; i++)
        if (node->promise_defs.keys[i]) free(node->promise_defs.values[i]);
    au_u64map_free(&node->promise_defs);
}

static au_promise *make(au_node *node, au_type *type, au_nanos timeout, au_ref asker,
                        au_ask_fn cb) {
    if (!node || !type) {
        au_set_last_error_(AU_EINVAL);
        return NULL;
    }
    const au_actor_def *def = def_for(node, type);
    au_promise *p = def ? calloc(1, sizeof *p) : NULL;
    if (!p) {
        au_set_last_error_(AU_ENOMEM);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->refs = 2;
    p->type = type;
    p->asker = asker;
    p->cb = cb;
    p->timeout = timeout;
    promise_state st = { p };
    p->ref = au_spawn_(node, def, &st, NULL);
    if (au_ref_is_null(p->ref)) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->cond);
        free(p);
        return NULL;
    }
    return p;
}

au_promise *au_promise_new_(au_node *node, au_type *type) {
    au_promise *p = make(node, type, 0, (au_ref){ 0 }, NULL);
    if (p) {
        pthread_mutex_lock(&node->lock);
        p->node = node;
        p->next = node->unwaited;
        if (p->next) p->next->prev = p;
        node->unwaited = p;
        pthread_mutex_unlock(&node->lock);
    }
    return p;
}

/* The promise is being waited on: the waiter frees it from now on, not the node's stop. */
static void unlist(au_promise *p) {
    au_node *node = p->node;
    if (!node) return;
    pthread_mutex_lock(&node->lock);
    if (p->prev) p->prev->next = p->next;
    else node->unwaited = p->next;
    if (p->next) p->next->prev = p->prev;
    p->prev = p->next = NULL;
    p->node = NULL;
    pthread_mutex_unlock(&node->lock);
}

au_ref au_promise_ref_(au_promise *p, au_type *type) {
    if (!p || au_type_id(type) != au_type_id(p->type)) return (au_ref){ 0 };
    au_ref r = p->ref;
    r.iface = type;
    return r;
}

au_err au_promise_wait_(au_promise *p, au_type *type, void *out, au_nanos timeout) {
    if (!p) return AU_EINVAL;
    unlist(p);
    if (au_type_id(type) != au_type_id(p->type)) {
        release(p);
        return AU_ETYPE;
    }
    if (au_turn_active()) {
        /* A pooled actor's hook: its worker would block until the reply came, and with one
         * worker (or every worker so waiting) nothing would run to send it, timeout or not. */
        au_log(AU_LOG_CORE, AU_LOG_WARN, "au_promise_wait inside a pooled actor's hook refused: "
                                         "use au_ask, or a dedicated actor");
        release(p);
        return AU_ESTATE;
    }
    /* The deadline is a timer on the node's clock, delivered to the promise actor, so a
     * virtual clock governs it like every other timeout. Posted under the lock, and only if not
     * done: a node that stops completes the promise (under this lock) before it frees the
     * actor, so the actor is still there whenever the post happens. */
    pthread_mutex_lock(&p->lock);
    if (!p->done && ((au_cell *)p->ref.target)->node->stepped) {
        /* A driver that steps the actors (a simulation) runs nothing while this thread blocks:
         * the wait could never end, whatever its timeout. */
        pthread_mutex_unlock(&p->lock);
        release(p);
        return AU_ESTATE;
    }
    if (timeout && !p->done) au_cell_post_timeout(p->ref, timeout);
    if (!p->done) {
        p->waiting = true;
        au_stat_add(&((au_cell *)p->ref.target)->node->stats.promise_waits, 1);
    }
    while (!p->done) pthread_cond_wait(&p->cond, &p->lock);
    au_err err = p->err;
    if (err == AU_OK && p->value) {
        memcpy(out, p->value, p->type->size);
        free(p->value);
        p->value = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    release(p);
    return err;
}

au_ref au_ask_(au_ctx *ctx, au_type *type, au_nanos timeout, au_ask_fn cb) {
    if (!ctx || !cb) {
        au_set_last_error_(AU_EINVAL);
        return (au_ref){ 0 };
    }
    au_promise *p = make(ctx->node, type, timeout, au_ctx_self_(ctx), cb);
    if (!p) return (au_ref){ 0 };
    au_ref r = p->ref;
    release(p); /* the asker does not wait: only the promise actor holds it */
    return r;
}
