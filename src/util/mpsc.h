/* mpsc.h — the intrusive multi-producer single-consumer queue, after Dmitry Vyukov's MPSC queue
 * with a stub node: its push (au_mpsc_link, shared with the mailbox, core/mailbox.h) and the
 * "run queue" built on it (a worker's runnable cells, the simulator's, a peer's outgoing
 * messages).
 *
 * Unlike the mailbox, a popped node leaves the run queue entirely, so the same node can be
 * pushed again right away. The owner of a node guarantees it is in at most one queue at a time
 * (a cell: only the holder of its mailbox's scheduled token pushes it; an outgoing message: it
 * is pushed once), and the owner of a queue that there is one consumer at a time (a worker its
 * own queue; a peer's queue: the thread holding the peer's `sending` flag).
 *
 * Progress: pushes are wait-free (one exchange, one store). The consumer is not: between a
 * pusher's exchange and its link store the chain is broken, and the consumer sees an empty
 * queue behind the gap until that pusher runs its next instruction (pop returns NULL; callers
 * that know more is coming, by a counter, poll again). That is the price of one atomic
 * instruction per push. */
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
 * word, flag included. With a constant tag_bits the masking folds away when inlined.
 *
 * The memory orders, and what each pairs with:
 *  - n->next = NULL, relaxed: n is reachable by nobody yet. The exchange's release half
 *    publishes this store to the next pusher, which writes n->next after it; without that the
 *    late NULL could land after the next pusher's link and lose its node.
 *  - the exchange, acq_rel. Acquire: pairs with the previous pusher's release exchange, so its
 *    `prev->next = NULL` is visible (and ordered before) our link store on prev; for the
 *    mailbox it also pairs with the consumer's release CAS in au_mailbox_mark_empty, so the
 *    pusher that finds the empty bit, and thereby takes the scheduled token, sees the
 *    consumer's whole last turn. Release: for the next pusher, as above. The consumer never
 *    reaches n through head (only compares head with its tail), so nothing else needs it.
 *    On x86 any exchange is a full barrier; a single-producer queue could use a plain load and
 *    store here, a multi-producer one cannot.
 *  - p->next = n, release: pairs with the consumer's acquire load of tail->next (pop), so the
 *    consumer sees n and everything its sender wrote before the push (the envelope, the cell's
 *    state handed over with the token). */
static inline uintptr_t au_mpsc_link(_Atomic(uintptr_t) *head, au_mnode *n, uintptr_t tag_bits) {
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed); /* relaxed: see above */
    uintptr_t prev = atomic_exchange_explicit(head, (uintptr_t)n, memory_order_acq_rel);
    au_mnode *p = (au_mnode *)(prev & ~tag_bits);
    atomic_store_explicit(&p->next, n, memory_order_release); /* release: pairs with pop */
    return prev;
}

typedef struct au_runq {
    _Atomic(uintptr_t) head; /* the newest node (no tag bits) */
    au_mnode *tail;          /* consumer-owned: the oldest node, or the stub */
    au_mnode stub;
} au_runq;

/* Relaxed: a queue is initialised before it is shared, and whatever shares it (thread
 * creation, a mutex, a release store of its owner) publishes these stores. */
static inline void au_runq_init(au_runq *q) {
    atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
    atomic_store_explicit(&q->head, (uintptr_t)&q->stub, memory_order_relaxed);
    q->tail = &q->stub;
}

static inline void au_runq_push(au_runq *q, au_mnode *n) { au_mpsc_link(&q->head, n, 0); }

/* The oldest node, or NULL if none is visible yet (a push may be half done). Consumer only.
 * Every load of a next pointer is acquire, pairing with the link store of au_mpsc_link: the
 * node returned is fully written. */
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
    /* tail is the last node we can see. If head is elsewhere a pusher is between its exchange
     * and its link: come back later. Acquire is more than this needs (the word is only
     * compared, never followed) and costs nothing on x86; a stale value is harmless either
     * way: the stub push below is an exchange, which always sees the newest head. */
    if ((uintptr_t)tail != atomic_load_explicit(&q->head, memory_order_acquire))
        return NULL; /* in progress */
    /* tail is the only node: the stub goes behind it so that tail can be handed out (the
     * consumer pushing is one more producer; same orders as any push). */
    au_runq_push(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next) {
        q->tail = next;
        return tail;
    }
    return NULL;
}

#endif
