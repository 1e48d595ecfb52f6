/* digest.c — the hashing behind every CRDT's digest (au_crdt_type.digest): byte strings through
 * XXH3-64, and the causal context (the word and dot hashes are inline in crdt_internal.h).
 *
 * Relies on xxHash and crdt_internal.h. A digest must be the same for equal lattice elements
 * whatever their layout and on every platform (replicas on different machines compare them), so
 * byte strings go through XXH3-64 (endian-independent), fixed words through arithmetic only,
 * dots by (replica id, counter) and never by the local replica index, and sets and maps add
 * their entries' hashes modulo 2^64 (entries are distinct, so the sum does not depend on the
 * order a table is walked in) before the count and a type tag are mixed in. Each type's digest
 * hashes exactly what its equal() compares. Nothing here allocates. */
#include <xxhash.h>

#include "crdt_internal.h"

uint64_t crdt_hash_bytes(const void *p, size_t n, uint64_t seed) {
    return XXH3_64bits_withSeed(n ? p : "", n, seed);
}

/* What cctx_equal compares: every replica's counter where it is not 0 (a replica known with
 * counter 0 equals an unknown one; CRDT_RETIRED is a counter like any other) and the cloud. */
uint64_t cctx_digest(const crdt_cctx *c) {
    uint64_t sum = 0, n = 0;
    for (uint32_t i = 0; i < c->nrep; i++) {
        if (!c->vv[i]) continue;
        sum += crdt_hash3(CRDT_DOM_VV, c->ids[i], c->vv[i]);
        n++;
    }
    for (uint32_t i = 0; c->cloud.n && i < c->cloud.cap; i++)
        if (c->cloud.slot[i]) sum += crdt_hash_dot(c, c->cloud.slot[i]) ^ CRDT_DOM_CLOUD;
    uint64_t w[] = { CRDT_DOM_CTX, n, c->cloud.n, sum };
    return crdt_hash_words(w, 4);
}
