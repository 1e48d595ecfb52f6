/* receive.c — the receive path: every datagram the channel delivers is validated whole (size,
 * header, checksum or seal, every frame: wire.c), replay-checked against its sender's window,
 * and its messages routed (deliver.c); fragments are reassembled first (reassembly.c). Every
 * malformed or unexpected datagram is dropped, counted by reason, and logged at debug level.
 *
 * Runs on the driver's receive thread, one datagram at a time: a peer's replay windows and
 * reassembly are touched only here (and by the expiry timer, under the net lock). */
#include "net/net.h"

#include <stdlib.h>
#include <string.h>

#define EXPIRE_PERIOD AU_MSEC(100) /* how often partial messages are checked for timeout */

static void count_drop(au_net_t *net, int status, const char *from) {
    switch (status) {
    case AU_WIRE_BAD_CHECKSUM:
    case AU_WIRE_BAD_SEAL:
    case AU_WIRE_NOT_SEALED:
    case AU_WIRE_NO_KEY:
        au_stat_add(&net->stats.drops_checksum, 1);
        break;
    case AU_WIRE_DATAGRAM_TOO_LARGE:
    case AU_WIRE_MESSAGE_TOO_LARGE:
        au_stat_add(&net->stats.drops_too_big, 1);
        break;
    case AU_WIRE_REPLAYED:
    case AU_WIRE_TOO_OLD:
        au_stat_add(&net->stats.drops_duplicate, 1);
        break;
    default:
        au_stat_add(&net->stats.drops_malformed, 1);
        break;
    }
    au_log(AU_LOG_NET, AU_LOG_DEBUG, "datagram from %s dropped: %s", from,
           au_wire_status_str(status));
}

/* ---- reassembly ----------------------------------------------------------------------------- */

static void track_partials(au_net_t *net, au_peer *peer, size_t before) {
    size_t after = au_reassembly_partials(peer->reassembly);
    if (after > before)
        au_stat_add(&net->stats.reassemblies_in_flight, after - before);
    else if (before > after)
        au_stat_sub(&net->stats.reassemblies_in_flight, before - after);
}

/* Expires timed-out partial messages of every peer; returns whether partials remain. */
static bool expire_all(au_net_t *net) {
    au_nanos now = au_node_now(net->node);
    bool remain = false;
    for (size_t i = 0; i < net->npeers_buckets; i++) {
        for (au_peer *p = net->peers[i]; p; p = p->next) {
            if (!p->reassembly) continue;
            size_t before = au_reassembly_partials(p->reassembly);
            size_t n = au_reassembly_expire(p->reassembly, now);
            track_partials(net, p, before);
            if (n) au_stat_add(&net->stats.drops_reassembly, n);
            remain |= au_reassembly_partials(p->reassembly) > 0;
        }
    }
    return remain;
}

static void arm_expire(au_net_t *net);

/* The expiry runs on a node timer armed only while partial messages exist, so an idle node
 * has no periodic wake-up. */
static void on_expire(au_node *node, void *arg) {
    au_net_t *net = arg;
    pthread_mutex_lock(&net->lock);
    net->expire_armed = false;
    bool again = expire_all(net);
    pthread_mutex_unlock(&net->lock);
    if (again) arm_expire(net);
}

static void arm_expire(au_net_t *net) {
    pthread_mutex_lock(&net->lock);
    if (!net->expire_armed)
        net->expire_armed = au_node_call_at(net->node, au_node_now(net->node) + EXPIRE_PERIOD,
                                            on_expire, NULL, net) != 0;
    pthread_mutex_unlock(&net->lock);
}

static void on_fragment(au_net_t *net, au_peer *peer, uint64_t incarnation,
                        const au_wire_fragment *f) {
    if (!peer->reassembly && au_reassembly_create(&net->limits, &peer->reassembly) != AU_WIRE_OK) {
        au_stat_add(&net->stats.drops_reassembly, 1);
        return;
    }
    pthread_mutex_lock(&net->lock); /* the expiry timer walks reassemblies too */
    size_t before = au_reassembly_partials(peer->reassembly);
    au_reassembled done;
    int st = au_reassembly_feed(peer->reassembly, incarnation, f, au_node_now(net->node), &done);
    track_partials(net, peer, before);
    pthread_mutex_unlock(&net->lock);
    if (st == AU_WIRE_INCOMPLETE) arm_expire(net);
    if (st == AU_WIRE_OK) {
        au_net_route(net, &done.msg);
        free(done.data);
    } else if (st < 0) {
        au_stat_add(&net->stats.drops_reassembly, 1);
        au_log(AU_LOG_NET, AU_LOG_DEBUG, "fragment from %s dropped: %s", peer->text,
               au_wire_status_str(st));
    }
}

/* ---- datagrams -------------------------------------------------------------------------------- */

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

void au_net_receive(au_node *node, void *bytes, size_t len, const struct sockaddr *from,
                    socklen_t from_len) {
    au_net_t *net = node->net;
    uint8_t *data = bytes;
    au_stat_add(&net->stats.datagrams_received, 1);
    au_stat_add(&net->stats.bytes_received, len);
    au_addr addr = { .len = from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                          : sizeof(struct sockaddr_in) };
    if (from_len < addr.len) {
        au_stat_add(&net->stats.drops_malformed, 1);
        return;
    }
    memcpy(&addr.sa, from, addr.len);

    au_wire_header hdr;
    au_wire_reader reader;
    int st = au_wire_datagram_open(&net->limits, net->key, data, len, &hdr, &reader);
    au_peer *peer = NULL;
    if (st == AU_WIRE_OK) {
        peer = au_net_peer(net, &addr, true);
        if (!peer) { /* no replay window for it: at-most-once cannot be kept */
            au_stat_add(&net->stats.drops_peer_limit, 1);
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
    if (peer->incarnation != hdr.incarnation) { /* the peer restarted (or first contact) */
        uint64_t previous = peer->incarnation;
        peer->incarnation = hdr.incarnation;
        if (previous)
            au_peer_event_emit(node, &(au_peer_event){ .kind = AU_PEER_INCARNATION,
                                                       .address = peer->text,
                                                       .incarnation = hdr.incarnation,
                                                       .previous = previous });
    }
    au_wire_frame frame;
    while (au_wire_reader_next(&reader, &frame) == 1) {
        if (frame.type == AU_WIRE_FRAME_MESSAGE)
            au_net_route(net, &frame.as.message);
        else
            on_fragment(net, peer, hdr.incarnation, &frame.as.fragment);
    }
}
