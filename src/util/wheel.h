/* wheel.h — a hashed timing wheel of intrusive entries, for "next due first" queues with many
 * entries re-keyed often (the device server's polling: one entry per device, re-keyed at every
 * request and every echo), where a binary heap's O(log n) sift, and the index write into each
 * scattered record it moves, cost more than the work itself.
 *
 * Time is cut into granules of `granule` units (a tick); slot s holds the entries whose due falls
 * in granule s modulo the number of slots (a power of two). set, remove and re-keying are O(1):
 * two list splices. au_wheel_pop_due sweeps the slots from the cursor (the first granule not yet
 * swept) up to now's granule, moving the entries due by now to a ready list, and hands them out
 * one by one; an entry due more than one turn of the wheel ahead stays in its slot and is passed
 * over until its turn. Order: by granule, and within a granule in the order the entries were set
 * (not by exact due time). An entry set with a due before the cursor goes to the cursor's slot
 * (due at the next sweep). Entries are the caller's memory (embedded in its records); the wheel
 * allocates only its slot array.
 *
 * Not thread-safe: the owner holds its own lock. */
#ifndef AU_UTIL_WHEEL_H
#define AU_UTIL_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct au_wheel_entry {
    struct au_wheel_entry *next, *prev; /* NULL when not in the wheel */
    uint64_t due;
} au_wheel_entry;

typedef struct au_wheel {
    au_wheel_entry *slots; /* nslots list heads (circular, sentinel) */
    au_wheel_entry ready;  /* swept entries due by the last sweep's now, not yet handed out */
    size_t mask;           /* nslots - 1 */
    size_t len;            /* entries in the wheel (slots and ready) */
    uint64_t granule;      /* time units per slot, > 0 */
    uint64_t cursor;       /* the first granule (due / granule) not yet swept */
} au_wheel;

/* An empty wheel of nslots slots (rounded up to a power of two, at least 2) of granule units
 * each, whose first granule is start / granule. false if out of memory (or granule is 0). */
bool au_wheel_init(au_wheel *w, uint64_t granule, size_t nslots, uint64_t start);
/* Frees the slot array (not the entries, which are left linked to nothing: do not use them with
 * this wheel again). */
void au_wheel_destroy(au_wheel *w);

static inline bool au_wheel_linked(const au_wheel_entry *e) { return e->next != NULL; }
static inline size_t au_wheel_len(const au_wheel *w) { return w->len; }

/* Puts e in the wheel due at `due`, moving it if it is there already. */
void au_wheel_set(au_wheel *w, au_wheel_entry *e, uint64_t due);
/* Takes e out of the wheel (nothing if it is not in it). */
void au_wheel_remove(au_wheel *w, au_wheel_entry *e);
/* An entry due at or before now, taken out of the wheel, or NULL when none is. */
au_wheel_entry *au_wheel_pop_due(au_wheel *w, uint64_t now);
/* The earliest due at or before now of the entries in the wheel (exact while the wheel is less
 * than one turn behind now), or UINT64_MAX when none is due. Sweeps as au_wheel_pop_due does,
 * up to the first granule that has a due entry. */
uint64_t au_wheel_earliest_due(au_wheel *w, uint64_t now);

#endif
