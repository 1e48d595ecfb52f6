/* wheel.c — see wheel.h. Invariants: every entry in the wheel is in exactly one circular list
 * (a slot's or the ready list); the ready list holds only entries due at or before the now of
 * the sweep that moved them; an entry in slot s with due d has s == max(d / granule, cursor at
 * the time it was set) & mask, so a granule below the cursor has nothing left in it for this
 * turn. len counts the entries in all lists. */
#include "util/wheel.h"

#include <stdlib.h>

static void list_init(au_wheel_entry *head) { head->next = head->prev = head; }

static void link_tail(au_wheel_entry *head, au_wheel_entry *e) {
    e->prev = head->prev;
    e->next = head;
    head->prev->next = e;
    head->prev = e;
}

static void unlink_entry(au_wheel_entry *e) {
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->next = e->prev = NULL;
}

bool au_wheel_init(au_wheel *w, uint64_t granule, size_t nslots, uint64_t start) {
    *w = (au_wheel){ 0 };
    if (!granule) return false;
    size_t n = 2;
    while (n < nslots && n < ((size_t)1 << 30)) n *= 2;
    w->slots = malloc(n * sizeof *w->slots);
    if (!w->slots) return false;
    for (size_t i = 0; i < n; i++) list_init(&w->slots[i]);
    list_init(&w->ready);
    w->mask = n - 1;
    w->granule = granule;
    w->cursor = start / granule;
    return true;
}

void au_wheel_destroy(au_wheel *w) {
    free(w->slots);
    *w = (au_wheel){ 0 };
}

void au_wheel_set(au_wheel *w, au_wheel_entry *e, uint64_t due) {
    if (e->next) unlink_entry(e);
    else w->len++;
    e->due = due;
    uint64_t g = due / w->granule;
    if (g < w->cursor) g = w->cursor;
    link_tail(&w->slots[g & w->mask], e);
}

void au_wheel_remove(au_wheel *w, au_wheel_entry *e) {
    if (!e->next) return;
    unlink_entry(e);
    w->len--;
}

/* Moves the entries of the cursor's slot due by now to the ready list; returns how many. */
static size_t sweep_slot(au_wheel *w, uint64_t now) {
    au_wheel_entry *head = &w->slots[w->cursor & w->mask];
    size_t moved = 0;
    for (au_wheel_entry *e = head->next, *n; e != head; e = n) {
        n = e->next;
        if (e->due <= now) {
            unlink_entry(e);
            link_tail(&w->ready, e);
            moved++;
        }
    }
    return moved;
}

/* Sweeps from the cursor until the ready list has an entry or now's granule has been swept
 * (the cursor stays there: entries due later in that granule may still come). */
static void sweep(au_wheel *w, uint64_t now) {
    uint64_t last = now / w->granule;
    if (!w->len && w->cursor < last) w->cursor = last; /* nothing to pass over */
    while (w->ready.next == &w->ready && w->cursor <= last && w->len) {
        sweep_slot(w, now);
        if (w->cursor == last) break;
        w->cursor++;
    }
}

au_wheel_entry *au_wheel_pop_due(au_wheel *w, uint64_t now) {
    if (w->ready.next == &w->ready) sweep(w, now);
    au_wheel_entry *e = w->ready.next;
    if (e == &w->ready) return NULL;
    unlink_entry(e);
    w->len--;
    return e;
}

uint64_t au_wheel_earliest_due(au_wheel *w, uint64_t now) {
    if (w->ready.next == &w->ready) sweep(w, now);
    uint64_t best = UINT64_MAX;
    for (au_wheel_entry *e = w->ready.next; e != &w->ready; e = e->next)
        if (e->due < best) best = e->due;
    return best;
}
