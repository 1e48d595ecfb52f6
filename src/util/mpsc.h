/* runq.h — an intrusive multi-producer single-consumer queue of "things to run" (cells for a
 * worker, peers for the transport), after Dmitry Vyukov's MPSC queue with a stub node.
 *
 * Unlike the mailbox (mailbox.h) a popped node leaves the queue entirely, so the same node can be
 * pushed again right away; the owner of a node guarantees it is in at most one queue at a time
 * (cells: the mailbox's scheduled token; peers: their `dirty` flag). */
#ifndef AU_UTIL_MPSC_H
#define AU_UTIL_MPSC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* A queue link, embedded in what is queued (envelopes, cells, outgoing messages). */
typedef struct au_mnode {
    _Atomic(struct au_mnode *) next;
} au_mnode;

/* The push of both queues (this one and the mailbox): makes n the newest node and links the
 * previous newest to it. `head` holds the newest node's address, whose low bits `tag_bits` may
 * carry a flag of the queue's own (the mailbox's empty bit; 0 here); returns the previous head
 * word, flag included. With a constant tag_bits the masking folds away when inlined. */
static inline uintptr_t au_mpsc_link(_Atomic(uintptr_t) *head, au_mnode *n, uintptr_t tag_bits) {
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    /* acq_rel: release publishes n's contents to the consumer; acquire orders us after the
     * previous pusher so prev->next is written on a live node. */
    uintptr_t prev = atomic_exchange_explicit(head, (uintptr_t)n, memory_order_acq_rel);
    au_mnode *p = (au_mnode *)(prev & ~tag_bits);
    /* release: the consumer's acquire load of next sees n fully written. */
    atomic_store_explicit(&p->next, n, memory_order_release);
    return prev;
}

typedef struct au_runq {
    _Atomic(uintptr_t) head; /* the newest node (no tag bits) */
    au_mnode *tail;
    au_mnode stub;
} au_runq;

static inline void au_runq_init(au_runq *q) {
    atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
    atomic_store_explicit(&q->head, (uintptr_t)&q->stub, memory_order_relaxed);
    q->tail = &q->stub;
}

static inline void au_runq_push(au_runq *q, au_mnode *n) { au_mpsc_link(&q->head, n, 0); }

/* The oldest node, or NULL if none is visible yet (a push may be half done). */
static inline au_mnode *au_runq_pop(au_runq *q) {
    au_mnode *tail = q->tail;
    au_mnode *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->stub) {
        if (!next) return NULL;
        q->tail = next;
        tail = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next) {
        q->tail = next;
        return tail;
    }
    if ((uintptr_t)tail != atomic_load_explicit(&q->head, memory_order_acquire))
        return NULL; /* in progress */
    au_runq_push(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next) {
        q->tail = next;
        return tail;
    }
    return NULL;
}

#endif
