/* Helpers shared by the libFuzzer harnesses (header-only; not a harness itself: CMake builds
 * only fuzz/fuzz_*.c).
 *
 * Owns: the input cursor every harness reads its program from, a small deterministic PRNG for
 * choices an input does not spell out, and exact_copy, which places bytes so that the first
 * byte past them (and the 64 before them) are poisoned for AddressSanitizer.
 *
 * exact_copy replaces a malloc of the datagram's exact size per operation: a read past the end
 * is still an ASan report, but nothing is allocated, so the allocator, its quarantine and its
 * stack unwinding stay out of the hot loop. One buffer per harness (static): a second
 * exact_copy invalidates the first.
 *
 * A harness that includes this header runs with a 16 MiB ASan quarantine instead of 256 MiB
 * (ASAN_OPTIONS still overrides it): an input allocates a few KiB, so a use after free is
 * still caught for thousands of inputs afterwards, and freed memory is reused while it is in
 * cache instead of the allocator touching fresh pages (a fifth of the reassembly harness's
 * time went to page faults, and its RSS was 400 MiB instead of 70).
 */
#ifndef AU_FUZZ_SUPPORT_H
#define AU_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

#include "proto/wire.h"

typedef struct cursor {
    const uint8_t *p;
    size_t n;
} cursor;

/* The next input byte, 0 once the input is exhausted. */
static inline uint8_t take8(cursor *c) {
    if (!c->n) return 0;
    c->n--;
    return *c->p++;
}

static inline uint16_t take16(cursor *c) {
    uint16_t hi = take8(c);
    return (uint16_t)(hi << 8 | take8(c));
}

static inline uint64_t take64(cursor *c) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | take8(c);
    return v;
}

/* Up to want bytes of the input itself; *got says how many. */
static inline const uint8_t *take_bytes(cursor *c, size_t want, size_t *got) {
    const uint8_t *p = c->p;
    *got = want < c->n ? want : c->n;
    c->p += *got;
    c->n -= *got;
    return p;
}

/* splitmix64: choices derived from a seed (a hash of the input), so a run is reproducible. */
static inline uint64_t mix_next(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "quarantine_size_mb=16"; }

#define EXACT_REDZONE 64u
static uint8_t exact_area[EXACT_REDZONE + AU_WIRE_MAX_MTU + 8] __attribute__((aligned(64)));
static size_t exact_len = sizeof exact_area; /* bytes unpoisoned at exact_area + EXACT_REDZONE */

/* A copy of len (<= AU_WIRE_MAX_MTU) bytes with poisoned memory right after and before it.
 * The area stays poisoned except for the bytes of the current copy, so a call touches the
 * shadow of those bytes only (not of the whole 64 KiB area). */
static inline uint8_t *exact_copy(const uint8_t *src, size_t len) {
    uint8_t *dst = exact_area + EXACT_REDZONE;
    if (exact_len == sizeof exact_area) { /* first use: poison the whole area once */
        ASAN_POISON_MEMORY_REGION(exact_area, sizeof exact_area);
        exact_len = 0;
    }
    ASAN_POISON_MEMORY_REGION(dst, exact_len);
    ASAN_UNPOISON_MEMORY_REGION(dst, len);
    exact_len = len;
    if (len) memcpy(dst, src, len);
    return dst;
}

/* A property a harness checks: on failure, say which (file, line, expression) and abort, so
 * libFuzzer keeps the input as a crash. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #cond);                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
