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

/* A queue link, embedded in what is queued (envelopes, cells, outgoing messages). */
typedef struct au_mnode {
    _Atomic(struct au_mnode *) next;
} au_mnode;

typedef struct au_runq {
    _Atomic(au_mnode *) head;
    au_mnode *tail;
    au_mnode stub;
} au_runq;

static inline void au_runq_init(au_runq *q) {
    atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
    atomic_store_explicit(&q->head, &q->stub, memory_order_relaxed);
    q->tail = &q->stub;
}

static inline void au_runq_push(au_runq *q, au_mnode *n) {
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    /* acq_rel: publishes n and orders us after the previous pusher. */
    au_mnode *prev = atomic_exchange_explicit(&q->head, n, memory_order_acq_rel);
    /* release: the consumer's acquire load of next sees n. */
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

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
    if (tail != atomic_load_explicit(&q->head, memory_order_acquire)) return NULL; /* in progress */
    au_runq_push(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next) {
        q->tail = next;
        return tail;
    }
    return NULL;
}

#endif
