/* faults.c — failure injection in the transport (see include/aurum/faults.h).
 *
 * The decision for each unit (datagram or message) draws from a counter-based generator:
 * splitmix64(seed + n) for the n-th draw of the node. Lock-free, and reproducible for the same
 * seed and the same order of sends (which a deterministic simulation provides). */
#include "net/net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A uniform double in [0, 1). */
static double draw(au_net_t *net) {
    /* relaxed: only uniqueness of n matters, not ordering with other memory. */
    uint64_t n = atomic_fetch_add_explicit(&net->fault_draws, 1, memory_order_relaxed);
    return (double)(splitmix64(net->fault_seed + n) >> 11) * 0x1.0p-53;
}

static void bump(_Atomic uint64_t *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }

const au_fault_rule *au_faults_rule(au_net_t *net, au_peer *peer) {
    /* acquire: the table's contents are visible once its pointer is. */
    au_fault_table *t = atomic_load_explicit(&net->faults, memory_order_acquire);
    if (!t) return NULL;
    if (peer->fault_version != t->version) {
        const au_fault_rule *any = NULL, *mine = NULL;
        for (size_t i = 0; i < t->n; i++) {
            if (t->rules[i].any) any = &t->rules[i];
            else if (au_addr_equal(&t->rules[i].dest, &peer->addr)) mine = &t->rules[i];
        }
        peer->fault_rule = mine ? mine : any;
        peer->fault_version = t->version;
    }
    return peer->fault_rule;
}

unsigned au_faults_decide(au_net_t *net, const au_fault_rule *rule, au_nanos delay[2]) {
    if (rule->blocked) {
        bump(&net->faults_blocked);
        return 0;
    }
    const au_faults *f = &rule->f;
    if (f->drop > 0 && draw(net) < f->drop) {
        bump(&net->faults_dropped);
        return 0;
    }
    unsigned copies = (f->duplicate > 0 && draw(net) < f->duplicate) ? 2 : 1;
    if (copies == 2) bump(&net->faults_duplicated);
    for (unsigned i = 0; i < copies; i++) {
        au_nanos d = f->delay_min;
        if (f->delay_max > f->delay_min)
            d += (au_nanos)(draw(net) * (double)(f->delay_max - f->delay_min + 1));
        if (f->reorder > 0 && draw(net) < f->reorder) {
            d += f->reorder_hold ? f->reorder_hold : AU_MSEC(10);
            bump(&net->faults_reordered);
        }
        if (d) bump(&net->faults_delayed);
        delay[i] = d;
    }
    return copies;
}

/* Replaces the rule for (dest or any) in a copy of the current table. Called with fault_lock. */
static au_err update(au_net_t *net, const au_addr *dest, bool any, const au_faults *f,
                     int blocked /* -1: keep */, bool clear) {
    au_fault_table *old = atomic_load_explicit(&net->faults, memory_order_relaxed);
    size_t n = old ? old->n : 0;
    au_fault_table *t = calloc(1, sizeof *t + (n + 1) * sizeof t->rules[0]);
    if (!t) return AU_ENOMEM;
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        au_fault_rule r = old->rules[i];
        bool match = any ? r.any : (!r.any && au_addr_equal(&r.dest, dest));
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
        au_fault_rule r = { .any = any, .blocked = blocked == 1 };
        if (dest) r.dest = *dest;
        if (f) r.f = *f;
        t->rules[t->n++] = r;
    }
    t->version = ++net->fault_versions; /* never reused, so a peer's cached rule is exact */
    /* release: a sender that loads the pointer sees the rules. An empty table becomes NULL, so
     * the send path is back to its no-fault cost. */
    atomic_store_explicit(&net->faults, t->n ? t : NULL, memory_order_release);
    if (!t->n) free(t);
    if (old) {
        old->retired_next = net->retired;
        net->retired = old;
    }
    return AU_OK;
}

static au_err apply(au_node *node, const char *dest, const au_faults *f, int blocked, bool clear) {
    au_net_t *net = node ? node->net : NULL;
    if (!net) return AU_ESTATE;
    au_addr addr;
    if (dest) {
        au_err err = au_addr_resolve(dest, &addr);
        if (err) return err;
    }
    pthread_mutex_lock(&net->fault_lock);
    au_err err = update(net, dest ? &addr : NULL, !dest, f, blocked, clear);
    pthread_mutex_unlock(&net->fault_lock);
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
    if (!node || !node->net) return;
    pthread_mutex_lock(&node->net->fault_lock);
    node->net->fault_seed = seed;
    atomic_store_explicit(&node->net->fault_draws, 0, memory_order_relaxed);
    pthread_mutex_unlock(&node->net->fault_lock);
}

au_err au_faults_partition(au_node *const *a, size_t na, au_node *const *b, size_t nb) {
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
    memset(out, 0, sizeof *out);
    if (!node || !node->net) return;
    au_net_t *net = node->net;
    /* relaxed: a snapshot of counters. */
    out->dropped = atomic_load_explicit(&net->faults_dropped, memory_order_relaxed);
    out->duplicated = atomic_load_explicit(&net->faults_duplicated, memory_order_relaxed);
    out->delayed = atomic_load_explicit(&net->faults_delayed, memory_order_relaxed);
    out->reordered = atomic_load_explicit(&net->faults_reordered, memory_order_relaxed);
    out->blocked = atomic_load_explicit(&net->faults_blocked, memory_order_relaxed);
}

void au_faults_free(au_net_t *net) {
    free(atomic_load_explicit(&net->faults, memory_order_relaxed));
    for (au_fault_table *t = net->retired, *n; t; t = n) {
        n = t->retired_next;
        free(t);
    }
    net->retired = NULL;
}
