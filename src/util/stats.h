/* stats.h — the one way to bump and read a statistic: counters and gauges that any thread
 * updates and au_node_stats_get (or a test) reads as a snapshot.
 *
 * Every operation is relaxed: a statistic is only ever read as a number, nothing is published
 * through it and no decision about other memory depends on it, so it needs atomicity (no lost
 * update), not ordering. A snapshot of several statistics is therefore not consistent across
 * them: each is some value it really had during the read. */
#ifndef AU_UTIL_STATS_H
#define AU_UTIL_STATS_H

#include <stdatomic.h>
#include <stdint.h>

/* Adds n to a counter, or raises a gauge by n. */
static inline void au_stat_add(_Atomic uint64_t *stat, uint64_t n) {
    atomic_fetch_add_explicit(stat, n, memory_order_relaxed); /* relaxed: see the file comment */
}

/* Lowers a gauge by n (never a counter: counters only grow). */
static inline void au_stat_sub(_Atomic uint64_t *stat, uint64_t n) {
    atomic_fetch_sub_explicit(stat, n, memory_order_relaxed); /* relaxed: see the file comment */
}

/* The current value, for a snapshot. */
static inline uint64_t au_stat_read(const _Atomic uint64_t *stat) {
    return atomic_load_explicit(stat, memory_order_relaxed); /* relaxed: see the file comment */
}

#endif
