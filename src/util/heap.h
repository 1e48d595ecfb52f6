/* heap.h — a binary min-heap of fixed-size items, for every "next due first" queue (the node's
 * timers, the simulator's events).
 *
 * Items are copied in (any size: a pointer, or a small struct by value) and kept in one array;
 * `less` orders them. push, pop and remove-at-index are O(log n), peek O(1). Equal items come
 * out in no particular order: a caller that needs a total order (a deterministic simulation)
 * breaks ties in `less`, e.g. with a sequence number. Optionally `moved` is told an item's
 * index every time the item is written into a slot (on push, and whenever it moves; sometimes
 * again with the same index), so an item can remember where it is and be removed or re-keyed
 * later (au_heap_remove, au_heap_fix) without a search.
 *
 * Not thread-safe: the owner holds its own lock. The array grows by doubling and never
 * shrinks until au_heap_destroy. */
#ifndef AU_UTIL_HEAP_H
#define AU_UTIL_HEAP_H

#include <stdbool.h>
#include <stddef.h>

/* true if item a must come out before item b. */
typedef bool (*au_heap_less)(const void *a, const void *b, void *ctx);
/* Item (in the heap's array) is now at index. */
typedef void (*au_heap_moved)(void *item, size_t index, void *ctx);

typedef struct au_heap {
    unsigned char *items; /* cap + 1 slots of `size` bytes; the last is scratch */
    size_t size, len, cap;
    au_heap_less less;
    au_heap_moved moved;  /* NULL: nobody tracks indices */
    void *ctx;            /* passed to less and moved */
} au_heap;

/* An empty heap of items of item_size bytes (> 0). Allocates nothing yet. */
void au_heap_init(au_heap *h, size_t item_size, au_heap_less less, au_heap_moved moved,
                  void *ctx);
/* Frees the array (not what items point to); the heap is empty and usable again. */
void au_heap_destroy(au_heap *h);

static inline size_t au_heap_len(const au_heap *h) { return h->len; }
/* The item at index i (< len), in the heap's array: valid until the next change. */
static inline void *au_heap_at(const au_heap *h, size_t i) { return h->items + i * h->size; }
/* The least item, or NULL if empty; valid until the next change. */
static inline void *au_heap_peek(const au_heap *h) { return h->len ? h->items : NULL; }

/* Copies *item in. false if out of memory (the heap is unchanged). */
bool au_heap_push(au_heap *h, const void *item);
/* Copies the least item to *out (out may be NULL) and removes it; false if empty. */
bool au_heap_pop(au_heap *h, void *out);
/* Copies the item at index i to *out (out may be NULL) and removes it; false if i >= len. */
bool au_heap_remove(au_heap *h, size_t i, void *out);
/* Restores the order after the key of the item at index i (< len) changed, either way. */
void au_heap_fix(au_heap *h, size_t i);

#endif
