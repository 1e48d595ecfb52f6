/* clock.h — the process's monotonic clock, read in one place.
 *
 * CLOCK_MONOTONIC in nanoseconds: the time base of the default node clock, of spin and idle
 * decisions, and of absolute deadlines for condition variables set to CLOCK_MONOTONIC
 * (pthread_condattr_setclock). Never jumps with the wall clock; not the node's clock, which a
 * driver (the simulator) may replace: code that must follow simulated time reads au_node_now. */
#ifndef AU_UTIL_CLOCK_H
#define AU_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds on CLOCK_MONOTONIC (an arbitrary origin, typically boot). */
static inline uint64_t au_clock_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* `delay` after `now`, saturating: a delay too large to add (UINT64_MAX, a "negative" delay
 * wrapped to unsigned) is the end of time, never an instant in the past. */
static inline uint64_t au_deadline_after(uint64_t now, uint64_t delay) {
    return delay > UINT64_MAX - now ? UINT64_MAX : now + delay;
}

/* The same instant as a timespec, for pthread_cond_timedwait and clock_nanosleep. */
static inline struct timespec au_clock_timespec(uint64_t ns) {
    return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000u),
                              .tv_nsec = (long)(ns % 1000000000u) };
}

#endif
