/* mailbox.h — an actor's mailbox: a lock-free, intrusive, multi-producer single-consumer queue.
 *
 * Four verbs: init, push (any thread), pop and mark_empty (the consumer only). The trick, after
 * Pony's messageq: the low bit of `head` means "empty and not scheduled". push reports whether it
 * found that bit; the sender that finds it owns the duty to schedule the actor, so exactly one
 * party schedules an actor per empty→non-empty transition, with one atomic exchange per send.
 *
 * Invariant: the node at `tail` has been consumed already (it is the queue's stub). pop returns
 * tail->next and frees the old tail; the envelope returned stays in the queue as the new stub
 * until the next pop, so its memory must not be freed by the consumer.
 *
 * Orders, in one line: the push (au_mpsc_link, util/mpsc.h) publishes each envelope to pop with
 * release/acquire on the next pointers, and the empty bit hands the scheduled token both ways
 * with release/acquire on head (mark_empty's CAS releases the finished turn, the exchange of
 * the push that finds the bit acquires it), so whoever runs the next turn, on whatever thread,
 * sees the previous one. */
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

/* Starts empty and marked empty (not scheduled). Relaxed: a mailbox is initialised with its
 * cell, before any reference to the cell exists; spawn's publication of the cell publishes it. */
static inline void au_mailbox_init(au_mailbox *q) {
    atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
    q->tail = &q->stub;
    atomic_store_explicit(&q->head, (uintptr_t)&q->stub | 1u, memory_order_relaxed);
}

/* Appends n; returns true if the queue was marked empty, i.e. the caller now holds the
 * scheduled token and must schedule. Any thread. The exchange inside au_mpsc_link is acq_rel:
 * its acquire half is what makes taking the token safe (see mark_empty). */
static inline bool au_mailbox_push(au_mailbox *q, au_mnode *n) {
    return (au_mpsc_link(&q->head, n, 1u) & 1u) != 0;
}

/* Appends the chain first → … → last (linked by the caller with relaxed stores, reachable by
 * nobody else) with one exchange: the whole run becomes visible to pop at once, through the
 * release link store of the previous node, which orders the chain's own links before it. The
 * return is that of au_mailbox_push. */
static inline bool au_mailbox_push_chain(au_mailbox *q, au_mnode *first, au_mnode *last) {
    atomic_store_explicit(&last->next, NULL, memory_order_relaxed); /* as in au_mpsc_link */
    uintptr_t prev = atomic_exchange_explicit(&q->head, (uintptr_t)last, memory_order_acq_rel);
    au_mnode *p = (au_mnode *)(prev & ~(uintptr_t)1u);
    atomic_store_explicit(&p->next, first, memory_order_release); /* pairs with pop */
    return (prev & 1u) != 0;
}

/* The next node, or NULL if none is visible yet. *consumed receives the old stub, which the
 * caller frees (unless it is q->stub). */
static inline au_mnode *au_mailbox_pop(au_mailbox *q, au_mnode **consumed) {
    au_mnode *tail = q->tail;
    /* acquire: pairs with the release link store in au_mpsc_link, so the node's contents (and
     * what its sender wrote before sending) are visible. */
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
 * that node; every change of head is an atomic read-modify-write, so a pusher that took the old
 * stub as its prev would have changed head first and made the CAS fail.) */
static inline bool au_mailbox_mark_empty(au_mailbox *q, au_mnode **recycled) {
    uintptr_t tail = (uintptr_t)q->tail;
    /* relaxed: a first look only, the CAS below decides. Only this consumer sets the bit, so a
     * set bit is its own earlier store (e.g. a dedicated thread woken by a stale `ready`); if a
     * push has cleared it unseen, that pusher holds the token and schedules us again. */
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
    /* acq_rel on success. Release: pairs with the acquire exchange of the push that next finds
     * the bit, so the party that takes the token (and may run the next turn on another thread)
     * sees everything this turn did, the stub reset above included. Acquire is more than this
     * needs (the last node was already acquired through its next pointer), kept so the CAS
     * reads as the token hand-off both ways. Relaxed on failure: nothing was handed off, and
     * the caller pops again, acquiring the new node through its next pointer. */
    if (!atomic_compare_exchange_strong_explicit(&q->head, &tail, target, memory_order_acq_rel,
                                                 memory_order_relaxed)) {
        q->tail = old;
        return false;
    }
    if (old != &q->stub) *recycled = old;
    return true;
}

#endif
