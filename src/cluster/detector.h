/* detector.h — the seed's heartbeat failure detector: a window of inter-arrival times modelled
 * as a normal distribution, and the silence after which a heartbeat is overdue.
 *
 * A manager keeps one per charge. The window starts with `times` synthetic pairs (2·interval, 0)
 * — a model of N(interval, interval) — and every heartbeat pushes the time since the previous
 * one, evicting the oldest beyond `capacity`. The deadline is the last arrival plus the
 * inverse CDF of the model at probability phi (the seed's duration_phi): with defaults, 179 ms
 * after the first heartbeat, then mean + 2.58·stdev. Times are in milliseconds (doubles). */
#ifndef AU_CLUSTER_DETECTOR_H
#define AU_CLUSTER_DETECTOR_H

#include <stdbool.h>
#include <stdint.h>

#define AU_DETECTOR_MAX_CAPACITY 64

typedef struct au_detector {
    double samples[AU_DETECTOR_MAX_CAPACITY]; /* a ring buffer, newest at head - 1 */
    unsigned head, len, capacity;
    double sum, sum_sq;
    uint64_t last;                            /* node clock, ns, of the latest arrival */
} au_detector;

/* z such that Φ(z) = p (0 < p < 1), by Acklam's rational approximation (|error| < 1.2e-9). */
double au_detector_z(double p);

/* Resets the window at `now`: `times` pairs of (initial_ms, 0), truncated to capacity. */
void au_detector_reset(au_detector *d, unsigned capacity, unsigned times, double initial_ms,
                       uint64_t now);
/* A heartbeat at `now`. */
void au_detector_push(au_detector *d, uint64_t now);
/* How long after the last arrival the silence exceeds probability phi (z = au_detector_z(phi)),
 * in nanoseconds. */
uint64_t au_detector_timeout(const au_detector *d, double z);

#endif
