/* send.c — the send path: a message encoded by its sender is queued on its peer; whichever
 * thread finds the peer idle packs everything queued into MTU-sized datagrams (wire.c's packer
 * coalesces small messages and fragments large ones; a message to a device leaves alone, in a
 * datagram no larger than the device takes) and sends them through the channel in batches.
 *
 * A thread's send batch spans peers: the datagrams it packs for many peers (a turn that sends to
 * thousands of devices, each its own peer) leave together, up to AU_NET_BATCH per channel call
 * (one sendmmsg), not one call per peer. A peer whose datagrams sit in the batch stays owned by
 * the thread (its `sending` flag) until they have been handed to the channel, so one peer's
 * datagrams still leave in the order they were packed, and the handshake of send_queued holds
 * unchanged, only with the release later. A thread owns at most AU_NET_BATCH peers at once.
 *
 * During an actor's turn, sending to a peer is only noted (the batch's deferred peers, flushed
 * by one au_turn_defer per turn): when the turn ends the thread packs once for each peer, so the
 * messages of one turn to one peer share datagrams, at no cost in latency (nothing else would run
 * on this worker before the turn ends anyway). Beyond DEFER_PEERS peers in one turn, a peer is
 * packed at once, into the same batch, which leaves when full or at the turn's end.
 *
 * A driver may decide a message's fate before it is packed (message_fate: per-message fault
 * injection): copies sent later are held on a node timer and queued again, marked as fated. */
#include "net/net.h"
#include "util/clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define DEFER_PEERS 128 /* peers noted per turn before packing at once */
#define DEFER_SET 256   /* the open-addressing set of noted peers (a power of two, load <= 1/2) */

/* A thread's send batch: datagrams collected while packing, for any peers of one net, sent with
 * one channel call per AU_NET_BATCH of them. Invariants: every peer in owned[] has sending == 1
 * taken by this thread and one hold of this batch's; every datagram's peer is in owned[] (or is
 * the peer being drained); deferred[] peers each carry one hold and are in the set. */
typedef struct batch {
    au_net_t *net;           /* of everything in the batch (one net at a time) */
    au_peer *peer;           /* being drained */
    au_wire_packer packer;   /* made for the peer being drained, destroyed after (drain) */
    size_t count, cap, slot;
    au_datagram dg[AU_NET_BATCH];
    au_peer *dg_peer[AU_NET_BATCH];
    au_peer *owned[AU_NET_BATCH];
    size_t nowned;
    struct { au_peer *peer; size_t slot; } deferred[DEFER_PEERS];
    size_t ndeferred;
    au_peer *set[DEFER_SET];
    bool armed;              /* flush_turn is deferred to the end of this thread's turn */
    uint8_t buf[AU_NET_BATCH_BYTES];
} batch;

static pthread_key_t batch_key;
static pthread_once_t batch_once = PTHREAD_ONCE_INIT;
static void make_batch_key(void) { pthread_key_create(&batch_key, free); }

static batch *thread_batch(void) {
    pthread_once(&batch_once, make_batch_key);
    batch *b = pthread_getspecific(batch_key);
    if (!b && (b = calloc(1, sizeof *b))) pthread_setspecific(batch_key, b);
    return b;
}

/* Hands the batch's datagrams to the channel. The peers stay owned (released by flush_all). */
static void send_datagrams(batch *b) {
    au_net_t *net = b->net;
    /* Per peer, for au_node_unanswered and the "no answer" warning: counted before the
     * datagrams leave, so that an answer to one always finds it counted (counted after, it
     * could land on top of the reset the answer made). The channel says how many failed, not
     * which: a batch that failed entirely is taken back, otherwise every datagram counts. */
    for (size_t i = 0, j; i < b->count; i = j) {
        for (j = i + 1; j < b->count && b->dg_peer[j] == b->dg_peer[i];) j++;
        au_net_peer_sent(net, b->dg_peer[i], j - i);
    }
    size_t failed = net->channel->send(net, b->dg, b->count);
    size_t bytes = 0;
    for (size_t i = 0; i < b->count; i++) bytes += b->dg[i].len;
    if (failed) au_stat_add(&net->stats.drops_send_failed, failed);
    au_stat_add(&net->stats.datagrams_sent, b->count - failed);
    au_stat_add(&net->stats.bytes_sent, bytes); /* bytes handed to the channel */
    if (failed && failed == b->count) {
        for (size_t i = 0, j; i < b->count; i = j) {
            for (j = i + 1; j < b->count && b->dg_peer[j] == b->dg_peer[i];) j++;
            au_net_peer_unsent(b->dg_peer[i], j - i);
        }
    }
    b->count = 0;
}

/* The packer's emit callback: the datagram joins the thread's batch. */
void au_net_emit(void *user, const uint8_t *dgram, size_t len) {
    batch *b = user; /* set by drain() while this thread owns the peer's packer */
    if (b->count == b->cap) send_datagrams(b);
    size_t i = b->count++;
    uint8_t *slot = b->buf + i * b->slot;
    memcpy(slot, dgram, len);
    b->dg[i] = (au_datagram){ (const struct sockaddr *)&b->peer->addr.sa, b->peer->addr.len, slot,
                              len };
    b->dg_peer[i] = b->peer;
}

/* ---- copies a driver holds back -------------------------------------------------------------- */

typedef struct delayed_msg {
    au_net_t *net;
    au_peer *peer;
    au_outmsg *m;
} delayed_msg;

static void send_delayed_msg(au_node *node, void *arg) {
    delayed_msg *d = arg;
    au_net_enqueue(d->net, d->peer, d->m);
    free(d);
}

static void discard_delayed_msg(void *arg) {
    delayed_msg *d = arg;
    au_net_remote_unpin(d->m->to);
    au_pool_free(d->m->pool_class, d->m);
    free(d);
}

/* Holds a copy of m back for `delay`; it is then queued again, marked as fated. */
static void delay_msg(au_net_t *net, au_peer *peer, const au_outmsg *m, au_nanos delay) {
    size_t size = sizeof *m + m->payload_len;
    au_outmsg *copy = au_pool_alloc(au_pool_class(size), size);
    delayed_msg *d = malloc(sizeof *d);
    if (!copy || !d) {
        if (copy) au_pool_free(au_pool_class(size), copy);
        free(d);
        return;
    }
    memcpy(copy, m, size);
    copy->pool_class = au_pool_class(size);
    copy->fated = 1;
    /* relaxed suffices: m's own pin keeps the slot in place while this one is added. */
    if (copy->to) atomic_fetch_add_explicit(&copy->to->pins, 1, memory_order_relaxed);
    *d = (delayed_msg){ net, peer, copy };
    if (!au_timers_add_call(net->node, au_deadline_after(au_node_now(net->node), delay),
                            send_delayed_msg, discard_delayed_msg, d))
        discard_delayed_msg(d);
}

/* How many copies of m to pack now (the driver may drop, duplicate or hold some back). */
static unsigned fate(au_net_t *net, au_peer *peer, au_outmsg *m) {
    au_driver_node *dn = net->node->driver;
    if (!dn->ops->message_fate || m->fated) return 1;
    au_nanos delay[2] = { 0, 0 };
    unsigned copies = dn->ops->message_fate(dn, (const struct sockaddr *)&peer->addr.sa,
                                            peer->addr.len, delay);
    unsigned now = 0;
    for (unsigned i = 0; i < copies && i < 2; i++) {
        if (delay[i])
            delay_msg(net, peer, m, delay[i]);
        else
            now++;
    }
    return now;
}

/* ---- packing ------------------------------------------------------------------------------------ */

/* A peer's packer exists only while a thread drains the peer's queue, and belongs to that
 * thread's batch: a packer per peer (its struct and an MTU of buffer) would otherwise stay with
 * every peer ever sent to, which for a node of a large cluster is most members. Nothing of it
 * needs to outlive a drain: it is flushed at the end, and its sequence numbers come from the
 * node-wide counter, so the next one continues from there. */
static bool packer_open(au_net_t *net, batch *b, au_seal_key *device_key) {
    /* acquire: the primary key's bytes are visible once its pointer is. A device's peer seals
     * with that device's key instead (device_keys.c). */
    au_seal_key *key = device_key ? device_key
                                  : atomic_load_explicit(&net->primary, memory_order_acquire);
    if (au_wire_packer_init(&b->packer, &net->limits, net->incarnation, &net->ids, key,
                            au_net_emit, b) != AU_WIRE_OK)
        return false;
    if (key && !device_key) au_wire_packer_follow(&b->packer, &net->primary); /* rotation */
    au_wire_packer_share_seq(&b->packer, &net->seq);
    return true;
}

/* Packs everything queued for the peer into the batch. Caller owns peer->sending, and the
 * batch's net is net (start_peer). */
static void drain(au_net_t *net, au_peer *peer, batch *b) {
    b->peer = peer;
    /* out of memory: what is queued is dropped, counted */
    bool open = packer_open(net, b, peer->dkey_device ? peer->dkey : NULL);
    au_mnode *n;
    while ((n = au_runq_pop(&peer->queue))) {
        au_outmsg *m = (au_outmsg *)n;
        unsigned copies = open ? fate(net, peer, m) : 0;
        if (!open) au_stat_add(&net->stats.drops_send_failed, 1);
        au_wire_dest dest = { .kind = m->kind, .iface_type = m->iface_id };
        const uint8_t *payload = m->payload;
        size_t payload_len = m->payload_len;
        if (m->to) {
            dest.name = (const uint8_t *)m->to->name;
            dest.name_len = m->to->name_len;
            dest.root_type = m->to->root_id;
        } else { /* a system message: the name leads its payload */
            dest.name = m->payload;
            dest.name_len = m->sys_name_len;
            dest.root_type = m->sys_root;
            payload += m->sys_name_len;
            payload_len -= m->sys_name_len;
        }
        if (open && m->to && net->devkeys) {
            int rekey = au_net_device_downlink(net, peer, &b->packer, &dest, payload, payload_len);
            if (rekey == 1) { /* another device's key from here on */
                au_wire_packer_destroy(&b->packer);
                open = packer_open(net, b, peer->dkey_device ? peer->dkey : NULL);
            }
            if (rekey < 0 || !open) {
                copies = 0;
                au_stat_add(&net->stats.drops_send_failed, 1);
            }
        }
        /* A device takes datagrams of its own max_datagram, which the server sizes each
         * message for, not the node's mtu: a message to a device leaves in a datagram alone. */
        bool alone = open && m->to && au_net_device_dest(&dest);
        if (alone) au_wire_packer_flush(&b->packer);
        for (unsigned c = 0; c < copies; c++) {
            if (alone && c) au_wire_packer_flush(&b->packer);
            int st = au_wire_packer_add(&b->packer, &dest, payload, payload_len);
            if (st != AU_WIRE_OK) {
                au_stat_add(&net->stats.drops_too_big, 1);
                char text[64];
                au_addr_format(&peer->addr, text, sizeof text);
                au_log(AU_LOG_NET, AU_LOG_DEBUG, "to %s: %s", text, au_wire_status_str(st));
            } else {
                au_stat_add(&net->stats.messages_sent_remote, 1);
            }
        }
        if (alone) au_wire_packer_flush(&b->packer);
        au_net_remote_unpin(m->to); /* packed: the slot may be reused now */
        au_pool_free(m->pool_class, m);
        /* relaxed: a count, publishing nothing. This thread's own seq_cst load in send_queued
         * comes after it and sees it (coherence); the next owner of `sending` gets it through
         * the release/acquire of that flag. Decremented after the pop, so `queued` never drops
         * below the messages still in the queue. */
        atomic_fetch_sub_explicit(&peer->queued, 1, memory_order_relaxed);
    }
    if (open) {
        au_wire_packer_flush(&b->packer);
        au_wire_packer_destroy(&b->packer);
    }
    b->peer = NULL;
}

/* A hold keeps the peer from eviction (peer.c) while this thread may still touch it. seq_cst:
 * pairs with evict_idle's check. Taken while the caller's message still pins its slot. */
static void hold(au_peer *peer) { atomic_fetch_add_explicit(&peer->holds, 1, memory_order_seq_cst); }
static void unhold(au_peer *peer) { atomic_fetch_sub_explicit(&peer->holds, 1, memory_order_seq_cst); }

/* Sends what is queued for a peer, unless another thread is doing so: a sender that finds the
 * peer busy leaves its message to the busy thread, and that thread, after releasing the peer,
 * looks at `queued` again, so no message is left behind.
 *
 * The argument (a Dekker handshake, all four operations seq_cst, so in one total order). The
 * enqueuer E does: queued += 1 (A1, in au_net_enqueue, before the push); push; exchange
 * sending := 1 (A2). The owner D does: drain; hand the datagrams to the channel; store
 * sending := 0 (B1); load queued (B2). If A2 finds 1, A2 read a value that B1 overwrites, so A2
 * precedes B1; with A1 before A2 and B1 before B2, A1 precedes B2, and B2 sees E's increment.
 * Every decrement follows the pop of its message, so B2 reads 0 only if E's message was popped;
 * otherwise D takes the peer again, or finds that another thread has (and that one loops the
 * same way). Release/acquire would not do: B1-then-B2 is a store followed by a load of another
 * variable, and B2 could read a stale 0 while A2 reads a stale 1, leaving the message queued
 * with nobody sending. `sending` is also the lock of the peer's queue consumer side and of its
 * send statistics: the exchange acquires what the previous owner's store released (the packer
 * itself is the owner's own, per drain).
 *
 * Here D's steps are split: take_peer (A2 for D's own message, then drain) puts the peer in the
 * batch's owned set; flush_all sends and then does B1 and B2 for every owned peer, draining
 * again (into a fresh round) those that have more. Until B1 the peer's datagrams may still be in
 * the batch, so no other thread sends for it meanwhile: its datagrams leave in packing order.
 *
 * Cost: queued is raised before the push is linked, so B2 may see a message that D cannot pop
 * yet; D then drains an empty queue once more (a short spin, as long as E's push takes). */
static void flush_all(batch *b);

/* Makes net the batch's net (flushing another's first) and sizes its slots for its MTU. */
static void batch_net(batch *b, au_net_t *net) {
    if (b->net == net) return;
    if (b->net) flush_all(b);
    b->net = net;
    b->count = 0;
    b->slot = net->limits.mtu;
    b->cap = AU_NET_BATCH_BYTES / b->slot;
    if (b->cap > AU_NET_BATCH) b->cap = AU_NET_BATCH;
}

/* Takes the peer (A2) and packs its queue into the batch; false if another thread owns it. */
static bool take_peer(batch *b, au_peer *peer) {
    batch_net(b, peer->net); /* no-op inside flush_all: its peers are all of b->net */
    if (b->nowned == AU_NET_BATCH) flush_all(b); /* never inside flush_all: see there */
    if (atomic_exchange_explicit(&peer->sending, 1, memory_order_seq_cst)) return false; /* A2 */
    hold(peer); /* the batch's: until released in flush_all */
    b->owned[b->nowned++] = peer;
    drain(peer->net, peer, b);
    return true;
}

/* Sends everything in the batch and releases the peers, draining again those with more queued,
 * until nothing is owned. */
static void flush_all(batch *b) {
    au_peer *was[AU_NET_BATCH];
    while (b->count || b->nowned) {
        if (b->count) send_datagrams(b);
        size_t n = b->nowned;
        memcpy(was, b->owned, n * sizeof *was);
        b->nowned = 0; /* at most n peers are taken again below: owned[] has room */
        for (size_t i = 0; i < n; i++) {
            au_peer *p = was[i];
            atomic_store_explicit(&p->sending, 0, memory_order_seq_cst);     /* B1 */
            if (atomic_load_explicit(&p->queued, memory_order_seq_cst) != 0) /* B2 */
                take_peer(b, p);
            unhold(p); /* after B2; a peer taken again holds once more */
        }
    }
}

static size_t set_slot(au_peer *peer) {
    uintptr_t x = (uintptr_t)peer;
    return (size_t)((x >> 4) * 0x9e3779b97f4a7c15ull >> 32) & (DEFER_SET - 1);
}

/* The end of a turn that sent: packs each noted peer, then sends everything. */
static void flush_turn(void *arg) {
    batch *b = arg;
    b->armed = false;
    for (size_t i = 0; i < b->ndeferred; i++) {
        au_peer *p = b->deferred[i].peer;
        b->set[b->deferred[i].slot] = NULL;
        take_peer(b, p); /* owned by another thread: that one sends what is queued */
        unhold(p);       /* the note's (the batch holds its own while owned) */
    }
    b->ndeferred = 0;
    flush_all(b);
    b->net = NULL; /* the next turn may be another node's (and this one may stop) */
}

/* Notes the peer for the turn's end: false when it cannot be (no room), or already noted. */
static bool note(batch *b, au_peer *peer, bool *already) {
    size_t k = set_slot(peer);
    while (b->set[k]) {
        if (b->set[k] == peer) {
            *already = true;
            return true;
        }
        k = (k + 1) & (DEFER_SET - 1);
    }
    *already = false;
    if (b->ndeferred == DEFER_PEERS) return false;
    b->set[k] = peer;
    b->deferred[b->ndeferred].peer = peer;
    b->deferred[b->ndeferred++].slot = k;
    return true;
}

/* Within a turn, makes sure the batch is flushed at its end; false: no turn, or the turn cannot
 * take one more deferral (then the caller flushes now). */
static bool arm(batch *b) {
    if (b->armed) return true;
    if (au_turn_defer(flush_turn, b) != AU_TURN_DEFERRED) return false;
    b->armed = true;
    return true;
}

#define DEFER_MESSAGES 256 /* queued for one peer: pack without waiting for the turn's end */

void au_net_enqueue(au_net_t *net, au_peer *peer, au_outmsg *m) {
    batch *b = thread_batch();
    if (!b) {
        au_stat_add(&net->stats.drops_send_failed, 1);
        au_net_remote_unpin(m->to);
        au_pool_free(m->pool_class, m);
        return;
    }
    /* seq_cst: A1 of the handshake (see above). Before the push, so that `queued` is never
     * below the messages in the queue. The value read only picks when to stop deferring. */
    hold(peer); /* before m is queued: m's pin keeps the peer until another thread packs it */
    uint64_t queued = atomic_fetch_add_explicit(&peer->queued, 1, memory_order_seq_cst) + 1;
    au_runq_push(&peer->queue, &m->node);
    bool turn = arm(b);
    if (turn && queued < DEFER_MESSAGES) {
        bool already;
        if (note(b, peer, &already)) {
            if (already) unhold(peer); /* the note holds it already */
            return;                    /* the note keeps the hold */
        }
    }
    /* Not taken: another thread owns the peer (it sends what is queued), or this one does, its
     * datagrams waiting in the batch. With that many queued, send the batch now, which drains
     * the peer again if it is this thread's: a long turn's queue stays bounded. */
    if (!take_peer(b, peer) && queued >= DEFER_MESSAGES) flush_all(b);
    unhold(peer);
    if (!turn) {
        flush_all(b);
        b->net = NULL;
    }
}
