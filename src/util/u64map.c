/* u64map.c — see u64map.h. Capacity is a power of two; load stays below 1/2. */
#include "util/u64map.h"

#include <stdlib.h>

static size_t slot_of(uint64_t key, size_t cap) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL; /* murmur3 finaliser: spreads sequential ids */
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

void au_u64map_free(au_u64map *m) {
    free(m->keys);
    free(m->values);
    *m = (au_u64map){ 0 };
}

static bool grow(au_u64map *m) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    uint64_t *keys = calloc(cap, sizeof *keys);
    void **values = calloc(cap, sizeof *values);
    if (!keys || !values) {
        free(keys);
        free(values);
        return false;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t s = slot_of(m->keys[i], cap);
        while (keys[s]) s = (s + 1) & (cap - 1);
        keys[s] = m->keys[i];
        values[s] = m->values[i];
    }
    free(m->keys);
    free(m->values);
    m->keys = keys;
    m->values = values;
    m->cap = cap;
    return true;
}

bool au_u64map_put(au_u64map *m, uint64_t key, void *value) {
    if ((m->count + 1) * 2 > m->cap && !grow(m)) return false;
    size_t s = slot_of(key, m->cap);
    while (m->keys[s] && m->keys[s] != key) s = (s + 1) & (m->cap - 1);
    if (!m->keys[s]) m->count++;
    m->keys[s] = key;
    m->values[s] = value;
    return true;
}

void *au_u64map_get(const au_u64map *m, uint64_t key) {
    if (!m->cap) return NULL;
    size_t s = slot_of(key, m->cap);
    /* Keys and values are two arrays, so a lookup in a large map (the senders of 100,000
     * devices) misses the cache twice; asking for the value's line now overlaps the two misses
     * (most keys are found in their home slot at a load below 1/2). */
    __builtin_prefetch(&m->values[s]);
    while (m->keys[s]) {
        if (m->keys[s] == key) return m->values[s];
        s = (s + 1) & (m->cap - 1);
    }
    return NULL;
}

void *au_u64map_take(au_u64map *m, uint64_t key) {
    if (!m->cap) return NULL;
    size_t mask = m->cap - 1, s = slot_of(key, m->cap);
    while (m->keys[s] && m->keys[s] != key) s = (s + 1) & mask;
    if (!m->keys[s]) return NULL;
    void *value = m->values[s];
    /* Backward-shift: move later members of the probe run into the hole. */
    size_t hole = s;
    for (size_t j = (s + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
        size_t home = slot_of(m->keys[j], m->cap);
        bool movable = (hole <= j) ? (home <= hole || home > j) : (home <= hole && home > j);
        if (movable) {
            m->keys[hole] = m->keys[j];
            m->values[hole] = m->values[j];
            hole = j;
        }
    }
    m->keys[hole] = 0;
    m->values[hole] = NULL;
    m->count--;
    return value;
}
