/* u64map.h — a small open-addressing hash map from nonzero uint64_t keys to pointers.
 * Linear probing with backward-shift deletion (no tombstones), so lookups stay short after many
 * inserts and removes. Not thread-safe: callers hold their own lock. */
#ifndef AU_CORE_U64MAP_H
#define AU_CORE_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct au_u64map {
    uint64_t *keys; /* 0 = empty slot */
    void **values;
    size_t cap, count;
} au_u64map;

void au_u64map_free(au_u64map *m);
/* false if out of memory */
bool au_u64map_put(au_u64map *m, uint64_t key, void *value);
void *au_u64map_get(const au_u64map *m, uint64_t key);
/* Removes key and returns its value, or NULL. */
void *au_u64map_take(au_u64map *m, uint64_t key);

#endif
