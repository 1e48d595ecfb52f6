/* mailbox.h — an actor's mailbox: a lock-free, intrusive, multi-producer single-consumer queue.
 *
 * Four verbs: init, push (any thread), pop and mark_empty (the consumer only). The trick, after
 * Pony's messageq: the low bit of `head` means "empty and not scheduled". push reports whether it
 * found that bit; the sender that finds it owns the duty to schedule the actor, so exactly one
 * party schedules an actor per empty→non-empty transition, with one atomic exchange per send.
 *
 * Invariant: the node at `tail` has been consumed already (it is the queue's stub). pop returns
 * tail->next and frees the old tail; the envelope returned stays in the queue as the new stub
 * until the next pop, so its memory must not be freed by the consumer. */
#ifndef AU_CORE_MAILBOX_H
#define AU_CORE_MAILBOX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/mpsc.h"

typedef struct au_mailbox {
    _Atomic(uintptr_t) head; /* last pushed node | 1 when marked empty */
    au_mnode *tail;          /* consumer-owned */
    au_mnode stub;           /* the first stub; later stubs are consumed envelopes */
} au_mailbox;

/* Starts empty and marked empty (not scheduled). */
static inline void au_mailbox_init(au_mailbox *q) {
    atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
    q->tail = &q->stub;
    atomic_store_explicit(&q->head, (uintptr_t)&q->stub | 1u, memory_order_relaxed);
}

/* Appends n; returns true if the queue was marked empty, i.e. the caller must schedule. */
static inline bool au_mailbox_push(au_mailbox *q, au_mnode *n) {
    return (au_mpsc_link(&q->head, n, 1u) & 1u) != 0;
}

/* The next node, or NULL if none is visible yet. *consumed receives the old stub, which the
 * caller frees (unless it is q->stub). */
static inline au_mnode *au_mailbox_pop(au_mailbox *q, au_mnode **consumed) {
    au_mnode *tail = q->tail;
    /* acquire: pairs with the release store in push, so the node's contents are visible. */
    au_mnode *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    *consumed = NULL;
    if (next) {
        q->tail = next;
        *consumed = tail;
    }
    return next;
}

/* Marks the queue empty if it is; returns false if a message arrived (keep running). When it
 * succeeds and the stub is a consumed envelope, the embedded stub takes its place in the same
 * CAS, and the envelope is handed back in *recycled to be freed: an idle actor then holds no
 * envelope at all. (No producer can hold the old stub: the CAS succeeds only if head is still
 * that node, i.e. nobody pushed behind it.) */
static inline bool au_mailbox_mark_empty(au_mailbox *q, au_mnode **recycled) {
    uintptr_t tail = (uintptr_t)q->tail;
    uintptr_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    *recycled = NULL;
    if (head & 1u) return true;
    if (head != tail) return false;
    uintptr_t target = tail | 1u;
    au_mnode *old = q->tail;
    if (old != &q->stub) {
        /* Set up before the CAS: once it succeeds a producer may schedule us on another
         * worker, whose pop reads tail; the CAS's release publishes these writes. */
        atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
        q->tail = &q->stub;
        target = (uintptr_t)&q->stub | 1u;
    }
    /* acq_rel: whoever next finds the bit (and schedules us) sees everything this turn did. */
    if (!atomic_compare_exchange_strong_explicit(&q->head, &tail, target, memory_order_acq_rel,
                                                 memory_order_relaxed)) {
        q->tail = old;
        return false;
    }
    if (old != &q->stub) *recycled = old;
    return true;
}

#endif
