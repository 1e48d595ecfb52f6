/* heap.c — the binary min-heap of heap.h. Sifting moves a "hole" instead of swapping: the
 * moving item waits in the scratch slot, each step copies one item, so a sift of depth d costs
 * d + 2 copies and tells `moved` once per item that actually moved. */
#include "util/heap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void au_heap_init(au_heap *h, size_t item_size, au_heap_less less, au_heap_moved moved,
                  void *ctx) {
    *h = (au_heap){ .size = item_size, .less = less, .moved = moved, .ctx = ctx };
}

void au_heap_destroy(au_heap *h) {
    free(h->items);
    h->items = NULL;
    h->len = h->cap = 0;
}

static unsigned char *slot(const au_heap *h, size_t i) { return h->items + i * h->size; }
static unsigned char *scratch(const au_heap *h) { return slot(h, h->cap); }

/* Copies item into slot i and tells `moved`. */
static void place(au_heap *h, size_t i, const void *item) {
    memcpy(slot(h, i), item, h->size);
    if (h->moved) h->moved(slot(h, i), i, h->ctx);
}

/* Moves the item in scratch up from hole i; returns where it lands. */
static size_t sift_up(au_heap *h, size_t i) {
    const unsigned char *item = scratch(h);
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!h->less(item, slot(h, parent), h->ctx)) break;
        place(h, i, slot(h, parent));
        i = parent;
    }
    place(h, i, item);
    return i;
}

/* Moves the item in scratch down from hole i (the heap has h->len items, hole included). */
static void sift_down(au_heap *h, size_t i) {
    const unsigned char *item = scratch(h);
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->len) break;
        if (child + 1 < h->len && h->less(slot(h, child + 1), slot(h, child), h->ctx)) child++;
        if (!h->less(slot(h, child), item, h->ctx)) break;
        place(h, i, slot(h, child));
        i = child;
    }
    place(h, i, item);
}

/* Puts the item in scratch at hole i, up or down as its key needs. */
static void settle(au_heap *h, size_t i) {
    if (i > 0 && h->less(scratch(h), slot(h, (i - 1) / 2), h->ctx))
        sift_up(h, i);
    else
        sift_down(h, i);
}

bool au_heap_push(au_heap *h, const void *item) {
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        if (cap < h->cap || cap + 1 > SIZE_MAX / h->size) return false;
        unsigned char *items = realloc(h->items, (cap + 1) * h->size);
        if (!items) return false;
        h->items = items;
        h->cap = cap;
    }
    memcpy(scratch(h), item, h->size);
    sift_up(h, h->len++);
    return true;
}

bool au_heap_remove(au_heap *h, size_t i, void *out) {
    if (i >= h->len) return false;
    if (out) memcpy(out, slot(h, i), h->size);
    size_t last = --h->len;
    if (i == last) return true;
    memcpy(scratch(h), slot(h, last), h->size); /* the last item fills the hole at i */
    settle(h, i);
    return true;
}

bool au_heap_pop(au_heap *h, void *out) { return au_heap_remove(h, 0, out); }

void au_heap_fix(au_heap *h, size_t i) {
    if (i >= h->len) return;
    memcpy(scratch(h), slot(h, i), h->size);
    settle(h, i);
}
