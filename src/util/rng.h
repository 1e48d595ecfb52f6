/* rng.h — splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
 * 2014), the one small generator of the library: the simulator's seeded stream, fault
 * injection's counter-based draws, and tests.
 *
 * Not cryptographic. Two forms of the same function: au_splitmix64_at(x) is the value for
 * counter x (stateless, so concurrent draws need only a shared atomic counter), and
 * au_splitmix64_next(&state) walks the same sequence with a state word:
 * next(&s) == at(s) and then s += the golden gamma. Every 64-bit value appears once per 2^64
 * steps; zero is a fine seed. */
#ifndef AU_UTIL_RNG_H
#define AU_UTIL_RNG_H

#include <stdint.h>

#define AU_SPLITMIX64_GAMMA 0x9e3779b97f4a7c15ULL /* 2^64 / the golden ratio, odd */

/* The splitmix64 value for counter x: the finaliser (a bijection) applied to x + gamma. */
static inline uint64_t au_splitmix64_at(uint64_t x) {
    x += AU_SPLITMIX64_GAMMA;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* The next value of the stream whose state is *state, and advances the state. */
static inline uint64_t au_splitmix64_next(uint64_t *state) {
    uint64_t x = *state;
    *state = x + AU_SPLITMIX64_GAMMA;
    return au_splitmix64_at(x);
}

/* A uniform double in [0, 1) from 64 random bits (their top 53). */
static inline double au_rng_unit(uint64_t bits) { return (double)(bits >> 11) * 0x1.0p-53; }

#endif
