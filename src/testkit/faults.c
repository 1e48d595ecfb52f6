/* faults.c — failure injection as a node driver that wraps another (see include/aurum/faults.h).
 *
 * The wrapper forwards every op to the driver it wraps and intercepts two: send (per-datagram
 * faults: drop, duplicate, delay, reorder, block) and message_fate (per-message faults, decided
 * by the remote path before packing). So the same faults work on real UDP and in simulation,
 * and the runtime has no fault branch: without this driver it pays nothing.
 *
 * Rules live in an immutable table swapped whole on every change (au_faults_set/_block);
 * retired tables stay until the node stops, so a sender may keep using the rule it looked up.
 * The decision for each unit draws from a counter-based generator: splitmix64(seed + n) for the
 * n-th draw of the node. Lock-free, and reproducible for the same seed and the same order of
 * sends (which a deterministic simulation provides; the seed comes from the wrapped driver's
 * random, so a simulation seeds it too).
 *
 * Built on the public API (aurum/driver.h) and the util layer only. */
#include <aurum/testkit.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/rng.h"
#include "util/stats.h"

typedef struct fault_rule {
    struct sockaddr_storage dest;
    bool any;          /* the default for destinations without a rule of their own */
    bool blocked;
    au_faults f;
} fault_rule;

typedef struct fault_table {
    struct fault_table *retired_next;
    size_t n;
    fault_rule rules[];
} fault_table;

typedef struct fault_node {
    au_driver_node base;
    au_driver_node *inner;
    au_node *node;
    _Atomic(fault_table *) table; /* NULL: no faults anywhere */
    pthread_mutex_t lock;         /* serialises changes */
    fault_table *retired;
    uint64_t seed;
    _Atomic uint64_t draws;
    _Atomic uint64_t dropped, duplicated, delayed, reordered, blocked;
} fault_node;

static const au_driver_ops faults_threads_ops, faults_stepped_ops;

static fault_node *of(au_node *node) {
    au_driver_node *dn = au_node_driver(node);
    return dn && (dn->ops == &faults_threads_ops || dn->ops == &faults_stepped_ops)
               ? (fault_node *)dn : NULL;
}

/* A uniform double in [0, 1). */
static double draw(fault_node *fn) {
    /* relaxed: only uniqueness of n matters, not ordering with other memory. */
    uint64_t n = atomic_fetch_add_explicit(&fn->draws, 1, memory_order_relaxed);
    return au_rng_unit(au_splitmix64_at(fn->seed + n));
}

static void bump(_Atomic uint64_t *c) { au_stat_add(c, 1); }

static const fault_rule *rule_for(const fault_table *t, const struct sockaddr *to) {
    const fault_rule *any = NULL;
    for (size_t i = 0; i < t->n; i++) {
        if (t->rules[i].any) any = &t->rules[i];
        else if (au_address_equal((const struct sockaddr *)&t->rules[i].dest, to)) return &t->rules[i];
    }
    return any;
}

/* The fate of one unit: how many copies to send (0, 1 or 2) and each copy's delay. */
static unsigned decide(fault_node *fn, const fault_rule *rule, au_nanos delay[2]) {
    if (rule->blocked) {
        bump(&fn->blocked);
        return 0;
    }
    const au_faults *f = &rule->f;
    if (f->drop > 0 && draw(fn) < f->drop) {
        bump(&fn->dropped);
        return 0;
    }
    unsigned copies = (f->duplicate > 0 && draw(fn) < f->duplicate) ? 2 : 1;
    if (copies == 2) bump(&fn->duplicated);
    for (unsigned i = 0; i < copies; i++) {
        /* Uniform in [min, max], without the overflow of max - min + 1 for [0, UINT64_MAX] nor
         * a double cast out of range; sums saturate (a delay to the end of time is never). */
        au_nanos d = f->delay_min;
        if (f->delay_max > f->delay_min) {
            au_nanos span = f->delay_max - f->delay_min;
            double x = draw(fn) * ((double)span + 1.0);
            d += x >= (double)span ? span : (au_nanos)x;
        }
        if (f->reorder > 0 && draw(fn) < f->reorder) {
            d = au_deadline_after(d, f->reorder_hold ? f->reorder_hold : AU_MSEC(10));
            bump(&fn->reordered);
        }
        if (d) bump(&fn->delayed);
        delay[i] = d;
    }
    return copies;
}

/* ---- intercepted ops ------------------------------------------------------------------------ */

typedef struct delayed_dgram {
    fault_node *fn;
    struct sockaddr_storage to;
    socklen_t to_len;
    size_t len;
    uint8_t bytes[];
} delayed_dgram;

static void send_delayed(au_node *node, void *arg) {
    delayed_dgram *d = arg;
    au_datagram dg = { (const struct sockaddr *)&d->to, d->to_len, d->bytes, d->len };
    d->fn->inner->ops->send(d->fn->inner, &dg, 1);
    free(d);
}

static void delay_dgram(fault_node *fn, const au_datagram *dg, au_nanos delay) {
    delayed_dgram *d = malloc(sizeof *d + dg->len);
    if (!d) return;
    d->fn = fn;
    memset(&d->to, 0, sizeof d->to);
    memcpy(&d->to, dg->to, dg->to_len);
    d->to_len = dg->to_len;
    d->len = dg->len;
    memcpy(d->bytes, dg->data, dg->len);
    if (!au_node_call_at(fn->node, au_deadline_after(au_node_now(fn->node), delay), send_delayed,
                         free, d))
        free(d);
}

#define OUT_BATCH 64

static size_t faults_send(au_driver_node *dn, const au_datagram *d, size_t n) {
    fault_node *fn = (fault_node *)dn;
    /* acquire: the table's contents are visible once its pointer is. */
    fault_table *t = atomic_load_explicit(&fn->table, memory_order_acquire);
    if (!t) return fn->inner->ops->send(fn->inner, d, n);
    au_datagram out[OUT_BATCH];
    size_t k = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        const fault_rule *rule = rule_for(t, d[i].to);
        au_nanos delay[2] = { 0, 0 };
        unsigned copies = 1;
        if (rule && (rule->blocked || !rule->f.per_message)) copies = decide(fn, rule, delay);
        for (unsigned c = 0; c < copies; c++) {
            if (delay[c]) {
                delay_dgram(fn, &d[i], delay[c]);
                continue;
            }
            if (k == OUT_BATCH) {
                failed += fn->inner->ops->send(fn->inner, out, k);
                k = 0;
            }
            out[k++] = d[i];
        }
    }
    if (k) failed += fn->inner->ops->send(fn->inner, out, k);
    return failed;
}

static unsigned faults_message_fate(au_driver_node *dn, const struct sockaddr *to,
                                    socklen_t to_len, au_nanos delay[2]) {
    fault_node *fn = (fault_node *)dn;
    fault_table *t = atomic_load_explicit(&fn->table, memory_order_acquire);
    const fault_rule *rule = t ? rule_for(t, to) : NULL;
    if (rule && rule->f.per_message && !rule->blocked) return decide(fn, rule, delay);
    if (fn->inner->ops->message_fate) return fn->inner->ops->message_fate(fn->inner, to, to_len, delay);
    return 1;
}

/* ---- forwarded ops ---------------------------------------------------------------------------- */

static au_err faults_open(const au_driver *drv, au_node *node, au_driver_node **out) {
    const au_driver *inner = drv->inner ? drv->inner : au_driver_default();
    fault_node *fn = calloc(1, sizeof *fn);
    if (!fn) return AU_ENOMEM;
    au_err err = inner->ops->open(inner, node, &fn->inner);
    if (err) {
        free(fn);
        return err;
    }
    fn->base.ops = fn->inner->ops->schedule ? &faults_stepped_ops : &faults_threads_ops;
    fn->node = node;
    fn->seed = fn->inner->ops->random(fn->inner);
    pthread_mutex_init(&fn->lock, NULL);
    *out = &fn->base;
    return AU_OK;
}

static au_err faults_start(au_driver_node *dn) {
    fault_node *fn = (fault_node *)dn;
    return fn->inner->ops->start ? fn->inner->ops->start(fn->inner) : AU_OK;
}

static void faults_close(au_driver_node *dn) {
    fault_node *fn = (fault_node *)dn;
    fn->inner->ops->close(fn->inner);
    free(atomic_load_explicit(&fn->table, memory_order_relaxed));
    for (fault_table *t = fn->retired, *n; t; t = n) {
        n = t->retired_next;
        free(t);
    }
    pthread_mutex_destroy(&fn->lock);
    free(fn);
}

#define INNER(dn) (((fault_node *)(dn))->inner)

static au_nanos faults_now(au_driver_node *dn) { return INNER(dn)->ops->now(INNER(dn)); }
static uint64_t faults_random(au_driver_node *dn) { return INNER(dn)->ops->random(INNER(dn)); }
static uint64_t faults_incarnation(au_driver_node *dn) {
    return INNER(dn)->ops->incarnation(INNER(dn));
}
static void faults_wake_at(au_driver_node *dn, au_nanos deadline) {
    INNER(dn)->ops->wake_at(INNER(dn), deadline);
}
static void faults_schedule(au_driver_node *dn, au_task *task) {
    INNER(dn)->ops->schedule(INNER(dn), task);
}
static void faults_run_until(au_driver_node *dn, bool (*done)(void *), void *arg) {
    INNER(dn)->ops->run_until(INNER(dn), done, arg);
}
static au_err faults_bind(au_driver_node *dn, const struct sockaddr *addr, socklen_t len,
                          struct sockaddr_storage *bound, socklen_t *bound_len) {
    return INNER(dn)->ops->bind(INNER(dn), addr, len, bound, bound_len);
}

#define FAULTS_OPS(stepping)                                                                  \
    .version = AU_DRIVER_VERSION, .name = "faults", .open = faults_open,                     \
    .start = faults_start, .close = faults_close, .now = faults_now, .random = faults_random, \
    .incarnation = faults_incarnation,                                                        \
    .wake_at = faults_wake_at, .schedule = (stepping) ? faults_schedule : NULL,              \
    .run_until = (stepping) ? faults_run_until : NULL, .bind = faults_bind,                  \
    .send = faults_send, .message_fate = faults_message_fate

/* Two tables, so that the node sees the wrapped driver's way of running actors. */
static const au_driver_ops faults_threads_ops = { FAULTS_OPS(false) };
static const au_driver_ops faults_stepped_ops = { FAULTS_OPS(true) };

au_driver au_faults_driver(const au_driver *inner) {
    return (au_driver){ .ops = &faults_threads_ops, .inner = inner };
}

/* ---- configuration -------------------------------------------------------------------------- */

/* Replaces the rule for (dest or any) in a copy of the current table. Called with fn->lock. */
static au_err update(fault_node *fn, const struct sockaddr_storage *dest, bool any,
                     const au_faults *f, int blocked /* -1: keep */, bool clear) {
    fault_table *old = atomic_load_explicit(&fn->table, memory_order_relaxed);
    size_t n = old ? old->n : 0;
    fault_table *t = calloc(1, sizeof *t + (n + 1) * sizeof t->rules[0]);
    if (!t) return AU_ENOMEM;
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        fault_rule r = old->rules[i];
        bool match = any ? r.any
                         : (!r.any && au_address_equal((const struct sockaddr *)&r.dest,
                                                       (const struct sockaddr *)dest));
        if (match) {
            found = true;
            if (clear) r.f = (au_faults){ 0 };
            if (f) r.f = *f;
            if (blocked >= 0) r.blocked = blocked;
            if (!r.blocked && !memcmp(&r.f, &(au_faults){ 0 }, sizeof r.f)) continue; /* empty */
        }
        t->rules[t->n++] = r;
    }
    if (!found && (f || blocked == 1)) {
        fault_rule r = { .any = any, .blocked = blocked == 1 };
        if (dest) r.dest = *dest;
        if (f) r.f = *f;
        t->rules[t->n++] = r;
    }
    /* release: a sender that loads the pointer sees the rules. An empty table becomes NULL, so
     * the send path is back to its no-fault cost. */
    atomic_store_explicit(&fn->table, t->n ? t : NULL, memory_order_release);
    if (!t->n) free(t);
    if (old) {
        old->retired_next = fn->retired;
        fn->retired = old;
    }
    return AU_OK;
}

static au_err apply(au_node *node, const char *dest, const au_faults *f, int blocked, bool clear) {
    fault_node *fn = node ? of(node) : NULL;
    if (!fn) return AU_ESTATE;
    if (!*au_node_address(node)) return AU_ESTATE; /* no network: nothing to inject into */
    struct sockaddr_storage addr;
    socklen_t len;
    if (dest) {
        au_err err = au_address_resolve(dest, &addr, &len);
        if (err) return err;
    }
    pthread_mutex_lock(&fn->lock);
    au_err err = update(fn, dest ? &addr : NULL, !dest, f, blocked, clear);
    pthread_mutex_unlock(&fn->lock);
    return err;
}

au_err au_faults_set(au_node *node, const char *dest, const au_faults *f) {
    if (f && (!(f->drop >= 0 && f->drop <= 1) || !(f->duplicate >= 0 && f->duplicate <= 1) ||
              !(f->reorder >= 0 && f->reorder <= 1) || f->delay_min > f->delay_max))
        return AU_EINVAL;
    return apply(node, dest, f, -1, f == NULL);
}

au_err au_faults_block(au_node *node, const char *dest, bool blocked) {
    if (!dest) return AU_EINVAL;
    return apply(node, dest, NULL, blocked, false);
}

void au_faults_seed(au_node *node, uint64_t seed) {
    fault_node *fn = node ? of(node) : NULL;
    if (!fn) return;
    pthread_mutex_lock(&fn->lock);
    fn->seed = seed;
    atomic_store_explicit(&fn->draws, 0, memory_order_relaxed);
    pthread_mutex_unlock(&fn->lock);
}

au_err au_faults_partition(au_node *const *a, size_t na, au_node *const *b, size_t nb) {
    if ((na && !a) || (nb && !b)) return AU_EINVAL;
    for (size_t i = 0; i < na; i++) {
        for (size_t j = 0; j < nb; j++) {
            au_err err;
            if ((err = au_faults_block(a[i], au_node_address(b[j]), true)) ||
                (err = au_faults_block(b[j], au_node_address(a[i]), true)))
                return err;
        }
    }
    return AU_OK;
}

au_err au_faults_heal(au_node *const *nodes, size_t n) {
    if (n && !nodes) return AU_EINVAL;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            if (i == j) continue;
            au_err err = au_faults_block(nodes[i], au_node_address(nodes[j]), false);
            if (err) return err;
        }
    }
    return AU_OK;
}

void au_faults_stats_get(au_node *node, au_faults_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    fault_node *fn = node ? of(node) : NULL;
    if (!fn) return;
    /* relaxed: a snapshot of counters. */
    out->dropped = atomic_load_explicit(&fn->dropped, memory_order_relaxed);
    out->duplicated = atomic_load_explicit(&fn->duplicated, memory_order_relaxed);
    out->delayed = atomic_load_explicit(&fn->delayed, memory_order_relaxed);
    out->reordered = atomic_load_explicit(&fn->reordered, memory_order_relaxed);
    out->blocked = atomic_load_explicit(&fn->blocked, memory_order_relaxed);
}
