/* probe.c — test probes: an actor that moves every message it receives into a queue that test
 * threads wait on (see aurum/testkit.h). Built on the public API only, like any user actor
 * (and util/clock.h, a header-only read of CLOCK_MONOTONIC).
 *
 * Ownership: the test thread and the probe's actor each hold one reference to the au_probe; the
 * last to let go frees it. The actor lets go in post_stop (which runs on every kind of stop,
 * node stop included), the thread in au_probe_free.
 *
 * Invariants, all guarded by `lock`:
 *   - the queue holds `len` values of `type` starting at slot `head` of a ring of `cap` slots;
 *     each queued value owns what it points to, and nothing else does;
 *   - len <= limit; a message that would exceed it is left to the runtime, which frees it;
 *   - once `closed` is set no message is queued any more;
 *   - while `actor_gone` is false the actor's cell is alive (its post_stop, which sets the flag,
 *     has not returned), so p->ref may be used to send it Term.
 * No atomics: every shared field is read and written under the mutex. */
#include <aurum/log.h>
#include <aurum/testkit.h>

#include "util/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct au_probe {
    pthread_mutex_t lock;
    pthread_cond_t cond;  /* on CLOCK_MONOTONIC: a message arrived or the actor stopped */
    int refs;
    bool closed;          /* au_probe_free has begun */
    bool actor_gone;      /* post_stop has run */
    au_type *type;
    au_ref ref;           /* the probe's actor, as a reference to `type` */
    size_t limit;         /* capacity: most values queued at once */
    unsigned char *ring;
    size_t cap, head, len;
    uint64_t dropped;
};

typedef struct probe_state {
    au_probe *p;
} probe_state;

/* ---- the queue (callers hold p->lock) ------------------------------------------------------ */

static unsigned char *slot(au_probe *p, size_t i) {
    return p->ring + ((p->head + i) % p->cap) * p->type->size;
}

/* Makes room for one more value; false if the probe is full or memory ran out. Doubling keeps
 * a million-message burst to ~20 reallocations. */
static bool reserve_one(au_probe *p) {
    if (p->len >= p->limit) return false;
    if (p->len < p->cap) return true;
    size_t ncap = p->cap ? p->cap * 2 : 16;
    if (ncap > p->limit) ncap = p->limit;
    size_t size = p->type->size;
    if (ncap > SIZE_MAX / size) return false;
    unsigned char *nring = malloc(ncap * size);
    if (!nring) return false;
    /* Copy in queue order so the new ring starts at slot 0. */
    for (size_t i = 0; i < p->len; i++) memcpy(nring + i * size, slot(p, i), size);
    free(p->ring);
    p->ring = nring;
    p->cap = ncap;
    p->head = 0;
    return true;
}

/* Moves the front value into out (or frees it when out is NULL). */
static void take_front(au_probe *p, void *out) {
    unsigned char *v = slot(p, 0);
    if (out)
        memcpy(out, v, p->type->size);
    else
        au_value_free(p->type, v);
    p->head = (p->head + 1) % p->cap;
    p->len--;
}

static void free_queue(au_probe *p) {
    while (p->len) take_front(p, NULL);
    free(p->ring);
    p->ring = NULL;
    p->cap = p->head = 0;
}

/* ---- lifetime ---------------------------------------------------------------------------- */

static void release(au_probe *p) {
    pthread_mutex_lock(&p->lock);
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->lock);
    if (!last) return;
    free_queue(p);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}

/* ---- the actor ------------------------------------------------------------------------------ */

static void probe_recv(au_ctx *ctx, void *s, void *msg) {
    au_probe *p = ((probe_state *)s)->p;
    pthread_mutex_lock(&p->lock);
    if (p->closed) {
        /* Being freed: leave the message to the runtime, which frees it after we return. */
        pthread_mutex_unlock(&p->lock);
        return;
    }
    if (!reserve_one(p)) {
        if (p->dropped++ == 0)
            au_log(AU_LOG_TESTKIT, AU_LOG_WARN, "probe of %s full at %zu messages: dropping",
                   p->type->name, p->len);
        pthread_mutex_unlock(&p->lock);
        return;
    }
    /* Move the message in: the runtime frees it after recv returns, so zero what we took and
     * it frees nothing (freeing skips NULL pointers). */
    memcpy(slot(p, p->len), msg, p->type->size);
    memset(msg, 0, p->type->size);
    p->len++;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static void probe_post_stop(au_ctx *ctx, void *s) {
    au_probe *p = ((probe_state *)s)->p;
    pthread_mutex_lock(&p->lock);
    p->actor_gone = true;
    pthread_cond_broadcast(&p->cond); /* waiters stop waiting for what can no longer come */
    pthread_mutex_unlock(&p->lock);
    release(p);
}

static void no_pre_start(au_ctx *c, void *s) {}
static void no_timeout(au_ctx *c, void *s) {}
static void no_terminated(au_ctx *c, void *s, au_ref w) {}

/* The probe actor definition for `type`: one per type id for the whole process, never freed. A
 * definition must outlive every incarnation that used it (a sender may still read it while
 * racing with a stop), and probes may outlive the node they ran on, so no node owns these. */
typedef struct def_entry {
    struct def_entry *next;
    uint64_t id;
    au_actor_def def;
} def_entry;

static pthread_mutex_t defs_lock = PTHREAD_MUTEX_INITIALIZER;
static def_entry *defs; /* guarded by defs_lock */

static const au_actor_def *def_for(au_type *type) {
    uint64_t id = au_type_id(type);
    pthread_mutex_lock(&defs_lock);
    def_entry *e = defs;
    while (e && e->id != id) e = e->next;
    if (!e && (e = calloc(1, sizeof *e))) {
        e->id = id;
        e->def = (au_actor_def){
            .name = "probe", .root = type, .state_size = sizeof(probe_state),
            .pre_start = no_pre_start, .recv = probe_recv, .post_stop = probe_post_stop,
            .timeout = no_timeout, .terminated = no_terminated,
        };
        e->next = defs;
        defs = e;
    }
    pthread_mutex_unlock(&defs_lock);
    return e ? &e->def : NULL;
}

/* ---- creation and references -------------------------------------------------------------- */

au_probe *au_probe_new_(au_node *node, au_type *type, const au_probe_opts *opts) {
    au_probe_opts none = { 0 };
    if (!opts) opts = &none;
    if (!node || !type || !type->size) {
        au_set_last_error_(AU_EINVAL);
        return NULL;
    }
    const au_actor_def *def = def_for(type);
    au_probe *p = def ? calloc(1, sizeof *p) : NULL;
    if (!p) {
        au_set_last_error_(AU_ENOMEM);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &attr);
    pthread_condattr_destroy(&attr);
    p->refs = 2;
    p->type = type;
    p->limit = opts->capacity ? opts->capacity : AU_PROBE_DEFAULT_CAPACITY;
    probe_state st = { p };
    p->ref = au_spawn_(node, def, &st, &(au_spawn_opts){ .name = opts->name });
    if (au_ref_is_null(p->ref)) { /* au_spawn_ set the last error */
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->cond);
        free(p);
        return NULL;
    }
    return p;
}

au_ref au_probe_ref_(au_probe *p, au_type *type) {
    if (!p || au_type_id(type) != au_type_id(p->type)) return (au_ref){ 0 };
    au_ref r = p->ref;
    r.iface = type;
    return r;
}

void au_probe_free(au_probe *p) {
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    p->closed = true;
    /* Holding the lock keeps post_stop from returning, hence the cell alive, while Term is
     * sent; once post_stop has run (e.g. the node stopped) the cell may be gone: no send. */
    if (!p->actor_gone) au_ref_stop_(p->ref);
    while (p->len) take_front(p, NULL);
    pthread_mutex_unlock(&p->lock);
    release(p);
}

/* ---- waiting -------------------------------------------------------------------------------- */

/* The absolute CLOCK_MONOTONIC deadline `timeout` from now, saturating instead of wrapping. */
static uint64_t deadline_after(au_nanos timeout) {
    uint64_t now = au_clock_monotonic_ns();
    return timeout > UINT64_MAX - now ? UINT64_MAX : now + timeout;
}

/* Waits on p->cond until signalled or `deadline`; false once the deadline has passed. Called
 * with p->lock held. Spurious wake-ups are fine: every caller re-checks its condition. */
static bool wait_until(au_probe *p, uint64_t deadline) {
    if (au_clock_monotonic_ns() >= deadline) return false;
    struct timespec ts = au_clock_timespec(deadline);
    if (deadline / 1000000000u > (uint64_t)INT32_MAX)
        ts = (struct timespec){ INT32_MAX, 0 }; /* "forever" without overflowing time_t */
    int rc = pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    return rc != ETIMEDOUT || au_clock_monotonic_ns() < deadline;
}

static au_err check_type(au_probe *p, au_type *type, const void *out) {
    if (!p || !out) return AU_EINVAL;
    return au_type_id(type) == au_type_id(p->type) ? AU_OK : AU_ETYPE;
}

au_err au_probe_expect_match_(au_probe *p, au_type *type, au_probe_pred_ pred, void *arg,
                              void *out, au_nanos timeout) {
    au_err err = check_type(p, type, out);
    if (err) return err;
    if (!pred) return AU_EINVAL;
    uint64_t deadline = deadline_after(timeout);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        /* Examine in arrival order; drop what does not match (the documented fishing rule). The
         * predicate runs under the lock: it must not call back into this probe. */
        while (p->len && !pred(slot(p, 0), arg)) take_front(p, NULL);
        if (p->len) {
            take_front(p, out);
            err = AU_OK;
            break;
        }
        if (p->actor_gone) {
            err = AU_ESTOPPED;
            break;
        }
        if (!wait_until(p, deadline)) {
            err = AU_ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return err;
}

static bool any_message(const void *msg, void *arg) { return true; }

au_err au_probe_expect_(au_probe *p, au_type *type, void *out, au_nanos timeout) {
    return au_probe_expect_match_(p, type, any_message, NULL, out, timeout);
}

au_err au_probe_expect_none(au_probe *p, au_nanos duration) {
    if (!p) return AU_EINVAL;
    uint64_t deadline = deadline_after(duration);
    pthread_mutex_lock(&p->lock);
    /* Waits out the whole duration even if the actor has stopped: "nothing for that long" is
     * what the caller asserts, and it stays true. */
    while (!p->len && wait_until(p, deadline)) {}
    au_err err = p->len ? AU_ESTATE : AU_OK;
    pthread_mutex_unlock(&p->lock);
    return err;
}

au_err au_probe_collect_(au_probe *p, au_type *type, size_t n, void *out, au_nanos timeout) {
    au_err err = check_type(p, type, out);
    if (err) return err;
    if (n > p->limit) return AU_EINVAL; /* could never be satisfied */
    uint64_t deadline = deadline_after(timeout);
    pthread_mutex_lock(&p->lock);
    for (;;) {
        if (p->len >= n) {
            for (size_t i = 0; i < n; i++)
                take_front(p, (unsigned char *)out + i * p->type->size);
            err = AU_OK;
            break;
        }
        if (p->actor_gone) {
            err = AU_ESTOPPED;
            break;
        }
        if (!wait_until(p, deadline)) {
            err = AU_ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return err;
}

size_t au_probe_count(au_probe *p) {
    if (!p) return 0;
    pthread_mutex_lock(&p->lock);
    size_t n = p->len;
    pthread_mutex_unlock(&p->lock);
    return n;
}

uint64_t au_probe_dropped(au_probe *p) {
    if (!p) return 0;
    pthread_mutex_lock(&p->lock);
    uint64_t n = p->dropped;
    pthread_mutex_unlock(&p->lock);
    return n;
}
