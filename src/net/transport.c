/* transport.c — the node's UDP socket: start and stop, the send path (combining senders into
 * sendmmsg batches) and the receive path (recvmmsg, validation, reassembly, routing).
 *
 * Relies on wire.c for the bytes, reassembly.c for large messages, seal.c for the optional AEAD,
 * remote_deliver.c to route a complete message to its actor. Every malformed or unexpected
 * datagram is dropped, counted by reason, and logged at debug level. */
#define _GNU_SOURCE /* sendmmsg */
#include "net/net.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#define EXPIRE_PERIOD_MS 100

static void count(_Atomic uint64_t *c, uint64_t n) {
    /* relaxed: statistics need no ordering with anything else. */
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---- peers ---------------------------------------------------------------------------------- */

static void peer_free(au_peer *p) {
    au_mnode *n;
    while ((n = au_runq_pop(&p->queue))) {
        au_outmsg *m = (au_outmsg *)n;
        au_pool_free(m->pool_class, m);
    }
    au_wire_packer_destroy(&p->packer);
    if (p->reassembly) au_reassembly_destroy(p->reassembly);
    free(p);
}

static void emit(void *user, const uint8_t *dgram, size_t len);
void au_net_stop_(au_node *node);

au_peer *au_net_peer(au_net_t *net, const au_addr *addr, bool create) {
    uint64_t h = au_addr_hash(addr);
    pthread_mutex_lock(&net->lock);
    au_peer *p = net->peers[h & (net->npeers_buckets - 1)];
    while (p && !au_addr_equal(&p->addr, addr)) p = p->next;
    if (!p && create && net->npeers < net->max_peers && (p = calloc(1, sizeof *p))) {
        p->addr = *addr;
        au_addr_format(addr, p->text, sizeof p->text);
        au_runq_init(&p->queue);
        if (au_wire_packer_init(&p->packer, &net->limits, net->incarnation, &net->ids, net->key,
                                emit, NULL) != AU_WIRE_OK) {
            free(p);
            p = NULL;
        } else {
            p->next = net->peers[h & (net->npeers_buckets - 1)];
            net->peers[h & (net->npeers_buckets - 1)] = p;
            net->npeers++;
        }
    }
    pthread_mutex_unlock(&net->lock);
    return p;
}

/* ---- send path ---------------------------------------------------------------------------- */

/* A thread's send batch: datagrams collected while packing, sent with one sendmmsg. */
typedef struct batch {
    au_net_t *net;
    au_peer *peer;
    const au_fault_rule *rule; /* faults for this peer, or NULL */
    size_t count, cap, slot;
    struct mmsghdr msgs[AU_NET_BATCH];
    struct iovec iov[AU_NET_BATCH];
    uint8_t buf[AU_NET_BATCH_BYTES];
} batch;

static pthread_key_t batch_key;
static pthread_once_t batch_once = PTHREAD_ONCE_INIT;
static void make_batch_key(void) { pthread_key_create(&batch_key, free); }

static batch *thread_batch(void) {
    pthread_once(&batch_once, make_batch_key);
    batch *b = pthread_getspecific(batch_key);
    if (!b && (b = malloc(sizeof *b))) pthread_setspecific(batch_key, b);
    return b;
}

static void batch_send(batch *b) {
    au_net_t *net = b->net;
    size_t done = 0;
    if (net->node->cfg.sim) { /* the simulated network instead of the socket */
        for (size_t i = 0; i < b->count; i++) {
            au_sim_send_(net->node->cfg.sim, net->node->sim_port, &b->peer->addr,
                         b->iov[i].iov_base, b->iov[i].iov_len);
            count(&net->stats.bytes_sent, b->iov[i].iov_len);
        }
        count(&net->stats.datagrams_sent, b->count);
        b->count = 0;
        return;
    }
    while (done < b->count) {
        int n = sendmmsg(net->fd, b->msgs + done, (unsigned)(b->count - done), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            /* EAGAIN (socket buffer full), ENETUNREACH, ...: at-most-once, so drop and count. */
            count(&net->stats.drops_send_failed, b->count - done);
            au_log(AU_LOG_NET, AU_LOG_DEBUG, "sendmmsg to %s: %s (%zu datagrams dropped)",
                   b->peer->text, strerror(errno), b->count - done);
            break;
        }
        for (int i = 0; i < n; i++) count(&net->stats.bytes_sent, b->msgs[done + (size_t)i].msg_len);
        count(&net->stats.datagrams_sent, (uint64_t)n);
        done += (size_t)n;
    }
    b->count = 0;
}

static void batch_add(batch *b, const uint8_t *dgram, size_t len) {
    if (b->count == b->cap) batch_send(b);
    size_t i = b->count++;
    uint8_t *slot = b->buf + i * b->slot;
    memcpy(slot, dgram, len);
    b->iov[i] = (struct iovec){ slot, len };
    b->msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &b->peer->addr.sa,
                                                .msg_namelen = b->peer->addr.len,
                                                .msg_iov = &b->iov[i], .msg_iovlen = 1 } };
}

void au_net_transmit(au_net_t *net, const au_addr *to, const uint8_t *dgram, size_t len) {
    if (net->node->cfg.sim) {
        au_sim_send_(net->node->cfg.sim, net->node->sim_port, to, dgram, len);
        count(&net->stats.datagrams_sent, 1);
        count(&net->stats.bytes_sent, len);
        return;
    }
    ssize_t n = sendto(net->fd, dgram, len, 0, (const struct sockaddr *)&to->sa, to->len);
    if (n < 0) {
        count(&net->stats.drops_send_failed, 1);
        return;
    }
    count(&net->stats.datagrams_sent, 1);
    count(&net->stats.bytes_sent, len);
}

/* ---- injected delays ---------------------------------------------------------------------------- */

typedef struct delayed_dgram {
    au_net_t *net;
    au_addr to;
    size_t len;
    uint8_t bytes[];
} delayed_dgram;

static void send_delayed_dgram(au_node *node, void *arg) {
    delayed_dgram *d = arg;
    if (node->net == d->net) au_net_transmit(d->net, &d->to, d->bytes, d->len);
    free(d);
}

static void delay_dgram(au_net_t *net, au_peer *peer, const uint8_t *dgram, size_t len,
                        au_nanos delay) {
    delayed_dgram *d = malloc(sizeof *d + len);
    if (!d) return;
    d->net = net;
    d->to = peer->addr;
    d->len = len;
    memcpy(d->bytes, dgram, len);
    if (!au_timers_add_call(net->node, au_node_now(net->node) + delay, send_delayed_dgram, free, d))
        free(d);
}

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
    au_pool_free(d->m->pool_class, d->m);
    free(d);
}

/* Holds a copy of m back for `delay`; it is then queued again, marked so that faults are not
 * applied twice. */
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
    copy->faulted = 1;
    *d = (delayed_msg){ net, peer, copy };
    if (!au_timers_add_call(net->node, au_node_now(net->node) + delay, send_delayed_msg,
                            discard_delayed_msg, d))
        discard_delayed_msg(d);
}

/* The packer's emit callback: the datagram joins the thread's batch, unless faults are set for
 * this peer in per-datagram mode. */
static void emit(void *user, const uint8_t *dgram, size_t len) {
    batch *b = user; /* set by drain() while this thread owns the peer's packer */
    if (!b->rule || (b->rule->f.per_message && !b->rule->blocked)) {
        batch_add(b, dgram, len);
        return;
    }
    au_nanos delay[2];
    unsigned copies = au_faults_decide(b->net, b->rule, delay);
    for (unsigned i = 0; i < copies; i++) {
        if (delay[i])
            delay_dgram(b->net, b->peer, dgram, len, delay[i]);
        else
            batch_add(b, dgram, len);
    }
}

/* Packs everything queued for the peer and sends it. Caller owns peer->sending. */
static void drain(au_net_t *net, au_peer *peer, batch *b) {
    b->net = net;
    b->peer = peer;
    b->count = 0;
    b->slot = net->limits.mtu;
    b->cap = AU_NET_BATCH_BYTES / b->slot;
    if (b->cap > AU_NET_BATCH) b->cap = AU_NET_BATCH;
    peer->packer.user = b;
    b->rule = au_faults_rule(net, peer);
    bool per_message = b->rule && b->rule->f.per_message && !b->rule->blocked;
    au_mnode *n;
    while ((n = au_runq_pop(&peer->queue))) {
        au_outmsg *m = (au_outmsg *)n;
        unsigned copies = 1;
        if (per_message && !m->faulted) {
            au_nanos delay[2];
            copies = au_faults_decide(net, b->rule, delay);
            for (unsigned i = copies; i-- > 0;) {
                if (delay[i]) {
                    delay_msg(net, peer, m, delay[i]);
                    copies--;
                }
            }
        }
        for (unsigned c = 0; c < copies; c++) {
        au_wire_dest dest = { .kind = m->kind, .name = (const uint8_t *)m->to->name,
                              .name_len = m->to->name_len, .root_type = m->to->root_id,
                              .iface_type = m->iface_id };
        int st = au_wire_packer_add(&peer->packer, &dest, m->payload, m->payload_len);
        if (st != AU_WIRE_OK) {
            count(&net->stats.drops_too_big, 1);
            au_log(AU_LOG_NET, AU_LOG_DEBUG, "to %s: %s", peer->text, au_wire_status_str(st));
        } else {
            count(&net->stats.messages_sent_remote, 1);
        }
        }
        au_pool_free(m->pool_class, m);
        /* relaxed: the seq_cst accesses around `sending` order this for the handshake. */
        atomic_fetch_sub_explicit(&peer->queued, 1, memory_order_relaxed);
    }
    au_wire_packer_flush(&peer->packer);
    if (b->count) batch_send(b);
}

/* Sends what is queued for the peer, unless another thread is doing so. The seq_cst trio
 * (queued, sending, queued) is a Dekker handshake: a sender that finds the peer busy leaves its
 * message to the busy thread, and that thread, after releasing the peer, looks at `queued`
 * again, so no message is left behind. */
static void send_queued(au_net_t *net, au_peer *peer, batch *b) {
    for (;;) {
        if (atomic_exchange_explicit(&peer->sending, 1, memory_order_seq_cst)) return;
        drain(net, peer, b);
        atomic_store_explicit(&peer->sending, 0, memory_order_seq_cst);
        if (atomic_load_explicit(&peer->queued, memory_order_seq_cst) == 0) return;
    }
}

/* Peers an actor's turn sent to, flushed when the turn ends: the messages of one turn to one
 * peer share datagrams and sendmmsg calls, at no cost in latency (nothing else would run on
 * this worker before the turn ends anyway). */
#define DEFER_PEERS 16
#define DEFER_MESSAGES 256 /* queued for one peer: send without waiting for the turn's end */
static _Thread_local struct {
    unsigned depth;
    size_t n;
    struct { au_net_t *net; au_peer *peer; } at[DEFER_PEERS];
} deferred;

void au_net_turn_begin(void) { deferred.depth++; }

void au_net_turn_end(void) {
    if (--deferred.depth || !deferred.n) return;
    batch *b = thread_batch();
    for (size_t i = 0; i < deferred.n; i++) send_queued(deferred.at[i].net, deferred.at[i].peer, b);
    deferred.n = 0;
}

void au_net_enqueue(au_net_t *net, au_peer *peer, au_outmsg *m) {
    batch *b = thread_batch();
    if (!b) {
        count(&net->stats.drops_send_failed, 1);
        au_pool_free(m->pool_class, m);
        return;
    }
    uint64_t queued = atomic_fetch_add_explicit(&peer->queued, 1, memory_order_seq_cst) + 1;
    au_runq_push(&peer->queue, &m->node);
    if (deferred.depth && queued < DEFER_MESSAGES) {
        for (size_t i = 0; i < deferred.n; i++)
            if (deferred.at[i].peer == peer) return;
        if (deferred.n < DEFER_PEERS) {
            deferred.at[deferred.n].net = net;
            deferred.at[deferred.n++].peer = peer;
            return;
        }
    }
    send_queued(net, peer, b);
}

/* ---- receive path ------------------------------------------------------------------------- */

static au_nanos now_of(au_net_t *net) { return net->node->clock.now(net->node->clock.user); }

static void count_drop(au_net_t *net, int status, const char *from) {
    switch (status) {
    case AU_WIRE_BAD_CHECKSUM:
    case AU_WIRE_BAD_SEAL:
    case AU_WIRE_NOT_SEALED:
    case AU_WIRE_NO_KEY:
        count(&net->stats.drops_checksum, 1);
        break;
    case AU_WIRE_DATAGRAM_TOO_LARGE:
    case AU_WIRE_MESSAGE_TOO_LARGE:
        count(&net->stats.drops_too_big, 1);
        break;
    case AU_WIRE_REPLAYED:
    case AU_WIRE_TOO_OLD:
        count(&net->stats.drops_duplicate, 1);
        break;
    default:
        count(&net->stats.drops_malformed, 1);
        break;
    }
    au_log(AU_LOG_NET, AU_LOG_DEBUG, "datagram from %s dropped: %s", from,
           au_wire_status_str(status));
}

static void track_partials(au_net_t *net, au_peer *peer, size_t before) {
    size_t after = au_reassembly_partials(peer->reassembly);
    /* relaxed: a gauge for statistics. */
    if (after > before)
        atomic_fetch_add_explicit(&net->stats.reassemblies_in_flight, after - before, memory_order_relaxed);
    else if (before > after)
        atomic_fetch_sub_explicit(&net->stats.reassemblies_in_flight, before - after, memory_order_relaxed);
}

static void arm_sim_expire(au_net_t *net);

static void on_fragment(au_net_t *net, au_peer *peer, uint64_t incarnation,
                        const au_wire_fragment *f) {
    if (!peer) {
        count(&net->stats.drops_peer_limit, 1);
        return;
    }
    if (!peer->reassembly && au_reassembly_create(&net->limits, &peer->reassembly) != AU_WIRE_OK) {
        count(&net->stats.drops_reassembly, 1);
        return;
    }
    size_t before = au_reassembly_partials(peer->reassembly);
    au_reassembled done;
    int st = au_reassembly_feed(peer->reassembly, incarnation, f, now_of(net), &done);
    track_partials(net, peer, before);
    if (st == AU_WIRE_INCOMPLETE && net->node->cfg.sim) arm_sim_expire(net);
    if (st == AU_WIRE_OK) {
        au_net_route(net, &done.msg);
        free(done.data);
    } else if (st < 0) {
        count(&net->stats.drops_reassembly, 1);
        au_log(AU_LOG_NET, AU_LOG_DEBUG, "fragment from %s dropped: %s", peer->text,
               au_wire_status_str(st));
    }
}

/* The replay window of one incarnation of the peer. One per recent incarnation (least recently
 * used replaced): switching incarnation must not reset a window, or alternating two captured
 * datagrams of two incarnations would replay both forever. An attacker holding datagrams of more
 * incarnations than there are slots can still cycle them; closing that needs incarnation ids
 * that grow across restarts (noted in docs/wire-format.md). */
static au_replay_window *replay_window(au_peer *peer, uint64_t incarnation) {
    size_t slot = 0;
    for (size_t i = 0; i < AU_PEER_WINDOWS; i++) {
        if (peer->windows[i].last_used && peer->windows[i].incarnation == incarnation) {
            peer->windows[i].last_used = ++peer->windows_clock;
            return &peer->windows[i].window;
        }
        if (peer->windows[i].last_used < peer->windows[slot].last_used) slot = i;
    }
    au_replay_window_init(&peer->windows[slot].window);
    peer->windows[slot].incarnation = incarnation;
    peer->windows[slot].last_used = ++peer->windows_clock;
    return &peer->windows[slot].window;
}

static void on_datagram(au_net_t *net, uint8_t *data, size_t len, const struct sockaddr *from) {
    count(&net->stats.datagrams_received, 1);
    count(&net->stats.bytes_received, len);
    au_addr addr = { .len = from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                          : sizeof(struct sockaddr_in) };
    memcpy(&addr.sa, from, addr.len);

    au_wire_header hdr;
    au_wire_reader reader;
    int st = au_wire_datagram_open(&net->limits, net->key, data, len, &hdr, &reader);
    au_peer *peer = NULL;
    if (st == AU_WIRE_OK) {
        peer = au_net_peer(net, &addr, true);
        if (!peer) { /* no replay window for it: at-most-once cannot be kept */
            count(&net->stats.drops_peer_limit, 1);
            return;
        }
        st = au_replay_window_accept(replay_window(peer, hdr.incarnation), hdr.seq);
    }
    if (st != AU_WIRE_OK) {
        char text[64];
        au_addr_format(&addr, text, sizeof text);
        count_drop(net, st, text);
        return;
    }
    au_wire_frame frame;
    while (au_wire_reader_next(&reader, &frame) == 1) {
        if (frame.type == AU_WIRE_FRAME_MESSAGE)
            au_net_route(net, &frame.as.message);
        else
            on_fragment(net, peer, hdr.incarnation, &frame.as.fragment);
    }
}

void au_net_receive(au_net_t *net, uint8_t *data, size_t len, const struct sockaddr *from) {
    on_datagram(net, data, len, from);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    au_net_t *net = h->data;
    *buf = uv_buf_init((char *)net->in_buf, (unsigned)net->in_size);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags) {
    au_net_t *net = h->data;
    if (nread < 0) {
        au_log(AU_LOG_NET, AU_LOG_WARN, "receive: %s", uv_strerror((int)nread));
        return;
    }
    if (!addr) return; /* nothing to read, or the end of a recvmmsg batch; an empty datagram
                          (nread == 0 with an address) goes on, to be counted */
    if (flags & UV_UDP_PARTIAL) {
        count(&net->stats.drops_too_big, 1);
        return;
    }
    net->node->loop_activity++;
    on_datagram(net, (uint8_t *)buf->base, (size_t)nread, addr);
}

/* Expires timed-out partial messages of every peer; returns whether partials remain. */
static bool expire_all(au_net_t *net) {
    au_nanos now = now_of(net);
    bool remain = false;
    pthread_mutex_lock(&net->lock);
    for (size_t i = 0; i < net->npeers_buckets; i++) {
        for (au_peer *p = net->peers[i]; p; p = p->next) {
            if (!p->reassembly) continue;
            size_t before = au_reassembly_partials(p->reassembly);
            size_t n = au_reassembly_expire(p->reassembly, now);
            track_partials(net, p, before);
            if (n) count(&net->stats.drops_reassembly, n);
            remain |= au_reassembly_partials(p->reassembly) > 0;
        }
    }
    pthread_mutex_unlock(&net->lock);
    return remain;
}

static void on_expire(uv_timer_t *t) { expire_all(t->data); }

/* In a simulation the expiry runs on a node timer, armed only while partials exist, so an idle
 * simulation has no periodic events. */
static void sim_expire(au_node *node, void *arg) {
    au_net_t *net = arg;
    net->expire_armed = false;
    if (expire_all(net)) arm_sim_expire(net);
}

static void arm_sim_expire(au_net_t *net) {
    if (net->expire_armed) return;
    net->expire_armed = au_timers_add_call(net->node, now_of(net) + AU_MSEC(EXPIRE_PERIOD_MS),
                                           sim_expire, NULL, net) != 0;
}

/* ---- start and stop --------------------------------------------------------------------------- */

static void on_closed(uv_handle_t *h) {
    au_net_t *net = h->data;
    pthread_mutex_lock(&net->closed_lock);
    net->open_handles--;
    pthread_cond_broadcast(&net->closed_cond);
    pthread_mutex_unlock(&net->closed_lock);
}

static void close_handles(au_net_t *net) {
    uv_udp_recv_stop(&net->udp);
    uv_close((uv_handle_t *)&net->udp, on_closed);
    uv_close((uv_handle_t *)&net->wake, on_closed);
    uv_close((uv_handle_t *)&net->expire_timer, on_closed);
}

static void on_wake(uv_async_t *a) {
    au_net_t *net = a->data;
    if (atomic_load_explicit(&net->quit, memory_order_acquire)) close_handles(net);
}

static void net_free(au_net_t *net) {
    for (size_t i = 0; i < net->npeers_buckets; i++) {
        for (au_peer *p = net->peers[i], *n; p; p = n) {
            n = p->next;
            peer_free(p);
        }
    }
    free(net->peers);
    au_net_remotes_free(net);
    if (net->key) {
        au_seal_key_wipe(net->key);
        free(net->key);
    }
    free(net->in_buf);
    au_faults_free(net);
    pthread_mutex_destroy(&net->fault_lock);
    pthread_mutex_destroy(&net->lock);
    pthread_mutex_destroy(&net->closed_lock);
    pthread_cond_destroy(&net->closed_cond);
    free(net);
}

static au_err fail(au_net_t *net, au_err err, const char *what, const char *detail) {
    au_log(AU_LOG_NET, AU_LOG_ERROR, "%s: %s (%s)", what, detail, au_strerror(err));
    return err;
}

static au_err configure(au_net_t *net, const au_node_config *cfg) {
    net->limits = au_wire_limits_default();
    net->limits.mtu = cfg->mtu;
    net->limits.max_message = cfg->max_message_size;
    if (cfg->max_partials) net->limits.max_partials = cfg->max_partials;
    if (cfg->max_reassembly_bytes) net->limits.max_buffered = cfg->max_reassembly_bytes;
    if (cfg->reassembly_timeout) net->limits.reassembly_timeout_ns = cfg->reassembly_timeout;
    if (au_wire_limits_check(&net->limits) != AU_WIRE_OK)
        return fail(net, AU_ECONFIG, "config", "mtu, message size or reassembly limits out of range");
    net->max_peers = cfg->max_peers ? cfg->max_peers : 4096;
    net->max_remotes = cfg->max_remote_refs ? cfg->max_remote_refs : 65536;
    if (sodium_init() < 0) return fail(net, AU_EIO, "libsodium", "initialisation failed");
    randombytes_buf(&net->incarnation, sizeof net->incarnation);
    au_wire_ids_init(&net->ids);
    if (cfg->secret) {
        net->key = malloc(sizeof *net->key);
        if (!net->key) return AU_ENOMEM;
        if (au_seal_key_init(net->key, cfg->secret) != AU_WIRE_OK) return AU_ECONFIG;
    }
    return AU_OK;
}

extern au_err au_net_refs_init(au_net_t *net);

/* Socket buffers for bursts of coalesced datagrams: 4 MiB each way. net.core.rmem_max (and
 * wmem_max) silently cap SO_RCVBUF; a privileged process may exceed them (SO_*BUFFORCE). What
 * was granted is read back, and a small receive buffer is logged, since it is where loss under
 * load begins. */
#define SOCKET_BUFFER (4 << 20)
static void size_buffers(int fd) {
    int want = SOCKET_BUFFER, got = 0;
    socklen_t len = sizeof got;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
    if (got < want) /* Linux reports twice the size asked for, so this means a cap applied */
        au_log(AU_LOG_NET, AU_LOG_WARN,
               "receive buffer %d bytes (asked %d): raise net.core.rmem_max to avoid loss under load",
               got, want);
}

au_err au_net_start_(au_node *node) {
    au_net_t *net = calloc(1, sizeof *net);
    if (!net) return AU_ENOMEM;
    net->node = node;
    net->loop = au_node_loop_(node);
    pthread_mutex_init(&net->lock, NULL);
    pthread_mutex_init(&net->fault_lock, NULL);
    pthread_mutex_init(&net->closed_lock, NULL);
    pthread_cond_init(&net->closed_cond, NULL);
    net->npeers_buckets = 256;
    net->peers = calloc(net->npeers_buckets, sizeof *net->peers);
    bool sim = node->cfg.sim != NULL;
    net->in_size = sim ? 0 : (size_t)20 * 65536; /* libuv's recvmmsg takes up to 20 slots of 64 KiB */
    net->in_buf = sim ? NULL : malloc(net->in_size);
    au_err err = net->peers && (sim || net->in_buf) ? configure(net, &node->cfg) : AU_ENOMEM;
    if (!err) err = au_net_refs_init(net);
    if (!err && sim) {
        /* No socket: the node is 127.0.0.1:<its port> in the simulated network, and its
         * incarnation comes from the simulation's seed. */
        struct sockaddr_in *in = (struct sockaddr_in *)&net->bound.sa;
        in->sin_family = AF_INET;
        in->sin_port = htons(node->sim_port);
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        net->bound.len = sizeof *in;
        au_addr_format(&net->bound, node->address, sizeof node->address);
        net->incarnation = au_sim_random(node->cfg.sim);
        net->fault_seed = au_sim_random(node->cfg.sim);
        node->net = net;
        return AU_OK;
    }
    au_addr bind;
    if (!err && (err = au_addr_resolve(node->cfg.bind, &bind)))
        fail(net, err, "bind address", node->cfg.bind);
    if (err) {
        net_free(net);
        return err;
    }

    uv_udp_init_ex(net->loop, &net->udp, bind.sa.ss_family | UV_UDP_RECVMMSG);
    uv_async_init(net->loop, &net->wake, on_wake);
    uv_timer_init(net->loop, &net->expire_timer);
    net->udp.data = net->wake.data = net->expire_timer.data = net;
    net->open_handles = 3;
    node->net = net;

    int rc = uv_udp_bind(&net->udp, (const struct sockaddr *)&bind.sa, 0);
    if (rc) err = fail(net, AU_EBIND, node->cfg.bind, uv_strerror(rc));
    int len = sizeof net->bound.sa;
    if (!err && (rc = uv_udp_getsockname(&net->udp, (struct sockaddr *)&net->bound.sa, &len)))
        err = fail(net, AU_EBIND, "getsockname", uv_strerror(rc));
    net->bound.len = (socklen_t)len;
    if (!err) {
        if (node->cfg.advertise) {
            au_addr adv;
            if ((err = au_addr_resolve(node->cfg.advertise, &adv)))
                fail(net, err, "advertised address", node->cfg.advertise);
            else
                snprintf(node->address, sizeof node->address, "%s", node->cfg.advertise);
        } else {
            au_addr_format(&net->bound, node->address, sizeof node->address);
            bool any = (bind.sa.ss_family == AF_INET &&
                        ((struct sockaddr_in *)&bind.sa)->sin_addr.s_addr == htonl(INADDR_ANY)) ||
                       (bind.sa.ss_family == AF_INET6 &&
                        IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&bind.sa)->sin6_addr));
            if (any)
                err = fail(net, AU_ECONFIG, node->cfg.bind,
                           "bound to a wildcard address: set .advertise to a reachable address");
        }
    }
    if (!err) {
        uv_os_fd_t fd;
        uv_fileno((uv_handle_t *)&net->udp, &fd);
        net->fd = fd;
        size_buffers(fd);
        if ((rc = uv_udp_recv_start(&net->udp, on_alloc, on_recv)))
            err = fail(net, AU_EIO, "recv_start", uv_strerror(rc));
        uv_timer_start(&net->expire_timer, on_expire, EXPIRE_PERIOD_MS, EXPIRE_PERIOD_MS);
    }
    if (err) {
        au_net_stop_(node); /* the loop is not running yet: closes the handles here */
        return err;
    }
    return AU_OK;
}

extern bool au_loop_running_(au_node *node);

void au_net_stop_(au_node *node) {
    au_net_t *net = node->net;
    if (!net) return;
    if (node->cfg.sim) {
        /* no handles */
    } else if (au_loop_running_(node)) {
        /* release: the loop thread that sees quit sees everything before it. */
        atomic_store_explicit(&net->quit, 1, memory_order_release);
        uv_async_send(&net->wake);
        pthread_mutex_lock(&net->closed_lock);
        while (net->open_handles > 0) pthread_cond_wait(&net->closed_cond, &net->closed_lock);
        pthread_mutex_unlock(&net->closed_lock);
    } else {
        close_handles(net);
        uv_run(net->loop, UV_RUN_NOWAIT);
    }
    node->net = NULL;
    net_free(net);
}

void au_net_stats_(au_node *node, au_node_stats *out) {
    au_net_t *net = node->net;
    /* relaxed: a snapshot of independent counters. */
#define LOAD(f) out->f = atomic_load_explicit(&net->stats.f, memory_order_relaxed)
    LOAD(datagrams_sent);
    LOAD(datagrams_received);
    LOAD(bytes_sent);
    LOAD(bytes_received);
    LOAD(messages_sent_remote);
    LOAD(messages_received_remote);
    LOAD(drops_malformed);
    LOAD(drops_checksum);
    LOAD(drops_duplicate);
    LOAD(drops_unknown_actor);
    LOAD(drops_wrong_root);
    LOAD(drops_wrong_interface);
    LOAD(drops_schema_mismatch);
    LOAD(drops_decode);
    LOAD(drops_too_big);
    LOAD(drops_reassembly);
    LOAD(drops_send_failed);
    LOAD(drops_peer_limit);
    LOAD(reassemblies_in_flight);
#undef LOAD
}
